#include "supervisor_config.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace tunnelmgr::plugins::systemd_supervisor {

const char* const supervisor_config_schema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "systemd-supervisor",
  "description": "Watches and restarts cloudflared's systemd unit with systemctl, run by argv (never a shell).",
  "type": "object",
  "properties": {
    "plugin": {"const": "systemd-supervisor"},
    "unit": {"type": "string", "default": "cloudflared.service", "maxLength": 255, "pattern": "^[A-Za-z0-9:_.\\\\@][A-Za-z0-9:_.\\\\@-]*$",
             "description": "The systemd unit that runs cloudflared. Or use units for several replicas, not both."},
    "units": {"type": "array", "minItems": 1,
              "description": "Several cloudflared replicas of the tunnel (e.g. cloudflared@1.service and cloudflared@2.service from the packaged template), each with its own metrics address; tunnelmgr restarts them one at a time. Instead of unit.",
              "items": {"type": "object",
                        "properties": {
                          "unit": {"type": "string", "maxLength": 255, "pattern": "^[A-Za-z0-9:_.\\\\@][A-Za-z0-9:_.\\\\@-]*$"},
                          "metrics": {"type": "string", "pattern": "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$",
                                      "description": "HOST:PORT of this replica's --metrics; required with more than one replica."}},
                        "required": ["unit"],
                        "additionalProperties": false}},
    "command_prefix": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                       "description": "Put before systemctl, e.g. [\"sudo\",\"-n\"] or [\"docker\",\"exec\",\"CTR\"]."},
    "systemctl": {"type": "string", "minLength": 1, "default": "systemctl"},
    "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 600000, "default": 15000}
  },
  "additionalProperties": false
})";

bool is_valid_unit_name(std::string_view unit) {
    if (unit.empty() || unit.size() > 255 || unit.front() == '-') return false;
    for (char c : unit) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
                  c == '_' || c == '.' || c == '\\' || c == '@' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string unit_setting(const supervisor_config& config) { return config.listed ? "supervisor.units" : "supervisor.unit"; }

sup_result<supervisor_config> parse_supervisor_config(std::string_view json) {
    supervisor_config config;
    if (json.empty()) return config;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
        return sup_fail(sup_errc::invalid, std::string("the supervisor section is not valid JSON: ") +
                                               rapidjson::GetParseError_En(doc.GetParseError()));
    }
    if (!doc.IsObject()) return sup_fail(sup_errc::invalid, "the supervisor section must be a mapping of keys");
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        const auto& v = it->value;
        if (key == "plugin") {
            continue;
        } else if (key == "unit") {
            if (!v.IsString() || !is_valid_unit_name(v.GetString())) {
                return sup_fail(sup_errc::invalid,
                                "supervisor.unit must be a systemd unit name such as \"cloudflared.service\" "
                                "(letters, digits and :_.\\@-, not starting with '-')");
            }
            config.units = {{v.GetString(), ""}};
        } else if (key == "units") {
            const replicas::list_spec spec{"supervisor.units", "unit",
                                           [](std::string_view name) { return is_valid_unit_name(name); },
                                           "a systemd unit name such as \"cloudflared@1.service\" (letters, digits "
                                           "and :_.\\@-, not starting with '-')"};
            auto units = replicas::parse_replica_list(v, spec);
            if (!units) return sup_fail(sup_errc::invalid, units.error());
            config.units = std::move(*units);
            config.listed = true;
        } else if (key == "command_prefix") {
            if (!v.IsArray()) {
                return sup_fail(sup_errc::invalid,
                                "supervisor.command_prefix must be a list of arguments, e.g. [\"sudo\", \"-n\"]; "
                                "it is run as argv, never through a shell");
            }
            config.command_prefix.clear();
            for (const auto& arg : v.GetArray()) {
                if (!arg.IsString() || arg.GetStringLength() == 0) {
                    return sup_fail(sup_errc::invalid,
                                    "supervisor.command_prefix must hold only non-empty strings, one argument each");
                }
                config.command_prefix.emplace_back(arg.GetString(), arg.GetStringLength());
            }
        } else if (key == "systemctl") {
            if (!v.IsString() || v.GetStringLength() == 0) {
                return sup_fail(sup_errc::invalid, "supervisor.systemctl must be the systemctl program, "
                                                   "a name on PATH or an absolute path");
            }
            config.systemctl = v.GetString();
        } else if (key == "timeout_ms") {
            if (!v.IsInt64() || v.GetInt64() < 100 || v.GetInt64() > 600000) {
                return sup_fail(sup_errc::invalid,
                                "supervisor.timeout_ms must be a whole number of milliseconds from 100 to 600000");
            }
            config.timeout = std::chrono::milliseconds(v.GetInt64());
        } else {
            return sup_fail(sup_errc::invalid, "supervisor." + key +
                                                   " is not a setting of systemd-supervisor (known: unit, units, "
                                                   "command_prefix, systemctl, timeout_ms)");
        }
    }
    if (doc.HasMember("unit") && doc.HasMember("units")) {
        return sup_fail(sup_errc::invalid, "supervisor.unit and supervisor.units are both set: use unit for one "
                                           "cloudflared, or list every replica in units (and drop unit)");
    }
    return config;
}

bool same_pid_namespace(const supervisor_config& config, std::string& why) {
    if (config.command_prefix.empty()) return true;
    auto base = [](const std::string& program) {
        auto slash = program.rfind('/');
        return slash == std::string::npos ? program : program.substr(slash + 1);
    };
    static const char* const same_machine[] = {"sudo", "doas", "run0", "env"};
    static const char* const elsewhere[] = {"docker", "podman", "nerdctl", "nsenter", "machinectl", "ssh",
                                            "kubectl", "lxc-attach", "lxc", "incus", "systemd-nspawn", "ctr"};
    std::string prefix;
    for (const auto& a : config.command_prefix) prefix += (prefix.empty() ? "" : " ") + a;
    bool first_ok = false;
    for (const char* p : same_machine) first_ok = first_ok || base(config.command_prefix.front()) == p;
    bool crosses = false;
    for (const auto& a : config.command_prefix) {
        for (const char* p : elsewhere) crosses = crosses || base(a) == p;
    }
    if (first_ok && !crosses) return true;
    why = "systemctl runs through `" + prefix + "`, so the main PID it reports may belong to another machine or "
          "container";
    return false;
}

}  // namespace tunnelmgr::plugins::systemd_supervisor
