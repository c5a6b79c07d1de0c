// How an ingress change reaches cloudflared: `local` edits config.yml and restarts cloudflared
// (it has no reload); `remote` PUTs the whole ingress to the Cloudflare API, applied live.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dns_provider.hpp"
#include "core/ingress_file.hpp"
#include "core/result.hpp"
#include "core/tunnel_supervisor.hpp"

namespace tunnelmgr::core {

// What one answer of cloudflared's GET /ready says: how many edge connections are ready, and which
// process answered (cloudflared draws a fresh connectorId at each start; "" when it names none).
struct ready_answer {
    int connections = 0;
    std::string connector_id;
};

// Asks cloudflared's metrics server how many edge connections are ready (GET /ready).
class ready_probe {
public:
    virtual ~ready_probe() = default;
    virtual result<int> ready_connections() = 0;
    // The whole answer; a probe that cannot tell instances apart reports no connector id.
    virtual result<ready_answer> ready() {
        auto n = ready_connections();
        if (!n) return tl::unexpected(n.error());
        return ready_answer{*n, {}};
    }
};

// Where one hostname's rule sends its requests: the service, and the rule's own originRequest settings
// (origin_settings::to_json(), cloudflared's JSON form; "" for none).
struct rule_target {
    std::string service;
    std::string origin_request;
    bool operator==(const rule_target&) const = default;
};

class ingress_strategy {
public:
    virtual ~ingress_strategy() = default;
    // Adds hostname → target; false when it was already there.
    virtual result<bool> add(const std::string& hostname, const rule_target& to, const std::string& why) = 0;
    result<bool> add(const std::string& hostname, const std::string& service, const std::string& why) {
        return add(hostname, rule_target{service, ""}, why);
    }
    // Points hostname's own rule (no path) at `to` where it stands; returns what it pointed at before
    // (the same when it already pointed at `to`). not_found when hostname has no rule.
    virtual result<rule_target> replace(const std::string& hostname, const rule_target& to, const std::string& why) {
        (void)hostname, (void)to, (void)why;
        return fail(errc::invalid, "this ingress strategy cannot change a rule in place");
    }
    // Removes hostname's rule; the service it had, or nullopt when there was none.
    virtual result<std::optional<std::string>> remove(const std::string& hostname, const std::string& why) = 0;
    // Makes cloudflared use the current rules; returns a sentence for the user.
    virtual result<std::string> apply() = 0;
    // The last git backup problem (local only), "" when none; reported in the audit log.
    virtual std::string take_backup_error() { return ""; }
    // A long-running process (the daemon): the git history is written after each change returns,
    // by a worker, several changes to a commit (local only). take_backup_error then stays "" and
    // a failure is logged instead.
    virtual void write_history_after_reply() {}
    // Waits until the history holds every change so far; its last failure, "" for none.
    virtual std::string flush_history() { return ""; }
    // Whether add/remove could write now, checked without changing anything (local: the file
    // exists, parses, passes cloudflared's rules and can be replaced keeping its owner, group and
    // mode). Asked before anything public (a DNS record) is created.
    virtual result<void> check_editable() { return {}; }
    // The rules cloudflared is given now (local: the file, checked as cloudflared would; remote: the
    // tunnel's stored configuration), in order, catch-all included. Read-only: reconcile compares them
    // with the state. A strategy that cannot tell says so (errc::invalid).
    virtual result<std::vector<ingress_rule>> list_rules() {
        return fail(errc::invalid, "this ingress strategy cannot list its rules");
    }
    // The originRequest of each rule for one exact name (no path), by folded hostname: origin_settings
    // JSON, "" for none, or "unmanaged: WHY" when it holds what tunnelmgr does not set per name.
    // Read-only, for reconcile; a strategy that cannot tell says so (errc::invalid).
    virtual result<std::map<std::string, std::string>> list_rule_origins() {
        return fail(errc::invalid, "this ingress strategy cannot list its rules' origin settings");
    }
};

struct apply_timing {
    std::chrono::milliseconds ready_timeout{60000};
    std::chrono::milliseconds poll_every{250};
    std::function<void(std::chrono::milliseconds)> sleep;  // injected; tests pass a fake
    // Counts the applies restarting cloudflared now (restart issued, new instance not yet ready); the
    // health loop reads it and leaves a process mid-restart to the apply. Null: nobody counts.
    std::atomic<int>* restarting = nullptr;
    // The probe of a replica's metrics address (HOST:PORT); unset: a metrics_probe. Tests bring doubles.
    std::function<std::unique_ptr<ready_probe>(const std::string&)> replica_probe;
};

// supervisor / probe may be null: then apply() says cloudflared must be restarted by hand.
// history_keep: versions the git history in backup_dir keeps (tunnel.history_keep; 0: all). Leftovers
// of a killed edit beside config_file are removed here, at start. judge: the cloudflared that checks
// every version of the file before it is written (tunnel.cloudflared_bin; default none).
std::unique_ptr<ingress_strategy> make_local_ingress(std::string config_file, std::string backup_dir,
                                                     tunnel_supervisor* supervisor, ready_probe* probe,
                                                     apply_timing timing, int history_keep = 100,
                                                     cloudflared_check judge = cloudflared_check());
// lock_path: a file every tunnelmgr process writing this tunnel's remote configuration locks (flock)
// for its whole read-modify-PUT-verify; it also serialises threads of one process, since each write
// opens it anew. Empty: no lock (then only the version check guards against concurrent writers).
std::unique_ptr<ingress_strategy> make_remote_ingress(dns_provider& dns, std::string tunnel_id, std::string lock_path);

}  // namespace tunnelmgr::core
