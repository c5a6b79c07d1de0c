// See plugin_call.hpp.
#include "plugin_check/plugin_call.hpp"

namespace tunnelmgr::plugin_check {

std::string rc_text(tm_rc rc) {
    switch (rc) {
        case TM_OK: return "TM_OK";
        case TM_ERROR: return "TM_ERROR";
        case TM_NOT_FOUND: return "TM_NOT_FOUND";
        case TM_CONFLICT: return "TM_CONFLICT";
        case TM_RETRY: return "TM_RETRY";
        case TM_TIMEOUT: return "TM_TIMEOUT";
        case TM_DENIED: return "TM_DENIED";
        case TM_INVALID: return "TM_INVALID";
        default: return "unknown rc " + std::to_string(rc);
    }
}

std::string outcome::describe() const {
    std::string s = "returned " + rc_text(rc);
    if (rc != TM_OK) s += " (last_error: \"" + last_error + "\")";
    return s;
}

rapidjson::Document parse_json(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError()) d.SetNull();
    return d;
}

std::string str_member(const rapidjson::Value& v, const char* key) {
    if (!v.IsObject()) return {};
    auto it = v.FindMember(key);
    if (it == v.MemberEnd() || !it->value.IsString()) return {};
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

int64_t int_member(const rapidjson::Value& v, const char* key, int64_t fallback) {
    if (!v.IsObject()) return fallback;
    auto it = v.FindMember(key);
    if (it == v.MemberEnd() || !it->value.IsInt64()) return fallback;
    return it->value.GetInt64();
}

}  // namespace tunnelmgr::plugin_check
