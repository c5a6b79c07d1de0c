// See loader.hpp. Each check produces the one line an operator reads when a plugin is refused.
#include "plugin_host/loader.hpp"

#include <cstddef>
#include <cstring>
#include <exception>

#include <dlfcn.h>

#include <boost/dll/shared_library.hpp>

#include "log/logger.hpp"
#include "plugin_host/call_site.hpp"
#include "plugin_host/version.hpp"

namespace tunnelmgr::host {
namespace {

// The smallest table a 1.0 plugin may hand us: up to the end of its last 1.0 field. Appending a
// field later must not change these numbers, so they are written with offsetof, never sizeof.
#define TM_SIZE_UP_TO(T, field) (offsetof(T, field) + sizeof(static_cast<T*>(nullptr)->field))
constexpr size_t min_plugin_api = TM_SIZE_UP_TO(tm_plugin_api, transport_v1);
constexpr size_t min_state_store = TM_SIZE_UP_TO(tm_state_store_v1, prune);
constexpr size_t min_dns = TM_SIZE_UP_TO(tm_dns_provider_v1, get_tunnel_config);
constexpr size_t min_runtime = TM_SIZE_UP_TO(tm_container_runtime_v1, watch_stop);
constexpr size_t min_supervisor = TM_SIZE_UP_TO(tm_tunnel_supervisor_v1, watch_stop);
constexpr size_t min_transport = TM_SIZE_UP_TO(tm_transport_v1, deliver_event);

// Copies a plugin's table into a zeroed host struct after checking its declared size.
template <class T>
std::string copy_table(const T* src, T& dst, size_t min_size, const char* table) {
    std::memset(&dst, 0, sizeof(T));
    if (src->struct_size < min_size) {
        return std::string("its ") + table + " is " + std::to_string(src->struct_size) +
               " bytes, smaller than the " + std::to_string(min_size) +
               " of plugin API 1.0: the plugin was built against a broken header; rebuild it";
    }
    if (src->struct_size > sizeof(T)) {
        return std::string("its ") + table + " is " + std::to_string(src->struct_size) + " bytes but this tunnelmgr knows only " +
               std::to_string(sizeof(T)) + ": it was built against a newer plugin API; upgrade tunnelmgr or rebuild the plugin";
    }
    std::memcpy(&dst, src, src->struct_size);
    return {};
}

std::string missing_list(const std::vector<const char*>& missing, const char* table) {
    std::string names;
    for (const char* m : missing) names += (names.empty() ? "" : ", ") + std::string(m);
    return std::string(table) + " lacks required function" + (missing.size() > 1 ? "s " : " ") + names +
           ": the plugin is incomplete; implement " + (missing.size() > 1 ? "them" : "it") + " or leave the whole table NULL";
}

#define TM_REQUIRE(t, fn) \
    if ((t).fn == nullptr) missing.push_back(#fn)

std::string check_state_store(const tm_state_store_v1& t) {
    std::vector<const char*> missing;
    TM_REQUIRE(t, schema_version);
    TM_REQUIRE(t, stats);
    TM_REQUIRE(t, cname_insert);
    TM_REQUIRE(t, cname_delete);
    TM_REQUIRE(t, cname_get);
    TM_REQUIRE(t, cname_list);
    TM_REQUIRE(t, operation_begin);
    TM_REQUIRE(t, operation_advance);
    TM_REQUIRE(t, operation_commit);
    TM_REQUIRE(t, operation_list_unfinished);
    TM_REQUIRE(t, audit_append);
    TM_REQUIRE(t, audit_query);
    TM_REQUIRE(t, health_record);
    TM_REQUIRE(t, health_history);
    TM_REQUIRE(t, domains_replace);
    TM_REQUIRE(t, domains_list);
    TM_REQUIRE(t, docker_snapshot_replace);
    TM_REQUIRE(t, docker_snapshot_get);
    TM_REQUIRE(t, lease_acquire);
    TM_REQUIRE(t, lease_release);
    TM_REQUIRE(t, prune);
    return missing.empty() ? std::string() : missing_list(missing, "state_store_v1");
}

std::string check_dns(const tm_dns_provider_v1& t) {
    std::vector<const char*> missing;
    TM_REQUIRE(t, list_zones);
    TM_REQUIRE(t, find_record);
    TM_REQUIRE(t, create_record);
    TM_REQUIRE(t, delete_record);
    if ((t.put_tunnel_config == nullptr) != (t.get_tunnel_config == nullptr)) {
        return "dns_provider_v1 has only one of put_tunnel_config/get_tunnel_config: provide both or neither";
    }
    return missing.empty() ? std::string() : missing_list(missing, "dns_provider_v1");
}

std::string check_runtime(const tm_container_runtime_v1& t) {
    std::vector<const char*> missing;
    TM_REQUIRE(t, snapshot);
    if ((t.watch_start == nullptr) != (t.watch_stop == nullptr)) {
        return "container_runtime_v1 has only one of watch_start/watch_stop: provide both or neither";
    }
    return missing.empty() ? std::string() : missing_list(missing, "container_runtime_v1");
}

std::string check_supervisor(const tm_tunnel_supervisor_v1& t) {
    std::vector<const char*> missing;
    TM_REQUIRE(t, status);
    TM_REQUIRE(t, restart);
    if ((t.watch_start == nullptr) != (t.watch_stop == nullptr)) {
        return "tunnel_supervisor_v1 has only one of watch_start/watch_stop: provide both or neither";
    }
    const int replica_fns = (t.replica_count != nullptr) + (t.replica_status != nullptr) + (t.replica_restart != nullptr);
    if (replica_fns != 0 && replica_fns != 3) {
        return "tunnel_supervisor_v1 has only some of replica_count/replica_status/replica_restart: provide all three "
               "or none";
    }
    return missing.empty() ? std::string() : missing_list(missing, "tunnel_supervisor_v1");
}

std::string check_transport(const tm_transport_v1& t) {
    std::vector<const char*> missing;
    TM_REQUIRE(t, serve);
    TM_REQUIRE(t, stop);
    return missing.empty() ? std::string() : missing_list(missing, "transport_v1");
}

std::string check_plugin_api(const tm_plugin_api& a) {
    std::vector<const char*> missing;
    TM_REQUIRE(a, required_api_version);
    TM_REQUIRE(a, name);
    TM_REQUIRE(a, version);
    TM_REQUIRE(a, config_schema);
    TM_REQUIRE(a, init);
    TM_REQUIRE(a, destroy);
    TM_REQUIRE(a, last_error);
    return missing.empty() ? std::string() : missing_list(missing, "tm_plugin_api");
}

// A plugin's static string, or "" when the function returned NULL.
std::string str_of(const char* (*fn)(void)) {
    const char* s = fn();
    return s != nullptr ? std::string(s) : std::string();
}

}  // namespace

std::vector<std::string> loaded_library::capability_names() const {
    std::vector<std::string> out;
    if (has_state_store) out.push_back("state_store_v1");
    if (has_dns) out.push_back(dns.put_tunnel_config != nullptr ? "dns_provider_v1+tunnel_config" : "dns_provider_v1");
    if (has_runtime) out.push_back(runtime.watch_start != nullptr ? "container_runtime_v1+watch" : "container_runtime_v1");
    if (has_supervisor) {
        out.push_back(std::string("tunnel_supervisor_v1") + (supervisor.watch_start != nullptr ? "+watch" : "") +
                      (supervisor.replica_count != nullptr ? "+replicas" : ""));
    }
    if (has_transport) out.push_back(transport.deliver_event != nullptr ? "transport_v1+events" : "transport_v1");
    return out;
}

bool loaded_library::provides(const std::string& slot) const {
    if (slot == "state") return has_state_store;
    if (slot == "dns") return has_dns;
    if (slot == "runtime") return has_runtime;
    if (slot == "supervisor") return has_supervisor;
    if (slot == "transport") return has_transport;
    return false;
}

tl::expected<std::shared_ptr<loaded_library>, refusal> load_library(const std::filesystem::path& path) {
    auto refuse = [&](std::string reason) { return tl::unexpected(refusal{path, std::move(reason)}); };
    auto lib = std::make_shared<loaded_library>();
    lib->path = path;

    boost::system::error_code ec;
    lib->library.load(boost::dll::fs::path(path.string()),
                      boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec || !lib->library.is_loaded()) {
        // Boost reports only an errno ("Bad file descriptor"); the dynamic loader knows the reason
        // (a missing library, an undefined symbol, a wrong architecture), so ask it.
        std::string why = ec ? ec.message() : std::string("unknown reason");
        if (void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); h == nullptr) {
            if (const char* e = ::dlerror(); e != nullptr) why = e;
        } else {
            ::dlclose(h);
        }
        return refuse("cannot be loaded (" + why +
                      "): check it is a plugin built for this machine and that the libraries it needs are installed");
    }
    if (!lib->library.has(TM_PLUGIN_ENTRY_SYMBOL)) {
        return refuse("exports no tm_plugin_entry symbol: it is not a tunnelmgr plugin (build it with tm_add_plugin and TM_PLUGIN)");
    }
    const tm_plugin_api* raw = nullptr;
    try {
        auto& entry = lib->library.get<const tm_plugin_api*()>(TM_PLUGIN_ENTRY_SYMBOL);
        raw = entry();
    } catch (const std::exception& e) {
        return refuse(std::string("tm_plugin_entry threw (") + e.what() + "): a plugin must never let an exception escape");
    } catch (...) {
        return refuse("tm_plugin_entry threw: a plugin must never let an exception escape");
    }
    if (raw == nullptr) return refuse("tm_plugin_entry returned NULL: the plugin offers no entry table");

    if (auto err = copy_table(raw, lib->api, min_plugin_api, "tm_plugin_api"); !err.empty()) return refuse(err);
    if (auto err = check_plugin_api(lib->api); !err.empty()) return refuse(err);

    try {
        lib->required_api = str_of(lib->api.required_api_version);
        lib->name = str_of(lib->api.name);
        lib->version = str_of(lib->api.version);
        lib->config_schema = str_of(lib->api.config_schema);
    } catch (...) {
        return refuse("threw while describing itself: a plugin must never let an exception escape");
    }

    auto required = parse_api_version(lib->required_api);
    if (!required) {
        return refuse("required_api_version() returned '" + lib->required_api +
                      "', not MAJOR.MINOR.PATCH: rebuild it against the plugin API headers");
    }
    auto host_version = *parse_api_version(TM_PLUGIN_API_VERSION_STRING);
    if (auto err = check_compatible(host_version, *required); !err.empty()) return refuse(err);

    std::string stem = path.stem().string();
    if (lib->name != stem) {
        return refuse("calls itself '" + lib->name + "' but the file is " + path.filename().string() +
                      ": a plugin's file must be named <name>.so, so rename the file to " + lib->name + ".so");
    }

    // Capability tables: copy each, then check its required functions.
    const tm_plugin_api& a = lib->api;
    if (a.state_store_v1 != nullptr) {
        if (auto e = copy_table(a.state_store_v1, lib->state_store, min_state_store, "state_store_v1"); !e.empty()) return refuse(e);
        if (auto e = check_state_store(lib->state_store); !e.empty()) return refuse(e);
        lib->has_state_store = true;
    }
    if (a.dns_provider_v1 != nullptr) {
        if (auto e = copy_table(a.dns_provider_v1, lib->dns, min_dns, "dns_provider_v1"); !e.empty()) return refuse(e);
        if (auto e = check_dns(lib->dns); !e.empty()) return refuse(e);
        lib->has_dns = true;
    }
    if (a.container_runtime_v1 != nullptr) {
        if (auto e = copy_table(a.container_runtime_v1, lib->runtime, min_runtime, "container_runtime_v1"); !e.empty()) {
            return refuse(e);
        }
        if (auto e = check_runtime(lib->runtime); !e.empty()) return refuse(e);
        lib->has_runtime = true;
    }
    if (a.tunnel_supervisor_v1 != nullptr) {
        if (auto e = copy_table(a.tunnel_supervisor_v1, lib->supervisor, min_supervisor, "tunnel_supervisor_v1"); !e.empty()) {
            return refuse(e);
        }
        if (auto e = check_supervisor(lib->supervisor); !e.empty()) return refuse(e);
        lib->has_supervisor = true;
    }
    if (a.transport_v1 != nullptr) {
        if (auto e = copy_table(a.transport_v1, lib->transport, min_transport, "transport_v1"); !e.empty()) return refuse(e);
        if (auto e = check_transport(lib->transport); !e.empty()) return refuse(e);
        lib->has_transport = true;
    }
    if (!lib->has_state_store && !lib->has_dns && !lib->has_runtime && !lib->has_supervisor && !lib->has_transport) {
        return refuse("provides no capability table: there is nothing tunnelmgr could use it for");
    }
    return lib;
}

plugin_instance::plugin_instance(std::shared_ptr<loaded_library> lib, std::unique_ptr<instance_context> ctx,
                                 tm_plugin_t* handle)
    : lib_(std::move(lib)), ctx_(std::move(ctx)), handle_(handle) {}

std::string plugin_instance::pending_call() const {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    return overdue_ > 0 && pending_ != nullptr ? pending_ : "";
}

void plugin_instance::begin_pending(const char* function) {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    pending_ = function;
    ++overdue_;
}

void plugin_instance::end_pending() {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    if (--overdue_ == 0) pending_ = nullptr;
    pending_done_.notify_all();
}

plugin_instance::~plugin_instance() {
    {
        std::unique_lock<std::mutex> lock(pending_mutex_);
        if (overdue_ > 0) {
            log::warn("plugins", "waiting for plugin '" + lib_->name + "' to return from " +
                                     (pending_ != nullptr ? pending_ : "a call") + "() before unloading it");
            pending_done_.wait(lock, [this] { return overdue_ == 0; });
        }
    }
    if (handle_ != nullptr) {
        try {
            lib_->api.destroy(handle_);
        } catch (...) {
        }
    }
}

std::string plugin_instance::last_error() const {
    try {
        const char* e = lib_->api.last_error(handle_);
        if (e != nullptr && *e != '\0') return e;
    } catch (...) {
    }
    return lib_->name + " gave no reason";
}

tl::expected<std::unique_ptr<plugin_instance>, std::string> create_instance(std::shared_ptr<loaded_library> lib,
                                                                            const std::string& config_json,
                                                                            host_services& services) {
    auto ctx = make_instance_context(services, lib->name);
    tm_rc rc = TM_OK;
    tm_plugin_t* handle = nullptr;
    std::string where = lib->path.string() + ": refused: init failed: ";
    try {
        call_site site(lib->name.c_str(), "init");
        handle = lib->api.init(&ctx->api, config_json.c_str(), &rc);
    } catch (const std::exception& e) {
        return tl::unexpected(where + "it threw (" + e.what() + "); a plugin must never let an exception escape");
    } catch (...) {
        return tl::unexpected(where + "it threw; a plugin must never let an exception escape");
    }
    if (handle == nullptr) {
        std::string reason;
        try {
            const char* e = lib->api.last_error(nullptr);
            if (e != nullptr) reason = e;
        } catch (...) {
        }
        if (reason.empty()) reason = "no reason given (rc " + std::to_string(rc) + ")";
        return tl::unexpected(where + reason);
    }
    if (rc != TM_OK) {
        // An instance came back with a failure code: do not trust it.
        try {
            lib->api.destroy(handle);
        } catch (...) {
        }
        return tl::unexpected(where + "it returned an instance together with error code " + std::to_string(rc));
    }
    return std::make_unique<plugin_instance>(std::move(lib), std::move(ctx), handle);
}

}  // namespace tunnelmgr::host
