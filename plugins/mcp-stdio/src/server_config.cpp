// Reads the config section strictly: unknown keys are typos, and a typo should not pass silently.
#include "server_config.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace tunnelmgr::plugins::mcp_stdio {

const char* const config_schema_json = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "mcp-stdio",
  "description": "MCP JSON-RPC over stdin/stdout for `tunnelmgr mcp`.",
  "type": "object",
  "properties": {
    "plugin": {"const": "mcp-stdio"},
    "max_line_bytes": {"type": "integer", "minimum": 1024, "maximum": 67108864, "default": 1048576,
                       "description": "A request line longer than this is answered with an error and skipped."},
    "workers": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4,
                "description": "Threads that run tool calls, so a slow call never blocks the others."}
  },
  "additionalProperties": false
})";

tl::expected<server_config, std::string> parse_server_config(std::string_view json) {
    server_config config;
    if (json.empty()) return config;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
        return tl::unexpected(std::string("the mcp-stdio config is not valid JSON (") +
                              rapidjson::GetParseError_En(doc.GetParseError()) + ")");
    }
    if (!doc.IsObject()) return tl::unexpected(std::string("the mcp-stdio config must be an object"));
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        const auto& value = it->value;
        if (key == "plugin") continue;  // the slot's own key, passed along by some hosts
        if (key == "max_line_bytes") {
            if (!value.IsInt64() || value.GetInt64() < 1024 || value.GetInt64() > 67108864) {
                return tl::unexpected(std::string(
                    "transport.max_line_bytes must be an integer from 1024 to 67108864 (default 1048576)"));
            }
            config.max_line_bytes = static_cast<std::size_t>(value.GetInt64());
        } else if (key == "workers") {
            if (!value.IsInt64() || value.GetInt64() < 1 || value.GetInt64() > 64) {
                return tl::unexpected(std::string("transport.workers must be an integer from 1 to 64 (default 4)"));
            }
            config.workers = static_cast<unsigned>(value.GetInt64());
        } else {
            return tl::unexpected("transport." + key +
                                  " is not an mcp-stdio setting; the settings are max_line_bytes and workers");
        }
    }
    return config;
}

}  // namespace tunnelmgr::plugins::mcp_stdio
