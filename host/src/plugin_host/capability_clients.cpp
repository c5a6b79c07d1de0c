// See capability_clients.hpp.
#include "plugin_host/capability_clients.hpp"

#include <mutex>
#include <string>

#include "log/logger.hpp"
#include "plugin_host/invoke.hpp"
#include "metrics/tunnelmgr_metrics.hpp"

namespace tunnelmgr::host {
namespace {

std::string s(std::string_view v) { return std::string(v); }

// every dns slot call counted by operation and result, as the host sees it.
template <class T>
core::result<T> counted(const char* op, core::result<T> r) {
    metrics::cloudflare_call(op, r ? "ok" : core::errc_name(r.error().code));
    return r;
}

}  // namespace

core::result<std::string> dns_provider_client::list_zones() {
    return counted("list_zones", invoke_json(inst_, "list_zones", [&](const char** j) { return t_.list_zones(inst_.handle(), j); }));
}

core::result<std::string> dns_provider_client::find_record(std::string_view zone_id, std::string_view hostname,
                                                           std::string_view type) {
    auto z = s(zone_id), h = s(hostname), ty = s(type);
    return counted("find_record", invoke_json(inst_, "find_record", [&](const char** j) { return t_.find_record(inst_.handle(), z.c_str(), h.c_str(), ty.c_str(), j); }));
}

core::result<std::string> dns_provider_client::create_record(std::string_view zone_id, std::string_view record_json) {
    auto z = s(zone_id), r = s(record_json);
    return counted("create_record", invoke_json(inst_, "create_record", [&](const char** j) { return t_.create_record(inst_.handle(), z.c_str(), r.c_str(), j); }));
}

core::result<void> dns_provider_client::delete_record(std::string_view zone_id, std::string_view record_id,
                                                      std::string_view expected_comment) {
    auto z = s(zone_id), id = s(record_id), c = s(expected_comment);
    return counted("delete_record", invoke(inst_, "delete_record", [&] { return t_.delete_record(inst_.handle(), z.c_str(), id.c_str(), c.c_str()); }));
}

core::result<void> dns_provider_client::put_tunnel_config(std::string_view tunnel_id, std::string_view config_json) {
    if (t_.put_tunnel_config == nullptr) {
        return core::fail(core::errc::invalid, inst_.library().name + " cannot manage remote tunnel configuration; use tunnel.ingress: local");
    }
    auto t = s(tunnel_id), c = s(config_json);
    return counted("put_tunnel_config", invoke(inst_, "put_tunnel_config", [&] { return t_.put_tunnel_config(inst_.handle(), t.c_str(), c.c_str()); }));
}

core::result<std::string> dns_provider_client::get_tunnel_config(std::string_view tunnel_id) {
    if (t_.get_tunnel_config == nullptr) {
        return core::fail(core::errc::invalid, inst_.library().name + " cannot manage remote tunnel configuration; use tunnel.ingress: local");
    }
    auto t = s(tunnel_id);
    return counted("get_tunnel_config", invoke_json(inst_, "get_tunnel_config", [&](const char** j) { return t_.get_tunnel_config(inst_.handle(), t.c_str(), j); }));
}

void supervisor_client::report(const std::string& problem) {
    std::lock_guard<std::mutex> lock(said_mutex_);
    if (problem == said_) return;  // said already: one line per problem, not one per check
    said_ = problem;
    log::warn("plugins", problem);
}

void supervisor_client::answered_well() {
    std::lock_guard<std::mutex> lock(said_mutex_);
    if (!said_.empty()) log::info("plugins", "plugin '" + inst_.library().name + "': status() answers well again");
    said_.clear();
}

core::result<sdk::model::supervisor_status> supervisor_client::status() {
    auto status_fn = t_.status;
    tm_plugin_t* handle = inst_.handle();
    auto raw = invoke_json_within(inst_, "status", deadlines_.status,
                                  [status_fn, handle](const char** j) { return status_fn(handle, j); });
    if (!raw) {
        if (raw.error().code == core::errc::timeout) report(raw.error().message);
        return tl::unexpected(raw.error());
    }
    auto decoded = sdk::model::decode_supervisor_status(*raw);
    if (!decoded) {
        std::string why = "plugin '" + inst_.library().name + "': status() replied with something tunnelmgr cannot read (" +
                          decoded.error() + "); cloudflared's process state is unknown, so nothing is restarted for it";
        report(why);
        return sdk::model::supervisor_status::unknown(why);
    }
    answered_well();
    return *decoded;
}

core::result<void> supervisor_client::restart() {
    auto restart_fn = t_.restart;
    tm_plugin_t* handle = inst_.handle();
    auto r = invoke_json_within(inst_, "restart", deadlines_.restart, [restart_fn, handle](const char** j) {
        *j = "{}";
        return restart_fn(handle);
    });
    if (!r) {
        if (r.error().code == core::errc::timeout) report(r.error().message);
        return tl::unexpected(r.error());
    }
    return {};
}

core::result<void> supervisor_client::watch_start() {
    if (t_.watch_start == nullptr) return {};
    return invoke(inst_, "watch_start", [&] { return t_.watch_start(inst_.handle()); });
}

core::result<void> supervisor_client::watch_stop() {
    if (t_.watch_stop == nullptr) return {};
    tm_rc rc = t_.watch_stop(inst_.handle());  // concurrent by the ABI: no instance lock
    if (rc == TM_OK) return {};
    return core::fail(sdk::errc_of(rc), inst_.last_error());
}

}  // namespace tunnelmgr::host

namespace tunnelmgr::host {

core::result<void> transport_client::serve(const tm_session_t* session) {
    call_site site(inst_.library().name.c_str(), "serve");
    tm_rc rc = t_.serve(inst_.handle(), session);
    if (rc == TM_OK) return {};
    return core::fail(sdk::errc_of(rc), inst_.last_error());
}

core::result<void> transport_client::stop() {
    tm_rc rc = t_.stop(inst_.handle());
    if (rc == TM_OK) return {};
    return core::fail(sdk::errc_of(rc), inst_.last_error());
}

core::result<void> transport_client::deliver_event(const std::string& type, const std::string& json) {
    if (t_.deliver_event == nullptr) return {};
    call_site site(inst_.library().name.c_str(), "deliver_event");
    tm_rc rc = t_.deliver_event(inst_.handle(), type.c_str(), json.c_str());
    if (rc == TM_OK) return {};
    return core::fail(sdk::errc_of(rc), inst_.last_error());
}

}  // namespace tunnelmgr::host

namespace tunnelmgr::host {

core::result<std::string> runtime_client::snapshot() {
    auto snapshot_fn = t_.snapshot;
    tm_plugin_t* handle = inst_.handle();
    auto r = invoke_json_within(inst_, "snapshot", std::chrono::seconds(60),
                                [snapshot_fn, handle](const char** j) { return snapshot_fn(handle, j); });
    if (!r && r.error().code == core::errc::timeout) log::warn("plugins", r.error().message);
    return r;
}

core::result<void> runtime_client::watch_start() {
    if (t_.watch_start == nullptr) return {};
    return invoke(inst_, "watch_start", [&] { return t_.watch_start(inst_.handle()); });
}

core::result<void> runtime_client::watch_stop() {
    if (t_.watch_stop == nullptr) return {};
    tm_rc rc = t_.watch_stop(inst_.handle());  // concurrent by the ABI: no instance lock
    if (rc == TM_OK) return {};
    return core::fail(sdk::errc_of(rc), inst_.last_error());
}

}  // namespace tunnelmgr::host
