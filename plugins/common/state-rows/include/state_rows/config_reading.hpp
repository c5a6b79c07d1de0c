// What the stock stores' config sections share: strict whole-number keys within a range and the
// "retention" object, read and published (JSON Schema) one way, with one set of sentences.
#pragma once

#include <cstdint>
#include <string>

#include <rapidjson/document.h>

namespace tunnelmgr::plugins::state_rows {

// The "retention" property of a store's JSON Schema (draft 2020-12), to put in its "properties".
inline constexpr const char* retention_schema_property = R"json("retention": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "health_days": {"type": "integer", "minimum": 0, "maximum": 36500, "default": 30, "description": "Health rows older than this are pruned; 0 keeps them forever."},
        "audit_days": {"type": "integer", "minimum": 0, "maximum": 36500, "default": 365, "description": "Audit rows older than this are pruned; 0 keeps them forever."}
      }
    })json";

// Reads integer `key` of `object` within [lo, hi] into `out`; absent keeps the default. Returns the
// refusal sentence (naming `full_key`, e.g. "state.pool_size"), or "" when it is fine.
std::string read_config_int(const rapidjson::Value& object, const char* key, const std::string& full_key, int64_t lo,
                            int64_t hi, int64_t& out);

// The section's "retention" object, when present, into the two day counts; "" or the refusal.
std::string read_retention(const rapidjson::Value& section, int64_t& health_days, int64_t& audit_days);

}  // namespace tunnelmgr::plugins::state_rows
