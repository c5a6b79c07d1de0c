// Loads a plugin .so, checks it against the ABI rules (entry symbol, versions, struct sizes,
// required functions) and creates instances. A refusal is a value with one sentence, never a crash.
#pragma once

#include <filesystem>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/dll/shared_library.hpp>
#include <tl/expected.hpp>
#include <tunnelmgr/plugin_api.h>

#include "plugin_host/host_services.hpp"

namespace tunnelmgr::host {

// A library that passed every check. Its tables are the host's own zero-filled copies, so fields the
// plugin predates read as NULL.
struct loaded_library {
    // Declared first: destroyed last, after anything that used the code inside it.
    boost::dll::shared_library library;
    std::filesystem::path path;
    std::string name, version, required_api, config_schema;
    // Set when a plugin of the same name was found earlier in the search order: this file is
    // never used while that one is there.
    std::filesystem::path shadowed_by;
    tm_plugin_api api{};
    bool has_state_store = false, has_dns = false, has_runtime = false, has_supervisor = false, has_transport = false;
    tm_state_store_v1 state_store{};
    tm_dns_provider_v1 dns{};
    tm_container_runtime_v1 runtime{};
    tm_tunnel_supervisor_v1 supervisor{};
    tm_transport_v1 transport{};

    // "state_store_v1", "dns_provider_v1 (+tunnel config)", ...
    std::vector<std::string> capability_names() const;
    bool provides(const std::string& slot) const;
};

struct refusal {
    std::filesystem::path path;
    std::string reason;
    std::string line() const { return path.string() + ": refused: " + reason; }
};

tl::expected<std::shared_ptr<loaded_library>, refusal> load_library(const std::filesystem::path& path);

// One live instance. Owns the library (through shared_ptr) longer than the instance itself.
class plugin_instance {
public:
    plugin_instance(std::shared_ptr<loaded_library> lib, std::unique_ptr<instance_context> ctx, tm_plugin_t* handle);
    ~plugin_instance();
    plugin_instance(const plugin_instance&) = delete;
    plugin_instance& operator=(const plugin_instance&) = delete;

    const loaded_library& library() const { return *lib_; }
    tm_plugin_t* handle() const { return handle_; }
    // Non-concurrent calls into the instance go through this lock (the ABI's thread rule).
    std::mutex& call_mutex() { return mutex_; }
    std::string last_error() const;

    // A call that passed its deadline and still runs (see invoke_json_within): its function name,
    // or "" when none. The destructor waits for every such call, since the library cannot unload
    // under it. A call still within its deadline is not one: another call simply waits its turn.
    std::string pending_call() const;
    void begin_pending(const char* function);
    void end_pending();

private:
    std::shared_ptr<loaded_library> lib_;  // first: outlives ctx_ and handle_
    std::unique_ptr<instance_context> ctx_;
    tm_plugin_t* handle_ = nullptr;
    std::mutex mutex_;
    mutable std::mutex pending_mutex_;
    std::condition_variable pending_done_;
    const char* pending_ = nullptr;  // the last overdue call's name
    int overdue_ = 0;                // overdue calls still running
};

// Calls init() with the plugin's config section; a failing or throwing init is a refusal sentence.
tl::expected<std::unique_ptr<plugin_instance>, std::string> create_instance(std::shared_ptr<loaded_library> lib,
                                                                            const std::string& config_json,
                                                                            host_services& services);

}  // namespace tunnelmgr::host
