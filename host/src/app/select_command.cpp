// Step: find the subcommand and the slots it needs; and the dispatch step that runs it.
#include <algorithm>

#include "app/commands/commands.hpp"
#include "core/hostname.hpp"

namespace tunnelmgr::app {

namespace {

bool has_arg(const app_state& s, const char* arg) {
    for (const auto& a : s.opts.args) {
        if (a == arg) return true;
    }
    return false;
}

// `domains` without --refresh answers from the state; it asks the DNS provider only when the state
// knows no zone yet.
bool no_zones_known(app_state& s) {
    auto zones = s.state->domains_list();
    return !zones || zones->empty();
}

// `cname check` (a dry run: no record, no rule, no restart) asks the DNS provider only to learn a zone
// the state does not know yet; with a remote ingress the ingress itself is the DNS plugin's.
bool check_needs_dns(app_state& s) {
    if (s.cfg.tunnel.ingress == "remote") return true;
    std::string domain = s.cfg.tunnel.default_domain;
    for (size_t i = 0; i < s.opts.args.size(); ++i) {
        const std::string& a = s.opts.args[i];
        if (a == "--domain" && i + 1 < s.opts.args.size()) domain = s.opts.args[i + 1];
        if (a.rfind("--domain=", 0) == 0) domain = a.substr(9);
    }
    auto name = core::normalize_domain(domain);
    if (!name) return false;  // refused before any zone is looked up
    auto zones = s.state->domains_list();
    if (!zones) return true;
    for (const auto& z : *zones) {
        if (z.name == *name) return false;
    }
    return true;
}

// Some uses of a command touch fewer slots than the command wants: they defer the rest, and pay
// neither for loading those plugins nor for their start-up (the token check).
void defer_unused_slots(app_state& s) {
    // `slots` of the wanted ones (all when empty) wait until `needed` says this run needs them.
    auto defer = [&s](bool (*needed)(app_state&), const std::vector<std::string>& slots = {}) {
        std::vector<std::string> keep;
        for (const auto& w : s.wanted_slots) {
            bool deferred = slots.empty() || std::find(slots.begin(), slots.end(), w) != slots.end();
            (deferred ? s.deferred_slots : keep).push_back(w);
        }
        s.wanted_slots = std::move(keep);
        s.deferred_needed = needed;
    };
    const std::string& cmd = s.opts.command;
    if (cmd == "cname" && !s.opts.args.empty() && s.opts.args.front() == "ls") {
        defer(nullptr);  // a read of the state
    } else if (cmd == "cname" && !s.opts.args.empty() && s.opts.args.front() == "check") {
        defer(check_needs_dns, {"dns", "supervisor"});  // the runtime picks the target
    } else if (cmd == "domains" && !has_arg(s, "--refresh")) {
        defer(no_zones_known);
    }
}

}  // namespace

const std::vector<command>& commands() {
    static const std::vector<command> list{
        {"plugins", "list every plugin in the plugin folders: name, version, ABI, capabilities, or why it was refused",
         {}, cmd_plugins},
        {"state", "open the state store and show its schema version and what it holds; `state copy --to CONFIG` copies "
                  "it into the empty store CONFIG names (SQLite to PostgreSQL or back), verified row by row",
         {"state"}, cmd_state},
        {"check", "start every plugin the config names and report each slot", {}, cmd_check},
        {"cname", "add | rm | retarget | ls | check: publish, remove, repoint, list hostnames, or dry-run a request (as the admin)", {"state"}, cmd_cname,
         {"dns", "supervisor", "runtime"}, true, true},
        {"project", "purge NAME [--dry-run] [--json]: remove every hostname of a project that left the config",
         {"state"}, cmd_project, {"dns", "supervisor", "runtime"}, true, true},
        {"domains", "the zones of the Cloudflare account ([--refresh] asks Cloudflare)", {"state"}, cmd_domains, {"dns"},
         true, true},
        {"status", "is the tunnel up: cloudflared's process and /ready, and what is published ([--json])", {"state"},
         cmd_status, {"supervisor"}, true},
        {"daemon", "run the background loops (health and restarts, reconcile, zones, Docker) in the foreground",
         {"state"}, cmd_daemon, {"dns", "supervisor", "runtime"}, true},
        {"mcp", "serve one MCP client on stdio: --project NAME or --admin, token in TUNNELMGR_TOKEN",
         {"state", "transport"}, cmd_mcp, {"dns", "supervisor", "runtime"}, true, true},
        {"reconcile", "compare the published names with their DNS records and ingress rules; list the drift and, "
                      "with reconcile.repair: repair, restore missing or changed records and missing rules "
                      "([--dry-run] [--json]; exit 1 while drift remains)",
         {"state"}, cmd_reconcile, {"dns", "supervisor", "runtime"}, true, true},
        // ingress: in-process as the admin (it writes the ingress itself, under the same locks as the daemon).
        {"ingress", "migrate --to remote|local [--dry-run] [--force] [--json]: copy every ingress rule from "
                    "cloudflared's config.yml into the tunnel's remote configuration, or back; says what to change next",
         {"state", "dns"}, cmd_ingress},
        // topology: in-process (it reads the runtime's snapshot itself); Graphviz draws --format svg.
        {"topology", "cloudflared, the Docker networks and containers, and the path each published hostname takes, "
                     "flagging broken ones ([--format text|dot|svg] [--json])",
         {"state"}, cmd_topology, {"runtime"}, true},
        {"audit", "the audit log, newest first ([--project P] [--action A] [--limit N] [--json])", {"state"}, cmd_audit},
        // doctor: starts each configured plugin itself, so it needs no slot up front.
        {"doctor", "check the config, plugins, token, zones, Docker, cloudflared, ingress, supervisor and state; "
                   "print each finding with its fix ([--json]; exit 1 on any FAIL)",
         {}, cmd_doctor},
    };
    return list;
}

const command* find_command(const std::string& name) {
    for (const auto& c : commands()) {
        if (name == c.name) return &c;
    }
    return nullptr;
}

bool wants_json(const app_state& s, std::string& bad_arg) {
    bool json = false;
    for (const auto& a : s.opts.args) {
        if (a == "--json") {
            json = true;
        } else {
            bad_arg = a;
        }
    }
    return json;
}

run_result select_command(app_state& s) {
    const command* c = find_command(s.opts.command);
    if (c == nullptr) {
        std::string names;
        for (const auto& cmd : commands()) names += (names.empty() ? "" : ", ") + std::string(cmd.name);
        return run_result::fatal("unknown command '" + s.opts.command + "': the commands are " + names +
                                     " (see tunnelmgr --help)",
                                 2);
    }
    s.needed_slots = c->needs;
    s.wanted_slots = c->wants;
    s.needs_core = c->core;
    s.via_daemon = c->via_daemon;
    defer_unused_slots(s);
    return run_result::proceed();
}

run_result run_command(app_state& s) {
    const command* c = find_command(s.opts.command);
    return c->fn(s);
}

}  // namespace tunnelmgr::app
