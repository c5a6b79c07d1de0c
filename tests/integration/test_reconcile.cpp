// `tunnelmgr reconcile` end to end: the real binary and plugins, a real SQLite file, the Cloudflare
// API fake over loopback, a real cloudflared config file edited by hand between runs. Drift is
// reported with its class; with reconcile.repair: repair only a missing or changed record and a
// missing rule come back; hand-edited rules, orphans, removed projects and foreign things stay.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <httplib.h>
#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "process/run_process.hpp"

using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::fake_dns_record;
using tunnelmgr::testing::run_process;
namespace fs = std::filesystem;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string token = "fake-token-for-reconcile-tests-51d7";  // obviously fake
const std::string tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";
const char* ingress_seed = R"(# cloudflared config (hand-written; the www rule is not tunnelmgr's)
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

// Replaces the one occurrence of `from` in the file (a hand edit).
void edit_file(const fs::path& p, const std::string& from, const std::string& to) {
    std::string text = slurp(p);
    auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << "not in " << p << ": " << from << "\n" << text;
    text.replace(at, from.size(), to);
    std::ofstream(p, std::ios::trunc | std::ios::binary) << text;
}

class reconcile : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-reconcile-" + std::to_string(::getpid()) + "-" +
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
        std::ofstream(dir_ / "cloudflared.yml") << ingress_seed;
        write_config(true, "repair");
    }
    void TearDown() override {
        fake_.reset();
        if (!HasFailure()) fs::remove_all(dir_);
    }

    void write_config(bool with_beta, const std::string& repair, const std::string& ingress = "local") {
        std::ofstream(dir_ / "config.yml", std::ios::trunc)
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id() << "\n  max_retries: 3\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: " << ingress
            << ", config_file: " << (dir_ / "cloudflared.yml").string() << ", backup_dir: " << (dir_ / "history").string()
            << " }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\" }\n"
            << (with_beta ? "  beta: { ports: \"4100-4199\" }\n" : "")
            << (repair.empty() ? std::string() : "reconcile: { repair: " + repair + " }\n")
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }

    tunnelmgr::testing::process_result tm(std::vector<std::string> args) {
        std::vector<std::string> argv{binary, "--config", (dir_ / "config.yml").string(), "--log-level", "info"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }

    void publish(const std::string& sub, int port, const std::string& project) {
        auto r = tm({"cname", "add", sub, "--port", std::to_string(port), "--project", project});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    // Every record at the fake, by name.
    std::map<std::string, fake_dns_record> records() {
        std::map<std::string, fake_dns_record> out;
        for (const auto& r : fake_->records()) out[r.name] = r;
        return out;
    }

    // Another hand at Cloudflare (the dashboard): the public API with the account's token.
    httplib::Result cloudflare(const std::string& method, const std::string& path, const std::string& body = "") {
        httplib::Client c("127.0.0.1", fake_->port());
        httplib::Headers h{{"Authorization", "Bearer " + token}};
        std::string p = "/client/v4" + path;
        if (method == "DELETE") return c.Delete(p.c_str(), h);
        if (method == "PUT") return c.Put(p.c_str(), h, body, "application/json");
        return c.Patch(p.c_str(), h, body, "application/json");
    }
    std::string zone() { return fake_->find_zone("example.com")->id; }

    // class → hostnames, from `reconcile --json` output.
    static std::map<std::string, std::set<std::string>> classes(const rapidjson::Document& d) {
        std::map<std::string, std::set<std::string>> out;
        for (const auto& f : d["findings"].GetArray()) out[f["class"].GetString()].insert(f["hostname"].GetString());
        return out;
    }
    static std::string action_of(const rapidjson::Document& d, const std::string& cls) {
        for (const auto& f : d["findings"].GetArray()) {
            if (cls == f["class"].GetString()) return f["action"].GetString();
        }
        return "";
    }

    fs::path dir_;
    std::unique_ptr<cloudflare_fake> fake_;
};

}  // namespace

TEST_F(reconcile, no_drift_exits_zero) {
    publish("one", 3100, "alpha");
    auto r = tm({"reconcile", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto d = parse(r.out);
    ASSERT_TRUE(d.IsObject()) << r.out;
    EXPECT_FALSE(d["drift"].GetBool());
    EXPECT_EQ(d["findings"].Size(), 0u);
    auto text = tm({"reconcile"});
    EXPECT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("no drift"), std::string::npos) << text.out;
}

TEST_F(reconcile, each_kind_of_drift_is_classed_and_only_the_safe_ones_repaired) {
    publish("one", 3100, "alpha");
    publish("two", 3101, "alpha");
    publish("three", 3102, "alpha");
    publish("four", 4100, "beta");
    publish("old", 3103, "alpha");
    ASSERT_EQ(tm({"cname", "rm", "old.example.com"}).exit_code, 0);
    // Foreign records: one under the hand-written rule's name, one elsewhere; neither carries our marker.
    ASSERT_TRUE(fake_->add_foreign_record("example.com", {"", "", "", "CNAME", "www.example.com", "lb.example.net", true,
                                                          1, std::string("made by hand"), "", ""}));
    ASSERT_TRUE(fake_->add_foreign_record("example.com", {"", "", "", "CNAME", "shop.example.com", "shop.example.net",
                                                          false, 1, std::nullopt, "", ""}));

    // The drift: a record deleted in the dashboard, a rule deleted and one edited by hand, a record
    // with our marker and no row, a project removed from the config.
    auto before = records();
    auto del = cloudflare("DELETE", "/zones/" + zone() + "/dns_records/" + before["one.example.com"].id);
    ASSERT_TRUE(del && del->status == 200) << (del ? del->body : "no answer");
    const fs::path yml = dir_ / "cloudflared.yml";
    edit_file(yml, "  - hostname: two.example.com\n    service: http://localhost:3101\n", "");
    edit_file(yml, "    service: http://localhost:3102\n", "    service: http://localhost:9999\n");
    ASSERT_TRUE(fake_->add_foreign_record("example.com", {"", "", "", "CNAME", "old.example.com",
                                                          tunnel_id + ".cfargotunnel.com", true, 1,
                                                          std::string("tunnelmgr:alpha"), "", ""}));
    write_config(false, "repair");

    const auto dns_before = records();
    const std::string file_before = slurp(yml);

    auto dry = tm({"reconcile", "--dry-run", "--json"});
    EXPECT_EQ(dry.exit_code, 1) << dry.out << dry.err;
    auto d = parse(dry.out);
    ASSERT_TRUE(d.IsObject()) << dry.out << dry.err;
    EXPECT_TRUE(d["drift"].GetBool());
    EXPECT_TRUE(d["dry_run"].GetBool());
    using names = std::set<std::string>;
    std::map<std::string, names> want{{"record_missing", names{"one.example.com"}},
                                      {"rule_missing", names{"two.example.com"}},
                                      {"rule_changed", names{"three.example.com"}},
                                      {"orphan_record", names{"old.example.com"}},
                                      {"project_removed", names{"four.example.com"}}};
    EXPECT_EQ(classes(d), want) << dry.out;
    EXPECT_EQ(action_of(d, "record_missing"), "would repair");
    EXPECT_EQ(action_of(d, "rule_missing"), "would repair");
    EXPECT_EQ(action_of(d, "rule_changed"), "report");
    EXPECT_EQ(action_of(d, "orphan_record"), "report");
    EXPECT_EQ(action_of(d, "project_removed"), "report");
    // The dry run changed nothing.
    EXPECT_EQ(slurp(yml), file_before);
    auto dns_after_dry = records();
    ASSERT_EQ(dns_after_dry.size(), dns_before.size());
    for (const auto& [name, rec] : dns_before) EXPECT_EQ(dns_after_dry[name].id, rec.id) << name;

    auto run = tm({"reconcile", "--json"});
    EXPECT_EQ(run.exit_code, 1) << run.out << run.err;  // what may not be repaired remains
    auto r = parse(run.out);
    ASSERT_TRUE(r.IsObject()) << run.out << run.err;
    EXPECT_EQ(classes(r), want);
    EXPECT_EQ(action_of(r, "record_missing"), "repaired") << run.out;
    EXPECT_EQ(action_of(r, "rule_missing"), "repaired") << run.out;
    EXPECT_EQ(action_of(r, "rule_changed"), "report");

    auto after = records();
    // The missing record is back, ours.
    ASSERT_EQ(after.count("one.example.com"), 1u);
    EXPECT_EQ(after["one.example.com"].content, tunnel_id + ".cfargotunnel.com");
    EXPECT_TRUE(after["one.example.com"].proxied);
    EXPECT_EQ(after["one.example.com"].comment.value_or(""), "tunnelmgr:alpha");
    // Everything else at Cloudflare is as it was: the orphan, the removed project's, the foreign ones.
    for (const auto& [name, rec] : dns_before) {
        ASSERT_EQ(after.count(name), 1u) << name;
        EXPECT_EQ(after[name].id, rec.id) << name;
        EXPECT_EQ(after[name].content, rec.content) << name;
        EXPECT_EQ(after[name].comment, rec.comment) << name;
        EXPECT_EQ(after[name].proxied, rec.proxied) << name;
    }
    EXPECT_EQ(after.size(), dns_before.size() + 1);
    // The missing rule is back; the hand-edited one and the hand-written one are untouched.
    std::string file = slurp(yml);
    EXPECT_NE(file.find("  - hostname: two.example.com\n    service: http://localhost:3101\n"), std::string::npos) << file;
    EXPECT_NE(file.find("  - hostname: three.example.com\n    service: http://localhost:9999\n"), std::string::npos) << file;
    EXPECT_NE(file.find("  - hostname: www.example.com\n    service: http://localhost:80\n"), std::string::npos) << file;
    EXPECT_NE(file.find("  - hostname: four.example.com\n    service: http://localhost:4100\n"), std::string::npos) << file;
    EXPECT_NE(file.find("# cloudflared config (hand-written; the www rule is not tunnelmgr's)"), std::string::npos);
    EXPECT_EQ(file.find("old.example.com"), std::string::npos);

    // Each repair is audited with its class.
    auto audit = parse(tm({"audit", "--action", "reconcile.repair", "--json"}).out);
    ASSERT_TRUE(audit.IsArray());
    std::map<std::string, std::string> audited;
    for (const auto& e : audit.GetArray()) {
        EXPECT_STREQ(e["result"].GetString(), "ok");
        const auto& details = e["details"];
        std::string cls = details.IsObject() ? details["class"].GetString() : parse(details.GetString())["class"].GetString();
        audited[e["target"].GetString()] = cls;
    }
    EXPECT_EQ(audited, (std::map<std::string, std::string>{{"one.example.com", "record_missing"},
                                                           {"two.example.com", "rule_missing"}}));

    // What is left is what only a person may settle.
    auto again = parse(tm({"reconcile", "--dry-run", "--json"}).out);
    ASSERT_TRUE(again.IsObject());
    EXPECT_EQ(classes(again), (std::map<std::string, names>{{"rule_changed", names{"three.example.com"}},
                                                            {"orphan_record", names{"old.example.com"}},
                                                            {"project_removed", names{"four.example.com"}}}));
}

// Origin settings are part of a rule: a hand edit of a name's originRequest (or one given to a name
// published without) is drift, reported and never overwritten; the same settings in another order are not.
TEST_F(reconcile, a_hand_edited_origin_request_is_reported_and_left_alone) {
    auto add = tm({"cname", "add", "set", "--port", "3100", "--project", "alpha", "--origin", "connectTimeout=10s",
                   "--origin", "noTLSVerify=true"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    publish("bare", 3101, "alpha");
    publish("kept", 3102, "alpha");
    const fs::path yml = dir_ / "cloudflared.yml";
    auto clean = tm({"reconcile", "--json"});
    EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;

    edit_file(yml, "connectTimeout: 10s", "connectTimeout: 30s");
    edit_file(yml, "    service: http://localhost:3101\n",
              "    service: http://localhost:3101\n    originRequest:\n      httpHostHeader: other.example.com\n");
    const std::string file_before = slurp(yml);
    auto r = tm({"reconcile", "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    auto d = parse(r.out);
    ASSERT_TRUE(d.IsObject()) << r.out;
    EXPECT_EQ(classes(d), (std::map<std::string, std::set<std::string>>{
                              {"rule_changed", {"set.example.com", "bare.example.com"}}}))
        << r.out;
    for (const auto& f : d["findings"].GetArray()) {
        const std::string host = f["hostname"].GetString();
        if (host == "set.example.com") {
            EXPECT_NE(std::string(f["found"].GetString()).find("\"connectTimeout\":30"), std::string::npos) << r.out;
            EXPECT_NE(std::string(f["expected"].GetString()).find("\"connectTimeout\":10"), std::string::npos) << r.out;
        } else {
            EXPECT_EQ(std::string(f["expected"].GetString()), "originRequest none") << r.out;
            EXPECT_NE(std::string(f["detail"].GetString()).find("--origin-clear"), std::string::npos) << r.out;
        }
    }
    EXPECT_EQ(slurp(yml), file_before) << "a hand edit is never overwritten";
}

TEST_F(reconcile, a_changed_record_of_ours_is_put_back_and_a_foreign_replacement_is_left_alone) {
    publish("one", 3100, "alpha");
    publish("two", 3101, "alpha");
    auto recs = records();
    auto patched = cloudflare("PATCH", "/zones/" + zone() + "/dns_records/" + recs["one.example.com"].id,
                              R"({"proxied":false})");
    ASSERT_TRUE(patched && patched->status == 200) << (patched ? patched->body : "no answer");
    // Someone took over two: our marker is gone, so it is not ours to change.
    auto relabelled = cloudflare("PATCH", "/zones/" + zone() + "/dns_records/" + recs["two.example.com"].id,
                                 R"({"comment":"taken over by hand","content":"elsewhere.example.net"})");
    ASSERT_TRUE(relabelled && relabelled->status == 200) << (relabelled ? relabelled->body : "no answer");

    auto dry = parse(tm({"reconcile", "--dry-run", "--json"}).out);
    ASSERT_TRUE(dry.IsObject());
    ASSERT_EQ(dry["findings"].Size(), 2u);
    for (const auto& f : dry["findings"].GetArray()) {
        EXPECT_STREQ(f["class"].GetString(), "record_changed");
        bool ours = std::string(f["hostname"].GetString()) == "one.example.com";
        EXPECT_EQ(f["repairable"].GetBool(), ours);
    }

    auto run = tm({"reconcile", "--json"});
    EXPECT_EQ(run.exit_code, 1) << run.out << run.err;  // two's stays reported
    auto after = records();
    EXPECT_TRUE(after["one.example.com"].proxied);
    EXPECT_EQ(after["one.example.com"].comment.value_or(""), "tunnelmgr:alpha");
    EXPECT_EQ(after["two.example.com"].id, recs["two.example.com"].id);
    EXPECT_EQ(after["two.example.com"].content, "elsewhere.example.net");
    EXPECT_EQ(after["two.example.com"].comment.value_or(""), "taken over by hand");
}

TEST_F(reconcile, the_report_policy_changes_nothing) {
    write_config(true, "");  // the default: report
    publish("one", 3100, "alpha");
    auto del = cloudflare("DELETE", "/zones/" + zone() + "/dns_records/" + records()["one.example.com"].id);
    ASSERT_TRUE(del && del->status == 200);
    const fs::path yml = dir_ / "cloudflared.yml";
    edit_file(yml, "  - hostname: one.example.com\n    service: http://localhost:3100\n", "");
    const std::string file_before = slurp(yml);

    auto run = tm({"reconcile"});
    EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
    EXPECT_NE(run.out.find("record_missing"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("rule_missing"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("reconcile.repair is `report`"), std::string::npos) << run.out;
    EXPECT_EQ(records().count("one.example.com"), 0u);
    EXPECT_EQ(slurp(yml), file_before);
}

TEST_F(reconcile, a_bad_policy_is_a_config_error_naming_the_key) {
    write_config(true, "sometimes");
    auto r = tm({"reconcile"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("reconcile.repair"), std::string::npos) << r.err;
}

// The same drift in a remotely-managed tunnel's configuration at the fake: a rule removed and one
// edited in the dashboard; the removed one comes back through a PUT, the rest stays as it is.
TEST_F(reconcile, remote_rules_are_compared_and_a_missing_one_is_put_back) {
    write_config(true, "repair", "remote");
    const std::string config_path = "/accounts/" + fake_->account_id() + "/cfd_tunnel/" + tunnel_id + "/configurations";
    auto seeded = cloudflare("PUT", config_path,
                             R"({"config":{"ingress":[{"hostname":"www.example.com","service":"http://localhost:80"},)"
                             R"({"service":"http_status:404"}]}})");
    ASSERT_TRUE(seeded && seeded->status == 200) << (seeded ? seeded->body : "no answer");
    publish("one", 3100, "alpha");
    publish("two", 3101, "alpha");
    // The dashboard: drop one's rule, point two's elsewhere.
    auto put = cloudflare("PUT", config_path,
                          R"({"config":{"ingress":[{"hostname":"www.example.com","service":"http://localhost:80"},)"
                          R"({"hostname":"two.example.com","service":"http://localhost:9999"},)"
                          R"({"service":"http_status:404"}]}})");
    ASSERT_TRUE(put && put->status == 200) << (put ? put->body : "no answer");

    auto dry = parse(tm({"reconcile", "--dry-run", "--json"}).out);
    ASSERT_TRUE(dry.IsObject());
    using names = std::set<std::string>;
    EXPECT_EQ(classes(dry), (std::map<std::string, names>{{"rule_missing", names{"one.example.com"}},
                                                          {"rule_changed", names{"two.example.com"}}}));
    auto run = tm({"reconcile", "--json"});
    EXPECT_EQ(run.exit_code, 1) << run.out << run.err;  // two's edit stays reported
    auto stored = fake_->tunnel_configuration(tunnel_id);
    ASSERT_TRUE(stored);
    auto cfg = parse(stored->config_json);
    std::map<std::string, std::string> rules;
    for (const auto& r : cfg["ingress"].GetArray()) {
        rules[r.HasMember("hostname") ? r["hostname"].GetString() : ""] = r["service"].GetString();
    }
    EXPECT_EQ(rules, (std::map<std::string, std::string>{{"www.example.com", "http://localhost:80"},
                                                         {"one.example.com", "http://localhost:3100"},
                                                         {"two.example.com", "http://localhost:9999"},
                                                         {"", "http_status:404"}}));
}

TEST_F(reconcile, a_name_whose_record_was_restored_is_removed_whole_by_cname_rm) {
    write_config(true, "repair");
    publish("one", 3100, "alpha");
    auto del = cloudflare("DELETE", "/zones/" + zone() + "/dns_records/" + records()["one.example.com"].id);
    ASSERT_TRUE(del && del->status == 200);
    auto run = tm({"reconcile"});
    ASSERT_EQ(records().count("one.example.com"), 1u) << run.out << run.err;  // restored, under a new id
    // The row still names the old id; removing the name must still remove the record reconcile made.
    auto rm = tm({"cname", "rm", "one.example.com"});
    ASSERT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_EQ(records().count("one.example.com"), 0u) << "no orphan left behind";
    auto after = tm({"reconcile", "--dry-run", "--json"});
    EXPECT_EQ(after.exit_code, 0) << after.out;
}

TEST_F(reconcile, a_departed_projects_names_are_purged_whole_and_a_present_project_is_refused) {
    publish("b1", 4100, "beta");
    publish("b2", 4101, "beta");
    publish("a1", 3100, "alpha");
    write_config(false, "report");  // beta leaves the config
    const fs::path yml = dir_ / "cloudflared.yml";
    const std::string file_before = slurp(yml);

    auto dry = tm({"project", "purge", "beta", "--dry-run", "--json"});
    ASSERT_EQ(dry.exit_code, 0) << dry.err;
    auto d = parse(dry.out);
    ASSERT_TRUE(d.IsObject()) << dry.out;
    std::set<std::string> would;
    for (const auto& h : d["would_remove"].GetArray()) would.insert(h.GetString());
    EXPECT_EQ(would, (std::set<std::string>{"b1.example.com", "b2.example.com"}));
    EXPECT_EQ(slurp(yml), file_before) << "a dry run changes nothing";
    EXPECT_EQ(records().count("b1.example.com"), 1u);

    auto present = tm({"project", "purge", "alpha"});
    EXPECT_EQ(present.exit_code, 4) << present.err;
    EXPECT_NE(present.err.find("still in"), std::string::npos) << present.err;

    auto run = tm({"project", "purge", "beta"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("removed b1.example.com"), std::string::npos) << run.out;
    EXPECT_EQ(records().count("b1.example.com"), 0u);
    EXPECT_EQ(records().count("b2.example.com"), 0u);
    EXPECT_EQ(records().count("a1.example.com"), 1u) << "another project's name stays";
    std::string file = slurp(yml);
    EXPECT_EQ(file.find("b1.example.com"), std::string::npos) << file;
    EXPECT_NE(file.find("a1.example.com"), std::string::npos) << file;
    auto after = tm({"reconcile", "--dry-run", "--json"});
    EXPECT_EQ(after.exit_code, 0) << "no project_removed left: " << after.out;
    auto again = tm({"project", "purge", "beta"});
    EXPECT_EQ(again.exit_code, 0);
    EXPECT_NE(again.out.find("holds no hostnames"), std::string::npos) << again.out;
}

// cloudflare-dns lists records by comment (plugin API 1.2), so orphans are looked for in the whole
// zone: a record with our marker under a name tunnelmgr never knew (no rule, no audit row) is found;
// a record without it is not, and the note about looking only among known names is gone.
TEST_F(reconcile, a_marked_record_under_a_name_never_known_is_found_by_listing_the_zone) {
    publish("one", 3100, "alpha");
    ASSERT_TRUE(fake_->add_foreign_record("example.com", {"", "", "", "CNAME", "stray.example.com",
                                                          tunnel_id + ".cfargotunnel.com", true, 1,
                                                          std::string("tunnelmgr:alpha"), "", ""}));
    ASSERT_TRUE(fake_->add_foreign_record("example.com", {"", "", "", "CNAME", "handmade.example.com",
                                                          tunnel_id + ".cfargotunnel.com", true, 1,
                                                          std::string("made by hand"), "", ""}));
    ASSERT_TRUE(fake_->add_foreign_record("example.com", {"", "", "", "CNAME", "bare.example.com",
                                                          tunnel_id + ".cfargotunnel.com", true, 1, std::nullopt, "",
                                                          ""}));
    const auto dns_before = records();

    auto dry = tm({"reconcile", "--dry-run", "--json"});
    EXPECT_EQ(dry.exit_code, 1) << dry.out << dry.err;
    auto d = parse(dry.out);
    ASSERT_TRUE(d.IsObject()) << dry.out << dry.err;
    using names = std::set<std::string>;
    EXPECT_EQ(classes(d), (std::map<std::string, names>{{"orphan_record", names{"stray.example.com"}}})) << dry.out;
    for (const auto& f : d["findings"].GetArray()) {
        EXPECT_STREQ(f["project"].GetString(), "alpha");
        EXPECT_STREQ(f["action"].GetString(), "report");
    }
    for (const auto& n : d["notes"].GetArray()) {
        EXPECT_EQ(std::string(n.GetString()).find("looked for among the"), std::string::npos) << n.GetString();
    }
    EXPECT_EQ(d["problems"].Size(), 0u) << dry.out;
    // Found by listing the zone by our marker, not by looking names up.
    size_t listings = 0;
    for (const auto& r : fake_->requests()) listings += r.query.rfind("comment.startswith=tunnelmgr%3A", 0) == 0 ? 1 : 0;
    EXPECT_EQ(listings, 1u);
    // A dry run, and orphans are never removed by tunnelmgr: Cloudflare is as it was.
    auto after = records();
    ASSERT_EQ(after.size(), dns_before.size());
    for (const auto& [name, rec] : dns_before) EXPECT_EQ(after[name].id, rec.id) << name;
}
