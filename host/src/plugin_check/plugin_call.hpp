// One call into a plugin table as the host makes it (under the instance's lock, last_error read while
// still holding it), keeping the raw tm_rc so a suite can assert on the exact code the ABI promises.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include <rapidjson/document.h>
#include <tunnelmgr/plugin_api.h>
#include <tunnelmgr/sdk/result.hpp>

#include "plugin_host/loader.hpp"

namespace tunnelmgr::plugin_check {

struct outcome {
    tm_rc rc = TM_ERROR;
    std::string json;        // copied at once, for functions with `const char** out_json`
    int64_t number = 0;      // for functions with an int64_t/int32_t out value
    std::string last_error;  // read under the same lock; empty when last_error() gave ""

    bool ok() const { return rc == TM_OK; }
    // "returned TM_CONFLICT (last_error: ...)", for failure messages.
    std::string describe() const;
};

std::string rc_text(tm_rc rc);

// fn(const char** out) -> tm_rc; or fn(int64_t* out); or fn() for calls with no out value.
template <class Fn>
outcome call_plugin(host::plugin_instance& inst, Fn&& fn) {
    std::lock_guard<std::mutex> lock(inst.call_mutex());
    outcome o;
    if constexpr (std::is_invocable_v<Fn, const char**>) {
        const char* json = nullptr;
        o.rc = fn(&json);
        if (o.rc == TM_OK) o.json = json != nullptr ? json : "null";
    } else if constexpr (std::is_invocable_v<Fn, int64_t*>) {
        int64_t v = 0;
        o.rc = fn(&v);
        o.number = v;
    } else if constexpr (std::is_invocable_v<Fn, int32_t*>) {
        int32_t v = 0;
        o.rc = fn(&v);
        o.number = v;
    } else {
        o.rc = fn();
    }
    if (o.rc != TM_OK) {
        const char* e = inst.library().api.last_error(inst.handle());
        o.last_error = e != nullptr ? e : "";
    }
    return o;
}

// A parsed reply; IsNull() document on a parse error.
rapidjson::Document parse_json(const std::string& text);

std::string str_member(const rapidjson::Value& v, const char* key);
int64_t int_member(const rapidjson::Value& v, const char* key, int64_t fallback = -1);

}  // namespace tunnelmgr::plugin_check
