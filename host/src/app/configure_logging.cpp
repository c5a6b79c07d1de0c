// Step: set the log level (--log-level wins over the config's log.level).
#include "app/app.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

run_result configure_logging(app_state& s) {
    std::string name = !s.opts.log_level.empty() ? s.opts.log_level : s.cfg.log_level;
    if (name.empty()) return run_result::proceed();
    log::level l{};
    if (!log::parse_level(name, l)) {
        return run_result::fatal("log level '" + name + "' is unknown: use trace, debug, info, warn, error or off", 2);
    }
    log::logger::instance().set_level(l);
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
