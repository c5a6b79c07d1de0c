// Sizes the sqlite-state file for a busy machine (1,000 CNAMEs, 100,000 audit rows) and measures
// write throughput: per call through sqlite_store (each call its own durable transaction), and
// batched for the bulk of the audit rows so the run stays short.
//
//   bench_sqlite_state [--dir DIR] [--cnames N] [--audit N] [--durable-audit N] [--keep]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "sqlite_store.hpp"

namespace fs = std::filesystem;
using namespace tunnelmgr::plugins::sqlite_state;

namespace {

using stopwatch = std::chrono::steady_clock;

double seconds_since(stopwatch::time_point start) {
    return std::chrono::duration<double>(stopwatch::now() - start).count();
}

int64_t arg_int(int argc, char** argv, const std::string& name, int64_t fallback) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (argv[i] == name) return std::strtoll(argv[i + 1], nullptr, 10);
    }
    return fallback;
}

std::string arg_str(int argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (argv[i] == name) return argv[i + 1];
    }
    return fallback;
}

bool has_flag(int argc, char** argv, const std::string& name) {
    for (int i = 1; i < argc; ++i) {
        if (argv[i] == name) return true;
    }
    return false;
}

// An audit entry shaped like the ones the CNAME pipeline writes.
audit_entry audit_row(int64_t i) {
    audit_entry e;
    const std::string project = "project" + std::to_string(i % 20);
    e.actor = project;
    e.role = "project";
    e.action = i % 3 == 0 ? "cname.delete" : "cname.request";
    e.target = "svc" + std::to_string(i % 1000) + ".example.com";
    e.result = "ok";
    e.details_json = R"({"port":)" + std::to_string(3100 + i % 100) + R"(,"target":"http://localhost:)" +
                     std::to_string(3100 + i % 100) + R"(","duration_ms":)" + std::to_string(i % 900) + "}";
    return e;
}

}  // namespace

int main(int argc, char** argv) {
    const int64_t cnames = arg_int(argc, argv, "--cnames", 1000);
    const int64_t audit_total = arg_int(argc, argv, "--audit", 100000);
    const int64_t audit_durable = std::min(arg_int(argc, argv, "--durable-audit", 3000), audit_total);
    const fs::path dir = arg_str(argc, argv, "--dir",
                                 (fs::temp_directory_path() / ("bench-sqlite-state-" + std::to_string(::getpid()))).string());
    fs::remove_all(dir);

    store_config config;
    config.path = (dir / "state.db").string();
    auto opened = sqlite_store::open(config);
    if (!opened) {
        std::fprintf(stderr, "cannot open: %s\n", opened.error().message.c_str());
        return 1;
    }
    sqlite_store& store = **opened;

    auto start = stopwatch::now();
    for (int64_t i = 0; i < cnames; ++i) {
        cname_row r;
        r.subdomain = "svc" + std::to_string(i);
        r.domain = "example.com";
        r.hostname = r.subdomain + "." + r.domain;
        r.project = "project" + std::to_string(i % 20);
        r.port = 3100 + i % 100;
        r.target = "http://" + r.project + "-web:" + std::to_string(r.port);
        r.target_type = "container";
        r.container_name = r.project + "-web";
        r.docker_network = "tunnel";
        r.dns_record_id = "0123456789abcdef0123456789abcd" + std::to_string(i % 100);
        r.zone_id = "fedcba9876543210fedcba9876543210";
        if (auto id = store.cname_insert(r); !id) {
            std::fprintf(stderr, "cname_insert: %s\n", id.error().message.c_str());
            return 1;
        }
    }
    const double cname_s = seconds_since(start);

    start = stopwatch::now();
    for (int64_t i = 0; i < audit_durable; ++i) {
        if (auto r = store.audit_append(audit_row(i)); !r) {
            std::fprintf(stderr, "audit_append: %s\n", r.error().message.c_str());
            return 1;
        }
    }
    const double durable_s = seconds_since(start);

    // The rest in one transaction on a second connection, with the same columns the store writes.
    const int64_t batched = audit_total - audit_durable;
    start = stopwatch::now();
    {
        SQLite::Database db(config.path, SQLite::OPEN_READWRITE, 5000);
        SQLite::Transaction txn(db);
        SQLite::Statement ins(db,
                              "INSERT INTO audit_log (ts, actor, role, action, target, result, error, details, project) "
                              "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)");
        const int64_t now = system_clock_ms();
        for (int64_t i = audit_durable; i < audit_total; ++i) {
            const audit_entry e = audit_row(i);
            ins.bind(1, now - (audit_total - i) * 1000);
            ins.bind(2, e.actor);
            ins.bind(3, *e.role);
            ins.bind(4, e.action);
            ins.bind(5, *e.target);
            ins.bind(6, *e.result);
            ins.bind(7, e.details_json);
            ins.bind(8, e.actor);
            ins.exec();
            ins.reset();
        }
        txn.commit();
    }
    const double batched_s = seconds_since(start);

    start = stopwatch::now();
    audit_filter filter;
    filter.project = "project7";
    const auto page = store.audit_query(filter);
    const double query_ms = seconds_since(start) * 1000;

    if (auto c = store.checkpoint(); !c) {
        std::fprintf(stderr, "checkpoint: %s\n", c.error().message.c_str());
        return 1;
    }
    const auto stats = store.stats();
    if (!stats) {
        std::fprintf(stderr, "stats: %s\n", stats.error().message.c_str());
        return 1;
    }

    std::printf("path=%s\n", config.path.c_str());
    std::printf("cnames=%lld audit_rows=%lld schema_version=%lld\n", static_cast<long long>(stats->cnames),
                static_cast<long long>(stats->audit_log), static_cast<long long>(stats->schema_version));
    std::printf("file_bytes=%lld (%.2f MiB) wal_bytes=%lld page_size=%lld page_count=%lld\n",
                static_cast<long long>(stats->file_bytes), static_cast<double>(stats->file_bytes) / (1024.0 * 1024.0),
                static_cast<long long>(stats->wal_bytes), static_cast<long long>(stats->page_size),
                static_cast<long long>(stats->page_count));
    std::printf("cname_insert: %lld calls in %.3f s = %.0f/s (each its own durable transaction)\n",
                static_cast<long long>(cnames), cname_s, static_cast<double>(cnames) / cname_s);
    std::printf("audit_append: %lld calls in %.3f s = %.0f/s (each its own durable transaction)\n",
                static_cast<long long>(audit_durable), durable_s, static_cast<double>(audit_durable) / durable_s);
    std::printf("audit batched: %lld rows in %.3f s = %.0f/s (one transaction)\n", static_cast<long long>(batched),
                batched_s, batched_s > 0 ? static_cast<double>(batched) / batched_s : 0.0);
    std::printf("audit_query project=project7 limit=100: %zu rows in %.2f ms\n", page ? page->size() : 0, query_ms);

    opened->reset();
    if (!has_flag(argc, argv, "--keep")) fs::remove_all(dir);
    return 0;
}
