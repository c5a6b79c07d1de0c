// Runs the start-up steps in order and the teardown always; see app.hpp.
#include "app/app.hpp"

#include "common/terminal_text.hpp"

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "service/api_client.hpp"
#include "service/core_services.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

namespace {

using steady = std::chrono::steady_clock;

// Taken while the binary's statics are built, just after the dynamic linker has loaded its libraries:
// what start-up costs from there to the command's first call is logged at debug (the benches read it).
const steady::time_point statics_built = steady::now();

std::string ms_since(steady::time_point t0, steady::time_point t1) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", std::chrono::duration<double, std::milli>(t1 - t0).count());
    return buf;
}

// glibc gives freed memory back to the system as soon as 128 KB of it are free at the top of a heap,
// and maps anything bigger than 128 KB afresh: every MCP answer of a page, every scrape then faults
// its buffers in again page by page (~15 µs a fault on a VM), which cost more than building the answer
// (tests/bench/mcp: a 100-row page 1.1-1.7 ms -> 0.7 ms). Keep up to 8 MB freed, map only from 4 MB.
// GLIBC_TUNABLES naming malloc settings wins: an operator may tune it otherwise.
void keep_freed_memory() {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return;
    ::mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    ::mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
}

}  // namespace

int run(options opts) {
    keep_freed_memory();
    app_state s;
    s.opts = std::move(opts);
    struct step {
        const char* name;
        run_result (*fn)(app_state&);
    };
    static constexpr step steps[] = {{"load_config", load_config},     {"configure_logging", configure_logging},
                                     {"select_command", select_command}, {"reach_daemon", reach_daemon},
                                     {"start_plugins", start_plugins},   {"open_state", open_state},
                                     {"start_core", start_core},         {"run_command", run_command}};
    int code = 0;
    try {
        const steady::time_point started = steady::now();
        steady::time_point t = started;
        std::string timings;
        for (const step& st : steps) {
            if (st.fn == run_command) {
                log::debug("startup", "ms_to_command=" + ms_since(statics_built, t) + " ms_in_steps=" +
                                          ms_since(started, t) + timings);
            }
            run_result r = st.fn(s);
            const steady::time_point now = steady::now();
            timings += std::string(" ") + st.name + "=" + ms_since(t, now);
            t = now;
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
