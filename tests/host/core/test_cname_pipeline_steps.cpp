// The CNAME pipeline's steps and their compensations, one failure point at a time: what is
// journaled, what is undone outside (DNS, ingress, re-apply), the audit row, the error sentence,
// the progress and the metrics; and what recover() makes of an operation left open. Then the
// limits the pipeline keeps: the zone list refreshed on a miss at most once a minute,
// projects.P.max_hostnames, also under concurrent requests, and each project's scope (its zones,
// its name rule, the machine's reserved labels).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <unistd.h>

#include "core/cname_pipeline.hpp"
#include "core/json.hpp"
#include "core/reconcile.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"

using namespace tunnelmgr;
using core::errc;
using core::error;
using core::result;

namespace {

core::error boom(const std::string& what) { return {errc::error, what}; }

// Cloudflare as a map of hostname → record. `create_fails_after_creating`: the answer is lost
// but the record exists (a timeout), which only a lookup during the undo can find. Safe to call
// from several threads; counts the zone-list fetches.
class fake_dns final : public core::dns_provider {
public:
    std::map<std::string, std::string> records;  // hostname → {"id","name","content","comment"}
    std::optional<error> create_error, delete_error, list_error, find_error;
    std::atomic<int> finds{0};
    bool create_fails_after_creating = false;
    std::string zones = R"([{"zone_id":"z1","name":"example.com"}])";
    std::atomic<int> zone_fetches{0};

    result<std::string> list_zones() override {
        std::lock_guard<std::mutex> lock(m_);
        ++zone_fetches;
        if (list_error) return tl::unexpected(*list_error);
        return zones;
    }
    result<std::string> find_record(std::string_view, std::string_view hostname, std::string_view) override {
        std::lock_guard<std::mutex> lock(m_);
        ++finds;
        if (find_error) return tl::unexpected(*find_error);
        auto it = records.find(std::string(hostname));
        if (it == records.end()) return core::fail(errc::not_found, "no record");
        return it->second;
    }
    result<std::string> create_record(std::string_view, std::string_view record_json) override {
        std::lock_guard<std::mutex> lock(m_);
        if (create_error && !create_fails_after_creating) return tl::unexpected(*create_error);
        auto in = *core::json::parse(record_json);
        std::string id = "r" + std::to_string(++ids_);
        core::json::object rec;
        rec.set("id", id).set("name", core::json::str(in, "name")).set("content", core::json::str(in, "content"));
        rec.set("comment", core::json::str(in, "comment"));
        records[core::json::str(in, "name")] = rec.str();
        if (create_error) return tl::unexpected(*create_error);
        return core::json::object().set("id", id).str();
    }
    result<void> delete_record(std::string_view, std::string_view record_id, std::string_view) override {
        std::lock_guard<std::mutex> lock(m_);
        if (delete_error) return tl::unexpected(*delete_error);
        for (auto it = records.begin(); it != records.end(); ++it) {
            if (core::json::str(*core::json::parse(it->second), "id") == record_id) {
                records.erase(it);
                return {};
            }
        }
        return core::fail(errc::not_found, "no such record");
    }
    bool supports_tunnel_config() const override { return false; }
    result<void> put_tunnel_config(std::string_view, std::string_view) override { return core::fail(errc::error, "no"); }
    result<std::string> get_tunnel_config(std::string_view) override { return core::fail(errc::error, "no"); }

private:
    std::mutex m_;
    int ids_ = 0;
};

class fake_ingress final : public core::ingress_strategy {
public:
    std::map<std::string, std::string> rules;
    std::map<std::string, std::string> origins;  // hostname → its originRequest JSON
    std::optional<error> add_error, remove_error, apply_error, replace_error;
    int applies = 0, removes = 0, replaces = 0;
    std::chrono::milliseconds apply_takes{0};  // a restart's wait, so concurrent requests overlap

    using core::ingress_strategy::add;
    result<bool> add(const std::string& hostname, const core::rule_target& to, const std::string&) override {
        std::lock_guard<std::mutex> lock(m_);
        if (add_error) return tl::unexpected(*add_error);
        if (!to.origin_request.empty()) origins[hostname] = to.origin_request;
        return rules.emplace(hostname, to.service).second;
    }
    result<core::rule_target> replace(const std::string& hostname, const core::rule_target& to,
                                      const std::string&) override {
        std::lock_guard<std::mutex> lock(m_);
        ++replaces;
        if (replace_error) return tl::unexpected(*replace_error);
        auto it = rules.find(hostname);
        if (it == rules.end()) return tl::unexpected(error{errc::not_found, "no rule for " + hostname});
        core::rule_target before{it->second, origins.count(hostname) != 0U ? origins[hostname] : std::string()};
        it->second = to.service;
        origins.erase(hostname);
        if (!to.origin_request.empty()) origins[hostname] = to.origin_request;
        return before;
    }
    result<std::optional<std::string>> remove(const std::string& hostname, const std::string&) override {
        std::lock_guard<std::mutex> lock(m_);
        ++removes;
        if (remove_error) return tl::unexpected(*remove_error);
        auto it = rules.find(hostname);
        if (it == rules.end()) return std::optional<std::string>{};
        std::string service = it->second;
        rules.erase(it);
        return std::optional<std::string>{service};
    }
    result<std::vector<core::ingress_rule>> list_rules() override {
        std::lock_guard<std::mutex> lock(m_);
        std::vector<core::ingress_rule> out;
        for (const auto& [host, service] : rules) out.push_back({host, "", service});
        out.push_back({"", "", "http_status:404"});
        return out;
    }
    result<std::string> apply() override {
        std::this_thread::sleep_for(apply_takes);
        std::lock_guard<std::mutex> lock(m_);
        ++applies;
        if (apply_error) return tl::unexpected(*apply_error);
        return std::string("cloudflared restarted");
    }

private:
    std::mutex m_;
};

// The real sqlite-state store, with its journal writes and audit rows recorded and failures injected.
class recording_store final : public core::state_store {
public:
    explicit recording_store(core::state_store& real) : real_(real) {}
    std::vector<std::string> journal;  // "STATE PATCH" per operation_advance, "commit ROW" per commit
    std::vector<rapidjson::Document> audits;
    std::string fail_advance_to;
    bool fail_commit = false;
    errc commit_code = errc::error;  // what a failing commit answers (retry: the store is away)

    result<int64_t> operation_begin(std::string_view j) override { return real_.operation_begin(j); }
    result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch) override {
        journal.push_back(std::string(state) + " " + std::string(patch));
        if (state == fail_advance_to) return core::fail(errc::error, "the journal is full");
        auto r = real_.operation_advance(id, state, patch);
        if (after_advance) after_advance(state);
        return r;
    }
    // Called after each journal step is written, and once after the next read of the unfinished list.
    std::function<void(std::string_view)> after_advance;
    std::function<void()> after_list;
    result<void> operation_commit(int64_t id, const sdk::model::cname_row& row) override {
        journal.push_back("commit " + host::state_store_client::commit_json(row));
        if (fail_commit) return core::fail(commit_code, commit_code == errc::retry ? "the state store is unavailable" : "the disk is full");
        return real_.operation_commit(id, row);
    }
    result<void> audit_append(const sdk::model::audit_entry& e) override {
        audits.push_back(std::move(*core::json::parse(sdk::model::encode(e))));
        return real_.audit_append(e);
    }
    result<int64_t> schema_version() override { return real_.schema_version(); }
    result<std::string> stats() override { return real_.stats(); }
    result<int64_t> cname_insert(const sdk::model::cname_row& j) override { return real_.cname_insert(j); }
    result<void> cname_delete(std::string_view h) override { return real_.cname_delete(h); }
    // The machine each hostname is served by, as a store shared by several machines (postgres-state)
    // reports it: the SQLite store underneath keeps one machine's rows and names none.
    std::map<std::string, std::string> machines;
    result<sdk::model::cname_row> cname_get(std::string_view h) override {
        auto row = real_.cname_get(h);
        if (row && machines.count(row->hostname) != 0U) row->machine = machines[row->hostname];
        return row;
    }
    result<std::string> cname_list(std::string_view f) override {
        auto listed = real_.cname_list(f);
        if (!listed || machines.empty()) return listed;
        auto rows = *sdk::model::decode_cname_rows(*listed);
        for (auto& r : rows) {
            if (machines.count(r.hostname) != 0U) r.machine = machines[r.hostname];
        }
        return sdk::model::encode(rows);
    }
    result<std::string> operation_list_unfinished() override {
        auto listed = real_.operation_list_unfinished();
        if (after_list) std::exchange(after_list, nullptr)();
        return listed;
    }
    result<std::string> audit_query(std::string_view f) override { return real_.audit_query(f); }
    result<void> health_record(const sdk::model::health_sample& j) override { return real_.health_record(j); }
    result<std::string> health_history(std::string_view f) override { return real_.health_history(f); }
    result<void> domains_replace(const std::vector<sdk::model::zone>& z) override { return real_.domains_replace(z); }
    result<std::vector<sdk::model::zone>> domains_list() override { return real_.domains_list(); }
    result<void> docker_snapshot_replace(const sdk::model::docker_snapshot& s) override { return real_.docker_snapshot_replace(s); }
    result<sdk::model::docker_snapshot> docker_snapshot_get() override { return real_.docker_snapshot_get(); }
    result<bool> lease_acquire(std::string_view n, std::string_view h, int64_t t) override {
        return real_.lease_acquire(n, h, t);
    }
    result<void> lease_release(std::string_view n, std::string_view h) override { return real_.lease_release(n, h); }
    result<int64_t> prune() override { return real_.prune(); }
    result<int64_t> cname_count(std::string_view f) override { return real_.cname_count(f); }

private:
    core::state_store& real_;
};

class recording_observer final : public core::core_observer {
public:
    std::vector<std::string> done, failed;
    void pipeline_step_done(std::string_view kind, std::string_view step, std::chrono::steady_clock::duration) override {
        done.push_back(std::string(kind) + ":" + std::string(step));
    }
    void pipeline_failed(std::string_view kind, std::string_view step) override {
        failed.push_back(std::string(kind) + ":" + std::string(step));
    }
};

class pipeline_steps : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("tm-steps-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        reg_ = std::make_unique<host::registry>(services_);
        auto r = reg_->start_slot("state", {"sqlite-state", "{\"path\":\"" + (dir_ / "s.db").string() + "\"}", 0},
                                  {TM_TEST_PLUGIN_DIR});
        ASSERT_TRUE(r) << r.error();
        real_ = std::make_unique<host::state_store_client>(*reg_->find("state"));
        store_ = std::make_unique<recording_store>(*real_);
        core::pipeline_settings settings{"tunnel-1", "example.com", {{"alpha", {{3000, 3999}}}}};
        pipeline_ = std::make_unique<core::cname_pipeline>(*store_, &dns_, &ingress_, targets_, settings);
        pipeline_->observe_with(observer_);
    }
    void TearDown() override {
        pipeline_.reset();
        store_.reset();
        real_.reset();
        reg_.reset();
        std::filesystem::remove_all(dir_);
    }
    result<std::string> create(const std::string& sub = "app") {
        progress_.clear();
        return pipeline_->request_cname(alpha_, {sub, "", "alpha", 3100}, record_progress());
    }
    result<std::string> remove(const std::string& host = "app.example.com") {
        progress_.clear();
        return pipeline_->delete_cname(alpha_, host, record_progress());
    }
    core::progress_fn record_progress() {
        return [this](const std::string& step, int n, int total) {
            progress_.push_back(step + " " + std::to_string(n) + "/" + std::to_string(total));
        };
    }
    const rapidjson::Document& last_audit() { return store_->audits.back(); }
    std::string audit_detail(const char* key) {
        const auto& d = last_audit()["details"];
        if (!d.HasMember(key)) return "<none>";
        return d[key].IsString() ? d[key].GetString() : core::json::to_string(d[key]);
    }
    bool listed(const std::string& host) { return store_->cname_get(host).has_value(); }
    size_t unfinished() { return core::json::parse(*store_->operation_list_unfinished())->Size(); }

    std::filesystem::path dir_;
    host::host_services services_;
    std::unique_ptr<host::registry> reg_;
    std::unique_ptr<host::state_store_client> real_;
    std::unique_ptr<recording_store> store_;
    core::host_target_selector targets_;
    fake_dns dns_;
    fake_ingress ingress_;
    recording_observer observer_;
    std::unique_ptr<core::cname_pipeline> pipeline_;
    std::vector<std::string> progress_;
    core::session alpha_ = core::session::project_session("alpha", "test");
};

const std::string created_row =
    R"(commit {"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"alpha","port":3100,)"
    R"("target":"http://localhost:3100","target_type":"host","container_name":"","docker_network":"",)"
    R"("dns_record_id":"r1","zone_id":"z1"})";

}  // namespace

TEST_F(pipeline_steps, a_create_runs_five_steps_and_journals_each) {
    auto r = create();
    ASSERT_TRUE(r) << r.error().message;
    auto out = *core::json::parse(*r);
    EXPECT_STREQ(out["hostname"].GetString(), "app.example.com");
    EXPECT_STREQ(out["dns_record_id"].GetString(), "r1");
    EXPECT_STREQ(out["apply"].GetString(), "cloudflared restarted");
    EXPECT_EQ(progress_, (std::vector<std::string>{"validated 1/5", "dns_created 2/5", "ingress_written 3/5",
                                                   "applied 4/5", "committed 5/5"}));
    EXPECT_EQ(observer_.done, (std::vector<std::string>{"create:validated", "create:dns_created", "create:ingress_written",
                                                        "create:applied", "create:committed"}));
    EXPECT_TRUE(observer_.failed.empty());
    EXPECT_EQ(store_->journal, (std::vector<std::string>{R"(dns_created {"record_id":"r1","record_created":true})",
                                                         R"(ingress_written {"ingress_changed":true})", "applied {}",
                                                         created_row}));
    EXPECT_STREQ(last_audit()["action"].GetString(), "cname.create");
    EXPECT_STREQ(last_audit()["result"].GetString(), "ok");
    EXPECT_EQ(audit_detail("target"), "http://localhost:3100");
    EXPECT_TRUE(listed("app.example.com"));
    EXPECT_EQ(dns_.records.size(), 1u);
    EXPECT_EQ(ingress_.rules.size(), 1u);
}

TEST_F(pipeline_steps, a_lost_dns_answer_is_undone_by_looking_the_record_up) {
    dns_.create_error = boom("timed out");
    dns_.create_fails_after_creating = true;
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "cannot create the DNS record for app.example.com: timed out");
    EXPECT_TRUE(dns_.records.empty()) << "the record made despite the error is ours and is deleted";
    EXPECT_EQ(ingress_.removes, 0);
    EXPECT_EQ(store_->journal, (std::vector<std::string>{"rolled_back {}"}));
    EXPECT_EQ(observer_.failed, (std::vector<std::string>{"create:dns_created"}));
    EXPECT_EQ(progress_, (std::vector<std::string>{"validated 1/5"}));
    EXPECT_STREQ(last_audit()["result"].GetString(), "error");
    EXPECT_EQ(audit_detail("failed_step"), "dns");
}

// The DNS plugin's own request budget refuses the lookup before any record is asked for: the run
// rolls back at once, without a second lookup that the same budget would refuse, leaving the
// operation unfinished.
TEST_F(pipeline_steps, a_lookup_refused_before_any_create_rolls_back_without_asking_again) {
    dns_.find_error = error{errc::retry, "tunnelmgr's own budget of 1000 Cloudflare requests per 5 minutes is used up"};
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::retry);
    EXPECT_EQ(dns_.finds.load(), 1) << "no lookup in the undo: nothing was asked for";
    EXPECT_EQ(store_->journal, (std::vector<std::string>{"rolled_back {}"}));
    EXPECT_EQ(unfinished(), 0u);
    EXPECT_TRUE(dns_.records.empty());
}

TEST_F(pipeline_steps, someone_elses_record_is_refused_and_left_alone) {
    dns_.records["app.example.com"] = R"({"id":"x9","content":"elsewhere.example.net","comment":""})";
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::conflict);
    EXPECT_NE(r.error().message.find("already exists and tunnelmgr does not own it"), std::string::npos);
    EXPECT_EQ(dns_.records.count("app.example.com"), 1u);
    EXPECT_EQ(store_->journal, (std::vector<std::string>{"rolled_back {}"}));
}

TEST_F(pipeline_steps, a_failed_ingress_add_deletes_the_record_and_touches_no_ingress) {
    ingress_.add_error = boom("config.yml is read-only");
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "config.yml is read-only");
    EXPECT_TRUE(dns_.records.empty());
    EXPECT_EQ(ingress_.removes, 0) << "the add changed nothing, so there is nothing to remove";
    EXPECT_EQ(ingress_.applies, 0);
    EXPECT_EQ(store_->journal.back(), "rolled_back {}");
    EXPECT_EQ(observer_.failed, (std::vector<std::string>{"create:ingress_written"}));
    EXPECT_EQ(audit_detail("failed_step"), "ingress");
}

TEST_F(pipeline_steps, a_failed_apply_removes_the_rule_reapplies_and_deletes_the_record) {
    ingress_.apply_error = boom("cloudflared did not become ready");
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "cloudflared did not become ready");
    EXPECT_TRUE(ingress_.rules.empty());
    EXPECT_EQ(ingress_.applies, 2) << "the failed apply, then the re-apply without the rule";
    EXPECT_TRUE(dns_.records.empty());
    EXPECT_EQ(store_->journal.back(), "rolled_back {}");
    EXPECT_EQ(observer_.failed, (std::vector<std::string>{"create:applied"}));
    EXPECT_EQ(audit_detail("failed_step"), "apply");
    EXPECT_FALSE(listed("app.example.com"));
}

TEST_F(pipeline_steps, a_journal_failure_after_the_add_removes_the_rule_without_reapplying) {
    store_->fail_advance_to = "ingress_written";
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "the journal is full");
    EXPECT_TRUE(ingress_.rules.empty());
    EXPECT_EQ(ingress_.removes, 1);
    EXPECT_EQ(ingress_.applies, 0);
    EXPECT_TRUE(dns_.records.empty());
    EXPECT_EQ(audit_detail("failed_step"), "journal");
    EXPECT_EQ(observer_.failed, (std::vector<std::string>{"create:ingress_written"}));
}

TEST_F(pipeline_steps, a_failed_commit_undoes_everything) {
    store_->fail_commit = true;
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "the disk is full");
    EXPECT_TRUE(ingress_.rules.empty());
    EXPECT_EQ(ingress_.applies, 2);
    EXPECT_TRUE(dns_.records.empty());
    EXPECT_EQ(store_->journal.back(), "rolled_back {}");
    EXPECT_EQ(audit_detail("failed_step"), "commit");
    EXPECT_EQ(observer_.failed, (std::vector<std::string>{"create:committed"}));
}

TEST_F(pipeline_steps, a_failed_undo_is_said_and_recovery_finishes_it) {
    ingress_.apply_error = boom("not ready");
    dns_.delete_error = boom("API down");
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "not ready (and undoing the earlier steps failed: API down; tunnelmgr retries at its "
                                 "next start)");
    EXPECT_EQ(store_->journal.back(), R"(ingress_written {"ingress_changed":true})") << "not rolled_back: not undone yet";
    EXPECT_EQ(unfinished(), 1u);
    dns_.delete_error.reset();
    ingress_.apply_error.reset();
    auto settled = pipeline_->recover();
    ASSERT_TRUE(settled);
    EXPECT_EQ(*settled, 1);
    EXPECT_TRUE(dns_.records.empty());
    EXPECT_EQ(unfinished(), 0u);
    EXPECT_STREQ(last_audit()["action"].GetString(), "cname.recover");
    EXPECT_EQ(audit_detail("from_state"), "ingress_written");
    EXPECT_EQ(audit_detail("to_state"), "rolled_back");
}

TEST_F(pipeline_steps, recovery_commits_a_create_that_was_applied_and_keeps_it_open_while_committing_fails) {
    store_->fail_commit = true;
    // Leave an operation at `applied` as a crash would: commit fails, and so does the undo's journal write.
    store_->fail_advance_to = "rolled_back";
    ASSERT_FALSE(create());
    EXPECT_EQ(unfinished(), 1u);
    // The undo did run outside; put the rule and record back the way a crash right after `applied` leaves them.
    ingress_.rules["app.example.com"] = "http://localhost:3100";
    dns_.records["app.example.com"] =
        R"({"id":"r1","name":"app.example.com","content":"tunnel-1.cfargotunnel.com","comment":"tunnelmgr:alpha"})";
    store_->fail_advance_to.clear();
    store_->journal.clear();
    auto settled = pipeline_->recover();
    ASSERT_TRUE(settled);
    EXPECT_EQ(*settled, 0) << "committing still fails: left for the next start, not undone";
    EXPECT_EQ(store_->journal, (std::vector<std::string>{created_row}));
    store_->fail_commit = false;
    settled = pipeline_->recover();
    ASSERT_TRUE(settled);
    EXPECT_EQ(*settled, 1);
    EXPECT_EQ(audit_detail("from_state"), "applied");
    EXPECT_EQ(audit_detail("to_state"), "committed");
    EXPECT_TRUE(listed("app.example.com"));
}

// A recovery pass (the daemon's, or another process starting) reads the journal while a change is
// in flight; the change then finishes and its owner lets go of it before the pass looks at it. What
// the pass read is stale: settling it would undo a name its caller was told is live.
TEST_F(pipeline_steps, recovery_leaves_alone_a_change_that_finished_after_the_journal_was_read) {
    std::promise<void> mid, go;
    auto go_now = go.get_future().share();
    std::atomic<bool> paused{false};
    store_->after_advance = [&](std::string_view state) {
        if (state == "ingress_written" && !paused.exchange(true)) {
            mid.set_value();
            go_now.wait();
        }
    };
    result<std::string> created = core::fail(errc::error, "not run");
    std::thread change([&] { created = create(); });
    mid.get_future().wait();
    EXPECT_EQ(unfinished(), 1u) << "the change is journaled at ingress_written";
    store_->after_list = [&] {  // the pass has read the journal: let the change finish first
        go.set_value();
        change.join();
    };
    auto settled = pipeline_->recover();
    if (change.joinable()) {
        go.set_value();
        change.join();
    }
    ASSERT_TRUE(settled) << settled.error().message;
    EXPECT_EQ(*settled, 0) << "nothing was left to settle";
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_TRUE(listed("app.example.com"));
    EXPECT_EQ(dns_.records.count("app.example.com"), 1u) << "the record stays";
    EXPECT_EQ(ingress_.rules.count("app.example.com"), 1u) << "the rule stays";
    EXPECT_EQ(unfinished(), 0u);
    EXPECT_NE(last_audit()["action"].GetString(), std::string("cname.recover"));
}

// Two recovery passes never settle one operation: another process that holds the recovery lease is
// settling them, and this pass leaves them alone until it lets go.
TEST_F(pipeline_steps, recovery_leaves_operations_to_the_process_holding_the_recovery_lease) {
    ingress_.apply_error = boom("not ready");
    dns_.delete_error = boom("API down");
    ASSERT_FALSE(create());
    ASSERT_EQ(unfinished(), 1u);
    dns_.delete_error.reset();
    ingress_.apply_error.reset();
    ASSERT_TRUE(*store_->lease_acquire("recovery", "4242:another-process", 60000));
    auto settled = pipeline_->recover();
    ASSERT_TRUE(settled) << settled.error().message;
    EXPECT_EQ(*settled, 0);
    EXPECT_EQ(unfinished(), 1u) << "left to the lease's holder";
    EXPECT_EQ(dns_.records.count("app.example.com"), 1u) << "nothing undone";
    ASSERT_TRUE(store_->lease_release("recovery", "4242:another-process"));
    settled = pipeline_->recover();
    ASSERT_TRUE(settled) << settled.error().message;
    EXPECT_EQ(*settled, 1);
    EXPECT_EQ(unfinished(), 0u);
    EXPECT_TRUE(dns_.records.empty());
    EXPECT_TRUE(*store_->lease_acquire("recovery", "4242:another-process", 60000)) << "the pass let go of the lease";
}

// The store went away between `applied` and the commit: the journal could not record an undo, and
// the commit may even have been saved. The live change stays, and recovery records it.
TEST_F(pipeline_steps, a_commit_the_store_cannot_take_now_keeps_the_live_change_for_recovery_to_record) {
    store_->fail_commit = true;
    store_->commit_code = errc::retry;
    auto r = create();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::retry);
    EXPECT_NE(r.error().message.find("app.example.com is live"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("records it at its next start"), std::string::npos) << r.error().message;
    EXPECT_EQ(ingress_.rules.count("app.example.com"), 1u) << "the rule stays";
    EXPECT_EQ(dns_.records.count("app.example.com"), 1u) << "the record stays";
    EXPECT_EQ(store_->journal.back().rfind("commit ", 0), 0u) << "no rolled_back after the failed commit";
    EXPECT_EQ(unfinished(), 1u);
    store_->fail_commit = false;
    auto settled = pipeline_->recover();
    ASSERT_TRUE(settled);
    EXPECT_EQ(*settled, 1);
    EXPECT_EQ(audit_detail("to_state"), "committed");
    EXPECT_TRUE(listed("app.example.com"));
}

// A roll back that undid the rule and the record but could not journal `rolled_back` leaves a journal
// at `applied` over a world without them: recovery must not commit a name that is not live.
TEST_F(pipeline_steps, recovery_rolls_back_an_applied_create_whose_rule_and_record_are_gone) {
    store_->fail_commit = true;
    store_->fail_advance_to = "rolled_back";
    ASSERT_FALSE(create());
    EXPECT_TRUE(ingress_.rules.empty());
    EXPECT_TRUE(dns_.records.empty());
    EXPECT_EQ(unfinished(), 1u);
    store_->fail_commit = false;
    store_->fail_advance_to.clear();
    auto settled = pipeline_->recover();
    ASSERT_TRUE(settled);
    EXPECT_EQ(*settled, 1);
    EXPECT_EQ(audit_detail("from_state"), "applied");
    EXPECT_EQ(audit_detail("to_state"), "rolled_back");
    EXPECT_FALSE(listed("app.example.com")) << "no row for a name that is not live";
    EXPECT_EQ(unfinished(), 0u);
    // Only the record gone (the rule still there): not live either, and the rule goes too.
    store_->fail_commit = true;
    store_->fail_advance_to = "rolled_back";
    ASSERT_FALSE(create());
    ingress_.rules["app.example.com"] = "http://localhost:3100";
    store_->fail_commit = false;
    store_->fail_advance_to.clear();
    settled = pipeline_->recover();
    ASSERT_TRUE(settled);
    EXPECT_EQ(*settled, 1);
    EXPECT_EQ(audit_detail("to_state"), "rolled_back");
    EXPECT_TRUE(ingress_.rules.empty());
    EXPECT_FALSE(listed("app.example.com"));
}

TEST_F(pipeline_steps, a_delete_runs_five_steps) {
    ASSERT_TRUE(create());
    observer_.done.clear();
    store_->journal.clear();
    auto r = remove();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, R"({"hostname":"app.example.com","deleted":true,"apply":"cloudflared restarted"})");
    EXPECT_EQ(progress_, (std::vector<std::string>{"validated 1/5", "ingress_removed 2/5", "applied 3/5", "dns_deleted 4/5",
                                                   "committed 5/5"}));
    EXPECT_EQ(observer_.done, (std::vector<std::string>{"delete:validated", "delete:ingress_removed", "delete:applied",
                                                        "delete:dns_deleted", "delete:committed"}));
    EXPECT_EQ(store_->journal,
              (std::vector<std::string>{R"(ingress_removed {"ingress_changed":true,"removed_service":"http://localhost:3100"})",
                                        "applied {}", "dns_deleted {}", R"(commit {"hostname":"app.example.com"})"}));
    EXPECT_STREQ(last_audit()["action"].GetString(), "cname.delete");
    EXPECT_STREQ(last_audit()["result"].GetString(), "ok");
    EXPECT_EQ(audit_detail("state"), "committed");
    EXPECT_FALSE(listed("app.example.com"));
    EXPECT_TRUE(dns_.records.empty());
}

TEST_F(pipeline_steps, a_delete_that_cannot_remove_the_rule_changes_nothing) {
    ASSERT_TRUE(create());
    store_->journal.clear();
    ingress_.remove_error = boom("config.yml is locked");
    auto r = remove();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "cannot remove the ingress rule: config.yml is locked");
    EXPECT_EQ(store_->journal, (std::vector<std::string>{"rolled_back {}"}));
    EXPECT_STREQ(last_audit()["result"].GetString(), "error");
    EXPECT_EQ(audit_detail("state"), "rolled_back");
    EXPECT_EQ(observer_.failed, (std::vector<std::string>{"delete:ingress_removed"})) << "a failed delete is counted too";
    EXPECT_TRUE(listed("app.example.com"));
    EXPECT_EQ(dns_.records.size(), 1u);
}

TEST_F(pipeline_steps, a_delete_past_the_rule_is_kept_open_and_finished_by_recovery) {
    ASSERT_TRUE(create());
    store_->journal.clear();
    ingress_.apply_error = boom("not ready");
    auto r = remove();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "not ready — the deletion of app.example.com will be finished at tunnelmgr's next start");
    EXPECT_EQ(audit_detail("state"), "ingress_removed");
    EXPECT_EQ(observer_.failed, (std::vector<std::string>{"delete:applied"}));
    EXPECT_EQ(unfinished(), 1u);
    ingress_.apply_error.reset();
    store_->journal.clear();
    auto settled = pipeline_->recover();
    ASSERT_TRUE(settled);
    EXPECT_EQ(*settled, 1);
    EXPECT_EQ(store_->journal, (std::vector<std::string>{"applied {}", "dns_deleted {}",
                                                         R"(commit {"hostname":"app.example.com"})"}));
    EXPECT_EQ(audit_detail("from_state"), "ingress_removed");
    EXPECT_EQ(audit_detail("to_state"), "committed");
    EXPECT_FALSE(listed("app.example.com"));
    EXPECT_TRUE(dns_.records.empty());
}

// --- the limits the pipeline keeps ------------------------------------------------------------------

namespace {

class pipeline_limits : public pipeline_steps {
protected:
    // A pipeline over `store` with alpha (3000-3999) and beta (4000-4999), each holding at most
    // `quota` hostnames (none: no quota), on a clock the test moves.
    std::unique_ptr<core::cname_pipeline> make(std::optional<int64_t> quota, core::state_store* store = nullptr) {
        core::pipeline_settings settings{"tunnel-1", "example.com", {{"alpha", {{3000, 3999}}}, {"beta", {{4000, 4999}}}}};
        if (quota) settings.max_hostnames = {{"alpha", *quota}, {"beta", *quota}};
        settings.project_scopes["alpha"].domains = {"example.com", "other.org"};  // the zone-list tests ask for other.org
        auto p = std::make_unique<core::cname_pipeline>(store != nullptr ? *store : *store_, &dns_, &ingress_, targets_,
                                                        settings);
        p->use_clock([this] { return now_; });
        return p;
    }
    // The dry run's verdict on SUB.DOMAIN for alpha.
    rapidjson::Document check(core::cname_pipeline& p, const std::string& sub, const std::string& domain) {
        auto r = p.check_target(alpha_, {sub, domain, "alpha", 3100});
        EXPECT_TRUE(r) << r.error().message;
        return std::move(*core::json::parse(r ? *r : "{}"));
    }

    std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    core::session beta_ = core::session::project_session("beta", "test");
};

const std::string not_a_zone_prefix = "'other.org' is not a zone of this Cloudflare account (the zone list was fetched from the account ";
const std::string not_a_zone_suffix = "; a miss fetches it again at most once a minute): use one of the zones `tunnel_list_domains` "
                                      "shows; if the zone was just added to the account, the admin may run `tunnelmgr domains --refresh`";

}  // namespace

TEST_F(pipeline_limits, a_hundred_dry_runs_on_an_unknown_domain_fetch_the_zone_list_once) {
    auto p = make(std::nullopt);
    for (int i = 0; i < 100; ++i) {
        auto v = check(*p, "app" + std::to_string(i), "other.org");
        EXPECT_FALSE(core::json::boolean(v, "available"));
        EXPECT_EQ(core::json::str(v, "code"), "invalid");
        EXPECT_EQ(core::json::str(v, "problem"),
                  not_a_zone_prefix + (i == 0 ? "just now" : "less than a second ago") + not_a_zone_suffix);
    }
    EXPECT_EQ(dns_.zone_fetches, 1);
    now_ += std::chrono::seconds(30);
    EXPECT_EQ(core::json::str(check(*p, "app", "other.org"), "problem"), not_a_zone_prefix + "30 s ago" + not_a_zone_suffix);
    // A known zone costs no fetch at all.
    EXPECT_TRUE(core::json::boolean(check(*p, "app", "example.com"), "available"));
    EXPECT_EQ(dns_.zone_fetches, 1);
    // The zone is added to the account: a miss sees it once the minute since the last fetch is over.
    dns_.zones = R"([{"zone_id":"z1","name":"example.com"},{"zone_id":"z2","name":"other.org"}])";
    now_ += std::chrono::seconds(29);
    EXPECT_FALSE(core::json::boolean(check(*p, "app", "other.org"), "available"));
    EXPECT_EQ(dns_.zone_fetches, 1);
    now_ += std::chrono::seconds(1);
    auto v = check(*p, "app", "other.org");
    EXPECT_TRUE(core::json::boolean(v, "available")) << core::json::str(v, "problem");
    EXPECT_EQ(dns_.zone_fetches, 2);
    // And a request for it is as good as the dry run said.
    auto r = p->request_cname(alpha_, {"app", "other.org", "alpha", 3100});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(dns_.zone_fetches, 2);
}

TEST_F(pipeline_limits, the_admins_refresh_is_not_limited_and_counts_as_the_last_fetch) {
    auto p = make(std::nullopt);
    ASSERT_TRUE(p->list_domains(true));
    ASSERT_TRUE(p->list_domains(true));
    EXPECT_EQ(dns_.zone_fetches, 2);
    now_ += std::chrono::seconds(5);
    EXPECT_EQ(core::json::str(check(*p, "app", "other.org"), "problem"), not_a_zone_prefix + "5 s ago" + not_a_zone_suffix);
    EXPECT_EQ(dns_.zone_fetches, 2);
}

TEST_F(pipeline_limits, a_failed_fetch_is_not_retried_within_the_minute_and_says_when_to_retry) {
    auto p = make(std::nullopt);
    dns_.list_error = error{errc::retry, "HTTP 429 from the Cloudflare API"};
    auto v = check(*p, "app", "other.org");
    EXPECT_EQ(core::json::str(v, "code"), "retry");
    EXPECT_EQ(core::json::str(v, "problem"), "cannot list the zones: HTTP 429 from the Cloudflare API");
    now_ += std::chrono::seconds(10);
    v = check(*p, "app", "other.org");
    EXPECT_EQ(core::json::str(v, "code"), "retry");
    EXPECT_EQ(core::json::str(v, "problem"),
              "cannot tell whether 'other.org' is a zone of this Cloudflare account: the last attempt to fetch the zone "
              "list, 10 s ago, failed (HTTP 429 from the Cloudflare API); retry in 50 s");
    EXPECT_EQ(dns_.zone_fetches, 1);
    dns_.list_error.reset();
    now_ += std::chrono::seconds(50);
    EXPECT_TRUE(core::json::boolean(check(*p, "app", "example.com"), "available"));
    EXPECT_EQ(dns_.zone_fetches, 2);
}

TEST_F(pipeline_limits, a_project_at_its_quota_is_refused_naming_it_and_the_count_until_it_deletes_one) {
    auto p = make(2);
    ASSERT_TRUE(p->request_cname(alpha_, {"a", "", "alpha", 3100}));
    ASSERT_TRUE(p->request_cname(alpha_, {"b", "", "alpha", 3100}));
    const std::string full = "project 'alpha' may hold at most 2 hostnames (projects.alpha.max_hostnames) and holds 2: "
                             "delete one it no longer needs (tunnel_delete_cname), or ask the operator to raise the quota";
    auto r = p->request_cname(alpha_, {"c", "", "alpha", 3100});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::conflict);
    EXPECT_EQ(r.error().message, full);
    EXPECT_STREQ(last_audit()["action"].GetString(), "cname.create");
    EXPECT_STREQ(last_audit()["result"].GetString(), "refused");
    EXPECT_EQ(core::json::str(last_audit(), "error"), full);
    EXPECT_FALSE(listed("c.example.com"));
    EXPECT_EQ(dns_.records.size(), 2u);
    // The dry run says the same; and beta's quota is its own.
    auto v = check(*p, "c", "example.com");
    EXPECT_EQ(core::json::str(v, "code"), "conflict");
    EXPECT_EQ(core::json::str(v, "problem"), full);
    EXPECT_TRUE(p->request_cname(beta_, {"d", "", "beta", 4100}));
    // An admin asking for alpha meets alpha's quota too.
    auto by_admin = p->request_cname(core::session::admin_session("test"), {"c", "", "alpha", 3100});
    ASSERT_FALSE(by_admin);
    EXPECT_EQ(by_admin.error().message, full);
    // Deleting one makes room for one.
    ASSERT_TRUE(p->delete_cname(alpha_, "a.example.com"));
    EXPECT_TRUE(p->request_cname(alpha_, {"c", "", "alpha", 3100}));
    EXPECT_FALSE(p->request_cname(alpha_, {"e", "", "alpha", 3100}));
}

TEST_F(pipeline_limits, a_quota_of_zero_allows_no_hostname) {
    auto p = make(0);
    auto r = p->request_cname(alpha_, {"a", "", "alpha", 3100});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::conflict);
    EXPECT_EQ(r.error().message, "project 'alpha' may publish no hostnames (projects.alpha.max_hostnames is 0): ask the "
                                 "operator to raise it");
    EXPECT_TRUE(dns_.records.empty());
}

TEST_F(pipeline_limits, the_quota_holds_when_twelve_requests_arrive_at_once) {
    // The real store, shared by the threads (the recording wrapper is single-threaded).
    auto p = make(3, real_.get());
    ASSERT_TRUE(p->list_domains(true));
    ingress_.apply_takes = std::chrono::milliseconds(20);
    for (int round = 0; round < 5; ++round) {
        std::atomic<int> ok{0}, over_quota{0};
        std::mutex m;
        std::vector<std::string> other;
        std::vector<std::thread> threads;
        for (int i = 0; i < 12; ++i) {
            threads.emplace_back([&, i] {
                auto r = p->request_cname(alpha_, {"r" + std::to_string(round) + "-" + std::to_string(i), "", "alpha", 3100});
                if (r) {
                    ++ok;
                } else if (r.error().code == errc::conflict && r.error().message.find("may hold at most 3 hostnames") !=
                                                                    std::string::npos) {
                    ++over_quota;
                } else {
                    std::lock_guard<std::mutex> lock(m);
                    other.push_back(r.error().message);
                }
            });
        }
        for (auto& t : threads) t.join();
        EXPECT_EQ(ok, 3) << "round " << round;
        EXPECT_EQ(over_quota, 9) << "round " << round;
        EXPECT_TRUE(other.empty()) << other.front();
        EXPECT_EQ(*real_->cname_count(R"({"project":"alpha"})"), 3);
        EXPECT_EQ(dns_.records.size(), 3u);
        EXPECT_EQ(ingress_.rules.size(), 3u);
        EXPECT_EQ(unfinished(), 0u);
        // Empty the project for the next round.
        auto rows = sdk::model::decode_cname_rows(*real_->cname_list(R"({"project":"alpha"})"));
        ASSERT_TRUE(rows);
        for (const auto& row : *rows) ASSERT_TRUE(p->delete_cname(alpha_, row.hostname));
    }
}

// --- the project's scope: its zones, its name rule, the reserved labels --------------------------------

namespace {

// beta may use ports 4000-4099 in example.com only; alpha names no domains (the default domain
// only); shop may use both zones with names starting "shop-"; www and login are reserved.
class pipeline_scope : public pipeline_limits {
protected:
    void SetUp() override {
        pipeline_limits::SetUp();
        dns_.zones = R"([{"zone_id":"z1","name":"example.com"},{"zone_id":"z2","name":"example.org"}])";
        core::pipeline_settings settings{"tunnel-1", "example.com",
                                         {{"alpha", {{3000, 3999}}}, {"beta", {{4000, 4099}}}, {"shop", {{5000, 5099}}},
                                          {"any", {{6000, 6099}}}, {"tail", {{7000, 7099}}}}};
        settings.project_scopes["beta"].domains = {"example.com"};
        settings.project_scopes["shop"] = {{"example.com", "Example.ORG."}, "shop-", ""};
        settings.project_scopes["any"].domains = {"*"};
        settings.project_scopes["tail"] = {{}, "", "-tail"};
        settings.reserved_labels = {"www", "login"};
        p_ = std::make_unique<core::cname_pipeline>(*store_, &dns_, &ingress_, targets_, settings);
    }
    // Refused with exactly `message`, audited as denied, and nothing made; the dry run says the same.
    void expect_denied(const core::session& who, const core::cname_request& req, const std::string& message) {
        auto dry = p_->check_target(who, req);
        ASSERT_TRUE(dry) << dry.error().message;
        auto v = core::json::parse(*dry);
        EXPECT_FALSE(core::json::boolean(*v, "available")) << req.subdomain;
        EXPECT_EQ(core::json::str(*v, "code"), "denied") << req.subdomain;
        EXPECT_EQ(core::json::str(*v, "problem"), message);
        auto r = p_->request_cname(who, req);
        ASSERT_FALSE(r) << req.subdomain << "." << req.domain << " was published";
        EXPECT_EQ(r.error().code, errc::denied);
        EXPECT_EQ(r.error().message, message);
        EXPECT_STREQ(last_audit()["result"].GetString(), "denied");
        EXPECT_EQ(core::json::str(last_audit(), "error"), message);
        EXPECT_TRUE(dns_.records.empty());
        EXPECT_TRUE(ingress_.rules.empty());
    }
    core::session project(const std::string& name) { return core::session::project_session(name, "test"); }
    std::unique_ptr<core::cname_pipeline> p_;
};

}  // namespace

TEST_F(pipeline_scope, a_project_limited_to_ports_4000_4099_cannot_publish_in_a_zone_it_was_not_given) {
    // The issue's case: the port is the project's own, the zone is not.
    expect_denied(project("beta"), {"bx", "example.org", "beta", 4000},
                  "project 'beta' may publish only in example.com (projects.beta.domains); asked for example.org: use "
                  "that zone, or ask the operator to add example.org to projects.beta.domains");
    // The port check still applies in its own zone.
    auto port = p_->request_cname(project("beta"), {"bx", "example.com", "beta", 5000});
    ASSERT_FALSE(port);
    EXPECT_EQ(port.error().message, "port 5000 is not among the ports of project 'beta' (4000-4099): publish a port in that range");
    EXPECT_TRUE(dns_.records.empty());
    // Both rules pass: published.
    auto ok = p_->request_cname(project("beta"), {"bx", "Example.COM", "beta", 4000});
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(core::json::str(*core::json::parse(*ok), "hostname"), "bx.example.com");
}

TEST_F(pipeline_scope, a_project_without_domains_has_the_default_domain_only_whoever_asks) {
    const std::string only_default =
        "project 'alpha' may publish only in example.com (projects.alpha.domains is not set: tunnel.default_domain "
        "only); asked for example.org: use that zone, or ask the operator to add example.org to projects.alpha.domains";
    expect_denied(alpha_, {"app", "example.org", "alpha", 3100}, only_default);
    // The admin publishing for alpha keeps to alpha's zones too.
    expect_denied(core::session::admin_session("test"), {"app", "example.org", "alpha", 3100}, only_default);
    EXPECT_TRUE(p_->request_cname(alpha_, {"app", "", "alpha", 3100}));
}

TEST_F(pipeline_scope, a_star_allows_every_zone_of_the_account_and_a_list_each_of_its_zones) {
    EXPECT_TRUE(p_->request_cname(project("any"), {"a", "example.org", "any", 6000}));
    EXPECT_TRUE(p_->request_cname(project("any"), {"a", "example.com", "any", 6000}));
    EXPECT_TRUE(p_->request_cname(project("shop"), {"shop-a", "example.org", "shop", 5000}));
    EXPECT_TRUE(p_->request_cname(project("shop"), {"shop-a", "example.com", "shop", 5000}));
    EXPECT_EQ(dns_.records.size(), 4u);
}

TEST_F(pipeline_scope, a_name_rule_refuses_other_labels_and_suggests_one_that_fits) {
    expect_denied(project("shop"), {"app", "example.com", "shop", 5000},
                  "project 'shop' may publish only names that start with 'shop-' (projects.shop.names.prefix); asked "
                  "for 'app': pick a subdomain that does, e.g. 'shop-app'");
    expect_denied(project("tail"), {"app", "", "tail", 7000},
                  "project 'tail' may publish only names that end with '-tail' (projects.tail.names.suffix); asked for "
                  "'app': pick a subdomain that does, e.g. 'app-tail'");
    // The admin acting for shop meets shop's rule too.
    auto by_admin = p_->request_cname(core::session::admin_session("test"), {"app", "example.com", "shop", 5000});
    ASSERT_FALSE(by_admin);
    EXPECT_EQ(by_admin.error().code, errc::denied);
    EXPECT_TRUE(p_->request_cname(project("shop"), {"Shop-App", "example.com", "shop", 5000}));
    EXPECT_TRUE(p_->request_cname(project("tail"), {"app-tail", "", "tail", 7000}));
}

TEST_F(pipeline_scope, a_reserved_label_is_the_admins_alone) {
    const std::string reserved = "'www' is a reserved name (reserved_labels): only the admin may publish it; pick "
                                 "another subdomain, or ask the operator";
    expect_denied(alpha_, {"WWW", "", "alpha", 3100}, reserved);
    expect_denied(project("any"), {"www", "example.org", "any", 6000}, reserved);
    // A project with a name rule hears of its rule first.
    expect_denied(project("shop"), {"login", "example.com", "shop", 5000},
                  "project 'shop' may publish only names that start with 'shop-' (projects.shop.names.prefix); asked "
                  "for 'login': pick a subdomain that does, e.g. 'shop-login'");
    auto by_admin = p_->request_cname(core::session::admin_session("test"), {"www", "", "alpha", 3100});
    ASSERT_TRUE(by_admin) << by_admin.error().message;
    EXPECT_EQ(core::json::str(*core::json::parse(*by_admin), "hostname"), "www.example.com");
}

TEST_F(pipeline_steps, a_retarget_runs_four_steps_and_keeps_the_record_and_the_expiry) {
    core::cname_request req{"app", "", "alpha", 3100};
    req.ttl = std::chrono::hours(2);
    req.origin.connect_timeout_s = 10;
    ASSERT_TRUE(pipeline_->request_cname(alpha_, req));
    const auto before = *store_->cname_get("app.example.com");
    ASSERT_TRUE(before.expires_at);
    EXPECT_EQ(ingress_.origins["app.example.com"], R"({"connectTimeout":10})");
    store_->journal.clear();
    progress_.clear();
    core::retarget_request move{"App.Example.com", 3200, "", std::nullopt};
    auto r = pipeline_->retarget_cname(alpha_, move, record_progress());
    ASSERT_TRUE(r) << r.error().message;
    auto out = *core::json::parse(*r);
    EXPECT_TRUE(out["changed"].GetBool());
    EXPECT_STREQ(out["previous_target"].GetString(), "http://localhost:3100");
    EXPECT_EQ(progress_, (std::vector<std::string>{"validated 1/4", "ingress_written 2/4", "applied 3/4", "committed 4/4"}));
    EXPECT_EQ(store_->journal.front(),
              R"(ingress_written {"previous_service":"http://localhost:3100","previous_origin_request":"{\"connectTimeout\":10}"})");
    EXPECT_EQ(ingress_.rules["app.example.com"], "http://localhost:3200");
    EXPECT_EQ(ingress_.origins["app.example.com"], R"({"connectTimeout":10})") << "the settings are kept";
    const auto after = *store_->cname_get("app.example.com");
    EXPECT_EQ(after.port, 3200);
    EXPECT_EQ(after.id, before.id);
    EXPECT_EQ(after.dns_record_id, before.dns_record_id);
    EXPECT_EQ(after.expires_at, before.expires_at);
    EXPECT_EQ(after.origin_request, before.origin_request);
    EXPECT_EQ(dns_.records.size(), 1u);
    EXPECT_STREQ(last_audit()["action"].GetString(), "cname.retarget");
    EXPECT_EQ(audit_detail("from"), "http://localhost:3100");
    EXPECT_EQ(audit_detail("to"), "http://localhost:3200");
    EXPECT_EQ(unfinished(), 0u);
}

TEST_F(pipeline_steps, a_retarget_whose_apply_fails_puts_the_old_service_back_and_applies_it) {
    ASSERT_TRUE(create());
    ingress_.apply_error = boom("cloudflared did not become ready");
    const int applies = ingress_.applies;
    auto r = pipeline_->retarget_cname(alpha_, {"app.example.com", 3200, "", std::nullopt});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("app.example.com still goes to http://localhost:3100"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(ingress_.rules["app.example.com"], "http://localhost:3100");
    EXPECT_EQ(ingress_.applies, applies + 2) << "the failed apply, then the re-apply of the old rule";
    EXPECT_EQ(store_->cname_get("app.example.com")->port, 3100);
    EXPECT_EQ(store_->journal.back(), "rolled_back {}");
    EXPECT_STREQ(last_audit()["result"].GetString(), "error");
    EXPECT_EQ(audit_detail("failed_step"), "apply");
    EXPECT_EQ(unfinished(), 0u);
}

TEST_F(pipeline_steps, expired_names_are_removed_and_the_others_stay) {
    core::cname_request brief{"brief", "", "alpha", 3100};
    brief.ttl = std::chrono::minutes(1);
    ASSERT_TRUE(pipeline_->request_cname(alpha_, brief));
    ASSERT_TRUE(create("stays"));
    const int64_t expires = *store_->cname_get("brief.example.com")->expires_at;
    auto early = pipeline_->remove_expired(expires - 1);
    ASSERT_TRUE(early);
    EXPECT_EQ(*early, 0);
    auto due = pipeline_->remove_expired(expires);
    ASSERT_TRUE(due) << due.error().message;
    EXPECT_EQ(*due, 1);
    EXPECT_FALSE(listed("brief.example.com"));
    EXPECT_TRUE(listed("stays.example.com"));
    EXPECT_EQ(dns_.records.count("brief.example.com"), 0u);
    EXPECT_STREQ(last_audit()["action"].GetString(), "cname.delete");
    EXPECT_EQ(audit_detail("reason"), "expired");
    EXPECT_EQ(audit_detail("origin"), "expiry");
}

// A state shared by several machines: a name machine "b" serves is b's to change. A project that
// runs on this machine ("a") alone is refused; one that spans both hands the removal to b (the row
// is marked to expire now), and only b's expiry pass removes it, with b's DNS and ingress calls.
TEST_F(pipeline_steps, another_machines_name_is_refused_or_handed_to_that_machine) {
    ASSERT_TRUE(create("far"));
    store_->machines["far.example.com"] = "b";
    const int applies = ingress_.applies;
    core::pipeline_settings a{"tunnel-1", "example.com", {{"alpha", {{3000, 3999}}}}};
    a.machine = "a";
    core::cname_pipeline on_a(*store_, &dns_, &ingress_, targets_, a);

    auto refused = on_a.delete_cname(alpha_, "far.example.com");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, errc::denied);
    EXPECT_NE(refused.error().message.find("served by machine 'b'"), std::string::npos) << refused.error().message;
    EXPECT_NE(refused.error().message.find("projects.alpha.machines"), std::string::npos);
    EXPECT_FALSE(store_->cname_get("far.example.com")->expires_at) << "a refusal changes nothing";
    auto moved = on_a.retarget_cname(alpha_, {"far.example.com", 3200, "", std::nullopt});
    ASSERT_FALSE(moved);
    EXPECT_NE(moved.error().message.find("retarget it there"), std::string::npos) << moved.error().message;

    a.project_machines["alpha"] = {"a", "b"};
    core::cname_pipeline spanning(*store_, &dns_, &ingress_, targets_, a);
    auto handed = spanning.delete_cname(alpha_, "far.example.com");
    ASSERT_TRUE(handed) << handed.error().message;
    auto out = *core::json::parse(*handed);
    EXPECT_FALSE(out["deleted"].GetBool());
    EXPECT_STREQ(out["handed_to"].GetString(), "b");
    const auto marked = *store_->cname_get("far.example.com");
    ASSERT_TRUE(marked.expires_at);
    EXPECT_EQ(marked.dns_record_id, std::optional<std::string>("r1")) << "the rest of the row is kept";
    EXPECT_EQ(dns_.records.count("far.example.com"), 1u) << "machine a touches neither DNS nor b's ingress";
    EXPECT_EQ(ingress_.applies, applies);
    EXPECT_EQ(audit_detail("handed_to"), "b");
    EXPECT_EQ(unfinished(), 0u);

    auto on_a_pass = spanning.remove_expired(*marked.expires_at + 1);
    ASSERT_TRUE(on_a_pass);
    EXPECT_EQ(*on_a_pass, 0) << "a's expiry pass leaves b's name to b";
    core::pipeline_settings b = a;
    b.machine = "b";
    core::cname_pipeline on_b(*store_, &dns_, &ingress_, targets_, b);
    auto on_b_pass = on_b.remove_expired(*marked.expires_at + 1);
    ASSERT_TRUE(on_b_pass) << on_b_pass.error().message;
    EXPECT_EQ(*on_b_pass, 1);
    EXPECT_FALSE(listed("far.example.com"));
    EXPECT_EQ(dns_.records.count("far.example.com"), 0u);
    EXPECT_EQ(ingress_.rules.count("far.example.com"), 0u);
}

// Drift repair against a change under way: reconcile compared while nothing was in flight and found the
// rule of app.example.com missing; before it repairs, a removal of that name begins (it has taken the
// rule out and not yet the row). Putting the rule back would outlive the removal as a rule nobody owns.
TEST_F(pipeline_steps, a_repair_leaves_alone_a_name_whose_removal_began_after_the_comparison) {
    ASSERT_TRUE(create());
    ingress_.rules.erase("app.example.com");
    core::reconcile_settings settings;
    settings.tunnel_id = "tunnel-1";
    settings.projects = {"alpha"};
    settings.policy = core::repair_policy::repair;
    core::reconciler rec(*store_, &dns_, &ingress_, settings);
    int64_t removal = 0;
    store_->after_list = [&] {  // detect() has read the journal: the removal begins now
        auto id = store_->operation_begin(
            R"({"kind":"delete","hostname":"app.example.com","project":"alpha","request":{}})");
        ASSERT_TRUE(id) << id.error().message;
        removal = *id;
    };
    auto report = rec.run(core::session::admin_session("test"), false);
    ASSERT_TRUE(report) << report.error().message;
    ASSERT_NE(removal, 0) << "the removal began during the run";
    bool found = false;
    for (const auto& f : report->findings) {
        if (f.kind == core::drift_class::rule_missing && f.hostname == "app.example.com") {
            found = true;
            EXPECT_EQ(f.action, "report") << "not repaired";
        }
    }
    EXPECT_TRUE(found) << "the comparison saw the rule missing";
    EXPECT_EQ(ingress_.rules.count("app.example.com"), 0u) << "the rule was not put back under the removal";
    bool said = false;
    for (const auto& n : report->notes) said = said || n.find("app.example.com began changing") != std::string::npos;
    EXPECT_TRUE(said);
}
