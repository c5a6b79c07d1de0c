// See process.hpp.
#include "sys/process.hpp"

#include <cstring>

#include "process_runner.hpp"

namespace tunnelmgr::sys {

result<process_output> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::string& working_dir) {
    if (argv.empty()) return fail(errc::invalid, "no program to run");
    auto ran = process::run_program(argv, timeout, working_dir);
    switch (ran.ended) {
        case process::outcome::how::spawn_failed:
            if (std::strcmp(ran.failed_call, "pipe") == 0) {
                return fail(errc::error, std::string("pipe: ") + std::strerror(ran.spawn_errno));
            }
            return fail(errc::not_found, "cannot run " + argv[0] + ": " + std::strerror(ran.spawn_errno));
        case process::outcome::how::timed_out:
            return fail(errc::timeout, argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms");
        case process::outcome::how::exited:
        case process::outcome::how::signaled:
            break;
    }
    process_output res;
    res.exit_code = ran.ended == process::outcome::how::exited ? ran.exit_code : -1;
    res.out = std::move(ran.out);
    res.err = std::move(ran.err);
    return res;
}

}  // namespace tunnelmgr::sys
