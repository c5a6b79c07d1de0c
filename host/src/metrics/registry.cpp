// See registry.hpp.
#include "metrics/registry.hpp"

#include <algorithm>
#include <cmath>

#include "metrics/exposition.hpp"

namespace tunnelmgr::metrics {

const std::vector<double>& default_seconds_buckets() {
    static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
    return b;
}

bool registry::add(const std::string& name, metric_type type, const std::string& help,
                   std::vector<std::string> label_names, std::vector<double> buckets) {
    if (!valid_metric_name(name)) return false;
    for (const auto& l : label_names) {
        if (!valid_label_name(l)) return false;
        if (type == metric_type::histogram && l == "le") return false;
        if (std::count(label_names.begin(), label_names.end(), l) > 1) return false;
    }
    std::vector<double> finite;
    for (double b : buckets) {
        if (std::isnan(b)) return false;
        if (!std::isinf(b)) finite.push_back(b);
    }
    std::sort(finite.begin(), finite.end());
    finite.erase(std::unique(finite.begin(), finite.end()), finite.end());
    std::lock_guard<std::mutex> lock(mutex_);
    if (families_.count(name) != 0) return false;
    family f;
    f.type = type;
    f.help = help;
    f.label_names = std::move(label_names);
    f.buckets = std::move(finite);
    if (f.label_names.empty()) {
        series s;
        s.bucket_counts.assign(f.buckets.size(), 0);
        f.rows.emplace(std::vector<std::string>{}, s);
    }
    families_.emplace(name, std::move(f));
    return true;
}

bool registry::add_counter(const std::string& name, const std::string& help, std::vector<std::string> label_names) {
    return add(name, metric_type::counter, help, std::move(label_names), {});
}
bool registry::add_gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names) {
    return add(name, metric_type::gauge, help, std::move(label_names), {});
}
bool registry::add_histogram(const std::string& name, const std::string& help, std::vector<std::string> label_names,
                             std::vector<double> buckets) {
    return add(name, metric_type::histogram, help, std::move(label_names), std::move(buckets));
}

registry::family* registry::find(const std::string& name, metric_type type, const std::vector<std::string>& label_values) {
    auto it = families_.find(name);
    if (it == families_.end() || it->second.type != type) return nullptr;
    if (label_values.size() != it->second.label_names.size()) return nullptr;
    return &it->second;
}

bool registry::inc(const std::string& name, const std::vector<std::string>& label_values, double by) {
    if (!(by >= 0)) return false;  // also refuses NaN: a counter never goes down
    std::lock_guard<std::mutex> lock(mutex_);
    family* f = find(name, metric_type::counter, label_values);
    if (f == nullptr) return false;
    f->rows[label_values].value += by;
    return true;
}

bool registry::set(const std::string& name, const std::vector<std::string>& label_values, double value) {
    std::lock_guard<std::mutex> lock(mutex_);
    family* f = find(name, metric_type::gauge, label_values);
    if (f == nullptr) return false;
    f->rows[label_values].value = value;
    return true;
}

bool registry::observe(const std::string& name, const std::vector<std::string>& label_values, double value) {
    if (std::isnan(value)) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    family* f = find(name, metric_type::histogram, label_values);
    if (f == nullptr) return false;
    series& s = f->rows[label_values];
    if (s.bucket_counts.size() != f->buckets.size()) s.bucket_counts.assign(f->buckets.size(), 0);
    auto at = std::lower_bound(f->buckets.begin(), f->buckets.end(), value);  // first bound >= value: le is inclusive
    if (at != f->buckets.end()) s.bucket_counts[static_cast<size_t>(at - f->buckets.begin())] += 1;
    s.sum += value;
    s.count += 1;
    return true;
}

bool registry::replace(const std::string& name, const std::vector<std::pair<std::vector<std::string>, double>>& rows) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = families_.find(name);
    if (it == families_.end() || it->second.type != metric_type::gauge) return false;
    for (const auto& [labels, v] : rows) {
        if (labels.size() != it->second.label_names.size()) return false;
    }
    it->second.rows.clear();
    for (const auto& [labels, v] : rows) it->second.rows[labels].value = v;
    return true;
}

namespace {

// {a="x",b="y"} with an optional extra label (a histogram's `le`) last.
std::string label_text(const std::vector<std::string>& names, const std::vector<std::string>& values,
                       const std::string& extra_name = "", const std::string& extra_value = "") {
    if (names.empty() && extra_name.empty()) return "";
    std::string out = "{";
    for (size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ",";
        out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
    }
    if (!extra_name.empty()) {
        if (!names.empty()) out += ",";
        out += extra_name + "=\"" + escape_label_value(extra_value) + "\"";
    }
    return out + "}";
}

const char* type_name(metric_type t) {
    switch (t) {
        case metric_type::counter: return "counter";
        case metric_type::gauge: return "gauge";
        case metric_type::histogram: return "histogram";
    }
    return "untyped";
}

}  // namespace

std::string registry::exposition() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto& [name, f] : families_) {
        out += "# HELP " + name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + name + " " + type_name(f.type) + "\n";
        for (const auto& [labels, s] : f.rows) {
            if (f.type != metric_type::histogram) {
                out += name + label_text(f.label_names, labels) + " " + format_value(s.value) + "\n";
                continue;
            }
            double cumulative = 0;
            for (size_t i = 0; i < f.buckets.size(); ++i) {
                cumulative += i < s.bucket_counts.size() ? s.bucket_counts[i] : 0;
                out += name + "_bucket" + label_text(f.label_names, labels, "le", format_value(f.buckets[i])) + " " +
                       format_value(cumulative) + "\n";
            }
            out += name + "_bucket" + label_text(f.label_names, labels, "le", "+Inf") + " " + format_value(s.count) + "\n";
            out += name + "_sum" + label_text(f.label_names, labels) + " " + format_value(s.sum) + "\n";
            out += name + "_count" + label_text(f.label_names, labels) + " " + format_value(s.count) + "\n";
        }
    }
    return out;
}

}  // namespace tunnelmgr::metrics
