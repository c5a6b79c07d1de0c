// The statement cache: a text is prepared on its connection at its second run and only executed from
// then on, with the results, NULLs and row-count checks of an unprepared run; and a store whose
// prepared statements a schema change left behind runs the call again on a fresh connection.
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "pg_errors.hpp"
#include "pg_fixture.hpp"
#include "pg_statement_cache.hpp"

namespace tunnelmgr::plugins::postgres_state::test {
namespace {

class pg_statement_test : public pg_store_test {
protected:
    // A connection of the test's own to the test's database, as the store's role.
    std::unique_ptr<pqxx::connection> connect() {
        std::ifstream in(config_.dsn_file);
        std::string dsn;
        std::getline(in, dsn);
        return std::make_unique<pqxx::connection>(dsn);
    }

    // `body(txn)` in one committed transaction on `c`, through `cache`.
    template <class Body>
    static auto in_txn(pqxx::connection& c, statement_cache& cache, Body&& body) {
        pqxx::work raw(c);
        pg_txn txn(raw, cache);
        auto r = body(txn);
        raw.commit();
        return r;
    }

    // "name|statement|times run as prepared" for each statement the server holds for `c`.
    static std::vector<std::string> prepared_on(pqxx::connection& c) {
        pqxx::nontransaction n(c);
        std::vector<std::string> out;
        for (const auto& q : n.exec("SELECT name, statement, generic_plans + custom_plans FROM pg_prepared_statements "
                                    "ORDER BY name")) {
            out.push_back(q[0].as<std::string>() + "|" + q[1].as<std::string>() + "|" + q[2].as<std::string>());
        }
        return out;
    }
};

TEST_F(pg_statement_test, a_text_is_prepared_at_its_second_run_and_then_only_executed) {
    auto c = connect();
    statement_cache cache;
    const std::string next = "SELECT $1::bigint + 1";
    auto run = [&](int64_t v) {
        return in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec1(next, v)[0].as<int64_t>(); });
    };
    EXPECT_EQ(run(1), 2);
    EXPECT_TRUE(prepared_on(*c).empty()) << "run once, a text stays unnamed (no PREPARE never used again)";
    for (int64_t i = 2; i <= 10; ++i) EXPECT_EQ(run(i), i + 1);
    EXPECT_EQ(prepared_on(*c), (std::vector<std::string>{"tm_1|" + next + "|9"})) << "parsed once, run nine times";

    const std::string is_null = "SELECT $1::text IS NULL, $2::text";
    for (int i = 0; i < 3; ++i) {
        auto row = in_txn(*c, cache, [&](pg_txn& txn) {
            return txn.exec1(is_null, std::optional<std::string>(), std::optional<std::string>("x"));
        });
        EXPECT_TRUE(row[0].as<bool>()) << "an empty optional binds NULL, prepared or not (run " << i << ")";
        EXPECT_EQ(row[1].as<std::string>(), "x");
    }
    EXPECT_EQ(prepared_on(*c).size(), 2u);
    EXPECT_EQ(prepared_on(*c)[1], "tm_2|" + is_null + "|2");
    EXPECT_EQ(cache.size(), 2u);
}

// prepared_statements: false (a pooler in transaction mode): no text is ever prepared, however often it runs.
TEST_F(pg_statement_test, a_cache_told_not_to_prepare_runs_every_text_unnamed) {
    auto c = connect();
    statement_cache cache(false);
    const std::string next = "SELECT $1::bigint + 1";
    for (int64_t i = 1; i <= 10; ++i) {
        EXPECT_EQ(in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec1(next, i)[0].as<int64_t>(); }), i + 1);
    }
    EXPECT_TRUE(prepared_on(*c).empty());
    EXPECT_EQ(cache.size(), 0u);
}

TEST_F(pg_statement_test, row_count_checks_and_sql_errors_are_those_of_an_unprepared_run) {
    auto c = connect();
    statement_cache cache;
    const std::string rows = "SELECT generate_series(1, $1::int)";
    for (int i = 0; i < 3; ++i) {
        EXPECT_THROW(in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec1(rows, 2); }), pqxx::unexpected_rows) << i;
        EXPECT_THROW(in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec0(rows, 1); }), pqxx::unexpected_rows) << i;
        EXPECT_EQ(in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec(rows, 3); }).size(), 3u) << i;
    }
    // A value the statement refuses: the same SQLSTATE whether the server parses the text or binds it.
    const std::string cast = "SELECT $1::bigint";
    for (int i = 0; i < 3; ++i) {
        try {
            in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec(cast, "not a number"); });
            ADD_FAILURE() << "accepted on run " << i;
        } catch (const pqxx::sql_error& e) {
            EXPECT_EQ(e.sqlstate(), "22P02") << i;
        }
    }
    // Still usable afterwards: a failed run of a prepared statement leaves it prepared.
    EXPECT_EQ(in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec1(cast, 7)[0].as<int64_t>(); }), 7);
}

// Another process changing a column's type under a prepared statement makes the server refuse to run
// it ("cached plan must not change result type"), though the same text on a fresh connection runs.
TEST_F(pg_statement_test, a_table_changed_under_a_prepared_statement_sends_the_call_to_a_fresh_connection) {
    config_.pool_size = 1;
    auto s = open("m1");
    ASSERT_TRUE(s->cname_insert(cname("app", "p", 3100)).has_value());
    for (int i = 0; i < 3; ++i) ASSERT_EQ(s->cname_get("app.example.com").value().port, 3100);

    // The failure the store must get past, seen on a connection of the test's own.
    auto c = connect();
    statement_cache cache;
    const std::string port = "SELECT port FROM cnames WHERE lower(hostname) = $1";
    for (int i = 0; i < 2; ++i) {
        in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec1(port, std::string("app.example.com")); });
    }
    sql("ALTER TABLE cnames ALTER COLUMN port TYPE bigint");
    try {
        in_txn(*c, cache, [&](pg_txn& txn) { return txn.exec1(port, std::string("app.example.com")); });
        ADD_FAILURE() << "the server ran a statement whose result type changed";
    } catch (const pqxx::sql_error& e) {
        EXPECT_TRUE(statements_out_of_step(e)) << e.sqlstate() << " " << e.what();
    }

    auto got = s->cname_get("app.example.com");
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(got->port, 3100);
    EXPECT_EQ(s->cname_list({}).value().size(), 1u);
    EXPECT_EQ(s->cname_get("app.example.com").value().port, 3100) << "and prepared again on the fresh connection";
}

TEST_F(pg_statement_test, each_shape_of_a_filter_is_a_statement_of_its_own) {
    auto s = open("m1");
    for (const char* w : {"a", "b", "c"}) ASSERT_TRUE(s->cname_insert(cname(w, "alpha")).has_value());
    ASSERT_TRUE(s->cname_insert(cname("d", "beta")).has_value());
    // Alternating shapes, each run several times on the store's connections: each answers for itself.
    for (int i = 0; i < 4; ++i) {
        cname_filter all;
        EXPECT_EQ(s->cname_list(all).value().size(), 4u) << i;
        cname_filter mine;
        mine.project = "alpha";
        EXPECT_EQ(s->cname_list(mine).value().size(), 3u) << i;
        mine.after = "a.example.com";
        mine.limit = 1;
        auto page = s->cname_list(mine).value();
        ASSERT_EQ(page.size(), 1u) << i;
        EXPECT_EQ(page[0].hostname, "b.example.com") << i;
        cname_filter expiring;
        expiring.expires_before = start_ms;
        EXPECT_EQ(s->cname_count(expiring).value(), 0) << i;
        EXPECT_EQ(s->cname_count(mine).value(), 3) << i;
    }
}

}  // namespace
}  // namespace tunnelmgr::plugins::postgres_state::test
