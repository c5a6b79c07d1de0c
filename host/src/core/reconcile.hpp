// Drift between what tunnelmgr published (the state's rows) and what Cloudflare and cloudflared hold
// now (our marked DNS records, the ingress rules), found by comparing them, and the two safe repairs.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/dns_provider.hpp"
#include "core/ingress_strategy.hpp"
#include "core/observer.hpp"
#include "core/result.hpp"
#include "core/session.hpp"
#include "core/state_store.hpp"

namespace tunnelmgr::core {

enum class drift_class {
    record_missing,   // our row, no DNS record
    record_changed,   // the record's content/proxied (or owner) is not what we made
    rule_missing,     // our row, no ingress rule
    rule_changed,     // the rule routes elsewhere: a hand edit, never overwritten
    orphan_record,    // a record with our marker and no row
    project_removed,  // a row of a project that is no longer in the config
    target_moved,     // the Docker topology now sends the project's port elsewhere (container moved
                      // network, stopped, or gone): reported, with the target it would get now
};
// Every class, in a fixed order (metrics show each, 0 when none).
inline constexpr drift_class k_drift_classes[] = {
    drift_class::record_missing, drift_class::record_changed, drift_class::rule_missing, drift_class::rule_changed,
    drift_class::orphan_record,  drift_class::project_removed, drift_class::target_moved};
const char* drift_class_name(drift_class c);

struct drift_finding {
    drift_class kind = drift_class::record_missing;
    std::string hostname;
    std::string project;
    std::string expected;  // what tunnelmgr made (service, record content); "" when nothing
    std::string found;     // what is there now; "" when nothing
    std::string detail;    // a sentence: what differs and what to do
    // record_missing, record_changed (a record still ours) and rule_missing: `repair` restores them.
    bool repairable = false;
    // "report" (left as it is), "would repair" (dry run), "repaired", "repair failed".
    std::string action = "report";
    std::string repair_error;
};

enum class repair_policy { report, repair };

struct reconcile_settings {
    std::string tunnel_id;           // our records point at <tunnel_id>.cfargotunnel.com
    // This machine: rows another machine serves (a shared store) are that machine's to compare.
    std::string machine;
    std::set<std::string> projects;  // the config's projects; rows of any other are project_removed
    repair_policy policy = repair_policy::report;
    // The Docker topology now (container_runtime_v1.snapshot's JSON); unset when no runtime is
    // configured: then targets are not compared.
    std::function<result<std::string>()> topology;
};

struct reconcile_report {
    std::vector<drift_finding> findings;
    // What this run could not check (a slot missing, Cloudflare unreachable, ...): then "no
    // drift" is not known.
    std::vector<std::string> problems;
    // What the run did not cover by design, one sentence each (e.g. names skipped mid-operation).
    std::vector<std::string> notes;
    std::string apply_note;  // after rules were restored: what apply() said

    // True when a finding was not repaired (report-only classes, a report policy, a failed repair).
    bool drift_remains() const;
    // {"drift":bool,"policy","dry_run","findings":[{"class","hostname","project","expected","found",
    //  "detail","repairable","action","repair_error"?}],"problems":[...],"notes":[...],"apply"?}
    std::string to_json(repair_policy policy, bool dry_run) const;
};

class reconciler {
public:
    // dns / ingress may be null (slot not configured): their checks are skipped, named in problems.
    reconciler(state_store& state, dns_provider* dns, ingress_strategy* ingress, reconcile_settings settings);
    // Told each run's outcome (findings per class, repairs made and failed).
    void observe_with(core_observer& o) { observer_ = &o; }

    // Compares, changes nothing.
    result<reconcile_report> detect();
    // detect(), then (unless dry_run, and only with policy `repair`) restores missing or changed
    // records and missing rules, each audited as `who` (action reconcile.repair). Never touches a
    // changed rule, an orphan or a removed project's names, nor anything without our marker.
    result<reconcile_report> run(const session& who, bool dry_run);

private:
    void check_row(const sdk::model::cname_row& row, const std::vector<ingress_rule>* rules,
                   const std::map<std::string, std::string>* origins, reconcile_report& out);
    void check_target(const sdk::model::cname_row& row, const std::string& snapshot_json, reconcile_report& out);
    void report_to_observer(const reconcile_report& out) const;
    void find_orphans(const std::set<std::string>& known, const std::vector<ingress_rule>* rules, reconcile_report& out);
    // The zone id of `host` among the zones the state store knows, "" when none.
    std::string zone_for(const std::string& host);
    result<void> repair_record(const sdk::model::cname_row& row, const drift_finding& f);
    std::string record_content() const { return settings_.tunnel_id + ".cfargotunnel.com"; }

    state_store& state_;
    dns_provider* dns_;
    ingress_strategy* ingress_;
    reconcile_settings settings_;
    std::vector<sdk::model::zone> zones_;
    std::vector<sdk::model::cname_row> rows_;  // as read by the last detect()
    core_observer* observer_ = &no_observer();
};

}  // namespace tunnelmgr::core
