// See capability_clients.hpp.
#include "plugin_host/capability_clients.hpp"

#include <mutex>
#include <string>

#include <rapidjson/document.h>

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

// What is wrong with a list_records reply, or "" when it has the promised shape.
std::string record_list_problem(const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.c_str(), json.size());
    if (d.HasParseError()) return "not JSON";
    if (!d.IsArray()) return "not a JSON array";
    rapidjson::SizeType i = 0;
    for (const auto& r : d.GetArray()) {
        const std::string at = "record " + std::to_string(i++);
        if (!r.IsObject()) return at + " is not an object";
        auto name = r.FindMember("name");
        if (name == r.MemberEnd() || !name->value.IsString() || name->value.GetStringLength() == 0) {
            return at + " has no string \"name\"";
        }
        auto comment = r.FindMember("comment");
        if (comment != r.MemberEnd() && !comment->value.IsString() && !comment->value.IsNull()) {
            return at + " (" + std::string(name->value.GetString(), name->value.GetStringLength()) +
                   ") has a \"comment\" that is neither a string nor null";
        }
    }
    return {};
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

core::result<std::string> dns_provider_client::list_records(std::string_view zone_id, std::string_view comment_prefix) {
    if (t_.list_records == nullptr) {
        return core::fail(core::errc::invalid, "plugin '" + inst_.library().name +
                                                   "' cannot list records by comment (it was built before plugin API 1.2)");
    }
    // By value: a call left running past its deadline outlives this frame.
    auto list_fn = t_.list_records;
    tm_plugin_t* handle = inst_.handle();
    auto raw = invoke_json_within(inst_, "list_records", deadlines_.list_records,
                                  [list_fn, handle, z = s(zone_id), c = s(comment_prefix)](const char** j) {
                                      return list_fn(handle, z.c_str(), c.c_str(), j);
                                  });
    if (!raw) {
        if (raw.error().code == core::errc::timeout) log::warn("plugins", raw.error().message);
        return counted("list_records", std::move(raw));
    }
    if (auto why = record_list_problem(*raw); !why.empty()) {
        return counted("list_records", core::result<std::string>(core::fail(
                                           core::errc::error, "plugin '" + inst_.library().name +
                                                                  "': list_records() replied with something tunnelmgr "
                                                                  "cannot read (" + why +
                                                                  "): the plugin is broken; tell its author")));
    }
    return counted("list_records", std::move(raw));
}

void supervisor_client::report(const std::string& call, const std::string& problem) {
    std::lock_guard<std::mutex> lock(said_mutex_);
    auto& said = said_[call];
    if (problem == said) return;  // said already: one line per problem, not one per check
    said = problem;
    log::warn("plugins", problem);
}

void supervisor_client::answered_well(const std::string& call) {
    std::lock_guard<std::mutex> lock(said_mutex_);
    auto it = said_.find(call);
    if (it == said_.end()) return;
    log::info("plugins", "plugin '" + inst_.library().name + "': " + call + " answers well again");
    said_.erase(it);
}

sdk::model::supervisor_status supervisor_client::read_status_reply(const std::string& call, const std::string& raw) {
    auto decoded = sdk::model::decode_supervisor_status(raw);
    if (!decoded) {
        std::string why = "plugin '" + inst_.library().name + "': " + call + " replied with something tunnelmgr cannot read (" +
                          decoded.error() + "); cloudflared's process state is unknown, so nothing is restarted for it";
        report(call, why);
        return sdk::model::supervisor_status::unknown(why);
    }
    answered_well(call);
    return *decoded;
}

core::result<sdk::model::supervisor_status> supervisor_client::status() {
    auto status_fn = t_.status;
    tm_plugin_t* handle = inst_.handle();
    auto raw = invoke_json_within(inst_, "status", deadlines_.status,
                                  [status_fn, handle](const char** j) { return status_fn(handle, j); });
    if (!raw) {
        if (raw.error().code == core::errc::timeout) report("status()", raw.error().message);
        return tl::unexpected(raw.error());
    }
    return read_status_reply("status()", *raw);
}

core::result<void> supervisor_client::restart() {
    auto restart_fn = t_.restart;
    tm_plugin_t* handle = inst_.handle();
    auto r = invoke_json_within(inst_, "restart", deadlines_.restart, [restart_fn, handle](const char** j) {
        *j = "{}";
        return restart_fn(handle);
    });
    if (!r) {
        if (r.error().code == core::errc::timeout) report("restart()", r.error().message);
        return tl::unexpected(r.error());
    }
    answered_well("restart()");
    return {};
}

std::string supervisor_client::no_such_replica(int index) const {
    return "plugin '" + inst_.library().name + "' has no replica " + std::to_string(index) +
           (has_replicas() ? "" : " (it supervises one cloudflared: replica 0)");
}

int supervisor_client::replica_count() {
    if (!has_replicas()) return 1;
    {
        std::lock_guard<std::mutex> lock(replicas_mutex_);
        if (count_) return *count_;
    }
    // By value, and the count written into text the lambda owns: a call left running past its
    // deadline outlives this frame.
    auto count_fn = t_.replica_count;
    tm_plugin_t* handle = inst_.handle();
    auto raw = invoke_json_within(inst_, "replica_count", deadlines_.status,
                                  [count_fn, handle, text = std::string()](const char** j) mutable {
                                      int32_t n = 0;
                                      tm_rc rc = count_fn(handle, &n);
                                      text = std::to_string(n);
                                      *j = text.c_str();
                                      return rc;
                                  });
    const std::string as_one = "; tunnelmgr treats it as one replica (replica 0 is status()/restart()) until it answers";
    if (!raw) {
        report("replica_count()", "plugin '" + inst_.library().name + "': replica_count() failed: " + raw.error().message + as_one);
        return 1;
    }
    const long long n = std::stoll(*raw);  // written by the lambda above from an int32_t
    if (n < 1 || n > max_replicas) {
        report("replica_count()", "plugin '" + inst_.library().name + "': replica_count() answered " + *raw +
                                      ", not a number of replicas from 1 to " + std::to_string(max_replicas) +
                                      " (the plugin is broken: tell its author)" + as_one);
        return 1;
    }
    answered_well("replica_count()");
    std::lock_guard<std::mutex> lock(replicas_mutex_);
    count_ = static_cast<int>(n);
    return *count_;
}

core::tunnel_supervisor::replica supervisor_client::replica_info(int index) {
    if (!has_replicas() || index < 0) return {};
    {
        std::lock_guard<std::mutex> lock(replicas_mutex_);
        if (auto it = info_.find(index); it != info_.end()) return it->second;
    }
    (void)replica_status(index);  // keeps name and metrics when the answer is readable
    std::lock_guard<std::mutex> lock(replicas_mutex_);
    if (auto it = info_.find(index); it != info_.end()) return it->second;
    return {};
}

core::result<sdk::model::supervisor_status> supervisor_client::replica_status(int index) {
    if (!has_replicas()) {
        if (index == 0) return status();
        return core::fail(core::errc::invalid, no_such_replica(index));
    }
    if (index < 0) return core::fail(core::errc::invalid, no_such_replica(index));
    auto status_fn = t_.replica_status;
    tm_plugin_t* handle = inst_.handle();
    const auto at = static_cast<int32_t>(index);
    const std::string call = "replica_status(" + std::to_string(index) + ")";
    auto raw = invoke_json_within(inst_, "replica_status", deadlines_.status,
                                  [status_fn, handle, at](const char** j) { return status_fn(handle, at, j); });
    if (!raw) {
        if (raw.error().code == core::errc::timeout) report(call, raw.error().message);
        return tl::unexpected(raw.error());
    }
    auto s = read_status_reply(call, *raw);
    if (s.running) {  // a readable answer: its name and metrics are the replica's for good
        std::lock_guard<std::mutex> lock(replicas_mutex_);
        info_.try_emplace(index, replica{s.name.value_or(""), s.metrics.value_or("")});
    }
    return s;
}

core::result<void> supervisor_client::replica_restart(int index) {
    if (!has_replicas()) {
        if (index == 0) return restart();
        return core::fail(core::errc::invalid, no_such_replica(index));
    }
    if (index < 0) return core::fail(core::errc::invalid, no_such_replica(index));
    auto restart_fn = t_.replica_restart;
    tm_plugin_t* handle = inst_.handle();
    const auto at = static_cast<int32_t>(index);
    const std::string call = "replica_restart(" + std::to_string(index) + ")";
    auto r = invoke_json_within(inst_, "replica_restart", deadlines_.restart, [restart_fn, handle, at](const char** j) {
        *j = "{}";
        return restart_fn(handle, at);
    });
    if (!r) {
        if (r.error().code == core::errc::timeout) report(call, r.error().message);
        return tl::unexpected(r.error());
    }
    answered_well(call);
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
