// Step: wrap the state plugin for the core and make sure its schema answers.
#include "app/app.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

run_result open_state(app_state& s) {
    host::plugin_instance* inst = s.plugins ? s.plugins->find("state") : nullptr;
    if (inst == nullptr) return run_result::proceed();
    s.state = std::make_unique<host::state_store_client>(*inst);
    auto v = s.state->schema_version();
    if (!v) return run_result::fatal("the state store does not answer: " + v.error().message, 3);
    log::debug("state", "schema_version=" + std::to_string(*v));
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
