// core::dns_provider and core::tunnel_supervisor over plugin tables, with the same rules as
// state_store_client: copy results at once, rc + last_error → core::error, one call at a time.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "core/dns_provider.hpp"
#include "core/tunnel_supervisor.hpp"
#include "plugin_host/loader.hpp"

namespace tunnelmgr::host {

class dns_provider_client final : public core::dns_provider {
public:
    explicit dns_provider_client(plugin_instance& inst) : inst_(inst), t_(inst.library().dns) {}
    core::result<std::string> list_zones() override;
    core::result<std::string> find_record(std::string_view zone_id, std::string_view hostname, std::string_view type) override;
    core::result<std::string> create_record(std::string_view zone_id, std::string_view record_json) override;
    core::result<void> delete_record(std::string_view zone_id, std::string_view record_id,
                                     std::string_view expected_comment) override;
    bool supports_tunnel_config() const override { return t_.put_tunnel_config != nullptr; }
    core::result<void> put_tunnel_config(std::string_view tunnel_id, std::string_view config_json) override;
    core::result<std::string> get_tunnel_config(std::string_view tunnel_id) override;

private:
    plugin_instance& inst_;
    const tm_dns_provider_v1& t_;
};

// Distrusts its plugin: a reply of the wrong shape is "unknown" (never "not running", which would
// restart a healthy tunnel), a call that passes its deadline is a timeout, and each distinct
// problem is logged once, naming the plugin and function, until the plugin answers well again.
class supervisor_client final : public core::tunnel_supervisor {
public:
    struct deadlines {
        std::chrono::milliseconds status{10000};
        std::chrono::milliseconds restart{60000};
    };
    explicit supervisor_client(plugin_instance& inst) : supervisor_client(inst, deadlines{}) {}
    supervisor_client(plugin_instance& inst, deadlines d) : inst_(inst), t_(inst.library().supervisor), deadlines_(d) {}
    core::result<sdk::model::supervisor_status> status() override;
    core::result<void> restart() override;
    // Process events ("tunnel.died", "tunnel.started") arrive through host_services' event handlers
    // from the plugin's own thread once watch_start() succeeds; without a watch the interval covers it.
    bool can_watch() const { return t_.watch_start != nullptr; }
    core::result<void> watch_start();
    core::result<void> watch_stop();

private:
    void report(const std::string& problem);
    void answered_well();

    plugin_instance& inst_;
    const tm_tunnel_supervisor_v1& t_;
    deadlines deadlines_;
    std::mutex said_mutex_;
    std::string said_;  // the problem logged last; "" once the plugin answers well
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
