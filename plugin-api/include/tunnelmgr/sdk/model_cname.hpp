// The published hostname (state_store_v1.cname_get/cname_list, the row operation_commit stores) as a
// typed row with one decoder and one encoder, so the CNAME pipeline and the state store share its shape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tunnelmgr/sdk/model.hpp>

namespace tunnelmgr::sdk::model {

// hostname == subdomain + "." + domain (or == domain when subdomain is ""). As JSON, keys in this order:
// {"id":int,"hostname","subdomain","domain","project","port":int,"target","target_type":string|null,
//  "container_name":string|null,"docker_network":string|null,"dns_record_id":string|null,
//  "zone_id":string|null,"created_at":int}. A new row (the host's) has neither id nor created_at.
// Since plugin API 1.3 a row may also carry "expires_at":int (Unix ms when the daemon removes the name)
// and "origin_request":{...} (the rule's own cloudflared originRequest, in cloudflared's JSON form:
// durations in whole seconds); each is written only when set. Since 1.4, "machine":string (the machine
// whose tunnel serves the name; a store shared by several machines sets it), written only when set.
struct cname_row {
    std::optional<int64_t> id;  // set by the store
    std::string hostname;
    std::string subdomain;
    std::string domain;
    std::string project;
    int64_t port = 0;
    std::string target;
    std::optional<std::string> target_type;  // nullopt: the store keeps NULL
    std::optional<std::string> container_name;
    std::optional<std::string> docker_network;
    std::optional<std::string> dns_record_id;
    std::optional<std::string> zone_id;
    std::optional<int64_t> created_at;  // set by the store
    std::optional<int64_t> expires_at;  // since 1.3; nullopt: the name never expires
    // since 1.3; the JSON object text of the rule's originRequest, as it crosses (compact, keys in the
    // order written); nullopt: none
    std::optional<std::string> origin_request;
    std::optional<std::string> machine;  // since 1.4; nullopt: the store keeps one machine's rows
};

namespace detail {

// "`port` is ..." read inside element i of list `list` becomes "`list[i].port` is ...".
inline decoded_error in_element(const decoded_error& e, const char* list, size_t i) {
    const std::string at = std::string(list) + "[" + std::to_string(i) + "]";
    if (!e.empty() && e.front() == '`') return "`" + at + "." + e.substr(1);
    return at + ": " + e;
}

inline decoded_error not_an_object(const std::string& what, const rapidjson::Value& v) {
    return "`" + what + "` is " + json_type_name(v) + ", not an object";
}

// Reads the optional member `key` of kind T into `out` (a value, or an optional of one); false on a type error.
template <class T, class Out>
bool read_member(const rapidjson::Value& o, const char* key, Out& out, decoded_error& error) {
    auto v = optional_member<T>(o, key);
    if (!v) {
        error = v.error();
        return false;
    }
    if constexpr (std::is_same_v<Out, std::optional<T>>) {
        out = std::move(*v);
    } else {
        if (*v) out = std::move(**v);
    }
    return true;
}

using row_writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline void write_member(row_writer& w, const char* key, const std::string& v) {
    w.Key(key);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}
inline void write_member(row_writer& w, const char* key, const std::optional<std::string>& v) {
    if (v) return write_member(w, key, *v);
    w.Key(key);
    w.Null();
}
inline void write_member(row_writer& w, const char* key, int64_t v) {
    w.Key(key);
    w.Int64(v);
}
inline void write_member(row_writer& w, const char* key, const std::optional<int64_t>& v) {
    if (v) return write_member(w, key, *v);
    w.Key(key);
    w.Null();
}

inline void write_cname_row(row_writer& w, const cname_row& r) {
    w.StartObject();
    if (r.id) write_member(w, "id", *r.id);
    write_member(w, "hostname", r.hostname);
    write_member(w, "subdomain", r.subdomain);
    write_member(w, "domain", r.domain);
    write_member(w, "project", r.project);
    write_member(w, "port", r.port);
    write_member(w, "target", r.target);
    write_member(w, "target_type", r.target_type);
    write_member(w, "container_name", r.container_name);
    write_member(w, "docker_network", r.docker_network);
    write_member(w, "dns_record_id", r.dns_record_id);
    write_member(w, "zone_id", r.zone_id);
    if (r.created_at) write_member(w, "created_at", *r.created_at);
    if (r.expires_at) write_member(w, "expires_at", *r.expires_at);
    if (r.origin_request) {
        w.Key("origin_request");
        w.RawValue(r.origin_request->c_str(), r.origin_request->size(), rapidjson::kObjectType);
    }
    if (r.machine) write_member(w, "machine", *r.machine);
    w.EndObject();
}

}  // namespace detail

// Every key may be missing or null (its field keeps its default); a key of the wrong type is an error
// naming it, e.g. "`port` is a string, not a whole number". Unknown keys are ignored; meaning
// (hostname matches subdomain + domain, port in range) is the caller's to check.
inline decoded<cname_row> decode_cname_row(const rapidjson::Value& o) {
    if (!o.IsObject()) return tl::unexpected(std::string("the row is ") + detail::json_type_name(o) + ", not a JSON object");
    cname_row r;
    decoded_error e;
    using detail::read_member;
    using text = std::string;
    if (!read_member<int64_t>(o, "id", r.id, e) || !read_member<text>(o, "hostname", r.hostname, e) ||
        !read_member<text>(o, "subdomain", r.subdomain, e) || !read_member<text>(o, "domain", r.domain, e) ||
        !read_member<text>(o, "project", r.project, e) || !read_member<int64_t>(o, "port", r.port, e) ||
        !read_member<text>(o, "target", r.target, e) || !read_member<text>(o, "target_type", r.target_type, e) ||
        !read_member<text>(o, "container_name", r.container_name, e) ||
        !read_member<text>(o, "docker_network", r.docker_network, e) ||
        !read_member<text>(o, "dns_record_id", r.dns_record_id, e) || !read_member<text>(o, "zone_id", r.zone_id, e) ||
        !read_member<int64_t>(o, "created_at", r.created_at, e) ||
        !read_member<int64_t>(o, "expires_at", r.expires_at, e) || !read_member<text>(o, "machine", r.machine, e)) {
        return tl::unexpected(e);
    }
    if (auto origin = o.FindMember("origin_request"); origin != o.MemberEnd() && !origin->value.IsNull()) {
        if (!origin->value.IsObject()) return tl::unexpected(detail::not_an_object("origin_request", origin->value));
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        origin->value.Accept(w);
        r.origin_request = std::string(buf.GetString(), buf.GetSize());
    }
    return r;
}

inline decoded<cname_row> decode_cname_row(std::string_view text) {
    auto d = detail::parse_object(text);
    if (!d) return tl::unexpected(d.error());
    return decode_cname_row(static_cast<const rapidjson::Value&>(*d));
}

// cname_list's answer: an array of rows; an error names the element, e.g. "`cnames[3].port` is ...".
inline decoded<std::vector<cname_row>> decode_cname_rows(const rapidjson::Value& a) {
    if (!a.IsArray()) return tl::unexpected(std::string("the row list is ") + detail::json_type_name(a) + ", not a JSON array");
    std::vector<cname_row> out;
    out.reserve(a.Size());
    for (const auto& v : a.GetArray()) {
        if (!v.IsObject()) return tl::unexpected(detail::not_an_object("cnames[" + std::to_string(out.size()) + "]", v));
        auto r = decode_cname_row(v);
        if (!r) return tl::unexpected(detail::in_element(r.error(), "cnames", out.size()));
        out.push_back(std::move(*r));
    }
    return out;
}

inline decoded<std::vector<cname_row>> decode_cname_rows(std::string_view text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError()) return tl::unexpected(decoded_error("the row list is not JSON"));
    return decode_cname_rows(static_cast<const rapidjson::Value&>(d));
}

// The keys in the order above; id and created_at only when set (a new row has neither).
inline std::string encode(const cname_row& r) {
    rapidjson::StringBuffer buf;
    detail::row_writer w(buf);
    detail::write_cname_row(w, r);
    return std::string(buf.GetString(), buf.GetSize());
}

inline std::string encode(const std::vector<cname_row>& rows) {
    rapidjson::StringBuffer buf;
    detail::row_writer w(buf);
    w.StartArray();
    for (const auto& r : rows) detail::write_cname_row(w, r);
    w.EndArray();
    return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace tunnelmgr::sdk::model
