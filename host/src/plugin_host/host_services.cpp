// The C side of tm_host_api; see host_services.hpp. Nothing thrown here may reach a plugin.
#include "plugin_host/host_services.hpp"
#include "plugin_host/call_site.hpp"

#include <cstdlib>
#include <cstring>
#include <memory>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "log/logger.hpp"

namespace tunnelmgr::host {

void host_services::set_call_handler(call_handler h) {
    std::lock_guard<std::mutex> lock(mutex_);
    call_ = std::move(h);
}

size_t host_services::add_event_handler(event_handler h) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.emplace_back(next_id_, std::move(h));
    return next_id_++;
}

void host_services::remove_event_handler(size_t id) {
    std::unique_lock<std::shared_mutex> no_emit_running(dispatch_);
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = events_.begin(); it != events_.end(); ++it) {
        if (it->first == id) {
            events_.erase(it);
            return;
        }
    }
}

core::result<std::string> host_services::call(const std::string& op, const std::string& args,
                                              const tm_session_t* session) {
    call_handler h;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        h = call_;
    }
    if (!h) return core::fail(core::errc::error, "tunnelmgr is not ready to take calls yet: retry in a moment");
    return h(op, args, session);
}

void host_services::emit(const std::string& source, const std::string& type, const std::string& json) {
    std::shared_lock<std::shared_mutex> dispatching(dispatch_);
    std::vector<std::pair<size_t, event_handler>> handlers;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        handlers = events_;
    }
    log::debug("events", "source=" + source + " type=" + type);
    for (auto& [id, h] : handlers) {
        try {
            h(source, type, json);
        } catch (const std::exception& e) {
            log::warn("events", "a handler of " + type + " from " + source + " failed: " + e.what());
        }
    }
}

namespace {

instance_context* ctx_of(void* host_ctx) { return static_cast<instance_context*>(host_ctx); }

tm_log_level clamp_level(tm_log_level l) { return l < TM_LOG_TRACE ? TM_LOG_TRACE : (l > TM_LOG_ERROR ? TM_LOG_ERROR : l); }

void c_log(void* host_ctx, tm_log_level level, const char* component, const char* msg) noexcept {
    try {
        auto* ctx = ctx_of(host_ctx);
        std::string comp = ctx != nullptr ? ctx->plugin_name : std::string("plugin");
        if (component != nullptr && *component != '\0' && comp != component) comp += std::string("/") + component;
        log::logger::instance().write(static_cast<log::level>(clamp_level(level)), comp, msg != nullptr ? msg : "");
    } catch (...) {
    }
}

tm_rc c_emit_event(void* host_ctx, const char* type, const char* json) noexcept {
    try {
        auto* ctx = ctx_of(host_ctx);
        if (ctx == nullptr || type == nullptr || *type == '\0') return TM_INVALID;
        rapidjson::Document d;
        d.Parse(json != nullptr ? json : "");
        if (d.HasParseError() || !d.IsObject()) return TM_INVALID;
        ctx->services->emit(ctx->plugin_name, type, json);
        return TM_OK;
    } catch (...) {
        return TM_ERROR;
    }
}

void fill(tm_buffer* out, const std::string& body) {
    char* data = static_cast<char*>(std::malloc(body.size() + 1));
    if (data == nullptr) return;
    std::memcpy(data, body.data(), body.size());
    data[body.size()] = '\0';
    out->data = data;
    out->size = body.size();
    out->opaque = data;
}

std::string error_json(const core::error& e) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("error");
    w.String(e.message.c_str(), static_cast<rapidjson::SizeType>(e.message.size()));
    w.Key("code");
    w.String(core::errc_name(e.code));
    w.EndObject();
    return buf.GetString();
}

tm_rc c_call(void* host_ctx, const char* op, const char* args_json, const tm_session_t* session,
             tm_buffer* out) noexcept {
    if (out == nullptr) return TM_INVALID;
    out->data = nullptr;
    out->size = 0;
    out->opaque = nullptr;
    try {
        auto* ctx = ctx_of(host_ctx);
        if (ctx == nullptr || op == nullptr) return TM_INVALID;
        call_site back_in_host(nullptr, nullptr);  // a crash from here on is the host's, not the transport's
        auto r = ctx->services->call(op, args_json != nullptr ? args_json : "{}", session);
        if (r) {
            fill(out, *r);
            return TM_OK;
        }
        fill(out, error_json(r.error()));
        return sdk::to_rc(r.error().code);
    } catch (const std::exception& e) {
        fill(out, error_json(core::error{core::errc::error, std::string("internal error: ") + e.what()}));
        return TM_ERROR;
    } catch (...) {
        return TM_ERROR;
    }
}

void c_buffer_release(void*, tm_buffer* buf) noexcept {
    if (buf == nullptr) return;
    std::free(buf->opaque);
    buf->data = nullptr;
    buf->size = 0;
    buf->opaque = nullptr;
}

}  // namespace

std::unique_ptr<instance_context> make_instance_context(host_services& services, const std::string& plugin_name) {
    auto ctx = std::make_unique<instance_context>();
    ctx->services = &services;
    ctx->plugin_name = plugin_name;
    ctx->api.struct_size = sizeof(tm_host_api);
    ctx->api.api_version = TM_PLUGIN_API_VERSION_STRING;
    ctx->api.host_ctx = ctx.get();
    ctx->api.log = c_log;
    ctx->api.emit_event = c_emit_event;
    ctx->api.call = c_call;
    ctx->api.buffer_release = c_buffer_release;
    return ctx;
}

}  // namespace tunnelmgr::host
