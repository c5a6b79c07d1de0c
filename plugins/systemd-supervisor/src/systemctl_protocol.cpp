#include "systemctl_protocol.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace tunnelmgr::plugins::systemd_supervisor {
namespace {

std::vector<std::string> with_prefix(const supervisor_config& config) {
    std::vector<std::string> argv = config.command_prefix;
    argv.push_back(config.systemctl);
    return argv;
}

std::optional<std::int64_t> to_int(std::string_view s) {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

std::string lower(std::string_view s) {
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return r;
}

bool contains(const std::string& haystack, std::string_view needle) { return haystack.find(needle) != std::string::npos; }

// stderr as one short line for a message: the first non-empty line, at most 300 characters.
std::string first_line(std::string_view text) {
    std::string line;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view l = text.substr(pos, end - pos);
        while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
        if (!l.empty()) {
            line = std::string(l);
            break;
        }
        pos = end + 1;
    }
    if (line.size() > 300) line = line.substr(0, 300) + "...";
    return line;
}

std::string join(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) {
        if (!s.empty()) s += ' ';
        s += a;
    }
    return s;
}

std::string said(const command_outcome& o) {
    std::string line = first_line(o.err);
    if (line.empty()) line = first_line(o.out);
    return line.empty() ? std::string() : " (it said: " + line + ")";
}

}  // namespace

std::vector<std::string> show_argv(const supervisor_config& config, const std::string& unit) {
    auto argv = with_prefix(config);
    argv.insert(argv.end(), {"show", "--no-pager", "-p", show_properties, "--", unit});
    return argv;
}

std::vector<std::string> restart_argv(const supervisor_config& config, const std::string& unit) {
    auto argv = with_prefix(config);
    argv.insert(argv.end(), {"restart", "--no-block", "--no-ask-password", "--", unit});
    return argv;
}

std::vector<std::string> reset_failed_argv(const supervisor_config& config, const std::string& unit) {
    auto argv = with_prefix(config);
    argv.insert(argv.end(), {"reset-failed", "--no-ask-password", "--", unit});
    return argv;
}

sup_result<unit_properties> parse_show_output(std::string_view out) {
    unit_properties p;
    bool saw_active_state = false;
    std::size_t pos = 0;
    while (pos < out.size()) {
        auto end = out.find('\n', pos);
        if (end == std::string_view::npos) end = out.size();
        std::string_view line = out.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view key = line.substr(0, eq);
        std::string_view value = line.substr(eq + 1);
        if (key == "LoadState") {
            p.load_state = value;
        } else if (key == "ActiveState") {
            p.active_state = value;
            saw_active_state = true;
        } else if (key == "SubState") {
            p.sub_state = value;
        } else if (key == "MainPID") {
            p.main_pid = to_int(value).value_or(0);
        } else if (key == "ActiveEnterTimestampMonotonic") {
            p.active_enter_monotonic_us = to_int(value);
        } else if (key == "ActiveEnterTimestamp") {
            p.active_enter_timestamp = value;
        } else if (key == "NRestarts") {
            p.n_restarts = to_int(value);
        } else if (key == "Result") {
            p.result = value;
        }
    }
    if (!saw_active_state) {
        return sup_fail(sup_errc::error, "systemctl show gave no ActiveState; its output was not understood: " +
                                             first_line(out));
    }
    return p;
}

bool is_running(const unit_properties& p) {
    if (p.main_pid <= 0) return false;
    // activating: started, not yet READY=1 (Type=notify waits for cloudflared's first connection);
    // the process is alive, so the health loop must not treat it as dead. deactivating: going away.
    return p.active_state == "active" || p.active_state == "reloading" || p.active_state == "activating";
}

std::optional<std::int64_t> active_since_unix_ms(const unit_properties& p, std::int64_t now_unix_ms,
                                                 std::int64_t now_monotonic_us) {
    const std::string& text = p.active_enter_timestamp;
    // "@1732243068" (systemctl --timestamp=unix) or "Sun 2026-11-22 02:37:48 UTC".
    if (!text.empty() && text.front() == '@') {
        if (auto secs = to_int(std::string_view(text).substr(1))) return *secs * 1000;
    }
    if (text.size() > 4 && text.compare(text.size() - 4, 4, " UTC") == 0) {
        std::tm tm{};
        const char* rest = ::strptime(text.c_str(), "%a %Y-%m-%d %H:%M:%S", &tm);
        if (rest != nullptr && std::strcmp(rest, " UTC") == 0) return static_cast<std::int64_t>(::timegm(&tm)) * 1000;
    }
    if (p.active_enter_monotonic_us && *p.active_enter_monotonic_us > 0 &&
        *p.active_enter_monotonic_us <= now_monotonic_us) {
        return now_unix_ms - (now_monotonic_us - *p.active_enter_monotonic_us) / 1000;
    }
    return std::nullopt;
}

std::string describe(const std::string& unit, const unit_properties& p) {
    if (p.load_state == "not-found") return unit + " is not known to systemd (LoadState=not-found)";
    if (p.load_state == "masked") return unit + " is masked; `systemctl unmask " + unit + "` allows it to start";
    std::string s = unit + " is " + p.active_state + " (" + p.sub_state + ")";
    if (p.main_pid > 0) s += ", main PID " + std::to_string(p.main_pid);
    if (!p.active_enter_timestamp.empty() && p.active_state == "active") s += ", since " + p.active_enter_timestamp;
    if (p.n_restarts && *p.n_restarts > 0) {
        s += ", restarted " + std::to_string(*p.n_restarts) + (*p.n_restarts == 1 ? " time" : " times") +
             " by systemd";
    }
    if (!p.result.empty() && p.result != "success") s += ", last result " + p.result;
    return s;
}

std::optional<sup_error> classify_failure(const supervisor_config& config, const std::string& unit,
                                          const std::vector<std::string>& argv, const command_outcome& o,
                                          std::string_view what) {
    const std::string action(what);
    const bool prefixed = !config.command_prefix.empty();
    const std::string where = prefixed ? " through `" + join(config.command_prefix) + "`" : "";
    switch (o.ended) {
        case command_outcome::how::exited:
            if (o.exit_code == 0) return std::nullopt;
            break;
        case command_outcome::how::spawn_failed: {
            const std::string& program = argv.empty() ? config.systemctl : argv.front();
            if (o.spawn_errno == ENOENT) {
                return sup_error{sup_errc::error,
                                 "could not " + action + " " + unit + ": " + program +
                                     " is not installed or not on PATH; " +
                                     (prefixed ? "fix supervisor.command_prefix"
                                               : "install systemd's systemctl or set supervisor.systemctl to its path")};
            }
            if (o.spawn_errno == EACCES || o.spawn_errno == EPERM) {
                return sup_error{sup_errc::denied, "could not " + action + " " + unit + ": " + program +
                                                       " may not be executed by this user (" +
                                                       std::strerror(o.spawn_errno) + ")"};
            }
            return sup_error{sup_errc::error, "could not " + action + " " + unit + ": starting " + program +
                                                  " failed (" + std::strerror(o.spawn_errno) + ")"};
        }
        case command_outcome::how::timed_out:
            return sup_error{sup_errc::timeout,
                             "`" + join(argv) + "` did not finish within " +
                                 std::to_string(config.timeout.count()) + " ms, so it was stopped; systemd (or " +
                                 "the command prefix) is stuck or waiting for input: check `systemctl status " + unit +
                                 "`, use `sudo -n` rather than `sudo`, or raise supervisor.timeout_ms"};
        case command_outcome::how::signaled:
            return sup_error{sup_errc::error, "`" + join(argv) + "` was killed by signal " + std::to_string(o.signal) +
                                                  " before it could " + action + " " + unit};
    }

    const std::string err = lower(o.err + "\n" + o.out);
    const std::string tail = said(o);
    if (contains(err, "no such container")) {
        return sup_error{sup_errc::not_found, "could not " + action + " " + unit + where +
                                                  ": that container does not exist" + tail +
                                                  "; fix the container name in supervisor.command_prefix"};
    }
    if (contains(err, "is not running") && contains(err, "container")) {
        return sup_error{sup_errc::error, "could not " + action + " " + unit + where +
                                              ": the container is not running" + tail +
                                              "; start it (its systemd runs cloudflared)"};
    }
    if (contains(err, "executable file not found") || o.exit_code == 127) {
        return sup_error{sup_errc::error, "could not " + action + " " + unit + where + ": " + config.systemctl +
                                              " was not found there" + tail +
                                              "; set supervisor.systemctl to its path"};
    }
    if ((contains(err, "unit ") && (contains(err, "not found") || contains(err, "could not be found"))) ||
        contains(err, "not loaded")) {
        return sup_error{sup_errc::not_found,
                         "systemd" + where + " has no unit " + unit + tail +
                             "; install cloudflared's unit (`cloudflared service install`) or set " + unit_setting(config) +
                             " to the unit that runs cloudflared (`systemctl list-units 'cloudflared*'`)"};
    }
    if (contains(err, "is masked")) {
        return sup_error{sup_errc::denied, unit + " is masked, so systemd refuses to start it" + tail +
                                               "; run `systemctl unmask " + unit + "` if it should run"};
    }
    if (contains(err, "access denied") || contains(err, "interactive authentication required") ||
        contains(err, "permission denied") || contains(err, "password is required") ||
        contains(err, "not in the sudoers") || contains(err, "operation not permitted") || o.exit_code == 4) {
        return sup_error{sup_errc::denied,
                         "not allowed to " + action + " " + unit + where + tail +
                             "; run tunnelmgr as root, or set supervisor.command_prefix to [\"sudo\", \"-n\"] with "
                             "a sudoers rule allowing `" + config.systemctl + " restart --no-block --no-ask-password -- " +
                             unit + "` (and `show`) without a password, or grant it with a polkit rule"};
    }
    if (contains(err, "not been booted with systemd") || contains(err, "failed to connect to bus") ||
        contains(err, "host is down")) {
        return sup_error{sup_errc::error,
                         "systemd is not running where systemctl ran" + where + tail +
                             "; if cloudflared's systemd is in a container or elsewhere, set "
                             "supervisor.command_prefix (e.g. [\"docker\", \"exec\", \"NAME\"]), or use the "
                             "container-supervisor plugin"};
    }
    return sup_error{sup_errc::error, "`" + join(argv) + "` failed with exit code " + std::to_string(o.exit_code) +
                                          tail + "; could not " + action + " " + unit};
}

}  // namespace tunnelmgr::plugins::systemd_supervisor
