// `tunnelmgr reconcile [--dry-run] [--json]`: the drift between the state, our DNS records and the
// ingress rules, and (policy reconcile.repair: repair, not --dry-run) the safe repairs. Exit 0 when
// no drift remains, 1 when some does, 5 when none was found but a check could not run. In-process
// only: it is not a host call of the daemon's table yet.
#include <cstdio>
#include <iostream>

#include "app/commands/commands.hpp"
#include "common/terminal_text.hpp"
#include "core/json.hpp"
#include "core/reconcile.hpp"
#include "service/core_services.hpp"

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
    if (!s.core || !s.state) return run_result::fatal("reconcile needs the state and the core", 2);
    core::reconcile_settings settings;
    settings.tunnel_id = s.cfg.tunnel.id;
    for (const auto& [name, p] : s.cfg.projects) settings.projects.insert(name);
    settings.policy = s.cfg.reconcile.repair == "repair" ? core::repair_policy::repair : core::repair_policy::report;
    // The DNS slot's client is the same one the pipeline uses (a daemon may run: its writes and
    // ours meet at Cloudflare's and the ingress file's own locks).
    core::reconciler rec(*s.state, s.core->dns.get(), s.core->ingress.get(), settings);
    auto report = rec.run(core::session::admin_session("cli"), dry_run);
    if (!report) return run_result::fatal("reconcile: " + report.error().message, 5);

    if (json) {
        std::cout << report->to_json(settings.policy, dry_run) << "\n";
    } else {
        if (report->findings.empty()) std::cout << "no drift: every published name has its record and its rule\n";
        for (const auto& f : report->findings) {
            std::cout << printable(core::drift_class_name(f.kind)) << "  " << printable(f.hostname) << "  ["
                      << printable(f.action) << "]\n    " << printable(f.detail) << "\n";
            if (!f.repair_error.empty()) std::cout << "    repair failed: " << printable(f.repair_error) << "\n";
        }
        if (!report->apply_note.empty()) std::cout << printable(report->apply_note) << "\n";
        for (const auto& p : report->problems) std::cout << "not checked: " << printable(p) << "\n";
        for (const auto& n : report->notes) std::cout << "note: " << printable(n) << "\n";
        if (settings.policy == core::repair_policy::report && report->drift_remains()) {
            std::cout << "reconcile.repair is `report`: nothing was changed (set it to `repair` to restore missing "
                         "records and rules)\n";
        }
    }
    if (report->drift_remains()) {
        s.exit_code = 1;
    } else if (!report->problems.empty()) {
        s.exit_code = 5;
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
