// Three machines, one source of truth: three tunnelmgr configurations (machines m1, m2, m3, each with
// its own tunnel id, cloudflared config file and cloudflared stub) share one real, throw-away
// PostgreSQL through postgres-state, and one Cloudflare account (the API fake on loopback).
// - the same name asked for on all three machines at once: exactly one wins, everywhere;
// - each machine's daemon holds its own lease; killing one hands it to that machine's standby, the
//   other machines keep theirs;
// - a project that spans two machines removes, from one, a name the other serves: that machine's
//   daemon takes it down (its DNS record and its own rule);
// - PostgreSQL stopped and started while names are being added: every add either fully happened or
//   left nothing, no row is lost or doubled, and the adds made while it was away say so;
// - `tunnelmgr state copy` moves a SQLite state into PostgreSQL and back, verified row by row.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "postgres/throwaway_postgres.hpp"
#include "process/child_process.hpp"
#include "process/run_process.hpp"
#include "process/test_files.hpp"

using tunnelmgr::testing::child_process;
using tunnelmgr::testing::eventually;
using tunnelmgr::testing::slurp;
using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::run_process;
using tunnelmgr::testing::throwaway_postgres;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string token = "fake-token-for-tests-7a41c0";  // obviously fake

rapidjson::Document parse(const std::string& s) {
    rapidjson::Document d;
    d.Parse(s.c_str());
    return d;
}

struct machine {
    std::string name;
    std::string tunnel_id;
    fs::path dir;
    int metrics_port = 0;
    child_process stub;
};

class three_machines : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = throwaway_postgres::unavailable_reason()) GTEST_SKIP() << *why;
        dir_ = fs::temp_directory_path() / ("tm-3m-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        pg_ = std::make_unique<throwaway_postgres>();
        cloudflare_fake::options o;
        o.tokens = {token};
        o.zones = {"example.com"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(dir_ / "token") << token << "\n";
        const char* ids[] = {"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
                             "33333333-3333-4333-8333-333333333333"};
        for (int i = 0; i < 3; ++i) {
            auto m = std::make_unique<machine>();
            m->name = "m" + std::to_string(i + 1);
            m->tunnel_id = ids[i];
            m->dir = dir_ / m->name;
            fs::create_directories(m->dir);
            m->metrics_port = tunnelmgr::testing::free_loopback_port();
            std::ofstream(m->dir / "creds.json") << R"({"AccountTag":"a","TunnelSecret":"c2VjcmV0","TunnelID":")"
                                                 << m->tunnel_id << "\"}";
            std::ofstream(m->dir / "cloudflared.yml") << "tunnel: " << m->tunnel_id << "\ncredentials-file: "
                                                      << (m->dir / "creds.json").string()
                                                      << "\ningress:\n  - service: http_status:404\n";
            ASSERT_TRUE(m->stub.start({TM_CLOUDFLARED_STUB, "tunnel", "--config", (m->dir / "cloudflared.yml").string(),
                                       "--metrics", "127.0.0.1:" + std::to_string(m->metrics_port), "--grace-period",
                                       "0s", "run"},
                                      (m->dir / "stub.log").string()));
            machines_.push_back(std::move(m));
            write_config(*machines_.back());
        }
    }
    void TearDown() override {
        for (auto& m : machines_) m->stub.stop();
        fake_.reset();
        pg_.reset();
        if (!HasFailure()) fs::remove_all(dir_);
    }

    // Machine m's config: the shared PostgreSQL state, the shared account, its own tunnel.
    void write_config(const machine& m, const std::string& alpha_extra = "") {
        std::ofstream(m.dir / "config.yml", std::ios::trunc)
            << "state: { plugin: postgres-state, dsn_file: " << pg_->dsn_file() << ", machine: " << m.name << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id() << "\n  max_retries: 3\n"
            << "tunnel: { id: " << m.tunnel_id << ", default_domain: example.com, ingress: local, config_file: "
            << (m.dir / "cloudflared.yml").string() << ", metrics: 127.0.0.1:" << m.metrics_port
            << ", backup_dir: " << (m.dir / "history").string() << ", cloudflared_bin: none }\n"
            << "health: { interval: 1s, strikes: 2 }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\"" << alpha_extra << " }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }

    tunnelmgr::testing::process_result tm(const machine& m, std::vector<std::string> args) {
        std::vector<std::string> argv{binary, "--config", (m.dir / "config.yml").string(), "--log-level", "warn"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_process(argv);
        std::lock_guard<std::mutex> lock(stderr_mutex_);
        all_output_ += r.out + r.err;
        return r;
    }
    std::vector<std::string> daemon_argv(const machine& m) {
        return {binary, "--config", (m.dir / "config.yml").string(), "--log-level", "info", "daemon"};
    }

    // Every name the shared state holds, hostname → machine, as `cname ls --json` on `m` shows them.
    std::map<std::string, std::string> names_seen_from(const machine& m) {
        auto r = tm(m, {"cname", "ls", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        std::map<std::string, std::string> out;
        auto d = parse(r.out);
        if (!d.IsArray()) return out;
        for (const auto& row : d.GetArray()) {
            std::string host = row["hostname"].GetString();
            EXPECT_EQ(out.count(host), 0u) << host << " is listed twice";
            out[host] = row.HasMember("machine") && row["machine"].IsString() ? row["machine"].GetString() : "";
        }
        return out;
    }
    // Our CNAMEs in the fake: name → the tunnel it points at, counting duplicates.
    std::multimap<std::string, std::string> records() {
        std::multimap<std::string, std::string> out;
        for (const auto& r : fake_->records()) {
            if (r.type == "CNAME" && r.comment && r.comment->rfind("tunnelmgr:", 0) == 0) out.emplace(r.name, r.content);
        }
        return out;
    }
    bool has_rule(const machine& m, const std::string& host) {
        return slurp(m.dir / "cloudflared.yml").find("hostname: " + host + "\n") != std::string::npos;
    }
    machine& m(int i) { return *machines_[static_cast<size_t>(i)]; }

    fs::path dir_;
    std::unique_ptr<throwaway_postgres> pg_;
    std::unique_ptr<cloudflare_fake> fake_;
    std::vector<std::unique_ptr<machine>> machines_;
    std::mutex stderr_mutex_;
    std::string all_output_;
};

}  // namespace

TEST_F(three_machines, the_same_name_asked_for_on_three_machines_at_once_is_published_once) {
    for (const std::string sub : {"race1", "race2", "race3", "race4"}) {
        const std::string host = sub + ".example.com";
        std::vector<tunnelmgr::testing::process_result> results(3);
        std::vector<std::thread> threads;
        for (int i = 0; i < 3; ++i) {
            threads.emplace_back([&, i] { results[static_cast<size_t>(i)] = tm(m(i), {"cname", "add", sub, "--port", "3100", "--project", "alpha", "--json"}); });
        }
        for (auto& t : threads) t.join();
        int winners = 0, winner = -1;
        for (int i = 0; i < 3; ++i) {
            const auto& r = results[static_cast<size_t>(i)];
            if (r.exit_code == 0) {
                ++winners;
                winner = i;
            } else {
                EXPECT_TRUE(r.err.find("in progress") != std::string::npos || r.err.find("already") != std::string::npos)
                    << "the loser is told the name is taken or being taken: " << r.err;
            }
        }
        ASSERT_EQ(winners, 1) << host;
        auto recs = records();
        ASSERT_EQ(recs.count(host), 1u) << "one DNS record for " << host;
        EXPECT_EQ(recs.find(host)->second, m(winner).tunnel_id + ".cfargotunnel.com") << "it points at the winner's tunnel";
        for (int i = 0; i < 3; ++i) EXPECT_EQ(has_rule(m(i), host), i == winner) << m(i).name;
        for (int i = 0; i < 3; ++i) {
            auto seen = names_seen_from(m(i));
            ASSERT_EQ(seen.count(host), 1u) << m(i).name << " sees the name";
            EXPECT_EQ(seen[host], m(winner).name) << "every machine sees who serves it";
        }
    }
    EXPECT_EQ(all_output_.find(pg_->password()), std::string::npos) << "the database password never shows";
}

TEST_F(three_machines, each_machine_leads_its_own_loops_and_a_killed_daemon_hands_over_to_its_standby) {
    child_process first1, standby1, only2, only3;
    ASSERT_TRUE(first1.start(daemon_argv(m(0)), (m(0).dir / "first.log").string()));
    ASSERT_TRUE(eventually([&] { return first1.log().find("holding the background lease") != std::string::npos; }, 20s))
        << first1.log();
    ASSERT_TRUE(standby1.start(daemon_argv(m(0)), (m(0).dir / "standby.log").string()));
    ASSERT_TRUE(only2.start(daemon_argv(m(1)), (m(1).dir / "daemon.log").string()));
    ASSERT_TRUE(only3.start(daemon_argv(m(2)), (m(2).dir / "daemon.log").string()));
    for (auto* d : {&only2, &only3}) {
        ASSERT_TRUE(eventually([&] { return d->log().find("holding the background lease") != std::string::npos; }, 20s))
            << "each machine's daemon leads its own loops:\n" << d->log();
    }
    ASSERT_TRUE(eventually([&] { return standby1.log().find("standing by") != std::string::npos; }, 20s)) << standby1.log();
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(standby1.log().find("holding the background lease"), std::string::npos) << "two leaders on m1";

    const auto killed = std::chrono::steady_clock::now();
    ::kill(first1.pid(), SIGKILL);  // no goodbye: the lease must run out by itself
    ASSERT_TRUE(eventually([&] { return standby1.log().find("holding the background lease") != std::string::npos; }, 15s))
        << standby1.log();
    const auto took = std::chrono::steady_clock::now() - killed;
    EXPECT_LT(took, 10s) << "within the lease time (3 intervals, at least 3 s) and a standby pass";
    EXPECT_TRUE(only2.running() && only3.running());
    EXPECT_EQ(only2.log().find("standing by"), std::string::npos) << "m2 never lost its own lease:\n" << only2.log();
    EXPECT_EQ(only3.log().find("standing by"), std::string::npos) << "m3 never lost its own lease:\n" << only3.log();
}

TEST_F(three_machines, a_project_spanning_two_machines_removes_from_one_a_name_the_other_serves) {
    ASSERT_EQ(tm(m(1), {"cname", "add", "far", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    ASSERT_TRUE(has_rule(m(1), "far.example.com"));
    // The admin may hand any name over (a project session only when projects.P.machines lists both:
    // the pipeline's own tests show that rule).
    auto handed = tm(m(0), {"cname", "rm", "far.example.com", "--json"});
    ASSERT_EQ(handed.exit_code, 0) << handed.err;
    auto out = parse(handed.out);
    ASSERT_TRUE(out.IsObject()) << handed.out;
    EXPECT_STREQ(out["handed_to"].GetString(), "m2") << "the answer says which machine removes it";
    EXPECT_EQ(records().count("far.example.com"), 1u) << "m1 does not touch m2's record";
    EXPECT_TRUE(has_rule(m(1), "far.example.com")) << "nor m2's rule";
    child_process daemon2;
    ASSERT_TRUE(daemon2.start(daemon_argv(m(1)), (m(1).dir / "daemon.log").string()));
    ASSERT_TRUE(eventually([&] { return records().count("far.example.com") == 0 && !has_rule(m(1), "far.example.com"); }, 30s))
        << "m2's daemon removes the name it was handed:\n" << daemon2.log();
    EXPECT_EQ(names_seen_from(m(2)).count("far.example.com"), 0u);
}

TEST_F(three_machines, postgres_going_away_under_load_loses_and_doubles_nothing) {
    std::atomic<bool> stop{false};
    std::mutex results_mutex;
    std::map<std::string, tunnelmgr::testing::process_result> adds;  // hostname → how its add ended
    auto load = [&](int i) {
        for (int n = 0; !stop.load(); ++n) {
            const std::string sub = "load-" + m(i).name + "-" + std::to_string(n);
            auto r = tm(m(i), {"cname", "add", sub, "--port", "3100", "--project", "alpha", "--json"});
            std::lock_guard<std::mutex> lock(results_mutex);
            adds[sub + ".example.com"] = r;
        }
    };
    std::thread a(load, 0), b(load, 1);
    std::this_thread::sleep_for(2s);
    pg_->stop();
    // One add surely made while it is away (the load's may all fall outside the gap on a busy machine).
    auto away = tm(m(2), {"cname", "add", "away", "--port", "3100", "--project", "alpha"});
    EXPECT_NE(away.exit_code, 0);
    EXPECT_NE(away.err.find("PostgreSQL"), std::string::npos) << "the refusal names the store that is away: " << away.err;
    {
        std::lock_guard<std::mutex> lock(results_mutex);
        adds["away.example.com"] = away;
    }
    std::this_thread::sleep_for(2s);
    pg_->start();
    std::this_thread::sleep_for(2s);
    stop = true;
    a.join();
    b.join();

    // Any start of tunnelmgr settles what an interrupted add left in its machine's journal.
    names_seen_from(m(0));
    names_seen_from(m(1));
    auto seen = names_seen_from(m(2));
    auto recs = records();
    int ok = 0, refused_away = 0;
    std::string failures;
    for (const auto& [host, r] : adds) {
        if (r.exit_code != 0) failures += host + " exit " + std::to_string(r.exit_code) + ": " + r.err + "\n";
        const bool published = seen.count(host) != 0U;
        const int at = host.find("-m1-") != std::string::npos ? 0 : host.find("-m2-") != std::string::npos ? 1 : 2;
        const machine& mm = m(at);
        const std::string owner = mm.name;
        EXPECT_LE(recs.count(host), 1u) << host << " has one record at most";
        if (r.exit_code == 0) {
            ++ok;
            EXPECT_TRUE(published) << host << " was reported added but is not in the state";
        } else if (r.err.find("(PostgreSQL) is unavailable") != std::string::npos ||
                   r.err.find("cannot open the state store (PostgreSQL)") != std::string::npos) {
            ++refused_away;
        }
        // Whatever the answer, the three places agree once the journal is settled: all or nothing.
        EXPECT_EQ(recs.count(host), published ? 1u : 0u) << host << ": " << r.err;
        EXPECT_EQ(has_rule(mm, host), published) << host << ": " << r.err;
        if (published) EXPECT_EQ(seen[host], owner);
    }
    EXPECT_GT(ok, 0) << "adds went through before and after the outage";
    EXPECT_GT(refused_away, 0) << "adds made while PostgreSQL was away were refused, saying so:\n" << failures;
    EXPECT_EQ(all_output_.find(pg_->password()), std::string::npos) << "the database password never shows";
}

// The daemon owns the machine: while PostgreSQL is away it keeps running and leading (cloudflared
// stays watched), changes sent through its API socket are refused saying why, and once the server
// is back the same daemon serves them again.
TEST_F(three_machines, a_daemon_outlives_postgres_going_away_and_refuses_changes_meanwhile) {
    const std::string sock = "/tmp/tm-3m-" + std::to_string(::getpid()) + ".sock";  // short: sun_path
    std::ofstream(m(0).dir / "config.yml", std::ios::app) << "api: { socket: " << sock << " }\n";
    child_process daemon;
    ASSERT_TRUE(daemon.start(daemon_argv(m(0)), (m(0).dir / "daemon.log").string()));
    ASSERT_TRUE(eventually([&] { return daemon.log().find("holding the background lease") != std::string::npos && fs::exists(sock); }, 20s))
        << daemon.log();
    auto before = tm(m(0), {"cname", "add", "before", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(before.exit_code, 0) << before.err;

    pg_->stop();
    std::this_thread::sleep_for(3s);  // three health intervals and lease renewals against no server
    auto away = tm(m(0), {"cname", "add", "away", "--port", "3100", "--project", "alpha"});
    EXPECT_NE(away.exit_code, 0);
    EXPECT_NE(away.err.find("(PostgreSQL) is unavailable"), std::string::npos) << away.err;
    EXPECT_TRUE(daemon.running()) << daemon.log();
    EXPECT_EQ(daemon.log().find("standing by"), std::string::npos) << "the leader kept the loops:\n" << daemon.log();
    EXPECT_EQ(records().count("away.example.com"), 0u) << "a refused add leaves no DNS record";
    EXPECT_FALSE(has_rule(m(0), "away.example.com")) << "nor a rule";

    pg_->start();
    ASSERT_TRUE(eventually([&] { return tm(m(0), {"cname", "add", "after", "--port", "3100", "--project", "alpha"}).exit_code == 0; }, 15s))
        << daemon.log();
    EXPECT_TRUE(daemon.running());
    auto seen = names_seen_from(m(1));
    EXPECT_EQ(seen.count("before.example.com"), 1u);
    EXPECT_EQ(seen.count("after.example.com"), 1u);
    EXPECT_EQ(seen.count("away.example.com"), 0u);
    EXPECT_EQ(daemon.log().find(pg_->password()), std::string::npos) << "the password never reaches the log";
    fs::remove(sock);
}

TEST_F(three_machines, state_copy_moves_a_sqlite_state_into_postgres_and_back_verified) {
    // A one-machine SQLite state with names, audit and health, as m1 had it before joining the others.
    const fs::path lite = dir_ / "lite";
    fs::create_directories(lite);
    const std::string cfg = slurp(m(0).dir / "config.yml");
    const std::string pg_line = cfg.substr(0, cfg.find('\n') + 1);
    std::string lite_cfg = cfg;
    lite_cfg.replace(0, pg_line.size(), "state: { plugin: sqlite-state, path: " + (lite / "state.db").string() + " }\n");
    std::ofstream(lite / "config.yml") << lite_cfg;
    machine lite_m;
    lite_m.name = "m1";
    lite_m.dir = lite;
    for (const std::string sub : {"one", "two", "three"}) {
        auto r = tm(lite_m, {"cname", "add", sub, "--port", "3101", "--project", "alpha"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    ASSERT_EQ(tm(lite_m, {"cname", "rm", "two.example.com"}).exit_code, 0);
    const std::string lite_audit = tm(lite_m, {"audit", "--json", "--limit", "1000"}).out;

    auto copied = tm(lite_m, {"state", "copy", "--to", (m(0).dir / "config.yml").string(), "--machine", "m1", "--json"});
    ASSERT_EQ(copied.exit_code, 0) << copied.err;
    auto report = parse(copied.out);
    ASSERT_TRUE(report.IsObject()) << copied.out;
    EXPECT_EQ(report["cnames"].GetInt64(), 2);
    EXPECT_TRUE(report["verified"].GetBool());
    EXPECT_GE(report["audit"].GetInt64(), 4);
    auto seen = names_seen_from(m(1));
    EXPECT_EQ(seen, (std::map<std::string, std::string>{{"one.example.com", "m1"}, {"three.example.com", "m1"}}));

    auto again = tm(lite_m, {"state", "copy", "--to", (m(0).dir / "config.yml").string()});
    EXPECT_EQ(again.exit_code, 4) << "a store that holds names is not copied into: " << again.err;
    EXPECT_NE(again.err.find("already holds 2 names"), std::string::npos) << again.err;

    // And back, into a new SQLite file: the same names and the same audit log.
    const fs::path back = dir_ / "back";
    fs::create_directories(back);
    std::string back_cfg = lite_cfg;
    back_cfg.replace(back_cfg.find((lite / "state.db").string()), (lite / "state.db").string().size(), (back / "state.db").string());
    std::ofstream(back / "config.yml") << back_cfg;
    auto home = tm(m(0), {"state", "copy", "--to", (back / "config.yml").string(), "--json"});
    ASSERT_EQ(home.exit_code, 0) << home.err;
    machine back_m;
    back_m.name = "m1";
    back_m.dir = back;
    auto back_names = names_seen_from(back_m);
    EXPECT_EQ(back_names.size(), 2u);
    EXPECT_EQ(back_names.count("one.example.com"), 1u);
    const std::string back_audit = tm(back_m, {"audit", "--json", "--limit", "1000"}).out;
    EXPECT_TRUE(parse(back_audit) == parse(lite_audit)) << "the audit log came back as it left:\n"
                                                          << lite_audit << "\n---\n" << back_audit;
}
