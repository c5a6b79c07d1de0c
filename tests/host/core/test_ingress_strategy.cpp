// The local strategy's apply(): after a restart it counts /ready only once a new cloudflared
// process answers (another connectorId, else another main PID or start time), and fails when the
// new one never becomes ready. The supervisor and probe are one scripted double whose clock is the
// injected sleep; the end-to-end run with the cloudflared stub is tests/integration/test_restart_readiness.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/ingress_strategy.hpp"

using namespace tunnelmgr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// One cloudflared under a supervisor whose restart returns at once (systemctl --no-block): the
// old process keeps answering /ready for `old_polls` polls, then the new one answers, ready after
// `new_ready_after` more polls (never when negative).
struct restarting_cloudflared : core::tunnel_supervisor, core::ready_probe {
    int old_polls = 0;
    int new_ready_after = 0;
    bool names_connector = true;  // /ready carries connectorId
    bool supervisor_pid = true;   // status() reports the main PID
    bool supervisor_since = false;
    int restarts = 0;
    int polls = 0;  // sleeps since the restart

    bool new_answers() const { return restarts > 0 && polls >= old_polls; }
    bool new_ready() const { return new_answers() && new_ready_after >= 0 && polls - old_polls >= new_ready_after; }

    core::result<sdk::model::supervisor_status> status() override {
        sdk::model::supervisor_status s;
        s.running = true;
        s.state = "active/running";
        if (supervisor_pid) s.pid = new_answers() ? 2002 : 1001;
        if (supervisor_since) s.since_ms = new_answers() ? 1'700'000'050'000 : 1'700'000'000'000 + (polls % 2);
        return s;
    }
    core::result<void> restart() override {
        ++restarts;
        polls = 0;
        return {};
    }
    core::result<core::ready_answer> ready() override {
        core::ready_answer a;
        a.connections = new_answers() ? (new_ready() ? 4 : 0) : 4;
        if (names_connector) a.connector_id = new_answers() ? "22222222-new" : "11111111-old";
        return a;
    }
    core::result<int> ready_connections() override { return ready()->connections; }
};

class ingress_apply_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-apply-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        std::ofstream(dir_ / "config.yml") << "tunnel: t\ningress:\n  - service: http_status:404\n";
    }
    void TearDown() override { fs::remove_all(dir_); }

    core::result<std::string> apply(std::chrono::milliseconds ready_timeout = 10s) {
        core::apply_timing t;
        t.ready_timeout = ready_timeout;
        t.poll_every = 250ms;
        t.sleep = [this](std::chrono::milliseconds) { ++cf_.polls; };
        auto local = core::make_local_ingress((dir_ / "config.yml").string(), "", &cf_, &cf_, t);
        return local->apply();
    }

    fs::path dir_;
    restarting_cloudflared cf_;
};

TEST_F(ingress_apply_test, a_ready_answer_from_the_old_instance_does_not_count) {
    cf_.old_polls = 6;  // 1.5 s of the old process still answering 200
    cf_.new_ready_after = 2;
    auto r = apply();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(r->find("after 2000 ms"), std::string::npos) << *r;
    EXPECT_NE(r->find("22222222-new"), std::string::npos) << *r;
    EXPECT_EQ(cf_.restarts, 1);
}

TEST_F(ingress_apply_test, a_new_instance_that_never_becomes_ready_fails_the_apply) {
    cf_.old_polls = 2;
    cf_.new_ready_after = -1;
    auto r = apply(3s);
    ASSERT_FALSE(r) << *r;
    EXPECT_EQ(r.error().code, errc::timeout);
    EXPECT_NE(r.error().message.find("the new instance did not report ready within 3 s"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("22222222-new"), std::string::npos) << r.error().message;
}

TEST_F(ingress_apply_test, an_old_instance_answering_until_the_timeout_fails_the_apply) {
    cf_.old_polls = 1000;
    auto r = apply(2s);
    ASSERT_FALSE(r) << *r;
    EXPECT_EQ(r.error().code, errc::timeout);
    EXPECT_NE(r.error().message.find("no new instance answered /ready within 2 s"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("the old instance (connector 11111111-old) was still answering"), std::string::npos)
        << r.error().message;
}

TEST_F(ingress_apply_test, without_a_connector_id_the_supervisors_main_pid_decides) {
    cf_.names_connector = false;
    cf_.old_polls = 4;
    cf_.new_ready_after = 1;
    auto r = apply();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(r->find("after 1250 ms"), std::string::npos) << *r;
}

TEST_F(ingress_apply_test, without_pid_the_start_time_decides_and_a_millisecond_of_rounding_is_no_restart) {
    cf_.names_connector = false;
    cf_.supervisor_pid = false;
    cf_.supervisor_since = true;  // the old start time wobbles by 1 ms between calls
    cf_.old_polls = 4;
    cf_.new_ready_after = 0;
    auto r = apply();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(r->find("after 1000 ms"), std::string::npos) << *r;
}

TEST_F(ingress_apply_test, with_nothing_to_tell_instances_apart_the_first_ready_answer_counts) {
    cf_.names_connector = false;
    cf_.supervisor_pid = false;
    cf_.old_polls = 4;
    auto r = apply();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(r->find("after 0 ms"), std::string::npos) << *r;
}

}  // namespace

namespace {

// Two replicas behind one probe double: replica_restart(i) starts i's new instance, which answers
// /ready (connector "new-i") after `old_polls` polls; the probe speaks for the replica restarted last.
// Each replica names its own metrics address; the probes made for them forward to the double.
struct forwarding_probe : core::ready_probe {
    core::ready_probe& to;
    explicit forwarding_probe(core::ready_probe& p) : to(p) {}
    core::result<int> ready_connections() override { return to.ready_connections(); }
    core::result<core::ready_answer> ready() override { return to.ready(); }
};

struct two_replicas : core::tunnel_supervisor, core::ready_probe {
    int old_polls = 2;
    int never_ready = -1;  // this replica's new instance never becomes ready
    std::vector<int> restarted;
    std::vector<int> polls_when_restarted;
    int polls = 0, since = 0;
    int replica_count() override { return 2; }
    bool metrics_known = true;
    replica replica_info(int i) override {
        return {"cloudflared@" + std::to_string(i + 1) + ".service", metrics_known ? "127.0.0.1:2024" + std::to_string(i + 1) : ""};
    }
    core::result<sdk::model::supervisor_status> replica_status(int i) override {
        sdk::model::supervisor_status s;
        s.running = true;
        s.state = "active/running";
        s.pid = 1000 + i * 10 + static_cast<int>(std::count(restarted.begin(), restarted.end(), i));
        return s;
    }
    core::result<sdk::model::supervisor_status> status() override { return replica_status(0); }
    core::result<void> restart() override { return core::fail(core::errc::invalid, "the whole is never restarted"); }
    core::result<void> replica_restart(int i) override {
        restarted.push_back(i);
        polls_when_restarted.push_back(polls);
        since = polls;
        return {};
    }
    std::string last = "old";  // the instance that answers until the restarted one takes over
    core::result<core::ready_answer> ready() override {
        core::ready_answer a;
        int i = restarted.empty() ? -1 : restarted.back();
        bool fresh = i >= 0 && polls - since >= old_polls;
        if (fresh) last = "new-" + std::to_string(i);
        a.connector_id = last;
        a.connections = fresh && i == never_ready ? 0 : 4;
        return a;
    }
    core::result<int> ready_connections() override { return ready()->connections; }
};

}  // namespace

TEST(ingress_rolling_restart, replicas_restart_one_at_a_time_each_after_the_previous_new_instance_is_ready) {
    auto dir = fs::temp_directory_path() / ("tm-rolling-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "config.yml") << "tunnel: t\ningress:\n  - service: http_status:404\n";
    two_replicas cf;
    core::apply_timing t;
    t.poll_every = 250ms;
    t.sleep = [&cf](std::chrono::milliseconds) { ++cf.polls; };
    std::vector<std::string> probed;
    t.replica_probe = [&](const std::string& address) {
        probed.push_back(address);
        return std::make_unique<forwarding_probe>(cf);
    };
    auto local = core::make_local_ingress((dir / "config.yml").string(), "", &cf, &cf, t);
    auto r = local->apply();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(cf.restarted, (std::vector<int>{0, 1}));
    // Replica 2 was restarted only after replica 1's new instance had answered ready (2 polls later).
    ASSERT_EQ(cf.polls_when_restarted.size(), 2u);
    EXPECT_GE(cf.polls_when_restarted[1] - cf.polls_when_restarted[0], cf.old_polls);
    EXPECT_NE(r->find("rolling restart of 2 replicas"), std::string::npos) << *r;
    EXPECT_NE(r->find("cloudflared@2.service"), std::string::npos) << *r;
    EXPECT_EQ(probed, (std::vector<std::string>{"127.0.0.1:20241", "127.0.0.1:20242"}));

    // A replica whose new instance never becomes ready stops the roll with its name.
    two_replicas stuck;
    stuck.never_ready = 0;
    core::apply_timing t2 = t;
    t2.ready_timeout = 2s;
    t2.sleep = [&stuck](std::chrono::milliseconds) { ++stuck.polls; };
    t2.replica_probe = [&stuck](const std::string&) { return std::make_unique<forwarding_probe>(stuck); };
    auto local2 = core::make_local_ingress((dir / "config.yml").string(), "", &stuck, &stuck, t2);
    auto failed = local2->apply();
    ASSERT_FALSE(failed);
    EXPECT_EQ(stuck.restarted, (std::vector<int>{0})) << "the second replica keeps serving the old rules";
    EXPECT_NE(failed.error().message.find("cloudflared@1.service (1 of 2)"), std::string::npos) << failed.error().message;

    // A replica whose metrics address is unknown (its status never answered) is restarted without a
    // wait that could only read another process's /ready, and the answer says it was not verified.
    two_replicas unknown;
    unknown.metrics_known = false;
    core::apply_timing t3 = t;
    t3.sleep = [&unknown](std::chrono::milliseconds) { ++unknown.polls; };
    t3.replica_probe = nullptr;
    auto local3 = core::make_local_ingress((dir / "config.yml").string(), "", &unknown, &unknown, t3);
    auto unverified = local3->apply();
    ASSERT_TRUE(unverified) << unverified.error().message;
    EXPECT_EQ(unknown.restarted, (std::vector<int>{0, 1}));
    EXPECT_EQ(unknown.polls, 0) << "nothing to wait on";
    EXPECT_NE(unverified->find("not verified: its metrics address is unknown"), std::string::npos) << *unverified;
    fs::remove_all(dir);
}
