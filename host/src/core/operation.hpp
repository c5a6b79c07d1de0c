// The journal's vocabulary: the kinds of operation, the states an operation row moves through, and
// which state may follow which. The strings are what the state store holds; existing databases keep them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"

namespace tunnelmgr::core {

enum class op_kind { create, del, retarget };

enum class op_state { validated, dns_created, ingress_written, applied, committed, ingress_removed, dns_deleted, rolled_back };

inline constexpr std::string_view to_string(op_kind k) {
    switch (k) {
        case op_kind::create: return "create";
        case op_kind::del: return "delete";
        case op_kind::retarget: return "retarget";
    }
    return "unknown";
}

inline constexpr std::string_view to_string(op_state s) {
    switch (s) {
        case op_state::validated: return "validated";
        case op_state::dns_created: return "dns_created";
        case op_state::ingress_written: return "ingress_written";
        case op_state::applied: return "applied";
        case op_state::committed: return "committed";
        case op_state::ingress_removed: return "ingress_removed";
        case op_state::dns_deleted: return "dns_deleted";
        case op_state::rolled_back: return "rolled_back";
    }
    return "unknown";
}

inline constexpr std::array all_op_states{op_state::validated,       op_state::dns_created, op_state::ingress_written,
                                          op_state::applied,         op_state::committed,   op_state::ingress_removed,
                                          op_state::dns_deleted,     op_state::rolled_back};

inline std::optional<op_kind> op_kind_from(std::string_view s) {
    if (s == "create") return op_kind::create;
    if (s == "delete") return op_kind::del;
    if (s == "retarget") return op_kind::retarget;
    return std::nullopt;
}

inline std::optional<op_state> op_state_from(std::string_view s) {
    for (auto st : all_op_states) {
        if (to_string(st) == s) return st;
    }
    return std::nullopt;
}

// The way forward of each kind, from the state operation_begin writes to the one operation_commit writes.
inline constexpr std::array create_path{op_state::validated, op_state::dns_created, op_state::ingress_written,
                                        op_state::applied, op_state::committed};
inline constexpr std::array delete_path{op_state::validated, op_state::ingress_removed, op_state::applied,
                                        op_state::dns_deleted, op_state::committed};

// A retarget changes the rule in place (its DNS record stays) and commits the row's new service.
inline constexpr std::array retarget_path{op_state::validated, op_state::ingress_written, op_state::applied,
                                          op_state::committed};

inline constexpr std::span<const op_state> forward_path(op_kind k) {
    switch (k) {
        case op_kind::create: return create_path;
        case op_kind::del: return delete_path;
        case op_kind::retarget: return retarget_path;
    }
    return create_path;
}

struct op_transition {
    op_kind kind;
    op_state from, to;
};

// Every move the pipeline may journal. A create or a retarget rolls back from anywhere before committed;
// a delete only before it has changed anything (later failures are finished by recovery instead).
inline constexpr op_transition op_transitions[] = {
    {op_kind::create, op_state::validated, op_state::dns_created},
    {op_kind::create, op_state::dns_created, op_state::ingress_written},
    {op_kind::create, op_state::ingress_written, op_state::applied},
    {op_kind::create, op_state::applied, op_state::committed},
    {op_kind::create, op_state::validated, op_state::rolled_back},
    {op_kind::create, op_state::dns_created, op_state::rolled_back},
    {op_kind::create, op_state::ingress_written, op_state::rolled_back},
    {op_kind::create, op_state::applied, op_state::rolled_back},
    {op_kind::del, op_state::validated, op_state::ingress_removed},
    {op_kind::del, op_state::ingress_removed, op_state::applied},
    {op_kind::del, op_state::applied, op_state::dns_deleted},
    {op_kind::del, op_state::dns_deleted, op_state::committed},
    {op_kind::del, op_state::validated, op_state::rolled_back},
    {op_kind::retarget, op_state::validated, op_state::ingress_written},
    {op_kind::retarget, op_state::ingress_written, op_state::applied},
    {op_kind::retarget, op_state::applied, op_state::committed},
    {op_kind::retarget, op_state::validated, op_state::rolled_back},
    {op_kind::retarget, op_state::ingress_written, op_state::rolled_back},
    {op_kind::retarget, op_state::applied, op_state::rolled_back},
};

inline constexpr bool transition_allowed(op_kind kind, op_state from, op_state to) {
    for (const auto& t : op_transitions) {
        if (t.kind == kind && t.from == from && t.to == to) return true;
    }
    return false;
}

// An illegal move is the pipeline's own bug: say which, never crash.
inline result<void> check_transition(op_kind kind, op_state from, op_state to) {
    if (transition_allowed(kind, from, to)) return {};
    return fail(errc::error, "internal error: a " + std::string(to_string(kind)) + " operation cannot go from '" +
                                 std::string(to_string(from)) + "' to '" + std::string(to_string(to)) +
                                 "' (please report this bug)");
}

// An operation as the journal holds it; `data` merges the request and every step's patch.
struct operation {
    int64_t id = 0;
    op_kind kind = op_kind::create;
    op_state state = op_state::validated;
    std::string hostname, project;
    rapidjson::Document data{rapidjson::kObjectType};
    // What this run learnt that the journal does not keep: for the caller's answer and audit row.
    std::string apply_note, backup_error;

    std::string s(const char* k) const { return json::str(data, k); }
    bool b(const char* k) const { return json::boolean(data, k); }
    void put(const char* k, const std::string& v) {
        data.RemoveMember(k);
        data.AddMember(rapidjson::Value(k, data.GetAllocator()), rapidjson::Value(v.c_str(), data.GetAllocator()),
                       data.GetAllocator());
    }
    void put(const char* k, bool v) {
        data.RemoveMember(k);
        data.AddMember(rapidjson::Value(k, data.GetAllocator()), rapidjson::Value(v), data.GetAllocator());
    }
};

}  // namespace tunnelmgr::core
