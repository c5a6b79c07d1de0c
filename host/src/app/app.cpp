// Runs the start-up steps in order and the teardown always; see app.hpp.
#include "app/app.hpp"

#include "common/terminal_text.hpp"

#include <cstdio>
#include <exception>

#include "service/api_client.hpp"
#include "service/core_services.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

int run(options opts) {
    app_state s;
    s.opts = std::move(opts);
    using step = run_result (*)(app_state&);
    static constexpr step steps[] = {load_config, configure_logging, select_command, reach_daemon,
                                     start_plugins, open_state,        start_core,     run_command};
    int code = 0;
    try {
        for (step st : steps) {
            run_result r = st(s);
            if (r.what == run_result::kind::proceed) continue;
            if (r.what == run_result::kind::fatal) {
                std::fprintf(stderr, "tunnelmgr: %s\n", printable(log::logger::instance().redact(r.message)).c_str());
            }
            code = r.exit_code;
            break;
        }
        if (code == 0) code = s.exit_code;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tunnelmgr: internal error: %s\n", e.what());
        code = 70;
    }
    teardown(s);
    return code;
}

app_state::app_state() = default;
app_state::~app_state() = default;

void teardown(app_state& s) {
    s.api.reset();
    s.core.reset();
    s.state.reset();
    if (s.plugins) s.plugins->stop_all();
    s.plugins.reset();
}

}  // namespace tunnelmgr::app
