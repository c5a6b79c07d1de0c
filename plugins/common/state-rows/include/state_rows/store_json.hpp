// The JSON shapes of tm_state_store_v1 (see plugin_api.h) turned into store rows and back.
// Parsing checks shape and types only; the store checks meaning (required names, ranges).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state_rows/store_error.hpp"
#include "state_rows/store_types.hpp"

namespace tunnelmgr::plugins::state_rows {

// A JSON object's text, or false for anything else (arrays, scalars, malformed text).
bool is_json_object(std::string_view text);
// The compact text of a JSON object (no spaces, keys in the order given), or nullopt for anything else.
std::optional<std::string> compact_json_object(std::string_view text);

// Compact JSON array of strings, and its lenient inverse (anything else gives an empty list).
std::string json_string_array(const std::vector<std::string>& items);
std::vector<std::string> parse_string_array(std::string_view text);

store_result<cname_row> cname_from_json(std::string_view json);
store_result<cname_filter> cname_filter_from_json(std::string_view json);
store_result<operation_request> operation_request_from_json(std::string_view json);
store_result<audit_entry> audit_entry_from_json(std::string_view json);
store_result<audit_filter> audit_filter_from_json(std::string_view json);
store_result<health_observation> health_from_json(std::string_view json);
store_result<health_filter> health_filter_from_json(std::string_view json);
store_result<std::vector<zone>> zones_from_json(std::string_view json);
store_result<docker_snapshot> docker_snapshot_from_json(std::string_view json);

std::string to_json(const cname_row& row);
std::string to_json(const std::vector<cname_row>& rows);
std::string to_json(const std::vector<operation_row>& rows);
std::string to_json(const std::vector<audit_entry>& rows);
std::string to_json(const std::vector<health_observation>& rows);
std::string to_json(const std::vector<zone>& zones);
std::string to_json(const docker_snapshot& snapshot);
std::string to_json(const store_stats& stats);

}  // namespace tunnelmgr::plugins::state_rows
