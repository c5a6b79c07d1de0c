// The plugin SDK: write a plain C++ class, add one TM_PLUGIN(...) line, get a complete C ABI entry.
// The SDK fills the C tables, checks the class at compile time and catches every exception at the edge.
//
//   class my_store final : public tunnelmgr::sdk::plugin, public tunnelmgr::sdk::state_store_v1 {
//   public:
//       my_store(const tunnelmgr::sdk::host& host, std::string_view config_json);
//       ... every pure virtual of state_store_v1 ...
//   };
//   TM_PLUGIN(my_store, "my-store", "1.0.0", R"({"type":"object"})")
//
// Optional parts of a capability come from deriving from dns_tunnel_config, dns_record_listing,
// event_watch, supervisor_replicas or transport_events as well. The constructor reports bad config by throwing; its
// message becomes last_error(NULL), so make it a sentence that says what to fix.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <tunnelmgr/plugin_api.h>
#include <tunnelmgr/sdk/capabilities.hpp>
#include <tunnelmgr/sdk/host.hpp>
#include <tunnelmgr/sdk/result.hpp>

namespace tunnelmgr::sdk {
namespace detail {

// What a tm_plugin_t* really points to.
struct instance {
    sdk::host host;
    std::unique_ptr<sdk::plugin> object;
    state_store_v1* state_store = nullptr;
    dns_provider_v1* dns = nullptr;
    dns_tunnel_config* dns_tunnel = nullptr;
    dns_record_listing* dns_listing = nullptr;
    container_runtime_v1* runtime = nullptr;
    tunnel_supervisor_v1* supervisor = nullptr;
    supervisor_replicas* replicas = nullptr;
    event_watch* watch = nullptr;
    transport_v1* transport = nullptr;
    transport_events* events = nullptr;

    std::string out;  // the last returned JSON; the host serialises non-concurrent calls
    std::mutex error_mutex;
    std::string error;

    void set_error(std::string message) {
        std::lock_guard<std::mutex> lock(error_mutex);
        error = std::move(message);
    }
};

inline instance* as_instance(tm_plugin_t* p) { return reinterpret_cast<instance*>(p); }

inline std::string& init_error() {
    thread_local std::string message;
    return message;
}

// Runs `body` (which returns tm_rc) and turns any exception into TM_ERROR plus a message.
template <class Body>
tm_rc guarded(tm_plugin_t* p, Body&& body) noexcept {
    instance* inst = as_instance(p);
    if (inst == nullptr) return TM_INVALID;
    try {
        return body(*inst);
    } catch (const std::bad_alloc&) {
        inst->set_error("out of memory");
    } catch (const std::exception& e) {
        inst->set_error(std::string("internal error: ") + e.what());
    } catch (...) {
        inst->set_error("internal error: unknown exception");
    }
    return TM_ERROR;
}

template <class T>
tm_rc finish(instance& inst, result<T>&& r) {
    if (!r) {
        inst.set_error(std::move(r.error().message));
        return r.error().code == TM_OK ? TM_ERROR : r.error().code;
    }
    return TM_OK;
}

inline tm_rc finish_json(instance& inst, result<std::string>&& r, const char** out_json) {
    if (out_json == nullptr) {
        inst.set_error("out_json is NULL");
        return TM_INVALID;
    }
    if (!r) return finish(inst, std::move(r));
    inst.out = std::move(*r);
    *out_json = inst.out.c_str();
    return TM_OK;
}

template <class T>
tm_rc finish_value(instance& inst, result<T>&& r, T* out) {
    if (out == nullptr) {
        inst.set_error("output pointer is NULL");
        return TM_INVALID;
    }
    if (!r) return finish(inst, std::move(r));
    *out = *r;
    return TM_OK;
}

inline std::string_view sv(const char* s) { return s == nullptr ? std::string_view() : std::string_view(s); }

// --- state_store_v1 -------------------------------------------------------------------------
struct state_store_adapter {
    static tm_rc schema_version(tm_plugin_t* p, int64_t* out) {
        return guarded(p, [&](instance& i) { return finish_value(i, i.state_store->schema_version(), out); });
    }
    static tm_rc stats(tm_plugin_t* p, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->stats(), out); });
    }
    static tm_rc cname_insert(tm_plugin_t* p, const char* row, int64_t* out) {
        return guarded(p, [&](instance& i) { return finish_value(i, i.state_store->cname_insert(sv(row)), out); });
    }
    static tm_rc cname_delete(tm_plugin_t* p, const char* host) {
        return guarded(p, [&](instance& i) { return finish(i, i.state_store->cname_delete(sv(host))); });
    }
    static tm_rc cname_get(tm_plugin_t* p, const char* host, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->cname_get(sv(host)), out); });
    }
    static tm_rc cname_list(tm_plugin_t* p, const char* filter, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->cname_list(sv(filter)), out); });
    }
    static tm_rc operation_begin(tm_plugin_t* p, const char* op, int64_t* out) {
        return guarded(p, [&](instance& i) { return finish_value(i, i.state_store->operation_begin(sv(op)), out); });
    }
    static tm_rc operation_advance(tm_plugin_t* p, int64_t id, const char* state, const char* patch) {
        return guarded(p, [&](instance& i) {
            return finish(i, i.state_store->operation_advance(id, sv(state), sv(patch)));
        });
    }
    static tm_rc operation_commit(tm_plugin_t* p, int64_t id, const char* cname) {
        return guarded(p, [&](instance& i) { return finish(i, i.state_store->operation_commit(id, sv(cname))); });
    }
    static tm_rc operation_list_unfinished(tm_plugin_t* p, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->operation_list_unfinished(), out); });
    }
    static tm_rc audit_append(tm_plugin_t* p, const char* entry) {
        return guarded(p, [&](instance& i) { return finish(i, i.state_store->audit_append(sv(entry))); });
    }
    static tm_rc audit_query(tm_plugin_t* p, const char* filter, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->audit_query(sv(filter)), out); });
    }
    static tm_rc health_record(tm_plugin_t* p, const char* json) {
        return guarded(p, [&](instance& i) { return finish(i, i.state_store->health_record(sv(json))); });
    }
    static tm_rc health_history(tm_plugin_t* p, const char* filter, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->health_history(sv(filter)), out); });
    }
    static tm_rc domains_replace(tm_plugin_t* p, const char* zones) {
        return guarded(p, [&](instance& i) { return finish(i, i.state_store->domains_replace(sv(zones))); });
    }
    static tm_rc domains_list(tm_plugin_t* p, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->domains_list(), out); });
    }
    static tm_rc docker_snapshot_replace(tm_plugin_t* p, const char* snap) {
        return guarded(p, [&](instance& i) { return finish(i, i.state_store->docker_snapshot_replace(sv(snap))); });
    }
    static tm_rc docker_snapshot_get(tm_plugin_t* p, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.state_store->docker_snapshot_get(), out); });
    }
    static tm_rc lease_acquire(tm_plugin_t* p, const char* name, const char* holder, int64_t ttl_ms,
                               int32_t* out_acquired) {
        return guarded(p, [&](instance& i) {
            if (out_acquired == nullptr) {
                i.set_error("out_acquired is NULL");
                return TM_INVALID;
            }
            auto r = i.state_store->lease_acquire(sv(name), sv(holder), ttl_ms);
            if (!r) return finish(i, std::move(r));
            *out_acquired = *r ? 1 : 0;
            return TM_OK;
        });
    }
    static tm_rc lease_release(tm_plugin_t* p, const char* name, const char* holder) {
        return guarded(p, [&](instance& i) { return finish(i, i.state_store->lease_release(sv(name), sv(holder))); });
    }
    static tm_rc prune(tm_plugin_t* p, int64_t* out) {
        return guarded(p, [&](instance& i) { return finish_value(i, i.state_store->prune(), out); });
    }
    static tm_rc cname_count(tm_plugin_t* p, const char* filter, int64_t* out) {
        return guarded(p, [&](instance& i) { return finish_value(i, i.state_store->cname_count(sv(filter)), out); });
    }

    static const tm_state_store_v1* table() {
        static const tm_state_store_v1 t = {
            sizeof(tm_state_store_v1), schema_version, stats, cname_insert, cname_delete, cname_get, cname_list,
            operation_begin, operation_advance, operation_commit, operation_list_unfinished, audit_append,
            audit_query, health_record, health_history, domains_replace, domains_list, docker_snapshot_replace,
            docker_snapshot_get, lease_acquire, lease_release, prune, cname_count};
        return &t;
    }
};

// --- dns_provider_v1 ------------------------------------------------------------------------
struct dns_adapter {
    static tm_rc list_zones(tm_plugin_t* p, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.dns->list_zones(), out); });
    }
    static tm_rc find_record(tm_plugin_t* p, const char* zone, const char* host, const char* type, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.dns->find_record(sv(zone), sv(host), sv(type)), out); });
    }
    static tm_rc create_record(tm_plugin_t* p, const char* zone, const char* rec, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.dns->create_record(sv(zone), sv(rec)), out); });
    }
    static tm_rc delete_record(tm_plugin_t* p, const char* zone, const char* id, const char* comment) {
        return guarded(p, [&](instance& i) { return finish(i, i.dns->delete_record(sv(zone), sv(id), sv(comment))); });
    }
    static tm_rc put_tunnel_config(tm_plugin_t* p, const char* tunnel, const char* cfg) {
        return guarded(p, [&](instance& i) { return finish(i, i.dns_tunnel->put_tunnel_config(sv(tunnel), sv(cfg))); });
    }
    static tm_rc get_tunnel_config(tm_plugin_t* p, const char* tunnel, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.dns_tunnel->get_tunnel_config(sv(tunnel)), out); });
    }

    static tm_rc list_records(tm_plugin_t* p, const char* zone, const char* prefix, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.dns_listing->list_records(sv(zone), sv(prefix)), out); });
    }

    template <bool WithTunnelConfig, bool WithListing>
    static const tm_dns_provider_v1* table() {
        static const tm_dns_provider_v1 t = {sizeof(tm_dns_provider_v1),
                                             list_zones,
                                             find_record,
                                             create_record,
                                             delete_record,
                                             WithTunnelConfig ? put_tunnel_config : nullptr,
                                             WithTunnelConfig ? get_tunnel_config : nullptr,
                                             WithListing ? list_records : nullptr};
        return &t;
    }
};

// --- event_watch (runtime and supervisor) -----------------------------------------------------
struct watch_adapter {
    static tm_rc watch_start(tm_plugin_t* p) {
        return guarded(p, [&](instance& i) { return finish(i, i.watch->watch_start()); });
    }
    static tm_rc watch_stop(tm_plugin_t* p) {
        return guarded(p, [&](instance& i) { return finish(i, i.watch->watch_stop()); });
    }
};

struct runtime_adapter {
    static tm_rc snapshot(tm_plugin_t* p, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.runtime->snapshot(), out); });
    }
    template <bool WithWatch>
    static const tm_container_runtime_v1* table() {
        static const tm_container_runtime_v1 t = {sizeof(tm_container_runtime_v1), snapshot,
                                                  WithWatch ? watch_adapter::watch_start : nullptr,
                                                  WithWatch ? watch_adapter::watch_stop : nullptr};
        return &t;
    }
};

struct supervisor_adapter {
    static tm_rc status(tm_plugin_t* p, const char** out) {
        return guarded(p, [&](instance& i) { return finish_json(i, i.supervisor->status(), out); });
    }
    static tm_rc restart(tm_plugin_t* p) {
        return guarded(p, [&](instance& i) { return finish(i, i.supervisor->restart()); });
    }
    static tm_rc replica_count(tm_plugin_t* p, int32_t* out) {
        return guarded(p, [&](instance& i) { return finish_value(i, i.replicas->replica_count(), out); });
    }
    static tm_rc replica_status(tm_plugin_t* p, int32_t index, const char** out) {
        return guarded(p, [&](instance& i) {
            if (index < 0) return finish_json(i, negative_index(index), out);
            return finish_json(i, i.replicas->replica_status(index), out);
        });
    }
    static tm_rc replica_restart(tm_plugin_t* p, int32_t index) {
        return guarded(p, [&](instance& i) {
            if (index < 0) return finish(i, negative_index(index));
            return finish(i, i.replicas->replica_restart(index));
        });
    }
    static result<std::string> negative_index(int32_t index) {
        return fail(TM_INVALID, "replica " + std::to_string(index) + " does not exist: replicas are numbered from 0");
    }
    template <bool WithWatch, bool WithReplicas>
    static const tm_tunnel_supervisor_v1* table() {
        static const tm_tunnel_supervisor_v1 t = {sizeof(tm_tunnel_supervisor_v1),
                                                  status,
                                                  restart,
                                                  WithWatch ? watch_adapter::watch_start : nullptr,
                                                  WithWatch ? watch_adapter::watch_stop : nullptr,
                                                  WithReplicas ? replica_count : nullptr,
                                                  WithReplicas ? replica_status : nullptr,
                                                  WithReplicas ? replica_restart : nullptr};
        return &t;
    }
};

struct transport_adapter {
    static tm_rc serve(tm_plugin_t* p, const tm_session_t* session) {
        return guarded(p, [&](instance& i) { return finish(i, i.transport->serve(session)); });
    }
    static tm_rc stop(tm_plugin_t* p) {
        return guarded(p, [&](instance& i) { return finish(i, i.transport->stop()); });
    }
    static tm_rc deliver_event(tm_plugin_t* p, const char* type, const char* json) {
        return guarded(p, [&](instance& i) { return finish(i, i.events->deliver_event(sv(type), sv(json))); });
    }
    template <bool WithEvents>
    static const tm_transport_v1* table() {
        static const tm_transport_v1 t = {sizeof(tm_transport_v1), serve, stop,
                                          WithEvents ? deliver_event : nullptr};
        return &t;
    }
};

// --- the entry table ----------------------------------------------------------------------------
template <class P>
struct entry {
    static_assert(std::is_base_of_v<sdk::plugin, P>, "a plugin class must derive from tunnelmgr::sdk::plugin");
    static_assert(!std::is_abstract_v<P>,
                  "the plugin class leaves a pure virtual function of a capability interface unimplemented "
                  "(check each signature against tunnelmgr/sdk/capabilities.hpp)");
    static_assert(std::is_constructible_v<P, const sdk::host&, std::string_view>,
                  "a plugin class needs a constructor P(const tunnelmgr::sdk::host&, std::string_view config_json)");
    static_assert(std::is_base_of_v<state_store_v1, P> || std::is_base_of_v<dns_provider_v1, P> ||
                      std::is_base_of_v<container_runtime_v1, P> || std::is_base_of_v<tunnel_supervisor_v1, P> ||
                      std::is_base_of_v<transport_v1, P>,
                  "a plugin class must provide at least one capability");
    static_assert(!std::is_base_of_v<dns_tunnel_config, P> || std::is_base_of_v<dns_provider_v1, P>,
                  "dns_tunnel_config extends dns_provider_v1: derive from both");
    static_assert(!std::is_base_of_v<dns_record_listing, P> || std::is_base_of_v<dns_provider_v1, P>,
                  "dns_record_listing extends dns_provider_v1: derive from both");
    static_assert(!std::is_base_of_v<supervisor_replicas, P> || std::is_base_of_v<tunnel_supervisor_v1, P>,
                  "supervisor_replicas extends tunnel_supervisor_v1: derive from both");
    static_assert(!std::is_base_of_v<transport_events, P> || std::is_base_of_v<transport_v1, P>,
                  "transport_events extends transport_v1: derive from both");
    static_assert(!std::is_base_of_v<event_watch, P> || std::is_base_of_v<container_runtime_v1, P> ||
                      std::is_base_of_v<tunnel_supervisor_v1, P>,
                  "event_watch extends container_runtime_v1 or tunnel_supervisor_v1: derive from one of them");

    static inline const char* name_ = "";
    static inline const char* version_ = "";
    static inline const char* schema_ = "{}";

    static const char* api_version() { return TM_PLUGIN_API_VERSION_STRING; }
    static const char* name() { return name_; }
    static const char* version() { return version_; }
    static const char* config_schema() { return schema_; }

    static tm_plugin_t* init(const tm_host_api* host_api, const char* config_json, tm_rc* rc) noexcept {
        tm_rc ignored = TM_OK;
        if (rc == nullptr) rc = &ignored;
        init_error().clear();
        try {
            auto inst = std::make_unique<instance>();
            inst->host = sdk::host(host_api);
            auto object = std::make_unique<P>(inst->host, sv(config_json == nullptr ? "{}" : config_json));
            P* raw = object.get();
            if constexpr (std::is_base_of_v<state_store_v1, P>) inst->state_store = raw;
            if constexpr (std::is_base_of_v<dns_provider_v1, P>) inst->dns = raw;
            if constexpr (std::is_base_of_v<dns_tunnel_config, P>) inst->dns_tunnel = raw;
            if constexpr (std::is_base_of_v<dns_record_listing, P>) inst->dns_listing = raw;
            if constexpr (std::is_base_of_v<container_runtime_v1, P>) inst->runtime = raw;
            if constexpr (std::is_base_of_v<tunnel_supervisor_v1, P>) inst->supervisor = raw;
            if constexpr (std::is_base_of_v<supervisor_replicas, P>) inst->replicas = raw;
            if constexpr (std::is_base_of_v<event_watch, P>) inst->watch = raw;
            if constexpr (std::is_base_of_v<transport_v1, P>) inst->transport = raw;
            if constexpr (std::is_base_of_v<transport_events, P>) inst->events = raw;
            inst->object = std::move(object);
            *rc = TM_OK;
            return reinterpret_cast<tm_plugin_t*>(inst.release());
        } catch (const std::exception& e) {
            init_error() = e.what();
        } catch (...) {
            init_error() = "unknown exception during init";
        }
        *rc = TM_ERROR;
        return nullptr;
    }

    static void destroy(tm_plugin_t* p) noexcept {
        try {
            delete as_instance(p);
        } catch (...) {
        }
    }

    static const char* last_error(tm_plugin_t* p) noexcept {
        thread_local std::string copy;
        try {
            if (p == nullptr) {
                copy = init_error();
            } else {
                instance* inst = as_instance(p);
                std::lock_guard<std::mutex> lock(inst->error_mutex);
                copy = inst->error;
            }
        } catch (...) {
            return "out of memory";
        }
        return copy.c_str();
    }

    static const tm_plugin_api* table(const char* plugin_name, const char* plugin_version, const char* schema) {
        name_ = plugin_name;
        version_ = plugin_version;
        schema_ = schema;
        static const tm_plugin_api api = {
            sizeof(tm_plugin_api), api_version, name, version, config_schema, init, destroy, last_error,
            std::is_base_of_v<state_store_v1, P> ? state_store_adapter::table() : nullptr,
            std::is_base_of_v<dns_provider_v1, P>
                ? dns_adapter::table<std::is_base_of_v<dns_tunnel_config, P>, std::is_base_of_v<dns_record_listing, P>>()
                : nullptr,
            std::is_base_of_v<container_runtime_v1, P>
                ? runtime_adapter::table<std::is_base_of_v<event_watch, P>>()
                : nullptr,
            std::is_base_of_v<tunnel_supervisor_v1, P>
                ? supervisor_adapter::table<std::is_base_of_v<event_watch, P>, std::is_base_of_v<supervisor_replicas, P>>()
                : nullptr,
            std::is_base_of_v<transport_v1, P> ? transport_adapter::table<std::is_base_of_v<transport_events, P>>()
                                               : nullptr};
        return &api;
    }
};

}  // namespace detail
}  // namespace tunnelmgr::sdk

// One line per plugin: the class, its kebab-case name (= file name without .so), its version, and
// the JSON Schema of its config section.
#define TM_PLUGIN(CLASS, NAME, VERSION, CONFIG_SCHEMA)                                          \
    extern "C" TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void) {                     \
        return ::tunnelmgr::sdk::detail::entry<CLASS>::table((NAME), (VERSION), (CONFIG_SCHEMA)); \
    }
