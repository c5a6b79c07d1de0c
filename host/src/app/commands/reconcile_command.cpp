// `tunnelmgr reconcile [--dry-run] [--json]`: the drift between the state, our DNS records, the
// ingress rules and the Docker topology, and (policy reconcile.repair: repair, not --dry-run) the safe
// repairs. One host call, reconcile.run: through the daemon when one answers (so it waits for the
// change in progress, like every writer), else in-process. Exit 0 when no drift remains, 1 when some
// does, 5 when none was found but a check could not run.
#include <cstdio>
#include <iostream>

#include "app/commands/commands.hpp"
#include "common/terminal_text.hpp"
#include "core/json.hpp"

namespace tunnelmgr::app {

run_result cmd_reconcile(app_state& s) {
    bool dry_run = false, json = false;
    for (const auto& a : s.opts.args) {
        if (a == "--dry-run") {
            dry_run = true;
        } else if (a == "--json") {
            json = true;
        } else {
            return run_result::fatal("reconcile: unknown argument '" + a + "' (use --dry-run, --json)", 2);
        }
    }
    if (!s.api && (!s.core || !s.state)) return run_result::fatal("reconcile needs the state and the core", 2);
    core::json::object args;
    args.set("dryRun", dry_run);
    auto answer = admin_call(s, "reconcile.run", args, false);
    if (!answer) return run_result::fatal("reconcile: " + answer.error().message, 5);
    auto doc = core::json::parse(*answer);
    if (!doc || !doc->IsObject() || !doc->HasMember("findings") || !(*doc)["findings"].IsArray()) {
        return run_result::fatal("reconcile: the answer was not a reconcile report", 5);
    }
    const auto& report = *doc;
    const bool drift = core::json::boolean(report, "drift", false);
    const bool problems = report.HasMember("problems") && report["problems"].IsArray() && !report["problems"].Empty();

    if (json) {
        std::cout << *answer << "\n";
    } else {
        const auto& findings = report["findings"].GetArray();
        if (findings.Empty()) std::cout << "no drift: every published name has its record, its rule and its target\n";
        for (const auto& f : findings) {
            std::cout << printable(core::json::str(f, "class")) << "  " << printable(core::json::str(f, "hostname"))
                      << "  [" << printable(core::json::str(f, "action")) << "]\n    "
                      << printable(core::json::str(f, "detail")) << "\n";
            std::string err = core::json::str(f, "repair_error");
            if (!err.empty()) std::cout << "    repair failed: " << printable(err) << "\n";
        }
        std::string applied = core::json::str(report, "apply");
        if (!applied.empty()) std::cout << printable(applied) << "\n";
        for (const char* key : {"problems", "notes"}) {
            if (!report.HasMember(key) || !report[key].IsArray()) continue;
            for (const auto& p : report[key].GetArray()) {
                if (!p.IsString()) continue;
                std::cout << (key[0] == 'p' ? "not checked: " : "note: ") << printable(p.GetString()) << "\n";
            }
        }
        if (core::json::str(report, "policy") == "report" && drift) {
            std::cout << "reconcile.repair is `report`: nothing was changed (set it to `repair` to restore missing "
                         "records and rules)\n";
        }
    }
    if (drift) {
        s.exit_code = 1;
    } else if (problems) {
        s.exit_code = 5;
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
