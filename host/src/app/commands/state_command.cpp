// `tunnelmgr state`: open the state store (applying migrations) and show what it holds.
#include <iostream>

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "app/commands/commands.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"
#include "service/state_copy.hpp"

namespace tunnelmgr::app {

namespace {

// `tunnelmgr state copy --to CONFIG [--machine NAME] [--json]`: this config's state into the (empty)
// state store that CONFIG names, verified row by row. Rows that name no machine (a one-machine store's)
// are given --machine, by default this machine's name (the state section's `machine`, else the host name). Exit 0 copied and verified, 2 bad arguments or config, 4 refused
// (unfinished operation, destination not empty), 3 the copy or its verification failed.
run_result state_copy(app_state& s) {
    const char* usage = "usage: tunnelmgr state copy --to CONFIG [--machine NAME] [--json]";
    std::string to;
    // The machine the source's rows belong to when they name none (a one-machine SQLite state).
    std::string machine = s.cfg.machine;
    bool json = false;
    const auto& a = s.opts.args;
    for (size_t i = 1; i < a.size(); ++i) {
        if (a[i] == "--json") {
            json = true;
        } else if (a[i] == "--to" && i + 1 < a.size()) {
            to = a[++i];
        } else if (a[i].rfind("--to=", 0) == 0) {
            to = a[i].substr(5);
        } else if (a[i] == "--machine" && i + 1 < a.size() && !a[i + 1].empty()) {
            machine = a[++i];
        } else {
            return run_result::fatal(std::string("state copy: unexpected '") + a[i] + "'; " + usage, 2);
        }
    }
    if (to.empty()) return run_result::fatal(std::string("state copy: name the destination's config with --to; ") + usage, 2);
    auto dst_cfg = config::load_file(to);
    if (!dst_cfg) return run_result::fatal("state copy: " + dst_cfg.error(), 2);
    const config::slot* dst_slot = dst_cfg->find_slot("state");
    const config::slot* src_slot = s.cfg.find_slot("state");
    if (dst_slot == nullptr) {
        return run_result::fatal("state copy: " + to + " names no state store: add a `state: { plugin: NAME, ... }` section", 2);
    }
    if (src_slot != nullptr && dst_slot->plugin == src_slot->plugin && dst_slot->config_json == src_slot->config_json) {
        return run_result::fatal("state copy: " + to + " names the same state store as " + s.cfg.source +
                                     ": give the config of the store to copy into", 2);
    }
    host::registry dst_plugins(s.services);
    if (auto started = dst_plugins.start_slot("state", slot_as_started(*dst_cfg, "state"), dst_cfg->plugin_dirs); !started) {
        return run_result::fatal("state copy: cannot open the destination store: " + started.error(), 3);
    }
    host::state_store_client dst(*dst_plugins.find("state"));
    auto copied = service::copy_state(*s.state, dst, machine);
    if (!copied) {
        const int code = copied.error().code == core::errc::conflict ? 4 : 3;
        return run_result::fatal("state copy: " + copied.error().message, code);
    }
    if (json) {
        std::cout << copied->to_json() << "\n";
    } else {
        std::cout << "copied " << copied->cnames << " names, " << copied->audit << " audit entries, " << copied->health
                  << " health samples and " << copied->zones << " zones from " << src_slot->plugin << " (" << s.cfg.source
                  << ") to " << dst_slot->plugin << " (" << to << "), and verified them row by row.\n"
                  << "Next: point tunnelmgr at the new store (copy its `state:` section into " << s.cfg.source
                  << ") and restart the daemon.\n";
    }
    return run_result::proceed();
}

}  // namespace

run_result cmd_state(app_state& s) {
    if (!s.opts.args.empty() && s.opts.args.front() == "copy") return state_copy(s);
    std::string bad;
    bool json = wants_json(s, bad);
    if (!bad.empty()) return run_result::fatal("state: unknown argument '" + bad + "' (only --json)", 2);
    auto stats = s.state->stats();
    if (!stats) return run_result::fatal("state: " + stats.error().message, 3);
    rapidjson::Document d;
    d.Parse(stats->c_str());
    if (d.HasParseError() || !d.IsObject()) {
        return run_result::fatal("state: the state plugin returned malformed stats; report this as a plugin bug", 3);
    }
    if (json) {
        rapidjson::StringBuffer buf;
        rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
        d.Accept(w);
        std::cout << buf.GetString() << "\n";
        return run_result::proceed();
    }
    const auto* plugin = s.plugins->find("state");
    std::cout << "state store: " << plugin->library().name << " " << plugin->library().version << " (config "
              << s.cfg.source << ")\n";
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
        std::cout << "  " << it->name.GetString() << ": ";
        if (it->value.IsString()) {
            std::cout << it->value.GetString();
        } else if (it->value.IsInt64()) {
            std::cout << it->value.GetInt64();
        } else if (it->value.IsNumber()) {
            std::cout << it->value.GetDouble();
        } else if (it->value.IsBool()) {
            std::cout << (it->value.GetBool() ? "true" : "false");
        } else {
            rapidjson::StringBuffer buf;
            rapidjson::Writer<rapidjson::StringBuffer> w(buf);
            it->value.Accept(w);
            std::cout << buf.GetString();
        }
        std::cout << "\n";
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
