// The CNAME lifecycle as a journaled saga: each request is an operation row that moves
// validated → dns_created → ingress_written → applied → committed (deletes: validated →
// ingress_removed → applied → dns_deleted → committed), persisted before each next step. A failing
// create undoes what it did; anything left mid-way by a crash is finished or undone by recover().
// Each kind is a table of steps (do, undo, what a failure means) run by one loop; see the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <tunnelmgr/sdk/model.hpp>

#include "common/port_range.hpp"
#include "core/dns_provider.hpp"
#include "core/hostname.hpp"
#include "core/ingress_strategy.hpp"
#include "core/observer.hpp"
#include "core/origin_settings.hpp"
#include "core/operation.hpp"
#include "core/result.hpp"
#include "core/session.hpp"
#include "core/state_store.hpp"
#include "core/target.hpp"

namespace tunnelmgr::core {

struct pipeline_settings {
    std::string tunnel_id;       // the CNAME points at <tunnel_id>.cfargotunnel.com
    std::string default_domain;  // used when a request names no domain
    std::map<std::string, std::vector<port_range>> project_ports;
    // Hostnames a project may hold at once (0: none); a project not named here has no quota.
    std::map<std::string, int64_t> max_hostnames;
    // A domain that is not a known zone refreshes the zone list from the provider at most this often.
    std::chrono::steady_clock::duration zone_refresh_interval = std::chrono::minutes(1);
    // The zones and name rule of each project (projects.P.domains, .names); a project not named here
    // may publish any label in the default domain only.
    std::map<std::string, project_scope> project_scopes;
    // Labels only the admin may publish (reserved_labels); none unless set.
    std::set<std::string> reserved_labels;
    // This machine, when several share the state store (config::machine_of). A row of another machine
    // is changed only there: here it is marked to expire now, for that machine's daemon to remove.
    std::string machine;
    // The other machines each project may hand its names' removal to (projects.P.machines).
    std::map<std::string, std::set<std::string>> project_machines;
    // The config names a dns slot, though this run may not have started it: `cname check` of a domain
    // the state knows as a zone needs no DNS plugin (app/select_command.cpp), so it does not load one.
    bool dns_configured = false;
};

struct cname_request {
    std::string subdomain;
    std::string domain;   // empty: the default domain
    std::string project;  // empty: the session's project (required for the admin)
    int64_t port = 0;
    origin_settings origin;          // the rule's own originRequest; empty: none
    std::chrono::seconds ttl{0};     // the name is removed this long after it is published; 0: never
};

// A new service for a published name, its DNS record untouched (blue → green). Give a port of the
// project (its target chosen as for a new name) or, admin only, a target URL; `origin` replaces the
// rule's originRequest when given (empty: none), else it is kept. Origin settings alone may change.
struct retarget_request {
    std::string hostname;
    int64_t port = 0;    // 0: not given
    std::string target;  // "": not given
    std::optional<origin_settings> origin;
};

// How long a name may be published for with a ttl.
inline constexpr std::chrono::seconds min_ttl{60};
inline constexpr std::chrono::seconds max_ttl{std::chrono::hours(24 * 365)};

// A ttl as people write it: "90m", "2h", "7d", "1h30m" (units s, m, h, d), or whole seconds ("3600").
// Out of [min_ttl, max_ttl] or malformed: a sentence with an example.
result<std::chrono::seconds> parse_ttl(std::string_view text);

// Called as each step completes: (step name, steps done, steps in all).
using progress_fn = std::function<void(const std::string& step, int done, int total)>;

class cname_pipeline {
public:
    // dns and ingress may be null (slot not configured): requests then fail with the fix.
    cname_pipeline(state_store& state, dns_provider* dns, ingress_strategy* ingress, target_selector& targets,
                   pipeline_settings settings);

    // On success, a JSON object: hostname, url, ingress_target, target_type, container_name,
    // docker_network, project, port, dns_record_id, apply (a sentence), operation_id.
    result<std::string> request_cname(const session& who, const cname_request& req, const progress_fn& progress = {});
    // On success: {"hostname","deleted":true,"apply":...}. `reason` goes into the audit row's details
    // (the expiry pass says "expired").
    result<std::string> delete_cname(const session& who, const std::string& hostname, const progress_fn& progress = {},
                                     const std::string& reason = "");
    // True when `row` is served by this machine (a store of one machine leaves rows without one).
    bool ours(const sdk::model::cname_row& row) const {
        return !row.machine || row.machine->empty() || *row.machine == settings_.machine;
    }
    // On success: {"hostname","changed","ingress_target","previous_target","target_type","container_name",
    // "docker_network","port","origin_request","apply","operation_id"}. A failure puts the old service back.
    result<std::string> retarget_cname(const session& who, const retarget_request& req, const progress_fn& progress = {});
    // Up to `limit` names whose expiry has passed at `now_ms`, removed one by one through the pipeline
    // as the admin "expiry" would; returns how many went. A name that cannot go now stays for the next pass.
    result<int> remove_expired(int64_t now_ms, int64_t limit = 100);
    // A project sees its own rows only; the admin sees all, or one project's with `project`. One page,
    // ordered by hostname, starting after the hostname `after` (keyset: the previous page's next_after)
    // or at row `offset` (not both): {"cnames":[...],"count":rows here,"total":all rows,"limit",
    // "offset":N|null (null with `after`),"next_offset":N|null,"next_after":hostname|null}; the next_*
    // are null on the last page, and next_offset also with `after` (a keyset page knows no position).
    result<std::string> list_cnames(const session& who, const std::string& project = "", int64_t limit = 100,
                                    std::optional<int64_t> offset = std::nullopt,
                                    const std::optional<std::string>& after = std::nullopt);
    // How many hostnames the session can see (or one project's, for the admin).
    result<int64_t> count_cnames(const session& who, const std::string& project = "");
    // Zones known to the state store; refreshed from the DNS provider when asked or when none are known.
    result<std::string> list_domains(bool refresh);
    // Finishes or rolls back every unfinished operation; returns how many it settled.
    result<int> recover();

    // The marker kept in a record's private comment: tunnelmgr:<project>.
    static std::string ownership_marker(const std::string& project) { return "tunnelmgr:" + project; }

    // The dry run: what request_cname would choose, or why it would refuse; changes nothing.
    // {"hostname","available",("problem","code") | ("ingress_target","target_type",...)}.
    result<std::string> check_target(const session& who, const cname_request& req);

    // Who hears of step durations and failures (the metrics); nobody by default.
    void observe_with(core_observer& o) { observer_ = &o; }
    // The time the zone-refresh limit is measured in (tests bring their own; set before any call).
    using clock_fn = std::function<std::chrono::steady_clock::time_point()>;
    void use_clock(clock_fn clock) { clock_ = std::move(clock); }

private:
    class step_runner;    // runs a kind's table of steps over one operation (cname_pipeline.cpp)
    struct step_failure;  // where and why a run stopped, and whether its undo failed too
    struct validated {
        std::string project, label, domain, host, zone;
        target tgt;
    };
    result<validated> validate(const session& who, const cname_request& req, std::string& shown);
    result<std::string> zone_of(const std::string& domain);
    // The zone id of `domain` among the zones the state store knows; nullopt when it is not one.
    result<std::optional<std::string>> known_zone(const std::string& domain);
    // Fetches the zone list from the provider into the state store; zones_mutex_ is held.
    result<void> fetch_zones_locked();
    // Refuses (conflict) when `project` holds its max_hostnames already. `reserved_by`: the id of the
    // operation that reserved the new name; creates of the project begun before it count as held.
    result<void> within_quota(const std::string& project, std::optional<int64_t> reserved_by);
    // Journals a new operation (the name is reserved from here on), in state `validated`.
    // Refuses (conflict) when `host` is already published, saying by whom as far as `who` may know.
    result<void> routed_elsewhere(const std::string& host);
    result<void> already_published(const session& who, const std::string& host, const std::string& project);
    result<operation> begin_operation(op_kind kind, const std::string& host, const std::string& project,
                                      const std::string& request_json);
    result<std::string> create_failed(const session& who, const cname_request& req, const operation& o,
                                      const step_failure& f);
    // Another machine's name: marked to expire now, for its own machine's daemon to remove.
    result<std::string> hand_over_removal(const session& who, const sdk::model::cname_row& row);
    result<sdk::model::cname_row> cname_to_delete(const session& who, const std::string& hostname);
    // Refuses a port outside `project`'s ranges, saying which ranges it has.
    result<void> port_of_project(const std::string& project, int64_t port);
    // Refuses ttl and origin settings when the state store would drop them (a plugin before API 1.3).
    result<void> store_keeps(const char* what);
    // recover() for one operation: true when it was settled (finished or rolled back).
    bool settle(operation& o);
    // Whether a live process (another, or a thread of this one) is running operation `o`.
    bool running_elsewhere(const operation& o);
    result<bool> still_in_place(const operation& o);
    void audit(const session& who, const std::string& action, const std::string& target, const std::string& project,
               const std::string& outcome, const std::string& error, const std::string& details_json);

    state_store& state_;
    dns_provider* dns_;
    ingress_strategy* ingress_;
    target_selector& targets_;
    pipeline_settings settings_;
    std::string crash_after_;  // test hook: TUNNELMGR_TEST_CRASH_AFTER=<kind>:<step>
    core_observer* observer_ = &no_observer();
    clock_fn clock_ = [] { return std::chrono::steady_clock::now(); };
    // One zone fetch at a time; when the last one was tried, and why it failed ("" when it did not).
    std::mutex zones_mutex_;
    // Operations this process is running now: recover() (the daemon runs it at every lease renewal,
    // while changes are in flight — some waiting for a batched apply) leaves them to their thread.
    std::mutex live_mutex_;
    // One recovery pass at a time in this process; across processes (sharing the store), the lease
    // `recovery_lease` while a pass settles anything.
    std::mutex recover_mutex_;
    std::set<int64_t> live_;
    struct live_operation {
        cname_pipeline& p;
        int64_t id;
        live_operation(cname_pipeline& pipeline, int64_t op) : p(pipeline), id(op) {
            std::lock_guard<std::mutex> l(p.live_mutex_);
            p.live_.insert(id);
        }
        ~live_operation() {
            std::lock_guard<std::mutex> l(p.live_mutex_);
            p.live_.erase(id);
        }
    };
    std::optional<std::chrono::steady_clock::time_point> zones_fetched_at_;
    std::string zones_fetch_error_;
};

}  // namespace tunnelmgr::core
