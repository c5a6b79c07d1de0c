// The daemon owns the machine: the real `tunnelmgr daemon` serving its API socket, real plugins, a
// real SQLite file and the Cloudflare API fake over loopback counting every request. One project
// looping request/delete is held to its own rate; another project's calls keep working, and the
// Cloudflare request budget — one for the whole machine — is never exceeded.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cloudflare_fake.hpp"
#include "core/json.hpp"
#include "process/child_process.hpp"
#include "process/run_process.hpp"
#include "service/api_client.hpp"
#include "sys/sha256.hpp"

using tunnelmgr::testing::cloudflare_fake;
namespace fs = std::filesystem;
using namespace tunnelmgr;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string cf_token = "fake-token-for-tests-daemon-api-cf-5e1d";
const std::string alpha_token = "fake-token-for-tests-daemon-api-alpha-0b7c";
const std::string beta_token = "fake-token-for-tests-daemon-api-beta-93aa";
const std::string tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";
constexpr int k_budget = 40;  // the cloudflare-dns plugin's budget_per_5min for this machine

class daemon_api_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-dapi-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        cloudflare_fake::options o;
        o.tokens = {cf_token};
        o.zones = {"example.com"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(dir_ / "token") << cf_token << "\n";
        std::ofstream(dir_ / "cloudflared.yml") << "tunnel: " << tunnel_id << "\ncredentials-file: /etc/cloudflared/x.json\n"
                                                << "ingress:\n  - service: http_status:404\n";
        // A unix socket path has room for ~100 bytes: not under the long test folder.
        socket_ = "/tmp/tm-dapi-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_) + ".sock";
        std::ofstream(dir_ / "config.yml")
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id()
            << "\n  budget_per_5min: " << k_budget << "\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: local, metrics: \"127.0.0.1:1\", config_file: "
            << (dir_ / "cloudflared.yml").string() << ", backup_dir: " << (dir_ / "history").string() << " }\n"
            << "projects:\n"
            << "  alpha: { ports: \"3100-3199\", token_sha256: " << sys::sha256_hex(alpha_token)
            << ", rate: { changes_per_minute: 6 } }\n"
            << "  beta: { ports: \"4100-4199\", token_sha256: " << sys::sha256_hex(beta_token) << " }\n"
            << "api: { socket: " << socket_ << " }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
        ASSERT_TRUE(daemon_.start({binary, "--config", (dir_ / "config.yml").string(), "--log-level", "info", "daemon"},
                                  (dir_ / "daemon.log").string()));
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!fs::exists(socket_) && std::chrono::steady_clock::now() < until && daemon_.running()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ASSERT_TRUE(fs::exists(socket_)) << daemon_.log();
    }
    void TearDown() override {
        daemon_.stop();
        fake_.reset();
        if (!HasFailure()) fs::remove_all(dir_);
    }

    std::unique_ptr<service::api_client> session(const std::string& project, const std::string& token) {
        auto c = service::api_client::connect(socket_);
        EXPECT_TRUE(c) << c.error().message;
        if (!c) return nullptr;
        service::session_request want{token, project, false};
        auto opened = (*c)->open_session(want);
        EXPECT_TRUE(opened) << opened.error().message;
        return std::move(*c);
    }

    fs::path dir_;
    std::unique_ptr<cloudflare_fake> fake_;
    tunnelmgr::testing::child_process daemon_;
    std::string socket_;
    static inline int serial_ = 0;
};

double median_ms(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

TEST_F(daemon_api_test, one_projects_loop_is_held_to_its_rate_and_never_costs_another_project_or_the_budget) {
    auto alpha = session("alpha", alpha_token);
    auto beta = session("beta", beta_token);
    ASSERT_TRUE(alpha && beta);
    auto timed_list = [&] {
        auto t0 = std::chrono::steady_clock::now();
        auto r = beta->call("cname.list", "{}");
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    std::vector<double> before;
    for (int i = 0; i < 20; ++i) before.push_back(timed_list());

    std::atomic<bool> stop{false};
    std::atomic<int> changed{0}, limited{0}, other{0};
    std::string limit_sentence;
    std::thread loop([&] {
        for (int i = 0; i < 40 && !stop; ++i) {
            auto add = alpha->call("cname.request", R"({"subdomain":"loop","port":3100})");
            if (add) {
                ++changed;
            } else if (add.error().code == core::errc::retry) {
                ++limited;
                limit_sentence = add.error().message;
            } else {
                ++other;
            }
            auto rm = alpha->call("cname.delete", R"({"hostname":"loop.example.com"})");
            if (rm) {
                ++changed;
            } else if (rm.error().code == core::errc::retry) {
                ++limited;
            }
        }
    });
    std::vector<double> during;
    for (int i = 0; i < 20; ++i) during.push_back(timed_list());
    auto mine = beta->call("cname.request", R"({"subdomain":"beta-app","port":4100})");
    loop.join();
    ASSERT_TRUE(mine) << "beta's own change is not held by alpha's loop: " << mine.error().message;
    for (int i = 0; i < 20; ++i) during.push_back(timed_list());

    // alpha: at most its burst (6) plus what refilled while the test ran; the rest refused with the limit named.
    EXPECT_LE(changed.load(), 8);
    EXPECT_GE(limited.load(), 60);
    EXPECT_LE(other.load(), 2);  // a refill between an add and its delete can leave a conflict
    EXPECT_NE(limit_sentence.find("alpha"), std::string::npos) << limit_sentence;
    EXPECT_NE(limit_sentence.find("retry"), std::string::npos) << limit_sentence;
    // One budget for the machine: every Cloudflare request of every session counted at the fake.
    EXPECT_LE(fake_->total_requests(), static_cast<size_t>(k_budget));
    std::printf("# beta's cname.list through the daemon: median %.2f ms before alpha's loop, %.2f ms during it; "
                "alpha: %d changes, %d refused by its rate; Cloudflare requests: %zu of a budget of %d\n",
                median_ms(before), median_ms(during), changed.load(), limited.load(), fake_->total_requests(), k_budget);
}

TEST_F(daemon_api_test, sigterm_removes_the_socket_and_a_client_then_runs_in_process) {
    auto c = session("beta", beta_token);
    ASSERT_TRUE(c);
    daemon_.stop();
    EXPECT_FALSE(fs::exists(socket_));
    auto gone = service::api_client::connect(socket_);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code, core::errc::not_found);
    // With no daemon the CLI does the work itself, with the same table of host calls.
    auto r = tunnelmgr::testing::run_process({binary, "--config", (dir_ / "config.yml").string(), "cname", "ls", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
