// Reconcile inside the daemon: the real `tunnelmgr daemon` (its lease, its loops, its API socket and
// its metrics server), the real plugins, a real SQLite file and the Cloudflare API fake over loopback.
// Drift made by other hands — a record deleted at Cloudflare, a rule deleted from the file — is found
// and repaired by the daemon on its own every reconcile.interval, audited as the daemon, counted per
// class in /metrics; `tunnelmgr reconcile` reaches the daemon's table through the socket, so a client
// that could not open the state still gets the report.
#include <gtest/gtest.h>


#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "process/child_process.hpp"
#include "process/run_process.hpp"
#include "process/test_files.hpp"

using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::run_process;
using tunnelmgr::testing::eventually;
using tunnelmgr::testing::slurp;
namespace fs = std::filesystem;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string cf_token = "fake-token-for-tests-reconcile-daemon-77c1";
const std::string tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";

class reconcile_daemon : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-recd-" + std::to_string(::getpid()) + "-" +
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
                                                << "ingress:\n  - hostname: www.example.com\n    service: http://localhost:80\n"
                                                << "  - service: http_status:404\n";
        socket_ = "/tmp/tm-recd-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_) + ".sock";
        metrics_port_ = tunnelmgr::testing::free_loopback_port();
    }
    void TearDown() override {
        daemon_.stop();
        fake_.reset();
        fs::remove(socket_);
        if (!HasFailure()) fs::remove_all(dir_);
    }

    // state_path: where this config says the state is (a client's may point nowhere).
    void write_config(const fs::path& file, const std::string& interval, const std::string& repair,
                      const fs::path& state_path) {
        std::ofstream(file, std::ios::trunc)
            << "state: { plugin: sqlite-state, path: " << state_path.string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id() << "\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: local, metrics: \"127.0.0.1:1\", "
            << "config_file: " << (dir_ / "cloudflared.yml").string() << ", backup_dir: " << (dir_ / "history").string() << " }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\" }\n"
            << "reconcile: { interval: " << interval << ", repair: " << repair << " }\n"
            << "metrics: { listen: \"127.0.0.1:" << metrics_port_ << "\" }\n"
            << "api: { socket: " << socket_ << " }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }

    tunnelmgr::testing::process_result tm(const fs::path& config, std::vector<std::string> args) {
        std::vector<std::string> argv{binary, "--config", config.string(), "--log-level", "info"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }

    void start_daemon() {
        ASSERT_TRUE(daemon_.start({binary, "--config", (dir_ / "config.yml").string(), "--log-level", "debug", "daemon"},
                                  (dir_ / "daemon.log").string()));
        ASSERT_TRUE(eventually([&] { return fs::exists(socket_) || !daemon_.running(); }, std::chrono::seconds(20)));
        ASSERT_TRUE(fs::exists(socket_)) << daemon_.log();
    }

    // Another hand at Cloudflare (the dashboard): every record deleted through the public API.
    void delete_all_records() {
        httplib::Client cf("127.0.0.1", fake_->port());
        for (const auto& r : fake_->records()) {
            auto del = cf.Delete(("/client/v4/zones/" + r.zone_id + "/dns_records/" + r.id).c_str(),
                                 httplib::Headers{{"Authorization", "Bearer " + cf_token}});
            ASSERT_TRUE(del && del->status == 200);
        }
    }

    std::string metrics() {
        httplib::Client c("127.0.0.1", metrics_port_);
        auto r = c.Get("/metrics");
        return r && r->status == 200 ? r->body : "";
    }
    // The value of one sample line `name{labels} value`, or -1 when absent.
    static double sample(const std::string& text, const std::string& series) {
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
        }
        return -1;
    }

    fs::path dir_;
    std::unique_ptr<cloudflare_fake> fake_;
    tunnelmgr::testing::child_process daemon_;
    std::string socket_;
    int metrics_port_ = 0;
    static inline int serial_ = 0;
};

}  // namespace

TEST_F(reconcile_daemon, the_daemon_finds_and_repairs_drift_by_itself_audits_it_and_counts_it_per_class) {
    write_config(dir_ / "config.yml", "1s", "repair", dir_ / "state.db");
    for (const char* sub : {"one", "two", "three"}) {
        auto r = tm(dir_ / "config.yml", {"cname", "add", sub, "--port", "3100", "--project", "alpha"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    start_daemon();

    // Other hands: one record deleted at Cloudflare, one of our rules deleted from the file.
    std::string zone = fake_->find_zone("example.com")->id;
    std::string one_id;
    for (const auto& r : fake_->records()) {
        if (r.name == "one.example.com") one_id = r.id;
    }
    ASSERT_FALSE(one_id.empty());
    httplib::Client cf("127.0.0.1", fake_->port());
    auto del = cf.Delete(("/client/v4/zones/" + zone + "/dns_records/" + one_id).c_str(),
                         httplib::Headers{{"Authorization", "Bearer " + cf_token}});
    ASSERT_TRUE(del && del->status == 200);
    std::string file = slurp(dir_ / "cloudflared.yml");
    auto at = file.find("  - hostname: two.example.com\n");
    ASSERT_NE(at, std::string::npos) << file;
    auto end = file.find("  - ", at + 4);
    file.erase(at, end - at);
    std::ofstream(dir_ / "cloudflared.yml", std::ios::trunc) << file;

    // No command is run: the daemon puts both back within a few intervals.
    auto record_back = [&] {
        for (const auto& r : fake_->records()) {
            if (r.name == "one.example.com" && r.comment == "tunnelmgr:alpha") return true;
        }
        return false;
    };
    auto rule_back = [&] { return slurp(dir_ / "cloudflared.yml").find("hostname: two.example.com") != std::string::npos; };
    EXPECT_TRUE(eventually([&] { return record_back() && rule_back(); }, std::chrono::seconds(20))) << daemon_.log();
    // The hand-written rule was left where it was.
    EXPECT_NE(slurp(dir_ / "cloudflared.yml").find("hostname: www.example.com"), std::string::npos);

    // Audited as the daemon, one row per repair, with its class (the row follows the file's write).
    std::map<std::string, std::string> repaired;  // hostname → class
    std::string out;
    eventually([&] {
        auto audit = tm(dir_ / "config.yml", {"audit", "--action", "reconcile.repair", "--json"});
        out = audit.out + audit.err;
        rapidjson::Document rows;
        rows.Parse(audit.out.c_str());
        repaired.clear();
        if (!rows.IsArray()) return false;
        for (const auto& row : rows.GetArray()) {
            const auto& details = row["details"];
            if (!details.IsObject() || !details.HasMember("class")) return false;
            EXPECT_STREQ(details["origin"].GetString(), "daemon") << audit.out;
            EXPECT_STREQ(row["result"].GetString(), "ok") << audit.out;
            repaired[row["target"].GetString()] = details["class"].GetString();
        }
        return repaired.size() >= 2;
    }, std::chrono::seconds(10));
    EXPECT_EQ(repaired, (std::map<std::string, std::string>{{"one.example.com", "record_missing"},
                                                            {"two.example.com", "rule_missing"}}))
        << out;

    // /metrics: every class shown; the repairs counted; the latest run clean again.
    std::string m;
    ASSERT_TRUE(eventually([&] {
        m = metrics();
        return sample(m, "tunnelmgr_reconcile_repairs_total{result=\"repaired\"}") >= 2 &&
               sample(m, "tunnelmgr_drift_findings{class=\"record_missing\"}") == 0;
    }, std::chrono::seconds(10))) << m;
    for (const char* cls : {"record_missing", "record_changed", "rule_missing", "rule_changed", "orphan_record",
                            "project_removed", "target_moved"}) {
        EXPECT_GE(sample(m, std::string("tunnelmgr_drift_findings{class=\"") + cls + "\"}"), 0) << cls << "\n" << m;
    }
    EXPECT_GE(sample(m, "tunnelmgr_reconcile_runs_total{result=\"clean\"}"), 1) << m;
    EXPECT_GT(sample(m, "tunnelmgr_reconcile_last_run_timestamp_seconds"), 1.7e9) << m;
}

TEST_F(reconcile_daemon, with_the_report_policy_the_daemon_counts_drift_and_changes_nothing) {
    write_config(dir_ / "config.yml", "1s", "report", dir_ / "state.db");
    auto r = tm(dir_ / "config.yml", {"cname", "add", "one", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    delete_all_records();
    start_daemon();
    std::string m;
    EXPECT_TRUE(eventually([&] {
        m = metrics();
        return sample(m, "tunnelmgr_drift_findings{class=\"record_missing\"}") == 1;
    }, std::chrono::seconds(15))) << m << daemon_.log();
    EXPECT_GE(sample(m, "tunnelmgr_reconcile_runs_total{result=\"drift\"}"), 1) << m;
    EXPECT_LE(sample(m, "tunnelmgr_reconcile_repairs_total{result=\"repaired\"}"), 0) << m;
    EXPECT_TRUE(fake_->records().empty()) << "report must not repair";
    EXPECT_NE(daemon_.log().find("drift: 1 record_missing"), std::string::npos) << daemon_.log();
}

TEST_F(reconcile_daemon, the_cli_reconciles_through_the_daemon_without_opening_the_state) {
    // interval off: only on demand.
    write_config(dir_ / "config.yml", "off", "repair", dir_ / "state.db");
    auto r = tm(dir_ / "config.yml", {"cname", "add", "one", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    delete_all_records();
    start_daemon();
    // A client whose config names a state it cannot open: only the daemon can answer.
    write_config(dir_ / "client.yml", "off", "repair", "/nonexistent/tm/state.db");
    auto dry = tm(dir_ / "client.yml", {"reconcile", "--dry-run", "--json"});
    EXPECT_EQ(dry.exit_code, 1) << dry.out << dry.err;
    rapidjson::Document d;
    d.Parse(dry.out.c_str());
    ASSERT_TRUE(d.IsObject()) << dry.out << dry.err;
    ASSERT_EQ(d["findings"].Size(), 1u) << dry.out;
    EXPECT_STREQ(d["findings"][0]["class"].GetString(), "record_missing");
    EXPECT_STREQ(d["findings"][0]["action"].GetString(), "would repair");
    EXPECT_TRUE(fake_->records().empty()) << "a dry run changes nothing";

    auto run = tm(dir_ / "client.yml", {"reconcile"});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("record_missing  one.example.com  [repaired]"), std::string::npos) << run.out;
    ASSERT_EQ(fake_->records().size(), 1u);
    // The daemon did it: the audit row records the API peer (this process's uid).
    auto audit = tm(dir_ / "config.yml", {"audit", "--action", "reconcile.repair", "--json"});
    EXPECT_NE(audit.out.find("peer_uid"), std::string::npos) << audit.out;
    // With the interval off, the daemon never reconciled by itself.
    EXPECT_EQ(daemon_.log().find("msg=\"drift:"), std::string::npos) << daemon_.log();
    EXPECT_EQ(daemon_.log().find("msg=\"no drift"), std::string::npos) << daemon_.log();
}

// Expiring names (`cname add --ttl`): the lease holder removes each one whose time has passed through
// the pipeline — rule, record and row — audited with the reason; the others stay.
TEST_F(reconcile_daemon, the_daemon_removes_expired_names_through_the_pipeline) {
    write_config(dir_ / "config.yml", "0", "report", dir_ / "state.db");
    std::ofstream(dir_ / "config.yml", std::ios::app) << "health: { interval: 1s }\n";
    const fs::path config = dir_ / "config.yml";
    ASSERT_EQ(tm(config, {"cname", "add", "brief", "--port", "3100", "--project", "alpha", "--ttl", "1m"}).exit_code, 0);
    ASSERT_EQ(tm(config, {"cname", "add", "later", "--port", "3101", "--project", "alpha", "--ttl", "2h"}).exit_code, 0);
    ASSERT_EQ(tm(config, {"cname", "add", "plain", "--port", "3102", "--project", "alpha"}).exit_code, 0);
    // A minute is long for a test: the row is made to have expired a second ago, as after a pause.
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    auto aged = run_process({"/usr/bin/sqlite3", (dir_ / "state.db").string(),
                             "UPDATE cnames SET expires_at = " + std::to_string(now - 1000) +
                                 " WHERE hostname = 'brief.example.com'"});
    ASSERT_EQ(aged.exit_code, 0) << aged.err;
    start_daemon();

    auto hosts = [&] {
        std::set<std::string> out;
        auto r = tm(config, {"cname", "ls", "--json"});
        rapidjson::Document d;
        d.Parse(r.out.c_str());
        if (d.IsArray()) {
            for (const auto& row : d.GetArray()) out.insert(row["hostname"].GetString());
        }
        return out;
    };
    ASSERT_TRUE(eventually([&] { return hosts().count("brief.example.com") == 0; }, std::chrono::seconds(30))) << daemon_.log();
    EXPECT_EQ(hosts(), (std::set<std::string>{"later.example.com", "plain.example.com"}));
    std::set<std::string> records;
    for (const auto& r : fake_->records()) records.insert(r.name);
    EXPECT_EQ(records.count("brief.example.com"), 0U);
    EXPECT_EQ(records.count("later.example.com"), 1U);
    const std::string yml = slurp(dir_ / "cloudflared.yml");
    EXPECT_EQ(yml.find("brief.example.com"), std::string::npos) << yml;
    EXPECT_NE(yml.find("later.example.com"), std::string::npos) << yml;

    auto audit = tm(config, {"audit", "--action", "cname.delete", "--json"});
    ASSERT_EQ(audit.exit_code, 0) << audit.err;
    rapidjson::Document rows;
    rows.Parse(audit.out.c_str());
    ASSERT_TRUE(rows.IsArray() && rows.Size() == 1U) << audit.out;
    EXPECT_STREQ(rows[0]["target"].GetString(), "brief.example.com");
    EXPECT_STREQ(rows[0]["result"].GetString(), "ok");
    EXPECT_NE(audit.out.find("expired"), std::string::npos) << audit.out;
    EXPECT_NE(audit.out.find("expiry"), std::string::npos) << "the origin says who removed it: " << audit.out;
    EXPECT_NE(daemon_.log().find("brief.example.com (project alpha) expired and was removed"), std::string::npos);
    // And the metrics count it: one name removed at its time, none that could not go.
    std::string m;
    EXPECT_TRUE(eventually([&] { m = metrics(); return sample(m, "tunnelmgr_expired_total") == 1; },
                           std::chrono::seconds(10))) << m;
    EXPECT_EQ(sample(m, "tunnelmgr_expiry_failures_total"), 0) << m;
}
