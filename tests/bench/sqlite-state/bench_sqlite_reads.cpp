// Times the store's small reads, the ones an MCP tool makes per call (a row, a count, a page, an
// audit filter), at 10,000 CNAMEs and 10,000 audit rows; and the last page of a listing asked by offset
// (the store reads and drops every row before it) and by after (a seek to the previous page's last
// hostname), of every row and of one project; and each audit filter (`tunnelmgr audit`, MCP) over
// --audit-rows rows (default: as many as --rows). A driver for the issue notes, not a test.
//
//   bench_sqlite_reads [--rows N] [--audit-rows M] [--benchmark_repetitions=...] [other Google Benchmark flags]
//   bench_sqlite_reads --benchmark_filter=last_page    # offset vs after only
//   bench_sqlite_reads --audit-rows 1000000 --benchmark_filter=audit_filter   # issue 13: 10x the audit log
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "sqlite_store.hpp"

namespace fs = std::filesystem;
using namespace tunnelmgr::plugins::sqlite_state;

namespace {

int64_t g_rows = 10000;
int64_t g_audit_rows = -1;  // -1: as many as g_rows
constexpr int64_t projects = 20;
fs::path g_dir;
std::unique_ptr<sqlite_store> g_store;

std::string hostname_of(int64_t i) { return "svc" + std::to_string(i) + ".example.com"; }
std::string project_of(int64_t i) { return "project" + std::to_string(i % projects); }

// The rows go in through a second connection in one transaction: 10,000 durable commits would
// only measure the disk.
void seed(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READWRITE, 5000);
    SQLite::Transaction txn(db);
    SQLite::Statement cname(db,
                            "INSERT INTO cnames (hostname, subdomain, domain, project, port, target, target_type, "
                            "container_name, docker_network, dns_record_id, zone_id, created_at, expires_at, "
                            "origin_request) VALUES (?, ?, 'example.com', ?, ?, ?, 'container', ?, 'tunnel', ?, "
                            "'fedcba9876543210fedcba9876543210', ?, NULL, NULL)");
    SQLite::Statement audit(db,
                            "INSERT INTO audit_log (ts, actor, role, action, target, result, error, details, project) "
                            "VALUES (?, ?, 'project', ?, ?, 'ok', NULL, ?, ?)");
    const int64_t now = system_clock_ms();
    for (int64_t i = 0; i < g_rows; ++i) {
        const std::string project = project_of(i);
        const int64_t port = 3100 + i % 100;
        cname.bind(1, hostname_of(i));
        cname.bind(2, "svc" + std::to_string(i));
        cname.bind(3, project);
        cname.bind(4, port);
        cname.bind(5, "http://" + project + "-web:" + std::to_string(port));
        cname.bind(6, project + "-web");
        cname.bind(7, "0123456789abcdef0123456789abcd" + std::to_string(i % 100));
        cname.bind(8, now - (g_rows - i) * 1000);
        cname.exec();
        cname.reset();
    }
    // The audit log: one entry a second up to now, a third of them deletions, a rare action (one in
    // 1,000, as a retarget or recovery is) and twenty projects.
    for (int64_t i = 0; i < g_audit_rows; ++i) {
        const std::string project = project_of(i);
        audit.bind(1, now - (g_audit_rows - i) * 1000);
        audit.bind(2, project);
        audit.bind(3, i % 1000 == 7 ? "cname.retarget" : i % 3 == 0 ? "cname.delete" : "cname.request");
        audit.bind(4, hostname_of(i % 1000));
        audit.bind(5, R"({"port":)" + std::to_string(3100 + i % 100) + R"(,"duration_ms":)" + std::to_string(i % 900) + "}");
        audit.bind(6, project);
        audit.exec();
        audit.reset();
    }
    txn.commit();
}

template <class T>
void require(const store_result<T>& r, benchmark::State& state) {
    if (!r) state.SkipWithError(r.error().message.c_str());
}

void bm_cname_get(benchmark::State& state) {
    std::vector<std::string> names;
    for (int64_t i = 0; i < 1024; ++i) names.push_back(hostname_of((i * 7919) % g_rows));
    size_t n = 0;
    for (auto _ : state) {
        auto row = g_store->cname_get(names[n++ % names.size()]);
        require(row, state);
        benchmark::DoNotOptimize(row);
    }
}
BENCHMARK(bm_cname_get);

void bm_cname_count_project(benchmark::State& state) {
    cname_filter filter;
    filter.project = "project7";
    for (auto _ : state) {
        auto count = g_store->cname_count(filter);
        require(count, state);
        benchmark::DoNotOptimize(count);
    }
}
BENCHMARK(bm_cname_count_project);

void bm_cname_list_page100(benchmark::State& state) {
    cname_filter filter;
    filter.project = "project7";
    filter.limit = 100;
    filter.offset = 0;
    for (auto _ : state) {
        auto page = g_store->cname_list(filter);
        require(page, state);
        benchmark::DoNotOptimize(page);
    }
}
BENCHMARK(bm_cname_list_page100);

// The last page of 100 rows: of every row (range 0), or of project7's (range 1, a twentieth of them).
// By offset as a client counting rows asks for it, by after as one following next_after does.
constexpr int64_t page_rows = 100;
std::vector<std::string> g_sorted_all, g_sorted_project;  // hostnames in the store's order

cname_filter last_page(bool one_project) {
    cname_filter filter;
    if (one_project) filter.project = "project7";
    filter.limit = page_rows;
    return filter;
}

// Lists the last page over and over, the filter pointed at it by `to_last` (given the sorted names).
template <class ToLast>
void list_last_page(benchmark::State& state, ToLast to_last) {
    const bool one_project = state.range(0) != 0;
    cname_filter filter = last_page(one_project);
    to_last(filter, one_project ? g_sorted_project : g_sorted_all);
    state.SetLabel(one_project ? "project7" : "all");
    for (auto _ : state) {
        auto page = g_store->cname_list(filter);
        require(page, state);
        if (page && page->size() != static_cast<size_t>(page_rows)) state.SkipWithError("not a full last page");
        benchmark::DoNotOptimize(page);
    }
}

void bm_cname_list_last_page_offset(benchmark::State& state) {
    list_last_page(state, [](cname_filter& f, const std::vector<std::string>& sorted) {
        f.offset = static_cast<int64_t>(sorted.size()) - page_rows;
    });
}
BENCHMARK(bm_cname_list_last_page_offset)->Arg(0)->Arg(1);

void bm_cname_list_last_page_after(benchmark::State& state) {
    list_last_page(state, [](cname_filter& f, const std::vector<std::string>& sorted) {
        f.after = sorted[sorted.size() - page_rows - 1];
    });
}
BENCHMARK(bm_cname_list_last_page_after)->Arg(0)->Arg(1);

void bm_audit_query_action(benchmark::State& state) {
    audit_filter filter;
    filter.action = "cname.delete";
    filter.limit = 20;
    for (auto _ : state) {
        auto rows = g_store->audit_query(filter);
        require(rows, state);
        benchmark::DoNotOptimize(rows);
    }
}
BENCHMARK(bm_audit_query_action);

// Every filter `tunnelmgr audit` and the MCP tool offer, a page of 20 (the newest first), by range:
// 0 none, 1 --action (common), 2 --action (rare), 3 --project, 4 --project and --action (rare),
// 5 --since the last hour, 6 --project --since, 7 the next page by before_id deep in the log.
void bm_audit_filter(benchmark::State& state) {
    static const char* names[] = {"none", "action", "rare action", "project", "project+rare action",
                                  "since 1h", "project+since 1h", "before_id (deep)"};
    const int64_t which = state.range(0);
    audit_filter filter;
    filter.limit = 20;
    const int64_t hour_ago = system_clock_ms() - 3600 * 1000;
    if (which == 1) filter.action = "cname.delete";
    if (which == 2 || which == 4) filter.action = "cname.retarget";
    if (which == 3 || which == 4 || which == 6) filter.project = "project7";
    if (which == 5 || which == 6) filter.since_ms = hour_ago;
    if (which == 7) filter.before_id = g_audit_rows / 10;
    state.SetLabel(names[which]);
    for (auto _ : state) {
        auto rows = g_store->audit_query(filter);
        require(rows, state);
        if (rows && rows->empty()) state.SkipWithError("the filter found nothing: the seed is wrong");
        benchmark::DoNotOptimize(rows);
    }
}
BENCHMARK(bm_audit_filter)->DenseRange(0, 7);

// Takes --rows N out of argv before Google Benchmark sees the flags.
void take_rows_flag(int& argc, char** argv) {
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
            g_rows = std::strtoll(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--audit-rows") == 0 && i + 1 < argc) {
            g_audit_rows = std::strtoll(argv[++i], nullptr, 10);
        } else {
            argv[out++] = argv[i];
        }
    }
    argc = out;
}

}  // namespace

int main(int argc, char** argv) {
    take_rows_flag(argc, argv);
    if (g_audit_rows < 0) g_audit_rows = g_rows;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    g_dir = fs::temp_directory_path() / ("bench-sqlite-reads-" + std::to_string(::getpid()));
    fs::remove_all(g_dir);
    store_config config;
    config.path = (g_dir / "state.db").string();
    auto opened = sqlite_store::open(config);
    if (!opened) {
        std::fprintf(stderr, "cannot open: %s\n", opened.error().message.c_str());
        return 1;
    }
    g_store = std::move(*opened);
    seed(config.path);
    for (const bool one_project : {false, true}) {
        cname_filter every;
        if (one_project) every.project = "project7";
        auto rows = g_store->cname_list(every);
        if (!rows) {
            std::fprintf(stderr, "cannot list: %s\n", rows.error().message.c_str());
            return 1;
        }
        for (const auto& r : *rows) (one_project ? g_sorted_project : g_sorted_all).push_back(r.hostname);
    }
    if (g_sorted_project.size() <= static_cast<size_t>(page_rows)) {
        std::fprintf(stderr, "--rows %lld leaves project7 no more than one page: give at least %lld\n",
                     static_cast<long long>(g_rows), static_cast<long long>((page_rows + 1) * projects));
        return 1;
    }
    benchmark::AddCustomContext("rows", std::to_string(g_rows));
    benchmark::AddCustomContext("audit_rows", std::to_string(g_audit_rows));

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    g_store.reset();
    fs::remove_all(g_dir);
    return 0;
}
