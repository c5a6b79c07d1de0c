// `tunnelmgr doctor`: starts each configured plugin itself and checks, one by one, everything the
// daemon relies on, printing each finding as `ok|warn|FAIL  what — fix`; exit 1 when anything FAILs.
// It needs no slot to be healthy: a broken slot is a finding, not a start-up error.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "app/commands/commands.hpp"
#include "sys/unix_socket.hpp"
#include "core/cloudflared_check.hpp"
#include "core/ingress_file.hpp"
#include "core/json.hpp"
#include "core/metrics_probe.hpp"
#include "log/logger.hpp"
#include "sys/listen_address.hpp"
#include "plugin_host/capability_clients.hpp"
#include "sys/process_identity.hpp"

namespace tunnelmgr::app {
namespace {

namespace fs = std::filesystem;

struct finding {
    std::string status;  // ok | warn | FAIL
    std::string check;   // config, plugins, dns, zones, docker, metrics, ingress, supervisor, state
    std::string what;
    std::string fix;     // empty for ok
};

class report {
public:
    void ok(const std::string& check, const std::string& what) { add("ok", check, what, ""); }
    void warn(const std::string& check, const std::string& what, const std::string& fix) { add("warn", check, what, fix); }
    void fail(const std::string& check, const std::string& what, const std::string& fix) { add("FAIL", check, what, fix); }
    int failures() const {
        int n = 0;
        for (const auto& f : items_) n += f.status == "FAIL" ? 1 : 0;
        return n;
    }
    const std::vector<finding>& items() const { return items_; }

private:
    void add(const char* status, const std::string& check, const std::string& what, const std::string& fix) {
        // Whatever a plugin said passes through the logger's redaction: a token never reaches the output.
        auto& lg = log::logger::instance();
        items_.push_back({status, check, lg.redact(what), lg.redact(fix)});
    }
    std::vector<finding> items_;
};

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    size_t b = s.find_first_not_of(" \t\r\n");
    return b == std::string::npos ? "" : s.substr(b);
}

std::string mode_text(fs::perms p) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%03o", static_cast<unsigned>(p) & 0777U);
    return buf;
}

// The token file: readable, not empty, not readable by everyone. Its content is registered as a
// secret so nothing later can print it.
void check_token_file(report& r, const std::string& path) {
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
        r.fail("config", "dns.api_token_file " + path + " does not exist",
               "write the Cloudflare API token to " + path + " (chmod 600, owned by the user tunnelmgr runs as)");
        return;
    }
    std::ifstream in(path);
    if (!in) {
        r.fail("config", "dns.api_token_file " + path + " is not readable by this user",
               "chown it to the user tunnelmgr runs as, or run doctor as that user");
        return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token = trim(ss.str());
    if (token.empty()) {
        r.fail("config", "dns.api_token_file " + path + " is empty", "write the Cloudflare API token into it");
        return;
    }
    log::logger::instance().add_secret(token);
    if ((st.permissions() & fs::perms::others_read) != fs::perms::none) {
        r.fail("config", "dns.api_token_file " + path + " is readable by every user (mode " + mode_text(st.permissions()) + ")",
               "chmod 600 " + path);
        return;
    }
    r.ok("config", "dns.api_token_file " + path + " is readable and private (mode " + mode_text(st.permissions()) + ")");
}

void check_state_path(report& r, const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    fs::path p(path);
    if (fs::exists(p, ec)) {
        if (::access(path.c_str(), R_OK | W_OK) != 0) {
            r.fail("config", "state.path " + path + " is not writable by this user",
                   "chown the file (and its -wal/-shm) to the user tunnelmgr runs as");
        } else {
            r.ok("config", "state.path " + path + " is writable");
        }
        return;
    }
    fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    // The store creates missing folders: find the nearest folder that exists and ask it.
    while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
    if (::access(dir.c_str(), W_OK) != 0) {
        r.fail("config", "state.path " + path + " cannot be created: " + dir.string() + " is not writable",
               "create " + p.parent_path().string() + " owned by the user tunnelmgr runs as");
    } else {
        r.ok("config", "state.path " + path + " does not exist yet; it will be created");
    }
}

void check_config(report& r, const config::config& cfg) {
    r.ok("config", cfg.source + " parses");
    if (const auto* dns = cfg.find_slot("dns")) {
        auto doc = core::json::parse(dns->config_json);
        std::string file = doc ? core::json::str(*doc, "api_token_file") : "";
        if (!file.empty()) check_token_file(r, file);
    }
    if (const auto* st = cfg.find_slot("state")) {
        auto doc = core::json::parse(st->config_json);
        check_state_path(r, doc ? core::json::str(*doc, "path") : "");
    } else {
        r.fail("config", "no state slot is configured", "add `state: { plugin: sqlite-state, path: /var/lib/tunnelmgr/state.db }`");
    }
    if (cfg.tunnel.id.empty()) {
        r.fail("config", "tunnel.id is not set", "set tunnel.id to the tunnel's UUID (`cloudflared tunnel list`)");
    }
    if (!cfg.metrics.listen.empty()) {
        auto where = sys::parse_listen_address(cfg.metrics.listen);
        if (where) {
            r.ok("config", "metrics.listen " + where->text() + ": tunnelmgr daemon serves /metrics there");
        } else {
            r.fail("config", "metrics.listen: " + where.error(), "use a loopback address, e.g. 127.0.0.1:9464");
        }
    }
}

// The plugin folders, every refusal in them, then each configured slot started as the daemon would.
void check_plugins(report& r, app_state& s) {
    for (const auto& dir : s.cfg.plugin_dirs) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            r.fail("plugins", "plugin folder " + dir + " does not exist",
                   "install the plugins there, or point plugin_dir (or --plugin-dir) at their folder");
        }
    }
    auto scan = host::scan_plugin_dirs(s.cfg.plugin_dirs);
    for (const auto& ref : scan.refused) {
        std::string stem = ref.path.stem().string();
        bool configured = false;
        for (const auto& [slot, sc] : s.cfg.slots) configured = configured || sc.plugin == stem;
        if (!configured && fs::is_directory(ref.path)) continue;  // a missing folder was reported above
        if (!configured) {
            r.warn("plugins", ref.line(), "remove the file or rebuild it against this plugin API (it is not configured)");
        }
    }
    for (const auto& slot : config::slot_names()) {
        const config::slot* sc = s.cfg.find_slot(slot);
        if (sc == nullptr) {
            std::string fix = slot == "runtime"      ? "every target is taken to be on the host; add `runtime: { plugin: docker-runtime }` for containers"
                              : slot == "supervisor" ? "the health loop cannot restart cloudflared; add `supervisor: { plugin: systemd-supervisor }` (or container-supervisor)"
                              : slot == "dns"        ? "no hostnames can be published; add a `dns: { plugin: cloudflare-dns, ... }` section"
                              : slot == "transport"  ? "only needed for `tunnelmgr mcp`; add `transport: { plugin: mcp-stdio }`"
                                                     : "add a `state:` section";
            if (slot == "state") continue;  // reported by the config check
            r.warn("plugins", "the " + slot + " slot is empty", fix);
            continue;
        }
        auto started = s.plugins->start_slot(slot, slot_as_started(s.cfg, slot), s.cfg.plugin_dirs);
        if (started) {
            const auto* inst = s.plugins->find(slot);
            std::string what = slot + ": " + inst->library().name + " " + inst->library().version + " started";
            if (slot == "dns") what += " (the API token was verified)";
            r.ok(slot == "dns" ? "dns" : "plugins", what);
            continue;
        }
        std::string fix;
        if (started.error().rfind(s.cfg.source + ":", 0) == 0) {
            // The section does not match the plugin's config_schema(): each line names the key.
            fix = "correct the `" + slot + ":` section at the line(s) named";
        } else if (started.error().find("config_schema() is broken") != std::string::npos) {
            fix = "the plugin itself is broken: install a fixed " + sc->plugin + ".so or report it to its author";
        } else if (slot == "dns" && started.error().find("token") != std::string::npos) {
            fix = "put a valid Cloudflare API token (permissions Zone:Read and DNS:Edit) in the token file, then run doctor again";
        } else if (started.error().find("refused: init failed") != std::string::npos) {
            fix = "correct the `" + slot + ":` section as the reason says";
        } else {
            fix = "install " + sc->plugin + ".so (built for this plugin API) in " +
                  (s.cfg.plugin_dirs.empty() ? std::string("plugin_dir") : s.cfg.plugin_dirs.front());
        }
        r.fail(slot == "dns" ? "dns" : "plugins", slot + ": " + started.error(), fix);
    }
}

void check_zones(report& r, app_state& s, const std::string& default_domain) {
    auto* inst = s.plugins->find("dns");
    if (inst == nullptr) return;
    host::dns_provider_client dns(*inst);
    auto zones = dns.list_zones();
    if (!zones) {
        r.fail("zones", "cannot list the account's zones: " + zones.error().message,
               "give the token Zone:Read on the zones tunnelmgr should use");
        return;
    }
    auto doc = core::json::parse(*zones);
    std::vector<std::string> names;
    if (doc && doc->IsArray()) {
        for (const auto& z : doc->GetArray()) names.push_back(core::json::str(z, "name"));
    }
    if (names.empty()) {
        r.fail("zones", "the token sees no zones", "give the token Zone:Read and DNS:Edit on at least one zone");
        return;
    }
    std::string list;
    for (size_t i = 0; i < names.size() && i < 5; ++i) list += (i ? ", " : "") + names[i];
    if (names.size() > 5) list += ", ...";
    r.ok("zones", std::to_string(names.size()) + " zone(s) visible (" + list + ")");
    if (!default_domain.empty() && std::find(names.begin(), names.end(), default_domain) == names.end()) {
        r.fail("zones", "tunnel.default_domain " + default_domain + " is not among the zones the token sees",
               "set tunnel.default_domain to one of the zones above, or give the token access to " + default_domain);
    }
}

void check_docker(report& r, app_state& s) {
    auto* inst = s.plugins->find("runtime");
    if (inst == nullptr) return;
    host::runtime_client runtime(*inst);
    auto snap = runtime.snapshot();
    if (!snap) {
        r.fail("docker", "cannot read the Docker topology: " + snap.error().message,
               "check runtime.socket and that this user is in the docker group");
        return;
    }
    auto doc = core::json::parse(*snap);
    if (!doc || !doc->IsObject()) {
        r.fail("docker", "the runtime plugin answered with malformed JSON", "report this as a plugin bug");
        return;
    }
    size_t containers = 0;
    if (auto c = doc->FindMember("containers"); c != doc->MemberEnd() && c->value.IsArray()) containers = c->value.Size();
    std::string where = "on the host";
    if (auto cf = doc->FindMember("cloudflared"); cf != doc->MemberEnd() && cf->value.IsObject()) {
        if (core::json::str(cf->value, "where") == "container") {
            where = "in container " + core::json::str(cf->value, "container") +
                    (core::json::boolean(cf->value, "host_network") ? " (host networking)" : "");
        }
    }
    r.ok("docker", "Docker API " + core::json::str(*doc, "api_version") + ", " + std::to_string(containers) +
                       " container(s); cloudflared runs " + where);
}

void check_metrics_address(report& r, const config::config& cfg) {
    core::metrics_probe probe(cfg.tunnel.metrics);
    auto n = probe.ready_connections();
    const std::string pin = "pin --metrics to tunnel.metrics: run cloudflared with `--metrics " + cfg.tunnel.metrics +
                            "` (or `metrics: " + cfg.tunnel.metrics + "` in its config), or set tunnel.metrics to the address it uses";
    if (!n) {
        r.fail("metrics", "nothing answers /ready at " + cfg.tunnel.metrics + ": " + n.error().message, pin);
    } else if (*n == 0) {
        r.fail("metrics", "cloudflared at " + cfg.tunnel.metrics + " reports 0 ready connections (not connected to the edge)",
               "check cloudflared's log and credentials; the health loop restarts it after health.strikes failed checks");
    } else {
        r.ok("metrics", "cloudflared at " + cfg.tunnel.metrics + " is ready with " + std::to_string(*n) + " connection(s)");
    }
}

void check_ingress(report& r, app_state& s) {
    const auto& t = s.cfg.tunnel;
    if (t.ingress == "remote") {
        auto* inst = s.plugins->find("dns");
        if (inst == nullptr) return;
        host::dns_provider_client dns(*inst);
        auto got = dns.get_tunnel_config(t.id);
        if (got) {
            r.ok("ingress", "remote ingress of tunnel " + t.id + " is readable through the Cloudflare API");
        } else {
            r.fail("ingress", "cannot read the remote configuration of tunnel " + t.id + ": " + got.error().message,
                   "give the token Account:Cloudflare Tunnel:Edit, and check dns.account_id and tunnel.id");
        }
        return;
    }
    std::error_code ec;
    if (!fs::exists(t.config_file, ec)) {
        r.fail("ingress", "tunnel.config_file " + t.config_file + " does not exist",
               "point tunnel.config_file at cloudflared's config.yml (the file given to `cloudflared --config`)");
        return;
    }
    // cloudflared's own verdict first: it is the one that matters when cloudflared next starts.
    core::cloudflared_check judge(t.cloudflared_bin);
    if (!judge.off()) {
        const std::string bin = judge.binary();
        if (bin.empty()) {
            r.warn("ingress",
                   t.cloudflared_bin.empty() ? std::string("cloudflared not found in PATH: ") + t.config_file +
                                                   " is checked by tunnelmgr's own rules only"
                                             : "tunnel.cloudflared_bin " + t.cloudflared_bin + " is not an executable file",
                   "install cloudflared or set tunnel.cloudflared_bin to its path (`none` turns this check off)");
        } else if (auto verdict = judge.validate_file(t.config_file); verdict) {
            r.ok("ingress", "cloudflared (" + bin + ") accepts " + t.config_file);
        } else if (verdict.error().code == core::errc::invalid) {
            r.fail("ingress", "cloudflared (" + bin + ") refuses " + t.config_file + ": " + verdict.error().message,
                   "fix the file by hand (check with `cloudflared tunnel --config " + t.config_file +
                       " ingress validate`); tunnelmgr edits nothing until it passes");
        } else {
            r.warn("ingress", verdict.error().message,
                   "set tunnel.cloudflared_bin to a working cloudflared, or to `none` to skip this check");
        }
    }
    core::ingress_file file(t.config_file, "");
    auto rules = file.read_rules();
    if (!rules) {
        r.fail("ingress", t.config_file + " is not a valid cloudflared config: " + rules.error().message,
               "fix the file (check with `cloudflared tunnel --config " + t.config_file + " ingress validate`)");
        return;
    }
    r.ok("ingress", t.config_file + " is valid (" + std::to_string(rules->size()) + " ingress rule(s))");
    std::string in_file;
    try {
        YAML::Node doc = YAML::LoadFile(t.config_file);
        if (doc.IsMap() && doc["tunnel"] && doc["tunnel"].IsScalar()) in_file = doc["tunnel"].Scalar();
    } catch (const YAML::Exception&) {
        // read_rules already parsed it; nothing more to learn here
    }
    if (in_file.empty()) {
        r.warn("ingress", t.config_file + " names no `tunnel:`", "add `tunnel: " + t.id + "` so cloudflared runs the right tunnel");
    } else if (!t.id.empty() && in_file != t.id) {
        r.fail("ingress", t.config_file + " runs tunnel " + in_file + " but tunnel.id is " + t.id,
               "make them the same: CNAMEs point at <tunnel.id>.cfargotunnel.com");
    } else if (!t.id.empty()) {
        r.ok("ingress", "the tunnel in " + t.config_file + " matches tunnel.id");
    }
}

void check_supervisor(report& r, app_state& s) {
    auto* inst = s.plugins->find("supervisor");
    if (inst == nullptr) return;
    host::supervisor_client sup(*inst);
    auto st = sup.status();
    if (!st) {
        r.fail("supervisor", "cannot ask the supervisor about cloudflared: " + st.error().message,
               "fix the `supervisor:` section as the reason says");
        return;
    }
    if (!st->running) {
        r.warn("supervisor", "the supervisor cannot tell whether cloudflared runs: " + st->detail,
               "check the supervisor plugin's log lines; the health loop relies on /ready meanwhile");
        return;
    }
    bool running = *st->running;
    std::string state = st->state;
    if (running) {
        r.ok("supervisor", "cloudflared is running (" + state + ")");
    } else {
        r.fail("supervisor", "cloudflared is not running (" + state + ")",
               "start it (`systemctl start cloudflared` or `docker start cloudflared`); the daemon restarts it once running");
    }
}

void check_state(report& r, app_state& s) {
    auto* inst = s.plugins->find("state");
    if (inst == nullptr) return;
    host::state_store_client state(*inst);
    auto stats = state.stats();
    auto d = stats ? core::json::parse(*stats) : std::nullopt;
    if (!d || !d->IsObject()) {
        r.fail("state", "the state store does not answer: " + (stats ? std::string("malformed stats") : stats.error().message),
               "check state.path and the disk; restore the last backup if the file is damaged");
        return;
    }
    int64_t unfinished = core::json::i64(*d, "operations_unfinished");
    r.ok("state", "schema version " + std::to_string(core::json::i64(*d, "schema_version")) + ", " +
                      std::to_string(core::json::i64(*d, "cnames")) + " hostname(s)");
    if (unfinished > 0) {
        r.warn("state", std::to_string(unfinished) + " unfinished operation(s)",
               "any tunnelmgr start settles them (run `tunnelmgr daemon` or `tunnelmgr cname ls`)");
    }
    // The store tells who holds a lease only by refusing it: try it, and give it straight back.
    std::string me = "doctor:" + sys::self_identity();
    auto got = state.lease_acquire("background", me, 5000);
    if (!got) {
        r.warn("state", "cannot read the background lease: " + got.error().message, "check the state store");
    } else if (*got) {
        (void)state.lease_release("background", me);
        r.ok("state", "no process holds the background lease (no tunnelmgr daemon is running the loops)");
    } else {
        r.ok("state", "another tunnelmgr process holds the background lease and runs the loops");
    }
}

// The API socket: does a daemon answer where sessions and the CLI will look for it?
void check_api(report& r, const config::config& cfg) {
    if (cfg.api.socket.empty()) {
        r.ok("api", "no api.socket: every `tunnelmgr mcp` and CLI run does its own work in-process");
        return;
    }
    auto c = sys::connect_unix(cfg.api.socket);
    if (c) {
        ::close(*c);
        r.ok("api", "a daemon answers on " + cfg.api.socket);
    } else if (c.error().code == core::errc::denied) {
        r.fail("api", c.error().message, "run doctor as root or the daemon's user, or join the socket's group");
    } else if (c.error().code == core::errc::not_found) {
        r.warn("api", c.error().message + ": project sessions cannot start as their own users",
               "start the daemon: systemctl start tunnelmgr");
    } else {
        r.fail("api", c.error().message, "check api.socket and the daemon's log: journalctl -u tunnelmgr");
    }
}

}  // namespace

run_result cmd_doctor(app_state& s) {
    std::string bad;
    bool json = wants_json(s, bad);
    if (!bad.empty()) return run_result::fatal("doctor: unknown argument '" + bad + "' (only --json)", 2);
    report r;
    bool config_ok = s.config_error.empty();
    if (!config_ok) {
        // The file did not parse: that is the finding; nothing else can be checked against it.
        r.fail("config", s.config_error, "fix what the line above names; every key is in packaging/examples/config.yml");
    } else {
        check_config(r, s.cfg);
        check_plugins(r, s);
    }
    if (config_ok) check_zones(r, s, s.cfg.tunnel.default_domain);
    if (config_ok) check_docker(r, s);
    if (config_ok) check_metrics_address(r, s.cfg);
    if (config_ok) check_ingress(r, s);
    if (config_ok) check_supervisor(r, s);
    if (config_ok) check_state(r, s);
    if (config_ok) check_api(r, s.cfg);

    if (json) {
        rapidjson::Document out(rapidjson::kObjectType);
        auto& a = out.GetAllocator();
        rapidjson::Value list(rapidjson::kArrayType);
        for (const auto& f : r.items()) {
            rapidjson::Value o(rapidjson::kObjectType);
            o.AddMember("status", rapidjson::Value(f.status.c_str(), a), a);
            o.AddMember("check", rapidjson::Value(f.check.c_str(), a), a);
            o.AddMember("what", rapidjson::Value(f.what.c_str(), a), a);
            o.AddMember("fix", rapidjson::Value(f.fix.c_str(), a), a);
            list.PushBack(o, a);
        }
        out.AddMember("config", rapidjson::Value(s.cfg.source.c_str(), a), a);
        out.AddMember("findings", list, a);
        out.AddMember("failures", r.failures(), a);
        out.AddMember("ok", r.failures() == 0, a);
        std::printf("%s\n", core::json::to_string(out).c_str());
    } else {
        for (const auto& f : r.items()) {
            std::printf("%-4s  %s%s%s\n", f.status.c_str(), f.what.c_str(), f.fix.empty() ? "" : " — ", f.fix.c_str());
        }
        std::printf("%d problem(s) found\n", r.failures());
    }
    s.exit_code = r.failures() == 0 ? 0 : 1;
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
