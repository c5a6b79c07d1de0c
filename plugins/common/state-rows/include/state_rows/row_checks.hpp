// What every state store checks before it touches its database, and the sentences it answers with:
// one set of rules and words for sqlite-state and postgres-state, so the two cannot drift apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state_rows/store_error.hpp"
#include "state_rows/store_types.hpp"

namespace tunnelmgr::plugins::state_rows {

inline constexpr int64_t ms_per_day = 24LL * 60 * 60 * 1000;
inline constexpr int64_t max_query_limit = 10000;

std::string in_quotes(std::string_view s);
std::string lower(std::string_view s);

// "committed" and "rolled_back" end an operation; every other state holds its hostname.
bool is_finished(std::string_view state);

// The time a row is stamped with: the one the caller gave (since API 1.4, e.g. history being
// copied between stores) when it is > 0, else the store's clock.
inline int64_t given_or_now(int64_t given, int64_t now) { return given > 0 ? given : now; }

// Folds the names to lower case and checks every field a stored CNAME row needs; the message names
// the field to fix. origin_request comes back compact, so what a store returns does not depend on
// how the caller spaced it.
store_result<cname_row> checked_cname(cname_row row);

// The hostname as stored (folded), or invalid when empty; `what` completes "give the hostname of ...".
store_result<std::string> checked_hostname(std::string_view hostname, std::string_view what);

store_result<void> check_limit(int64_t limit);

// operation_begin's request with its hostname folded, or why it cannot start.
store_result<operation_request> checked_operation(operation_request request);

// operation_advance's arguments: the patch as an object's text ("{}" for none), or why not.
store_result<std::string> checked_advance(int64_t id, std::string_view state, std::string_view patch_json);

// For operation_commit of `op`: the given row must be for the operation's hostname (or name none),
// and a create's row must be whole and of the operation's project. Returns the checked row (for a
// create or a retarget) or nullopt (a delete, which needs no row).
store_result<std::optional<cname_row>> checked_commit_row(const operation_row& op, const cname_row& row);

// An audit entry that can be stored, its project filled in from the actor for role "project".
store_result<audit_entry> checked_audit(audit_entry entry);
store_result<void> check_health(const health_observation& observation);
store_result<void> check_zones(const std::vector<zone>& zones);
store_result<void> check_snapshot(const docker_snapshot& snapshot);
store_result<void> check_lease(std::string_view name, std::string_view holder, int64_t ttl_ms);

// The snapshot says "" where a column says NULL (an unknown driver, image, ...).
std::optional<std::string> unless_empty(const std::string& v);

// The sentences of the refusals both stores give from inside a transaction.
tl::unexpected<store_error> no_operation(int64_t id);
tl::unexpected<store_error> hostname_taken(std::string_view hostname, std::string_view by_project);
tl::unexpected<store_error> hostname_busy(std::string_view hostname, int64_t op_id, std::string_view kind,
                                          std::string_view project, std::string_view state);
tl::unexpected<store_error> operation_already_finished(int64_t id, std::string_view state);
tl::unexpected<store_error> operation_rolled_back(int64_t id);
tl::unexpected<store_error> no_cname_to_retarget(std::string_view hostname);
tl::unexpected<store_error> no_cname(std::string_view hostname);
tl::unexpected<store_error> no_cname_to_delete(std::string_view hostname);

}  // namespace tunnelmgr::plugins::state_rows
