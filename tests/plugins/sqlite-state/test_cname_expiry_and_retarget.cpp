// What plugin API 1.3 adds to sqlite_store: expires_at and origin_request on CNAME rows, the
// expires_before filter read from its partial index, and retarget operations, plus migration 9 itself.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include "migrations.hpp"
#include "sqlite_store.hpp"
#include "store_json.hpp"

namespace fs = std::filesystem;
using namespace tunnelmgr::plugins::sqlite_state;

namespace {

constexpr int64_t start_ms = 1'750'000'000'000;
constexpr int64_t hour_ms = 60LL * 60 * 1000;

class expiry_and_retarget : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("tm-sqlite-1-3-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        config_.path = (dir_ / "state.db").string();
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

    std::string text(const std::string& sql) {
        SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
        SQLite::Statement q(db, sql);
        if (!q.executeStep()) return "<no row>";
        return q.getColumn(0).isNull() ? "<null>" : q.getColumn(0).getString();
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
    static cname_row expiring(const std::string& sub, const std::string& project, int64_t expires_at) {
        cname_row r = cname(sub, project);
        r.expires_at = expires_at;
        return r;
    }

    static std::vector<std::string> names(const std::vector<cname_row>& rows) {
        std::vector<std::string> out;
        for (const auto& r : rows) out.push_back(r.hostname);
        return out;
    }

    fs::path dir_;
    store_config config_;
    int64_t now_ = start_ms;
    std::unique_ptr<sqlite_store> store_;
};

// --- migration 9 ---------------------------------------------------------------------------------

TEST_F(expiry_and_retarget, migration_9_keeps_rows_and_the_journal_and_admits_retarget) {
    {
        SQLite::Database db(config_.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        ASSERT_EQ(apply_migrations(db, embedded_migrations().first(8), start_ms).value(), 8);
        db.exec(
            "INSERT INTO cnames (hostname, subdomain, domain, project, port, target, created_at) VALUES "
            "('app.example.com', 'app', 'example.com', 'consilio', 3100, 'http://localhost:3100', 7);"
            "INSERT INTO operations (kind, hostname, project, state, data, created_at, updated_at) VALUES "
            "('create', 'app.example.com', 'consilio', 'committed', '{}', 1, 1),"
            "('delete', 'api.example.com', 'consilio', 'dns_deleted', '{\"request\":{}}', 2, 3),"
            "('create', 'gone.example.com', 'consilio', 'validated', '{}', 4, 4);"
            // The newest operation went away (by hand): its id must still never come back.
            "DELETE FROM operations WHERE hostname = 'gone.example.com';");
        // A version-8 journal refuses the new kind: the reason for the rebuild.
        EXPECT_THROW(db.exec("INSERT INTO operations (kind, hostname, project, state, created_at, updated_at) "
                             "VALUES ('retarget', 'x.example.com', 'p', 'validated', 1, 1)"),
                     SQLite::Exception);
    }
    auto& s = open();
    EXPECT_EQ(s.schema_version().value(), static_cast<int64_t>(embedded_migrations().size()));
    EXPECT_EQ(text("SELECT name FROM schema_migrations WHERE version = 9"), "expiry_and_origin");

    auto app = s.cname_get("app.example.com").value();
    EXPECT_EQ(app.created_at, 7);
    EXPECT_FALSE(app.expires_at.has_value());
    EXPECT_FALSE(app.origin_request.has_value());

    // The unfinished delete still holds its name; the journal kept its ids, states and data.
    auto unfinished = s.operation_list_unfinished().value();
    ASSERT_EQ(unfinished.size(), 1u);
    EXPECT_EQ(unfinished[0].id, 2);
    EXPECT_EQ(unfinished[0].kind, operation_kind::remove);
    EXPECT_EQ(unfinished[0].state, "dns_deleted");
    EXPECT_EQ(unfinished[0].data_json, R"({"request":{}})");
    EXPECT_EQ(s.operation_begin({operation_kind::create, "api.example.com", "other", "{}"}).error().kind,
              store_errc::conflict);
    EXPECT_EQ(s.operation_get(1).value().state, "committed");

    auto next = s.operation_begin({operation_kind::retarget, "app.example.com", "consilio", "{}"});
    ASSERT_TRUE(next.has_value()) << next.error().message;
    EXPECT_EQ(*next, 4) << "ids continue after the highest ever handed out (3), not after the highest left";
    EXPECT_EQ(s.operation_get(*next).value().kind, operation_kind::retarget);

    EXPECT_EQ(text("SELECT sql FROM sqlite_master WHERE name = 'cnames_expires_at'"),
              "CREATE INDEX cnames_expires_at ON cnames (expires_at) WHERE expires_at IS NOT NULL");
    EXPECT_NE(text("SELECT sql FROM sqlite_master WHERE name = 'operations_unfinished_hostname'"), "<no row>");
    EXPECT_NE(text("SELECT sql FROM sqlite_master WHERE name = 'operations_state'"), "<no row>");
    EXPECT_EQ(text("SELECT COUNT(*) FROM sqlite_master WHERE name = 'operations_new'"), "0");
}

// --- row extras ----------------------------------------------------------------------------------

TEST_F(expiry_and_retarget, expires_at_and_origin_request_round_trip_and_are_absent_when_unset) {
    auto& s = open();
    cname_row with = expiring("app", "consilio", start_ms + hour_ms);
    with.origin_request = R"({ "connectTimeout" : 30, "noTLSVerify": true, "httpHostHeader": "app.internal" })";
    ASSERT_TRUE(s.cname_insert(with).has_value());
    ASSERT_TRUE(s.cname_insert(cname("plain", "consilio")).has_value());

    auto got = s.cname_get("app.example.com").value();
    EXPECT_EQ(got.expires_at, start_ms + hour_ms);
    // Stored and returned as compact text, whatever the caller's spacing.
    EXPECT_EQ(got.origin_request.value_or(""), R"({"connectTimeout":30,"noTLSVerify":true,"httpHostHeader":"app.internal"})");
    EXPECT_EQ(text("SELECT origin_request FROM cnames WHERE hostname = 'app.example.com'"), *got.origin_request);
    const std::string json = to_json(got);
    EXPECT_NE(json.find(R"("expires_at":)" + std::to_string(start_ms + hour_ms)), std::string::npos) << json;
    EXPECT_NE(json.find(R"("origin_request":{"connectTimeout":30,)"), std::string::npos) << json;

    auto plain = s.cname_get("plain.example.com").value();
    EXPECT_FALSE(plain.expires_at.has_value());
    EXPECT_FALSE(plain.origin_request.has_value());
    const std::string plain_json = to_json(plain);
    EXPECT_EQ(plain_json.find("expires_at"), std::string::npos) << plain_json;
    EXPECT_EQ(plain_json.find("origin_request"), std::string::npos) << plain_json;

    auto listed = s.cname_list({}).value();
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0].origin_request, got.origin_request);
    EXPECT_EQ(listed[0].expires_at, got.expires_at);
    EXPECT_FALSE(listed[1].expires_at.has_value());
}

TEST_F(expiry_and_retarget, an_origin_request_that_is_not_an_object_is_refused_naming_the_field) {
    auto& s = open();
    for (const char* bad : {"[1,2]", "30", "\"x\"", "{not json", ""}) {
        cname_row r = cname("app", "consilio");
        r.origin_request = bad;
        auto ins = s.cname_insert(r);
        ASSERT_FALSE(ins.has_value()) << bad;
        EXPECT_EQ(ins.error().kind, store_errc::invalid) << bad;
        EXPECT_NE(ins.error().message.find("origin_request in the CNAME row must be a JSON object"), std::string::npos)
            << ins.error().message;
    }
    EXPECT_EQ(text("SELECT COUNT(*) FROM cnames"), "0");

    // Through the ABI's JSON the decoder refuses it first, naming the field the same way the store does.
    auto decoded = cname_from_json(
        R"({"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"p","port":1,)"
        R"("target":"http://localhost:1","origin_request":"connectTimeout=30"})");
    ASSERT_FALSE(decoded.has_value());
    EXPECT_NE(decoded.error().message.find("cname.origin_request must be a JSON object"), std::string::npos)
        << decoded.error().message;
    auto nulls = cname_from_json(
        R"({"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"p","port":1,)"
        R"("target":"http://localhost:1","expires_at":null,"origin_request":null})");
    ASSERT_TRUE(nulls.has_value()) << nulls.error().message;
    EXPECT_FALSE(nulls->expires_at.has_value());
    EXPECT_FALSE(nulls->origin_request.has_value());
}

// --- expires_before --------------------------------------------------------------------------------

TEST_F(expiry_and_retarget, expires_before_lists_only_expiring_rows_with_project_and_paging) {
    auto& s = open();
    const int64_t t = start_ms + hour_ms;
    ASSERT_TRUE(s.cname_insert(expiring("e", "alpha", t + 1000)).has_value());
    ASSERT_TRUE(s.cname_insert(expiring("a", "alpha", t + 1000)).has_value());
    ASSERT_TRUE(s.cname_insert(expiring("c", "alpha", t + 3000)).has_value());
    ASSERT_TRUE(s.cname_insert(expiring("b", "alpha", t + 2000)).has_value());
    ASSERT_TRUE(s.cname_insert(cname("d", "alpha")).has_value());  // never expires
    ASSERT_TRUE(s.cname_insert(expiring("f", "beta", t + 500)).has_value());

    auto list = [&](std::optional<std::string> project, int64_t before, std::optional<int64_t> limit = {},
                    std::optional<int64_t> offset = {}) {
        cname_filter f;
        f.project = std::move(project);
        f.expires_before = before;
        f.limit = limit;
        f.offset = offset;
        return names(s.cname_list(f).value());
    };
    using names_t = std::vector<std::string>;
    EXPECT_EQ(list("alpha", t + 2000), (names_t{"a.example.com", "b.example.com", "e.example.com"}));
    EXPECT_EQ(list(std::nullopt, t + 2000),
              (names_t{"a.example.com", "b.example.com", "e.example.com", "f.example.com"}));
    EXPECT_EQ(list("alpha", t + 1000), (names_t{"a.example.com", "e.example.com"})) << "expires_at == the bound counts";
    EXPECT_TRUE(list("alpha", t + 999).empty());
    EXPECT_EQ(list("alpha", t + 3000, 2, 0), (names_t{"a.example.com", "b.example.com"}));
    EXPECT_EQ(list("alpha", t + 3000, 2, 2), (names_t{"c.example.com", "e.example.com"}));
    EXPECT_TRUE(list("alpha", t + 3000, 2, 4).empty());
    EXPECT_EQ(list(std::nullopt, INT64_MAX).size(), 5u) << "every row that expires, and only those";

    cname_filter count_filter;
    count_filter.project = "alpha";
    count_filter.expires_before = t + 2000;
    EXPECT_EQ(s.cname_count(count_filter).value(), 3);
    count_filter.project.reset();
    EXPECT_EQ(s.cname_count(count_filter).value(), 4);
    EXPECT_EQ(s.cname_count({}).value(), 6);

    auto parsed = cname_filter_from_json(R"({"project":"alpha","expires_before":5,"limit":2})");
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    EXPECT_EQ(parsed->expires_before.value_or(0), 5);
    auto wrong = cname_filter_from_json(R"({"expires_before":"soon"})");
    ASSERT_FALSE(wrong.has_value());
    EXPECT_NE(wrong.error().message.find("filter.expires_before must be an integer"), std::string::npos)
        << wrong.error().message;
}

// The expiry pass runs every few seconds over a table of mostly non-expiring names: it must read the
// partial index, never the whole table.
TEST_F(expiry_and_retarget, the_expiry_query_reads_only_the_partial_index) {
    open();
    SQLite::Database db(config_.path, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "EXPLAIN QUERY PLAN SELECT id, hostname, subdomain, domain, project, port, target, "
                            "target_type, container_name, docker_network, dns_record_id, zone_id, created_at, "
                            "expires_at, origin_request FROM cnames WHERE expires_at IS NOT NULL AND expires_at <= ? "
                            "ORDER BY hostname");
    std::string plan;
    while (q.executeStep()) plan += q.getColumn(3).getString() + "\n";
    EXPECT_NE(plan.find("USING INDEX cnames_expires_at"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("SCAN cnames"), std::string::npos) << plan;
}

// --- retarget ------------------------------------------------------------------------------------

TEST_F(expiry_and_retarget, retarget_commit_replaces_every_field_but_id_and_created_at) {
    auto& s = open();
    cname_row before = cname("app", "consilio", 3100);
    before.dns_record_id = "rec-1";
    before.zone_id = "z1";
    before.container_name = "consilio-old";
    const int64_t id = s.cname_insert(before).value();
    now_ += hour_ms;

    const int64_t op = s.operation_begin({operation_kind::retarget, "app.example.com", "consilio", "{}"}).value();
    ASSERT_TRUE(s.operation_advance(op, "applied", "{}").has_value());
    cname_row after = cname("app", "handover", 3200);
    after.hostname = "APP.example.com";  // folded, as everywhere
    after.target = "http://consilio-web:3200";
    after.target_type = "container";
    after.container_name.reset();
    after.docker_network = "web";
    after.dns_record_id = "rec-2";
    after.zone_id = "z2";
    after.expires_at = start_ms + 2 * hour_ms;
    after.origin_request = R"({"connectTimeout": 10})";
    auto committed = s.operation_commit(op, after);
    ASSERT_TRUE(committed.has_value()) << committed.error().message;

    auto got = s.cname_get("app.example.com").value();
    EXPECT_EQ(got.id, id);
    EXPECT_EQ(got.created_at, start_ms);
    EXPECT_EQ(got.hostname, "app.example.com");
    EXPECT_EQ(got.subdomain, "app");
    EXPECT_EQ(got.domain, "example.com");
    EXPECT_EQ(got.project, "handover");
    EXPECT_EQ(got.port, 3200);
    EXPECT_EQ(got.target, "http://consilio-web:3200");
    EXPECT_EQ(got.target_type.value_or(""), "container");
    EXPECT_FALSE(got.container_name.has_value()) << "a field the new row leaves unset is cleared, not kept";
    EXPECT_EQ(got.docker_network.value_or(""), "web");
    EXPECT_EQ(got.dns_record_id.value_or(""), "rec-2");
    EXPECT_EQ(got.zone_id.value_or(""), "z2");
    EXPECT_EQ(got.expires_at, start_ms + 2 * hour_ms);
    EXPECT_EQ(got.origin_request.value_or(""), R"({"connectTimeout":10})");
    EXPECT_EQ(text("SELECT COUNT(*) FROM cnames"), "1");

    auto done = s.operation_get(op).value();
    EXPECT_EQ(done.state, "committed");
    EXPECT_NE(done.data_json.find("\"cname_id\":" + std::to_string(id)), std::string::npos) << done.data_json;
    EXPECT_TRUE(s.operation_commit(op, after).has_value()) << "a retried commit does no harm";

    // A second retarget takes the expiry and the origin settings away again.
    const int64_t again = s.operation_begin({operation_kind::retarget, "app.example.com", "handover", "{}"}).value();
    ASSERT_TRUE(s.operation_commit(again, cname("app", "handover", 3300)).has_value());
    auto cleared = s.cname_get("app.example.com").value();
    EXPECT_EQ(cleared.port, 3300);
    EXPECT_FALSE(cleared.expires_at.has_value());
    EXPECT_FALSE(cleared.origin_request.has_value());
    EXPECT_EQ(cleared.id, id);
}

TEST_F(expiry_and_retarget, retarget_commit_without_a_row_is_not_found_and_changes_nothing) {
    auto& s = open();
    ASSERT_TRUE(s.cname_insert(cname("app", "consilio")).has_value());
    const int64_t op = s.operation_begin({operation_kind::retarget, "app.example.com", "consilio", "{}"}).value();
    ASSERT_TRUE(s.operation_advance(op, "applied", R"({"step":1})").has_value());
    ASSERT_TRUE(s.cname_delete("app.example.com").has_value());  // gone meanwhile, outside the journal

    auto r = s.operation_commit(op, cname("app", "consilio", 3200));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, store_errc::not_found);
    EXPECT_NE(r.error().message.find("\"app.example.com\""), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("retarget"), std::string::npos) << r.error().message;
    auto still = s.operation_get(op).value();
    EXPECT_EQ(still.state, "applied");
    EXPECT_EQ(still.data_json.find("cname_id"), std::string::npos) << still.data_json;
    EXPECT_EQ(s.cname_get("app.example.com").error().kind, store_errc::not_found) << "a retarget never inserts";

    // A row that is not whole, or is for another name, is refused before anything is touched.
    ASSERT_TRUE(s.cname_insert(cname("app", "consilio")).has_value());
    EXPECT_EQ(s.operation_commit(op, cname("app", "consilio", 0)).error().kind, store_errc::invalid);
    EXPECT_EQ(s.operation_commit(op, cname("other", "consilio")).error().kind, store_errc::invalid);
    EXPECT_EQ(s.operation_get(op).value().state, "applied");
    EXPECT_EQ(s.cname_get("app.example.com").value().port, 3100);
}

TEST_F(expiry_and_retarget, a_retarget_holds_its_hostname_and_is_listed_with_its_kind) {
    auto& s = open();
    ASSERT_TRUE(s.cname_insert(cname("app", "consilio")).has_value());
    const int64_t op = s.operation_begin({operation_kind::retarget, "app.example.com", "consilio", R"({"port":3200})"}).value();
    for (auto kind : {operation_kind::create, operation_kind::remove, operation_kind::retarget}) {
        auto other = s.operation_begin({kind, "APP.example.com", "consilio", "{}"});
        ASSERT_FALSE(other.has_value()) << kind_name(kind);
        EXPECT_EQ(other.error().kind, store_errc::conflict) << kind_name(kind);
        EXPECT_NE(other.error().message.find("operation " + std::to_string(op) + " (retarget"), std::string::npos)
            << other.error().message;
    }
    auto unfinished = s.operation_list_unfinished().value();
    ASSERT_EQ(unfinished.size(), 1u);
    EXPECT_EQ(unfinished[0].kind, operation_kind::retarget);
    const std::string json = to_json(unfinished);
    EXPECT_NE(json.find(R"("kind":"retarget")"), std::string::npos) << json;

    auto parsed = operation_request_from_json(R"({"kind":"retarget","hostname":"app.example.com","project":"p"})");
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    EXPECT_EQ(parsed->kind, operation_kind::retarget);

    ASSERT_TRUE(s.operation_advance(op, "rolled_back", "{}").has_value());
    EXPECT_TRUE(s.operation_begin({operation_kind::retarget, "app.example.com", "consilio", "{}"}).has_value());
}

}  // namespace

// Migration 10: each project's count is kept by triggers in the transaction of every change, so
// cname_count reads one row; it always equals counting the rows, and a database that had names when it
// was migrated starts with their counts.
TEST_F(expiry_and_retarget, per_project_counts_follow_every_change_and_start_from_the_rows_there) {
    {
        SQLite::Database db(config_.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        ASSERT_EQ(apply_migrations(db, embedded_migrations().first(9), start_ms).value(), 9);
        db.exec("INSERT INTO cnames (hostname, subdomain, domain, project, port, target, created_at) VALUES "
                "('a.example.com', 'a', 'example.com', 'alpha', 3100, 'http://localhost:3100', 7),"
                "('b.example.com', 'b', 'example.com', 'alpha', 3101, 'http://localhost:3101', 7),"
                "('c.example.com', 'c', 'example.com', 'beta', 4100, 'http://localhost:4100', 7)");
    }
    auto& s = open();
    auto count = [&](const std::string& project) {
        cname_filter f;
        if (!project.empty()) f.project = project;
        return s.cname_count(f).value();
    };
    auto counted = [&](const std::string& project) {
        return std::stoll(text("SELECT COUNT(*) FROM cnames" + (project.empty() ? "" : " WHERE project = '" + project + "'")));
    };
    auto agree = [&](const char* when) {
        for (const std::string p : {"", "alpha", "beta", "gamma"}) EXPECT_EQ(count(p), counted(p)) << when << " " << p;
    };
    EXPECT_EQ(count("alpha"), 2);
    EXPECT_EQ(count(""), 3);
    agree("after the migration");
    ASSERT_TRUE(s.cname_insert(cname("d", "gamma")).has_value());
    ASSERT_TRUE(s.cname_insert(cname("e", "alpha")).has_value());
    agree("after inserts");
    EXPECT_EQ(s.cname_insert(cname("a", "beta")).error().kind, store_errc::conflict);
    agree("after a refused insert");
    ASSERT_TRUE(s.cname_delete("c.example.com").has_value());
    agree("after a delete");
    EXPECT_EQ(text("SELECT COUNT(*) FROM cname_counts WHERE project = 'beta'"), "0") << "an emptied project leaves no row";
    // A retarget that hands a name to another project moves its count in the same transaction.
    const int64_t op = s.operation_begin({operation_kind::retarget, "d.example.com", "gamma", "{}"}).value();
    ASSERT_TRUE(s.operation_commit(op, cname("d", "beta", 4101)).has_value());
    agree("after a retarget to another project");
    EXPECT_EQ(count("gamma"), 0);
    EXPECT_EQ(count("beta"), 1);
    // The expiry filter still counts rows.
    cname_row soon = cname("f", "alpha");
    soon.expires_at = start_ms + hour_ms;
    ASSERT_TRUE(s.cname_insert(soon).has_value());
    cname_filter due;
    due.expires_before = start_ms + 2 * hour_ms;
    EXPECT_EQ(s.cname_count(due).value(), 1);
    agree("at the end");
}

// Plugin API 1.4: the quota's count in one statement, the project's rows plus its creates under way
// that were begun before the asking operation.
TEST_F(expiry_and_retarget, a_pending_count_adds_earlier_unfinished_creates_of_the_project) {
    auto& s = open();
    ASSERT_TRUE(s.cname_insert(cname("held", "shop")).has_value());
    const int64_t first = s.operation_begin({operation_kind::create, "one.example.com", "shop", "{}"}).value();
    ASSERT_TRUE(s.operation_begin({operation_kind::create, "other.example.com", "blog", "{}"}).has_value());
    const int64_t second = s.operation_begin({operation_kind::create, "two.example.com", "shop", "{}"}).value();
    cname_filter f;
    f.project = "shop";
    f.pending_before = second;
    EXPECT_EQ(s.cname_count(f).value(), 2);
    f.pending_before = first;
    EXPECT_EQ(s.cname_count(f).value(), 1);
    ASSERT_TRUE(s.operation_commit(first, cname("one", "shop")).has_value());
    f.pending_before = second;
    EXPECT_EQ(s.cname_count(f).value(), 2) << "committed: counted once, as a row";
    auto refused = cname_filter_from_json(R"({"pending_before":5})");
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("give filter.project too"), std::string::npos);
}
