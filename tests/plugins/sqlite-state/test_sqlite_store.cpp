// sqlite_store against real SQLite files: migrations and upgrades, every table's behaviour, leases
// and retention on an injected clock, error sentences, and several processes writing at once.
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include "migrations.hpp"
#include "sqlite_store.hpp"

namespace fs = std::filesystem;
using namespace tunnelmgr::plugins::sqlite_state;

namespace {

constexpr int64_t day_ms = 24LL * 60 * 60 * 1000;
constexpr int64_t start_ms = 1'750'000'000'000;

class store_test : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("tm-sqlite-state-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" +
                std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        config_.path = (dir_ / "state" / "state.db").string();  // "state/" does not exist yet
    }
    void TearDown() override {
        store_.reset();
        fs::remove_all(dir_);
    }

    sqlite_store& open() {
        auto s = sqlite_store::open(config_, [this] { return now_; });
        EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
        if (!s) throw std::runtime_error("open failed");
        store_ = std::move(*s);
        return *store_;
    }

    int64_t count(const std::string& sql) {
        SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
        SQLite::Statement q(db, sql);
        q.executeStep();
        return q.getColumn(0).getInt64();
    }

    static cname_row cname(const std::string& sub, const std::string& project, int64_t port = 3100) {
        cname_row r;
        r.subdomain = sub;
        r.domain = "example.com";
        r.hostname = sub + ".example.com";
        r.project = project;
        r.port = port;
        r.target = "http://localhost:" + std::to_string(port);
        r.target_type = "host";
        return r;
    }

    fs::path dir_;
    store_config config_;
    int64_t now_ = start_ms;
    std::unique_ptr<sqlite_store> store_;
};

int64_t newest_version() { return static_cast<int64_t>(embedded_migrations().size()); }

// --- migrations --------------------------------------------------------------------------------

TEST(embedded_migrations, are_numbered_from_one_without_gaps) {
    const auto all = embedded_migrations();
    ASSERT_GE(all.size(), 2u);
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].version, static_cast<int64_t>(i) + 1);
        EXPECT_NE(std::string(all[i].name), "");
        EXPECT_NE(std::string(all[i].sql).find("CREATE"), std::string::npos) << all[i].name;
    }
    EXPECT_EQ(std::string(all[0].name), "initial");
}

TEST_F(store_test, opening_twice_applies_each_migration_once) {
    {
        auto& s = open();
        EXPECT_EQ(s.schema_version().value(), newest_version());
        store_.reset();
    }
    auto& again = open();
    EXPECT_EQ(again.schema_version().value(), newest_version());
    EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), newest_version());
    EXPECT_EQ(count("SELECT COUNT(DISTINCT version) FROM schema_migrations"), newest_version());
    EXPECT_EQ(count("SELECT MIN(applied_at) FROM schema_migrations"), start_ms);
    EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations WHERE version = 1 AND name = 'initial'"), 1);
}

TEST_F(store_test, opens_with_wal_and_creates_missing_directories) {
    open();
    EXPECT_TRUE(fs::exists(config_.path));
    SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "PRAGMA journal_mode");
    q.executeStep();
    EXPECT_EQ(q.getColumn(0).getString(), "wal");
}

TEST_F(store_test, database_at_migration_one_upgrades_with_its_data) {
    fs::create_directories(fs::path(config_.path).parent_path());
    {
        SQLite::Database db(config_.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        auto v = apply_migrations(db, embedded_migrations().first(1), start_ms - day_ms);
        ASSERT_TRUE(v.has_value()) << v.error().message;
        ASSERT_EQ(*v, 1);
        // Rows as the first release wrote them, including its flaws: case variants of one name
        // and Docker rows duplicated by re-polling.
        db.exec(
            "INSERT INTO cnames (hostname, subdomain, domain, project, port, target, created_at) VALUES "
            "('App.Example.com', 'App', 'Example.com', 'consilio', 3100, 'http://localhost:3100', 1),"
            "('app.example.com', 'app', 'example.com', 'intruder', 3200, 'http://localhost:3200', 2),"
            "('api.example.com', 'api', 'example.com', 'consilio', 3101, 'http://localhost:3101', 3);"
            "INSERT INTO docker_networks (id, name, driver, scope, updated_at) VALUES ('n1', 'web', 'bridge', 'local', 1);"
            "INSERT INTO docker_containers (id, name, image, state, project, updated_at) VALUES "
            "('c1', 'consilio-web', 'img', 'running', 'consilio', 1);"
            "INSERT INTO container_ports (container_id, container_port, protocol, host_ip, host_port) VALUES "
            "('c1', 3100, 'tcp', '0.0.0.0', 3100), ('c1', 3100, 'tcp', '0.0.0.0', 3100), ('c1', 9000, 'tcp', NULL, NULL),"
            "('gone', 80, 'tcp', '0.0.0.0', 8080);"
            "INSERT INTO container_networks (container_id, network_id, ip, aliases) VALUES "
            "('c1', 'web', '172.18.0.2', '[\"web\"]'), ('c1', 'web', '172.18.0.3', '[\"web\"]');"
            "INSERT INTO audit_log (ts, actor, role, action, target, result, details) VALUES "
            "(10, 'consilio', 'project', 'cname.request', 'app.example.com', 'ok', '{}'),"
            "(11, 'admin', 'admin', 'cname.delete', 'x.example.com', 'ok', '{}');"
            "INSERT INTO tunnel_health (ts, status, ready_connections) VALUES (12, 'healthy', 4);"
            "INSERT INTO domains (zone_id, name, status, updated_at) VALUES ('z1', 'example.com', 'active', 1);");
    }
    auto& s = open();
    EXPECT_EQ(s.schema_version().value(), newest_version());

    // The older of two case variants stays, lower-cased; the other row could never have been valid.
    auto app = s.cname_get("APP.example.com");
    ASSERT_TRUE(app.has_value()) << app.error().message;
    EXPECT_EQ(app->hostname, "app.example.com");
    EXPECT_EQ(app->project, "consilio");
    EXPECT_EQ(s.cname_list({}).value().size(), 2u);
    EXPECT_EQ(s.cname_insert(cname("API", "other")).error().kind, store_errc::conflict);

    // Duplicated Docker rows collapse to one; the orphan port (no container) is gone.
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_ports"), 2);
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_networks"), 1);
    auto snap = s.docker_snapshot_get().value();
    ASSERT_EQ(snap.containers.size(), 1u);
    EXPECT_EQ(snap.containers[0].ports.size(), 2u);
    ASSERT_EQ(snap.containers[0].networks.size(), 1u);
    EXPECT_EQ(snap.containers[0].networks[0].ip.value_or(""), "172.18.0.3");  // the newest copy won
    EXPECT_FALSE(snap.taken_ms.has_value());

    // Audit rows gained a project from project-role actors.
    audit_filter by_project;
    by_project.project = "consilio";
    auto audit = s.audit_query(by_project).value();
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0].action, "cname.request");
    EXPECT_EQ(s.audit_query({}).value().size(), 2u);
    EXPECT_EQ(s.health_history({}).value().size(), 1u);
    EXPECT_EQ(s.domains_list().value().size(), 1u);
}

TEST_F(store_test, refuses_a_database_newer_than_it_knows) {
    open();
    store_.reset();
    {
        SQLite::Database db(config_.path, SQLite::OPEN_READWRITE);
        db.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)");
    }
    auto s = sqlite_store::open(config_, [this] { return now_; });
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find("newer than this sqlite-state knows"), std::string::npos) << s.error().message;
}

// --- cnames ------------------------------------------------------------------------------------

TEST_F(store_test, cname_insert_get_list_delete) {
    auto& s = open();
    auto id = s.cname_insert(cname("App", "consilio", 3100));
    ASSERT_TRUE(id.has_value()) << id.error().message;
    EXPECT_GT(*id, 0);
    ASSERT_TRUE(s.cname_insert(cname("docs", "other", 3200)).has_value());
    ASSERT_TRUE(s.cname_insert(cname("api", "consilio", 3101)).has_value());

    auto got = s.cname_get("app.EXAMPLE.com");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id, *id);
    EXPECT_EQ(got->hostname, "app.example.com");  // stored lower-case
    EXPECT_EQ(got->port, 3100);
    EXPECT_EQ(got->target_type.value_or(""), "host");
    EXPECT_FALSE(got->container_name.has_value());
    EXPECT_EQ(got->created_at, start_ms);

    auto all = s.cname_list({}).value();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].hostname, "api.example.com");  // ordered by hostname
    EXPECT_EQ(all[2].hostname, "docs.example.com");
    cname_filter mine;
    mine.project = "consilio";
    auto filtered = s.cname_list(mine).value();
    ASSERT_EQ(filtered.size(), 2u);
    for (const auto& r : filtered) EXPECT_EQ(r.project, "consilio");

    ASSERT_TRUE(s.cname_delete("APP.example.com").has_value());
    EXPECT_EQ(s.cname_get("app.example.com").error().kind, store_errc::not_found);
    auto again = s.cname_delete("app.example.com");
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().kind, store_errc::not_found);
    EXPECT_NE(again.error().message.find("app.example.com"), std::string::npos);
}

TEST_F(store_test, cname_conflict_is_case_insensitive_and_names_the_owner) {
    auto& s = open();
    ASSERT_TRUE(s.cname_insert(cname("app", "consilio")).has_value());
    auto dup = s.cname_insert(cname("APP", "other"));
    ASSERT_FALSE(dup.has_value());
    EXPECT_EQ(dup.error().kind, store_errc::conflict);
    EXPECT_NE(dup.error().message.find("consilio"), std::string::npos) << dup.error().message;
    EXPECT_EQ(count("SELECT COUNT(*) FROM cnames"), 1);
}

TEST_F(store_test, cname_insert_refuses_inconsistent_rows) {
    auto& s = open();
    auto bad_port = cname("app", "consilio", 0);
    EXPECT_EQ(s.cname_insert(bad_port).error().kind, store_errc::invalid);
    auto mismatch = cname("app", "consilio");
    mismatch.hostname = "other.example.com";
    auto r = s.cname_insert(mismatch);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, store_errc::invalid);
    EXPECT_NE(r.error().message.find("subdomain"), std::string::npos);
    auto no_project = cname("app", "");
    EXPECT_EQ(s.cname_insert(no_project).error().kind, store_errc::invalid);
    EXPECT_EQ(count("SELECT COUNT(*) FROM cnames"), 0);
}

// --- operations --------------------------------------------------------------------------------

operation_request create_op(const std::string& host, const std::string& project) {
    return operation_request{operation_kind::create, host, project, R"({"port":3100})"};
}

TEST_F(store_test, operation_begin_holds_the_hostname_until_finished) {
    auto& s = open();
    auto id = s.operation_begin(create_op("app.example.com", "consilio"));
    ASSERT_TRUE(id.has_value()) << id.error().message;
    auto second = s.operation_begin(create_op("APP.example.com", "other"));
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().kind, store_errc::conflict);
    EXPECT_NE(second.error().message.find("operation " + std::to_string(*id)), std::string::npos);

    // A different name is free.
    ASSERT_TRUE(s.operation_begin(create_op("api.example.com", "consilio")).has_value());

    // Rolling back releases the name.
    ASSERT_TRUE(s.operation_advance(*id, "rolled_back", R"({"reason":"dns failed"})").has_value());
    EXPECT_TRUE(s.operation_begin(create_op("app.example.com", "other")).has_value());
    EXPECT_EQ(s.operation_advance(*id, "dns_created", "{}").error().kind, store_errc::conflict);
}

TEST_F(store_test, operation_advance_merges_data_and_lists_unfinished_oldest_first) {
    auto& s = open();
    const int64_t first = s.operation_begin(create_op("app.example.com", "consilio")).value();
    now_ += 1000;
    const int64_t second = s.operation_begin(create_op("api.example.com", "consilio")).value();

    now_ += 1000;
    ASSERT_TRUE(s.operation_advance(first, "dns_created", R"({"dns_record_id":"rec-1","zone_id":"z1"})").has_value());
    ASSERT_TRUE(s.operation_advance(first, "ingress_written", R"({"previous_ingress":{"rules":2}})").has_value());

    auto op = s.operation_get(first).value();
    EXPECT_EQ(op.state, "ingress_written");
    EXPECT_EQ(op.created_at, start_ms);
    EXPECT_EQ(op.updated_at, start_ms + 2000);
    EXPECT_NE(op.data_json.find("\"request\":{\"port\":3100}"), std::string::npos) << op.data_json;
    EXPECT_NE(op.data_json.find("\"dns_record_id\":\"rec-1\""), std::string::npos) << op.data_json;
    EXPECT_NE(op.data_json.find("\"previous_ingress\""), std::string::npos) << op.data_json;

    auto unfinished = s.operation_list_unfinished().value();
    ASSERT_EQ(unfinished.size(), 2u);
    EXPECT_EQ(unfinished[0].id, first);
    EXPECT_EQ(unfinished[1].id, second);
    EXPECT_EQ(unfinished[1].state, "validated");

    EXPECT_EQ(s.operation_advance(9999, "dns_created", "{}").error().kind, store_errc::not_found);
    EXPECT_EQ(s.operation_advance(first, "committed", "{}").error().kind, store_errc::invalid);
    EXPECT_EQ(s.operation_advance(first, "Bad State", "{}").error().kind, store_errc::invalid);
    EXPECT_EQ(s.operation_advance(first, "applied", "[1,2]").error().kind, store_errc::invalid);
    EXPECT_EQ(s.operation_get(first).value().state, "ingress_written");  // refused calls changed nothing
}

TEST_F(store_test, operation_commit_writes_the_cname_and_the_state_together) {
    auto& s = open();
    const int64_t id = s.operation_begin(create_op("app.example.com", "consilio")).value();
    ASSERT_TRUE(s.operation_advance(id, "applied", "{}").has_value());
    auto row = cname("app", "consilio");
    ASSERT_TRUE(s.operation_commit(id, row).has_value());
    EXPECT_EQ(s.operation_get(id).value().state, "committed");
    EXPECT_EQ(s.cname_get("app.example.com").value().project, "consilio");
    EXPECT_TRUE(s.operation_list_unfinished().value().empty());
    EXPECT_TRUE(s.operation_commit(id, row).has_value());  // a retried commit does no harm
    EXPECT_EQ(count("SELECT COUNT(*) FROM cnames"), 1);

    // Delete through the journal.
    const int64_t del = s.operation_begin({operation_kind::remove, "app.example.com", "consilio", "{}"}).value();
    ASSERT_TRUE(s.operation_commit(del, cname_row{}).has_value());
    EXPECT_EQ(s.cname_get("app.example.com").error().kind, store_errc::not_found);
    EXPECT_EQ(s.operation_get(del).value().state, "committed");
}

TEST_F(store_test, operation_commit_that_fails_leaves_everything_as_it_was) {
    auto& s = open();
    const int64_t id = s.operation_begin(create_op("app.example.com", "consilio")).value();
    ASSERT_TRUE(s.operation_advance(id, "applied", "{}").has_value());
    // Someone published the name outside the journal meanwhile.
    ASSERT_TRUE(s.cname_insert(cname("app", "other")).has_value());
    auto r = s.operation_commit(id, cname("app", "consilio"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, store_errc::conflict);
    EXPECT_EQ(s.operation_get(id).value().state, "applied");
    EXPECT_EQ(s.cname_get("app.example.com").value().project, "other");

    // A row for another name is refused too, without side effects.
    auto wrong = s.operation_commit(id, cname("elsewhere", "consilio"));
    EXPECT_EQ(wrong.error().kind, store_errc::invalid);
    EXPECT_EQ(s.cname_get("elsewhere.example.com").error().kind, store_errc::not_found);
    EXPECT_EQ(s.operation_commit(4242, cname("x", "consilio")).error().kind, store_errc::not_found);
}

// --- audit and health ----------------------------------------------------------------------------

TEST_F(store_test, audit_query_filters_newest_first_with_limit) {
    auto& s = open();
    for (int i = 0; i < 5; ++i) {
        audit_entry e;
        e.actor = i % 2 == 0 ? "consilio" : "admin";
        e.role = i % 2 == 0 ? "project" : "admin";
        e.action = i < 3 ? "cname.request" : "cname.delete";
        e.target = "h" + std::to_string(i) + ".example.com";
        e.result = "ok";
        e.details_json = R"({"i":)" + std::to_string(i) + "}";
        ASSERT_TRUE(s.audit_append(e).has_value());
        now_ += 1000;
    }
    auto all = s.audit_query({}).value();
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all[0].target.value_or(""), "h4.example.com");
    EXPECT_EQ(all[4].ts, start_ms);
    EXPECT_EQ(all[0].details_json, R"({"i":4})");

    audit_filter f;
    f.project = "consilio";
    EXPECT_EQ(s.audit_query(f).value().size(), 3u);
    f.action = "cname.request";
    EXPECT_EQ(s.audit_query(f).value().size(), 2u);
    audit_filter since;
    since.since_ms = start_ms + 3000;
    EXPECT_EQ(s.audit_query(since).value().size(), 2u);
    audit_filter limited;
    limited.limit = 2;
    auto two = s.audit_query(limited).value();
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[1].target.value_or(""), "h3.example.com");
    limited.limit = 0;
    EXPECT_EQ(s.audit_query(limited).error().kind, store_errc::invalid);
    limited.limit = 10001;
    EXPECT_EQ(s.audit_query(limited).error().kind, store_errc::invalid);

    audit_entry missing;
    missing.actor = "admin";
    EXPECT_EQ(s.audit_append(missing).error().kind, store_errc::invalid);
}

TEST_F(store_test, health_history_newest_first) {
    auto& s = open();
    for (int i = 0; i < 3; ++i) {
        health_observation h;
        h.status = i == 2 ? "restarting" : "healthy";
        h.ready_connections = 4 - i;
        h.restart_count = i;
        h.detail_json = R"({"strikes":)" + std::to_string(i) + "}";
        ASSERT_TRUE(s.health_record(h).has_value());
        now_ += 30'000;
    }
    auto rows = s.health_history({}).value();
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].status, "restarting");
    EXPECT_EQ(rows[0].ready_connections.value_or(-1), 2);
    EXPECT_EQ(rows[2].ts, start_ms);
    health_filter f;
    f.since_ms = start_ms + 30'000;
    EXPECT_EQ(s.health_history(f).value().size(), 2u);
    f.limit = 1;
    EXPECT_EQ(s.health_history(f).value().size(), 1u);
    EXPECT_EQ(s.health_record(health_observation{}).error().kind, store_errc::invalid);
}

// --- domains and docker ----------------------------------------------------------------------------

TEST_F(store_test, domains_replace_replaces) {
    auto& s = open();
    ASSERT_TRUE(s.domains_replace({{"z2", "zeta.org", "active"}, {"z1", "Example.com", "active"}}).has_value());
    auto first = s.domains_list().value();
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].name, "example.com");
    ASSERT_TRUE(s.domains_replace({{"z3", "other.net", "pending"}}).has_value());
    auto second = s.domains_list().value();
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].zone_id, "z3");
    EXPECT_EQ(second[0].status.value_or(""), "pending");
    EXPECT_EQ(s.domains_replace({{"z1", "a.com", {}}, {"z1", "b.com", {}}}).error().kind, store_errc::invalid);
    EXPECT_EQ(s.domains_list().value().size(), 1u);  // the refused replace kept the old list
}

docker_snapshot snapshot_with(int containers, int ports_each) {
    docker_snapshot snap;
    snap.networks.push_back({"net-web", "web", "bridge", "local"});
    snap.networks.push_back({"net-bridge", "bridge", "bridge", "local"});
    for (int c = 0; c < containers; ++c) {
        docker_container dc;
        dc.id = "c" + std::to_string(c);
        dc.name = "consilio-svc" + std::to_string(c);
        dc.image = "busybox";
        dc.state = "running";
        dc.project = "consilio";
        dc.networks.push_back({"web", "172.18.0." + std::to_string(c + 2), {"svc" + std::to_string(c)}});
        for (int p = 0; p < ports_each; ++p) {
            dc.ports.push_back({3100 + p, "tcp", "0.0.0.0", 8000 + c * 10 + p});
            dc.ports.push_back({3100 + p, "tcp", "::", 8000 + c * 10 + p});
        }
        dc.ports.push_back({9000, "tcp", std::nullopt, std::nullopt});  // exposed, not published
        snap.containers.push_back(std::move(dc));
    }
    return snap;
}

TEST_F(store_test, docker_snapshot_replace_replaces_rows_instead_of_appending) {
    auto& s = open();
    ASSERT_TRUE(s.docker_snapshot_replace(snapshot_with(3, 2)).has_value());
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_ports"), 3 * (2 * 2 + 1));
    now_ += 5000;
    ASSERT_TRUE(s.docker_snapshot_replace(snapshot_with(3, 2)).has_value());  // the same poll again
    EXPECT_EQ(count("SELECT COUNT(*) FROM docker_containers"), 3);
    EXPECT_EQ(count("SELECT COUNT(*) FROM docker_networks"), 2);
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_networks"), 3);
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_ports"), 3 * (2 * 2 + 1));

    ASSERT_TRUE(s.docker_snapshot_replace(snapshot_with(1, 1)).has_value());  // containers went away
    EXPECT_EQ(count("SELECT COUNT(*) FROM docker_containers"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_networks"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_ports"), 3);

    auto snap = s.docker_snapshot_get().value();
    EXPECT_EQ(snap.taken_ms.value_or(0), start_ms + 5000);
    ASSERT_EQ(snap.networks.size(), 2u);
    EXPECT_EQ(snap.networks[0].name, "bridge");
    ASSERT_EQ(snap.containers.size(), 1u);
    const auto& c = snap.containers[0];
    EXPECT_EQ(c.name, "consilio-svc0");
    ASSERT_EQ(c.networks.size(), 1u);
    EXPECT_EQ(c.networks[0].network, "web");
    ASSERT_EQ(c.networks[0].aliases.size(), 1u);
    EXPECT_EQ(c.networks[0].aliases[0], "svc0");
    ASSERT_EQ(c.ports.size(), 3u);
    EXPECT_EQ(c.ports[0].container_port, 3100);
    EXPECT_TRUE(c.ports[0].host_port.has_value());
    EXPECT_EQ(c.ports[2].container_port, 9000);
    EXPECT_FALSE(c.ports[2].host_port.has_value());
    EXPECT_FALSE(c.ports[2].host_ip.has_value());
}

TEST_F(store_test, docker_snapshot_collapses_repeated_facts_and_refuses_repeated_containers) {
    auto& s = open();
    auto snap = snapshot_with(1, 1);
    snap.containers[0].ports.push_back(snap.containers[0].ports[0]);
    snap.containers[0].networks.push_back(snap.containers[0].networks[0]);
    ASSERT_TRUE(s.docker_snapshot_replace(snap).has_value());
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_ports"), 3);
    EXPECT_EQ(count("SELECT COUNT(*) FROM container_networks"), 1);

    auto twice = snapshot_with(1, 1);
    twice.containers.push_back(twice.containers[0]);
    EXPECT_EQ(s.docker_snapshot_replace(twice).error().kind, store_errc::invalid);
    EXPECT_EQ(count("SELECT COUNT(*) FROM docker_containers"), 1);
}

// --- leases and retention ------------------------------------------------------------------------

TEST_F(store_test, lease_acquire_renew_expire_and_take_over) {
    auto& s = open();
    EXPECT_TRUE(s.lease_acquire("loops", "pid-1", 15'000).value());
    EXPECT_FALSE(s.lease_acquire("loops", "pid-2", 15'000).value());
    now_ += 10'000;
    EXPECT_TRUE(s.lease_acquire("loops", "pid-1", 15'000).value());  // renewed until +25 s
    now_ += 10'000;                                                   // +20 s: the first term is over
    EXPECT_FALSE(s.lease_acquire("loops", "pid-2", 15'000).value());
    EXPECT_EQ(count("SELECT expires_at_ms FROM leases WHERE name = 'loops'"), start_ms + 25'000);
    now_ += 5'000;  // +25 s: expired exactly now
    EXPECT_TRUE(s.lease_acquire("loops", "pid-2", 15'000).value());
    EXPECT_FALSE(s.lease_acquire("loops", "pid-1", 15'000).value());
    EXPECT_TRUE(s.lease_acquire("other-lease", "pid-1", 15'000).value());  // leases are independent

    ASSERT_TRUE(s.lease_release("loops", "pid-1").has_value());  // not the holder: nothing happens
    EXPECT_FALSE(s.lease_acquire("loops", "pid-3", 15'000).value());
    ASSERT_TRUE(s.lease_release("loops", "pid-2").has_value());
    EXPECT_TRUE(s.lease_acquire("loops", "pid-3", 15'000).value());

    EXPECT_EQ(s.lease_acquire("loops", "pid-3", 0).error().kind, store_errc::invalid);
    EXPECT_EQ(s.lease_acquire("", "pid-3", 10).error().kind, store_errc::invalid);
}

TEST_F(store_test, prune_deletes_rows_past_retention) {
    config_.health_days = 30;
    config_.audit_days = 365;
    auto& s = open();
    const int64_t t0 = now_;
    const auto at = [&](int64_t ms) { now_ = ms; };
    audit_entry e;
    e.actor = "admin";
    e.action = "cname.request";
    health_observation h;
    h.status = "healthy";
    at(t0 - 400 * day_ms);
    ASSERT_TRUE(s.audit_append(e).has_value());
    at(t0 - 100 * day_ms);
    ASSERT_TRUE(s.audit_append(e).has_value());
    ASSERT_TRUE(s.health_record(h).has_value());
    at(t0 - 40 * day_ms);
    ASSERT_TRUE(s.health_record(h).has_value());
    at(t0 - 10 * day_ms);
    ASSERT_TRUE(s.health_record(h).has_value());
    at(t0);
    EXPECT_EQ(s.prune().value(), 3);  // 1 audit row > 365 d, 2 health rows > 30 d
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM tunnel_health"), 1);
    EXPECT_EQ(s.prune().value(), 0);
    at(t0 + 400 * day_ms);
    EXPECT_EQ(s.prune().value(), 2);
}

TEST_F(store_test, retention_of_zero_days_keeps_rows_forever) {
    config_.health_days = 0;
    config_.audit_days = 0;
    auto& s = open();
    audit_entry e;
    e.actor = "admin";
    e.action = "x";
    ASSERT_TRUE(s.audit_append(e).has_value());
    now_ += 10'000 * day_ms;
    EXPECT_EQ(s.prune().value(), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), 1);
}

TEST_F(store_test, stats_counts_rows) {
    auto& s = open();
    ASSERT_TRUE(s.cname_insert(cname("app", "consilio")).has_value());
    ASSERT_TRUE(s.operation_begin(create_op("api.example.com", "consilio")).has_value());
    auto st = s.stats().value();
    EXPECT_EQ(st.schema_version, newest_version());
    EXPECT_EQ(st.cnames, 1);
    EXPECT_EQ(st.operations_unfinished, 1);
    EXPECT_EQ(st.path, config_.path);
    EXPECT_GT(st.page_count, 0);
    ASSERT_TRUE(s.checkpoint().has_value());
    EXPECT_EQ(s.stats().value().wal_bytes, 0);
}

// --- errors on open ------------------------------------------------------------------------------

TEST_F(store_test, a_path_under_a_regular_file_gives_a_clear_error) {
    const auto blocker = dir_ / "not-a-directory";
    std::ofstream(blocker) << "x";
    config_.path = (blocker / "state.db").string();
    auto s = sqlite_store::open(config_);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().kind, store_errc::error);
    EXPECT_NE(s.error().message.find("cannot create the directory"), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("state.path"), std::string::npos) << s.error().message;
}

TEST_F(store_test, a_path_that_is_a_directory_gives_a_clear_error) {
    fs::create_directories(dir_ / "state.db");
    config_.path = (dir_ / "state.db").string();
    auto s = sqlite_store::open(config_);
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find(config_.path), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("cannot open"), std::string::npos) << s.error().message;
}

TEST_F(store_test, a_file_that_is_not_a_database_gives_a_clear_error) {
    fs::create_directories(fs::path(config_.path).parent_path());
    std::ofstream(config_.path) << std::string(8192, 'z');
    auto s = sqlite_store::open(config_);
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find("not a SQLite database"), std::string::npos) << s.error().message;
}

// A 0-byte state.db used to be taken as a new, empty state: every published name forgotten.
TEST_F(store_test, an_empty_file_is_refused_saying_how_to_start_fresh) {
    fs::create_directories(fs::path(config_.path).parent_path());
    std::ofstream(config_.path).close();
    auto s = sqlite_store::open(config_);
    ASSERT_FALSE(s.has_value()) << "a 0-byte file was taken as a new state";
    EXPECT_NE(s.error().message.find(config_.path + " is an empty file (0 bytes)"), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("move it away to start fresh"), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("restore your backup"), std::string::npos) << s.error().message;
    EXPECT_EQ(fs::file_size(config_.path), 0u) << "the file was written to";
    // Moved away as told: a new state is created.
    fs::rename(config_.path, config_.path + ".empty");
    open();
    EXPECT_EQ(*store_->schema_version(), newest_version());
}

TEST_F(store_test, another_programs_database_is_refused_and_left_untouched) {
    fs::create_directories(fs::path(config_.path).parent_path());
    {
        SQLite::Database other(config_.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        other.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
        other.exec("INSERT INTO users (name) VALUES ('alice')");
    }
    const auto before = fs::file_size(config_.path);
    auto s = sqlite_store::open(config_);
    ASSERT_FALSE(s.has_value()) << "another program's database was migrated into a tunnelmgr state";
    EXPECT_NE(s.error().message.find("a SQLite database of another program (tables: users)"), std::string::npos)
        << s.error().message;
    EXPECT_NE(s.error().message.find("move it away to start fresh (a new, empty state is then created), or restore your backup"), std::string::npos)
        << s.error().message;
    EXPECT_EQ(fs::file_size(config_.path), before);
    EXPECT_FALSE(fs::exists(config_.path + "-wal")) << "not even switched to WAL";
    EXPECT_EQ(count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'cnames'"), 0);
    // Another program's schema_migrations (Rails has one, with only `version`) is not ours either.
    {
        SQLite::Database other(config_.path, SQLite::OPEN_READWRITE);
        other.exec("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)");
        other.exec("INSERT INTO schema_migrations VALUES ('20240101000000')");
    }
    auto rails = sqlite_store::open(config_);
    ASSERT_FALSE(rails.has_value());
    EXPECT_NE(rails.error().message.find("another program"), std::string::npos) << rails.error().message;
}

TEST_F(store_test, a_database_with_nothing_in_it_and_our_own_reopen_fine) {
    fs::create_directories(fs::path(config_.path).parent_path());
    { SQLite::Database blank(config_.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); blank.exec("PRAGMA user_version = 0; VACUUM"); }
    open();  // nothing in it, nothing to forget
    ASSERT_TRUE(store_->cname_insert(cname("kept", "p")));
    store_.reset();
    open();
    EXPECT_TRUE(store_->cname_get("kept.example.com"));
}

// --- several processes ---------------------------------------------------------------------------

// Child exit codes: 0-3 = success, bit 0 = won the operation race, bit 1 = won the cname race.
constexpr int audit_rows_per_child = 200;
constexpr int cnames_per_child = 50;

int run_writer(const store_config& config, int child, int start_fd) {
    char go = 0;
    (void)::read(start_fd, &go, 1);  // returns on EOF: the parent released every child at once
    auto opened = sqlite_store::open(config);
    if (!opened) {
        std::cerr << "child " << child << ": " << opened.error().message << "\n";
        return 100;
    }
    sqlite_store& s = **opened;
    int result = 0;
    auto op = s.operation_begin(create_op("race.example.com", "p" + std::to_string(child)));
    if (op) {
        result |= 1;
    } else if (op.error().kind != store_errc::conflict) {
        std::cerr << "child " << child << ": " << op.error().message << "\n";
        return 101;
    }
    auto race = s.cname_insert([&] {
        cname_row r;
        r.hostname = "race-cname.example.com";
        r.subdomain = "race-cname";
        r.domain = "example.com";
        r.project = "p" + std::to_string(child);
        r.port = 3100;
        r.target = "http://localhost:3100";
        return r;
    }());
    if (race) {
        result |= 2;
    } else if (race.error().kind != store_errc::conflict) {
        std::cerr << "child " << child << ": " << race.error().message << "\n";
        return 102;
    }
    for (int i = 0; i < audit_rows_per_child; ++i) {
        audit_entry e;
        e.actor = "p" + std::to_string(child);
        e.role = "project";
        e.action = "bench.write";
        e.details_json = R"({"i":)" + std::to_string(i) + "}";
        if (auto r = s.audit_append(e); !r) {
            std::cerr << "child " << child << ": " << r.error().message << "\n";
            return 103;
        }
        if (i % (audit_rows_per_child / cnames_per_child) == 0) {
            cname_row r;
            r.subdomain = "c" + std::to_string(child) + "-" + std::to_string(i);
            r.domain = "example.com";
            r.hostname = r.subdomain + ".example.com";
            r.project = e.actor;
            r.port = 3100;
            r.target = "http://localhost:3100";
            if (auto id = s.cname_insert(r); !id) {
                std::cerr << "child " << child << ": " << id.error().message << "\n";
                return 104;
            }
        }
    }
    return result;
}

TEST_F(store_test, processes_writing_at_once_lose_nothing_and_one_wins_each_name) {
    constexpr int children = 4;
    config_.busy_timeout_ms = 30'000;
    int start[2];
    ASSERT_EQ(::pipe(start), 0);
    std::vector<pid_t> pids;
    for (int c = 0; c < children; ++c) {
        const pid_t pid = ::fork();
        if (pid < 0) break;  // the children already forked still run and are reaped below
        if (pid == 0) {
            ::close(start[1]);
            ::_exit(run_writer(config_, c, start[0]));  // the file does not exist yet: they also race to create it
        }
        pids.push_back(pid);
    }
    ::close(start[0]);
    ::close(start[1]);  // go
    ASSERT_EQ(pids.size(), static_cast<size_t>(children)) << "fork failed";

    // Reap every child before asserting anything, so none outlives the test.
    std::vector<int> statuses;
    for (pid_t pid : pids) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        statuses.push_back(status);
    }
    int op_winners = 0;
    int cname_winners = 0;
    for (int status : statuses) {
        ASSERT_TRUE(WIFEXITED(status));
        const int code = WEXITSTATUS(status);
        ASSERT_LT(code, 4) << "a writer failed with code " << code << " (see its message above)";
        op_winners += code & 1;
        cname_winners += (code >> 1) & 1;
    }
    EXPECT_EQ(op_winners, 1);
    EXPECT_EQ(cname_winners, 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), children * audit_rows_per_child);
    EXPECT_EQ(count("SELECT COUNT(*) FROM cnames"), children * cnames_per_child + 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM operations"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), newest_version());
    for (int c = 0; c < children; ++c) {
        EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE project = 'p" + std::to_string(c) + "'"),
                  audit_rows_per_child);
    }
}

}  // namespace

// Every audit filter is answered from an index, never by scanning the whole log (issue 13): the
// query plans of the store's own queries name an index for action, project, and both.
TEST_F(store_test, every_audit_filter_is_answered_from_an_index) {
    open();
    SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
    auto plan = [&db](const std::string& where) {
        SQLite::Statement q(db, "EXPLAIN QUERY PLAN SELECT id, ts, actor, role, action, target, result, error, project, "
                                "details FROM audit_log WHERE 1 = 1" + where + " ORDER BY ts DESC, id DESC LIMIT 50");
        std::string all;
        while (q.executeStep()) all += q.getColumn(3).getString() + "\n";
        return all;
    };
    const std::string by_action = plan(" AND action = 'cname.create'");
    EXPECT_NE(by_action.find("USING INDEX audit_log_action_ts"), std::string::npos) << by_action;
    const std::string by_project = plan(" AND project = 'alpha'");
    EXPECT_NE(by_project.find("USING INDEX audit_log_project_ts"), std::string::npos) << by_project;
    const std::string both = plan(" AND project = 'alpha' AND action = 'cname.create'");
    EXPECT_NE(both.find("USING INDEX"), std::string::npos) << both;
    EXPECT_EQ(both.find("SCAN audit_log\n"), std::string::npos) << both;
}

// Since plugin API 1.4 a given "ts" (> 0) is kept (`tunnelmgr state copy` moves history); absent or 0,
// the store's clock stamps the row.
TEST_F(store_test, audit_append_and_health_record_keep_a_given_ts) {
    auto& s = open();
    audit_entry copied;
    copied.actor = "admin";
    copied.action = "cname.create";
    copied.ts = 1'600'000'000'123;
    ASSERT_TRUE(s.audit_append(copied).has_value());
    audit_entry fresh = copied;
    fresh.ts = 0;
    fresh.action = "cname.delete";
    ASSERT_TRUE(s.audit_append(fresh).has_value());
    auto entries = s.audit_query({}).value();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].action, "cname.delete");
    EXPECT_EQ(entries[0].ts, now_);
    EXPECT_EQ(entries[1].ts, 1'600'000'000'123);

    health_observation old;
    old.status = "up";
    old.ts = 1'600'000'000'456;
    ASSERT_TRUE(s.health_record(old).has_value());
    health_observation now = old;
    now.ts = 0;
    ASSERT_TRUE(s.health_record(now).has_value());
    auto history = s.health_history({}).value();
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].ts, now_);
    EXPECT_EQ(history[1].ts, 1'600'000'000'456);

    audit_entry negative = copied;
    negative.ts = -5;
    EXPECT_EQ(s.audit_append(negative).error().kind, store_errc::invalid);
}
