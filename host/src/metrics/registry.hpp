// A small, thread-safe store of Prometheus metric families (counters, gauges, histograms) and
// their text exposition, format 0.0.4; the daemon serves it, the core updates it through helpers.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tunnelmgr::metrics {

enum class metric_type { counter, gauge, histogram };

// Upper bounds (seconds) fit for tunnelmgr's waits: an HTTP call (ms) up to a cloudflared restart (a minute).
const std::vector<double>& default_seconds_buckets();

class registry {
public:
    // Declares a family. False (and nothing changes) when the name or a label name breaks the
    // format's rules, a label is reserved (`le` on histograms, `__` prefix), or the name is taken.
    // A family without labels starts with one series at zero, so counters read 0 before anything happens.
    bool add_counter(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
    bool add_gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
    bool add_histogram(const std::string& name, const std::string& help, std::vector<std::string> label_names = {},
                       std::vector<double> buckets = default_seconds_buckets());

    // Each returns false when the family is unknown, of another type, or `label_values` does not
    // match its label names one for one (values in declaration order). A counter only goes up.
    bool inc(const std::string& name, const std::vector<std::string>& label_values = {}, double by = 1.0);
    bool set(const std::string& name, const std::vector<std::string>& label_values, double value);
    bool set(const std::string& name, double value) { return set(name, {}, value); }
    bool observe(const std::string& name, const std::vector<std::string>& label_values, double value);
    bool observe(const std::string& name, double value) { return observe(name, {}, value); }
    // Replaces every series of a gauge family at once (e.g. one per project), dropping the others.
    bool replace(const std::string& name, const std::vector<std::pair<std::vector<std::string>, double>>& series);

    // The whole registry as Prometheus text, families in name order, series in label order.
    std::string exposition() const;

private:
    struct series {
        double value = 0;                  // counter, gauge
        std::vector<double> bucket_counts;  // histogram: per bucket, not cumulative
        double sum = 0;
        double count = 0;
    };
    struct family {
        metric_type type = metric_type::counter;
        std::string help;
        std::vector<std::string> label_names;
        std::vector<double> buckets;  // sorted, finite; +Inf is implicit
        std::map<std::vector<std::string>, series> rows;
    };
    bool add(const std::string& name, metric_type type, const std::string& help, std::vector<std::string> label_names,
             std::vector<double> buckets);
    family* find(const std::string& name, metric_type type, const std::vector<std::string>& label_values);

    mutable std::mutex mutex_;
    std::map<std::string, family> families_;
};

}  // namespace tunnelmgr::metrics
