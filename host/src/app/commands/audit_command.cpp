// `tunnelmgr audit [--project P] [--action A] [--limit N] [--json]`: the audit log, newest first.
#include <cstdio>
#include <ctime>
#include <iostream>

#include "app/commands/commands.hpp"
#include "common/terminal_text.hpp"
#include "core/json.hpp"

namespace tunnelmgr::app {

run_result cmd_audit(app_state& s) {
    core::json::object filter;
    bool json = false;
    const auto& a = s.opts.args;
    for (size_t i = 0; i < a.size(); ++i) {
        auto value = [&]() -> std::optional<std::string> {  // the argument after a[i], consumed
            if (i + 1 >= a.size()) return std::nullopt;
            return a[++i];
        };
        if (a[i] == "--json") {
            json = true;
        } else if (a[i] == "--project" || a[i] == "--action") {
            auto v = value();
            if (!v) return run_result::fatal("audit: " + a[i] + " needs a value", 2);
            filter.set(a[i] == "--project" ? "project" : "action", *v);
        } else if (a[i] == "--limit") {
            auto v = value();
            if (!v || v->empty() || v->find_first_not_of("0123456789") != std::string::npos || v->size() > 6) {
                return run_result::fatal("audit: --limit needs a whole number", 2);
            }
            filter.set("limit", static_cast<int64_t>(std::stoll(*v)));
        } else {
            return run_result::fatal("audit: unknown argument '" + a[i] + "' (use --project, --action, --limit, --json)", 2);
        }
    }
    auto rows = s.state->audit_query(filter.str());
    if (!rows) return run_result::fatal("audit: " + rows.error().message, 3);
    if (json) {
        std::cout << *rows << "\n";
        return run_result::proceed();
    }
    auto doc = core::json::parse(*rows);
    if (doc && doc->IsArray()) {
        for (const auto& r : doc->GetArray()) {
            std::string err = core::json::str(r, "error");
            // A state shared by several machines says which one wrote the entry.
            if (const std::string m = core::json::str(r, "machine"); !m.empty()) std::printf("%-12s ", printable(m).c_str());
            std::time_t secs = static_cast<std::time_t>(core::json::i64(r, "ts") / 1000);
            std::tm tm{};
            gmtime_r(&secs, &tm);
            char when[32];
            std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            // Every field may hold what a client typed: shown, never interpreted by the terminal.
            std::printf("%s  %-16s %-14s %-32s %-8s %s\n", when, printable(core::json::str(r, "actor")).c_str(),
                        printable(core::json::str(r, "action")).c_str(), printable(core::json::str(r, "target")).c_str(),
                        printable(core::json::str(r, "result")).c_str(), printable(err).c_str());
        }
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
