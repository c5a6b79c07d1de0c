// tunnelmgr's command line: global options, then a subcommand and its own arguments. Nothing else
// lives here: the work happens in app/.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <tunnelmgr/plugin_api.h>

#include "app/app.hpp"
#include "app/commands/commands.hpp"

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
    po::options_description global("Options");
    global.add_options()                                                          //
        ("help,h", "show this help")                                              //
        ("version", "print the version and the plugin API version")               //
        ("config,c", po::value<std::string>(), "config file (default /etc/tunnelmgr/config.yml, else built in)")  //
        ("plugin-dir", po::value<std::vector<std::string>>(), "plugin folder (repeatable; overrides the config)")  //
        ("log-level", po::value<std::string>(), "trace, debug, info, warn, error or off");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())("args", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(global).add(hidden);
    po::positional_options_description pos;
    pos.add("command", 1).add("args", -1);

    tunnelmgr::app::options opts;
    try {
        po::parsed_options parsed = po::command_line_parser(argc, argv)
                                        .options(all)
                                        .positional(pos)
                                        .allow_unregistered()
                                        .run();
        po::variables_map vm;
        po::store(parsed, vm);
        po::notify(vm);
        if (vm.count("help") != 0U) {
            print_help(global);
            return 0;
        }
        if (vm.count("version") != 0U) {
            std::printf("tunnelmgr %s (plugin API %s)\n", TM_VERSION, TM_PLUGIN_API_VERSION_STRING);
            return 0;
        }
        if (vm.count("command") == 0U) {
            print_help(global);
            return 2;
        }
        opts.command = vm["command"].as<std::string>();
        if (vm.count("config") != 0U) opts.config_path = vm["config"].as<std::string>();
        if (vm.count("plugin-dir") != 0U) opts.plugin_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
        if (vm.count("log-level") != 0U) opts.log_level = vm["log-level"].as<std::string>();
        // Everything after the command (positional or not) belongs to the command.
        std::vector<std::string> rest = po::collect_unrecognized(parsed.options, po::include_positional);
        bool seen_command = false;
        for (const auto& a : rest) {
            if (!seen_command && a == opts.command) {
                seen_command = true;
                continue;
            }
            opts.args.push_back(a);
        }
    } catch (const po::error& e) {
        std::fprintf(stderr, "tunnelmgr: %s (see tunnelmgr --help)\n", e.what());
        return 2;
    }
    return tunnelmgr::app::run(std::move(opts));
}
