// Coalesced applies (tunnel.apply_delay): changes that each hold the one-writer lock, write their
// rule and ask for an apply within the delay share one apply of the inner strategy; each gets that
// apply's answer or error. Threads and the lock are real; the inner strategy counts its applies.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "core/batched_ingress.hpp"

using namespace tunnelmgr;
using namespace std::chrono_literals;

namespace {

struct counting_ingress final : core::ingress_strategy {
    std::atomic<int> applies{0}, adds{0};
    std::atomic<bool> fail{false};
    std::mutex rules_m;
    std::vector<std::string> rules, seen_by_last_apply;
    using core::ingress_strategy::add;
    core::result<bool> add(const std::string& h, const core::rule_target&, const std::string&) override {
        std::lock_guard<std::mutex> l(rules_m);
        rules.push_back(h);
        ++adds;
        return true;
    }
    core::result<std::optional<std::string>> remove(const std::string&, const std::string&) override {
        return std::optional<std::string>{};
    }
    core::result<std::string> apply() override {
        {
            std::lock_guard<std::mutex> l(rules_m);
            seen_by_last_apply = rules;
        }
        std::this_thread::sleep_for(50ms);  // a restart takes a while
        ++applies;
        if (fail) return core::fail(core::errc::timeout, "the new instance did not report ready");
        return std::string("cloudflared restarted");
    }
};

// n changes at once, each as the pipeline makes it: under the writer lock, add, then apply.
std::vector<core::result<std::string>> changes(core::batched_ingress& b, core::one_writer& w, int n,
                                               std::vector<std::string>* notices = nullptr) {
    std::vector<core::result<std::string>> out(static_cast<size_t>(n), std::string());
    std::mutex notices_m;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            std::unique_lock<core::one_writer> lock(w);
            core::apply_notice_scope scope([&](const std::string& t) {
                std::lock_guard<std::mutex> l(notices_m);
                if (notices) notices->push_back(t);
            });
            (void)b.add("h" + std::to_string(i) + ".example.com", "http://localhost:1", "test");
            out[static_cast<size_t>(i)] = b.apply();
            EXPECT_TRUE(w.held_by_this_thread()) << "the lock is held again when apply returns";
        });
    }
    for (auto& t : threads) t.join();
    return out;
}

}  // namespace

TEST(batched_ingress, changes_within_the_delay_share_one_apply_and_each_gets_its_answer) {
    auto inner = std::make_unique<counting_ingress>();
    auto* counts = inner.get();
    core::one_writer writer;
    core::batched_ingress b(std::move(inner), 1500ms, &writer);
    std::vector<std::string> notices;
    auto answers = changes(b, writer, 8, &notices);
    for (const auto& a : answers) {
        ASSERT_TRUE(a) << a.error().message;
        EXPECT_NE(a->find("cloudflared restarted"), std::string::npos) << *a;
    }
    // All 8 got into the first batch: the writer was let go while each waited.
    EXPECT_EQ(counts->applies.load(), 1);
    EXPECT_EQ(counts->seen_by_last_apply.size(), 8u) << "the one apply saw every change's rule";
    EXPECT_NE(answers[0]->find("8 changes applied together"), std::string::npos) << *answers[0];
    EXPECT_EQ(b.applies(), 1);
    EXPECT_EQ(b.changes(), 8);
    ASSERT_EQ(notices.size(), 8u);
    EXPECT_NE(notices[0].find("waiting for the batch"), std::string::npos) << notices[0];
}

TEST(batched_ingress, with_no_delay_every_change_is_applied_on_its_own) {
    auto inner = std::make_unique<counting_ingress>();
    auto* counts = inner.get();
    core::one_writer writer;
    core::batched_ingress b(std::move(inner), 0ms, &writer);
    auto answers = changes(b, writer, 4);
    for (const auto& a : answers) ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(counts->applies.load(), 4);
}

TEST(batched_ingress, a_failed_apply_is_every_members_error) {
    auto inner = std::make_unique<counting_ingress>();
    inner->fail = true;
    core::one_writer writer;
    core::batched_ingress b(std::move(inner), 200ms, &writer);
    auto answers = changes(b, writer, 3);
    for (const auto& a : answers) {
        ASSERT_FALSE(a);
        EXPECT_EQ(a.error().code, core::errc::timeout);
    }
    EXPECT_EQ(b.applies(), 1);
}

TEST(batched_ingress, a_change_after_the_batch_started_applying_goes_into_the_next_one) {
    auto inner = std::make_unique<counting_ingress>();
    auto* counts = inner.get();
    core::one_writer writer;
    core::batched_ingress b(std::move(inner), 100ms, &writer);
    core::result<std::string> first = std::string(), second = std::string();
    std::thread a([&] {
        std::unique_lock<core::one_writer> lock(writer);
        (void)b.add("a.example.com", "s", "t");
        first = b.apply();
    });
    std::this_thread::sleep_for(120ms);  // the first batch is applying now (its apply takes 50 ms)
    std::thread c([&] {
        std::unique_lock<core::one_writer> lock(writer);
        (void)b.add("c.example.com", "s", "t");
        second = b.apply();
    });
    a.join();
    c.join();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(counts->applies.load(), 2);
    EXPECT_EQ(counts->seen_by_last_apply.size(), 2u) << "the second apply saw both rules";
}
