// A strict reader of Prometheus' text exposition format 0.0.4, for tests: every line checked
// against the grammar, families grouped and typed, histograms checked for consistency.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace tunnelmgr::testing {

struct prom_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct prom_family {
    std::string type = "untyped";
    std::string help;
    bool has_type = false, has_help = false;
    std::vector<prom_sample> samples;
};

using prom_families = std::map<std::string, prom_family>;

namespace prom_detail {

inline bool metric_name(const std::string& s) {
    static const std::regex re("[a-zA-Z_:][a-zA-Z0-9_:]*");
    return std::regex_match(s, re);
}
inline bool label_name(const std::string& s) {
    static const std::regex re("[a-zA-Z_][a-zA-Z0-9_]*");
    return std::regex_match(s, re);
}
// Go's strconv.ParseFloat as Prometheus accepts it (no hex floats, no underscores).
inline bool parse_float(const std::string& s, double& out) {
    static const std::regex re("[+-]?(Inf|NaN|(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?))");
    if (!std::regex_match(s, re)) return false;
    if (s == "+Inf" || s == "Inf") {
        out = INFINITY;
    } else if (s == "-Inf") {
        out = -INFINITY;
    } else if (s.find("NaN") != std::string::npos) {
        out = NAN;
    } else {
        out = std::strtod(s.c_str(), nullptr);
    }
    return true;
}
// The family a sample belongs to: histogram and summary samples carry a suffix.
inline std::string family_of(const std::string& sample, const prom_families& fams) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string sf(suffix);
        if (sample.size() > sf.size() && sample.compare(sample.size() - sf.size(), sf.size(), sf) == 0) {
            std::string base = sample.substr(0, sample.size() - sf.size());
            auto it = fams.find(base);
            if (it != fams.end() && (it->second.type == "histogram" || (it->second.type == "summary" && sf != "_bucket"))) {
                return base;
            }
        }
    }
    return sample;
}

}  // namespace prom_detail

inline tl::expected<prom_families, std::string> parse_exposition(const std::string& text) {
    using namespace prom_detail;
    prom_families fams;
    std::set<std::string> closed;  // families whose group has ended: they may not come back
    std::string current;
    std::set<std::string> seen_series;
    auto enter = [&](const std::string& fam, int line) -> tl::expected<void, std::string> {
        if (fam == current) return {};
        if (closed.count(fam) != 0) return tl::unexpected("line " + std::to_string(line) + ": " + fam + " appears in two groups");
        if (!current.empty()) closed.insert(current);
        current = fam;
        return {};
    };
    if (!text.empty() && text.back() != '\n') return tl::unexpected(std::string("the text does not end with a line feed"));
    size_t pos = 0;
    int line_no = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        std::string line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        auto bad = [&](const std::string& why) {
            return tl::unexpected("line " + std::to_string(line_no) + " (" + line + "): " + why);
        };
        if (line.empty()) continue;
        if (line.find('\r') != std::string::npos) return bad("carriage return");
        if (line[0] == '#') {
            std::smatch m;
            static const std::regex help_re("# HELP ([^ ]+) ?(.*)");
            static const std::regex type_re("# TYPE ([^ ]+) ([^ ]+)");
            if (line.rfind("# HELP ", 0) == 0) {
                if (!std::regex_match(line, m, help_re)) return bad("malformed HELP");
                std::string name = m[1], help = m[2];
                if (!metric_name(name)) return bad("bad metric name in HELP");
                for (size_t i = 0; i < help.size(); ++i) {
                    if (help[i] == '\\') {
                        if (i + 1 >= help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n')) return bad("bad escape in HELP");
                        ++i;
                    }
                }
                if (auto e = enter(name, line_no); !e) return tl::unexpected(e.error());
                auto& f = fams[name];
                if (f.has_help) return bad("second HELP for " + name);
                f.has_help = true;
                f.help = help;
            } else if (line.rfind("# TYPE ", 0) == 0) {
                if (!std::regex_match(line, m, type_re)) return bad("malformed TYPE");
                std::string name = m[1], type = m[2];
                if (!metric_name(name)) return bad("bad metric name in TYPE");
                static const std::set<std::string> types{"counter", "gauge", "histogram", "summary", "untyped"};
                if (types.count(type) == 0) return bad("unknown type " + type);
                if (auto e = enter(name, line_no); !e) return tl::unexpected(e.error());
                auto& f = fams[name];
                if (f.has_type) return bad("second TYPE for " + name);
                if (!f.samples.empty()) return bad("TYPE after samples of " + name);
                f.has_type = true;
                f.type = type;
            }
            continue;  // other comments are allowed
        }
        // name [{labels}] value [timestamp]
        size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
        prom_sample s;
        s.name = line.substr(0, i);
        if (!metric_name(s.name)) return bad("bad metric name");
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (true) {
                if (i < line.size() && line[i] == '}') {
                    ++i;
                    break;
                }
                size_t eq = line.find('=', i);
                if (eq == std::string::npos) return bad("label without '='");
                std::string lname = line.substr(i, eq - i);
                if (!label_name(lname)) return bad("bad label name '" + lname + "'");
                i = eq + 1;
                if (i >= line.size() || line[i] != '"') return bad("label value not quoted");
                ++i;
                std::string value;
                bool closed_quote = false;
                while (i < line.size()) {
                    char c = line[i];
                    if (c == '\\') {
                        if (i + 1 >= line.size()) return bad("dangling backslash");
                        char n = line[i + 1];
                        if (n == '\\') value += '\\';
                        else if (n == '"') value += '"';
                        else if (n == 'n') value += '\n';
                        else return bad("bad escape in label value");
                        i += 2;
                    } else if (c == '"') {
                        closed_quote = true;
                        ++i;
                        break;
                    } else {
                        value += c;
                        ++i;
                    }
                }
                if (!closed_quote) return bad("unterminated label value");
                if (s.labels.count(lname) != 0) return bad("label " + lname + " twice");
                s.labels[lname] = value;
                if (i < line.size() && line[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < line.size() && line[i] == '}') continue;
                return bad("expected ',' or '}' after a label");
            }
        }
        if (i >= line.size() || line[i] != ' ') return bad("no space before the value");
        while (i < line.size() && line[i] == ' ') ++i;
        std::string rest = line.substr(i);
        std::string value_text = rest, ts;
        if (auto sp = rest.find(' '); sp != std::string::npos) {
            value_text = rest.substr(0, sp);
            ts = rest.substr(sp + 1);
            static const std::regex ts_re("-?[0-9]+");
            if (!std::regex_match(ts, ts_re)) return bad("bad timestamp");
        }
        if (!parse_float(value_text, s.value)) return bad("bad value '" + value_text + "'");
        std::string fam = family_of(s.name, fams);
        if (auto e = enter(fam, line_no); !e) return tl::unexpected(e.error());
        auto& f = fams[fam];
        if (!f.has_type) return bad("sample of " + fam + " without a TYPE line before it");
        if (f.type == "histogram" && s.name == fam) return bad("histogram sample without _bucket/_sum/_count");
        if (f.type == "histogram" && s.name == fam + "_bucket" && s.labels.count("le") == 0) return bad("bucket without le");
        if (f.type == "counter" && (std::isnan(s.value) || s.value < 0)) return bad("counter below zero or NaN");
        std::string key = s.name;
        for (const auto& [k, v] : s.labels) key += "\x1f" + k + "=" + v;
        if (!seen_series.insert(key).second) return bad("series given twice");
        f.samples.push_back(std::move(s));
    }
    // Histograms: per label set, buckets ascending by le, cumulative, +Inf bucket == _count, _sum present.
    for (const auto& [name, f] : fams) {
        if (f.type != "histogram") continue;
        struct group {
            std::vector<std::pair<double, double>> buckets;
            bool has_sum = false, has_count = false;
            double count = 0;
        };
        std::map<std::map<std::string, std::string>, group> groups;
        for (const auto& s : f.samples) {
            auto labels = s.labels;
            labels.erase("le");
            auto& g = groups[labels];
            if (s.name == name + "_bucket") {
                double le = 0;
                if (!parse_float(s.labels.at("le"), le) || std::isnan(le)) return tl::unexpected(name + ": bad le '" + s.labels.at("le") + "'");
                g.buckets.push_back({le, s.value});
            } else if (s.name == name + "_sum") {
                g.has_sum = true;
            } else {
                g.has_count = true;
                g.count = s.value;
            }
        }
        for (const auto& [labels, g] : groups) {
            if (g.buckets.empty() || !g.has_sum || !g.has_count) return tl::unexpected(name + ": a series lacks _bucket, _sum or _count");
            for (size_t i = 1; i < g.buckets.size(); ++i) {
                if (!(g.buckets[i].first > g.buckets[i - 1].first)) return tl::unexpected(name + ": le not ascending");
                if (g.buckets[i].second < g.buckets[i - 1].second) return tl::unexpected(name + ": buckets not cumulative");
            }
            if (!std::isinf(g.buckets.back().first)) return tl::unexpected(name + ": no +Inf bucket");
            if (g.buckets.back().second != g.count) return tl::unexpected(name + ": +Inf bucket differs from _count");
        }
    }
    return fams;
}

}  // namespace tunnelmgr::testing
