// A C++ face on tm_host_api: what a plugin may ask of the host (log, events, calls).
// Cheap to copy; valid for the life of the plugin instance that received it.
#pragma once

#include <string>
#include <string_view>

#include <tunnelmgr/plugin_api.h>
#include <tunnelmgr/sdk/result.hpp>

namespace tunnelmgr::sdk {

class host {
public:
    host() = default;
    explicit host(const tm_host_api* api) : api_(api) {}

    void log(tm_log_level level, std::string_view component, std::string_view msg) const {
        if (api_ == nullptr || api_->log == nullptr) return;
        std::string c(component), m(msg);
        api_->log(api_->host_ctx, level, c.c_str(), m.c_str());
    }
    void debug(std::string_view component, std::string_view msg) const { log(TM_LOG_DEBUG, component, msg); }
    void info(std::string_view component, std::string_view msg) const { log(TM_LOG_INFO, component, msg); }
    void warn(std::string_view component, std::string_view msg) const { log(TM_LOG_WARN, component, msg); }
    void error(std::string_view component, std::string_view msg) const { log(TM_LOG_ERROR, component, msg); }

    tm_rc emit_event(std::string_view type, std::string_view json) const {
        if (api_ == nullptr || api_->emit_event == nullptr) return TM_ERROR;
        std::string t(type), j(json);
        return api_->emit_event(api_->host_ctx, t.c_str(), j.c_str());
    }

    // Ask the host to perform `op` for `session`. On failure the error message is the host's sentence.
    result<std::string> call(std::string_view op, std::string_view args_json, const tm_session_t* session) const {
        if (api_ == nullptr || api_->call == nullptr) return fail(TM_ERROR, "the host offers no call()");
        std::string o(op), a(args_json);
        tm_buffer buf{};
        buf.struct_size = sizeof(tm_buffer);
        tm_rc rc = api_->call(api_->host_ctx, o.c_str(), a.c_str(), session, &buf);
        std::string body = buf.data != nullptr ? std::string(buf.data, static_cast<size_t>(buf.size)) : std::string();
        if (api_->buffer_release != nullptr) api_->buffer_release(api_->host_ctx, &buf);
        if (rc != TM_OK) return fail(rc, body);
        return body;
    }

    const tm_host_api* raw() const { return api_; }

private:
    const tm_host_api* api_ = nullptr;
};

}  // namespace tunnelmgr::sdk
