// The sqlite-state config section ({"path", "busy_timeout_ms", "retention"}) and its parser.
// Bad config is refused with a sentence naming the key and what to put there.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace tunnelmgr::plugins::sqlite_state {

struct store_config {
    std::string path;
    int64_t busy_timeout_ms = 5000;
    int64_t health_days = 30;  // 0 keeps health rows forever
    int64_t audit_days = 365;  // 0 keeps audit rows forever
};

// The JSON Schema (draft 2020-12) of the section, as config_schema() publishes it.
extern const char* const store_config_schema;

tl::expected<store_config, std::string> parse_store_config(std::string_view json);

}  // namespace tunnelmgr::plugins::sqlite_state
