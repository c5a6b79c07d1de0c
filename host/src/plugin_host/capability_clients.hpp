// core::dns_provider and core::tunnel_supervisor over plugin tables, with the same rules as
// state_store_client: copy results at once, rc + last_error → core::error, one call at a time.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/dns_provider.hpp"
#include "core/tunnel_supervisor.hpp"
#include "plugin_host/loader.hpp"

namespace tunnelmgr::host {

class dns_provider_client final : public core::dns_provider {
public:
    // list_records is the one DNS call whose length grows with the zone (a request per page, each
    // retried by the plugin), and reconcile makes it from the daemon's loop: it answers within a
    // deadline, like the supervisor's calls, so a plugin stuck paging cannot hold the loop.
    struct deadlines {
        std::chrono::milliseconds list_records{300000};
    };
    explicit dns_provider_client(plugin_instance& inst) : dns_provider_client(inst, deadlines{}) {}
    dns_provider_client(plugin_instance& inst, deadlines d) : inst_(inst), t_(inst.library().dns), deadlines_(d) {}
    core::result<std::string> list_zones() override;
    core::result<std::string> find_record(std::string_view zone_id, std::string_view hostname, std::string_view type) override;
    core::result<std::string> create_record(std::string_view zone_id, std::string_view record_json) override;
    core::result<void> delete_record(std::string_view zone_id, std::string_view record_id,
                                     std::string_view expected_comment) override;
    bool supports_tunnel_config() const override { return t_.put_tunnel_config != nullptr; }
    core::result<void> put_tunnel_config(std::string_view tunnel_id, std::string_view config_json) override;
    core::result<std::string> get_tunnel_config(std::string_view tunnel_id) override;
    // NULL in a plugin built before API 1.2: the reconciler then looks names up one by one.
    bool supports_list_records() const override { return t_.list_records != nullptr; }
    // The reply is checked before anyone reads it: an array of objects, each with a string "name"
    // (and "comment", when there, a string or null); anything else is an error naming the plugin.
    core::result<std::string> list_records(std::string_view zone_id, std::string_view comment_prefix) override;

private:
    plugin_instance& inst_;
    const tm_dns_provider_v1& t_;
    deadlines deadlines_;
};

// Distrusts its plugin: a reply of the wrong shape is "unknown" (never "not running", which would
// restart a healthy tunnel), a call that passes its deadline is a timeout, and each distinct
// problem is logged once, naming the plugin and function, until the plugin answers well again.
// The replica calls (plugin API 1.2) follow the same rules with the same deadlines; a plugin
// without them (or built before 1.2) is one replica, 0, which is status()/restart().
class supervisor_client final : public core::tunnel_supervisor {
public:
    struct deadlines {
        std::chrono::milliseconds status{10000};   // also replica_count, replica_status
        std::chrono::milliseconds restart{60000};  // also replica_restart
    };
    // More is not believed: a count above it is read as a broken reply (one replica).
    static constexpr int max_replicas = 1024;

    explicit supervisor_client(plugin_instance& inst) : supervisor_client(inst, deadlines{}) {}
    supervisor_client(plugin_instance& inst, deadlines d) : inst_(inst), t_(inst.library().supervisor), deadlines_(d) {}
    core::result<sdk::model::supervisor_status> status() override;
    core::result<void> restart() override;
    // Process events ("tunnel.died", "tunnel.started") arrive through host_services' event handlers
    // from the plugin's own thread once watch_start() succeeds; without a watch the interval covers it.
    bool can_watch() const { return t_.watch_start != nullptr; }
    core::result<void> watch_start();
    core::result<void> watch_stop();

    // Whether the plugin has the replica functions at all (the loader admits all three or none).
    bool has_replicas() const { return t_.replica_count != nullptr; }
    // The plugin's count, asked once and kept (it is fixed for the instance's life); 1 without the
    // replica functions, and 1 (logged once, asked again next time) when the call fails or answers
    // less than 1 or more than max_replicas.
    int replica_count() override;
    // name and metrics from replica_status(index), kept per index after the first readable answer;
    // {} (the tunnel's metrics address) while none has come, and without replicas.
    replica replica_info(int index) override;
    core::result<sdk::model::supervisor_status> replica_status(int index) override;
    core::result<void> replica_restart(int index) override;

private:
    // `call` names the function for messages and for "said once", e.g. "status()", "replica_status(1)".
    void report(const std::string& call, const std::string& problem);
    void answered_well(const std::string& call);
    // A status reply decoded, or "unknown" with the reason (reported) when it cannot be read.
    sdk::model::supervisor_status read_status_reply(const std::string& call, const std::string& raw);
    std::string no_such_replica(int index) const;

    plugin_instance& inst_;
    const tm_tunnel_supervisor_v1& t_;
    deadlines deadlines_;
    std::mutex said_mutex_;
    std::map<std::string, std::string> said_;  // per call: the problem logged last; gone once it answers well
    std::mutex replicas_mutex_;
    std::optional<int> count_;
    std::map<int, replica> info_;
};

}  // namespace tunnelmgr::host

namespace tunnelmgr::host {

// The transport slot. serve() blocks for the session's life; stop() and deliver_event() are
// concurrent by the ABI, so they do not take the instance lock.
class transport_client {
public:
    explicit transport_client(plugin_instance& inst) : inst_(inst), t_(inst.library().transport) {}
    core::result<void> serve(const tm_session_t* session);
    core::result<void> stop();
    bool takes_events() const { return t_.deliver_event != nullptr; }
    core::result<void> deliver_event(const std::string& type, const std::string& json);

private:
    plugin_instance& inst_;
    const tm_transport_v1& t_;
};

}  // namespace tunnelmgr::host

namespace tunnelmgr::host {

// The runtime slot: Docker topology snapshots (and, optionally, events through emit_event).
class runtime_client {
public:
    explicit runtime_client(plugin_instance& inst) : inst_(inst), t_(inst.library().runtime) {}
    core::result<std::string> snapshot();
    bool can_watch() const { return t_.watch_start != nullptr; }
    core::result<void> watch_start();
    core::result<void> watch_stop();

private:
    plugin_instance& inst_;
    const tm_container_runtime_v1& t_;
};

}  // namespace tunnelmgr::host
