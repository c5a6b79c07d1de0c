// Remote ingress under concurrency: many real tunnelmgr processes (real plugins, real SQLite
// state) read-modify-PUT the tunnel's remote configuration in the Cloudflare fake at once; no rule
// may be lost. Also the same strategy in one process: threads, and writers that are not tunnelmgr.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "core/dns_provider.hpp"
#include "core/ingress_strategy.hpp"
#include "core/json.hpp"
#include "process/run_process.hpp"

using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::tunnel_race;
using tunnelmgr::testing::process_result;
using tunnelmgr::testing::run_process;
namespace fs = std::filesystem;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string token = "fake-token-for-remote-races-5d1e";  // obviously fake
const std::string tunnel_id = "0b7c3a52-2f4e-4c8e-9d61-7a4f0e2c9b13";
constexpr int runs = 20;

class remote_concurrency : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("tm-remote-race-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_);
        cloudflare_fake::options o;
        o.tokens = {token};
        o.zones = {"example.com"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(root_ / "token") << token << "\n";
    }
    void TearDown() override {
        fake_.reset();
        if (!HasFailure()) fs::remove_all(root_);
    }

    // Each run starts from nothing: a fresh state folder and a fake without records or tunnel configuration.
    void start_run(int run) {
        fake_->reset();
        dir_ = root_ / ("run-" + std::to_string(run));
        fs::create_directories(dir_);
        std::ofstream(dir_ / "config.yml")
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (root_ / "token").string() << "\n  account_id: " << fake_->account_id() << "\n  max_retries: 3\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: remote }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }

    process_result tm(const std::vector<std::string>& args) {
        std::vector<std::string> argv{binary, "--config", (dir_ / "config.yml").string(), "--log-level", "warn"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }

    // Runs every command at once, each in its own process; their results in the same order.
    std::vector<process_result> all_at_once(const std::vector<std::vector<std::string>>& commands) {
        std::vector<process_result> results(commands.size());
        std::vector<std::thread> threads;
        for (size_t i = 0; i < commands.size(); ++i) {
            threads.emplace_back([&, i] { results[i] = tm(commands[i]); });
        }
        for (auto& t : threads) t.join();
        return results;
    }

    // The hostnames of the stored remote configuration; also checks the catch-all closes it.
    std::multiset<std::string> remote_hosts() {
        std::multiset<std::string> out;
        auto conf = fake_->tunnel_configuration(tunnel_id);
        if (!conf) return out;
        rapidjson::Document d;
        d.Parse(conf->config_json.c_str());
        EXPECT_TRUE(d.IsObject() && d.HasMember("ingress") && d["ingress"].IsArray()) << conf->config_json;
        if (!d.IsObject() || !d.HasMember("ingress") || !d["ingress"].IsArray()) return out;
        const auto& ingress = d["ingress"];
        EXPECT_GE(ingress.Size(), 1u);
        for (rapidjson::SizeType i = 0; i < ingress.Size(); ++i) {
            const auto& rule = ingress[i];
            bool catch_all = !rule.HasMember("hostname");
            EXPECT_EQ(catch_all, i + 1 == ingress.Size()) << "rule " << i << " of " << conf->config_json;
            if (!catch_all) out.insert(rule["hostname"].GetString());
        }
        return out;
    }

    std::set<std::string> dns_hosts() {
        std::set<std::string> out;
        for (const auto& r : fake_->records()) {
            if (r.type == "CNAME") out.insert(r.name);
        }
        return out;
    }

    fs::path root_;
    fs::path dir_;
    std::unique_ptr<cloudflare_fake> fake_;
};

std::string describe(const std::multiset<std::string>& hosts) {
    std::string s;
    for (const auto& h : hosts) s += (s.empty() ? "" : " ") + h;
    return s;
}

}  // namespace

TEST_F(remote_concurrency, twelve_concurrent_adds_keep_all_twelve_rules_twenty_runs_in_a_row) {
    constexpr int adds = 12;
    int runs_losing_rules = 0;
    std::string kept;
    for (int run = 0; run < runs; ++run) {
        start_run(run);
        std::vector<std::vector<std::string>> commands;
        std::multiset<std::string> want;
        for (int i = 0; i < adds; ++i) {
            commands.push_back({"cname", "add", "n" + std::to_string(i), "--port", std::to_string(3100 + i), "--project", "alpha"});
            want.insert("n" + std::to_string(i) + ".example.com");
        }
        auto results = all_at_once(commands);
        for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i].exit_code, 0) << "run " << run << ", add " << i << ": " << results[i].err;
        auto got = remote_hosts();
        if (got != want) ++runs_losing_rules;
        EXPECT_EQ(got.size(), want.size()) << "run " << run << ": the remote configuration holds " << describe(got);
        EXPECT_EQ(got, want) << "run " << run;
        EXPECT_EQ(dns_hosts(), std::set<std::string>(want.begin(), want.end())) << "run " << run;
        EXPECT_TRUE(fs::exists(dir_ / ("remote-ingress-" + tunnel_id + ".lock"))) << "the lock lives beside the state";
        kept += (kept.empty() ? "" : " ") + std::to_string(got.size());
    }
    EXPECT_EQ(runs_losing_rules, 0) << "rules kept per run (of " << adds << "): " << kept;
}

TEST_F(remote_concurrency, a_remove_racing_four_adds_stays_removed_twenty_runs_in_a_row) {
    int runs_wrong = 0;
    int runs_removed_came_back = 0;
    for (int run = 0; run < runs; ++run) {
        start_run(run);
        auto seed = tm({"cname", "add", "gone", "--port", "3150", "--project", "alpha"});
        ASSERT_EQ(seed.exit_code, 0) << seed.err;
        ASSERT_EQ(remote_hosts(), std::multiset<std::string>{"gone.example.com"});
        std::vector<std::vector<std::string>> commands{{"cname", "rm", "gone.example.com"}};
        std::multiset<std::string> want;
        for (int i = 0; i < 4; ++i) {
            commands.push_back({"cname", "add", "a" + std::to_string(i), "--port", std::to_string(3110 + i), "--project", "alpha"});
            want.insert("a" + std::to_string(i) + ".example.com");
        }
        auto results = all_at_once(commands);
        for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i].exit_code, 0) << "run " << run << ", command " << i << ": " << results[i].err;
        auto got = remote_hosts();
        if (got != want) ++runs_wrong;
        EXPECT_EQ(got.count("gone.example.com"), 0u) << "run " << run << ": the removed rule came back: " << describe(got);
        EXPECT_EQ(got, want) << "run " << run << ": the remote configuration holds " << describe(got);
        EXPECT_EQ(dns_hosts(), std::set<std::string>(want.begin(), want.end())) << "run " << run;
        if (got.count("gone.example.com") != 0) ++runs_removed_came_back;
    }
    EXPECT_EQ(runs_wrong, 0) << "the removed rule came back in " << runs_removed_came_back << " of " << runs << " runs";
}

// Writers that are not tunnelmgr (the dashboard, a script) take no lock: the version check and the
// read after each PUT are what guard against them.
TEST_F(remote_concurrency, a_rule_another_writer_overwrites_right_after_the_put_is_written_again) {
    start_run(0);
    const std::string theirs =
        R"({"ingress":[{"hostname":"dash.example.com","service":"http://localhost:9"},{"service":"http_status:404"}]})";
    fake_->race_tunnel_puts({tunnel_id, theirs, 1, tunnel_race::at::after_put});
    auto add = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    EXPECT_NE(add.err.find("writing it again"), std::string::npos) << add.err;
    EXPECT_EQ(remote_hosts(), (std::multiset<std::string>{"app.example.com", "dash.example.com"}))
        << "ours written again on top of theirs";
    EXPECT_EQ(fake_->pending_races(), 0u);
}

TEST_F(remote_concurrency, a_write_landing_between_read_and_put_is_reported) {
    start_run(0);
    const std::string theirs =
        R"({"ingress":[{"hostname":"dash.example.com","service":"http://localhost:9"},{"service":"http_status:404"}]})";
    fake_->race_tunnel_puts({tunnel_id, theirs, 1, tunnel_race::at::before_put});
    auto add = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    EXPECT_NE(add.err.find("read at version 0 but stored as version 2: another writer changed it in between"), std::string::npos)
        << add.err;
    EXPECT_EQ(remote_hosts(), std::multiset<std::string>{"app.example.com"});
}

TEST_F(remote_concurrency, a_configuration_that_keeps_losing_the_rule_gives_up_and_rolls_back) {
    start_run(0);
    const std::string theirs = R"({"ingress":[{"service":"http_status:404"}]})";
    fake_->race_tunnel_puts({tunnel_id, theirs, 50, tunnel_race::at::after_put});
    auto add = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"});
    EXPECT_NE(add.exit_code, 0);
    EXPECT_NE(add.err.find("kept changing while tunnelmgr wrote it"), std::string::npos) << add.err;
    EXPECT_EQ(fake_->pending_races(), 45u) << "five writes, then it stops";
    EXPECT_TRUE(remote_hosts().empty());
    EXPECT_TRUE(dns_hosts().empty()) << "the DNS record is rolled back";
}

namespace {

using tunnelmgr::core::dns_provider;
using tunnelmgr::core::errc;
using tunnelmgr::core::result;
namespace json = tunnelmgr::core::json;

// A tunnel's remote configuration in memory, with Cloudflare's versions and the cloudflare-dns
// plugin's check of a PUT's "version". Counts PUTs made from a stale read.
class memory_tunnel_config final : public dns_provider {
public:
    bool report_versions = true;
    std::chrono::milliseconds read_takes{0};  // widens the window between a read and its PUT
    std::function<void(std::string&)> after_put;  // another writer, under the lock of this object

    result<std::string> list_zones() override { return tunnelmgr::core::fail(errc::error, "unused"); }
    result<std::string> find_record(std::string_view, std::string_view, std::string_view) override {
        return tunnelmgr::core::fail(errc::error, "unused");
    }
    result<std::string> create_record(std::string_view, std::string_view) override {
        return tunnelmgr::core::fail(errc::error, "unused");
    }
    result<void> delete_record(std::string_view, std::string_view, std::string_view) override {
        return tunnelmgr::core::fail(errc::error, "unused");
    }
    bool supports_tunnel_config() const override { return true; }

    result<std::string> get_tunnel_config(std::string_view) override {
        std::string out;
        {
            std::lock_guard<std::mutex> lock(mu_);
            out = R"({"config":)" + config_ + (report_versions ? R"(,"version":)" + std::to_string(version_) : "") + "}";
        }
        if (read_takes.count() > 0) std::this_thread::sleep_for(read_takes);
        return out;
    }

    result<void> put_tunnel_config(std::string_view, std::string_view body) override {
        auto doc = json::parse(body);
        if (!doc || !doc->IsObject() || !doc->HasMember("config")) return tunnelmgr::core::fail(errc::invalid, "bad body");
        std::lock_guard<std::mutex> lock(mu_);
        bodies_.emplace_back(body);
        config_ = json::to_string((*doc)["config"]);
        ++version_;
        const int64_t stored = version_;
        if (after_put) {
            after_put(config_);
            ++version_;
        }
        if (doc->HasMember("version") && stored != (*doc)["version"].GetInt64() + 1) {
            ++stale_puts_;
            return tunnelmgr::core::fail(errc::conflict, "another writer changed it in between");
        }
        return {};
    }

    std::vector<std::string> hostnames() {
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<std::string> out;
        auto doc = json::parse(config_);
        if (!doc || !doc->HasMember("ingress")) return out;
        for (const auto& r : (*doc)["ingress"].GetArray()) {
            if (r.HasMember("hostname")) out.emplace_back(r["hostname"].GetString());
        }
        return out;
    }
    int stale_puts() {
        std::lock_guard<std::mutex> lock(mu_);
        return stale_puts_;
    }
    std::vector<std::string> bodies() {
        std::lock_guard<std::mutex> lock(mu_);
        return bodies_;
    }

private:
    std::mutex mu_;
    std::string config_ = "{}";
    int64_t version_ = 0;
    int stale_puts_ = 0;
    std::vector<std::string> bodies_;
};

class remote_ingress_in_process : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-remote-ingress-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string lock_path() const { return (dir_ / "remote-ingress.lock").string(); }

    fs::path dir_;
    memory_tunnel_config remote_;
};

}  // namespace

TEST_F(remote_ingress_in_process, threads_of_one_process_take_turns_through_the_lock_file) {
    // Each thread has its own strategy (as each MCP session or host call may), all on one lock file:
    // flock locks belong to the open file, and each write opens it anew, so threads exclude each other.
    remote_.read_takes = std::chrono::milliseconds(5);
    constexpr int threads = 8;
    std::vector<std::thread> pool;
    std::vector<int> added(threads, -1);
    for (int i = 0; i < threads; ++i) {
        pool.emplace_back([&, i] {
            auto ingress = tunnelmgr::core::make_remote_ingress(remote_, tunnel_id, lock_path());
            auto r = ingress->add("t" + std::to_string(i) + ".example.com", "http://localhost:" + std::to_string(3100 + i), "test");
            added[static_cast<size_t>(i)] = r ? static_cast<int>(*r) : -1;
            EXPECT_TRUE(r) << r.error().message;
        });
    }
    for (auto& t : pool) t.join();
    EXPECT_EQ(added, std::vector<int>(threads, 1));
    EXPECT_EQ(remote_.hostnames().size(), static_cast<size_t>(threads));
    EXPECT_EQ(remote_.stale_puts(), 0) << "a PUT was made from a read another thread had already outdated";
    EXPECT_EQ(remote_.bodies().size(), static_cast<size_t>(threads)) << "one PUT each, none repeated";
}

TEST_F(remote_ingress_in_process, a_rule_overwritten_after_its_put_is_written_again_on_top_of_the_other_change) {
    int overwrites = 1;
    remote_.after_put = [&](std::string& config) {
        if (overwrites-- > 0) config = R"({"ingress":[{"hostname":"dash.example.com","service":"http://localhost:9"},{"service":"http_status:404"}]})";
    };
    auto ingress = tunnelmgr::core::make_remote_ingress(remote_, tunnel_id, lock_path());
    auto r = ingress->add("app.example.com", "http://localhost:3100", "test");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(*r);
    EXPECT_EQ(remote_.hostnames(), (std::vector<std::string>{"dash.example.com", "app.example.com"}));
    // Removing works the same way, and says what was there.
    auto removed = ingress->remove("APP.example.com", "test");
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_EQ(removed->value_or(""), "http://localhost:3100");
    EXPECT_EQ(remote_.hostnames(), std::vector<std::string>{"dash.example.com"});
    auto again = ingress->remove("app.example.com", "test");
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->has_value());
}

TEST_F(remote_ingress_in_process, a_rule_that_never_stays_fails_after_five_writes_with_what_to_do) {
    remote_.after_put = [](std::string& config) { config = R"({"ingress":[{"service":"http_status:404"}]})"; };
    auto ingress = tunnelmgr::core::make_remote_ingress(remote_, tunnel_id, lock_path());
    auto r = ingress->add("app.example.com", "http://localhost:3100", "test");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::retry);
    EXPECT_NE(r.error().message.find("is rewriting it; stop that, then run the command again"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(remote_.bodies().size(), 5u);
}

TEST_F(remote_ingress_in_process, a_provider_without_versions_gets_none_and_is_checked_by_reading_again) {
    remote_.report_versions = false;
    auto ingress = tunnelmgr::core::make_remote_ingress(remote_, tunnel_id, "");
    auto r = ingress->add("app.example.com", "http://localhost:3100", "test");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(*r);
    auto unchanged = ingress->add("app.example.com", "http://localhost:3100", "test");
    ASSERT_TRUE(unchanged);
    EXPECT_FALSE(*unchanged);
    ASSERT_EQ(remote_.bodies().size(), 1u);
    EXPECT_EQ(remote_.bodies()[0].find("\"version\""), std::string::npos) << remote_.bodies()[0];
    EXPECT_EQ(remote_.hostnames(), std::vector<std::string>{"app.example.com"});
}
