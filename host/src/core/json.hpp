// Small helpers over RapidJSON for the core: build an object, read fields with defaults, print.
// Rows cross the plugin boundary as JSON text; these keep that code short and exception-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::core::json {

inline std::string to_string(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return std::string(buf.GetString(), buf.GetSize());
}

// Parses text; an empty optional when it is not JSON.
inline std::optional<rapidjson::Document> parse(std::string_view text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError()) return std::nullopt;
    return d;
}

inline std::string str(const rapidjson::Value& obj, const char* key, std::string def = "") {
    if (!obj.IsObject()) return def;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return def;
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

inline int64_t i64(const rapidjson::Value& obj, const char* key, int64_t def = 0) {
    if (!obj.IsObject()) return def;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsInt64()) return def;
    return it->value.GetInt64();
}

inline bool boolean(const rapidjson::Value& obj, const char* key, bool def = false) {
    if (!obj.IsObject()) return def;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsBool()) return def;
    return it->value.GetBool();
}

// An object under construction: obj().set("a", "x").set("n", 3).str()
class object {
public:
    object() { d_.SetObject(); }
    object& set(const char* key, std::string_view v) {
        remove(key);
        d_.AddMember(rapidjson::Value(key, a()), rapidjson::Value(v.data(), static_cast<rapidjson::SizeType>(v.size()), a()), a());
        return *this;
    }
    object& set(const char* key, const char* v) { return set(key, std::string_view(v)); }
    object& set(const char* key, const std::string& v) { return set(key, std::string_view(v)); }
    object& set(const char* key, int64_t v) {
        remove(key);
        d_.AddMember(rapidjson::Value(key, a()), rapidjson::Value(v), a());
        return *this;
    }
    object& set(const char* key, int v) { return set(key, static_cast<int64_t>(v)); }
    object& set(const char* key, uint32_t v) { return set(key, static_cast<int64_t>(v)); }
    object& set(const char* key, bool v) {
        remove(key);
        d_.AddMember(rapidjson::Value(key, a()), rapidjson::Value(v), a());
        return *this;
    }
    object& set_null(const char* key) {
        remove(key);
        d_.AddMember(rapidjson::Value(key, a()), rapidjson::Value(), a());
        return *this;
    }
    // Inserts already-serialised JSON (an object or array); ignored when malformed.
    object& set_raw(const char* key, std::string_view json_text) {
        rapidjson::Document sub(&a());
        sub.Parse(json_text.data(), json_text.size());
        if (sub.HasParseError()) return *this;
        remove(key);
        rapidjson::Value v;
        v.CopyFrom(sub, a());
        d_.AddMember(rapidjson::Value(key, a()), v, a());
        return *this;
    }
    std::string str() const { return to_string(d_); }

private:
    rapidjson::Document::AllocatorType& a() { return d_.GetAllocator(); }
    void remove(const char* key) { d_.RemoveMember(key); }
    rapidjson::Document d_;
};

}  // namespace tunnelmgr::core::json
