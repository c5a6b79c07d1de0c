// pg_store against a real PostgreSQL: rows, the journal, leases, audit, health and the Docker
// snapshot, and what a store shared by several machines keeps per machine and what it shares.
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pg_fixture.hpp"
#include "pg_migrations.hpp"

namespace tunnelmgr::plugins::postgres_state::test {
namespace {

TEST_F(pg_store_test, cname_rows_round_trip_with_expiry_origin_and_machine) {
    auto s = open("m1");
    cname_row r = cname("App", "consilio");
    r.hostname = "App.Example.com";
    r.domain = "Example.com";
    r.expires_at = start_ms + 3'600'000;
    r.origin_request = R"({ "connectTimeout": 30, "noTLSVerify": true })";
    r.container_name = "web";
    ASSERT_TRUE(s->cname_insert(r).has_value());
    cname_row other = cname("api", "consilio");
    other.machine = "m2";
    ASSERT_TRUE(s->cname_insert(other).has_value());

    auto got = s->cname_get("APP.example.COM").value();
    EXPECT_EQ(got.hostname, "app.example.com");
    EXPECT_EQ(got.domain, "example.com");
    EXPECT_EQ(got.created_at.value_or(0), start_ms);
    EXPECT_EQ(got.expires_at.value_or(0), start_ms + 3'600'000);
    EXPECT_EQ(got.origin_request.value_or(""), R"({"connectTimeout":30,"noTLSVerify":true})");
    EXPECT_EQ(got.container_name.value_or(""), "web");
    EXPECT_EQ(got.machine.value_or(""), "m1") << "a row without machine is the store's own machine's";
    EXPECT_EQ(s->cname_get("api.example.com").value().machine.value_or(""), "m2") << "a given machine is kept";
    EXPECT_NE(to_json(got).find(R"("machine":"m1")"), std::string::npos);

    auto list = s->cname_list({}).value();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].hostname, "api.example.com");
    EXPECT_EQ(list[1].hostname, "app.example.com");
    EXPECT_EQ(s->cname_count({}).value(), 2);
    cname_filter f;
    f.expires_before = start_ms + 3'600'000;
    EXPECT_EQ(s->cname_list(f).value().size(), 1u);
    EXPECT_EQ(s->cname_count(f).value(), 1);
    f = {};
    f.limit = 1;
    f.offset = 1;
    ASSERT_EQ(s->cname_list(f).value().size(), 1u);
    EXPECT_EQ(s->cname_list(f).value()[0].hostname, "app.example.com");

    ASSERT_TRUE(s->cname_delete("APP.example.com").has_value());
    EXPECT_EQ(s->cname_get("app.example.com").error().kind, store_errc::not_found);
    EXPECT_EQ(s->cname_delete("app.example.com").error().kind, store_errc::not_found);
    EXPECT_EQ(s->cname_count({}).value(), 1);
    cname_filter mine;
    mine.project = "consilio";
    EXPECT_EQ(s->cname_count(mine).value(), 1);
}

// Since plugin API 1.5: keyset pages. "after" is compared as the rows are ordered (lower(hostname), in the
// column's "C" collation) and answered from the index on lower(hostname), or on (project, lower(hostname)),
// never by reading the rows before the page.
TEST_F(pg_store_test, keyset_pages_list_after_a_hostname_from_the_index) {
    auto s = open("m1");
    for (const char* w : {"e", "c", "a", "d", "b"}) ASSERT_TRUE(s->cname_insert(cname(w, "alpha")).has_value());
    ASSERT_TRUE(s->cname_insert(cname("bb", "beta")).has_value());
    using names_t = std::vector<std::string>;
    auto list = [&](const cname_filter& f) {
        names_t out;
        auto rows = s->cname_list(f);
        EXPECT_TRUE(rows.has_value()) << rows.error().message;
        if (rows) {
            for (const auto& r : *rows) out.push_back(r.hostname);
        }
        return out;
    };
    auto page = [&](std::optional<std::string> project, std::string after, std::optional<int64_t> limit) {
        cname_filter f;
        f.project = std::move(project);
        f.after = std::move(after);
        f.limit = limit;
        return list(f);
    };
    EXPECT_EQ(page("alpha", "a.example.com", 2), (names_t{"b.example.com", "c.example.com"}));
    EXPECT_EQ(page("alpha", "c.example.com", 2), (names_t{"d.example.com", "e.example.com"}));
    EXPECT_TRUE(page("alpha", "e.example.com", 2).empty());
    EXPECT_EQ(page("alpha", "bz.example.com", std::nullopt), (names_t{"c.example.com", "d.example.com", "e.example.com"}));
    EXPECT_EQ(page(std::nullopt, "b.example.com", 2), (names_t{"bb.example.com", "c.example.com"})) << "every project's";
    auto folded = cname_filter_from_json(R"({"project":"alpha","after":"B.Example.COM.","limit":1})");
    ASSERT_TRUE(folded.has_value()) << folded.error().message;
    EXPECT_EQ(list(*folded), (names_t{"c.example.com"}));
    EXPECT_FALSE(cname_filter_from_json(R"({"after":"a.example.com","offset":0})").has_value());

    cname_row soon = cname("f", "alpha");
    soon.expires_at = start_ms + 1000;
    ASSERT_TRUE(s->cname_insert(soon).has_value());
    cname_filter expiring;
    expiring.expires_before = start_ms + 1000;
    expiring.after = "a.example.com";
    EXPECT_EQ(list(expiring), (names_t{"f.example.com"})) << "after combines with expires_before";
    expiring.after = "f.example.com";
    EXPECT_TRUE(list(expiring).empty());
    cname_filter counted;
    counted.project = "alpha";
    counted.after = "c.example.com";
    EXPECT_EQ(s->cname_count(counted).value(), 6) << "cname_count counts the whole listing, as for limit and offset";

    // The plan of the store's own statement over enough rows that it matters.
    sql("INSERT INTO cnames (hostname, subdomain, domain, project, port, target, created_at, machine) "
        "SELECT 'h' || i || '.example.com', 'h' || i, 'example.com', CASE WHEN i % 2 = 0 THEN 'alpha' ELSE 'gamma' END, "
        "3100, 'http://localhost:3100', 1, 'm1' FROM generate_series(1, 5000) AS i; ANALYZE cnames");
    for (const bool one_project : {false, true}) {
        cname_filter f;
        if (one_project) f.project = "alpha";
        f.after = "h500.example.com";
        f.limit = 101;
        const std::string params = one_project ? "'alpha', 'h500.example.com', 101, 0" : "'h500.example.com', 101, 0";
        const std::string plan = sql("PREPARE page AS " + cname_list_sql(f) + "; EXPLAIN EXECUTE page(" + params + ")");
        SCOPED_TRACE(plan);
        const char* index = one_project ? "Index Scan using cnames_project on cnames"
                                        : "Index Scan using cnames_hostname on cnames";
        EXPECT_NE(plan.find(index), std::string::npos);
        EXPECT_NE(plan.find("(lower(hostname) > 'h500.example.com'::text)"), std::string::npos);
        EXPECT_EQ(plan.find("Seq Scan"), std::string::npos);
        EXPECT_EQ(plan.find("Sort"), std::string::npos);
        // The store prepares the statement on its connection; after a few runs PostgreSQL may keep one
        // plan for any parameters. That plan must seek the index too.
        const std::string generic = sql("SET plan_cache_mode = force_generic_plan; PREPARE page AS " +
                                        cname_list_sql(f) + "; EXPLAIN EXECUTE page(" + params + ")");
        SCOPED_TRACE(generic);
        EXPECT_NE(generic.find(index), std::string::npos);
        EXPECT_NE(generic.find("lower(hostname) > $"), std::string::npos);
        EXPECT_EQ(generic.find("Seq Scan"), std::string::npos);
        EXPECT_EQ(generic.find("Sort"), std::string::npos);
        EXPECT_EQ(list(f).size(), 101u);
    }
}

TEST_F(pg_store_test, a_hostname_is_unique_across_machines_and_the_conflict_names_its_owner) {
    auto m1 = open("m1");
    auto m2 = open("m2");
    ASSERT_TRUE(m1->cname_insert(cname("app", "consilio")).has_value());
    auto again = m2->cname_insert(cname("APP", "other"));
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().kind, store_errc::conflict);
    EXPECT_NE(again.error().message.find("already published by project \"consilio\""), std::string::npos)
        << again.error().message;
    EXPECT_EQ(m2->cname_get("app.example.com").value().machine.value_or(""), "m1");
    EXPECT_EQ(m2->cname_list({}).value().size(), 1u) << "every machine sees every row";
}

TEST_F(pg_store_test, concurrent_inserts_from_several_machines_have_one_winner) {
    std::vector<std::unique_ptr<pg_store>> stores;
    for (int i = 0; i < 4; ++i) stores.push_back(open("m" + std::to_string(i)));
    std::atomic<int> ok{0}, conflict{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            auto r = stores[static_cast<size_t>(i)]->cname_insert(cname("race", "p" + std::to_string(i)));
            (r ? ok : conflict) += (r || r.error().kind == store_errc::conflict) ? 1 : 0;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(conflict.load(), 3);
    EXPECT_EQ(sql("SELECT n FROM cname_counts"), "1");
}

TEST_F(pg_store_test, operations_hold_a_name_on_every_machine_and_are_listed_by_their_own) {
    auto m1 = open("m1");
    auto m2 = open("m2");
    const int64_t id = m1->operation_begin(op(operation_kind::create, "App.example.com", "consilio")).value();
    auto busy = m2->operation_begin(op(operation_kind::remove, "app.example.com", "other"));
    ASSERT_FALSE(busy.has_value());
    EXPECT_EQ(busy.error().kind, store_errc::conflict);
    EXPECT_NE(busy.error().message.find("is being worked on by operation " + std::to_string(id)), std::string::npos);

    ASSERT_EQ(m1->operation_list_unfinished().value().size(), 1u);
    EXPECT_EQ(m1->operation_list_unfinished().value()[0].machine.value_or(""), "m1");
    EXPECT_TRUE(m2->operation_list_unfinished().value().empty()) << "each machine settles its own operations";
    EXPECT_EQ(m2->operation_get(id).value().hostname, "app.example.com") << "operation_get finds any machine's";

    ASSERT_TRUE(m1->operation_advance(id, "dns_created", R"({"rec":"r1","nested":{"a":1,"b":2}})").has_value());
    ASSERT_TRUE(m1->operation_advance(id, "applied", R"({"rec":null,"nested":{"b":3}})").has_value());
    EXPECT_EQ(m1->operation_get(id).value().data_json, R"({"nested":{"a":1,"b":3},"request":{}})");
    EXPECT_EQ(m1->operation_advance(id, "committed", "{}").error().kind, store_errc::invalid);
    EXPECT_EQ(m1->operation_advance(id + 1000, "x", "{}").error().kind, store_errc::not_found);

    // A create's row without machine is the committing store's; a given machine is kept.
    ASSERT_TRUE(m1->operation_commit(id, cname("app", "consilio")).has_value());
    EXPECT_EQ(m2->cname_get("app.example.com").value().machine.value_or(""), "m1");
    EXPECT_TRUE(m1->operation_list_unfinished().value().empty());
    EXPECT_TRUE(m1->operation_commit(id, cname("app", "consilio")).has_value()) << "a retried commit is done already";
    EXPECT_EQ(m1->operation_advance(id, "x", "{}").error().kind, store_errc::conflict);

    const int64_t move = m2->operation_begin(op(operation_kind::retarget, "app.example.com", "consilio")).value();
    cname_row moved = cname("app", "consilio", 3200);
    moved.machine = "m3";
    ASSERT_TRUE(m2->operation_commit(move, moved).has_value());
    auto row = m1->cname_get("app.example.com").value();
    EXPECT_EQ(row.port, 3200);
    EXPECT_EQ(row.machine.value_or(""), "m3");
    EXPECT_EQ(row.created_at.value_or(0), start_ms);

    const int64_t del = m2->operation_begin(op(operation_kind::remove, "app.example.com", "consilio")).value();
    ASSERT_TRUE(m2->operation_commit(del, cname_row{}).has_value());
    EXPECT_EQ(m1->cname_get("app.example.com").error().kind, store_errc::not_found);
    EXPECT_EQ(m1->cname_count({}).value(), 0);
}

// The quota's count: a project's rows plus its creates still under way on every machine, begun before
// the asking operation (what operation_list_unfinished, one machine's, cannot give).
TEST_F(pg_store_test, a_pending_count_sees_every_machines_creates_begun_before) {
    auto m1 = open("m1");
    auto m2 = open("m2");
    ASSERT_TRUE(m1->cname_insert(cname("held", "shop")).has_value());
    const int64_t on_m2 = m2->operation_begin(op(operation_kind::create, "two.example.com", "shop")).value();
    ASSERT_TRUE(m2->operation_begin(op(operation_kind::create, "other.example.com", "blog")).has_value());
    ASSERT_TRUE(m2->operation_begin(op(operation_kind::remove, "held.example.com", "shop")).has_value());
    const int64_t on_m1 = m1->operation_begin(op(operation_kind::create, "one.example.com", "shop")).value();
    cname_filter f;
    f.project = "shop";
    f.pending_before = on_m1;
    EXPECT_EQ(m1->cname_count(f).value(), 2) << "the row and m2's create begun earlier; not deletes, not blog's";
    f.pending_before = on_m2;
    EXPECT_EQ(m2->cname_count(f).value(), 1) << "m1's later create does not count against m2's";
    ASSERT_TRUE(m2->operation_commit(on_m2, cname("two", "shop")).has_value());
    f.pending_before = on_m1;
    EXPECT_EQ(m1->cname_count(f).value(), 2) << "committed: a row now, no longer an operation; counted once";
}

TEST_F(pg_store_test, a_commit_that_cannot_insert_leaves_the_operation_and_the_row_as_they_were) {
    auto m1 = open("m1");
    auto m2 = open("m2");
    const int64_t id = m1->operation_begin(op(operation_kind::create, "app.example.com", "mine")).value();
    ASSERT_TRUE(m2->cname_insert(cname("app", "other")).has_value());
    auto c = m1->operation_commit(id, cname("app", "mine"));
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().kind, store_errc::conflict);
    EXPECT_EQ(m1->operation_get(id).value().state, "validated");
    EXPECT_EQ(m1->cname_get("app.example.com").value().project, "other");
}

TEST_F(pg_store_test, leases_are_per_machine_and_expire_by_the_store_clock) {
    auto a = open("m1");
    auto b = open("m1");
    auto other = open("m2");
    EXPECT_TRUE(a->lease_acquire("loops", "p1", 1000).value());
    EXPECT_FALSE(b->lease_acquire("loops", "p2", 1000).value()) << "one machine's processes share its leases";
    EXPECT_TRUE(other->lease_acquire("loops", "q1", 1000).value()) << "another machine has leases of its own";
    EXPECT_TRUE(a->lease_acquire("loops", "p1", 1000).value()) << "the holder renews";
    now_ += 1000;
    EXPECT_TRUE(b->lease_acquire("loops", "p2", 1000).value()) << "an expired lease goes to a new holder";
    ASSERT_TRUE(a->lease_release("loops", "p1").has_value());
    EXPECT_FALSE(a->lease_acquire("loops", "p1", 1000).value()) << "a non-holder's release does nothing";
    ASSERT_TRUE(b->lease_release("loops", "p2").has_value());
    EXPECT_TRUE(a->lease_acquire("loops", "p1", 1000).value());
    EXPECT_EQ(a->lease_acquire("", "p", 1).error().kind, store_errc::invalid);
}

TEST_F(pg_store_test, audit_is_shared_filtered_by_index_and_keeps_a_given_ts) {
    auto m1 = open("m1");
    auto m2 = open("m2");
    auto entry = [](const std::string& action, const std::string& project, int64_t ts = 0) {
        audit_entry e;
        e.actor = "project:" + project;
        e.role = "project";
        e.action = action;
        e.target = action + "-target";
        e.ts = ts;
        e.details_json = R"({"k":1})";
        return e;
    };
    ASSERT_TRUE(m1->audit_append(entry("cname.create", "a")).has_value());
    now_ += 10;
    ASSERT_TRUE(m2->audit_append(entry("cname.delete", "a")).has_value());
    now_ += 10;
    ASSERT_TRUE(m2->audit_append(entry("cname.create", "b")).has_value());
    ASSERT_TRUE(m1->audit_append(entry("copied", "a", 1'600'000'000'123)).has_value());

    auto all = m1->audit_query({}).value();
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[0].action, "cname.create");
    EXPECT_EQ(all[0].machine.value_or(""), "m2");
    EXPECT_EQ(all[0].project.value_or(""), "project:b") << "role project: the actor is the project";
    EXPECT_EQ(all[3].ts, 1'600'000'000'123) << "a given ts is kept";
    EXPECT_EQ(all[3].machine.value_or(""), "m1");
    EXPECT_EQ(all[2].details_json, R"({"k":1})");

    audit_filter f;
    f.action = "cname.create";
    EXPECT_EQ(m1->audit_query(f).value().size(), 2u);
    f.project = "project:a";
    EXPECT_EQ(m1->audit_query(f).value().size(), 1u);
    audit_filter since;
    since.since_ms = start_ms + 10;
    EXPECT_EQ(m1->audit_query(since).value().size(), 2u);
    since.limit = 1;
    EXPECT_EQ(m1->audit_query(since).value().size(), 1u);
    since.limit = 0;
    EXPECT_EQ(m1->audit_query(since).error().kind, store_errc::invalid);
    for (const char* index : {"audit_log_project", "audit_log_action", "audit_log_ts"}) {
        EXPECT_EQ(sql(std::string("SELECT count(*) FROM pg_indexes WHERE indexname = '") + index + "'"), "1") << index;
    }
}

TEST_F(pg_store_test, health_and_the_docker_snapshot_are_per_machine_and_prune_keeps_to_its_own) {
    config_.health_days = 1;
    config_.audit_days = 1;
    auto m1 = open("m1");
    auto m2 = open("m2");
    health_observation h;
    h.status = "up";
    h.ready_connections = 4;
    ASSERT_TRUE(m1->health_record(h).has_value());
    h.ts = 1'600'000'000'000;
    ASSERT_TRUE(m1->health_record(h).has_value());
    h.ts = 0;
    h.status = "down";
    ASSERT_TRUE(m2->health_record(h).has_value());
    auto mine = m1->health_history({}).value();
    ASSERT_EQ(mine.size(), 2u);
    EXPECT_EQ(mine[0].ts, start_ms);
    EXPECT_EQ(mine[1].ts, 1'600'000'000'000) << "a given ts is kept";
    EXPECT_EQ(m2->health_history({}).value().size(), 1u);

    docker_snapshot snap;
    snap.networks.push_back(docker_network{"n1", "web", "bridge", "local"});
    docker_container c;
    c.id = "c1";
    c.name = "app";
    c.image = "nginx";
    c.state = "running";
    c.networks.push_back(docker_endpoint{"web", "172.18.0.2", {"app", "www"}});
    c.networks.push_back(docker_endpoint{"web", "172.18.0.3", {"app"}});  // the later copy wins
    docker_port p;
    p.container_port = 80;
    p.host_ip = "0.0.0.0";
    p.host_port = 8080;
    c.ports = {p, p};
    snap.containers.push_back(c);
    ASSERT_TRUE(m1->docker_snapshot_replace(snap).has_value());
    ASSERT_TRUE(m1->docker_snapshot_replace(snap).has_value());
    auto got = m1->docker_snapshot_get().value();
    EXPECT_EQ(got.taken_ms.value_or(0), start_ms);
    ASSERT_EQ(got.containers.size(), 1u);
    ASSERT_EQ(got.containers[0].networks.size(), 1u);
    EXPECT_EQ(got.containers[0].networks[0].ip.value_or(""), "172.18.0.3");
    EXPECT_EQ(got.containers[0].ports.size(), 1u);
    auto theirs = m2->docker_snapshot_get().value();
    EXPECT_TRUE(theirs.containers.empty());
    EXPECT_FALSE(theirs.taken_ms.has_value());

    ASSERT_TRUE(m1->domains_replace({zone{"z2", "B.com", "active"}, zone{"z1", "a.com", std::nullopt}}).has_value());
    auto zones = m2->domains_list().value();
    ASSERT_EQ(zones.size(), 2u) << "the account's zones are shared";
    EXPECT_EQ(zones[0].name, "a.com");
    EXPECT_EQ(zones[1].name, "b.com");

    now_ += 2 * ms_per_day;
    EXPECT_EQ(m1->prune().value(), 2) << "this machine's two health rows, nothing of m2's";
    EXPECT_EQ(m2->health_history({}).value().size(), 1u);

    auto stats = m1->stats().value();
    EXPECT_EQ(stats.schema_version, static_cast<int64_t>(embedded_migrations().size()));
    EXPECT_EQ(stats.machine.value_or(""), "m1");
    EXPECT_EQ(stats.dsn_file, std::optional<std::string>(config_.dsn_file));
    EXPECT_TRUE(stats.path.empty()) << "no file of the store is on this machine";
    EXPECT_GT(stats.file_bytes, 0);
    EXPECT_EQ(stats.docker_containers, 1);
}

TEST_F(pg_store_test, migrations_are_recorded_once_even_when_several_processes_open_at_once) {
    std::vector<std::thread> threads;
    std::atomic<int> opened{0};
    std::vector<std::string> errors(6);
    for (int i = 0; i < 6; ++i) {
        threads.emplace_back([&, i] {
            pg_config c = config_;
            c.machine = "m" + std::to_string(i);
            auto s = pg_store::open(c, [] { return start_ms; });
            if (s) {
                ++opened;
            } else {
                errors[static_cast<size_t>(i)] = s.error().message;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(opened.load(), 6) << errors[0] << errors[1] << errors[2];
    const auto newest = std::to_string(embedded_migrations().size());
    EXPECT_EQ(sql("SELECT count(*) FROM schema_migrations"), newest);
    auto again = open("m1");
    EXPECT_EQ(again->schema_version().value(), static_cast<int64_t>(embedded_migrations().size()));
    EXPECT_EQ(sql("SELECT count(*) FROM schema_migrations"), newest) << "opening again applies nothing";
    EXPECT_EQ(sql("SELECT name FROM schema_migrations WHERE version = 1"), embedded_migrations().front().name);
}

TEST_F(pg_store_test, refuses_a_database_newer_than_it_knows) {
    open("m1");
    sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)");
    pg_config c = config_;
    auto s = pg_store::open(c);
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().message.find("schema version 999, newer than this postgres-state knows"), std::string::npos)
        << s.error().message;
}

}  // namespace
}  // namespace tunnelmgr::plugins::postgres_state::test
