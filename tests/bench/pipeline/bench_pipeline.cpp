// Pipeline overhead, measured: N creates, N retargets, then N deletes through the real core, the real
// sqlite-state and cloudflare-dns plugins (loaded by the host's loader) and the Cloudflare fake
// over loopback HTTP, with a real cloudflared config file and no supervisor (so no restart wait).
// Prints per-operation median/p99, totals, the database size; checks the ingress file after every step.
// --rules K first writes K hand-written rules into the ingress file, so each operation runs at K rules
// (issue 13 goal 3: at 1,000 rules within 3x the floor; 3,000 rules within 1.5x of 10), and the floor is
// measured beside it as the issue defines it: the two loopback requests an add makes, an fsync'd write +
// rename of a file the size of the ingress file, and one durable SQLite commit (an audit row through
// the same sqlite-state plugin). The last line is for tests/bench/run_all.sh.
// --history now|after keeps the git history of the ingress file (history_keep 100): `now` commits in the
// change, as a one-shot CLI process does; `after` commits after the change returns, as the daemon does
// (the worker's catching up is timed apart, at the end).
//   bench_pipeline [N=1000] [--rules K] [--history now|after] [--dir D] [--keep]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <map>
#include <vector>

#include "cloudflare_fake.hpp"
#include "core/cname_pipeline.hpp"
#include "core/ingress_file.hpp"
#include "core/ingress_strategy.hpp"
#include "core/target.hpp"
#include "log/logger.hpp"
#include "plugin_host/capability_clients.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"
#include "sys/process.hpp"

using namespace tunnelmgr;
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {
double pct(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}
}  // namespace

int main(int argc, char** argv) {
    int n = 1000;
    int rules = 0;
    bool keep = false;
    std::string history;
    fs::path dir = fs::temp_directory_path() / ("tm-bench-pipeline-" + std::to_string(::getpid()));
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--dir" && i + 1 < argc) {
            dir = argv[++i];
        } else if (a == "--rules" && i + 1 < argc) {
            rules = std::stoi(argv[++i]);
        } else if (a == "--history" && i + 1 < argc) {
            history = argv[++i];
            if (history != "now" && history != "after") {
                std::fprintf(stderr, "--history takes now or after\n");
                return 2;
            }
        } else if (a == "--keep") {
            keep = true;
        } else {
            n = std::stoi(a);
        }
    }
    log::logger::instance().set_level(log::level::warn);
    fs::remove_all(dir);
    fs::create_directories(dir);
    testing::cloudflare_fake::options o;
    o.zones = {"example.com"};
    auto fake = testing::cloudflare_fake::start(o);
    if (!fake) {
        std::fprintf(stderr, "fake: %s\n", fake.error().c_str());
        return 1;
    }
    std::ofstream(dir / "token") << "fake-token-for-tests\n";
    {
        std::ofstream out(dir / "cloudflared.yml");
        out << "tunnel: t\ningress:\n";
        for (int i = 0; i < rules; ++i) {
            out << "  - hostname: hand" << i << ".example.com\n    service: http://localhost:" << 2000 + i % 60000 << "\n";
        }
        out << "  - service: http_status:404\n";
    }

    host::host_services services;
    host::registry reg(services);
    std::vector<std::string> dirs{TM_BENCH_PLUGIN_DIR};
    auto s1 = reg.start_slot("state", {"sqlite-state", "{\"path\":\"" + (dir / "state.db").string() + "\"}", 0}, dirs);
    auto s2 = reg.start_slot("dns", {"cloudflare-dns", "{\"api_base\":\"" + (*fake)->base_url() + "\",\"api_token_file\":\"" +
                                                          (dir / "token").string() + "\",\"account_id\":\"" +
                                                          (*fake)->account_id() + "\",\"budget_per_5min\":1000000}", 0},
                             dirs);
    if (!s1 || !s2) {
        std::fprintf(stderr, "plugins: %s %s\n", s1 ? "" : s1.error().c_str(), s2 ? "" : s2.error().c_str());
        return 1;
    }
    host::state_store_client state(*reg.find("state"));
    host::dns_provider_client dns(*reg.find("dns"));
    auto ingress = core::make_local_ingress((dir / "cloudflared.yml").string(), history.empty() ? "" : (dir / "history").string(),
                                            nullptr, nullptr, {}, 100);
    if (history == "after") ingress->write_history_after_reply();
    core::host_target_selector targets;
    core::pipeline_settings settings;
    settings.tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";
    settings.default_domain = "example.com";
    settings.project_ports["bench"] = {{1, 65535}};
    core::cname_pipeline pipeline(state, &dns, ingress.get(), targets, settings);
    core::ingress_file check((dir / "cloudflared.yml").string(), "");
    auto who = core::session::admin_session("bench");

    std::vector<double> create_ms, delete_ms;
    // Time spent reaching each step (from the previous one), summed: where an operation's time goes.
    std::map<std::string, double> step_ms;
    auto last_step = clk::now();
    auto on_step = [&](const std::string& step, int, int) {
        auto t = clk::now();
        step_ms[step] += std::chrono::duration<double, std::milli>(t - last_step).count();
        last_step = t;
    };
    int invalid_after = 0;
    auto t0 = clk::now();
    double check_ms = 0;
    for (int i = 0; i < n; ++i) {
        core::cname_request req{"h" + std::to_string(i), "", "bench", 1000 + i % 60000};
        auto a = clk::now();
        last_step = a;
        auto r = pipeline.request_cname(who, req, on_step);
        create_ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - a).count());
        if (!r) {
            std::fprintf(stderr, "create %d: %s\n", i, r.error().message.c_str());
            return 1;
        }
        auto c = clk::now();
        if (!check.read_rules()) ++invalid_after;
        check_ms += std::chrono::duration<double, std::milli>(clk::now() - c).count();
    }
    double creates_total = std::chrono::duration<double>(clk::now() - t0).count() - check_ms / 1000;
    // Every name pointed at another port: a retarget edits its rule where it stands (no DNS change).
    std::vector<double> retarget_ms;
    for (int i = 0; i < n; ++i) {
        core::retarget_request req{"h" + std::to_string(i) + ".example.com", 20000 + i % 40000, "", std::nullopt};
        auto a = clk::now();
        last_step = a;
        auto r = pipeline.retarget_cname(who, req);
        retarget_ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - a).count());
        if (!r) {
            std::fprintf(stderr, "retarget %d: %s\n", i, r.error().message.c_str());
            return 1;
        }
        if (!check.read_rules()) ++invalid_after;
    }
    auto size_full = fs::file_size(dir / "state.db") + (fs::exists(dir / "state.db-wal") ? fs::file_size(dir / "state.db-wal") : 0);
    auto ingress_size = fs::file_size(dir / "cloudflared.yml");
    check_ms = 0;
    auto t1 = clk::now();
    for (int i = 0; i < n; ++i) {
        auto a = clk::now();
        last_step = a;
        auto r = pipeline.delete_cname(who, "h" + std::to_string(i) + ".example.com", on_step);
        delete_ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - a).count());
        if (!r) {
            std::fprintf(stderr, "delete %d: %s\n", i, r.error().message.c_str());
            return 1;
        }
        auto c = clk::now();
        if (!check.read_rules()) ++invalid_after;
        check_ms += std::chrono::duration<double, std::milli>(clk::now() - c).count();
    }
    double deletes_total = std::chrono::duration<double>(clk::now() - t1).count() - check_ms / 1000;
    const auto h0 = clk::now();
    const std::string history_error = ingress->flush_history();
    const double catch_up_ms = std::chrono::duration<double, std::milli>(clk::now() - h0).count();
    auto size_after = fs::file_size(dir / "state.db") + (fs::exists(dir / "state.db-wal") ? fs::file_size(dir / "state.db-wal") : 0);

    std::printf("pipeline benchmark: %d creates then %d deletes (fake Cloudflare over loopback HTTP, sqlite-state, "
                "local ingress file, no restart wait)\n",
                n, n);
    std::printf("  create: median %.2f ms  p99 %.2f ms  max %.2f ms  total %.1f s\n", pct(create_ms, 0.5),
                pct(create_ms, 0.99), pct(create_ms, 1.0), creates_total);
    std::printf("  delete: median %.2f ms  p99 %.2f ms  max %.2f ms  total %.1f s\n", pct(delete_ms, 0.5),
                pct(delete_ms, 0.99), pct(delete_ms, 1.0), deletes_total);
    std::printf("  retarget: median %.2f ms  p99 %.2f ms  (each name once, between the creates and the deletes)\n",
                pct(retarget_ms, 0.5), pct(retarget_ms, 0.99));
    std::printf("  database (db+wal) with %d cnames + journal + audit: %.1f KiB; after deleting all: %.1f KiB\n", n,
                static_cast<double>(size_full) / 1024, static_cast<double>(size_after) / 1024);
    std::printf("  ingress file with %d rules: %.1f KiB; invalid after a step: %d of %d\n", n + rules,
                static_cast<double>(ingress_size) / 1024, invalid_after, 3 * n);
    std::printf("  Cloudflare API requests: %zu\n", (*fake)->total_requests());
    if (!history.empty()) {
        auto commits = sys::run({"git", "-C", (dir / "history").string(), "rev-list", "--count", "HEAD"});
        std::printf("  git history (%s): %s commit(s) held after %d changes, catching up after the last took %.1f ms%s%s\n",
                    history.c_str(), commits && commits->exit_code == 0 ? commits->out.substr(0, commits->out.find('\n')).c_str() : "?",
                    2 * n, catch_up_ms, history_error.empty() ? "" : "; error: ", history_error.c_str());
    }
    std::printf("  mean time to reach each step (create: validated dns_created ingress_written applied committed; "
                "delete: validated ingress_removed applied dns_deleted committed), both kinds summed:\n");
    for (const auto& [step, ms] : step_ms) std::printf("    %-16s %8.2f ms\n", step.c_str(), ms / n);
    // The floor of one add: its two loopback requests, and an fsync'd write + rename of the file.
    std::vector<double> floor_ms;
    const std::string zone = (*fake)->find_zone("example.com")->id;
    std::string text;
    {
        std::ifstream in(dir / "cloudflared.yml");
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    for (int i = 0; i < 20; ++i) {
        auto a = clk::now();
        (void)dns.find_record(zone, "floor.example.com", "CNAME");
        (void)dns.find_record(zone, "floor.example.com", "CNAME");
        const fs::path tmp = dir / "floor.tmp";
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ssize_t written = ::write(fd, text.data(), text.size());
            (void)written;
            ::fsync(fd);
            ::close(fd);
            fs::rename(tmp, dir / "floor.yml");
        }
        sdk::model::audit_entry row;
        row.actor = "bench";
        row.role = "admin";
        row.action = "bench.floor";
        row.target = "floor.example.com";
        row.result = "ok";
        (void)state.audit_append(row);
        floor_ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - a).count());
    }
    std::printf("  floor of one add at %d rules (2 loopback requests + fsync'd write and rename + one SQLite commit): "
                "median %.2f ms\n", rules, pct(floor_ms, 0.5));
    std::printf("SUMMARY rules=%d history=%s add_p50=%.3f rm_p50=%.3f add_p99=%.3f rm_p99=%.3f floor_p50=%.3f retarget_p50=%.3f\n",
                rules, history.empty() ? "off" : history.c_str(), pct(create_ms, 0.5), pct(delete_ms, 0.5),
                pct(create_ms, 0.99), pct(delete_ms, 0.99), pct(floor_ms, 0.5), pct(retarget_ms, 0.5));
    if (!keep) fs::remove_all(dir);
    return invalid_after == 0 ? 0 : 1;
}
