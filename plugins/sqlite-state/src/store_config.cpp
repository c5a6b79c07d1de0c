// Parses the sqlite-state config section. Strict on purpose: a misspelt key would otherwise be
// ignored silently and the store would run with a default the operator did not choose.
#include "store_config.hpp"

#include <string>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "state_rows/config_reading.hpp"

namespace tunnelmgr::plugins::sqlite_state {

namespace {

const std::string& schema_text() {
    static const std::string text = std::string(R"json({
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
    )json") + state_rows::retention_schema_property + R"json(
  }
})json";
    return text;
}

}  // namespace

const char* const store_config_schema = schema_text().c_str();

namespace {

using config_result = tl::expected<store_config, std::string>;

tl::unexpected<std::string> refuse(std::string message) { return tl::unexpected<std::string>(std::move(message)); }

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

    if (auto e = state_rows::read_config_int(doc, "busy_timeout_ms", "state.busy_timeout_ms", 0, 600000, config.busy_timeout_ms);
        !e.empty()) {
        return refuse(e);
    }

    if (auto e = state_rows::read_retention(doc, config.health_days, config.audit_days); !e.empty()) return refuse(e);
    return config;
}

}  // namespace tunnelmgr::plugins::sqlite_state
