// The CNAME lifecycle end to end: the real tunnelmgr binary and plugins, a real SQLite file, the
// Cloudflare API fake over loopback HTTP, a real cloudflared config file. DNS, ingress file and
// database must agree after every run — including runs SIGKILLed right after each pipeline step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "process/run_process.hpp"

using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::run_process;
namespace fs = std::filesystem;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string token = "fake-token-for-tests-9f3b2c";  // obviously fake, long enough to search for
const std::string tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";
const char* ingress_seed = R"(# cloudflared config (the operator's comment must survive)
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: /etc/cloudflared/6ff42ae2.json
ingress:
  - hostname: www.example.com
    service: http://localhost:80
  - service: http_status:404
)";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

rapidjson::Document parse(const std::string& s) {
    rapidjson::Document d;
    d.Parse(s.c_str());
    return d;
}

class cname_lifecycle : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-cname-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        cloudflare_fake::options o;
        o.tokens = {token};
        o.zones = {"example.com", "example.org"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(dir_ / "token") << token << "\n";
        std::ofstream(dir_ / "cloudflared.yml") << ingress_seed;
        write_config();
    }
    void TearDown() override {
        fake_.reset();
        if (!HasFailure()) fs::remove_all(dir_);
    }

    void write_config(const std::string& extra = "") {
        std::ofstream(dir_ / "config.yml", std::ios::trunc)
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id()
            << "\n  max_retries: 3\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: local, config_file: " << (dir_ / "cloudflared.yml").string()
            << ", backup_dir: " << (dir_ / "history").string() << " }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\", domains: [example.com, unknown.net] }\n"
            << "  beta: { ports: \"4100-4199\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n"
            << extra;
    }

    tunnelmgr::testing::process_result tm(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
        std::vector<std::string> argv{binary, "--config", (dir_ / "config.yml").string()};
        if (std::find(args.begin(), args.end(), "--log-level") == args.end()) argv.insert(argv.end(), {"--log-level", "info"});
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_process(argv, env);
        std::lock_guard<std::mutex> lock(stderr_mutex_);
        all_stderr_ += r.err;
        return r;
    }

    // tunnel.cloudflared_bin: the binary that judges every version of the ingress file.
    void use_judge(const std::string& bin) {
        write_config();
        std::string cfg = slurp(dir_ / "config.yml");
        cfg.replace(cfg.find("ingress: local, "), 16, "ingress: local, cloudflared_bin: \"" + bin + "\", ");
        std::ofstream(dir_ / "config.yml", std::ios::trunc) << cfg;
    }
    // A judge that refuses, with cloudflared's words, any version of the file holding `text`.
    void use_refusing_judge(const std::string& text) {
        const fs::path stub = dir_ / "cloudflared-refuses";
        std::ofstream(stub) << "#!/bin/sh\n"
                               "if grep -q '" << text << "' \"$4\"; then\n"
                               "  echo 'Validation failed: the stub refuses " << text << "' >&2; exit 1\n"
                               "fi\n"
                               "exit 0\n";
        fs::permissions(stub, fs::perms::owner_all);
        use_judge(stub.string());
    }
    // The real cloudflared ($TM_CLOUDFLARED, or ../shared/tools/cloudflared beside the project); "" when absent.
    static std::string real_cloudflared() {
        if (const char* e = std::getenv("TM_CLOUDFLARED"); e != nullptr && *e != '\0') {
            return ::access(e, X_OK) == 0 ? e : "";  // set to nothing runnable: the real one is skipped
        }
        fs::path beside = fs::path(TM_TEST_SOURCE_DIR) / ".." / "shared" / "tools" / "cloudflared" / "cloudflared";
        return fs::exists(beside) ? beside.lexically_normal().string() : "";
    }
    // The row of `host` as `cname ls --json` shows it (a null document when it is not there).
    rapidjson::Document row_of(const std::string& host) {
        auto r = tm({"cname", "ls", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        auto d = parse(r.out);
        rapidjson::Document out;
        if (!d.IsArray()) return out;
        for (auto& row : d.GetArray()) {
            if (std::string(row["hostname"].GetString()) == host) out.CopyFrom(row, out.GetAllocator());
        }
        return out;
    }

    // Our CNAMEs in the fake, by name.
    std::map<std::string, tunnelmgr::testing::fake_dns_record> dns() {
        std::map<std::string, tunnelmgr::testing::fake_dns_record> out;
        for (const auto& r : fake_->records()) {
            if (r.type == "CNAME" && r.comment && r.comment->rfind("tunnelmgr:", 0) == 0) out[r.name] = r;
        }
        return out;
    }
    std::set<std::string> ingress_hosts() {
        std::set<std::string> out;
        std::istringstream in(slurp(dir_ / "cloudflared.yml"));
        std::string line;
        while (std::getline(in, line)) {
            auto p = line.find("hostname: ");
            if (p != std::string::npos) out.insert(line.substr(p + 10));
        }
        out.erase("www.example.com");
        return out;
    }
    std::set<std::string> db_hosts() {
        auto r = tm({"cname", "ls", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        std::set<std::string> out;
        auto d = parse(r.out);
        if (d.IsArray()) {
            for (const auto& row : d.GetArray()) out.insert(row["hostname"].GetString());
        }
        return out;
    }
    int64_t unfinished_operations() {
        auto r = tm({"state", "--json"});
        auto d = parse(r.out);
        return d.IsObject() && d.HasMember("operations_unfinished") ? d["operations_unfinished"].GetInt64() : -1;
    }
    // DNS, ingress and database name the same hosts, and nothing is left mid-way.
    std::set<std::string> consistent_hosts() {
        auto in_db = db_hosts();  // first: any start of tunnelmgr settles what a crash left
        std::set<std::string> in_dns;
        for (const auto& [name, rec] : dns()) {
            in_dns.insert(name);
            EXPECT_EQ(rec.content, tunnel_id + ".cfargotunnel.com");
            EXPECT_TRUE(rec.proxied);
            EXPECT_TRUE(rec.comment && rec.comment->rfind("tunnelmgr:", 0) == 0);
        }
        EXPECT_EQ(in_dns, in_db);
        EXPECT_EQ(ingress_hosts(), in_db);
        EXPECT_EQ(unfinished_operations(), 0);
        auto validate = slurp(dir_ / "cloudflared.yml");
        EXPECT_NE(validate.find("# cloudflared config (the operator's comment must survive)"), std::string::npos);
        EXPECT_NE(validate.find("  - service: http_status:404"), std::string::npos);
        return in_db;
    }

    fs::path dir_;  // one folder per test (parameterised names hold a '/', which is fine: a subfolder)
    std::unique_ptr<cloudflare_fake> fake_;
    std::mutex stderr_mutex_;
    std::string all_stderr_;
};

}  // namespace

TEST_F(cname_lifecycle, create_list_delete_round_trip) {
    auto add = tm({"cname", "add", "App", "--port", "3100", "--project", "alpha", "--json"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    auto d = parse(add.out);
    EXPECT_STREQ(d["hostname"].GetString(), "app.example.com");
    EXPECT_STREQ(d["url"].GetString(), "https://app.example.com");
    EXPECT_STREQ(d["ingress_target"].GetString(), "http://localhost:3100");
    EXPECT_NE(std::string(d["apply"].GetString()).find("restart cloudflared by hand"), std::string::npos);
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"app.example.com"});
    auto rec = dns()["app.example.com"];
    EXPECT_EQ(rec.comment.value_or(""), "tunnelmgr:alpha");
    EXPECT_EQ(rec.ttl, 1);

    auto rm = tm({"cname", "rm", "app.example.com"});
    ASSERT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{});
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), ingress_seed);

    auto audit = tm({"audit", "--json"});
    auto a = parse(audit.out);
    ASSERT_TRUE(a.IsArray());
    ASSERT_GE(a.Size(), 2u);
    EXPECT_STREQ(a[0]["action"].GetString(), "cname.delete");
    EXPECT_STREQ(a[0]["result"].GetString(), "ok");
    EXPECT_STREQ(a[1]["action"].GetString(), "cname.create");
    EXPECT_STREQ(a[1]["target"].GetString(), "app.example.com");
    // The git backup holds both versions.
    EXPECT_TRUE(fs::exists(dir_ / "history" / ".git"));
}

TEST_F(cname_lifecycle, domains_are_discovered_from_the_account) {
    auto r = tm({"domains", "--refresh", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto d = parse(r.out);
    ASSERT_TRUE(d.IsArray());
    ASSERT_EQ(d.Size(), 2u);
    EXPECT_STREQ(d[0]["name"].GetString(), "example.com");
    EXPECT_STREQ(d[1]["name"].GetString(), "example.org");
}

struct bad_request {
    std::vector<std::string> args;
    const char* says;
};

TEST_F(cname_lifecycle, bad_input_is_refused_with_a_sentence_and_changes_nothing) {
    ASSERT_TRUE(fake_->add_foreign_record("example.com", {"", "", "", "CNAME", "taken.example.com", "elsewhere.example.net",
                                                          true, 1, std::nullopt, "", ""}));
    ASSERT_EQ(tm({"cname", "add", "mine", "--port", "4100", "--project", "beta"}).exit_code, 0);
    auto before_ingress = slurp(dir_ / "cloudflared.yml");
    auto before_dns = fake_->records().size();
    auto posts_before = fake_->request_count_prefix("POST", "/zones/");
    std::vector<bad_request> cases = {
        {{"a.b", "--port", "3100"}, "has dots"},
        {{"*", "--port", "3100"}, "wildcard"},
        {{"-app", "--port", "3100"}, "starts or ends with '-'"},
        {{"caf\xc3\xa9", "--port", "3100"}, "non-ASCII"},
        {{std::string(64, 'x'), "--port", "3100"}, "at most 63"},
        {{"app", "--port", "0"}, "not a TCP port"},
        {{"app", "--port", "65536"}, "not a TCP port"},
        {{"app", "--port", "4100"}, "not among the ports of project 'alpha'"},
        {{"app", "--port", "3100", "--domain", "unknown.net"}, "is not a zone of this Cloudflare account"},
        {{"app", "--port", "3100", "--domain", "example.org"},
         "project 'alpha' may publish only in example.com and unknown.net (projects.alpha.domains); asked for example.org"},
        {{"mine", "--port", "3101"}, "is already published (project 'beta'"},
        {{"taken", "--port", "3101"}, "tunnelmgr does not own it"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> args{"cname", "add"};
        args.insert(args.end(), c.args.begin() + 1, c.args.end());
        args.insert(args.end(), {"--project", "alpha", "--", c.args[0]});  // "--": a name like -app is not an option
        auto r = tm(args);
        EXPECT_EQ(r.exit_code, 4) << c.args[0] << ": " << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args[0] << ": " << r.err;
        EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), before_ingress) << c.args[0];
        EXPECT_EQ(fake_->records().size(), before_dns) << c.args[0];
    }
    EXPECT_EQ(fake_->request_count_prefix("POST", "/zones/"), posts_before) << "no record was even attempted";
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"mine.example.com"});
    // The foreign record is untouched.
    bool still_there = false;
    for (const auto& r : fake_->records()) still_there = still_there || (r.name == "taken.example.com" && r.content == "elsewhere.example.net");
    EXPECT_TRUE(still_there);
    // Every refusal is audited.
    auto a = parse(tm({"audit", "--action", "cname.create", "--json"}).out);
    size_t refused = 0;
    for (const auto& row : a.GetArray()) refused += std::string(row["result"].GetString()) != "ok" ? 1 : 0;
    EXPECT_EQ(refused, cases.size());
}

TEST_F(cname_lifecycle, a_malformed_cloudflared_config_is_refused_and_left_untouched) {
    const std::string broken = "ingress:\n  - hostname: a.example.com\n    service: http://a:1\n";  // no catch-all
    std::ofstream(dir_ / "cloudflared.yml", std::ios::trunc) << broken;
    auto posts_before = fake_->request_count_prefix("POST", "/zones/");
    auto r = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("last ingress rule must match all"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), broken);
    EXPECT_TRUE(dns().empty());
    // The file is checked first: no public record is made only to be removed again.
    EXPECT_EQ(fake_->request_count_prefix("POST", "/zones/"), posts_before) << "no record was even attempted";
    EXPECT_EQ(db_hosts(), std::set<std::string>{});
    EXPECT_EQ(unfinished_operations(), 0);
}

TEST_F(cname_lifecycle, transient_api_errors_are_retried_and_persistent_ones_leave_nothing) {
    tunnelmgr::testing::fault_rule f;
    f.method = "POST";
    f.path_prefix = "/zones/";
    f.status = 429;
    f.retry_after_seconds = 1;
    fake_->inject_fault(f);
    auto ok = tm({"cname", "add", "retry", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(fake_->pending_faults(), 0u);

    f.status = 500;
    f.count = 50;  // more than the retries
    f.method = "POST";
    fake_->inject_fault(f);
    auto bad = tm({"cname", "add", "down", "--port", "3101", "--project", "alpha"});
    EXPECT_EQ(bad.exit_code, 5) << bad.err;
    EXPECT_NE(bad.err.find("cannot create the DNS record for down.example.com"), std::string::npos) << bad.err;
    fake_->clear_faults();
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"retry.example.com"});
}

TEST_F(cname_lifecycle, the_token_never_appears_in_logs_audit_or_database) {
    ASSERT_EQ(tm({"--log-level", "trace", "cname", "add", "app", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    ASSERT_EQ(tm({"--log-level", "trace", "cname", "rm", "app.example.com"}).exit_code, 0);
    tm({"cname", "add", "bad_name", "--port", "3100", "--project", "alpha"});
    EXPECT_NE(all_stderr_.find("cloudflare"), std::string::npos) << "the trace logs did talk about the API";
    EXPECT_EQ(all_stderr_.find(token), std::string::npos);
    EXPECT_EQ(tm({"audit", "--json", "--limit", "1000"}).out.find(token), std::string::npos);
    for (const auto& e : fs::directory_iterator(dir_)) {
        if (e.path().filename().string().rfind("state.db", 0) == 0) {
            EXPECT_EQ(slurp(e.path()).find(token), std::string::npos) << e.path();
        }
    }
    EXPECT_EQ(fake_->last_authorization(), "Bearer " + token) << "the token was sent where it belongs";
}

// Kill points: SIGKILL right after each step is durable; the next start settles it.
class crash_after : public cname_lifecycle, public ::testing::WithParamInterface<const char*> {};

TEST_P(crash_after, create_then_restart_leaves_dns_ingress_and_db_in_agreement) {
    std::string step = GetParam();
    auto r = tm({"cname", "add", "crash", "--port", "3100", "--project", "alpha"},
                {{"TUNNELMGR_TEST_CRASH_AFTER", "create:" + step}});
    ASSERT_EQ(r.signal, SIGKILL) << "it should have died after " << step << ": " << r.err;
    // Any next start recovers before doing anything; `cname ls` is enough.
    auto hosts = consistent_hosts();
    bool kept = step == "applied" || step == "committed";
    EXPECT_EQ(hosts, kept ? std::set<std::string>{"crash.example.com"} : std::set<std::string>{}) << step;
    // And the name works normally afterwards.
    if (!kept) ASSERT_EQ(tm({"cname", "add", "crash", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    ASSERT_EQ(tm({"cname", "rm", "crash.example.com"}).exit_code, 0);
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{});
}

TEST_P(crash_after, delete_then_restart_finishes_the_delete) {
    std::string step = GetParam();
    const std::map<std::string, std::string> delete_step{{"validated", "validated"},
                                                         {"dns_created", "ingress_removed"},
                                                         {"ingress_written", "applied"},
                                                         {"applied", "dns_deleted"},
                                                         {"committed", "committed"}};
    ASSERT_EQ(tm({"cname", "add", "gone", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    auto r = tm({"cname", "rm", "gone.example.com"}, {{"TUNNELMGR_TEST_CRASH_AFTER", "delete:" + delete_step.at(step)}});
    ASSERT_EQ(r.signal, SIGKILL) << r.err;
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{}) << step;
}

INSTANTIATE_TEST_SUITE_P(every_step, crash_after,
                         ::testing::Values("validated", "dns_created", "ingress_written", "applied", "committed"));

TEST_F(cname_lifecycle, concurrent_processes_never_duplicate_or_lose_a_name) {
    constexpr int distinct = 6;
    std::vector<std::thread> threads;
    std::vector<tunnelmgr::testing::process_result> results(distinct + 4);
    for (int i = 0; i < distinct; ++i) {
        threads.emplace_back([&, i] {
            results[static_cast<size_t>(i)] =
                tm({"cname", "add", "n" + std::to_string(i), "--port", std::to_string(3100 + i), "--project", "alpha"});
        });
    }
    for (int i = 0; i < 4; ++i) {  // four processes race for the same name
        threads.emplace_back([&, i] {
            results[static_cast<size_t>(distinct + i)] =
                tm({"cname", "add", "same", "--port", std::to_string(3150 + i), "--project", "alpha"});
        });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < distinct; ++i) EXPECT_EQ(results[static_cast<size_t>(i)].exit_code, 0) << results[static_cast<size_t>(i)].err;
    int winners = 0;
    for (int i = 0; i < 4; ++i) {
        const auto& r = results[static_cast<size_t>(distinct + i)];
        if (r.exit_code == 0) {
            ++winners;
        } else {
            EXPECT_EQ(r.exit_code, 4) << r.err;  // refused cleanly: in progress, or already published
        }
    }
    EXPECT_EQ(winners, 1);
    auto hosts = consistent_hosts();
    EXPECT_EQ(hosts.size(), static_cast<size_t>(distinct + 1));
    EXPECT_EQ(dns().size(), static_cast<size_t>(distinct + 1)) << "no duplicate record";

    // Now delete them all at once.
    threads.clear();
    for (const auto& h : hosts) {
        threads.emplace_back([&, h] {
            auto r = tm({"cname", "rm", h});
            EXPECT_EQ(r.exit_code, 0) << h << ": " << r.err;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{});
}

TEST_F(cname_lifecycle, remote_ingress_puts_the_whole_ingress_to_the_api) {
    // A remotely-managed tunnel: no config.yml is touched; the ingress goes to the Cloudflare API.
    std::string cfg = slurp(dir_ / "config.yml");
    auto at = cfg.find("ingress: local");
    ASSERT_NE(at, std::string::npos);
    cfg.replace(at, 14, "ingress: remote");
    std::ofstream(dir_ / "config.yml", std::ios::trunc) << cfg;
    auto add = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha", "--json"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    EXPECT_NE(parse(add.out)["apply"].GetString(), std::string()) ;
    auto conf = fake_->tunnel_configuration(tunnel_id);
    ASSERT_TRUE(conf);
    auto c = parse(conf->config_json);
    ASSERT_TRUE(c.IsObject()) << conf->config_json;
    ASSERT_EQ(c["ingress"].Size(), 2u) << conf->config_json;
    EXPECT_STREQ(c["ingress"][0]["hostname"].GetString(), "app.example.com");
    EXPECT_STREQ(c["ingress"][0]["service"].GetString(), "http://localhost:3100");
    EXPECT_STREQ(c["ingress"][1]["service"].GetString(), "http_status:404");
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), ingress_seed) << "the local file is not ours in remote mode";
    ASSERT_EQ(dns().size(), 1u);
    ASSERT_EQ(tm({"cname", "rm", "app.example.com"}).exit_code, 0);
    auto after = parse(fake_->tunnel_configuration(tunnel_id)->config_json);
    ASSERT_EQ(after["ingress"].Size(), 1u);
    EXPECT_TRUE(dns().empty());
    EXPECT_GE(fake_->tunnel_configuration(tunnel_id)->version, 2);
}

TEST_F(cname_lifecycle, remote_mode_refuses_a_name_an_earlier_wildcard_rule_would_catch_and_leaves_nothing) {
    std::string cfg = slurp(dir_ / "config.yml");
    auto at = cfg.find("ingress: local");
    ASSERT_NE(at, std::string::npos);
    cfg.replace(at, 14, "ingress: remote");
    std::ofstream(dir_ / "config.yml", std::ios::trunc) << cfg;
    // The operator's remote configuration already sends every *.example.com name elsewhere (set through
    // the fake's own API, as the dashboard would).
    const std::string body =
        R"({"config":{"ingress":[{"hostname":"*.example.com","service":"http://localhost:8080"},{"service":"http_status:404"}]}})";
    std::ofstream(dir_ / "put.json") << body;
    const std::string put = "curl -sf --noproxy '*' -X PUT -H 'Authorization: Bearer " + std::string(token) +
                            "' -H 'Content-Type: application/json' --data @" + (dir_ / "put.json").string() + " " +
                            fake_->base_url() + "/accounts/" + fake_->account_id() + "/cfd_tunnel/" + tunnel_id +
                            "/configurations > /dev/null";
    ASSERT_EQ(std::system(put.c_str()), 0) << put;
    auto before = fake_->tunnel_configuration(tunnel_id);
    ASSERT_TRUE(before);

    auto add = tm({"cname", "add", "shadow", "--port", "3100", "--project", "alpha"});
    EXPECT_EQ(add.exit_code, 4) << add.err;
    EXPECT_NE(add.err.find("rule #0 (`*.example.com` → http://localhost:8080) comes first"), std::string::npos) << add.err;
    EXPECT_EQ(fake_->tunnel_configuration(tunnel_id)->config_json, before->config_json) << "the remote ingress changed";
    EXPECT_TRUE(dns().empty()) << "a DNS record was left behind";
    EXPECT_TRUE(consistent_hosts().empty());
}

// A dry run says what the add would meet in the ingress: the operator's rule for the very name, or an
// earlier rule that would catch it first. Nothing is made either way.
TEST_F(cname_lifecycle, cname_check_names_the_rule_that_would_refuse_or_shadow_the_name) {
    auto www = tm({"cname", "check", "www", "--port", "3100", "--project", "alpha", "--json"});
    EXPECT_EQ(www.exit_code, 4) << www.err;
    EXPECT_NE(www.out.find("\"available\": false"), std::string::npos) << www.out;
    EXPECT_NE(www.out.find("already routes www.example.com to http://localhost:80"), std::string::npos) << www.out;
    auto free_name = tm({"cname", "check", "app", "--port", "3100", "--project", "alpha", "--json"});
    EXPECT_EQ(free_name.exit_code, 0) << free_name.out << free_name.err;

    const fs::path yml = dir_ / "cloudflared.yml";
    std::string text = slurp(yml);
    const std::string catch_all = "  - service: http_status:404\n";
    text.replace(text.find(catch_all), 0, "  - hostname: \"*.example.com\"\n    service: http://localhost:8080\n");
    std::ofstream(yml, std::ios::trunc) << text;
    auto shadowed = tm({"cname", "check", "app", "--port", "3100", "--project", "alpha", "--json"});
    EXPECT_EQ(shadowed.exit_code, 4) << shadowed.err;
    EXPECT_NE(shadowed.out.find("comes first and matches it"), std::string::npos) << shadowed.out;
    EXPECT_EQ(slurp(yml), text);
    EXPECT_TRUE(dns().empty());
}

TEST_F(cname_lifecycle, escape_sequences_a_client_sends_never_reach_the_operators_terminal) {
    const std::string evil = "\x1b[2J\x1b[Hevil";
    // A name with control characters is refused by the argument schema, quoted inert.
    auto named = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha", "--domain", evil + ".com"});
    EXPECT_EQ(named.exit_code, 4) << named.err;
    EXPECT_EQ(named.err.find('\x1b'), std::string::npos) << "stderr carries an escape sequence";
    EXPECT_NE(named.err.find("does not have the expected form"), std::string::npos) << named.err;
    // Text the schema lets through (a project name) reaches the core's sentences and the audit.
    auto add = tm({"cname", "add", "app", "--port", "3100", "--project", evil});
    EXPECT_EQ(add.exit_code, 4) << add.err;
    EXPECT_EQ(add.err.find('\x1b'), std::string::npos) << "stderr carries an escape sequence";
    EXPECT_NE(add.err.find("\\x1b[2J\\x1b[Hevil"), std::string::npos) << add.err;
    // The refusal is audited with the text as given; the table the operator reads shows it, inert.
    auto audit = tm({"audit", "--action", "cname.create"});
    ASSERT_EQ(audit.exit_code, 0) << audit.err;
    EXPECT_EQ(audit.out.find('\x1b'), std::string::npos) << "the audit table carries an escape sequence";
    EXPECT_NE(audit.out.find("\\x1b[2J"), std::string::npos) << audit.out;
}

// tunnel.cloudflared_bin: cloudflared judges the candidate file before it is written. A refusal that
// comes after the DNS step (the candidate, not the file as it was) is rolled back: no record, no row,
// the file byte for byte as it was. A stub stands in for the refusal: the real cloudflared refuses no
// rule the pipeline writes (its targets are always http://NAME:PORT with a valid name), so nothing
// real gets this far. Where the real one is installed, the next test has it judge real changes.
TEST_F(cname_lifecycle, a_change_cloudflared_refuses_is_rolled_back_and_the_file_left_untouched) {
    use_refusing_judge("refused.example.com");
    auto posts_before = fake_->request_count_prefix("POST", "/zones/");
    auto r = tm({"cname", "add", "refused", "--port", "3100", "--project", "alpha"});
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("Validation failed: the stub refuses refused.example.com"), std::string::npos) << r.err;
    EXPECT_EQ(fake_->request_count_prefix("POST", "/zones/"), posts_before + 1) << "the refusal came after the DNS step";
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), ingress_seed);
    EXPECT_TRUE(dns().empty()) << "the record was not rolled back";
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{});
    // Names it does not refuse go through the same judge.
    ASSERT_EQ(tm({"cname", "add", "fine", "--port", "3101", "--project", "alpha"}).exit_code, 0);
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"fine.example.com"});
    ASSERT_EQ(tm({"cname", "rm", "fine.example.com"}).exit_code, 0);
}

// A hand-written rule the built-in checks let through and cloudflared cannot load: refused by the
// check before the DNS step, so no record is made only to be removed again.
TEST_F(cname_lifecycle, the_real_cloudflared_judges_each_change_and_refuses_a_file_it_cannot_load_before_any_record) {
    const std::string real = real_cloudflared();
    if (real.empty()) GTEST_SKIP() << "the real cloudflared is not on this machine (../shared/tools/cloudflared): its part skipped";
    use_judge(real);
    ASSERT_EQ(tm({"cname", "add", "judged", "--port", "3102", "--project", "alpha"}).exit_code, 0);
    ASSERT_EQ(tm({"cname", "rm", "judged.example.com"}).exit_code, 0);
    // A hand-written duration cloudflared cannot parse: refused before any record is made.
    std::string hand = ingress_seed;
    hand.insert(hand.find("  - service: http_status:404"), "    originRequest:\n      connectTimeout: soon\n");
    std::ofstream(dir_ / "cloudflared.yml", std::ios::trunc) << hand;
    auto posts_before = fake_->request_count_prefix("POST", "/zones/");
    auto bad = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("cloudflared refuses it"), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("cannot unmarshal !!str `soon` into time.Duration"), std::string::npos) << bad.err;
    EXPECT_EQ(fake_->request_count_prefix("POST", "/zones/"), posts_before) << "no record was even attempted";
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), hand);
    EXPECT_TRUE(dns().empty());
    EXPECT_EQ(db_hosts(), std::set<std::string>{});
}

// --- retarget, expiring names, origin settings (plugin API 1.3) -----------------------------------

// The rule of `host` in a config.yml's text: from its `- hostname:` line to the next `- ` line.
std::string rule_text(const std::string& yml, const std::string& host) {
    auto at = yml.find("- hostname: " + host + "\n");
    if (at == std::string::npos) return "";
    auto next = yml.find("  - ", at + 1);
    return yml.substr(at, next == std::string::npos ? std::string::npos : next - at);
}

TEST_F(cname_lifecycle, retarget_moves_the_rule_in_place_keeps_the_record_and_is_audited) {
    auto added = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha", "--ttl", "2h", "--origin",
                     "connectTimeout=10s", "--origin", "httpHostHeader=app.internal"});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    EXPECT_NE(added.out.find("expires in 1h 59m"), std::string::npos) << added.out;
    ASSERT_EQ(tm({"cname", "add", "later", "--port", "3101", "--project", "alpha"}).exit_code, 0);
    const std::string record = dns().at("app.example.com").id;
    auto before = row_of("app.example.com");
    ASSERT_TRUE(before.IsObject());
    EXPECT_EQ(rule_text(slurp(dir_ / "cloudflared.yml"), "app.example.com"),
              "- hostname: app.example.com\n    service: http://localhost:3100\n    originRequest:\n"
              "      connectTimeout: 10s\n      httpHostHeader: \"app.internal\"\n");
    auto ls = tm({"cname", "ls"});
    EXPECT_NE(ls.out.find("EXPIRES"), std::string::npos) << ls.out;
    EXPECT_NE(ls.out.find("in 1h 59m"), std::string::npos) << ls.out;

    auto moved = tm({"cname", "retarget", "app.example.com", "--port", "3105", "--json"});
    ASSERT_EQ(moved.exit_code, 0) << moved.err;
    auto answer = parse(moved.out);
    EXPECT_TRUE(answer["changed"].GetBool());
    EXPECT_EQ(std::string(answer["previous_target"].GetString()), "http://localhost:3100");
    const std::string yml = slurp(dir_ / "cloudflared.yml");
    EXPECT_EQ(rule_text(yml, "app.example.com"),
              "- hostname: app.example.com\n    service: http://localhost:3105\n    originRequest:\n"
              "      connectTimeout: 10s\n      httpHostHeader: \"app.internal\"\n");
    EXPECT_LT(yml.find("app.example.com"), yml.find("later.example.com")) << "the rule stays where it was:\n" << yml;
    EXPECT_EQ(dns().at("app.example.com").id, record) << "no DNS change";
    auto after = row_of("app.example.com");
    EXPECT_EQ(after["port"].GetInt64(), 3105);
    EXPECT_EQ(after["id"].GetInt64(), before["id"].GetInt64());
    EXPECT_EQ(after["created_at"].GetInt64(), before["created_at"].GetInt64());
    EXPECT_EQ(after["expires_at"].GetInt64(), before["expires_at"].GetInt64());
    EXPECT_EQ(consistent_hosts(), (std::set<std::string>{"app.example.com", "later.example.com"}));

    // The admin's own URL; then the settings dropped.
    ASSERT_EQ(tm({"cname", "retarget", "app.example.com", "--target", "http://10.1.2.3:8080"}).exit_code, 0);
    EXPECT_EQ(std::string(row_of("app.example.com")["target_type"].GetString()), "url");
    auto cleared = tm({"cname", "retarget", "app.example.com", "--origin-clear"});
    ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
    EXPECT_EQ(rule_text(slurp(dir_ / "cloudflared.yml"), "app.example.com"),
              "- hostname: app.example.com\n    service: http://10.1.2.3:8080\n");
    EXPECT_FALSE(row_of("app.example.com").HasMember("origin_request"));
    auto same = tm({"cname", "retarget", "app.example.com", "--target", "http://10.1.2.3:8080"});
    EXPECT_EQ(same.exit_code, 0);
    EXPECT_NE(same.out.find("nothing to change"), std::string::npos) << same.out;

    auto audit = tm({"audit", "--action", "cname.retarget", "--json"});
    ASSERT_EQ(audit.exit_code, 0) << audit.err;
    auto rows = parse(audit.out);
    ASSERT_TRUE(rows.IsArray());
    ASSERT_EQ(rows.Size(), 3U) << audit.out;  // port, URL, settings; "nothing to change" is no change
    EXPECT_NE(audit.out.find("\"from\":\"http://localhost:3100\""), std::string::npos) << audit.out;

    // Refusals change nothing: both kinds of target, another project's port, an unknown name, no change asked.
    const std::string file = slurp(dir_ / "cloudflared.yml");
    struct refusal {
        std::vector<std::string> args;
        int exit_code;
        std::string says;
    };
    const std::vector<refusal> refusals{
        {{"app.example.com", "--port", "3102", "--target", "http://x:1"}, 4, "not both"},
        {{"app.example.com", "--port", "4100"}, 4, "not among the ports of project 'alpha'"},
        {{"nothing.example.com", "--port", "3100"}, 4, "not managed by tunnelmgr"},
        {{"app.example.com"}, 4, "nothing to change"},
        {{"app.example.com", "--target", "ftp://x"}, 4, "the target"},
        {{"app.example.com", "--origin", "connectTimeout=ten"}, 2, "not a duration cloudflared can read"},
        {{"app.example.com", "--origin", "tlsTimeout=5s"}, 2, "top-level originRequest"},
        {{"app.example.com", "--origin", "noTLSVerify=yes"}, 2, "true or false"},
    };
    for (const auto& r : refusals) {
        std::vector<std::string> argv{"cname", "retarget"};
        argv.insert(argv.end(), r.args.begin(), r.args.end());
        auto out = tm(argv);
        EXPECT_EQ(out.exit_code, r.exit_code) << r.says << ": " << out.err;
        EXPECT_NE(out.err.find(r.says), std::string::npos) << out.err;
    }
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), file);
    auto short_ttl = tm({"cname", "add", "brief", "--port", "3100", "--project", "alpha", "--ttl", "30s"});
    EXPECT_EQ(short_ttl.exit_code, 2);
    EXPECT_NE(short_ttl.err.find("out of range: give from 1m to 365d"), std::string::npos) << short_ttl.err;
    EXPECT_EQ(consistent_hosts(), (std::set<std::string>{"app.example.com", "later.example.com"}));
}

// A retarget whose new file the judge refuses is undone: the old service stays everywhere.
TEST_F(cname_lifecycle, a_retarget_cloudflared_refuses_leaves_the_old_service) {
    ASSERT_EQ(tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    use_refusing_judge("localhost:3199");
    const std::string file = slurp(dir_ / "cloudflared.yml");
    auto r = tm({"cname", "retarget", "app.example.com", "--port", "3199"});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find("the stub refuses localhost:3199"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("app.example.com still goes to http://localhost:3100"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), file);
    EXPECT_EQ(row_of("app.example.com")["port"].GetInt64(), 3100);
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"app.example.com"});
}

// Kill points of a retarget: before `applied` the old service is put back; from it on, the new one stays.
class crash_after_retarget : public cname_lifecycle, public ::testing::WithParamInterface<const char*> {};

TEST_P(crash_after_retarget, restart_leaves_file_and_row_on_the_same_service) {
    const std::string step = GetParam();
    ASSERT_EQ(tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    const std::string record = dns().at("app.example.com").id;
    auto r = tm({"cname", "retarget", "app.example.com", "--port", "3107"},
                {{"TUNNELMGR_TEST_CRASH_AFTER", "retarget:" + step}});
    ASSERT_EQ(r.signal, SIGKILL) << "it should have died after " << step << ": " << r.err;
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"app.example.com"});
    const bool kept = step == "applied" || step == "committed";
    const std::string service = kept ? "http://localhost:3107" : "http://localhost:3100";
    EXPECT_EQ(rule_text(slurp(dir_ / "cloudflared.yml"), "app.example.com"),
              "- hostname: app.example.com\n    service: " + service + "\n") << step;
    EXPECT_EQ(row_of("app.example.com")["port"].GetInt64(), kept ? 3107 : 3100) << step;
    EXPECT_EQ(dns().at("app.example.com").id, record);
    // And the name takes changes normally afterwards.
    ASSERT_EQ(tm({"cname", "retarget", "app.example.com", "--port", "3108"}).exit_code, 0);
    ASSERT_EQ(tm({"cname", "rm", "app.example.com"}).exit_code, 0);
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(every_step, crash_after_retarget,
                         ::testing::Values("validated", "ingress_written", "applied", "committed"));

// A machine crash (power cut) after a lazy journal write: since plugin API 1.6 a store may write
// operation_advance without waiting for the disk, and a machine crash then keeps only a prefix of the
// journal. Simulated here: killed after `step`, then the journal put back to what its first, durable
// write said (`validated`, the request alone), while DNS and the file keep everything the steps did.
// The next start must undo all of it, not just the step after `validated`.
class machine_crash_after : public cname_lifecycle, public ::testing::WithParamInterface<const char*> {
protected:
    void rewind_journal_to_its_first_write() {
        SQLite::Database db((dir_ / "state.db").string(), SQLite::OPEN_READWRITE);
        const int rewound = db.exec("UPDATE operations SET state = 'validated', data = json_object('request', "
                                    "json_extract(data, '$.request')) WHERE state NOT IN ('committed', 'rolled_back')");
        ASSERT_EQ(rewound, 1);
    }
};

TEST_P(machine_crash_after, a_create_whose_journal_lost_its_later_steps_is_rolled_back_whole) {
    const std::string step = GetParam();
    auto r = tm({"cname", "add", "crash", "--port", "3100", "--project", "alpha"},
                {{"TUNNELMGR_TEST_CRASH_AFTER", "create:" + step}});
    ASSERT_EQ(r.signal, SIGKILL) << "it should have died after " << step << ": " << r.err;
    ASSERT_EQ(dns().count("crash.example.com"), 1U) << "the record was made before the crash";
    rewind_journal_to_its_first_write();
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{}) << step;  // no record, no rule, no row left
    ASSERT_EQ(tm({"cname", "add", "crash", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"crash.example.com"});
}

class machine_crash_after_retarget : public machine_crash_after {};

TEST_P(machine_crash_after_retarget, a_retarget_whose_journal_lost_its_later_steps_goes_back_to_the_old_service) {
    const std::string step = GetParam();
    ASSERT_EQ(tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"}).exit_code, 0);
    auto r = tm({"cname", "retarget", "app.example.com", "--port", "3107"},
                {{"TUNNELMGR_TEST_CRASH_AFTER", "retarget:" + step}});
    ASSERT_EQ(r.signal, SIGKILL) << "it should have died after " << step << ": " << r.err;
    rewind_journal_to_its_first_write();
    EXPECT_EQ(consistent_hosts(), std::set<std::string>{"app.example.com"});
    EXPECT_EQ(rule_text(slurp(dir_ / "cloudflared.yml"), "app.example.com"),
              "- hostname: app.example.com\n    service: http://localhost:3100\n") << step;
    EXPECT_EQ(row_of("app.example.com")["port"].GetInt64(), 3100) << step;
}

INSTANTIATE_TEST_SUITE_P(every_lazy_step, machine_crash_after,
                         ::testing::Values("dns_created", "ingress_written", "applied"));
INSTANTIATE_TEST_SUITE_P(every_lazy_step, machine_crash_after_retarget, ::testing::Values("ingress_written", "applied"));

// The origin settings tunnelmgr writes are cloudflared's: every value it accepts passes the real
// cloudflared's `ingress validate` (as the judge of each edit, and run by hand on the file), and each
// value cloudflared's decoder refuses is refused by tunnelmgr before anything is written.
TEST_F(cname_lifecycle, origin_settings_agree_with_the_real_cloudflared) {
    const std::string real = real_cloudflared();
    if (real.empty()) GTEST_SKIP() << "the real cloudflared is not on this machine (../shared/tools/cloudflared): skipped";
    use_judge(real);
    auto validate = [&](const fs::path& file) {
        return run_process({real, "--no-autoupdate", "tunnel", "--config", file.string(), "ingress", "validate"});
    };
    const std::vector<std::vector<std::string>> accepted{
        {"connectTimeout=10s"},
        {"connectTimeout=1m30s", "noTLSVerify=true"},
        {"httpHostHeader=app.internal:8443", "originServerName=app.internal"},
        {"http2Origin=true", "disableChunkedEncoding=false"},
        {"connectTimeout=600s", "noTLSVerify=false", "httpHostHeader=a.b", "originServerName=c.d", "http2Origin=false",
         "disableChunkedEncoding=true"},
    };
    int port = 3110;
    for (const auto& settings : accepted) {
        std::vector<std::string> argv{"cname", "add", "o" + std::to_string(port), "--port", std::to_string(port), "--project", "alpha"};
        for (const auto& s : settings) argv.insert(argv.end(), {"--origin", s});
        auto r = tm(argv);
        ASSERT_EQ(r.exit_code, 0) << settings.front() << ": " << r.err;
        auto v = validate(dir_ / "cloudflared.yml");
        EXPECT_EQ(v.exit_code, 0) << settings.front() << ": " << v.out << v.err;
        // Retargeted with other settings: judged again.
        auto moved = tm({"cname", "retarget", "o" + std::to_string(port) + ".example.com", "--port",
                         std::to_string(port + 50), "--origin", "connectTimeout=5s"});
        ASSERT_EQ(moved.exit_code, 0) << moved.err;
        EXPECT_EQ(validate(dir_ / "cloudflared.yml").exit_code, 0);
        auto rule = run_process({real, "--no-autoupdate", "tunnel", "--config", (dir_ / "cloudflared.yml").string(),
                                 "ingress", "rule", "https://o" + std::to_string(port) + ".example.com"});
        EXPECT_NE(rule.out.find("http://localhost:" + std::to_string(port + 50)), std::string::npos) << rule.out << rule.err;
        ++port;
    }
    // What cloudflared's decoder refuses, as a hand-written rule, is refused by tunnelmgr too.
    const std::vector<std::pair<std::string, std::string>> refused{
        {"connectTimeout", "ten"}, {"connectTimeout", "10"}, {"noTLSVerify", "maybe"},
        {"noTLSVerify", "1"},      {"http2Origin", "2"},
    };
    const std::string file = slurp(dir_ / "cloudflared.yml");
    for (const auto& [key, value] : refused) {
        std::string hand = ingress_seed;
        hand.insert(hand.find("  - service: http_status:404"), "    originRequest:\n      " + key + ": " + value + "\n");
        std::ofstream(dir_ / "hand.yml", std::ios::trunc) << hand;
        auto v = validate(dir_ / "hand.yml");
        EXPECT_NE(v.exit_code, 0) << "cloudflared took " << key << ": " << value;
        auto r = tm({"cname", "add", "nope", "--port", "3199", "--project", "alpha", "--origin", key + "=" + value});
        EXPECT_EQ(r.exit_code, 2) << key << "=" << value << ": " << r.err;
        EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
    }
    // A key cloudflared does not know it only warns about, and ignores: a typo that silently does
    // nothing, which tunnelmgr refuses instead.
    std::string hand = ingress_seed;
    hand.insert(hand.find("  - service: http_status:404"), "    originRequest:\n      conectTimeout: 10s\n");
    std::ofstream(dir_ / "hand.yml", std::ios::trunc) << hand;
    auto warned = validate(dir_ / "hand.yml");
    EXPECT_EQ(warned.exit_code, 0);
    EXPECT_NE((warned.out + warned.err).find("field conectTimeout not found"), std::string::npos) << warned.out << warned.err;
    auto typo = tm({"cname", "add", "nope", "--port", "3199", "--project", "alpha", "--origin", "conectTimeout=10s"});
    EXPECT_EQ(typo.exit_code, 2);
    EXPECT_NE(typo.err.find("`originRequest.conectTimeout` is not a cloudflared origin setting"), std::string::npos) << typo.err;
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), file);
}

// Remote ingress: the rule's originRequest goes to the API in cloudflared's JSON form (seconds), and a
// retarget changes the rule where it stands.
TEST_F(cname_lifecycle, remote_ingress_carries_origin_settings_and_retargets_in_place) {
    std::string cfg = slurp(dir_ / "config.yml");
    cfg.replace(cfg.find("ingress: local"), 14, "ingress: remote");
    std::ofstream(dir_ / "config.yml", std::ios::trunc) << cfg;
    ASSERT_EQ(tm({"cname", "add", "app", "--port", "3100", "--project", "alpha", "--origin", "connectTimeout=1m",
                  "--origin", "noTLSVerify=true"}).exit_code, 0);
    ASSERT_EQ(tm({"cname", "add", "next", "--port", "3101", "--project", "alpha"}).exit_code, 0);
    auto c = parse(fake_->tunnel_configuration(tunnel_id)->config_json);
    ASSERT_EQ(c["ingress"].Size(), 3u);
    EXPECT_STREQ(c["ingress"][0]["hostname"].GetString(), "app.example.com");
    EXPECT_EQ(c["ingress"][0]["originRequest"]["connectTimeout"].GetInt64(), 60);
    EXPECT_TRUE(c["ingress"][0]["originRequest"]["noTLSVerify"].GetBool());
    EXPECT_FALSE(c["ingress"][1].HasMember("originRequest"));

    auto moved = tm({"cname", "retarget", "app.example.com", "--port", "3102", "--origin", "httpHostHeader=app.internal"});
    ASSERT_EQ(moved.exit_code, 0) << moved.err;
    c = parse(fake_->tunnel_configuration(tunnel_id)->config_json);
    ASSERT_EQ(c["ingress"].Size(), 3u);
    EXPECT_STREQ(c["ingress"][0]["hostname"].GetString(), "app.example.com") << "still first";
    EXPECT_STREQ(c["ingress"][0]["service"].GetString(), "http://localhost:3102");
    EXPECT_STREQ(c["ingress"][0]["originRequest"]["httpHostHeader"].GetString(), "app.internal");
    EXPECT_FALSE(c["ingress"][0]["originRequest"].HasMember("connectTimeout")) << "the settings are replaced, not merged";
    EXPECT_EQ(row_of("app.example.com")["port"].GetInt64(), 3102);
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), ingress_seed);
    ASSERT_EQ(tm({"cname", "rm", "app.example.com"}).exit_code, 0);
    ASSERT_EQ(tm({"cname", "rm", "next.example.com"}).exit_code, 0);
}
