// The mcp-stdio plugin's config section: {"max_line_bytes":1048576,"workers":4}.
// Parsed once at init; a bad value is refused with a sentence that says what to change.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace tunnelmgr::plugins::mcp_stdio {

struct server_config {
    // A longer line is answered with an error and skipped; 1 MiB is far beyond any real request.
    std::size_t max_line_bytes = 1048576;
    // Tool calls run on this many threads, so a slow call never blocks ping or the others.
    unsigned workers = 4;
};

// The JSON Schema of the section, returned by config_schema().
extern const char* const config_schema_json;

tl::expected<server_config, std::string> parse_server_config(std::string_view json);

}  // namespace tunnelmgr::plugins::mcp_stdio
