// `tunnelmgr state`: open the state store (applying migrations) and show what it holds.
#include <iostream>

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "app/commands/commands.hpp"

namespace tunnelmgr::app {

run_result cmd_state(app_state& s) {
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
