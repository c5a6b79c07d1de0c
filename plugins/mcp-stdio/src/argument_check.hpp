// Checks tool arguments against the tool's inputSchema before anything reaches the host.
// Covers the JSON Schema subset our schemas use; each failure is one sentence naming the fix.
#pragma once

#include <string>

#include <rapidjson/document.h>
#include <tl/expected.hpp>

namespace tunnelmgr::plugins::mcp_stdio {

// Supported keywords: type (object, string, integer, number, boolean, array), properties, required,
// additionalProperties:false, minimum, maximum, minLength, maxLength, pattern, enum (of strings).
// Returns the first problem found, phrased for the caller ("port must be an integer ...").
tl::expected<void, std::string> check_arguments(const rapidjson::Value& schema, const rapidjson::Value& args);

}  // namespace tunnelmgr::plugins::mcp_stdio
