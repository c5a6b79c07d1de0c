// `tunnelmgr plugins`: what is in the plugin folders, what each provides, and why any was refused.
#include <cstdio>
#include <iostream>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "app/commands/commands.hpp"

namespace tunnelmgr::app {

namespace {

// The slot the config gives this plugin, or "".
std::string slot_for(const config::config& cfg, const std::string& name) {
    for (const auto& [slot, sc] : cfg.slots) {
        if (sc.plugin == name) return slot;
    }
    return "";
}

}  // namespace

run_result cmd_plugins(app_state& s) {
    std::string bad;
    bool json = wants_json(s, bad);
    if (!bad.empty()) return run_result::fatal("plugins: unknown argument '" + bad + "' (only --json)", 2);
    auto scan = host::scan_plugin_dirs(s.cfg.plugin_dirs);

    if (json) {
        rapidjson::StringBuffer buf;
        rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("host_api_version");
        w.String(TM_PLUGIN_API_VERSION_STRING);
        w.Key("plugin_dirs");
        w.StartArray();
        for (const auto& d : s.cfg.plugin_dirs) w.String(d.c_str());
        w.EndArray();
        w.Key("plugins");
        w.StartArray();
        for (const auto& lib : scan.loaded) {
            w.StartObject();
            w.Key("name");
            w.String(lib->name.c_str());
            w.Key("version");
            w.String(lib->version.c_str());
            w.Key("required_api_version");
            w.String(lib->required_api.c_str());
            w.Key("capabilities");
            w.StartArray();
            for (const auto& c : lib->capability_names()) w.String(c.c_str());
            w.EndArray();
            w.Key("slot");
            std::string slot = lib->shadowed_by.empty() ? slot_for(s.cfg, lib->name) : std::string();
            if (slot.empty()) {
                w.Null();
            } else {
                w.String(slot.c_str());
            }
            w.Key("file");
            w.String(lib->path.string().c_str());
            w.Key("shadowed_by");
            if (lib->shadowed_by.empty()) {
                w.Null();
            } else {
                w.String(lib->shadowed_by.string().c_str());
            }
            w.EndObject();
        }
        w.EndArray();
        w.Key("refused");
        w.StartArray();
        for (const auto& r : scan.refused) {
            w.StartObject();
            w.Key("file");
            w.String(r.path.string().c_str());
            w.Key("reason");
            w.String(r.reason.c_str());
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        std::cout << buf.GetString() << "\n";
        return run_result::proceed();
    }

    std::printf("tunnelmgr plugin API %s; plugin folders:", TM_PLUGIN_API_VERSION_STRING);
    for (const auto& d : s.cfg.plugin_dirs) std::printf(" %s", d.c_str());
    std::printf("\n\n%-22s %-9s %-7s %-12s %s\n", "PLUGIN", "VERSION", "ABI", "SLOT", "CAPABILITIES");
    for (const auto& lib : scan.loaded) {
        std::string caps;
        for (const auto& c : lib->capability_names()) caps += (caps.empty() ? "" : ", ") + c;
        std::string slot = lib->shadowed_by.empty() ? slot_for(s.cfg, lib->name) : std::string();
        std::printf("%-22s %-9s %-7s %-12s %s\n", lib->name.c_str(), lib->version.c_str(), lib->required_api.c_str(),
                    slot.empty() ? "-" : slot.c_str(), caps.c_str());
        if (!lib->shadowed_by.empty()) {
            std::printf("%-22s not used: %s comes first in the plugin folders\n", "", lib->shadowed_by.string().c_str());
        }
    }
    if (scan.loaded.empty()) std::printf("(none)\n");
    if (!scan.refused.empty()) {
        std::printf("\nrefused:\n");
        for (const auto& r : scan.refused) std::printf("  %s\n", r.line().c_str());
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
