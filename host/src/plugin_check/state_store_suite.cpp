// The state_store_v1 conformance suite: one test per rule of the tm_state_store_v1 table in
// plugin_api.h, each failure naming its rule in plain words. Runs against any store, through the
// host's own loader; names carry a unique tag so a store that already holds rows does no harm.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "plugin_check/broken_rules.hpp"
#include "plugin_check/check_context.hpp"
#include "plugin_check/store_calls.hpp"

namespace tunnelmgr::plugin_check {
namespace {

constexpr const char* domain = "example.com";

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Rows with equal millisecond timestamps may tie; a store need not break ties by insertion order.
void next_millisecond() { std::this_thread::sleep_for(std::chrono::milliseconds(3)); }

class state_store_v1 : public ::testing::Test {
protected:
    void SetUp() override {
        if (!context().library || !context().library->has_state_store) GTEST_SKIP() << "the plugin provides no state_store_v1";
        config_ = expand_config(context().config_template, scratch_.path());
        tag_ = unique_tag();
        first_ = start();
        ASSERT_NE(first_, nullptr);
        store_ = std::make_unique<store_calls>(*first_);
    }

    // Another instance on the same store config: what a second tunnelmgr process would open.
    std::unique_ptr<host::plugin_instance> start() {
        auto inst = start_instance(config_);
        EXPECT_TRUE(inst.has_value()) << (inst ? "" : inst.error()) << "\n  config: " << config_
                                      << rule("init must accept the store's config and return an instance (pass the "
                                              "config your store needs with --config)");
        return inst ? std::move(*inst) : nullptr;
    }

    store_calls& s() { return *store_; }
    // Names unique to this test: sub-<tag>.example.com, project p-<tag>.
    std::string sub(const std::string& word) const { return word + "-" + tag_; }
    std::string host(const std::string& word) const { return sub(word) + "." + domain; }
    std::string project(const std::string& word = "p") const { return word + "-" + tag_; }
    std::string row(const std::string& word, const std::string& proj, int port = 3100) const {
        return cname_row_json(sub(word), domain, proj, port);
    }

    // The rows of a JSON array reply; fails the test (naming `what`) when it is not an array.
    rapidjson::Document array_of(const outcome& o, const std::string& what) {
        rapidjson::Document d = parse_json(o.json);
        EXPECT_TRUE(d.IsArray()) << what << " replied " << o.json << rule(what + " must return a JSON array");
        if (!d.IsArray()) d.SetArray();
        return d;
    }

    // The unfinished operations whose hostname carries this test's tag, in the order the store gave.
    std::vector<std::pair<int64_t, std::string>> my_unfinished() {
        auto o = s().operation_list_unfinished();
        EXPECT_TRUE(o.ok()) << "operation_list_unfinished " << o.describe()
                            << rule("operation_list_unfinished must succeed");
        std::vector<std::pair<int64_t, std::string>> out;
        auto d = array_of(o, "operation_list_unfinished");
        for (const auto& op : d.GetArray()) {
            if (str_member(op, "hostname").find(tag_) != std::string::npos) {
                out.emplace_back(int_member(op, "id"), str_member(op, "state"));
            }
        }
        return out;
    }

    // The "data" object of unfinished operation `id`, or null when it is not listed.
    rapidjson::Document unfinished_data(int64_t id, std::string* state = nullptr) {
        auto o = s().operation_list_unfinished();
        rapidjson::Document out;
        auto d = array_of(o, "operation_list_unfinished");
        for (const auto& op : d.GetArray()) {
            if (int_member(op, "id") != id) continue;
            if (state != nullptr) *state = str_member(op, "state");
            auto data = op.FindMember("data");
            if (data != op.MemberEnd()) out.CopyFrom(data->value, out.GetAllocator());
            return out;
        }
        return out;
    }

    bool listed_unfinished(int64_t id) {
        for (auto& [op, state] : my_unfinished()) {
            if (op == id) return true;
        }
        return false;
    }

    int64_t begin_ok(const std::string& op_json) {
        auto o = s().operation_begin(op_json);
        EXPECT_TRUE(o.ok()) << "operation_begin(" << op_json << ") " << o.describe()
                            << rule("operation_begin must start an operation on a hostname no unfinished operation holds");
        return o.number;
    }

    // Hostnames of a cname_list reply, in order.
    std::vector<std::string> hostnames(const std::string& filter) {
        auto o = s().cname_list(filter);
        EXPECT_TRUE(o.ok()) << "cname_list(" << filter << ") " << o.describe()
                            << rule("cname_list must accept {\"project\"}, \"limit\" (1..10000) and \"offset\" (>= 0)");
        std::vector<std::string> out;
        auto d = array_of(o, "cname_list");
        for (const auto& r : d.GetArray()) out.push_back(str_member(r, "hostname"));
        return out;
    }

    // Values of `key` in the rows of an audit/health reply whose `key` carries this test's tag.
    std::vector<std::string> tagged(const outcome& o, const std::string& what, const char* key) {
        std::vector<std::string> out;
        auto d = array_of(o, what);
        for (const auto& r : d.GetArray()) {
            std::string v = str_member(r, key);
            if (v.find(tag_) != std::string::npos) out.push_back(v);
        }
        return out;
    }

    bool paging_since_1_1() const {
        const std::string& v = context().library->required_api;
        return !(v.rfind("1.0.", 0) == 0 || v == "1.0");
    }

    // Expiring names, origin settings and retarget operations are rules of 1.3 (the loader already
    // refused a plugin of another major).
    bool row_extras_and_retarget_since_1_3() const {
        const std::string& v = context().library->required_api;
        const auto dot = v.find('.');
        return dot != std::string::npos && std::atoi(v.c_str() + dot + 1) >= 3;
    }
    std::string before_1_3() const {
        return "the plugin requires API " + context().library->required_api +
               ": a store before 1.3 drops expires_at and origin_request and knows no \"retarget\" (the host "
               "then refuses expiring names, origin settings and retargets over it)";
    }

    // The minor of the API the plugin requires (the loader already refused a plugin of another major).
    int required_minor() const {
        const std::string& v = context().library->required_api;
        const auto dot = v.find('.');
        return dot == std::string::npos ? 0 : std::atoi(v.c_str() + dot + 1);
    }
    // Given times (created_at, ts), paging logs by "before_id" and rows' "machine" are rules of 1.4.
    bool given_times_paging_and_machine_since_1_4() const { return required_minor() >= 4; }
    // Keyset pages of cname_list ("after") are a rule of 1.5.
    bool keyset_paging_since_1_5() const { return required_minor() >= 5; }
    std::string before_1_5() const {
        return "the plugin requires API " + context().library->required_api +
               ": a store before 1.5 ignores \"after\" (the host then lists every row and takes the page itself)";
    }
    std::string before_1_4() const {
        return "the plugin requires API " + context().library->required_api +
               ": a store before 1.4 sets every created_at and ts itself, knows no \"before_id\" and no \"machine\" "
               "(`tunnelmgr state copy` then cannot copy names and history out of it or into it)";
    }

    // Since 1.4: a newest-first log (audit_query, health_history) read as `tunnelmgr state copy` reads it:
    // pages of "limit" 2, each after the first with "before_id" = the smallest id of the page before, until
    // a page is empty. `shared` holds the filter members every page carries ("\"action\":..." or "").
    struct log_pages {
        std::vector<int64_t> ids;         // in the order the pages gave them
        std::vector<std::string> values;  // `key` of each entry, in the same order
        std::string trace;                // each request and the ids it got, for failure messages
        bool stuck = false;               // a page did not go below the before_id it was asked with
    };
    template <class Query>
    log_pages page_by_before_id(Query query, const std::string& what, const std::string& shared, const char* key) {
        log_pages out;
        std::optional<int64_t> before;
        for (int n = 0; n < 1000; ++n) {  // a store ignoring before_id would answer the same page forever
            std::string filter = "{" + shared + (shared.empty() ? "" : ",") + "\"limit\":2";
            if (before) filter += ",\"before_id\":" + std::to_string(*before);
            filter += "}";
            const outcome o = query(filter);
            EXPECT_TRUE(o.ok()) << what << "(" << filter << ") " << o.describe()
                                << rule("since 1.4, " + what + " must accept \"before_id\" (with \"limit\")");
            if (!o.ok()) break;
            auto d = array_of(o, what);
            out.trace += "\n    " + what + "(" + filter + ") -> ids [";
            int64_t lowest = std::numeric_limits<int64_t>::max();
            for (const auto& e : d.GetArray()) {
                const int64_t id = int_member(e, "id");
                out.trace += (lowest == std::numeric_limits<int64_t>::max() ? "" : ", ") + std::to_string(id);
                out.ids.push_back(id);
                out.values.push_back(str_member(e, key));
                lowest = std::min(lowest, id);
            }
            out.trace += "]";
            if (d.Empty()) break;
            if (before && lowest >= *before) {
                out.stuck = true;
                break;
            }
            before = lowest;
        }
        return out;
    }
    // Every entry `pages` saw has an id, the ids fall strictly, and each of `mine` was seen exactly once.
    static void expect_each_once_by_falling_id(const log_pages& pages, const std::vector<std::string>& mine,
                                               const std::string& r) {
        EXPECT_FALSE(pages.stuck) << "a page did not go below the before_id it was asked with:" << pages.trace << r;
        for (size_t i = 0; i < pages.ids.size(); ++i) {
            if (pages.ids[i] <= 0 || (i > 0 && pages.ids[i] >= pages.ids[i - 1])) {
                ADD_FAILURE() << "entry " << i + 1 << " has id " << pages.ids[i]
                              << (i > 0 ? ", after id " + std::to_string(pages.ids[i - 1]) : std::string())
                              << " (every entry must carry its \"id\", and the ids must fall page after page):"
                              << pages.trace << r;
                break;
            }
        }
        std::string wrong;
        for (const auto& m : mine) {
            const auto seen = std::count(pages.values.begin(), pages.values.end(), m);
            if (seen != 1) wrong += "\n    " + m + " seen " + std::to_string(seen) + " times";
        }
        EXPECT_TRUE(wrong.empty()) << "of the " << mine.size() << " entries this check wrote:" << wrong << pages.trace << r;
    }

    // A whole row of this test ("app" -> app-<tag>.example.com) with `extra_json`'s members added or replaced.
    std::string row_with(const std::string& word, const std::string& proj, int port, const std::string& extra_json) const {
        rapidjson::Document d = parse_json(row(word, proj, port));
        rapidjson::Document extra = parse_json(extra_json);
        for (auto& m : extra.GetObject()) {
            d.RemoveMember(m.name.GetString());
            rapidjson::Value key(m.name, d.GetAllocator()), value(m.value, d.GetAllocator());
            d.AddMember(key, value, d.GetAllocator());
        }
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        d.Accept(w);
        return std::string(buf.GetString(), buf.GetSize());
    }

    // False for a reply that is not an object at all, so a malformed row never passes.
    static bool absent_or_null(const rapidjson::Value& row, const char* key) {
        if (!row.IsObject()) return false;
        auto it = row.FindMember(key);
        return it == row.MemberEnd() || it->value.IsNull();
    }
    // Deep equality of row[key] and the JSON text `expected` (object members in any order).
    static bool member_equals(const rapidjson::Value& row, const char* key, const std::string& expected) {
        if (!row.IsObject()) return false;
        auto it = row.FindMember(key);
        return it != row.MemberEnd() && it->value == parse_json(expected);
    }

    // The row of `hostname` in a cname_list reply, or null when it is not there.
    rapidjson::Document listed_row(const std::string& filter, const std::string& hostname) {
        auto o = s().cname_list(filter);
        rapidjson::Document out;
        auto d = array_of(o, "cname_list");
        for (const auto& r : d.GetArray()) {
            if (str_member(r, "hostname") == hostname) out.CopyFrom(r, out.GetAllocator());
        }
        return out;
    }

    scratch_dir scratch_;
    std::string config_, tag_;
    std::unique_ptr<host::plugin_instance> first_;
    std::unique_ptr<store_calls> store_;
};

// Runs `attempt` from `n` threads released at once; TM_RETRY ("busy, try again") is retried, as the
// host does, so only the final answer of each racer counts.
template <class Attempt>
std::vector<outcome> race(int n, Attempt attempt) {
    std::vector<outcome> results(static_cast<size_t>(n));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            ++ready;
            while (!go.load()) std::this_thread::yield();
            outcome o;
            for (int tries = 0; tries < 200; ++tries) {
                o = attempt(i);
                if (o.rc != TM_RETRY) break;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            results[static_cast<size_t>(i)] = o;
        });
    }
    while (ready.load() < n) std::this_thread::yield();
    go = true;
    for (auto& t : threads) t.join();
    return results;
}

// --- describing itself ------------------------------------------------------------------------

TEST_F(state_store_v1, schema_version_and_stats_answer) {
    auto v = s().schema_version();
    EXPECT_TRUE(v.ok()) << "schema_version " << v.describe() << rule("schema_version must succeed");
    EXPECT_GE(v.number, 0) << rule("schema_version must be the number of the newest applied migration (never negative)");
    auto st = s().stats();
    ASSERT_TRUE(st.ok()) << "stats " << st.describe() << rule("stats must succeed");
    EXPECT_TRUE(parse_json(st.json).IsObject()) << "stats replied " << st.json
                                                << rule("stats must return a JSON object of row counts and file facts");
}

// --- cnames ----------------------------------------------------------------------------------

TEST_F(state_store_v1, cname_get_returns_what_cname_insert_stored) {
    const std::string proj = project();
    auto ins = s().cname_insert(row("app", proj, 3101));
    ASSERT_TRUE(ins.ok()) << "cname_insert " << ins.describe() << rule("cname_insert must store a new hostname");
    auto got = s().cname_get(host("app"));
    ASSERT_TRUE(got.ok()) << "cname_get " << got.describe()
                          << rule("cname_get must find the row cname_insert stored");
    auto d = parse_json(got.json);
    ASSERT_TRUE(d.IsObject()) << got.json << rule("cname_get must return the row as a JSON object");
    const std::string r = rule("cname_get must return the row's fields as cname_insert was given them");
    EXPECT_EQ(str_member(d, "hostname"), host("app")) << got.json << r;
    EXPECT_EQ(str_member(d, "project"), proj) << got.json << r;
    EXPECT_EQ(int_member(d, "port"), 3101) << got.json << r;
    EXPECT_EQ(str_member(d, "target"), "http://localhost:3101") << got.json << r;
}

TEST_F(state_store_v1, cname_insert_refuses_a_taken_hostname) {
    ASSERT_TRUE(s().cname_insert(row("app", project("a"))).ok());
    auto again = s().cname_insert(row("app", project("b")));
    EXPECT_EQ(again.rc, TM_CONFLICT) << "a second cname_insert of " << host("app") << " " << again.describe()
                                     << rule("cname_insert must refuse a second row for the same hostname with TM_CONFLICT");
    auto got = s().cname_get(host("app"));
    EXPECT_EQ(str_member(parse_json(got.json), "project"), project("a"))
        << got.json << rule("a refused cname_insert must leave the existing row as it was");
}

TEST_F(state_store_v1, cname_insert_uniqueness_is_case_insensitive) {
    ASSERT_TRUE(s().cname_insert(row("app", project("a"))).ok());
    std::string upper_sub = sub("APP");
    std::transform(upper_sub.begin(), upper_sub.end(), upper_sub.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    auto again = s().cname_insert(cname_row_json(upper_sub, "Example.COM", project("b"), 3100));
    EXPECT_EQ(again.rc, TM_CONFLICT)
        << "cname_insert of " << upper_sub << ".Example.COM while " << host("app") << " exists " << again.describe()
        << rule("cname_insert must refuse a second row for the same hostname, case-insensitive, with TM_CONFLICT");
    auto list = hostnames("{\"project\":\"" + project("b") + "\"}");
    EXPECT_TRUE(list.empty()) << "project b has " << list.size() << " rows"
                              << rule("a refused cname_insert must not add a row");
}

TEST_F(state_store_v1, concurrent_cname_insert_of_one_hostname_has_exactly_one_winner) {
    constexpr int racers = 4;
    std::vector<std::unique_ptr<host::plugin_instance>> instances;
    std::vector<std::unique_ptr<store_calls>> stores;
    for (int i = 0; i < racers; ++i) {
        instances.push_back(start());
        ASSERT_NE(instances.back(), nullptr);
        stores.push_back(std::make_unique<store_calls>(*instances.back()));
    }
    auto results = race(racers, [&](int i) { return stores[static_cast<size_t>(i)]->cname_insert(row("race", project("r" + std::to_string(i)))); });
    int ok = 0, conflict = 0;
    std::string seen;
    for (size_t i = 0; i < results.size(); ++i) {
        ok += results[i].ok() ? 1 : 0;
        conflict += results[i].rc == TM_CONFLICT ? 1 : 0;
        seen += "\n    instance " + std::to_string(i) + ": " + results[i].describe();
    }
    const std::string r = rule(
        "cname_insert racing from several instances on one store must let exactly one insert of a hostname succeed "
        "(TM_OK) and refuse every other with TM_CONFLICT");
    EXPECT_EQ(ok, 1) << racers << " instances inserted " << host("race") << " at once:" << seen << r;
    EXPECT_EQ(conflict, racers - 1) << racers << " instances inserted " << host("race") << " at once:" << seen << r;
    auto rows = hostnames("{}");
    EXPECT_EQ(std::count(rows.begin(), rows.end(), host("race")), 1) << r;
}

TEST_F(state_store_v1, cname_get_of_an_unknown_hostname_is_not_found) {
    auto got = s().cname_get(host("nobody"));
    EXPECT_EQ(got.rc, TM_NOT_FOUND) << "cname_get of a hostname never inserted " << got.describe()
                                    << rule("cname_get must answer TM_NOT_FOUND for a hostname with no row");
}

TEST_F(state_store_v1, cname_delete_removes_the_row_and_refuses_an_unknown_hostname) {
    ASSERT_TRUE(s().cname_insert(row("gone", project())).ok());
    auto del = s().cname_delete(host("gone"));
    EXPECT_TRUE(del.ok()) << "cname_delete " << del.describe() << rule("cname_delete must delete the row of a hostname");
    auto got = s().cname_get(host("gone"));
    EXPECT_EQ(got.rc, TM_NOT_FOUND) << "cname_get after cname_delete " << got.describe()
                                    << rule("after cname_delete, cname_get must answer TM_NOT_FOUND");
    auto again = s().cname_delete(host("gone"));
    EXPECT_EQ(again.rc, TM_NOT_FOUND) << "a second cname_delete " << again.describe()
                                      << rule("cname_delete must answer TM_NOT_FOUND when there is no row");
    auto reinsert = s().cname_insert(row("gone", project()));
    EXPECT_TRUE(reinsert.ok()) << reinsert.describe()
                               << rule("a deleted hostname must be free for cname_insert again");
}

TEST_F(state_store_v1, cname_list_is_ordered_by_hostname_and_filtered_by_project) {
    const std::string mine = project("mine"), other = project("other");
    for (const char* w : {"charlie", "alpha", "bravo"}) ASSERT_TRUE(s().cname_insert(row(w, mine)).ok());
    ASSERT_TRUE(s().cname_insert(row("delta", other)).ok());
    auto list = hostnames("{\"project\":\"" + mine + "\"}");
    std::vector<std::string> expected = {host("alpha"), host("bravo"), host("charlie")};
    EXPECT_EQ(list, expected) << rule("cname_list must return only the rows of the project in {\"project\"}, ordered by hostname");
    auto all = hostnames("{}");
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end())) << rule("cname_list with {} must return every row ordered by hostname");
    EXPECT_NE(std::find(all.begin(), all.end(), host("delta")), all.end())
        << rule("cname_list with {} must return the rows of every project");
}

TEST_F(state_store_v1, cname_list_pages_with_limit_and_offset) {
    if (!paging_since_1_1()) GTEST_SKIP() << "the plugin requires API " << context().library->required_api
                                          << ": a 1.0 store may ignore limit/offset (the host pages by itself)";
    const std::string proj = project();
    for (const char* w : {"e", "c", "a", "d", "b"}) ASSERT_TRUE(s().cname_insert(row(w, proj)).ok());
    auto page = [&](int limit, int offset) {
        return hostnames("{\"project\":\"" + proj + "\",\"limit\":" + std::to_string(limit) +
                         ",\"offset\":" + std::to_string(offset) + "}");
    };
    const std::string r = rule("cname_list with \"limit\" and \"offset\" must return that page of the rows ordered by hostname");
    EXPECT_EQ(page(2, 0), (std::vector<std::string>{host("a"), host("b")})) << r;
    EXPECT_EQ(page(2, 2), (std::vector<std::string>{host("c"), host("d")})) << r;
    EXPECT_EQ(page(2, 4), (std::vector<std::string>{host("e")})) << r;
    EXPECT_TRUE(page(2, 5).empty()) << rule("cname_list with an offset past the last row must return []");
}

// Since 1.5: keyset pages. Each page starts after the last hostname of the one before, so a walk sees
// every row once however the rows before its position change.
TEST_F(state_store_v1, cname_list_pages_after_a_hostname) {
    if (!keyset_paging_since_1_5()) GTEST_SKIP() << before_1_5();
    const std::string proj = project();
    for (const char* w : {"e", "c", "a", "d", "b"}) ASSERT_TRUE(s().cname_insert(row(w, proj)).ok());
    ASSERT_TRUE(s().cname_insert(row("bb", project("other"))).ok());  // between b and c, in another project
    const std::string r = rule("since 1.5, cname_list with \"after\" must return only the rows whose hostname sorts "
                               "after it, ordered by hostname, together with \"project\" and \"limit\"");
    auto page = [&](const std::optional<std::string>& after, int limit) {
        const std::string filter = "{\"project\":\"" + proj + "\",\"limit\":" + std::to_string(limit) +
                                   (after ? ",\"after\":\"" + *after + "\"" : std::string()) + "}";
        auto o = s().cname_list(filter);
        EXPECT_TRUE(o.ok()) << "cname_list(" << filter << ") " << o.describe() << r;
        std::vector<std::string> out;
        auto d = array_of(o, "cname_list");
        for (const auto& row : d.GetArray()) out.push_back(str_member(row, "hostname"));
        return out;
    };
    EXPECT_EQ(page(host("a"), 2), (std::vector<std::string>{host("b"), host("c")})) << r;
    EXPECT_EQ(page(host("c"), 2), (std::vector<std::string>{host("d"), host("e")})) << r;
    EXPECT_EQ(page(host("c"), 10), (std::vector<std::string>{host("d"), host("e")})) << r;
    EXPECT_TRUE(page(host("e"), 2).empty()) << rule("since 1.5, cname_list with \"after\" the last hostname must return []");
    // A hostname that is no row's: the rows that sort after where it would be.
    EXPECT_EQ(page(host("bz"), 2), (std::vector<std::string>{host("c"), host("d")})) << r;

    // A walk, with a row added behind its position and one ahead of it between two pages.
    const std::string walk_rule = rule("since 1.5, pages of cname_list each asked with \"after\" = the last hostname of "
                                       "the page before must see every row once, in order: a row added behind the "
                                       "position is not seen, one added ahead of it is");
    std::vector<std::string> seen;
    std::optional<std::string> after;
    for (int n = 0; n < 10; ++n) {  // a store ignoring "after" would answer the same page forever
        auto p = page(after, 2);
        if (p.empty()) break;
        seen.insert(seen.end(), p.begin(), p.end());
        after = p.back();
        if (n == 0) {
            ASSERT_TRUE(s().cname_insert(row("aa", proj)).ok());  // behind b
            ASSERT_TRUE(s().cname_insert(row("cc", proj)).ok());  // ahead
        }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{host("a"), host("b"), host("c"), host("cc"), host("d"), host("e")}))
        << walk_rule;

    auto both = s().cname_list("{\"project\":\"" + proj + "\",\"after\":\"" + host("a") + "\",\"offset\":0}");
    EXPECT_EQ(both.rc, TM_INVALID) << "cname_list with \"after\" and \"offset\" " << both.describe()
                                   << rule("since 1.5, cname_list must refuse \"after\" together with \"offset\" "
                                           "with TM_INVALID (they are two ways to say where a page starts)");
}

TEST_F(state_store_v1, cname_count_matches_cname_list) {
    if (!s().has_cname_count()) GTEST_SKIP() << "cname_count is NULL (optional since 1.1): the host counts cname_list's rows";
    const std::string proj = project();
    auto empty = s().cname_count("{\"project\":\"" + proj + "\"}");
    if (!empty.ok()) {
        GTEST_SKIP() << "cname_count " << empty.describe()
                     << ": failing is allowed (optional since 1.1), the host then counts cname_list's rows";
    }
    EXPECT_EQ(empty.number, 0) << rule("cname_count must be 0 for a project with no rows");
    for (const char* w : {"a", "b", "c"}) ASSERT_TRUE(s().cname_insert(row(w, proj)).ok());
    ASSERT_TRUE(s().cname_insert(row("z", project("other"))).ok());
    auto n = s().cname_count("{\"project\":\"" + proj + "\"}");
    EXPECT_TRUE(n.ok()) << n.describe() << rule("cname_count, once it answers, must keep answering");
    EXPECT_EQ(n.number, 3) << rule("cname_count must equal the number of rows cname_list returns for the same filter");
    auto all = s().cname_count("{}");
    EXPECT_EQ(all.number, static_cast<int64_t>(hostnames("{}").size()))
        << rule("cname_count must equal the number of rows cname_list returns for the same filter");
}

// Since 1.4: the host's quota check counts a project's rows and its creates under way in one call.
TEST_F(state_store_v1, cname_count_with_pending_before_adds_earlier_unfinished_creates) {
    if (!given_times_paging_and_machine_since_1_4()) GTEST_SKIP() << before_1_4();
    if (!s().has_cname_count()) GTEST_SKIP() << "cname_count is NULL (optional since 1.1): the host counts cname_list's rows";
    const std::string proj = project();
    ASSERT_TRUE(s().cname_insert(row("held", proj)).ok()) << rule("cname_insert must store a new hostname");
    const int64_t first = begin_ok(operation_json("create", host("one"), proj));
    begin_ok(operation_json("create", host("else"), project("other")));
    begin_ok(operation_json("delete", host("held"), proj));
    const int64_t second = begin_ok(operation_json("create", host("two"), proj));
    auto count = [&](int64_t before) {
        return s().cname_count("{\"project\":\"" + proj + "\",\"pending_before\":" + std::to_string(before) + "}");
    };
    const char* what = "since 1.4, cname_count with {\"project\",\"pending_before\":id} must count the project's rows plus "
                       "its unfinished \"create\" operations whose id is smaller (not other projects', not deletes)";
    auto both = count(second);
    ASSERT_TRUE(both.ok()) << both.describe() << rule(what);
    EXPECT_EQ(both.number, 2) << rule(what);
    auto one = count(first);
    ASSERT_TRUE(one.ok()) << one.describe() << rule(what);
    EXPECT_EQ(one.number, 1) << rule(what);
}

// --- operations ------------------------------------------------------------------------------

TEST_F(state_store_v1, operation_begin_starts_at_validated) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project()));
    auto o = s().operation_list_unfinished();
    auto d = array_of(o, "operation_list_unfinished");
    const rapidjson::Value* found = nullptr;
    for (const auto& op : d.GetArray()) {
        if (int_member(op, "id") == id) found = &op;
    }
    ASSERT_NE(found, nullptr) << o.json << rule("operation_list_unfinished must list an operation just begun");
    const std::string r = rule("operation_begin must start an operation in state \"validated\", keeping its kind, hostname and project");
    EXPECT_EQ(str_member(*found, "state"), "validated") << o.json << r;
    EXPECT_EQ(str_member(*found, "kind"), "create") << o.json << r;
    EXPECT_EQ(str_member(*found, "hostname"), host("app")) << o.json << r;
    EXPECT_EQ(str_member(*found, "project"), project()) << o.json << r;
}

TEST_F(state_store_v1, operation_begin_refuses_a_second_unfinished_operation_on_a_hostname) {
    begin_ok(operation_json("create", host("app"), project("a")));
    auto second = s().operation_begin(operation_json("create", host("app"), project("b")));
    EXPECT_EQ(second.rc, TM_CONFLICT)
        << "a second operation_begin on " << host("app") << " " << second.describe()
        << rule("operation_begin must refuse a second unfinished operation on the same hostname with TM_CONFLICT");
    auto del = s().operation_begin(operation_json("delete", host("app"), project("a")));
    EXPECT_EQ(del.rc, TM_CONFLICT)
        << "a delete operation_begin while a create on " << host("app") << " is unfinished " << del.describe()
        << rule("operation_begin must refuse a second unfinished operation on the same hostname with TM_CONFLICT, whatever its kind");
    auto other = s().operation_begin(operation_json("create", host("other"), project("a")));
    EXPECT_TRUE(other.ok()) << other.describe()
                            << rule("operation_begin must allow operations on different hostnames at the same time");
    if (!row_extras_and_retarget_since_1_3()) return;
    // Since 1.3 a retarget is one more kind: it waits behind another operation, and holds its name itself.
    const std::string r = rule("operation_begin must refuse a second unfinished operation on the same hostname with "
                               "TM_CONFLICT, whatever its kind");
    auto retarget = s().operation_begin(operation_json("retarget", host("app"), project("a")));
    EXPECT_EQ(retarget.rc, TM_CONFLICT) << "a retarget operation_begin while a create on " << host("app")
                                        << " is unfinished " << retarget.describe() << r;
    begin_ok(operation_json("retarget", host("moved"), project("a")));
    for (const char* kind : {"create", "delete", "retarget"}) {
        auto behind = s().operation_begin(operation_json(kind, host("moved"), project("a")));
        EXPECT_EQ(behind.rc, TM_CONFLICT) << "a " << kind << " operation_begin while a retarget on " << host("moved")
                                          << " is unfinished " << behind.describe() << r;
    }
}

TEST_F(state_store_v1, concurrent_operation_begin_on_one_hostname_has_exactly_one_winner) {
    constexpr int racers = 4;
    std::vector<std::unique_ptr<host::plugin_instance>> instances;
    std::vector<std::unique_ptr<store_calls>> stores;
    for (int i = 0; i < racers; ++i) {
        instances.push_back(start());
        ASSERT_NE(instances.back(), nullptr);
        stores.push_back(std::make_unique<store_calls>(*instances.back()));
    }
    auto results = race(racers, [&](int i) {
        return stores[static_cast<size_t>(i)]->operation_begin(operation_json("create", host("race"), project("r" + std::to_string(i))));
    });
    int ok = 0, conflict = 0;
    std::string seen;
    for (size_t i = 0; i < results.size(); ++i) {
        ok += results[i].ok() ? 1 : 0;
        conflict += results[i].rc == TM_CONFLICT ? 1 : 0;
        seen += "\n    instance " + std::to_string(i) + ": " + results[i].describe();
    }
    const std::string r = rule(
        "operation_begin racing from several instances on one store must let exactly one operation on a hostname start "
        "(TM_OK) and refuse every other with TM_CONFLICT");
    EXPECT_EQ(ok, 1) << seen << r;
    EXPECT_EQ(conflict, racers - 1) << seen << r;
}

TEST_F(state_store_v1, operation_begin_is_allowed_again_after_commit) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project()));
    auto c = s().operation_commit(id, row("app", project()));
    ASSERT_TRUE(c.ok()) << "operation_commit " << c.describe() << rule("operation_commit must commit a create operation");
    auto next = s().operation_begin(operation_json("delete", host("app"), project()));
    EXPECT_TRUE(next.ok()) << "operation_begin after the earlier operation committed " << next.describe()
                           << rule("operation_begin must allow a new operation on a hostname once the earlier one is committed");
}

TEST_F(state_store_v1, operation_begin_is_allowed_again_after_roll_back) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project()));
    auto rb = s().operation_advance(id, "rolled_back", "{\"reason\":\"check\"}");
    ASSERT_TRUE(rb.ok()) << "operation_advance to rolled_back " << rb.describe()
                         << rule("operation_advance must move an operation to \"rolled_back\"");
    auto next = s().operation_begin(operation_json("create", host("app"), project()));
    EXPECT_TRUE(next.ok()) << "operation_begin after the earlier operation rolled back " << next.describe()
                           << rule("operation_begin must allow a new operation on a hostname once the earlier one is rolled_back");
}

TEST_F(state_store_v1, operation_advance_moves_the_state_and_merges_the_patch_into_data) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project(), 3100));
    const std::string adv = rule("operation_advance must succeed for an unfinished operation");
    auto a1 = s().operation_advance(id, "dns_created", R"({"dns_record_id":"rec-1","zone_id":"z1"})");
    ASSERT_TRUE(a1.ok()) << a1.describe() << adv;
    auto a2 = s().operation_advance(id, "ingress_written", R"({"previous_ingress":{"rules":2}})");
    ASSERT_TRUE(a2.ok()) << a2.describe() << adv;
    auto a3 = s().operation_advance(id, "applied", "{}");
    ASSERT_TRUE(a3.ok()) << a3.describe() << rule("operation_advance must accept \"{}\" as an empty patch");

    std::string state;
    auto data = unfinished_data(id, &state);
    EXPECT_EQ(state, "applied") << rule("operation_advance must move the operation to the state it is given");
    ASSERT_TRUE(data.IsObject()) << rule("operation_list_unfinished must give each operation's \"data\" as a JSON object");
    const std::string r = rule("operation_advance must merge patch_json into the operation's data, keeping keys earlier patches set");
    EXPECT_EQ(str_member(data, "dns_record_id"), "rec-1") << r;
    EXPECT_EQ(str_member(data, "zone_id"), "z1") << r;
    auto prev = data.FindMember("previous_ingress");
    ASSERT_TRUE(prev != data.MemberEnd() && prev->value.IsObject()) << r;
    EXPECT_EQ(int_member(prev->value, "rules"), 2) << r;
    auto req = data.FindMember("request");
    EXPECT_TRUE(req != data.MemberEnd() && req->value.IsObject() && int_member(req->value, "port") == 3100)
        << rule("operation_begin must keep the operation's \"request\" in its data, and operation_advance must not drop it");
}

TEST_F(state_store_v1, operation_advance_patch_follows_json_merge_patch) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project()));
    ASSERT_TRUE(s().operation_advance(id, "dns_created", R"({"zone_id":"z1","dns_record_id":"rec-1","ingress":{"a":1,"b":2}})").ok());
    ASSERT_TRUE(s().operation_advance(id, "ingress_written", R"({"zone_id":"z2","dns_record_id":null,"ingress":{"b":3,"c":4}})").ok());
    auto data = unfinished_data(id);
    ASSERT_TRUE(data.IsObject());
    const std::string r = rule("operation_advance must merge patch_json as a JSON merge patch (RFC 7396): a key replaces, "
                               "a null removes, an object merges into an object");
    EXPECT_EQ(str_member(data, "zone_id"), "z2") << r;
    EXPECT_FALSE(data.HasMember("dns_record_id")) << r;
    auto ingress = data.FindMember("ingress");
    ASSERT_TRUE(ingress != data.MemberEnd() && ingress->value.IsObject()) << r;
    EXPECT_EQ(int_member(ingress->value, "a"), 1) << r;
    EXPECT_EQ(int_member(ingress->value, "b"), 3) << r;
    EXPECT_EQ(int_member(ingress->value, "c"), 4) << r;
}

TEST_F(state_store_v1, operation_advance_of_an_unknown_id_is_not_found) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project()));
    const int64_t unknown = id + 1000000;
    auto a = s().operation_advance(unknown, "dns_created", "{}");
    EXPECT_EQ(a.rc, TM_NOT_FOUND) << "operation_advance of id " << unknown << " " << a.describe()
                                  << rule("operation_advance must answer TM_NOT_FOUND for an unknown operation id");
}

TEST_F(state_store_v1, operation_commit_of_a_create_inserts_the_row_and_marks_committed) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project()));
    ASSERT_TRUE(s().operation_advance(id, "applied", "{}").ok());
    auto c = s().operation_commit(id, row("app", project()));
    ASSERT_TRUE(c.ok()) << "operation_commit " << c.describe() << rule("operation_commit must commit a create operation");
    auto got = s().cname_get(host("app"));
    EXPECT_TRUE(got.ok()) << got.describe() << rule("operation_commit of a \"create\" must insert the CNAME row");
    EXPECT_FALSE(listed_unfinished(id)) << rule("operation_commit must mark the operation \"committed\" (no longer unfinished)");
}

TEST_F(state_store_v1, operation_commit_of_a_delete_removes_the_row_and_marks_committed) {
    ASSERT_TRUE(s().cname_insert(row("app", project())).ok());
    const int64_t id = begin_ok(operation_json("delete", host("app"), project()));
    auto c = s().operation_commit(id, "{\"hostname\":\"" + host("app") + "\"}");
    ASSERT_TRUE(c.ok()) << "operation_commit " << c.describe() << rule("operation_commit must commit a delete operation");
    auto got = s().cname_get(host("app"));
    EXPECT_EQ(got.rc, TM_NOT_FOUND) << got.describe() << rule("operation_commit of a \"delete\" must delete the CNAME row");
    EXPECT_FALSE(listed_unfinished(id)) << rule("operation_commit must mark the operation \"committed\" (no longer unfinished)");
}

TEST_F(state_store_v1, operation_commit_that_cannot_insert_leaves_the_operation_unfinished) {
    const int64_t id = begin_ok(operation_json("create", host("app"), project("mine")));
    ASSERT_TRUE(s().operation_advance(id, "applied", "{}").ok());
    // Someone published the name outside the journal meanwhile: the insert inside the commit must fail.
    ASSERT_TRUE(s().cname_insert(row("app", project("other"))).ok());
    auto c = s().operation_commit(id, row("app", project("mine")));
    const std::string r = rule("operation_commit must insert the CNAME row and mark the operation committed in one "
                               "transaction: when the insert fails, the operation stays unfinished and the row unchanged");
    EXPECT_FALSE(c.ok()) << "operation_commit whose hostname is taken " << c.describe() << r;
    EXPECT_TRUE(listed_unfinished(id)) << r;
    EXPECT_EQ(str_member(parse_json(s().cname_get(host("app")).json), "project"), project("other")) << r;
}

TEST_F(state_store_v1, operation_list_unfinished_is_oldest_first_without_finished_ones) {
    const int64_t a = begin_ok(operation_json("create", host("a"), project()));
    next_millisecond();
    const int64_t b = begin_ok(operation_json("create", host("b"), project()));
    next_millisecond();
    const int64_t c = begin_ok(operation_json("create", host("c"), project()));
    next_millisecond();
    const int64_t d = begin_ok(operation_json("create", host("d"), project()));
    ASSERT_TRUE(s().operation_commit(b, row("b", project())).ok());
    ASSERT_TRUE(s().operation_advance(c, "rolled_back", "{}").ok());
    ASSERT_TRUE(s().operation_advance(d, "dns_created", "{}").ok());  // advancing must not reorder
    std::vector<int64_t> ids;
    for (auto& [id, state] : my_unfinished()) ids.push_back(id);
    EXPECT_EQ(ids, (std::vector<int64_t>{a, d}))
        << rule("operation_list_unfinished must list the operations in neither \"committed\" nor \"rolled_back\", oldest first");
}

// --- since 1.3: expiring names, origin settings and retargets --------------------------------------

TEST_F(state_store_v1, cname_rows_keep_expires_at_and_origin_request) {
    if (!row_extras_and_retarget_since_1_3()) GTEST_SKIP() << before_1_3();
    const std::string proj = project();
    const int64_t expires = now_ms() + 86400000;
    const std::string origin = R"({"connectTimeout":30,"noTLSVerify":true,"httpHostHeader":"app.internal"})";
    auto ins = s().cname_insert(row_with("app", proj, 3100,
                                         R"({"expires_at":)" + std::to_string(expires) + R"(,"origin_request":)" + origin + "}"));
    ASSERT_TRUE(ins.ok()) << "cname_insert with expires_at and origin_request " << ins.describe()
                          << rule("since 1.3, cname_insert must accept a row with \"expires_at\" (Unix ms) and "
                                  "\"origin_request\" (an object)");
    ASSERT_TRUE(s().cname_insert(row("plain", proj)).ok());
    ASSERT_TRUE(s().cname_insert(row_with("nulls", proj, 3100, R"({"expires_at":null,"origin_request":null})")).ok())
        << rule("since 1.3, cname_insert must accept \"expires_at\": null and \"origin_request\": null (never, none)");

    const std::string kept = rule("since 1.3, cname_get and cname_list must return the \"expires_at\" and "
                                  "\"origin_request\" cname_insert was given");
    auto got = s().cname_get(host("app"));
    ASSERT_TRUE(got.ok()) << got.describe() << rule("cname_get must find the row cname_insert stored");
    auto d = parse_json(got.json);
    EXPECT_EQ(int_member(d, "expires_at"), expires) << got.json << kept;
    EXPECT_TRUE(member_equals(d, "origin_request", origin)) << got.json << kept;
    const std::string in_proj = "{\"project\":\"" + proj + "\"}";
    const std::string lists = rule("cname_list must return the rows of the project in {\"project\"}");
    auto listed = listed_row(in_proj, host("app"));
    ASSERT_TRUE(listed.IsObject()) << lists;
    EXPECT_EQ(int_member(listed, "expires_at"), expires) << kept;
    EXPECT_TRUE(member_equals(listed, "origin_request", origin)) << kept;

    const std::string unset = rule("since 1.3, a row inserted without \"expires_at\" and \"origin_request\" (or with "
                                   "null) must come back without them (absent or null)");
    for (const char* word : {"plain", "nulls"}) {
        auto o = s().cname_get(host(word));
        ASSERT_TRUE(o.ok()) << o.describe() << rule("cname_get must find the row cname_insert stored");
        auto r = parse_json(o.json);
        EXPECT_TRUE(absent_or_null(r, "expires_at")) << o.json << unset;
        EXPECT_TRUE(absent_or_null(r, "origin_request")) << o.json << unset;
        auto l = listed_row(in_proj, host(word));
        ASSERT_TRUE(l.IsObject()) << lists;
        EXPECT_TRUE(absent_or_null(l, "expires_at") && absent_or_null(l, "origin_request")) << unset;
    }
}

TEST_F(state_store_v1, cname_list_filters_by_expires_before_with_project_and_paging) {
    if (!row_extras_and_retarget_since_1_3()) GTEST_SKIP() << before_1_3();
    const std::string mine = project("mine"), other = project("other");
    const int64_t t = now_ms() + 86400000;
    auto expiring = [&](const char* word, const std::string& proj, int64_t at) {
        auto o = s().cname_insert(row_with(word, proj, 3100, R"({"expires_at":)" + std::to_string(at) + "}"));
        ASSERT_TRUE(o.ok()) << o.describe();
    };
    expiring("e", mine, t + 1000);
    expiring("a", mine, t + 1000);
    expiring("c", mine, t + 3000);
    expiring("b", mine, t + 2000);
    ASSERT_TRUE(s().cname_insert(row("d", mine)).ok());  // never expires
    expiring("f", other, t + 500);

    auto before = [&](int64_t bound, const std::string& more = "") {
        return "{\"expires_before\":" + std::to_string(bound) + more + "}";
    };
    auto of_this_test = [&](std::vector<std::string> names) {
        names.erase(std::remove_if(names.begin(), names.end(),
                                   [&](const std::string& n) { return n.find(tag_) == std::string::npos; }),
                    names.end());
        return names;
    };
    const std::string in_mine = ",\"project\":\"" + mine + "\"";
    const std::string r = rule("since 1.3, cname_list with {\"expires_before\": t} must return only the rows whose "
                               "expires_at is set and <= t, ordered by hostname");
    EXPECT_EQ(hostnames(before(t + 2000, in_mine)), (std::vector<std::string>{host("a"), host("b"), host("e")})) << r;
    EXPECT_EQ(of_this_test(hostnames(before(t + 2000))),
              (std::vector<std::string>{host("a"), host("b"), host("e"), host("f")}))
        << r;
    EXPECT_EQ(hostnames(before(t + 1000, in_mine)), (std::vector<std::string>{host("a"), host("e")})) << r;
    EXPECT_TRUE(hostnames(before(t + 999, in_mine)).empty()) << r;

    const std::string paged = rule("since 1.3, cname_list must apply \"expires_before\" together with \"project\", "
                                   "\"limit\" and \"offset\"");
    EXPECT_EQ(hostnames(before(t + 3000, in_mine + ",\"limit\":2,\"offset\":0")),
              (std::vector<std::string>{host("a"), host("b")}))
        << paged;
    EXPECT_EQ(hostnames(before(t + 3000, in_mine + ",\"limit\":2,\"offset\":2")),
              (std::vector<std::string>{host("c"), host("e")}))
        << paged;
    EXPECT_TRUE(hostnames(before(t + 3000, in_mine + ",\"limit\":2,\"offset\":4")).empty()) << paged;
}

TEST_F(state_store_v1, operation_commit_of_a_retarget_replaces_the_row_but_id_and_created_at) {
    if (!row_extras_and_retarget_since_1_3()) GTEST_SKIP() << before_1_3();
    const std::string proj = project();
    ASSERT_TRUE(s().cname_insert(row("app", proj, 3100)).ok());
    auto first = s().cname_get(host("app"));
    ASSERT_TRUE(first.ok()) << first.describe();
    const auto old = parse_json(first.json);
    for (int i = 0; i < 4; ++i) next_millisecond();  // a row written anew would have another created_at

    const int64_t id = begin_ok(operation_json("retarget", host("app"), proj, 3200));
    ASSERT_TRUE(s().operation_advance(id, "applied", "{}").ok());
    const int64_t expires = now_ms() + 86400000;
    const std::string origin = R"({"connectTimeout":10,"originServerName":"app.internal"})";
    const std::string retargeted =
        row_with("app", proj, 3200,
                 R"({"target_type":"container","container_name":"web-)" + tag_ + R"(","docker_network":"net-)" + tag_ +
                     R"(","dns_record_id":"rec-new","zone_id":"zone-new","expires_at":)" + std::to_string(expires) +
                     R"(,"origin_request":)" + origin + "}");
    auto c = s().operation_commit(id, retargeted);
    ASSERT_TRUE(c.ok()) << "operation_commit of a retarget " << c.describe()
                        << rule("since 1.3, operation_commit must commit a \"retarget\" operation whose hostname has a row");
    EXPECT_FALSE(listed_unfinished(id)) << rule("operation_commit must mark the operation \"committed\" (no longer unfinished)");

    auto got = s().cname_get(host("app"));
    ASSERT_TRUE(got.ok()) << got.describe() << rule("since 1.3, operation_commit of a \"retarget\" must keep the hostname's row");
    auto d = parse_json(got.json);
    const std::string r = rule("since 1.3, operation_commit of a \"retarget\" must replace every field of the stored row "
                               "but id and created_at with the given row's");
    EXPECT_EQ(int_member(d, "port"), 3200) << got.json << r;
    EXPECT_EQ(str_member(d, "target"), "http://localhost:3200") << got.json << r;
    EXPECT_EQ(str_member(d, "target_type"), "container") << got.json << r;
    EXPECT_EQ(str_member(d, "container_name"), "web-" + tag_) << got.json << r;
    EXPECT_EQ(str_member(d, "docker_network"), "net-" + tag_) << got.json << r;
    EXPECT_EQ(str_member(d, "dns_record_id"), "rec-new") << got.json << r;
    EXPECT_EQ(str_member(d, "zone_id"), "zone-new") << got.json << r;
    EXPECT_EQ(str_member(d, "project"), proj) << got.json << r;
    EXPECT_EQ(int_member(d, "expires_at"), expires) << got.json << r;
    EXPECT_TRUE(member_equals(d, "origin_request", origin)) << got.json << r;
    const std::string kept = rule("since 1.3, operation_commit of a \"retarget\" must keep the row's id and created_at");
    EXPECT_EQ(int_member(d, "id"), int_member(old, "id")) << first.json << " became " << got.json << kept;
    EXPECT_EQ(int_member(d, "created_at"), int_member(old, "created_at")) << first.json << " became " << got.json << kept;

    // Retargeting back to a plain row takes the expiry and the origin settings away again.
    const int64_t again = begin_ok(operation_json("retarget", host("app"), proj, 3300));
    ASSERT_TRUE(s().operation_commit(again, row("app", proj, 3300)).ok());
    auto plain = parse_json(s().cname_get(host("app")).json);
    EXPECT_EQ(int_member(plain, "port"), 3300) << r;
    EXPECT_TRUE(absent_or_null(plain, "container_name")) << r;
    EXPECT_TRUE(absent_or_null(plain, "expires_at")) << r;
    EXPECT_TRUE(absent_or_null(plain, "origin_request")) << r;
}

TEST_F(state_store_v1, operation_commit_of_a_retarget_without_a_row_is_not_found) {
    if (!row_extras_and_retarget_since_1_3()) GTEST_SKIP() << before_1_3();
    const std::string proj = project();
    ASSERT_TRUE(s().cname_insert(row("app", proj)).ok());
    const int64_t id = begin_ok(operation_json("retarget", host("app"), proj, 3200));
    ASSERT_TRUE(s().operation_advance(id, "applied", "{}").ok());
    ASSERT_TRUE(s().cname_delete(host("app")).ok());  // deleted outside the journal meanwhile

    auto c = s().operation_commit(id, row("app", proj, 3200));
    const std::string r = rule("since 1.3, operation_commit of a \"retarget\" must answer TM_NOT_FOUND when the "
                               "hostname has no row, leaving the operation unfinished and inserting nothing");
    EXPECT_EQ(c.rc, TM_NOT_FOUND) << "operation_commit of a retarget of a deleted row " << c.describe() << r;
    if (c.rc != TM_OK) {
        EXPECT_FALSE(c.last_error.empty())
            << rule("every call that does not return TM_OK must leave a sentence in last_error()");
    }
    std::string state;
    unfinished_data(id, &state);
    EXPECT_EQ(state, "applied") << r;
    EXPECT_EQ(s().cname_get(host("app")).rc, TM_NOT_FOUND) << r;
}

TEST_F(state_store_v1, a_retarget_operation_is_listed_unfinished_with_its_kind) {
    if (!row_extras_and_retarget_since_1_3()) GTEST_SKIP() << before_1_3();
    ASSERT_TRUE(s().cname_insert(row("app", project())).ok());
    const int64_t id = begin_ok(operation_json("retarget", host("app"), project(), 3200));
    auto o = s().operation_list_unfinished();
    auto d = array_of(o, "operation_list_unfinished");
    const rapidjson::Value* found = nullptr;
    for (const auto& op : d.GetArray()) {
        if (int_member(op, "id") == id) found = &op;
    }
    ASSERT_NE(found, nullptr) << o.json << rule("operation_list_unfinished must list an operation just begun");
    const std::string r = rule("since 1.3, operation_begin must accept kind \"retarget\" and operation_list_unfinished "
                               "must list it with kind \"retarget\", in state \"validated\"");
    EXPECT_EQ(str_member(*found, "kind"), "retarget") << o.json << r;
    EXPECT_EQ(str_member(*found, "state"), "validated") << o.json << r;
    EXPECT_EQ(str_member(*found, "hostname"), host("app")) << o.json << r;
    EXPECT_EQ(str_member(*found, "project"), project()) << o.json << r;
}

// --- since 1.4: given creation times and rows' machines ----------------------------------------------

TEST_F(state_store_v1, cname_insert_keeps_a_given_created_at) {
    if (!given_times_paging_and_machine_since_1_4()) GTEST_SKIP() << before_1_4();
    const int64_t created = now_ms() - 7 * 86400000LL - 7;  // a week ago: never a time the store would set
    auto ins = s().cname_insert(row_with("app", project(), 3100, R"({"created_at":)" + std::to_string(created) + "}"));
    ASSERT_TRUE(ins.ok()) << "cname_insert with created_at " << ins.describe()
                          << rule("since 1.4, cname_insert must accept a row with \"created_at\" (Unix ms)");
    auto got = s().cname_get(host("app"));
    ASSERT_TRUE(got.ok()) << got.describe() << rule("cname_get must find the row cname_insert stored");
    EXPECT_EQ(int_member(parse_json(got.json), "created_at"), created)
        << got.json << rule("since 1.4, cname_insert must keep a given \"created_at\" (> 0), and cname_get must return it");
}

TEST_F(state_store_v1, a_row_inserted_with_a_machine_comes_back_with_it) {
    if (!given_times_paging_and_machine_since_1_4()) GTEST_SKIP() << before_1_4();
    const std::string proj = project(), away = "elsewhere-" + tag_;
    ASSERT_TRUE(s().cname_insert(row("here", proj)).ok()) << rule("cname_insert must store a new hostname");
    auto ins = s().cname_insert(row_with("away", proj, 3100, R"({"machine":")" + away + R"("})"));
    ASSERT_TRUE(ins.ok()) << "cname_insert with machine " << ins.describe()
                          << rule("since 1.4, cname_insert must accept a row with \"machine\" (a store of one machine may "
                                  "leave it out)");
    auto here = s().cname_get(host("here")), there = s().cname_get(host("away"));
    ASSERT_TRUE(here.ok() && there.ok()) << here.describe() << " / " << there.describe()
                                         << rule("cname_get must find the row cname_insert stored");
    const auto h = parse_json(here.json), t = parse_json(there.json);
    if (absent_or_null(h, "machine") && absent_or_null(t, "machine")) {
        GTEST_SKIP() << "the store returns no \"machine\" on its rows: a store of one machine, which may leave it out";
    }
    const std::string r = rule("since 1.4, a store that returns \"machine\" must keep the machine a row was inserted "
                               "with and return it from cname_get and cname_list");
    EXPECT_EQ(str_member(t, "machine"), away) << there.json << r;
    auto listed = listed_row("{\"project\":\"" + proj + "\"}", host("away"));
    ASSERT_TRUE(listed.IsObject()) << rule("cname_list must return the rows of the project in {\"project\"}");
    EXPECT_EQ(str_member(listed, "machine"), away) << r;
}

// --- leases ------------------------------------------------------------------------------------

TEST_F(state_store_v1, lease_acquire_takes_a_free_lease_and_refuses_another_holder) {
    const std::string lease = "loops-" + tag_;
    auto a = s().lease_acquire(lease, "holder-a", 60000);
    ASSERT_TRUE(a.ok()) << a.describe() << rule("lease_acquire must succeed");
    EXPECT_EQ(a.number, 1) << rule("lease_acquire of a free lease must acquire it (*out_acquired = 1)");
    auto b = s().lease_acquire(lease, "holder-b", 60000);
    ASSERT_TRUE(b.ok()) << b.describe() << rule("lease_acquire must succeed (TM_OK) even when the lease is taken; the answer is *out_acquired");
    EXPECT_EQ(b.number, 0) << rule("lease_acquire must not give a lease to another holder while the holder's lease is unexpired (*out_acquired = 0)");
    auto other = s().lease_acquire("other-" + tag_, "holder-b", 60000);
    EXPECT_EQ(other.number, 1) << rule("leases with different names must be independent");
}

TEST_F(state_store_v1, lease_acquire_renews_for_the_same_holder) {
    const std::string lease = "loops-" + tag_;
    ASSERT_EQ(s().lease_acquire(lease, "holder-a", 60000).number, 1);
    auto again = s().lease_acquire(lease, "holder-a", 60000);
    EXPECT_TRUE(again.ok() && again.number == 1) << again.describe()
                                                 << rule("lease_acquire by the holder of an unexpired lease must renew it (*out_acquired = 1)");
}

TEST_F(state_store_v1, an_expired_lease_can_be_taken_by_another_holder) {
    const std::string lease = "loops-" + tag_;
    ASSERT_EQ(s().lease_acquire(lease, "holder-a", 100).number, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    auto b = s().lease_acquire(lease, "holder-b", 60000);
    EXPECT_TRUE(b.ok() && b.number == 1) << b.describe()
                                         << rule("lease_acquire must give a lease whose ttl_ms has passed to a new holder");
}

TEST_F(state_store_v1, lease_release_frees_only_the_holders_lease) {
    const std::string lease = "loops-" + tag_;
    ASSERT_EQ(s().lease_acquire(lease, "holder-a", 60000).number, 1);
    auto wrong = s().lease_release(lease, "holder-b");
    EXPECT_TRUE(wrong.ok()) << wrong.describe() << rule("lease_release by a non-holder must do nothing and succeed");
    EXPECT_EQ(s().lease_acquire(lease, "holder-b", 60000).number, 0)
        << rule("lease_release by a non-holder must leave the holder's lease standing");
    auto right = s().lease_release(lease, "holder-a");
    EXPECT_TRUE(right.ok()) << right.describe() << rule("lease_release by the holder must succeed");
    EXPECT_EQ(s().lease_acquire(lease, "holder-b", 60000).number, 1)
        << rule("after lease_release by its holder, another holder must be able to acquire the lease");
}

TEST_F(state_store_v1, leases_are_shared_by_every_instance_on_one_store) {
    auto second = start();
    ASSERT_NE(second, nullptr);
    store_calls s2(*second);
    const std::string lease = "loops-" + tag_;
    ASSERT_EQ(s().lease_acquire(lease, "process-1", 60000).number, 1);
    EXPECT_EQ(s2.lease_acquire(lease, "process-2", 60000).number, 0)
        << rule("a lease held through one instance must refuse another holder through a second instance on the same store");
}

// --- audit -------------------------------------------------------------------------------------

class state_store_v1_audit : public state_store_v1 {
protected:
    // `more`: further members, each after a comma (",\"ts\":123").
    void append(const std::string& action, const std::string& target, const std::string& proj,
                const std::string& more = "") {
        const std::string entry = "{\"actor\":\"" + proj + "\",\"role\":\"project\",\"action\":\"" + action +
                                  "\",\"target\":\"" + target + "\",\"project\":\"" + proj +
                                  "\",\"result\":\"ok\",\"error\":null,\"details\":{\"check\":true}" + more + "}";
        auto o = s().audit_append(entry);
        ASSERT_TRUE(o.ok()) << entry << " " << o.describe()
                            << rule("audit_append must accept {\"actor\",\"role\",\"action\",\"target\",\"result\",\"error\",\"details\":{}}");
        next_millisecond();
    }
    std::vector<std::string> targets(const std::string& filter) {
        auto o = s().audit_query(filter);
        EXPECT_TRUE(o.ok()) << "audit_query(" << filter << ") " << o.describe()
                            << rule("audit_query must accept {\"project\"?, \"action\"?, \"since_ms\"?, \"limit\"?}");
        return tagged(o, "audit_query", "target");
    }
};

TEST_F(state_store_v1_audit, audit_query_is_newest_first) {
    for (const char* t : {"t1", "t2", "t3"}) append("check." + tag_, std::string(t) + "-" + tag_, project());
    EXPECT_EQ(targets("{\"action\":\"check." + tag_ + "\"}"),
              (std::vector<std::string>{"t3-" + tag_, "t2-" + tag_, "t1-" + tag_}))
        << rule("audit_query must return entries newest first");
}

TEST_F(state_store_v1_audit, audit_query_filters_by_action_and_project) {
    append("check.one." + tag_, "one-" + tag_, project("a"));
    append("check.two." + tag_, "two-" + tag_, project("a"));
    append("check.one." + tag_, "three-" + tag_, project("b"));
    EXPECT_EQ(targets("{\"action\":\"check.one." + tag_ + "\"}"), (std::vector<std::string>{"three-" + tag_, "one-" + tag_}))
        << rule("audit_query with {\"action\"} must return only entries of that action");
    EXPECT_EQ(targets("{\"project\":\"" + project("a") + "\"}"), (std::vector<std::string>{"two-" + tag_, "one-" + tag_}))
        << rule("audit_query with {\"project\"} must return only entries of that project");
    EXPECT_EQ(targets("{\"project\":\"" + project("a") + "\",\"action\":\"check.two." + tag_ + "\"}"),
              (std::vector<std::string>{"two-" + tag_}))
        << rule("audit_query must apply every filter given at once");
}

TEST_F(state_store_v1_audit, audit_query_filters_by_since_ms_and_limit) {
    const int64_t before = now_ms() - 60000;
    for (const char* t : {"t1", "t2", "t3"}) append("check." + tag_, std::string(t) + "-" + tag_, project());
    const std::string action = "\"action\":\"check." + tag_ + "\"";
    EXPECT_EQ(targets("{" + action + ",\"since_ms\":" + std::to_string(before) + "}").size(), 3u)
        << rule("audit_query with {\"since_ms\"} must return the entries appended at or after that time (the store sets the time)");
    EXPECT_TRUE(targets("{" + action + ",\"since_ms\":" + std::to_string(now_ms() + 3600000) + "}").empty())
        << rule("audit_query with {\"since_ms\"} must leave out entries older than that time");
    EXPECT_EQ(targets("{" + action + ",\"limit\":2}"), (std::vector<std::string>{"t3-" + tag_, "t2-" + tag_}))
        << rule("audit_query with {\"limit\": n} must return the n newest entries");
}

TEST_F(state_store_v1_audit, audit_append_keeps_a_given_ts) {
    if (!given_times_paging_and_machine_since_1_4()) GTEST_SKIP() << before_1_4();
    const int64_t ts = now_ms() - 600000 - 7;  // ten minutes ago: never a time the store would set
    const std::string action = "check.ts." + tag_;
    append(action, "copied-" + tag_, project(), ",\"ts\":" + std::to_string(ts));
    if (HasFatalFailure()) return;
    auto o = s().audit_query("{\"action\":\"" + action + "\"}");
    ASSERT_TRUE(o.ok()) << o.describe() << rule("audit_query must accept {\"project\"?, \"action\"?, \"since_ms\"?, \"limit\"?}");
    auto d = array_of(o, "audit_query");
    const std::string r = rule("since 1.4, audit_append must keep a given \"ts\" (> 0), and audit_query must return it");
    ASSERT_EQ(d.Size(), 1u) << o.json << r;
    EXPECT_EQ(str_member(d[0u], "target"), "copied-" + tag_) << o.json << r;
    EXPECT_EQ(int_member(d[0u], "ts"), ts) << o.json << r;
}

TEST_F(state_store_v1_audit, audit_query_pages_by_before_id) {
    if (!given_times_paging_and_machine_since_1_4()) GTEST_SKIP() << before_1_4();
    const std::string action = "check.page." + tag_;
    std::vector<std::string> mine;
    for (int i = 1; i <= 5; ++i) {
        mine.push_back("page" + std::to_string(i) + "-" + tag_);
        append(action, mine.back(), project());
        if (HasFatalFailure()) return;
    }
    auto pages = page_by_before_id([&](const std::string& f) { return s().audit_query(f); }, "audit_query",
                                   "\"action\":\"" + action + "\"", "target");
    expect_each_once_by_falling_id(
        pages, mine,
        rule("since 1.4, audit_query with \"before_id\" must return only the entries with a smaller id, ordered by id, "
             "newest first: paging by the smallest id of the page before must see every entry once, ids falling"));
}

// --- health --------------------------------------------------------------------------------------

class state_store_v1_health : public state_store_v1 {
protected:
    // `more`: further members, each after a comma (",\"ts\":123").
    void record(const std::string& marker, const std::string& more = "") {
        const std::string obs = "{\"status\":\"degraded\",\"ready_connections\":1,\"restart_count\":0,\"last_error\":\"" +
                                marker + "\",\"uptime_s\":10,\"detail\":{\"check\":true}" + more + "}";
        auto o = s().health_record(obs);
        ASSERT_TRUE(o.ok()) << obs << " " << o.describe()
                            << rule("health_record must accept {\"status\",\"ready_connections\",\"restart_count\",\"last_error\",\"uptime_s\",\"detail\":{}}");
        next_millisecond();
    }
    std::vector<std::string> markers(const std::string& filter) {
        auto o = s().health_history(filter);
        EXPECT_TRUE(o.ok()) << "health_history(" << filter << ") " << o.describe()
                            << rule("health_history must accept {\"since_ms\"?, \"limit\"?}");
        return tagged(o, "health_history", "last_error");
    }
};

TEST_F(state_store_v1_health, health_history_is_newest_first) {
    for (const char* m : {"h1", "h2", "h3"}) record(std::string(m) + "-" + tag_);
    EXPECT_EQ(markers("{}"), (std::vector<std::string>{"h3-" + tag_, "h2-" + tag_, "h1-" + tag_}))
        << rule("health_history must return the observations health_record stored, newest first");
}

TEST_F(state_store_v1_health, health_history_filters_by_since_ms_and_limit) {
    const int64_t before = now_ms() - 60000;
    for (const char* m : {"h1", "h2", "h3"}) record(std::string(m) + "-" + tag_);
    EXPECT_EQ(markers("{\"since_ms\":" + std::to_string(before) + "}").size(), 3u)
        << rule("health_history with {\"since_ms\"} must return the observations recorded at or after that time");
    EXPECT_TRUE(markers("{\"since_ms\":" + std::to_string(now_ms() + 3600000) + "}").empty())
        << rule("health_history with {\"since_ms\"} must leave out older observations");
    EXPECT_EQ(markers("{\"limit\":1}"), (std::vector<std::string>{"h3-" + tag_}))
        << rule("health_history with {\"limit\": n} must return the n newest observations");
}

TEST_F(state_store_v1_health, health_record_keeps_a_given_ts) {
    if (!given_times_paging_and_machine_since_1_4()) GTEST_SKIP() << before_1_4();
    const int64_t ts = now_ms() - 600000 - 7;  // ten minutes ago: never a time the store would set
    record("copied-" + tag_, ",\"ts\":" + std::to_string(ts));
    if (HasFatalFailure()) return;
    const std::string filter = "{\"since_ms\":" + std::to_string(ts) + ",\"limit\":10000}";
    auto o = s().health_history(filter);
    ASSERT_TRUE(o.ok()) << "health_history(" << filter << ") " << o.describe()
                        << rule("health_history must accept {\"since_ms\"?, \"limit\"?}");
    auto d = array_of(o, "health_history");
    const std::string r = rule("since 1.4, health_record must keep a given \"ts\" (> 0), and health_history must return it");
    const rapidjson::Value* found = nullptr;
    for (const auto& h : d.GetArray()) {
        if (str_member(h, "last_error") == "copied-" + tag_) found = &h;
    }
    ASSERT_NE(found, nullptr) << o.json << r;
    EXPECT_EQ(int_member(*found, "ts"), ts) << o.json << r;
}

TEST_F(state_store_v1_health, health_history_pages_by_before_id) {
    if (!given_times_paging_and_machine_since_1_4()) GTEST_SKIP() << before_1_4();
    // Only the last minute's observations: a store that already holds a long history is read in a few pages.
    const std::string since = "\"since_ms\":" + std::to_string(now_ms() - 60000);
    std::vector<std::string> mine;
    for (int i = 1; i <= 5; ++i) {
        mine.push_back("page" + std::to_string(i) + "-" + tag_);
        record(mine.back());
        if (HasFatalFailure()) return;
    }
    auto pages = page_by_before_id([&](const std::string& f) { return s().health_history(f); }, "health_history",
                                   since, "last_error");
    expect_each_once_by_falling_id(
        pages, mine,
        rule("since 1.4, health_history with \"before_id\" must return only the observations with a smaller id, ordered "
             "by id, newest first: paging by the smallest id of the page before must see every observation once, ids "
             "falling"));
}

// --- domains and docker topology --------------------------------------------------------------------

TEST_F(state_store_v1, domains_replace_replaces_and_domains_list_is_ordered_by_name) {
    const std::string b = "bravo-" + tag_ + ".com", a = "alpha-" + tag_ + ".com", c = "charlie-" + tag_ + ".com";
    auto r1 = s().domains_replace(R"([{"zone_id":"zb","name":")" + b + R"(","status":"active"},{"zone_id":"za","name":")" +
                                   a + R"(","status":"active"}])");
    ASSERT_TRUE(r1.ok()) << r1.describe() << rule("domains_replace must accept an array of {\"zone_id\",\"name\",\"status\"}");
    auto names = [&] {
        auto o = s().domains_list();
        EXPECT_TRUE(o.ok()) << o.describe() << rule("domains_list must succeed");
        std::vector<std::string> out;
        auto d = array_of(o, "domains_list");
        for (const auto& z : d.GetArray()) out.push_back(str_member(z, "name"));
        return out;
    };
    EXPECT_EQ(names(), (std::vector<std::string>{a, b})) << rule("domains_list must return the known zones ordered by name");
    ASSERT_TRUE(s().domains_replace(R"([{"zone_id":"zc","name":")" + c + R"(","status":"active"}])").ok());
    EXPECT_EQ(names(), (std::vector<std::string>{c})) << rule("domains_replace must replace the known zones, not add to them");
}

TEST_F(state_store_v1, docker_snapshot_replace_then_get_returns_it_with_taken_ms) {
    auto snapshot = [&](const std::string& net, const std::string& container) {
        return R"({"networks":[{"id":"n-)" + tag_ + R"(","name":")" + net + R"(","driver":"bridge","scope":"local"}],)"
               R"("containers":[{"id":"c-)" + tag_ + R"(","name":")" + container +
               R"(","image":"nginx","state":"running","project":"demo","networks":[{"network":")" + net +
               R"(","ip":"172.18.0.2","aliases":["web"]}],"ports":[{"container_port":80,"protocol":"tcp","host_ip":"0.0.0.0","host_port":8080}]}]})";
    };
    auto rep = s().docker_snapshot_replace(snapshot("net1-" + tag_, "web1-" + tag_));
    ASSERT_TRUE(rep.ok()) << rep.describe() << rule("docker_snapshot_replace must accept the documented snapshot shape");
    ASSERT_TRUE(s().docker_snapshot_replace(snapshot("net2-" + tag_, "web2-" + tag_)).ok());
    auto got = s().docker_snapshot_get();
    ASSERT_TRUE(got.ok()) << got.describe() << rule("docker_snapshot_get must succeed after a snapshot was stored");
    auto d = parse_json(got.json);
    ASSERT_TRUE(d.IsObject()) << got.json << rule("docker_snapshot_get must return a JSON object");
    EXPECT_TRUE(d.HasMember("taken_ms") && d["taken_ms"].IsInt64())
        << got.json << rule("docker_snapshot_get must add \"taken_ms\" to the snapshot");
    const std::string r = rule("docker_snapshot_get must return the last snapshot in the shape it was stored, replacing the one before");
    ASSERT_TRUE(d.HasMember("containers") && d["containers"].IsArray() && d["containers"].Size() == 1) << got.json << r;
    EXPECT_EQ(str_member(d["containers"][0], "name"), "web2-" + tag_) << got.json << r;
    ASSERT_TRUE(d.HasMember("networks") && d["networks"].IsArray() && d["networks"].Size() == 1) << got.json << r;
    EXPECT_EQ(str_member(d["networks"][0], "name"), "net2-" + tag_) << got.json << r;
}

// --- retention and errors -------------------------------------------------------------------------

TEST_F(state_store_v1, prune_succeeds_and_counts) {
    auto p = s().prune();
    EXPECT_TRUE(p.ok()) << p.describe() << rule("prune must succeed");
    EXPECT_GE(p.number, 0) << rule("prune must count the rows it deleted in *out_deleted (never negative)");
}

TEST_F(state_store_v1, failing_calls_leave_a_last_error) {
    const std::string r = rule("every call that does not return TM_OK must leave a sentence in last_error()");
    auto missing = s().cname_get(host("nobody"));
    ASSERT_NE(missing.rc, TM_OK);
    EXPECT_FALSE(missing.last_error.empty()) << "cname_get of an unknown hostname " << missing.describe() << r;
    begin_ok(operation_json("create", host("busy"), project()));
    auto busy = s().operation_begin(operation_json("create", host("busy"), project()));
    if (busy.rc != TM_OK) {
        EXPECT_FALSE(busy.last_error.empty()) << "operation_begin " << busy.describe() << r;
    }
    auto bad = s().cname_insert("this is not JSON");
    EXPECT_NE(bad.rc, TM_OK) << rule("cname_insert must refuse a row that is not JSON");
    if (bad.rc != TM_OK) {
        EXPECT_FALSE(bad.last_error.empty()) << "cname_insert of non-JSON " << bad.describe() << r;
    }
}

}  // namespace
}  // namespace tunnelmgr::plugin_check
