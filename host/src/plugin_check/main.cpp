// tunnelmgr-plugin-check PLUGIN.so [--config JSON]: loads a plugin through the host's own loader and
// runs the conformance suite of each capability it provides. Exit 0: every rule holds (or nothing to
// check); 1: a rule is broken; 2: usage error, or the loader refused the plugin.
#include <cctype>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "log/logger.hpp"
#include "plugin_check/broken_rules.hpp"
#include "plugin_check/check_context.hpp"

namespace {

namespace check = tunnelmgr::plugin_check;

constexpr int exit_ok = 0, exit_broken = 1, exit_usage = 2;

void print_usage(std::ostream& out) {
    out << "usage: tunnelmgr-plugin-check PLUGIN.so [--config JSON] [--dns-zone NAME] [--allow-restart] [--verbose]\n"
           "                              [--gtest_* flags]\n"
           "\n"
           "Loads PLUGIN.so as tunnelmgr does and checks it against the rules of plugin_api.h, one suite per\n"
           "capability it provides (state_store_v1, tunnel_supervisor_v1, dns_provider_v1).\n"
           "\n"
           "  --config JSON  the plugin's config section as a JSON object; \"{tmpdir}\" in it stands for a fresh\n"
           "                 folder per test. Default: {\"path\": \"{tmpdir}/state.db\"} for a state store whose\n"
           "                 config schema has \"path\", {} otherwise.\n"
           "  --dns-zone NAME  the zone the dns_provider_v1 checks may write in: they create only\n"
           "                 tm-check-*.NAME records and delete only those. Without it those checks skip.\n"
           "  --allow-restart  the config points a tunnel_supervisor_v1 at a cloudflared that may be restarted\n"
           "                 (a stub, a test machine): check that replica_restart(i) restarts replica i only.\n"
           "                 Without it nothing is ever restarted and those checks skip.\n"
           "  --verbose      show the host's and the plugin's log lines (default: warnings only)\n"
           "  --gtest_filter=state_store_v1.lease*   run some checks only; --gtest_list_tests lists them\n"
           "\n"
           "Exit status: 0 every rule holds (or the plugin has nothing to check), 1 a rule is broken,\n"
           "2 usage error or the plugin was refused by the loader.\n";
}

std::string current_filter() {
#ifdef GTEST_FLAG_GET
    return GTEST_FLAG_GET(filter);
#else
    return ::testing::GTEST_FLAG(filter);
#endif
}

void set_filter(const std::string& f) {
#ifdef GTEST_FLAG_SET
    GTEST_FLAG_SET(filter, f);
#else
    ::testing::GTEST_FLAG(filter) = f;
#endif
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            print_usage(std::cout);
            return exit_ok;
        }
    }
    ::testing::InitGoogleTest(&argc, argv);  // takes the --gtest_* flags out of argv

    std::string plugin_path, config, dns_zone;
    bool config_given = false, dns_zone_given = false, verbose = false, allow_restart = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--config" && i + 1 < argc) {
            config = argv[++i];
            config_given = true;
        } else if (arg.rfind("--config=", 0) == 0) {
            config = arg.substr(std::strlen("--config="));
            config_given = true;
        } else if (arg == "--dns-zone" && i + 1 < argc) {
            dns_zone = argv[++i];
            dns_zone_given = true;
        } else if (arg.rfind("--dns-zone=", 0) == 0) {
            dns_zone = arg.substr(std::strlen("--dns-zone="));
            dns_zone_given = true;
        } else if (arg == "--allow-restart") {
            allow_restart = true;
        } else if (arg == "--verbose") {
            verbose = true;
        } else if (!arg.empty() && arg[0] != '-' && plugin_path.empty()) {
            plugin_path = arg;
        } else {
            std::cerr << "tunnelmgr-plugin-check: unexpected argument '" << arg << "'\n";
            print_usage(std::cerr);
            return exit_usage;
        }
    }
    if (plugin_path.empty()) {
        print_usage(std::cerr);
        return exit_usage;
    }
    if (config_given) {
        rapidjson::Document d;
        d.Parse(config.c_str());
        if (d.HasParseError() || !d.IsObject()) {
            std::cerr << "tunnelmgr-plugin-check: --config must be a JSON object such as {\"path\": \"{tmpdir}/state.db\"}\n";
            return exit_usage;
        }
    }
    if (dns_zone_given) {
        while (!dns_zone.empty() && dns_zone.back() == '.') dns_zone.pop_back();
        for (auto& c : dns_zone) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const bool hostname_like =
            dns_zone.find('.') != std::string::npos && dns_zone.front() != '.' &&
            dns_zone.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string::npos;
        if (!hostname_like) {
            std::cerr << "tunnelmgr-plugin-check: --dns-zone must be a zone name such as example.com\n";
            return exit_usage;
        }
    }
    tunnelmgr::log::logger::instance().set_level(verbose ? tunnelmgr::log::level::debug : tunnelmgr::log::level::warn);

    auto lib = tunnelmgr::host::load_library(plugin_path);
    if (!lib) {
        std::cerr << "tunnelmgr-plugin-check: " << lib.error().line() << "\n";
        return exit_usage;
    }
    auto& ctx = check::context();
    ctx.library = *lib;
    ctx.config_given = config_given;
    ctx.config_template = config_given ? config : check::default_config(**lib);
    ctx.dns_zone = dns_zone;
    ctx.allow_restart = allow_restart;

    const auto& l = **lib;
    std::string provides;
    for (const auto& c : l.capability_names()) provides += (provides.empty() ? "" : ", ") + c;
    std::cout << "plugin: " << l.name << " " << l.version << " (requires plugin API " << l.required_api << ")\n"
              << "file: " << l.path.string() << "\n"
              << "provides: " << provides << "\n";

    std::vector<std::string> suites;
    if (l.has_state_store) suites.push_back("state_store_v1");
    if (l.has_supervisor) suites.push_back("tunnel_supervisor_v1");
    if (l.has_dns) suites.push_back("dns_provider_v1");
    if (suites.empty()) {
        std::cout << "nothing to check: tunnelmgr-plugin-check has suites for state_store_v1, tunnel_supervisor_v1 "
                     "and dns_provider_v1, and " << l.name << " provides none of them\n";
        return exit_ok;
    }
    std::string names;
    for (const auto& s : suites) names += (names.empty() ? "" : ", ") + s;
    std::cout << "config: " << ctx.config_template << (config_given ? "" : " (default)") << "\n"
              << (l.has_dns ? "dns zone: " + (dns_zone.empty() ? std::string("(none: give --dns-zone NAME to run the "
                                                                               "dns_provider_v1 checks)")
                                                                  : dns_zone) + "\n"
                            : std::string())
              << "checking: " << names << "\n"
              << std::flush;

    if (current_filter() == "*") {
        std::string filter;
        for (const auto& s : suites) {
            // state_store_v1_audit and state_store_v1_health belong to the state_store_v1 suite.
            filter += (filter.empty() ? "" : ":") + s + "*";
        }
        set_filter(filter);
    }

    auto* listener = new check::broken_rules_listener;  // owned by gtest once appended
    ::testing::UnitTest::GetInstance()->listeners().Append(listener);
    const int gtest_rc = RUN_ALL_TESTS();
#ifdef GTEST_FLAG_GET
    if (GTEST_FLAG_GET(list_tests)) return gtest_rc;
#else
    if (::testing::GTEST_FLAG(list_tests)) return gtest_rc;
#endif

    const auto* unit = ::testing::UnitTest::GetInstance();
    std::cout << "\n" << l.name << ": " << unit->successful_test_count() << " checks passed, "
              << unit->failed_test_count() << " failed, " << unit->skipped_test_count() << " skipped\n";
    if (!listener->rules().empty()) {
        std::cout << "broken rules:\n";
        for (const auto& r : listener->rules()) std::cout << "  - " << r << "\n";
        return exit_broken;
    }
    return gtest_rc == 0 ? exit_ok : exit_broken;
}
