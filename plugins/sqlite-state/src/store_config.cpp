// Parses the sqlite-state config section. Strict on purpose: a misspelt key would otherwise be
// ignored silently and the store would run with a default the operator did not choose.
#include "store_config.hpp"

#include <string>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace tunnelmgr::plugins::sqlite_state {

const char* const store_config_schema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "sqlite-state",
  "description": "The SQLite state store shared by every tunnelmgr process on the machine.",
  "type": "object",
  "required": ["path"],
  "additionalProperties": false,
  "properties": {
    "plugin": {"type": "string", "const": "sqlite-state"},
    "path": {"type": "string", "minLength": 1, "description": "The SQLite file; its directory is created when missing.", "examples": ["/var/lib/tunnelmgr/state.db"]},
    "busy_timeout_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "default": 5000, "description": "How long a call waits for another process's write to finish before it answers retry."},
    "retention": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "health_days": {"type": "integer", "minimum": 0, "maximum": 36500, "default": 30, "description": "Health rows older than this are pruned; 0 keeps them forever."},
        "audit_days": {"type": "integer", "minimum": 0, "maximum": 36500, "default": 365, "description": "Audit rows older than this are pruned; 0 keeps them forever."}
      }
    }
  }
})json";

namespace {

using config_result = tl::expected<store_config, std::string>;

tl::unexpected<std::string> refuse(std::string message) { return tl::unexpected<std::string>(std::move(message)); }

// Reads an integer key within [lo, hi] into `out`; absent keeps the default.
std::string read_int(const rapidjson::Value& object, const char* key, const std::string& full_key, int64_t lo,
                     int64_t hi, int64_t& out) {
    auto it = object.FindMember(key);
    if (it == object.MemberEnd()) return {};
    if (!it->value.IsInt64() || it->value.GetInt64() < lo || it->value.GetInt64() > hi) {
        return full_key + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
               "; fix it in the state section of the config, or remove it to use the default (" +
               std::to_string(out) + ")";
    }
    out = it->value.GetInt64();
    return {};
}

}  // namespace

config_result parse_store_config(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return refuse("the sqlite-state config section must be a JSON object such as "
                      "{\"path\": \"/var/lib/tunnelmgr/state.db\"}; check the state section of the config file");
    }
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        const std::string key(it->name.GetString(), it->name.GetStringLength());
        if (key != "plugin" && key != "path" && key != "busy_timeout_ms" && key != "retention") {
            return refuse("state." + key +
                          " is not a sqlite-state setting; remove it (known keys: path, busy_timeout_ms, retention)");
        }
    }

    store_config config;
    auto path = doc.FindMember("path");
    if (path == doc.MemberEnd() || !path->value.IsString() || path->value.GetStringLength() == 0) {
        return refuse("state.path is required: set it to the SQLite file tunnelmgr should keep its state in, "
                      "for example /var/lib/tunnelmgr/state.db");
    }
    config.path.assign(path->value.GetString(), path->value.GetStringLength());

    if (auto e = read_int(doc, "busy_timeout_ms", "state.busy_timeout_ms", 0, 600000, config.busy_timeout_ms);
        !e.empty()) {
        return refuse(e);
    }

    auto retention = doc.FindMember("retention");
    if (retention != doc.MemberEnd()) {
        const rapidjson::Value& r = retention->value;
        if (!r.IsObject()) {
            return refuse("state.retention must be an object such as {\"health_days\": 30, \"audit_days\": 365}");
        }
        for (auto it = r.MemberBegin(); it != r.MemberEnd(); ++it) {
            const std::string key(it->name.GetString(), it->name.GetStringLength());
            if (key != "health_days" && key != "audit_days") {
                return refuse("state.retention." + key +
                              " is not a retention setting; remove it (known keys: health_days, audit_days)");
            }
        }
        if (auto e = read_int(r, "health_days", "state.retention.health_days", 0, 36500, config.health_days);
            !e.empty()) {
            return refuse(e);
        }
        if (auto e = read_int(r, "audit_days", "state.retention.audit_days", 0, 36500, config.audit_days);
            !e.empty()) {
            return refuse(e);
        }
    }
    return config;
}

}  // namespace tunnelmgr::plugins::sqlite_state
