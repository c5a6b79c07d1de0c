// What the host offers plugins through tm_host_api: logging, events and calls into the core.
// One host_services per process; each instance gets its own tm_host_api naming the plugin.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <tunnelmgr/plugin_api.h>

#include "core/result.hpp"

namespace tunnelmgr::host {

class host_services {
public:
    using call_handler =
        std::function<core::result<std::string>(const std::string& op, const std::string& args, const tm_session_t*)>;
    using event_handler = std::function<void(const std::string& source, const std::string& type, const std::string& json)>;

    void set_call_handler(call_handler h);
    // Handlers run on the emitting plugin's thread, one event after another per plugin, and must be
    // quick (the ABI lets a plugin emit from inside its watch loop; never call back into the plugin).
    // The id is for remove_event_handler().
    size_t add_event_handler(event_handler h);
    // Returns once no emit() is still running the handler, so what it captured may go away.
    // Not from inside a handler.
    void remove_event_handler(size_t id);

    core::result<std::string> call(const std::string& op, const std::string& args, const tm_session_t* session);
    void emit(const std::string& source, const std::string& type, const std::string& json);

private:
    std::mutex mutex_;
    std::shared_mutex dispatch_;  // held shared while handlers run; exclusively to remove one
    call_handler call_;
    std::vector<std::pair<size_t, event_handler>> events_;
    size_t next_id_ = 1;
};

// The tm_host_api handed to one instance; host_ctx points back here.
struct instance_context {
    tm_host_api api{};
    host_services* services = nullptr;
    std::string plugin_name;
};

std::unique_ptr<instance_context> make_instance_context(host_services& services, const std::string& plugin_name);

}  // namespace tunnelmgr::host
