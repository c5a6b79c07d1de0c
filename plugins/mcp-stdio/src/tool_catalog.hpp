// The MCP tools tunnelmgr offers: names, schemas, annotations, and the host op each one calls.
// One table, so tools/list, argument checks and result shaping can never disagree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace tunnelmgr::plugins::mcp_stdio {

struct tool_def {
    std::string name;
    std::string op;            // the host call (plugin-api/README.md, "Host calls")
    std::string wrap_key;      // when the host answers with an array, structuredContent is {wrap_key: [...]}
    rapidjson::Document input_schema;
    std::string tool_json;     // the tools/list entry, serialized once
};

class tool_catalog {
public:
    tool_catalog();

    const tool_def* find(std::string_view name) const;
    // {"tools":[...]} for tools/list, serialized once at start-up.
    const std::string& list_result() const { return list_result_; }
    const std::vector<tool_def>& tools() const { return tools_; }

private:
    std::vector<tool_def> tools_;
    std::string list_result_;
};

// What the caller should do about a failed host call of kind `code` ("denied", "conflict", ...).
std::string recommendation_for(std::string_view tool, std::string_view code);

}  // namespace tunnelmgr::plugins::mcp_stdio
