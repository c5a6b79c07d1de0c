// `tunnelmgr ingress migrate --to remote|local [--dry-run] [--force] [--json]`: the tunnel's whole
// ingress copied from cloudflared's config.yml into its remote configuration at Cloudflare, or back
// (core/ingress_migrate). In-process as the admin; it changes neither tunnelmgr's config nor
// cloudflared's unit: it prints what the operator changes next. Exit 0 done (or already so, or a dry
// run), 2 bad input (arguments, a missing or invalid file or configuration), 4 refused (nothing
// changed), 5 a step failed.
#include <filesystem>
#include <iostream>

#include "app/commands/commands.hpp"
#include "service/core_services.hpp"
#include "common/terminal_text.hpp"
#include "core/ingress_migrate.hpp"
#include "core/json.hpp"
#include "plugin_host/capability_clients.hpp"

namespace tunnelmgr::app {
namespace {

const char* k_usage = "tunnelmgr ingress migrate --to remote|local [--dry-run] [--force] [--json]";

struct migrate_args {
    core::ingress_side to = core::ingress_side::remote;
    bool dry_run = false, force = false, json = false;
};

// One sentence and exit 2 for anything but the arguments above.
run_result parse_args(const std::vector<std::string>& args, migrate_args& out) {
    if (args.empty() || args[0] != "migrate") {
        return run_result::fatal(std::string("ingress: ") +
                                     (args.empty() ? "give a subcommand" : "unknown subcommand '" + printable(args[0]) + "'") +
                                     "; the one there is: " + k_usage,
                                 2);
    }
    std::string to;
    for (size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--dry-run") {
            out.dry_run = true;
        } else if (a == "--force") {
            out.force = true;
        } else if (a == "--json") {
            out.json = true;
        } else if (a == "--to" && i + 1 < args.size()) {
            to = args[++i];
        } else if (a.rfind("--to=", 0) == 0) {
            to = a.substr(5);
        } else if (a == "--to") {
            return run_result::fatal("ingress migrate: --to needs `remote` or `local` (" + std::string(k_usage) + ")", 2);
        } else {
            return run_result::fatal("ingress migrate: unknown argument '" + printable(a) + "' (" + k_usage + ")", 2);
        }
    }
    if (to.empty()) return run_result::fatal("ingress migrate: say where to with --to remote or --to local (" + std::string(k_usage) + ")", 2);
    if (to != "remote" && to != "local") {
        return run_result::fatal("ingress migrate: --to must be `remote` or `local`, not '" + printable(to) + "'", 2);
    }
    out.to = to == "remote" ? core::ingress_side::remote : core::ingress_side::local;
    return run_result::proceed();
}

// What the supervisor slot runs cloudflared as: systemd units, or a container's name.
struct cloudflared_runner {
    bool container = false;
    std::vector<std::string> names;
};

cloudflared_runner runner_of(const config::config& cfg) {
    cloudflared_runner r;
    const config::slot* sup = cfg.find_slot("supervisor");
    auto doc = sup != nullptr ? core::json::parse(sup->config_json) : std::nullopt;
    r.container = sup != nullptr && sup->plugin == "container-supervisor";
    const char* one = r.container ? "container" : "unit";
    const char* many = r.container ? "containers" : "units";
    if (doc && doc->IsObject()) {
        if (auto list = doc->FindMember(many); list != doc->MemberEnd() && list->value.IsArray()) {
            for (const auto& n : list->value.GetArray()) {
                if (n.IsString()) r.names.emplace_back(n.GetString());
                if (n.IsObject()) r.names.push_back(core::json::str(n, one));
            }
        }
        if (r.names.empty() && !core::json::str(*doc, one).empty()) r.names.push_back(core::json::str(*doc, one));
    }
    std::erase(r.names, std::string());
    if (r.names.empty()) r.names.push_back(r.container ? "cloudflared" : "cloudflared.service");
    return r;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
    return out;
}

// What the operator changes next, line by line; tunnelmgr changes none of it itself. cloudflared first:
// it then runs the very rules just copied, and tunnelmgr follows it to the same place.
std::vector<std::string> next_steps(const app_state& s, core::ingress_side to) {
    const auto& t = s.cfg.tunnel;
    const bool remote = to == core::ingress_side::remote;
    const std::string mode = remote ? "remote" : "local";
    const std::string bin = !t.cloudflared_bin.empty() && t.cloudflared_bin.front() == '/' ? t.cloudflared_bin
                                                                                             : "/usr/bin/cloudflared";
    const std::string tunnel_args = remote ? "tunnel --metrics " + t.metrics + " run --token-file /etc/cloudflared/tunnel-token"
                                           : "tunnel --config " + t.config_file + " --metrics " + t.metrics + " run";
    const cloudflared_runner runner = runner_of(s.cfg);
    std::error_code ec;
    const std::string own_config = s.cfg.source.empty() || s.cfg.source.front() == '<'
                                       ? s.cfg.source
                                       : std::filesystem::absolute(s.cfg.source, ec).lexically_normal().string();
    std::vector<std::string> out;
    if (remote) {
        out.push_back("1. cloudflared: run it as a remotely-managed tunnel (with the tunnel's token; the local file's "
                      "ingress is then not used). Put the token in a file only cloudflared's user can read:");
        out.push_back("     cloudflared tunnel token " + t.id + " > /etc/cloudflared/tunnel-token   (or copy it from the "
                      "dashboard); chmod 0600 /etc/cloudflared/tunnel-token");
    } else {
        out.push_back("1. cloudflared: run it with the local file instead of the token (remove --token, --token-file "
                      "and TUNNEL_TOKEN: with a token cloudflared ignores the file's ingress):");
    }
    if (runner.container) {
        out.push_back("     re-create the container " + joined(runner.names) + " with the command `--no-autoupdate " +
                      tunnel_args + "`" + (remote ? " and the token file mounted there" : " and the file mounted there"));
    } else {
        out.push_back("     systemctl edit " + joined(runner.names) + "   and write:");
        out.push_back("       [Service]");
        out.push_back("       ExecStart=");
        out.push_back("       ExecStart=" + bin + " --no-autoupdate " + tunnel_args);
        if (runner.names.size() > 1) out.push_back("     (each replica keeps its own --metrics address)");
        out.push_back("     then: systemctl restart " + joined(runner.names) +
                      (runner.names.size() > 1 ? "   (one at a time)" : ""));
    }
    if (t.ingress == mode) {
        out.push_back("2. tunnelmgr: " + own_config + " already says `ingress: " + mode + "` under `tunnel:`");
    } else {
        out.push_back("2. tunnelmgr: in " + own_config + ", under `tunnel:`, set `ingress: " + mode +
                      "`; then: systemctl restart tunnelmgr");
    }
    out.push_back("   Do both right away: a name published in between lands in the old place (run the migration "
                  "again with --force to copy it over).");
    out.push_back(remote ? "   From then on cloudflared applies each change live: no restart, no downtime."
                         : "   From then on each change of the file restarts cloudflared (it has no reload).");
    return out;
}

void print_rules(const std::string& heading, const core::ingress_document& doc) {
    std::cout << printable(heading) << "\n";
    for (const auto& line : doc.describe()) std::cout << "  " << printable(line) << "\n";
}

std::string version_text(const std::optional<int64_t>& v) {
    return v ? " (version " + std::to_string(*v) + ")" : std::string();
}

}  // namespace

run_result cmd_ingress(app_state& s) {
    migrate_args args;
    if (auto bad = parse_args(s.opts.args, args); bad.what != run_result::kind::proceed) return bad;
    if (!s.state) return run_result::fatal("ingress migrate needs the state slot", 2);
    if (s.cfg.tunnel.id.empty()) {
        return run_result::fatal("ingress migrate: tunnel.id is not set in " + s.cfg.source +
                                     ": add the tunnel's UUID (cloudflared tunnel list) under `tunnel:`",
                                 2);
    }
    host::plugin_instance* inst = s.plugins ? s.plugins->find("dns") : nullptr;
    if (inst == nullptr) return run_result::fatal("ingress migrate needs the dns slot", 2);
    host::dns_provider_client dns(*inst);
    if (!dns.supports_tunnel_config()) {
        return run_result::fatal("ingress migrate: the dns plugin '" + inst->library().name +
                                     "' cannot read or write a tunnel's remote configuration: use cloudflare-dns",
                                 2);
    }

    core::migrate_settings settings;
    settings.to = args.to;
    settings.dry_run = args.dry_run;
    settings.force = args.force;
    settings.tunnel_id = s.cfg.tunnel.id;
    // The same lock and history as the daemon's strategies use.
    settings.remote_lock_path = service::remote_ingress_lock_path(*s.state, s.cfg.tunnel.id);
    const std::string history = service::ingress_history_dir(s.cfg, *s.state);
    const core::cloudflared_check judge(s.cfg.tunnel.cloudflared_bin);
    core::ingress_file file(s.cfg.tunnel.config_file, history, s.cfg.tunnel.history_keep, judge);

    auto report = core::migrate_ingress(settings, dns, file, judge, s.state.get(), core::session::admin_session("cli"));
    if (!report) {
        const auto code = report.error().code;
        const int exit = code == core::errc::invalid ? 2 : (code == core::errc::conflict || code == core::errc::denied) ? 4 : 5;
        return run_result::fatal("ingress migrate: " + report.error().message, exit);
    }
    const auto& r = *report;
    const bool remote = args.to == core::ingress_side::remote;
    const std::vector<std::string> steps = r.refused() ? std::vector<std::string>{} : next_steps(s, args.to);

    if (args.json) {
        auto doc = core::json::parse(r.to_json());
        auto& a = doc->GetAllocator();
        rapidjson::Value list(rapidjson::kArrayType);
        for (const auto& line : steps) list.PushBack(rapidjson::Value(line.c_str(), a), a);
        doc->AddMember("next_steps", list, a);
        if (remote) doc->AddMember("local_file_unchanged", true, a);
        std::cout << core::json::to_string(*doc) << "\n";
    } else {
        const size_t n = r.rules.ingress().Size();
        print_rules(r.source + version_text(remote ? std::nullopt : r.version_before) + " holds " + std::to_string(n) +
                        (n == 1 ? " rule" : " rules") + ", in order:",
                    r.rules);
        if (r.outcome != "unchanged" && !r.target_before.ingress().Empty()) {
            print_rules(r.target + version_text(remote ? r.version_before : std::nullopt) + " held:", r.target_before);
        }
        if (r.outcome == "would migrate") {
            std::cout << "dry run: these rules would be written to " << printable(r.target)
                      << (args.force && !r.target_before.bare() ? ", replacing what it holds (--force)" : "")
                      << "; nothing was changed\n";
        } else if (r.outcome == "unchanged") {
            std::cout << printable(r.target) << version_text(remote ? r.version_after : std::nullopt)
                      << " already holds exactly these rules: nothing was written\n";
        } else if (r.outcome == "migrated") {
            std::cout << "written to " << printable(r.target) << version_text(remote ? r.version_after : std::nullopt)
                      << ", read back and identical\n";
        }
        for (const auto& note : r.notes) std::cout << "note: " << printable(note) << "\n";
        if (!r.backup_error.empty()) {
            std::cout << "note: the file changed but its history was not updated: " << printable(r.backup_error) << "\n";
        }
        if (remote && !r.refused()) {
            std::cout << "the local file " << printable(s.cfg.tunnel.config_file)
                      << " is left as it was (`ingress migrate --to local` goes back to it)\n";
        }
        if (!steps.empty()) {
            std::cout << (r.dry_run ? "after the migration, by hand" : "next, by hand")
                      << " (tunnelmgr changes neither its own config nor cloudflared's unit):\n";
            for (const auto& line : steps) std::cout << "  " << printable(line) << "\n";
        }
    }
    if (r.refused()) {
        // The sentence goes to stderr; with --json the object on stdout carries it too.
        return run_result::fatal("ingress migrate: refused: " + r.refusal, 4);
    }
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
