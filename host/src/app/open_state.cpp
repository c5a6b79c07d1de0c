// Step: wrap the state plugin for the core and make sure its schema answers; then start the slots
// the command deferred if this run needs them after all (an unfinished operation to recover).
#include "app/app.hpp"
#include "core/json.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

namespace {

// Recovery (start_core) settles a crashed operation through the DNS provider and the ingress: with
// one in the journal, the deferred slots are started as the command would have started them.
bool recovery_pending(app_state& s) {
    if (!s.needs_core) return false;
    auto list = s.state->operation_list_unfinished();
    if (!list) return true;  // let recovery report it, with every slot it may need
    auto doc = core::json::parse(*list);
    return !doc || !doc->IsArray() || !doc->Empty();
}

}  // namespace

run_result open_state(app_state& s) {
    host::plugin_instance* inst = s.plugins ? s.plugins->find("state") : nullptr;
    if (inst == nullptr) return run_result::proceed();
    s.state = std::make_unique<host::state_store_client>(*inst);
    auto v = s.state->schema_version();
    if (!v) return run_result::fatal("the state store does not answer: " + v.error().message, 3);
    log::debug("state", "schema_version=" + std::to_string(*v));
    if (s.deferred_slots.empty()) return run_result::proceed();
    if (recovery_pending(s) || (s.deferred_needed != nullptr && s.deferred_needed(s))) {
        log::debug("plugins", "starting the deferred slots: this run needs them");
        return start_slots(s, {}, s.deferred_slots);
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
