// A minimal host for the plugins' ABI tests: dlopen a built .so, a tm_host_api whose log lines and
// events are recorded, and waits for an event with a deadline (waits, not timed assertions).
#pragma once

#include <dlfcn.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <tunnelmgr/plugin_api.h>

namespace tunnelmgr::testing {

struct recorded_event {
    std::string type;
    std::string json;
    std::chrono::system_clock::time_point received;
};

class recording_host {
public:
    recording_host() {
        api_.struct_size = sizeof(tm_host_api);
        api_.api_version = TM_PLUGIN_API_VERSION_STRING;
        api_.host_ctx = this;
        api_.log = [](void* ctx, tm_log_level level, const char* component, const char* msg) {
            auto* self = static_cast<recording_host*>(ctx);
            std::lock_guard<std::mutex> lock(self->mutex_);
            self->logs_.push_back(std::to_string(level) + " " + component + ": " + msg);
        };
        api_.emit_event = [](void* ctx, const char* type, const char* json) -> tm_rc {
            auto* self = static_cast<recording_host*>(ctx);
            rapidjson::Document doc;
            doc.Parse(json);
            if (doc.HasParseError() || !doc.IsObject()) return TM_INVALID;
            {
                std::lock_guard<std::mutex> lock(self->mutex_);
                self->events_.push_back({type, json, std::chrono::system_clock::now()});
            }
            self->cv_.notify_all();
            return TM_OK;
        };
        api_.call = [](void*, const char*, const char*, const tm_session_t*, tm_buffer*) -> tm_rc { return TM_ERROR; };
        api_.buffer_release = [](void*, tm_buffer*) {};
    }

    const tm_host_api* api() const { return &api_; }

    // The first event of `type` (after index `from`) for which `match` holds, waiting up to `limit`.
    bool wait_for(const std::string& type, const std::function<bool(const rapidjson::Document&)>& match,
                  std::chrono::milliseconds limit, recorded_event* out = nullptr, size_t from = 0) {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, limit, [&] {
            for (size_t i = from; i < events_.size(); ++i) {
                if (events_[i].type != type) continue;
                rapidjson::Document doc;
                doc.Parse(events_[i].json.c_str());
                if (match(doc)) {
                    if (out != nullptr) *out = events_[i];
                    return true;
                }
            }
            return false;
        });
    }

    size_t event_count() {
        std::lock_guard<std::mutex> lock(mutex_);
        return events_.size();
    }
    std::vector<std::string> logs() {
        std::lock_guard<std::mutex> lock(mutex_);
        return logs_;
    }
    std::string all_logs() {
        std::string s;
        for (const auto& l : logs()) s += l + "\n";
        return s;
    }

private:
    tm_host_api api_{};
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::string> logs_;
    std::vector<recorded_event> events_;
};

// dlopen + tm_plugin_entry of <plugin dir>/NAME.so.
inline const tm_plugin_api* load_plugin(const std::string& name, void** handle) {
    const std::string so = std::string(TM_TEST_PLUGIN_DIR) + "/" + name + ".so";
    *handle = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (*handle == nullptr) {
        ADD_FAILURE() << ::dlerror();
        return nullptr;
    }
    auto entry = reinterpret_cast<tm_plugin_entry_fn>(::dlsym(*handle, TM_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
        ADD_FAILURE() << "no tm_plugin_entry in " << so;
        return nullptr;
    }
    return entry();
}

inline rapidjson::Document parse(const char* json) {
    rapidjson::Document doc;
    doc.Parse(json);
    EXPECT_FALSE(doc.HasParseError()) << json;
    return doc;
}

inline const rapidjson::Value* find_by(const rapidjson::Value& array, const char* key, const std::string& value) {
    if (!array.IsArray()) return nullptr;
    for (const auto& v : array.GetArray()) {
        auto it = v.FindMember(key);
        if (it != v.MemberEnd() && it->value.IsString() && value == it->value.GetString()) return &v;
    }
    return nullptr;
}

inline int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace tunnelmgr::testing
