// Typed rows that cross the ABI as JSON, each with one codec shared by the host and the plugins,
// so a shape is written once. Needs RapidJSON's headers (Debian: rapidjson-dev); optional for plugins.
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <tl/expected.hpp>

namespace tunnelmgr::sdk::model {

// A decode failure: which field and what was wrong with it, as a sentence fragment.
using decoded_error = std::string;
template <class T>
using decoded = tl::expected<T, decoded_error>;

namespace detail {

inline const char* json_type_name(const rapidjson::Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return "a boolean";
    if (v.IsString()) return "a string";
    if (v.IsNumber()) return "a number";
    if (v.IsArray()) return "an array";
    return "an object";
}

inline decoded<rapidjson::Document> parse_object(std::string_view text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError()) return tl::unexpected(decoded_error("the reply is not JSON"));
    if (!d.IsObject()) return tl::unexpected(std::string("the reply is ") + json_type_name(d) + ", not a JSON object");
    return d;
}

// An optional member of the given kind: absent or null → nullopt; another type → an error naming the key.
template <class T>
decoded<std::optional<T>> optional_member(const rapidjson::Value& o, const char* key) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd() || it->value.IsNull()) return std::optional<T>();
    const auto& v = it->value;
    if constexpr (std::is_same_v<T, bool>) {
        if (v.IsBool()) return std::optional<T>(v.GetBool());
        return tl::unexpected(std::string("`") + key + "` is " + json_type_name(v) + ", not a boolean");
    } else if constexpr (std::is_same_v<T, int64_t>) {
        if (v.IsInt64()) return std::optional<T>(v.GetInt64());
        return tl::unexpected(std::string("`") + key + "` is " + json_type_name(v) + ", not a whole number");
    } else {
        if (v.IsString()) return std::optional<T>(std::string(v.GetString(), v.GetStringLength()));
        return tl::unexpected(std::string("`") + key + "` is " + json_type_name(v) + ", not a string");
    }
}

// A field that holds a JSON object kept as text (an audit entry's details, a health sample's detail):
// written as the object it is, or as {} when the text is not an object, so the row is never lost
// over it; read back as text, "{}" when absent or null.
template <class Writer>
void write_object_text(Writer& w, const std::string& text) {
    rapidjson::Document object;
    object.Parse(text.c_str(), text.size());
    if (object.HasParseError() || !object.IsObject()) object.SetObject();
    object.Accept(w);
}

inline decoded<std::string> object_member_text(const rapidjson::Value& o, const char* key) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd() || it->value.IsNull()) return std::string("{}");
    if (!it->value.IsObject()) return tl::unexpected(std::string("`") + key + "` is " + json_type_name(it->value) + ", not an object");
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    it->value.Accept(w);
    return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace detail

// tunnel_supervisor_v1.status(): {"running":bool,"pid":int|null,"state":"...","since_ms":int|null,"detail":"..."};
// replica_status() (since 1.2) adds "name" and "metrics".
// `running` is required; a reply without it (or of another shape) is not "not running" but
// "cannot tell", which decode() reports as an error for the host to turn into state "unknown".
struct supervisor_status {
    std::optional<bool> running;  // nullopt: nobody could tell (the host's "unknown")
    std::optional<int64_t> pid;
    std::string state;
    std::optional<int64_t> since_ms;
    std::string detail;
    std::optional<std::string> name;     // replica_status: the unit or container
    std::optional<std::string> metrics;  // replica_status: "HOST:PORT", "" when the config gives none

    // What the host uses when a supervisor cannot be asked or its reply makes no sense.
    static supervisor_status unknown(std::string why) {
        supervisor_status s;
        s.state = "unknown";
        s.detail = std::move(why);
        return s;
    }
};

inline decoded<supervisor_status> decode_supervisor_status(std::string_view text) {
    auto d = detail::parse_object(text);
    if (!d) return tl::unexpected(d.error());
    supervisor_status s;
    auto running = detail::optional_member<bool>(*d, "running");
    if (!running) return tl::unexpected(running.error());
    if (!*running) return tl::unexpected(decoded_error("`running` is missing"));
    s.running = *running;
    auto pid = detail::optional_member<int64_t>(*d, "pid");
    if (!pid) return tl::unexpected(pid.error());
    s.pid = *pid;
    auto state = detail::optional_member<std::string>(*d, "state");
    if (!state) return tl::unexpected(state.error());
    s.state = state->value_or(*s.running ? "running" : "stopped");
    auto since = detail::optional_member<int64_t>(*d, "since_ms");
    if (!since) return tl::unexpected(since.error());
    s.since_ms = *since;
    auto det = detail::optional_member<std::string>(*d, "detail");
    if (!det) return tl::unexpected(det.error());
    s.detail = det->value_or("");
    auto name = detail::optional_member<std::string>(*d, "name");
    if (!name) return tl::unexpected(name.error());
    s.name = *name;
    auto metrics = detail::optional_member<std::string>(*d, "metrics");
    if (!metrics) return tl::unexpected(metrics.error());
    s.metrics = *metrics;
    return s;
}

inline std::string encode(const supervisor_status& s) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("running");
    if (s.running) w.Bool(*s.running); else w.Null();
    w.Key("pid");
    if (s.pid) w.Int64(*s.pid); else w.Null();
    w.Key("state");
    w.String(s.state.c_str(), static_cast<rapidjson::SizeType>(s.state.size()));
    w.Key("since_ms");
    if (s.since_ms) w.Int64(*s.since_ms); else w.Null();
    w.Key("detail");
    w.String(s.detail.c_str(), static_cast<rapidjson::SizeType>(s.detail.size()));
    if (s.name) {
        w.Key("name");
        w.String(s.name->c_str(), static_cast<rapidjson::SizeType>(s.name->size()));
    }
    if (s.metrics) {
        w.Key("metrics");
        w.String(s.metrics->c_str(), static_cast<rapidjson::SizeType>(s.metrics->size()));
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace tunnelmgr::sdk::model

// The Docker topology snapshot, kept in its own header for size.
#include <tunnelmgr/sdk/model_docker.hpp>
// The state rows: the published hostname, the zone, the health sample.
#include <tunnelmgr/sdk/model_cname.hpp>
#include <tunnelmgr/sdk/model_zone.hpp>
#include <tunnelmgr/sdk/model_health.hpp>
