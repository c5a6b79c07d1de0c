#include "systemd_supervisor.hpp"

#include <ctime>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "replica_status.hpp"

namespace tunnelmgr::plugins::systemd_supervisor {
namespace {

std::int64_t clock_ns(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

supervisor_clocks supervisor_clocks::system() {
    return {[] { return clock_ns(CLOCK_REALTIME) / 1000000; }, [] { return clock_ns(CLOCK_MONOTONIC) / 1000; }};
}

std::string to_json(const supervisor_status& s) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto optional_int = [&](const std::optional<std::int64_t>& v) {
        if (v) {
            w.Int64(*v);
        } else {
            w.Null();
        }
    };
    w.StartObject();
    w.Key("running");
    w.Bool(s.running);
    w.Key("pid");
    optional_int(s.pid);
    w.Key("state");
    w.String(s.state.c_str(), static_cast<rapidjson::SizeType>(s.state.size()));
    w.Key("since_ms");
    optional_int(s.since_ms);
    w.Key("detail");
    w.String(s.detail.c_str(), static_cast<rapidjson::SizeType>(s.detail.size()));
    w.Key("unit");
    w.String(s.unit.c_str(), static_cast<rapidjson::SizeType>(s.unit.size()));
    w.Key("restarts");
    optional_int(s.restarts);
    w.EndObject();
    return buf.GetString();
}

systemd_supervisor::systemd_supervisor(supervisor_config config, command_runner runner, supervisor_clocks clocks)
    : config_(std::move(config)), runner_(std::move(runner)), clocks_(std::move(clocks)) {}

sup_result<void> systemd_supervisor::check_index(int index) const {
    if (index >= 0 && index < replica_count()) return {};
    const int n = replica_count();
    return sup_fail(sup_errc::invalid, "systemd-supervisor has no replica " + std::to_string(index) + ": it supervises " +
                                           std::to_string(n) + (n == 1 ? " unit (replica 0)" : " units (replicas 0 to " +
                                                                                               std::to_string(n - 1) + ")"));
}

sup_result<supervisor_status> systemd_supervisor::replica_status(int index) {
    if (auto ok = check_index(index); !ok) return tl::unexpected(ok.error());
    const std::string& unit = replica(index).name;
    const auto argv = show_argv(config_, unit);
    const auto outcome = runner_(argv, config_.timeout);
    if (auto failure = classify_failure(config_, unit, argv, outcome, "read the status of")) return tl::unexpected(*failure);
    auto props = parse_show_output(outcome.out);
    if (!props) return tl::unexpected(props.error());
    if (props->load_state == "not-found") {
        return sup_fail(sup_errc::not_found,
                        "systemd" + std::string(config_.command_prefix.empty() ? "" : " (through the command prefix)") +
                            " has no unit " + unit +
                            "; install cloudflared's unit (`cloudflared service install`) or set " +
                            unit_setting(config_) +
                            " to the unit that runs cloudflared (`systemctl list-units 'cloudflared*'`)");
    }
    supervisor_status s;
    s.unit = unit;
    s.running = is_running(*props);
    if (props->main_pid > 0) s.pid = props->main_pid;
    s.state = props->active_state + "/" + props->sub_state;
    if (props->active_state == "active" || props->active_state == "reloading") {
        s.since_ms = active_since_unix_ms(*props, clocks_.unix_ms(), clocks_.monotonic_us());
    }
    s.detail = describe(unit, *props);
    s.restarts = props->n_restarts;
    return s;
}

sup_result<void> systemd_supervisor::replica_restart(int index) {
    if (auto ok = check_index(index); !ok) return ok;
    const std::string& unit = replica(index).name;
    const auto reset = reset_failed_argv(config_, unit);
    const auto reset_outcome = runner_(reset, config_.timeout);
    // Best effort: reset-failed also fails for a unit systemd has unloaded since it stopped ("not
    // loaded"), which restart loads again; restart's own answer says what is really wrong.
    if (reset_outcome.ended == command_outcome::how::timed_out) {
        if (auto failure = classify_failure(config_, unit, reset, reset_outcome, "restart")) return tl::unexpected(*failure);
    }
    const auto argv = restart_argv(config_, unit);
    const auto outcome = runner_(argv, config_.timeout);
    if (auto failure = classify_failure(config_, unit, argv, outcome, "restart")) return tl::unexpected(*failure);
    return {};
}

std::string systemd_supervisor::replica_json(int index, const supervisor_status& status) const {
    return replicas::with_replica_fields(to_json(status), replica(index));
}

std::vector<sup_result<supervisor_status>> systemd_supervisor::every_status() {
    std::vector<sup_result<supervisor_status>> out;
    for (int i = 0; i < replica_count(); ++i) out.push_back(replica_status(i));
    return out;
}

sup_result<std::string> systemd_supervisor::whole_status(const std::vector<sup_result<supervisor_status>>& each) const {
    if (each.empty()) return sup_fail(sup_errc::error, "systemd-supervisor supervises no unit");
    if (each.size() == 1) {
        if (!each[0]) return tl::unexpected(each[0].error());
        return to_json(*each[0]);
    }
    std::vector<replicas::replica_answer> answers;
    for (std::size_t i = 0; i < each.size(); ++i) {
        if (each[i]) {
            answers.push_back({replica_json(static_cast<int>(i), *each[i]), ""});
        } else {
            answers.push_back({std::nullopt, each[i].error().message});
        }
    }
    if (auto whole = replicas::whole_status(answers)) return *whole;
    return tl::unexpected(each[0] ? sup_error{sup_errc::error, "no unit's status could be read"} : each[0].error());
}

sup_result<void> systemd_supervisor::restart() {
    sup_result<void> first = {};
    for (int i = 0; i < replica_count(); ++i) {
        auto r = replica_restart(i);
        if (!r && first) first = r;
    }
    return first;
}

}  // namespace tunnelmgr::plugins::systemd_supervisor
