// The tunnel_supervisor_v1 conformance suite: only what holds without a live cloudflared (the shape
// of status() and of each replica's status, the rc/last_error contract, indexes out of range).
// restart() is never called: it would restart a real tunnel; replica_restart() only with
// --allow-restart, when the config points at a cloudflared that may be restarted.
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "plugin_check/broken_rules.hpp"
#include "plugin_check/check_context.hpp"
#include "plugin_check/plugin_call.hpp"

namespace tunnelmgr::plugin_check {
namespace {

class tunnel_supervisor_v1 : public ::testing::Test {
protected:
    void SetUp() override {
        if (!context().library || !context().library->has_supervisor) GTEST_SKIP() << "the plugin provides no tunnel_supervisor_v1";
        const std::string config = expand_config(context().config_template, scratch_.path());
        auto inst = start_instance(config);
        ASSERT_TRUE(inst.has_value()) << (inst ? "" : inst.error()) << "\n  config: " << config
                                      << rule("init must accept the supervisor's config and return an instance (pass "
                                              "the config your supervisor needs with --config)");
        inst_ = std::move(*inst);
    }

    outcome status() {
        const auto& t = inst_->library().supervisor;
        return call_plugin(*inst_, [&](const char** out) { return t.status(inst_->handle(), out); });
    }

    bool has_replicas() const { return inst_->library().supervisor.replica_count != nullptr; }
    outcome replica_count() {
        const auto& t = inst_->library().supervisor;
        return call_plugin(*inst_, [&](int32_t* out) { return t.replica_count(inst_->handle(), out); });
    }
    outcome replica_status(int32_t index) {
        const auto& t = inst_->library().supervisor;
        return call_plugin(*inst_, [&](const char** out) { return t.replica_status(inst_->handle(), index, out); });
    }
    outcome replica_restart(int32_t index) {
        const auto& t = inst_->library().supervisor;
        return call_plugin(*inst_, [&]() { return t.replica_restart(inst_->handle(), index); });
    }
    // The replica count, or a skip/failure when there is none to work with.
    int32_t count_or_skip() {
        auto n = replica_count();
        EXPECT_TRUE(n.ok()) << "replica_count() " << n.describe()
                            << rule("replica_count must succeed: the number of replicas is fixed by the config");
        EXPECT_GE(n.number, 1) << rule("replica_count must be at least 1");
        return n.ok() && n.number >= 1 ? static_cast<int32_t>(n.number) : 0;
    }

    scratch_dir scratch_;
    std::unique_ptr<host::plugin_instance> inst_;
};

// status()'s shape, for status() and each replica_status(): `call` names the function in messages.
void expect_status_shape(const std::string& call, const std::string& json) {
    auto d = parse_json(json);
    ASSERT_TRUE(d.IsObject()) << call << " replied " << json << rule("status must return a JSON object");
    auto running = d.FindMember("running");
    EXPECT_TRUE(running != d.MemberEnd() && running->value.IsBool())
        << call << " replied " << json << rule("status must return {\"running\": true|false}");
    auto typed = [&](const char* key, bool (*ok)(const rapidjson::Value&), const char* what) {
        auto it = d.FindMember(key);
        if (it == d.MemberEnd()) return;
        EXPECT_TRUE(ok(it->value)) << call << " replied " << json
                                   << rule(std::string("status's \"") + key + "\" must be " + what);
    };
    typed("pid", [](const rapidjson::Value& v) { return v.IsNull() || v.IsInt64(); }, "an integer or null");
    typed("state", [](const rapidjson::Value& v) { return v.IsString(); }, "a string");
    typed("since_ms", [](const rapidjson::Value& v) { return v.IsNull() || v.IsInt64(); }, "an integer (Unix ms) or null");
    typed("detail", [](const rapidjson::Value& v) { return v.IsString(); }, "a string");
}

TEST_F(tunnel_supervisor_v1, status_is_an_object_with_a_boolean_running) {
    auto st = status();
    if (!st.ok()) {
        GTEST_SKIP() << "status() " << st.describe()
                     << ": it needs a live system (a cloudflared unit or container) to answer; its shape is not checked";
    }
    expect_status_shape("status()", st.json);
}

TEST_F(tunnel_supervisor_v1, a_failing_status_leaves_a_last_error) {
    auto st = status();
    if (st.ok()) {
        GTEST_SKIP() << "status() succeeded here, so there is no failing call to check without disturbing a live "
                        "tunnel (restart() is never called)";
    }
    EXPECT_FALSE(st.last_error.empty()) << "status() " << st.describe()
                                        << rule("every call that does not return TM_OK must leave a sentence in last_error()");
}

TEST_F(tunnel_supervisor_v1, restart_and_watch_need_a_live_tunnel) {
    GTEST_SKIP() << "restart() and watch_start()/watch_stop() act on a real cloudflared: not checked here "
                    "(the integration tests run them against the cloudflared stub; replica_restart() is checked "
                    "with --allow-restart)";
}

// --- replicas (optional, since 1.2) ---------------------------------------------------------------

TEST_F(tunnel_supervisor_v1, replica_count_is_at_least_one) {
    if (!has_replicas()) GTEST_SKIP() << "the plugin has no replica functions (optional, since plugin API 1.2)";
    count_or_skip();
}

TEST_F(tunnel_supervisor_v1, each_replica_answers_status_with_its_name) {
    if (!has_replicas()) GTEST_SKIP() << "the plugin has no replica functions (optional, since plugin API 1.2)";
    const int32_t n = count_or_skip();
    if (n == 0) return;
    int answered = 0;
    std::set<std::string> names;
    for (int32_t i = 0; i < n; ++i) {
        const std::string call = "replica_status(" + std::to_string(i) + ")";
        auto st = replica_status(i);
        if (!st.ok()) {
            EXPECT_NE(st.rc, TM_INVALID) << call << " " << st.describe()
                                         << rule("replica_status must answer for every index below replica_count");
            EXPECT_FALSE(st.last_error.empty()) << call << " " << st.describe()
                                                << rule("every call that does not return TM_OK must leave a sentence in last_error()");
            continue;
        }
        ++answered;
        expect_status_shape(call, st.json);
        auto d = parse_json(st.json);
        if (!d.IsObject()) continue;
        auto name = d.FindMember("name");
        const bool named = name != d.MemberEnd() && name->value.IsString() && name->value.GetStringLength() > 0;
        EXPECT_TRUE(named) << call << " replied " << st.json
                           << rule("replica_status must name the replica: \"name\", its unit or container");
        if (named) {
            EXPECT_TRUE(names.insert(name->value.GetString()).second)
                << call << " replied " << st.json << rule("each replica must have a name of its own");
        }
        auto metrics = d.FindMember("metrics");
        EXPECT_TRUE(metrics != d.MemberEnd() && metrics->value.IsString())
            << call << " replied " << st.json
            << rule("replica_status must give \"metrics\": the replica's HOST:PORT, or \"\" when its config gives none");
    }
    if (answered == 0) {
        GTEST_SKIP() << "no replica_status() answered: they need a live system (cloudflared units or containers); "
                        "their shape is not checked";
    }
}

TEST_F(tunnel_supervisor_v1, a_replica_out_of_range_is_invalid) {
    if (!has_replicas()) GTEST_SKIP() << "the plugin has no replica functions (optional, since plugin API 1.2)";
    const int32_t n = count_or_skip();
    if (n == 0) return;
    for (int32_t bad : {n, n + 1, -1}) {
        auto st = replica_status(bad);
        EXPECT_EQ(st.rc, TM_INVALID) << "replica_status(" << bad << ") with " << n << " replicas " << st.describe()
                                     << rule("replica_status of an index outside 0..replica_count-1 must return TM_INVALID");
        if (!st.ok()) {
            EXPECT_FALSE(st.last_error.empty()) << rule("every call that does not return TM_OK must leave a sentence in last_error()");
        }
        if (!context().allow_restart) continue;  // a plugin that broke this rule would restart something
        auto rs = replica_restart(bad);
        EXPECT_EQ(rs.rc, TM_INVALID) << "replica_restart(" << bad << ") with " << n << " replicas " << rs.describe()
                                     << rule("replica_restart of an index outside 0..replica_count-1 must return TM_INVALID");
    }
}

TEST_F(tunnel_supervisor_v1, replica_restart_restarts_that_replica_only) {
    if (!has_replicas()) GTEST_SKIP() << "the plugin has no replica functions (optional, since plugin API 1.2)";
    if (!context().allow_restart) {
        GTEST_SKIP() << "replica_restart() restarts a cloudflared: checked only with --allow-restart, when the config "
                        "points at one that may be restarted";
    }
    const int32_t n = count_or_skip();
    if (n == 0) return;
    // Each replica's pid, or nullopt when it cannot be told (not running, not answering).
    auto pids = [&] {
        std::vector<std::optional<int64_t>> out;
        for (int32_t i = 0; i < n; ++i) {
            auto st = replica_status(i);
            auto d = parse_json(st.ok() ? st.json : "null");
            std::optional<int64_t> pid;
            if (d.IsObject() && d.HasMember("pid") && d["pid"].IsInt64()) pid = d["pid"].GetInt64();
            out.push_back(pid);
        }
        return out;
    };
    for (int32_t i = 0; i < n; ++i) {
        const auto before = pids();
        for (int32_t j = 0; j < n; ++j) {
            if (!before[j]) {
                GTEST_SKIP() << "replica " << j << " reports no pid, so a restart cannot be told from here; start every "
                             << "replica before checking";
            }
        }
        auto rc = replica_restart(i);
        ASSERT_TRUE(rc.ok()) << "replica_restart(" << i << ") " << rc.describe()
                             << rule("replica_restart must restart a replica that exists");
        std::vector<std::optional<int64_t>> after;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            after = pids();
        } while ((!after[i] || after[i] == before[i]) && std::chrono::steady_clock::now() < until);
        EXPECT_TRUE(after[i] && after[i] != before[i])
            << "replica " << i << " still has pid " << (before[i] ? std::to_string(*before[i]) : "?") << " 60 s after replica_restart("
            << i << ")" << rule("replica_restart(i) must give replica i a new process");
        for (int32_t j = 0; j < n; ++j) {
            if (j == i) continue;
            EXPECT_EQ(after[j], before[j]) << "replica " << j << "'s pid changed after replica_restart(" << i << ")"
                                           << rule("replica_restart(i) must leave the other replicas running as they were");
        }
    }
}

}  // namespace
}  // namespace tunnelmgr::plugin_check
