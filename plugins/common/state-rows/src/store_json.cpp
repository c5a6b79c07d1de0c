// JSON <-> store rows for the state_store_v1 shapes, with RapidJSON, for every stock store.
#include "state_rows/store_json.hpp"

#include <tunnelmgr/sdk/hostname.hpp>

#include <optional>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugins::state_rows {
namespace {

using writer_t = rapidjson::Writer<rapidjson::StringBuffer>;

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

store_result<rapidjson::Document> parse(std::string_view json, std::string_view what) {
    rapidjson::Document doc;
    if (json.empty()) {
        return store_fail(store_errc::invalid, std::string(what) + " is empty; pass a JSON value");
    }
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
        return store_fail(store_errc::invalid, std::string(what) + " is not valid JSON (" +
                                                   rapidjson::GetParseError_En(doc.GetParseError()) + " at offset " +
                                                   std::to_string(doc.GetErrorOffset()) + "); fix the JSON text");
    }
    return doc;
}

std::string compact(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    v.Accept(w);
    return std::string(buf.GetString(), buf.GetSize());
}

// Reads the fields of one JSON object, remembering the first type error, so each parser reads
// like a list of fields. `where` names the object in messages ("cname", "snapshot.containers[2]").
class fields {
public:
    fields(const rapidjson::Value& object, std::string where) : object_(object), where_(std::move(where)) {}

    std::optional<std::string> opt_string(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr || v->IsNull()) return std::nullopt;
        if (!v->IsString()) return bad(key, "must be a string");
        return std::string(v->GetString(), v->GetStringLength());
    }
    std::string string(const char* key) { return opt_string(key).value_or(std::string()); }

    std::optional<int64_t> opt_int(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr || v->IsNull()) return std::nullopt;
        if (!v->IsInt64()) {
            bad(key, "must be an integer");
            return std::nullopt;
        }
        return v->GetInt64();
    }

    // An object field as compact JSON text; "{}" when absent or null.
    std::string object_text(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr || v->IsNull()) return "{}";
        if (!v->IsObject()) {
            bad(key, "must be a JSON object");
            return "{}";
        }
        return compact(*v);
    }

    const std::string& where() const { return where_; }
    bool ok() const { return error_.empty(); }
    void fail(std::string message) {
        if (error_.empty()) error_ = std::move(message);
    }
    tl::unexpected<store_error> error() const { return store_fail(store_errc::invalid, error_); }

private:
    const rapidjson::Value* find(const char* key) const {
        auto it = object_.FindMember(key);
        return it == object_.MemberEnd() ? nullptr : &it->value;
    }
    std::nullopt_t bad(const char* key, const char* rule) {
        fail(where_ + "." + key + " " + rule + "; fix the field or leave it out");
        return std::nullopt;
    }

    const rapidjson::Value& object_;
    std::string where_;
    std::string error_;
};

store_result<rapidjson::Document> parse_object(std::string_view json, std::string_view what) {
    auto doc = parse(json, what);
    if (!doc) return doc;
    if (!doc->IsObject()) {
        return store_fail(store_errc::invalid, std::string(what) + " must be a JSON object ({...})");
    }
    return doc;
}

// The SDK's codecs name the field ("`port` is a string, not a whole number"); the store has always
// answered in its own words ("cname.port must be an integer; fix the field or leave it out"), and its
// callers read those, so an SDK error is said again that way. `where` names the object ("cname").
tl::unexpected<store_error> sdk_shape_error(std::string_view where, const sdk::model::decoded_error& e) {
    const auto close = e.size() > 1 && e.front() == '`' ? e.find('`', 1) : std::string::npos;
    const auto not_at = e.rfind(", not ");
    if (close == std::string::npos || not_at == std::string::npos || not_at < close) {
        return store_fail(store_errc::invalid, std::string(where) + " is malformed: " + e);
    }
    const std::string key = e.substr(1, close - 1), expected = e.substr(not_at + 6);
    const std::string rule = expected == "a whole number" ? "must be an integer"
                             : expected == "an object"   ? "must be a JSON object"
                                                          : "must be " + expected;
    return store_fail(store_errc::invalid, (where.empty() ? key : std::string(where) + "." + key) + " " + rule +
                                               "; fix the field or leave it out");
}

void write_opt(writer_t& w, const char* key, const std::optional<std::string>& v) {
    w.Key(key);
    if (v) {
        w.String(v->c_str(), static_cast<rapidjson::SizeType>(v->size()));
    } else {
        w.Null();
    }
}
void write_opt(writer_t& w, const char* key, const std::optional<int64_t>& v) {
    w.Key(key);
    if (v) {
        w.Int64(*v);
    } else {
        w.Null();
    }
}
void write_str(writer_t& w, const char* key, const std::string& v) {
    w.Key(key);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}
void write_int(writer_t& w, const char* key, int64_t v) {
    w.Key(key);
    w.Int64(v);
}
// Stored JSON columns were validated on the way in; anything else still yields valid output.
void write_raw(writer_t& w, const char* key, const std::string& json_text) {
    w.Key(key);
    if (is_json_object(json_text)) {
        w.RawValue(json_text.c_str(), json_text.size(), rapidjson::kObjectType);
    } else {
        w.StartObject();
        w.EndObject();
    }
}

void write_operation(writer_t& w, const operation_row& r) {
    w.StartObject();
    write_int(w, "id", r.id);
    w.Key("kind");
    w.String(kind_name(r.kind));
    write_str(w, "hostname", r.hostname);
    write_str(w, "project", r.project);
    write_str(w, "state", r.state);
    write_raw(w, "data", r.data_json);
    write_int(w, "created_at", r.created_at);
    write_int(w, "updated_at", r.updated_at);
    if (r.machine) write_str(w, "machine", *r.machine);
    w.EndObject();
}

void write_audit(writer_t& w, const audit_entry& e) {
    w.StartObject();
    write_int(w, "id", e.id);
    write_int(w, "ts", e.ts);
    write_str(w, "actor", e.actor);
    write_opt(w, "role", e.role);
    write_str(w, "action", e.action);
    write_opt(w, "target", e.target);
    write_opt(w, "result", e.result);
    write_opt(w, "error", e.error);
    write_opt(w, "project", e.project);
    write_raw(w, "details", e.details_json);
    if (e.machine) write_str(w, "machine", *e.machine);
    w.EndObject();
}

void write_health(writer_t& w, const health_observation& h) {
    w.StartObject();
    write_int(w, "id", h.id);
    write_int(w, "ts", h.ts);
    write_str(w, "status", h.status);
    write_opt(w, "ready_connections", h.ready_connections);
    write_opt(w, "restart_count", h.restart_count);
    write_opt(w, "last_error", h.last_error);
    write_opt(w, "uptime_s", h.uptime_s);
    write_raw(w, "detail", h.detail_json);
    w.EndObject();
}

template <class T, class Fn>
std::string array_json(const std::vector<T>& items, Fn write_one) {
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    w.StartArray();
    for (const auto& item : items) write_one(w, item);
    w.EndArray();
    return std::string(buf.GetString(), buf.GetSize());
}

// {"limit"} shared by audit and health filters: default 100; the store checks the range.
void read_limit(fields& f, int64_t& limit) {
    if (auto l = f.opt_int("limit")) limit = *l;
}

}  // namespace

bool is_json_object(std::string_view text) {
    if (text.empty()) return false;
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    return !doc.HasParseError() && doc.IsObject();
}

std::optional<std::string> compact_json_object(std::string_view text) {
    if (text.empty()) return std::nullopt;
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
    return compact(doc);
}

std::string json_string_array(const std::vector<std::string>& items) {
    return array_json(items, [](writer_t& w, const std::string& s) {
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    });
}

std::vector<std::string> parse_string_array(std::string_view text) {
    std::vector<std::string> out;
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError() || !doc.IsArray()) return out;
    for (const auto& v : doc.GetArray()) {
        if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
    }
    return out;
}

store_result<cname_row> cname_from_json(std::string_view json) {
    auto doc = parse_object(json, "the CNAME row");
    if (!doc) return tl::unexpected(doc.error());
    auto row = sdk::model::decode_cname_row(static_cast<const rapidjson::Value&>(*doc));
    if (!row) return sdk_shape_error("cname", row.error());
    return std::move(*row);
}

store_result<cname_filter> cname_filter_from_json(std::string_view json) {
    if (json.empty()) return cname_filter{};
    auto doc = parse_object(json, "the CNAME filter");
    if (!doc) return tl::unexpected(doc.error());
    fields f(*doc, "filter");
    cname_filter out;
    out.project = f.opt_string("project");
    out.limit = f.opt_int("limit");
    out.offset = f.opt_int("offset");
    out.after = f.opt_string("after");
    out.expires_before = f.opt_int("expires_before");
    out.pending_before = f.opt_int("pending_before");
    if (!f.ok()) return f.error();
    if (out.pending_before && !out.project) {
        return store_fail(store_errc::invalid, "filter.pending_before counts one project's creates: give filter.project too");
    }
    if (out.limit && (*out.limit < 1 || *out.limit > 10000)) {
        return store_fail(store_errc::invalid, "filter.limit must be from 1 to 10000, not " + std::to_string(*out.limit));
    }
    if (out.offset && *out.offset < 0) {
        return store_fail(store_errc::invalid, "filter.offset must be 0 or more, not " + std::to_string(*out.offset));
    }
    if (out.after && out.offset) {
        return store_fail(store_errc::invalid, "filter.after and filter.offset are two ways to say where a page starts: "
                                               "give one of them (after, the last hostname of the previous page, stays "
                                               "right when names are added or removed between pages)");
    }
    // Compared as the rows are stored: lower case, no trailing dot.
    if (out.after) out.after = sdk::fold_hostname(*out.after);
    return out;
}

store_result<operation_request> operation_request_from_json(std::string_view json) {
    auto doc = parse_object(json, "the operation");
    if (!doc) return tl::unexpected(doc.error());
    fields f(*doc, "operation");
    operation_request r;
    const std::string kind = f.string("kind");
    r.hostname = f.string("hostname");
    r.project = f.string("project");
    r.request_json = f.object_text("request");
    if (!f.ok()) return f.error();
    const auto known = operation_kind_named(kind);
    if (!known) {
        return store_fail(store_errc::invalid,
                          "operation.kind must be \"create\", \"delete\" or \"retarget\", not " + in_quotes(kind));
    }
    r.kind = *known;
    return r;
}

store_result<audit_entry> audit_entry_from_json(std::string_view json) {
    auto doc = parse_object(json, "the audit entry");
    if (!doc) return tl::unexpected(doc.error());
    fields f(*doc, "audit");
    audit_entry e;
    e.actor = f.string("actor");
    e.role = f.opt_string("role");
    e.action = f.string("action");
    e.target = f.opt_string("target");
    e.result = f.opt_string("result");
    e.error = f.opt_string("error");
    e.project = f.opt_string("project");
    e.details_json = f.object_text("details");
    e.ts = f.opt_int("ts").value_or(0);  // since 1.4: kept when > 0
    e.machine = f.opt_string("machine");  // since 1.4: a shared store keeps it (state copy); else its own
    if (!f.ok()) return f.error();
    return e;
}

store_result<audit_filter> audit_filter_from_json(std::string_view json) {
    if (json.empty()) return audit_filter{};
    auto doc = parse_object(json, "the audit filter");
    if (!doc) return tl::unexpected(doc.error());
    fields f(*doc, "filter");
    audit_filter out;
    out.project = f.opt_string("project");
    out.action = f.opt_string("action");
    out.since_ms = f.opt_int("since_ms");
    out.before_id = f.opt_int("before_id");
    read_limit(f, out.limit);
    if (!f.ok()) return f.error();
    return out;
}

store_result<health_observation> health_from_json(std::string_view json) {
    auto doc = parse_object(json, "the health observation");
    if (!doc) return tl::unexpected(doc.error());
    auto sample = sdk::model::decode_health_sample(static_cast<const rapidjson::Value&>(*doc));
    if (!sample) return sdk_shape_error("health", sample.error());
    // The SDK's sample has no time; since 1.4 a given "ts" (> 0) is kept.
    fields f(*doc, "health");
    health_observation h;
    h.ts = f.opt_int("ts").value_or(0);
    if (!f.ok()) return f.error();
    h.status = std::move(sample->status);
    h.ready_connections = sample->ready_connections;
    h.restart_count = sample->restart_count;
    h.last_error = std::move(sample->last_error);
    h.uptime_s = sample->uptime_s;
    h.detail_json = std::move(sample->detail);
    return h;
}

store_result<health_filter> health_filter_from_json(std::string_view json) {
    if (json.empty()) return health_filter{};
    auto doc = parse_object(json, "the health filter");
    if (!doc) return tl::unexpected(doc.error());
    fields f(*doc, "filter");
    health_filter out;
    out.since_ms = f.opt_int("since_ms");
    out.before_id = f.opt_int("before_id");
    read_limit(f, out.limit);
    if (!f.ok()) return f.error();
    return out;
}

store_result<std::vector<zone>> zones_from_json(std::string_view json) {
    auto doc = parse(json, "the zone list");
    if (!doc) return tl::unexpected(doc.error());
    if (!doc->IsArray()) {
        return store_fail(store_errc::invalid, "the zone list must be a JSON array of {\"zone_id\",\"name\",\"status\"}");
    }
    auto zones = sdk::model::decode_zones(static_cast<const rapidjson::Value&>(*doc));
    if (!zones) return sdk_shape_error("", zones.error());
    return std::move(*zones);
}

// The SDK's decoder checks the shape; its errors name the field's path, under "snapshot." here.
store_result<docker_snapshot> docker_snapshot_from_json(std::string_view json) {
    auto doc = parse_object(json, "the Docker snapshot");
    if (!doc) return tl::unexpected(doc.error());
    auto snap = sdk::model::decode_docker_snapshot(static_cast<const rapidjson::Value&>(*doc));
    if (!snap) return store_fail(store_errc::invalid, "snapshot." + snap.error() + "; fix the field or leave it out");
    return std::move(*snap);
}

std::string to_json(const cname_row& row) { return sdk::model::encode(row); }
std::string to_json(const std::vector<cname_row>& rows) { return sdk::model::encode(rows); }
std::string to_json(const std::vector<operation_row>& rows) { return array_json(rows, write_operation); }
std::string to_json(const std::vector<audit_entry>& rows) { return array_json(rows, write_audit); }
std::string to_json(const std::vector<health_observation>& rows) { return array_json(rows, write_health); }
std::string to_json(const std::vector<zone>& zones) { return sdk::model::encode(zones); }

// The ABI promises "taken_ms" from the store, null before the first snapshot.
std::string to_json(const docker_snapshot& snapshot) {
    return sdk::model::encode(snapshot, sdk::model::taken_ms_key::always);
}

std::string to_json(const store_stats& s) {
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    w.StartObject();
    write_int(w, "schema_version", s.schema_version);
    // The host keeps files beside "path" (the ingress history, the lease beacon's name): only a store
    // whose file is on this machine names one.
    if (!s.path.empty()) write_str(w, "path", s.path);
    if (s.dsn_file) write_str(w, "dsn_file", *s.dsn_file);
    if (s.machine) write_str(w, "machine", *s.machine);
    write_int(w, "cnames", s.cnames);
    write_int(w, "operations", s.operations);
    write_int(w, "operations_unfinished", s.operations_unfinished);
    write_int(w, "audit_log", s.audit_log);
    write_int(w, "tunnel_health", s.tunnel_health);
    write_int(w, "domains", s.domains);
    write_int(w, "docker_networks", s.docker_networks);
    write_int(w, "docker_containers", s.docker_containers);
    write_int(w, "leases", s.leases);
    write_int(w, "page_size", s.page_size);
    write_int(w, "page_count", s.page_count);
    write_int(w, "freelist_count", s.freelist_count);
    write_int(w, "file_bytes", s.file_bytes);
    write_int(w, "wal_bytes", s.wal_bytes);
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace tunnelmgr::plugins::state_rows
