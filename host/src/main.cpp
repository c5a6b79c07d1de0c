// tunnelmgr's command line: global options, then a subcommand and its own arguments. Nothing else
// lives here: the work happens in app/.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <tunnelmgr/plugin_api.h>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "plugin_host/call_site.hpp"

#ifndef TM_VERSION
#define TM_VERSION "0.0.0"
#endif

namespace po = boost::program_options;

namespace {

void print_help(const po::options_description& global) {
    std::cout << "Usage: tunnelmgr [OPTIONS] COMMAND [ARGS]\n\n"
                 "Keeps a Cloudflare Tunnel (cloudflared) alive and lets each project on this machine publish\n"
                 "its own hostnames through it.\n\n"
              << global << "\nCommands:\n";
    for (const auto& c : tunnelmgr::app::commands()) std::printf("  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
    // A client that goes away must not kill us with SIGPIPE: writes fail and are handled instead.
    std::signal(SIGPIPE, SIG_IGN);
    // A plugin that crashes the process is named on stderr before it dies.
    tunnelmgr::host::install_crash_reporter();
    po::options_description global("Options");
    global.add_options()                                                          //
        ("help,h", "show this help")                                              //
        ("version", "print the version and the plugin API version")               //
        ("config,c", po::value<std::string>(), "config file (default /etc/tunnelmgr/config.yml, else built in)")  //
        ("plugin-dir", po::value<std::vector<std::string>>(), "plugin folder (repeatable; overrides the config)")  //
        ("log-level", po::value<std::string>(), "trace, debug, info, warn, error or off");
    // Global options may come before or after the command word; everything else after the command
    // (and everything after a literal "--") belongs to the command, verbatim.
    std::vector<std::string> global_args{argv[0]};
    std::vector<std::string> command_args;
    std::string command;
    bool verbatim = false;
    auto takes_value = [](const std::string& a) {
        return a == "--config" || a == "-c" || a == "--plugin-dir" || a == "--log-level";
    };
    auto is_global = [&](const std::string& a) {
        if (takes_value(a) || a == "--help" || a == "-h" || a == "--version") return true;
        for (const char* p : {"--config=", "--plugin-dir=", "--log-level="}) {
            if (a.rfind(p, 0) == 0) return true;
        }
        return false;
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (verbatim) {
            command_args.push_back(a);
        } else if (a == "--") {
            verbatim = true;
            if (!command.empty()) command_args.push_back(a);
        } else if (is_global(a)) {
            global_args.push_back(a);
            if (takes_value(a) && i + 1 < argc) global_args.push_back(argv[++i]);
        } else if (command.empty() && a.rfind("-", 0) != 0) {
            command = a;
        } else if (command.empty()) {
            std::fprintf(stderr, "tunnelmgr: unknown option '%s' (see tunnelmgr --help)\n", a.c_str());
            return 2;
        } else {
            command_args.push_back(a);
        }
    }
    if (command.empty() && verbatim) {
        std::fprintf(stderr, "tunnelmgr: give a command before '--' (see tunnelmgr --help)\n");
        return 2;
    }

    tunnelmgr::app::options opts;
    try {
        po::variables_map vm;
        po::store(po::command_line_parser(global_args).options(global).run(), vm);
        po::notify(vm);
        if (vm.count("help") != 0U) {
            print_help(global);
            return 0;
        }
        if (vm.count("version") != 0U) {
            std::printf("tunnelmgr %s (plugin API %s)\n", TM_VERSION, TM_PLUGIN_API_VERSION_STRING);
            return 0;
        }
        if (command.empty()) {
            print_help(global);
            return 2;
        }
        opts.command = command;
        opts.args = command_args;
        if (vm.count("config") != 0U) opts.config_path = vm["config"].as<std::string>();
        if (vm.count("plugin-dir") != 0U) opts.plugin_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
        if (vm.count("log-level") != 0U) opts.log_level = vm["log-level"].as<std::string>();
    } catch (const po::error& e) {
        std::fprintf(stderr, "tunnelmgr: %s (see tunnelmgr --help)\n", e.what());
        return 2;
    }
    return tunnelmgr::app::run(std::move(opts));
}
