// `tunnelmgr topology [--format text|dot|svg] [--json]`: cloudflared, the Docker networks and
// containers, and the path each published hostname takes, flagging the broken ones. In-process: it
// reads the runtime's snapshot (else the stored one) and the state's rows. SVG is Graphviz's `dot`
// run on the DOT text, by argv with a deadline.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>

#include "app/commands/commands.hpp"
#include "common/terminal_text.hpp"
#include "core/topology.hpp"
#include "service/core_services.hpp"
#include "service/topology_view.hpp"
#include "sys/process.hpp"

namespace tunnelmgr::app {
namespace {

const char* const usage = "tunnelmgr topology [--format text|dot|svg] [--json]";

// The terminal's width when stdout is one (COLUMNS, else the window size), else 100.
size_t output_width() {
    if (isatty(STDOUT_FILENO) == 0) return 100;
    if (const char* c = std::getenv("COLUMNS"); c != nullptr && std::atoi(c) > 0) return static_cast<size_t>(std::atoi(c));
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 100;
}

// Graphviz reads the DOT from a private temp file (the process runner gives children no stdin).
run_result print_svg(const std::string& dot_text) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/tunnelmgr-topology-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
        return run_result::fatal("topology: cannot make a temp folder for Graphviz's input in " + dir.substr(0, dir.rfind('/')), 5);
    }
    const std::string file = dir + "/topology.dot";
    struct cleanup {
        std::string dir;
        ~cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } remove_later{dir};
    {
        std::ofstream out(file);
        out << dot_text;
        if (!out.flush()) return run_result::fatal("topology: cannot write " + file, 5);
    }
    auto ran = sys::run({"dot", "-Tsvg", file}, std::chrono::seconds(30));
    if (!ran && ran.error().code == errc::not_found) {
        return run_result::fatal("topology: --format svg needs Graphviz's `dot`, which is not installed (not found in PATH): "
                                 "install the Debian package graphviz (`apt-get install graphviz`), or print the graph "
                                 "with --format dot and render it elsewhere",
                                 2);
    }
    if (!ran) return run_result::fatal("topology: Graphviz's dot failed: " + ran.error().message, 5);
    if (ran->exit_code != 0 || ran->out.find("<svg") == std::string::npos) {
        return run_result::fatal("topology: Graphviz's dot -Tsvg failed (exit " + std::to_string(ran->exit_code) +
                                     "): " + printable(ran->err),
                                 5);
    }
    std::cout << ran->out;
    return run_result::proceed();
}

}  // namespace

run_result cmd_topology(app_state& s) {
    std::string format = "text";
    bool json = false;
    bool format_given = false;
    const auto& args = s.opts.args;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--json") {
            json = true;
        } else if (a == "--format" && i + 1 < args.size()) {
            format = args[++i];
            format_given = true;
        } else if (a.rfind("--format=", 0) == 0) {
            format = a.substr(9);
            format_given = true;
        } else {
            return run_result::fatal("topology: unknown argument '" + printable(a) + "'; usage: " + usage, 2);
        }
    }
    if (format != "text" && format != "dot" && format != "svg") {
        return run_result::fatal("topology: --format is text, dot or svg, not '" + printable(format) + "'", 2);
    }
    if (json && format_given && format != "text") {
        return run_result::fatal("topology: --json prints the topology as JSON; leave out --format " + format, 2);
    }
    if (!s.core || !s.state) return run_result::fatal("topology needs the state and the core", 2);

    auto view = service::topology_now(*s.core, *s.state);
    if (!view) return run_result::fatal("topology: " + view.error().message, 3);
    if (json) {
        std::cout << core::topology_json(*view) << "\n";
    } else if (format == "dot") {
        std::cout << core::topology_dot(*view);
    } else if (format == "svg") {
        return print_svg(core::topology_dot(*view));
    } else {
        std::cout << core::topology_text(*view, output_width());
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
