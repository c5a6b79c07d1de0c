// Checks a slot's config section against the plugin's config_schema() before init(), so a wrong type
// or a misspelt key is reported with the file, line and key the operator wrote, not by the plugin.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace tunnelmgr::host {

// Where a section came from: the config file, the slot's name and the YAML line of every JSON pointer
// inside the section ("" = the `dns:` line itself, "/timeout_ms", "/retention/audit_days", "/names/0").
struct section_origin {
    std::string file;
    std::string slot;
    std::map<std::string, int> key_lines;
};

// The problems of `section_json` against `schema_text` (JSON Schema, validated as draft-04 by RapidJSON),
// one sentence each: "FILE:LINE: SLOT.KEY: what is wrong". Empty: the section is valid; an empty schema
// or `{}` accepts anything. The error (not a problem list) means the schema itself is broken — not JSON,
// or not a schema — a sentence that blames the plugin.
tl::expected<std::vector<std::string>, std::string> check_section(std::string_view schema_text,
                                                                   std::string_view section_json,
                                                                   const section_origin& origin);

}  // namespace tunnelmgr::host
