// One health observation of the tunnel (state_store_v1.health_record), as the health loop writes it
// and the state store reads it: a typed row with one decoder and one encoder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tunnelmgr/sdk/model.hpp>

namespace tunnelmgr::sdk::model {

// As JSON, keys in this order: {"status","ready_connections":int|null,"restart_count":int|null,
// "last_error":string|null,"uptime_s":int|null,"detail":{}}; the store adds the id and the time.
struct health_sample {
    std::string status;  // up | degraded | down | unknown
    std::optional<int64_t> ready_connections;  // nullopt: nobody could tell (the store keeps NULL)
    std::optional<int64_t> restart_count;
    std::optional<std::string> last_error;
    std::optional<int64_t> uptime_s;
    std::string detail = "{}";  // a JSON object as text
    int64_t ts = 0;  // Unix ms; 0: the store sets the time (since 1.4 a store keeps a given one: state copy)
};

inline std::string encode(const health_sample& h) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto whole = [&w](const char* key, const std::optional<int64_t>& v) {
        w.Key(key);
        if (v) w.Int64(*v); else w.Null();
    };
    w.StartObject();
    w.Key("status");
    w.String(h.status.c_str(), static_cast<rapidjson::SizeType>(h.status.size()));
    whole("ready_connections", h.ready_connections);
    whole("restart_count", h.restart_count);
    w.Key("last_error");
    if (h.last_error) w.String(h.last_error->c_str(), static_cast<rapidjson::SizeType>(h.last_error->size())); else w.Null();
    whole("uptime_s", h.uptime_s);
    w.Key("detail");
    detail::write_object_text(w, h.detail);
    if (h.ts > 0) {
        w.Key("ts");
        w.Int64(h.ts);
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

// Every key may be missing or null (its field keeps its default); a key of the wrong type is an error
// naming it, e.g. "`uptime_s` is a string, not a whole number". Unknown keys (the store's id) are ignored.
inline decoded<health_sample> decode_health_sample(const rapidjson::Value& o) {
    if (!o.IsObject()) return tl::unexpected(std::string("the sample is ") + detail::json_type_name(o) + ", not a JSON object");
    health_sample h;
    auto status = detail::optional_member<std::string>(o, "status");
    if (!status) return tl::unexpected(status.error());
    h.status = status->value_or("");
    for (auto [key, field] : {std::pair<const char*, std::optional<int64_t>*>{"ready_connections", &h.ready_connections},
                              {"restart_count", &h.restart_count}}) {
        auto v = detail::optional_member<int64_t>(o, key);
        if (!v) return tl::unexpected(v.error());
        *field = *v;
    }
    auto last_error = detail::optional_member<std::string>(o, "last_error");
    if (!last_error) return tl::unexpected(last_error.error());
    h.last_error = std::move(*last_error);
    auto uptime = detail::optional_member<int64_t>(o, "uptime_s");
    if (!uptime) return tl::unexpected(uptime.error());
    h.uptime_s = *uptime;
    auto object = detail::object_member_text(o, "detail");
    if (!object) return tl::unexpected(object.error());
    h.detail = std::move(*object);
    auto ts = detail::optional_member<int64_t>(o, "ts");
    if (!ts) return tl::unexpected(ts.error());
    h.ts = ts->value_or(0);
    return h;
}

inline decoded<health_sample> decode_health_sample(std::string_view text) {
    auto d = detail::parse_object(text);
    if (!d) return tl::unexpected(d.error());
    return decode_health_sample(static_cast<const rapidjson::Value&>(*d));
}

}  // namespace tunnelmgr::sdk::model
