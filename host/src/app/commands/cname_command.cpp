// `tunnelmgr cname add|rm|ls|check` and `domains`: the operator's shell, acting as the admin, through
// the same table of host calls as every MCP session (so the same checks and audit rows).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include <boost/program_options.hpp>
#include <rapidjson/prettywriter.h>

#include "app/commands/commands.hpp"
#include "common/terminal_text.hpp"
#include "service/core_services.hpp"
#include "core/cname_pipeline.hpp"
#include "core/json.hpp"
#include "core/origin_settings.hpp"
#include "service/api_client.hpp"
#include "service/host_calls.hpp"

namespace po = boost::program_options;

namespace tunnelmgr::app {
namespace {

int exit_code_for(core::errc c) {
    switch (c) {
        case core::errc::invalid:
        case core::errc::denied:
        case core::errc::not_found:
        case core::errc::conflict: return 4;  // the request was refused: nothing changed
        default: return 5;                    // something failed on the way
    }
}

void print_pretty(const std::string& json) {
    auto d = core::json::parse(json);
    if (!d) {
        std::cout << json << "\n";
        return;
    }
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    d->Accept(w);
    std::cout << buf.GetString() << "\n";
}

struct parsed_args {
    po::variables_map vm;
    std::vector<std::string> positional;
};

// Parses the command's own options; `--json` is always allowed.
tl::expected<parsed_args, std::string> parse(const std::vector<std::string>& args, po::options_description desc,
                                             const char* usage) {
    desc.add_options()("json", "print JSON")("positional", po::value<std::vector<std::string>>());
    po::positional_options_description pos;
    pos.add("positional", -1);
    parsed_args out;
    try {
        po::store(po::command_line_parser(args).options(desc).positional(pos).run(), out.vm);
        po::notify(out.vm);
    } catch (const po::error& e) {
        return tl::unexpected(std::string(e.what()) + "; usage: " + usage);
    }
    if (out.vm.count("positional") != 0U) out.positional = out.vm["positional"].as<std::vector<std::string>>();
    return out;
}

// The operator's shell over the API socket: the daemon accepts root and its own user as the admin
// without a token; anyone else gives the admin token in TUNNELMGR_TOKEN.
core::result<std::string> call_through_daemon(app_state& s, const std::string& op, const std::string& args) {
    static bool opened = false;
    if (!opened) {
        service::session_request want;
        want.admin = true;
        if (char* t = std::getenv("TUNNELMGR_TOKEN"); t != nullptr) {
            want.token = t;
            std::fill(t, t + std::strlen(t), '\0');
            ::unsetenv("TUNNELMGR_TOKEN");
        }
        auto who = s.api->open_session(want);
        if (!who) {
            return core::fail(who.error().code, "the tunnelmgr daemon on " + s.api->path() +
                                                    " refused the admin session: " + who.error().message);
        }
        s.api->on_event([](const std::string& method, const std::string& params) {
            if (method != "call.progress") return;
            auto p = core::json::parse(params);
            if (!p) return;
            std::fprintf(stderr, "  [%lld/%lld] %s\n", static_cast<long long>(core::json::i64(*p, "done")),
                         static_cast<long long>(core::json::i64(*p, "total")), core::json::str(*p, "step").c_str());
        });
        opened = true;
    }
    return s.api->call(op, args);
}

run_result fail_with(const core::error& e) { return run_result::fatal(e.message, exit_code_for(e.code)); }

// Progress lines go to stderr unless the output is JSON; `_progress` asks the pipeline for them.
// Through the daemon when one answers (reach_daemon), else in-process: the same table either way.
core::result<std::string> call_as_admin(app_state& s, const std::string& op, core::json::object& args, bool progress) {
    if (progress) args.set("_progress", "cli");
    if (s.api) return call_through_daemon(s, op, args.str());
    service::host_calls calls(*s.core, *s.state, [](const std::string&, const std::string& step, int done, int total) {
        std::fprintf(stderr, "  [%d/%d] %s\n", done, total, step.c_str());
    });
    return calls.call(op, args.str(), core::session::admin_session("cli"));
}

// The arguments of cname.request and target.check from `SUBDOMAIN --port N --project P [--domain D]`.
core::json::object cname_args(const parsed_args& p) {
    core::json::object a;
    a.set("subdomain", p.positional[0]).set("port", p.vm["port"].as<int64_t>());
    a.set("projectName", p.vm["project"].as<std::string>());
    if (p.vm.count("domain") != 0U) a.set("domain", p.vm["domain"].as<std::string>());
    return a;
}

// `--origin KEY=VALUE` words as the host calls' originRequest object; checked here so a typo is
// said before anything is sent.
core::result<std::string> origin_arg(const parsed_args& p) {
    std::vector<std::string> words;
    if (p.vm.count("origin") != 0U) words = p.vm["origin"].as<std::vector<std::string>>();
    auto settings = core::origin_settings_from_words(words);
    if (!settings) return tl::unexpected(settings.error());
    return settings->to_json();
}

// "in 1h 59m", "in 3d 4h", "due now": when a name expires, for the table.
std::string expires_text(int64_t at_ms) {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    int64_t s = (at_ms - now) / 1000;
    if (s <= 0) return "due now";
    const int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
    if (d > 0) return "in " + std::to_string(d) + "d " + std::to_string(h) + "h";
    if (h > 0) return "in " + std::to_string(h) + "h " + std::to_string(m) + "m";
    if (m > 0) return "in " + std::to_string(m) + "m";
    return "in " + std::to_string(s) + "s";
}

void print_origin_note(const rapidjson::Value& doc) {
    if (std::string note = core::json::str(doc, "origin_note"); !note.empty()) std::cout << "note: " << note << "\n";
}

run_result cname_add(app_state& s, const std::vector<std::string>& args) {
    const char* usage = "tunnelmgr cname add SUBDOMAIN --port N --project P [--domain D] [--ttl 2h] "
                        "[--origin KEY=VALUE]... [--json]";
    po::options_description d;
    d.add_options()("port", po::value<int64_t>())("project", po::value<std::string>())("domain", po::value<std::string>())(
        "ttl", po::value<std::string>())("origin", po::value<std::vector<std::string>>()->composing());
    auto p = parse(args, d, usage);
    if (!p) return run_result::fatal("cname add: " + p.error(), 2);
    if (p->positional.size() != 1 || p->vm.count("port") == 0U || p->vm.count("project") == 0U) {
        return run_result::fatal(std::string("cname add: give one SUBDOMAIN, --port and --project; usage: ") + usage, 2);
    }
    bool json = p->vm.count("json") != 0U;
    auto a = cname_args(*p);
    if (p->vm.count("ttl") != 0U) {
        const std::string ttl = p->vm["ttl"].as<std::string>();
        if (auto t = core::parse_ttl(ttl); !t) return run_result::fatal("cname add: " + t.error().message, 2);
        a.set("ttl", ttl);
    }
    auto origin = origin_arg(*p);
    if (!origin) return run_result::fatal("cname add: " + origin.error().message, 2);
    if (*origin != "{}") a.set_raw("originRequest", *origin);
    auto r = call_as_admin(s, "cname.request", a, !json);
    if (!r) return fail_with(r.error());
    if (json) {
        print_pretty(*r);
    } else {
        auto doc = core::json::parse(*r);
        std::cout << core::json::str(*doc, "url") << " -> " << core::json::str(*doc, "ingress_target") << " ("
                  << core::json::str(*doc, "target_type") << ")\n"
                  << core::json::str(*doc, "apply") << "\n";
        if (int64_t at = core::json::i64(*doc, "expires_at"); at > 0) std::cout << "expires " << expires_text(at) << "\n";
        print_origin_note(*doc);
    }
    return run_result::proceed();
}

run_result cname_retarget(app_state& s, const std::vector<std::string>& args) {
    const char* usage = "tunnelmgr cname retarget HOSTNAME (--port N | --target URL) [--origin KEY=VALUE]... "
                        "[--origin-clear] [--json]";
    po::options_description d;
    d.add_options()("port", po::value<int64_t>())("target", po::value<std::string>())(
        "origin", po::value<std::vector<std::string>>()->composing())("origin-clear", "drop the rule's origin settings");
    auto p = parse(args, d, usage);
    if (!p) return run_result::fatal("cname retarget: " + p.error(), 2);
    if (p->positional.size() != 1) return run_result::fatal(std::string("cname retarget: give one HOSTNAME; usage: ") + usage, 2);
    const bool clear = p->vm.count("origin-clear") != 0U, has_origin = p->vm.count("origin") != 0U;
    if (clear && has_origin) return run_result::fatal("cname retarget: give --origin or --origin-clear, not both", 2);
    bool json = p->vm.count("json") != 0U;
    core::json::object a;
    a.set("hostname", p->positional[0]);
    if (p->vm.count("port") != 0U) a.set("port", p->vm["port"].as<int64_t>());
    if (p->vm.count("target") != 0U) a.set("target", p->vm["target"].as<std::string>());
    if (clear) a.set_raw("originRequest", "{}");
    if (has_origin) {
        auto origin = origin_arg(*p);
        if (!origin) return run_result::fatal("cname retarget: " + origin.error().message, 2);
        a.set_raw("originRequest", *origin);
    }
    auto r = call_as_admin(s, "cname.retarget", a, !json);
    if (!r) return fail_with(r.error());
    if (json) {
        print_pretty(*r);
    } else {
        auto doc = core::json::parse(*r);
        if (!core::json::boolean(*doc, "changed")) {
            std::cout << core::json::str(*doc, "apply") << "\n";
        } else {
            std::cout << core::json::str(*doc, "hostname") << ": " << core::json::str(*doc, "previous_target") << " -> "
                      << core::json::str(*doc, "ingress_target") << " (" << core::json::str(*doc, "target_type") << ")\n"
                      << core::json::str(*doc, "apply") << "\n";
        }
        print_origin_note(*doc);
    }
    return run_result::proceed();
}

run_result cname_check(app_state& s, const std::vector<std::string>& args) {
    const char* usage = "tunnelmgr cname check SUBDOMAIN --port N --project P [--domain D] [--json]";
    po::options_description d;
    d.add_options()("port", po::value<int64_t>())("project", po::value<std::string>())("domain", po::value<std::string>());
    auto p = parse(args, d, usage);
    if (!p) return run_result::fatal("cname check: " + p.error(), 2);
    if (p->positional.size() != 1 || p->vm.count("port") == 0U || p->vm.count("project") == 0U) {
        return run_result::fatal(std::string("cname check: give one SUBDOMAIN, --port and --project; usage: ") + usage, 2);
    }
    auto a = cname_args(*p);
    auto r = call_as_admin(s, "target.check", a, false);
    if (!r) return fail_with(r.error());
    auto doc = core::json::parse(*r);
    bool ok = doc && core::json::boolean(*doc, "available");
    if (p->vm.count("json") != 0U) {
        print_pretty(*r);
    } else if (ok) {
        std::cout << core::json::str(*doc, "hostname") << " would point at " << core::json::str(*doc, "ingress_target")
                  << " (" << core::json::str(*doc, "target_type") << "): " << core::json::str(*doc, "reason") << "\n";
        std::string probe = core::json::str(*doc, "probe");
        if (!probe.empty()) std::cout << "probe: " << probe << "\n";
    } else {
        std::cout << core::json::str(*doc, "hostname") << " would be refused: " << core::json::str(*doc, "problem") << "\n";
    }
    s.exit_code = ok ? 0 : 4;
    return run_result::proceed();
}

run_result cname_rm(app_state& s, const std::vector<std::string>& args) {
    const char* usage = "tunnelmgr cname rm HOSTNAME [--json]";
    auto p = parse(args, po::options_description(), usage);
    if (!p) return run_result::fatal("cname rm: " + p.error(), 2);
    if (p->positional.size() != 1) return run_result::fatal(std::string("cname rm: give one HOSTNAME; usage: ") + usage, 2);
    bool json = p->vm.count("json") != 0U;
    core::json::object a;
    a.set("hostname", p->positional[0]);
    auto r = call_as_admin(s, "cname.delete", a, !json);
    if (!r) return fail_with(r.error());
    if (json) {
        print_pretty(*r);
    } else if (auto out = core::json::parse(*r); out && !core::json::str(*out, "handed_to").empty()) {
        std::cout << core::json::str(*out, "apply") << "\n";  // another machine serves it and removes it
    } else {
        std::cout << "deleted " << p->positional[0] << "\n";
    }
    return run_result::proceed();
}

// Every row (of `project`, when given) page by page, each page starting after the last hostname of the
// one before (an index seek, where an offset re-reads every row before it). A daemon from before keyset
// paging answers no next_after: then the walk goes on by offset. nullopt when done, else how `what` ends.
template <class OnRow>
std::optional<run_result> walk_cname_pages(app_state& s, const std::string& project, const char* what, OnRow on_row) {
    std::optional<std::string> after;
    for (int64_t offset = 0;;) {
        core::json::object a;
        a.set("limit", 1000);
        if (after) {
            a.set("after", *after);
        } else if (offset > 0) {
            a.set("offset", offset);
        }
        if (!project.empty()) a.set("projectName", project);
        auto r = call_as_admin(s, "cname.list", a, false);
        if (!r) return fail_with(r.error());
        auto page = core::json::parse(*r);
        if (!page || !page->IsObject() || !page->HasMember("cnames") || !(*page)["cnames"].IsArray()) {
            return run_result::fatal(std::string(what) + ": the hostname list came back malformed", 5);
        }
        for (const auto& row : (*page)["cnames"].GetArray()) on_row(row);
        if (auto next = page->FindMember("next_after"); next != page->MemberEnd()) {
            if (!next->value.IsString()) return std::nullopt;
            after = std::string(next->value.GetString(), next->value.GetStringLength());
            continue;
        }
        auto next = page->FindMember("next_offset");
        if (next == page->MemberEnd() || !next->value.IsInt64()) return std::nullopt;
        offset = next->value.GetInt64();
    }
}

run_result cname_ls(app_state& s, const std::vector<std::string>& args) {
    const char* usage = "tunnelmgr cname ls [--project P] [--json]";
    po::options_description d;
    d.add_options()("project", po::value<std::string>());
    auto p = parse(args, d, usage);
    if (!p) return run_result::fatal("cname ls: " + p.error(), 2);
    if (!p->positional.empty()) return run_result::fatal(std::string("cname ls takes no arguments; usage: ") + usage, 2);
    std::string project = p->vm.count("project") != 0U ? p->vm["project"].as<std::string>() : "";
    rapidjson::Document all(rapidjson::kArrayType);
    if (auto stopped = walk_cname_pages(s, project, "cname ls", [&all](const rapidjson::Value& row) {
            all.PushBack(rapidjson::Value(row, all.GetAllocator()), all.GetAllocator());
        })) {
        return *stopped;
    }
    std::string rows = core::json::to_string(all);
    if (p->vm.count("json") != 0U) {
        print_pretty(rows);
        return run_result::proceed();
    }
    auto doc = core::json::parse(rows);
    // A state shared by several machines names each row's machine: then a MACHINE column shows it.
    bool machines = false;
    if (doc && doc->IsArray()) {
        for (const auto& row : doc->GetArray()) machines = machines || !core::json::str(row, "machine").empty();
    }
    if (machines) std::printf("%-16s ", "MACHINE");
    std::printf("%-40s %-14s %-6s %-10s %-14s %s\n", "HOSTNAME", "PROJECT", "PORT", "TYPE", "EXPIRES", "TARGET");
    size_t n = 0;
    if (doc && doc->IsArray()) {
        for (const auto& row : doc->GetArray()) {
            ++n;
            if (machines) std::printf("%-16s ", core::json::str(row, "machine").c_str());
            const int64_t at = core::json::i64(row, "expires_at");
            std::string target = core::json::str(row, "target");
            if (auto o = row.FindMember("origin_request"); o != row.MemberEnd() && o->value.IsObject()) {
                target += "  originRequest " + core::json::to_string(o->value);
            }
            std::printf("%-40s %-14s %-6lld %-10s %-14s %s\n", core::json::str(row, "hostname").c_str(),
                        core::json::str(row, "project").c_str(), static_cast<long long>(core::json::i64(row, "port")),
                        core::json::str(row, "target_type").c_str(), at > 0 ? expires_text(at).c_str() : "-",
                        target.c_str());
        }
    }
    if (n == 0) std::printf("(none)\n");
    return run_result::proceed();
}

}  // namespace

core::result<std::string> admin_call(app_state& s, const std::string& op, core::json::object& args, bool progress) {
    return call_as_admin(s, op, args, progress);
}

// `tunnelmgr project purge NAME [--dry-run] [--json]`: every hostname of a project that left the
// config, removed through the pipeline (rule, then record, then row; each audited) — what reconcile
// reports as project_removed. A project still in the config is refused: its names are in use.
static run_result project_purge(app_state& s, const std::vector<std::string>& args) {
    const char* usage = "tunnelmgr project purge NAME [--dry-run] [--json]";
    po::options_description desc;
    desc.add_options()("dry-run", "list what would be removed");
    auto p = parse(args, desc, usage);
    if (!p) return run_result::fatal("project purge: " + p.error(), 2);
    if (p->positional.size() != 1) return run_result::fatal(std::string("project purge: give one NAME; usage: ") + usage, 2);
    const std::string& name = p->positional[0];
    bool json = p->vm.count("json") != 0U;
    bool dry = p->vm.count("dry-run") != 0U;
    if (s.cfg.projects.count(name) != 0U) {
        return run_result::fatal("project purge: project '" + name + "' is still in " + s.cfg.source +
                                     "; purge is for projects that left: remove it from `projects:` first, or "
                                     "remove single names with `tunnelmgr cname rm`",
                                 4);
    }
    // Every name first, then one delete each.
    std::vector<std::string> hosts;
    if (auto stopped = walk_cname_pages(s, name, "project purge", [&hosts](const rapidjson::Value& row) {
            hosts.push_back(core::json::str(row, "hostname"));
        })) {
        return *stopped;
    }
    rapidjson::Document out(rapidjson::kObjectType);
    auto& al = out.GetAllocator();
    rapidjson::Value removed(rapidjson::kArrayType), failed(rapidjson::kArrayType);
    for (const auto& h : hosts) {
        if (dry) {
            removed.PushBack(rapidjson::Value(h.c_str(), al), al);
            if (!json) std::cout << "would remove " << printable(h) << "\n";
            continue;
        }
        core::json::object a;
        a.set("hostname", h);
        auto r = call_as_admin(s, "cname.delete", a, !json);
        if (r) {
            removed.PushBack(rapidjson::Value(h.c_str(), al), al);
            if (!json) std::cout << "removed " << printable(h) << "\n";
        } else {
            rapidjson::Value f(rapidjson::kObjectType);
            f.AddMember("hostname", rapidjson::Value(h.c_str(), al), al);
            f.AddMember("error", rapidjson::Value(r.error().message.c_str(), al), al);
            failed.PushBack(f, al);
            if (!json) std::cout << "FAILED " << printable(h) << ": " << printable(r.error().message) << "\n";
        }
    }
    const bool all_done = failed.Empty();
    out.AddMember("project", rapidjson::Value(name.c_str(), al), al);
    out.AddMember("dry_run", dry, al);
    out.AddMember(rapidjson::StringRef(dry ? "would_remove" : "removed"), removed, al);
    out.AddMember("failed", failed, al);
    if (json) {
        print_pretty(core::json::to_string(out));
    } else if (hosts.empty()) {
        std::cout << "project '" << printable(name) << "' holds no hostnames\n";
    }
    if (!all_done) s.exit_code = 5;
    return run_result::proceed();
}

run_result cmd_cname(app_state& s) {
    if (s.opts.args.empty()) return run_result::fatal("cname: say add, rm, retarget, ls or check (see tunnelmgr --help)", 2);
    std::string sub = s.opts.args.front();
    std::vector<std::string> rest(s.opts.args.begin() + 1, s.opts.args.end());
    if (sub == "add") return cname_add(s, rest);
    if (sub == "rm") return cname_rm(s, rest);
    if (sub == "retarget") return cname_retarget(s, rest);
    if (sub == "ls") return cname_ls(s, rest);
    if (sub == "check") return cname_check(s, rest);
    return run_result::fatal("cname: unknown action '" + sub + "': use add, rm, retarget, ls or check", 2);
}

run_result cmd_domains(app_state& s) {
    bool refresh = false, json = false;
    for (const auto& a : s.opts.args) {
        if (a == "--refresh") {
            refresh = true;
        } else if (a == "--json") {
            json = true;
        } else {
            return run_result::fatal("domains: unknown argument '" + a + "' (use --refresh, --json)", 2);
        }
    }
    core::json::object none;
    auto r = call_as_admin(s, refresh ? "domains.refresh" : "domains.list", none, false);
    if (!r) return fail_with(r.error());
    auto doc = core::json::parse(*r);
    if (json) {
        print_pretty(*r);
        return run_result::proceed();
    }
    std::printf("%-40s %-34s %s\n", "ZONE", "ID", "STATUS");
    size_t n = 0;
    if (doc && doc->IsArray()) {
        for (const auto& z : doc->GetArray()) {
            ++n;
            std::printf("%-40s %-34s %s\n", core::json::str(z, "name").c_str(), core::json::str(z, "zone_id").c_str(),
                        core::json::str(z, "status").c_str());
        }
    }
    if (n == 0) std::printf("(none known%s)\n", (s.api || (s.core && s.core->dns)) ? "" : "; configure the dns slot to discover zones");
    return run_result::proceed();
}

run_result cmd_project(app_state& s) {
    if (s.opts.args.empty() || s.opts.args.front() != "purge") {
        return run_result::fatal("project: the one action is purge; usage: tunnelmgr project purge NAME [--dry-run] [--json]", 2);
    }
    return project_purge(s, std::vector<std::string>(s.opts.args.begin() + 1, s.opts.args.end()));
}

}  // namespace tunnelmgr::app
