// What the host offers plugins through tm_host_api: logging, events and calls into the core.
// One host_services per process; each instance gets its own tm_host_api naming the plugin.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
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
    void add_event_handler(event_handler h);

    core::result<std::string> call(const std::string& op, const std::string& args, const tm_session_t* session);
    void emit(const std::string& source, const std::string& type, const std::string& json);

private:
    std::mutex mutex_;
    call_handler call_;
    std::vector<event_handler> events_;
};

// The tm_host_api handed to one instance; host_ctx points back here.
struct instance_context {
    tm_host_api api{};
    host_services* services = nullptr;
    std::string plugin_name;
};

std::unique_ptr<instance_context> make_instance_context(host_services& services, const std::string& plugin_name);

}  // namespace tunnelmgr::host
