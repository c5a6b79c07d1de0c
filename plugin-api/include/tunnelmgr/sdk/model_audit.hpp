// The audit entry: who did what to which target, and how it ended. Written by the host (the CNAME
// pipeline, the table of host calls, the health loop) through state_store_v1.audit_append.
#pragma once

#include <string>
#include <string_view>

#include <tunnelmgr/sdk/model.hpp>

namespace tunnelmgr::sdk::model {

// {"actor","role","action","target","project","result","error","details":{}}; the store adds the time
// unless "ts" is given (since 1.4), and a shared store the "machine".
// Never put a secret in any field.
struct audit_entry {
    std::string actor;    // "project:NAME", "admin", "health-loop"
    std::string role;     // "project", "admin", "system"
    std::string action;   // "cname.create", "tunnel.restart", ...
    std::string target;   // a hostname, "cloudflared", an op name
    std::string project;  // whose row it is (a project sees its own rows); "" for the admin's and the system's
    std::string result;   // "ok", "error", "refused", "denied", or a state such as "up"
    std::string error;    // the sentence given back, "" on success
    std::string details = "{}";  // a JSON object as text
    int64_t ts = 0;  // Unix ms; 0: the store sets the time (since 1.4 a store keeps a given one: state copy)
    std::string machine = "";  // since 1.4: the machine that wrote it, in a store shared by several; "": none
};

inline std::string encode(const audit_entry& e) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto field = [&w](const char* key, const std::string& v) {
        w.Key(key);
        w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    field("actor", e.actor);
    field("role", e.role);
    field("action", e.action);
    field("target", e.target);
    field("project", e.project);
    field("result", e.result);
    field("error", e.error);
    w.Key("details");
    detail::write_object_text(w, e.details);
    if (e.ts > 0) {
        w.Key("ts");
        w.Int64(e.ts);
    }
    if (!e.machine.empty()) field("machine", e.machine);
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

// Reads one entry (as audit_query returns them, with its "ts" and "machine"; the store's id is ignored).
inline decoded<audit_entry> decode_audit_entry(std::string_view text) {
    auto d = detail::parse_object(text);
    if (!d) return tl::unexpected(d.error());
    audit_entry e;
    for (auto [key, out] : {std::pair<const char*, std::string*>{"actor", &e.actor}, {"role", &e.role},
                            {"action", &e.action}, {"target", &e.target}, {"project", &e.project},
                            {"result", &e.result}, {"error", &e.error}, {"machine", &e.machine}}) {
        auto v = detail::optional_member<std::string>(*d, key);
        if (!v) return tl::unexpected(v.error());
        *out = v->value_or("");
    }
    auto details = detail::object_member_text(*d, "details");
    if (!details) return tl::unexpected(details.error());
    e.details = std::move(*details);
    auto ts = detail::optional_member<int64_t>(*d, "ts");
    if (!ts) return tl::unexpected(ts.error());
    e.ts = ts->value_or(0);
    return e;
}

}  // namespace tunnelmgr::sdk::model
