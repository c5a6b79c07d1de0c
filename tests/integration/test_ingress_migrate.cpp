// `tunnelmgr ingress migrate` end to end: the real binary and plugins, a real SQLite file, the
// Cloudflare API fake over loopback, a hand-written cloudflared config.yml with foreign rules, a path
// rule, per-rule and top-level originRequest. Local → remote → local keeps every rule, its order and
// its keys (checked against the fake's stored configuration and by the real cloudflared's validator);
// a dry run changes nothing; a remote configuration that already holds rules is refused; bad input
// gets one sentence and exit 2. Also the conversions themselves (core/ingress_document).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <httplib.h>
#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "core/ingress_document.hpp"
#include "core/json.hpp"
#include "process/run_process.hpp"

using tunnelmgr::core::ingress_document;
using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::process_result;
using tunnelmgr::testing::run_process;
namespace fs = std::filesystem;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string token = "fake-token-for-migrate-tests-8c2a";  // obviously fake
const std::string tunnel_id = "5d0c2f8e-1b7a-4c3e-9f21-6a8b4e0d7c35";

// What an operator writes by hand: foreign rules (one with a path, one wildcard with Access), per-rule
// and top-level originRequest, comments, and keys that are not the ingress.
const char* hand_written = R"(# cloudflared for the shop (hand-written)
tunnel: 5d0c2f8e-1b7a-4c3e-9f21-6a8b4e0d7c35
credentials-file: /etc/cloudflared/5d0c2f8e.json

# defaults for every rule
originRequest:
  connectTimeout: 30s
  keepAliveConnections: 100

ingress:
  # the API, only under /api
  - hostname: shop.example.com
    path: ^/api/.*$
    service: http://localhost:8081
    originRequest:
      httpHostHeader: "8081"
      connectTimeout: 1m30s
      noHappyEyeballs: true
  - hostname: shop.example.com
    service: http://localhost:8080
  - hostname: "*.dev.example.com"
    service: https://localhost:8443
    originRequest:
      noTLSVerify: yes
      originServerName: dev.internal
      access:
        required: true
        teamName: shopteam
        audTag: [aud-1, aud-2]
  - service: http_status:404

# not the ingress
loglevel: info
)";

// After a migration to remote the operator starts the file over: only its identity, a comment, a
// key of its own and a catch-all. --to local must fill in the rest and keep these.
const char* fresh_file = R"(# cloudflared, run with --config (rules come from tunnelmgr ingress migrate --to local)
tunnel: 5d0c2f8e-1b7a-4c3e-9f21-6a8b4e0d7c35
credentials-file: /etc/cloudflared/5d0c2f8e.json
ingress:
  - service: http_status:404
# the log level stays
loglevel: warn
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

// The real cloudflared, where it is: $TM_CLOUDFLARED, ../shared/tools/cloudflared beside the source
// tree, or PATH; "" when absent.
std::string real_cloudflared() {
    if (const char* e = std::getenv("TM_CLOUDFLARED"); e != nullptr && *e != '\0') {
        return ::access(e, X_OK) == 0 ? std::string(e) : std::string();
    }
    fs::path beside = fs::path(TM_TEST_SOURCE_DIR) / ".." / "shared" / "tools" / "cloudflared" / "cloudflared";
    if (::access(beside.c_str(), X_OK) == 0) return beside.lexically_normal().string();
    if (const char* path = std::getenv("PATH"); path != nullptr) {
        std::stringstream dirs(path);
        std::string dir;
        while (std::getline(dirs, dir, ':')) {
            fs::path candidate = fs::path(dir) / "cloudflared";
            if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        }
    }
    return "";
}

// The lines tunnelmgr wrote as its own sentences on stderr (not log lines).
int sentences(const std::string& err) {
    int n = 0;
    std::stringstream in(err);
    std::string line;
    while (std::getline(in, line)) n += line.rfind("tunnelmgr: ", 0) == 0 ? 1 : 0;
    return n;
}

class ingress_migrate : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-migrate-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        cloudflare_fake::options o;
        o.tokens = {token};
        o.zones = {"example.com"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(dir_ / "token") << token << "\n";
        std::ofstream(yml()) << hand_written;
        cloudflared_ = real_cloudflared();
        write_config("local");
    }
    void TearDown() override {
        fake_.reset();
        if (!HasFailure()) fs::remove_all(dir_);
    }

    fs::path yml() const { return dir_ / "cloudflared.yml"; }
    std::string config_path() const {
        return "/accounts/" + fake_->account_id() + "/cfd_tunnel/" + tunnel_id + "/configurations";
    }

    // The real cloudflared judges every version of the file when it is here (tunnel.cloudflared_bin).
    void write_config(const std::string& ingress, const std::string& config_file = "") {
        std::ofstream(dir_ / "config.yml", std::ios::trunc)
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id() << "\n  max_retries: 3\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: " << ingress
            << ", config_file: " << (config_file.empty() ? yml().string() : config_file)
            << ", backup_dir: " << (dir_ / "history").string()
            << ", cloudflared_bin: \"" << (cloudflared_.empty() ? std::string("none") : cloudflared_) << "\" }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }

    process_result tm(std::vector<std::string> args) {
        std::vector<std::string> argv{binary, "--config", (dir_ / "config.yml").string(), "--log-level", "warn"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }

    // The tunnel's configuration as the fake stores it, read as the migration reads a remote one.
    ingress_document stored() {
        auto cfg = fake_->tunnel_configuration(tunnel_id);
        EXPECT_TRUE(cfg.has_value()) << "the fake holds no configuration for the tunnel";
        auto doc = ingress_document::from_remote(R"({"config":)" + (cfg ? cfg->config_json : std::string("{}")) + "}");
        EXPECT_TRUE(doc.has_value());
        return doc ? std::move(*doc) : ingress_document();
    }
    long stored_version() {
        auto cfg = fake_->tunnel_configuration(tunnel_id);
        return cfg ? cfg->version : 0;
    }
    static ingress_document from_file(const fs::path& p) {
        auto doc = ingress_document::from_yaml(slurp(p), p.string());
        EXPECT_TRUE(doc.has_value()) << (doc ? "" : doc.error().message);
        return doc ? std::move(*doc) : ingress_document();
    }

    // Another writer at Cloudflare (the dashboard): the public API with the account's token.
    void put_remote(const std::string& config_json) {
        httplib::Client c("127.0.0.1", fake_->port());
        httplib::Headers h{{"Authorization", "Bearer " + token}};
        auto r = c.Put(("/client/v4" + config_path()).c_str(), h, R"({"config":)" + config_json + "}", "application/json");
        ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    }

    // cloudflared's own verdict on the file; skipped, with a line saying so, when it is not here.
    void expect_cloudflared_accepts(const fs::path& file) {
        if (cloudflared_.empty()) {
            std::printf("[ SKIPPED  ] the real cloudflared is not on this machine (../shared/tools/cloudflared, "
                        "$TM_CLOUDFLARED or PATH): %s is not validated by it\n", file.c_str());
            return;
        }
        auto r = run_process({cloudflared_, "--no-autoupdate", "tunnel", "--config", file.string(), "ingress", "validate"});
        EXPECT_EQ(r.exit_code, 0) << "cloudflared refuses " << file << ": " << r.out << r.err << "\n" << slurp(file);
    }
    // Which rule (0-based, as cloudflared numbers them) cloudflared sends https://URL to; -1 when it cannot say (or is not here).
    int cloudflared_rule(const fs::path& file, const std::string& url) {
        if (cloudflared_.empty()) return -1;
        auto r = run_process({cloudflared_, "--no-autoupdate", "tunnel", "--config", file.string(), "ingress", "rule", url});
        auto at = r.out.find("Matched rule #");
        return r.exit_code == 0 && at != std::string::npos ? std::stoi(r.out.substr(at + 14)) : -1;
    }

    fs::path dir_;
    std::string cloudflared_;
    std::unique_ptr<cloudflare_fake> fake_;
};

}  // namespace

TEST_F(ingress_migrate, local_to_remote_to_local_keeps_every_rule_its_order_and_its_keys) {
    // One of ours among the hand-written ones, inserted before the catch-all by the pipeline.
    auto published = tm({"cname", "add", "one", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(published.exit_code, 0) << published.err;
    ::chmod(yml().c_str(), 0640);
    const std::string original_text = slurp(yml());
    const ingress_document original = from_file(yml());
    ASSERT_EQ(original.ingress().Size(), 5u) << original.to_json();
    expect_cloudflared_accepts(yml());

    // To remote.
    auto up = tm({"ingress", "migrate", "--to", "remote", "--json"});
    ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
    auto r = parse(up.out);
    ASSERT_TRUE(r.IsObject()) << up.out;
    EXPECT_STREQ(r["outcome"].GetString(), "migrated");
    EXPECT_TRUE(r["verified"].GetBool());
    EXPECT_TRUE(r["local_file_unchanged"].GetBool());
    EXPECT_EQ(r["version_after"].GetInt64(), stored_version());
    // The fake's stored configuration is the file's ingress, rule for rule, key for key.
    const ingress_document remote = stored();
    EXPECT_TRUE(remote.same_as(original)) << "stored: " << remote.to_json() << "\nfile: " << original.to_json();
    std::vector<std::string> order;
    for (const auto& rule : remote.rules()) order.push_back(rule.hostname + "|" + rule.path + "|" + rule.service);
    EXPECT_EQ(order, (std::vector<std::string>{"shop.example.com|^/api/.*$|http://localhost:8081",
                                               "shop.example.com||http://localhost:8080",
                                               "*.dev.example.com||https://localhost:8443",
                                               "one.example.com||http://localhost:3100", "||http_status:404"}));
    // Durations in the API's whole seconds, types as cloudflared's structs have them.
    auto raw = parse(fake_->tunnel_configuration(tunnel_id)->config_json);
    EXPECT_EQ(raw["originRequest"]["connectTimeout"].GetInt64(), 30);
    EXPECT_EQ(raw["originRequest"]["keepAliveConnections"].GetInt64(), 100);
    EXPECT_EQ(raw["ingress"][0]["originRequest"]["connectTimeout"].GetInt64(), 90);
    EXPECT_STREQ(raw["ingress"][0]["originRequest"]["httpHostHeader"].GetString(), "8081");
    EXPECT_TRUE(raw["ingress"][0]["originRequest"]["noHappyEyeballs"].GetBool());
    EXPECT_TRUE(raw["ingress"][2]["originRequest"]["noTLSVerify"].GetBool());
    EXPECT_EQ(raw["ingress"][2]["originRequest"]["access"]["audTag"].Size(), 2u);
    EXPECT_EQ(slurp(yml()), original_text) << "the local file is left as it was";

    // The text says what the operator changes next, and changes none of it.
    auto again = tm({"ingress", "migrate", "--to", "remote"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("already holds exactly these rules"), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("set `ingress: remote`"), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("ExecStart="), std::string::npos) << again.out;
    EXPECT_NE(again.out.find(" --no-autoupdate tunnel --metrics 127.0.0.1:20241 run --token-file /etc/cloudflared/tunnel-token"),
              std::string::npos)
        << again.out;
    EXPECT_NE(again.out.find("is left as it was"), std::string::npos) << again.out;
    EXPECT_NE(slurp(dir_ / "config.yml").find("ingress: local"), std::string::npos) << "tunnelmgr's config is not edited";
    EXPECT_EQ(again.out.find(token), std::string::npos);
    EXPECT_EQ(again.err.find(token), std::string::npos);

    // Back to local, into a file started over: the rules come back, the file's own lines stay.
    write_config("remote");
    std::ofstream(yml(), std::ios::trunc) << fresh_file;
    ::chmod(yml().c_str(), 0640);
    auto down = tm({"ingress", "migrate", "--to", "local", "--json"});
    ASSERT_EQ(down.exit_code, 0) << down.out << down.err;
    auto d = parse(down.out);
    ASSERT_TRUE(d.IsObject()) << down.out;
    EXPECT_STREQ(d["outcome"].GetString(), "migrated");
    EXPECT_TRUE(d["verified"].GetBool());
    const ingress_document back = from_file(yml());
    EXPECT_TRUE(back.same_as(original)) << "file: " << back.to_json() << "\noriginal: " << original.to_json();
    EXPECT_TRUE(back.same_as(stored()));
    const std::string text = slurp(yml());
    EXPECT_NE(text.find("# cloudflared, run with --config"), std::string::npos) << text;
    EXPECT_NE(text.find("# the log level stays\nloglevel: warn\n"), std::string::npos) << text;
    EXPECT_NE(text.find("credentials-file: /etc/cloudflared/5d0c2f8e.json"), std::string::npos) << text;
    EXPECT_NE(text.find("  - hostname: '*.dev.example.com'\n"), std::string::npos) << text;
    EXPECT_NE(text.find("      connectTimeout: 90s\n"), std::string::npos) << text;
    struct stat st {};
    ASSERT_EQ(::stat(yml().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u) << "the file keeps its mode";
    expect_cloudflared_accepts(yml());
    // cloudflared routes as before (it counts rules from 0): the path rule first, then the host, the wildcard, ours.
    if (!cloudflared_.empty()) {
        EXPECT_EQ(cloudflared_rule(yml(), "https://shop.example.com/api/orders"), 0);
        EXPECT_EQ(cloudflared_rule(yml(), "https://shop.example.com/"), 1);
        EXPECT_EQ(cloudflared_rule(yml(), "https://a.dev.example.com/"), 2);
        EXPECT_EQ(cloudflared_rule(yml(), "https://one.example.com/"), 3);
    }
    // The history keeps the version that was replaced.
    auto log = run_process({"/usr/bin/env", "git", "-C", (dir_ / "history").string(), "log", "--format=%s"});
    EXPECT_NE(log.out.find("tunnelmgr ingress migrate --to local"), std::string::npos) << log.out << log.err;

    // Each migration is audited.
    auto audit = parse(tm({"audit", "--action", "ingress.migrate", "--json"}).out);
    ASSERT_TRUE(audit.IsArray());
    ASSERT_EQ(audit.Size(), 3u);
    for (const auto& e : audit.GetArray()) EXPECT_STREQ(e["result"].GetString(), "ok");
}

TEST_F(ingress_migrate, a_dry_run_shows_the_rules_and_changes_nothing) {
    const std::string before = slurp(yml());
    auto dry = tm({"ingress", "migrate", "--to", "remote", "--dry-run"});
    ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
    EXPECT_NE(dry.out.find("dry run"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("#1  shop.example.com  path ^/api/.*$  → http://localhost:8081"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("#4  (every other request)  → http_status:404"), std::string::npos) << dry.out;
    EXPECT_FALSE(fake_->tunnel_configuration(tunnel_id).has_value()) << "nothing stored";
    EXPECT_EQ(fake_->request_count_prefix("PUT", "/accounts/"), 0u);
    EXPECT_EQ(slurp(yml()), before);

    // The other way: a remote configuration, a file that would change; neither does.
    put_remote(R"({"ingress":[{"hostname":"new.example.com","service":"http://localhost:3105"},{"service":"http_status:404"}]})");
    std::ofstream(yml(), std::ios::trunc) << fresh_file;
    const std::string fresh = slurp(yml());
    const long version = stored_version();
    auto json = tm({"ingress", "migrate", "--to", "local", "--dry-run", "--json"});
    ASSERT_EQ(json.exit_code, 0) << json.out << json.err;
    auto d = parse(json.out);
    ASSERT_TRUE(d.IsObject()) << json.out;
    EXPECT_STREQ(d["outcome"].GetString(), "would migrate");
    EXPECT_TRUE(d["dry_run"].GetBool());
    ASSERT_EQ(d["rules"]["ingress"].Size(), 2u);
    EXPECT_STREQ(d["rules"]["ingress"][0]["hostname"].GetString(), "new.example.com");
    EXPECT_EQ(slurp(yml()), fresh);
    EXPECT_EQ(stored_version(), version);
    EXPECT_FALSE(fs::exists(dir_ / "history")) << "no history commit for a dry run";
    auto audit = parse(tm({"audit", "--action", "ingress.migrate", "--json"}).out);
    ASSERT_TRUE(audit.IsArray());
    EXPECT_EQ(audit.Size(), 0u) << "a dry run changes nothing and is not audited";
}

TEST_F(ingress_migrate, a_remote_configuration_with_rules_is_refused_unless_forced) {
    const std::string dashboard =
        R"({"ingress":[{"hostname":"blog.example.com","service":"http://localhost:2368"},{"service":"http_status:404"}]})";
    put_remote(dashboard);
    const long version = stored_version();
    auto refused = tm({"ingress", "migrate", "--to", "remote"});
    EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
    EXPECT_EQ(sentences(refused.err), 1) << refused.err;
    EXPECT_NE(refused.err.find("already holds 2 rules"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
    EXPECT_NE(refused.out.find("blog.example.com"), std::string::npos) << "what is there is shown: " << refused.out;
    EXPECT_EQ(stored_version(), version) << "nothing written";
    auto as_json = tm({"ingress", "migrate", "--to", "remote", "--json"});
    EXPECT_EQ(as_json.exit_code, 4);
    auto j = parse(as_json.out);
    ASSERT_TRUE(j.IsObject()) << as_json.out;
    EXPECT_STREQ(j["outcome"].GetString(), "refused");
    EXPECT_STREQ(j["target_before"]["ingress"][0]["hostname"].GetString(), "blog.example.com");

    // The same check the other way: the file holds other rules than the remote configuration.
    auto local_refused = tm({"ingress", "migrate", "--to", "local"});
    EXPECT_EQ(local_refused.exit_code, 4) << local_refused.out << local_refused.err;
    EXPECT_NE(local_refused.err.find("already holds 4 rules"), std::string::npos) << local_refused.err;

    auto forced = tm({"ingress", "migrate", "--to", "remote", "--force"});
    ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
    EXPECT_TRUE(stored().same_as(from_file(yml())));
    EXPECT_EQ(stored_version(), version + 1);

    auto audit = parse(tm({"audit", "--action", "ingress.migrate", "--json"}).out);
    ASSERT_TRUE(audit.IsArray());
    std::vector<std::string> results;
    for (const auto& e : audit.GetArray()) results.push_back(e["result"].GetString());
    EXPECT_EQ(results, (std::vector<std::string>{"ok", "refused", "refused", "refused"})) << "newest first";
}

TEST_F(ingress_migrate, bad_input_gets_one_sentence_and_exit_2) {
    struct bad_case {
        std::vector<std::string> args;
        std::string says;
    };
    for (const auto& c : std::vector<bad_case>{{{"ingress", "migrate", "--to", "nowhere"}, "--to must be `remote` or `local`"},
                                               {{"ingress", "migrate"}, "--to remote or --to local"},
                                               {{"ingress", "migrate", "--to"}, "--to needs"},
                                               {{"ingress", "migrate", "--to", "remote", "--now"}, "unknown argument '--now'"},
                                               {{"ingress", "move"}, "unknown subcommand 'move'"}}) {
        auto r = tm(c.args);
        EXPECT_EQ(r.exit_code, 2) << c.says << ": " << r.err;
        EXPECT_EQ(sentences(r.err), 1) << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    }
    // A missing file, either way; nothing is written anywhere.
    write_config("local", (dir_ / "absent.yml").string());
    for (const char* to : {"remote", "local"}) {
        auto r = tm({"ingress", "migrate", "--to", to});
        EXPECT_EQ(r.exit_code, 2) << to << ": " << r.err;
        EXPECT_EQ(sentences(r.err), 1) << r.err;
        EXPECT_NE(r.err.find((dir_ / "absent.yml").string() + " does not exist"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(fs::exists(dir_ / "absent.yml"));
    EXPECT_EQ(fake_->request_count_prefix("PUT", "/accounts/"), 0u);
    // A remote configuration with nothing in it has nothing to bring back.
    write_config("remote");
    auto empty = tm({"ingress", "migrate", "--to", "local"});
    EXPECT_EQ(empty.exit_code, 2) << empty.err;
    EXPECT_NE(empty.err.find("holds no ingress rules"), std::string::npos) << empty.err;
}

// ---- the conversions, without the binary ----

TEST(ingress_document_conversion, durations_must_be_whole_seconds_and_carry_a_unit) {
    auto half = ingress_document::from_yaml("originRequest:\n  connectTimeout: 1500ms\ningress:\n  - service: http_status:404\n", "f.yml");
    ASSERT_FALSE(half.has_value());
    EXPECT_NE(half.error().message.find("whole seconds"), std::string::npos) << half.error().message;
    auto bare = ingress_document::from_yaml("ingress:\n  - service: http_status:404\n    originRequest:\n      tlsTimeout: 10\n", "f.yml");
    ASSERT_FALSE(bare.has_value());
    EXPECT_NE(bare.error().message.find("without a unit"), std::string::npos) << bare.error().message;
    auto ok = ingress_document::from_yaml("originRequest:\n  tcpKeepAlive: 1h1m1s\ningress:\n  - service: http_status:404\n", "f.yml");
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
    EXPECT_EQ(ok->origin_request()["tcpKeepAlive"].GetInt64(), 3661);
    EXPECT_NE(ok->origin_request_yaml().find("tcpKeepAlive: 3661s"), std::string::npos) << ok->origin_request_yaml();
}

TEST(ingress_document_conversion, strings_that_look_like_other_things_survive_the_round_trip) {
    const std::string remote = R"({"config":{"ingress":[)"
                               R"({"hostname":"*.example.com","path":"\\.(jpg|png)$","service":"http://localhost:80",)"
                               R"("originRequest":{"httpHostHeader":"true","originServerName":"it's","caPool":"0x1F",)"
                               R"("x-custom":"2024-01-01","proxyPort":8080,"unknownFlag":false}},)"
                               R"({"service":"http_status:404","originRequest":{}}]},"version":7})";
    auto doc = ingress_document::from_remote(remote);
    ASSERT_TRUE(doc.has_value());
    EXPECT_FALSE(doc->ingress()[1].HasMember("originRequest")) << "an empty originRequest is nothing";
    const std::string yaml = "tunnel: x\n" + doc->ingress_yaml();
    auto back = ingress_document::from_yaml(yaml, "f.yml");
    ASSERT_TRUE(back.has_value()) << back.error().message << "\n" << yaml;
    EXPECT_TRUE(back->same_as(*doc)) << yaml << "\n" << back->to_json() << "\n" << doc->to_json();
}

TEST(ingress_document_conversion, the_text_edit_keeps_other_keys_and_comments_and_a_flow_file_is_rewritten_whole) {
    auto doc = ingress_document::from_remote(
        R"({"config":{"ingress":[{"hostname":"a.example.com","service":"http://localhost:1"},{"service":"http_status:404"}],)"
        R"("originRequest":{"connectTimeout":10}}})");
    ASSERT_TRUE(doc.has_value());
    const std::string block = "# head\ntunnel: x\ningress:\n  # old\n  - hostname: b.example.com\n    service: http://localhost:2\n"
                              "  - service: http_status:404\n\n# about metrics\nmetrics: 127.0.0.1:20241\n";
    bool lost = true;
    auto edited = tunnelmgr::core::with_ingress(block, "f.yml", *doc, &lost);
    ASSERT_TRUE(edited.has_value()) << edited.error().message;
    EXPECT_FALSE(lost);
    EXPECT_EQ(*edited, "# head\ntunnel: x\noriginRequest:\n  connectTimeout: 10s\ningress:\n  - hostname: a.example.com\n"
                       "    service: http://localhost:1\n  - service: http_status:404\n\n# about metrics\n"
                       "metrics: 127.0.0.1:20241\n");
    auto flow = tunnelmgr::core::with_ingress("{tunnel: x, ingress: [{service: 'http_status:404'}]}\n", "f.yml", *doc, &lost);
    ASSERT_TRUE(flow.has_value()) << flow.error().message;
    EXPECT_TRUE(lost);
    auto reread = ingress_document::from_yaml(*flow, "f.yml");
    ASSERT_TRUE(reread.has_value());
    EXPECT_TRUE(reread->same_as(*doc)) << *flow;
}
