// Step: assemble the core over the started plugins and settle any operation a crash left half
// done, before the command touches anything.
#include "app/app.hpp"
#include "service/core_services.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

run_result start_core(app_state& s) {
    if (!s.needs_core) return run_result::proceed();
    if (!s.state) return run_result::fatal("the core needs the state slot", 2);
    auto built = service::build_core(s.cfg, *s.plugins, *s.state);
    if (!built) return run_result::fatal(built.error().message, 2);
    s.core = std::move(*built);
    auto settled = s.core->pipeline->recover();
    if (!settled) {
        log::error("recovery", "cannot read unfinished operations: " + settled.error().message);
    } else if (*settled > 0) {
        log::info("recovery", "settled " + std::to_string(*settled) + " unfinished operation(s)");
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
