// The ingress file editor on real files: comments and foreign rules kept, rule placed before the
// catch-all, refusals leave the file byte-for-byte untouched, atomic writes, git backups, and
// several processes editing at once lose nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cloudflared_check.hpp"
#include "core/cloudflared_judge.hpp"
#include "core/ingress_file.hpp"
#include "core/ingress_rules.hpp"
#include "sys/files.hpp"
#include "sys/process.hpp"

using namespace tunnelmgr;
using tunnelmgr::testing::cloudflared_rule_for;
using tunnelmgr::testing::judged_file;
using tunnelmgr::testing::real_cloudflared;
namespace fs = std::filesystem;

namespace {

const char* stock = R"(# cloudflared config, managed partly by tunnelmgr
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: /etc/cloudflared/6ff42ae2.json
metrics: 127.0.0.1:20241
originRequest:
  connectTimeout: 30s

ingress:
  # the operator's own site
  - hostname: www.example.com
    service: http://localhost:80
    originRequest:
      noTLSVerify: true
  - service: http_status:404   # catch-all
)";

class ingress_file_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-ingress-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        path_ = (dir_ / "config.yml").string();
        write(stock);
    }
    void TearDown() override { fs::remove_all(dir_); }
    void write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
    std::string read() {
        std::ifstream in(path_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    int files_in_dir() {
        int n = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++n;
        return n;
    }
    fs::path dir_;
    std::string path_;
};

}  // namespace

TEST_F(ingress_file_test, adds_before_the_catch_all_keeping_comments_and_keys) {
    judged_file f(path_, "");
    auto r = f.add_rule("App.Example.com", "http://app:3100", "add app");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->changed);
    std::string text = read();
    std::string expected = stock;
    expected.insert(expected.find("  - service: http_status:404"), "  - hostname: app.example.com\n    service: http://app:3100\n");
    EXPECT_EQ(text, expected);
    auto rules = f.read_rules();
    ASSERT_TRUE(rules);
    ASSERT_EQ(rules->size(), 3u);
    EXPECT_EQ((*rules)[1].hostname, "app.example.com");
}

TEST_F(ingress_file_test, adding_the_same_rule_twice_changes_nothing) {
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    std::string once = read();
    auto again = f.add_rule("app.example.com", "http://app:3100", "");
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->changed);
    EXPECT_EQ(read(), once);
}

TEST_F(ingress_file_test, a_foreign_rule_for_the_name_is_a_conflict_and_nothing_changes) {
    judged_file f(path_, "");
    auto r = f.add_rule("www.example.com", "http://app:3100", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::conflict);
    EXPECT_NE(r.error().message.find("already routes www.example.com to http://localhost:80"), std::string::npos);
    EXPECT_EQ(read(), stock);
}

TEST_F(ingress_file_test, remove_takes_out_exactly_our_rule) {
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    ASSERT_TRUE(f.add_rule("api.example.com", "http://api:3101", ""));
    auto r = f.remove_rule("app.example.com", "");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->changed);
    auto r2 = f.remove_rule("api.example.com", "");
    ASSERT_TRUE(r2);
    EXPECT_EQ(read(), stock);
    auto gone = f.remove_rule("api.example.com", "");
    ASSERT_TRUE(gone);
    EXPECT_FALSE(gone->changed);
}

TEST_F(ingress_file_test, malformed_or_invalid_files_are_refused_and_left_untouched) {
    for (const std::string& bad : {
             std::string("ingress: [ { service: http_status:404 \n"),                        // not YAML
             std::string("ingress:\n  - hostname: a.example.com\n    service: http://a:1\n"),  // no catch-all
             std::string("ingress:\n  - service: http_status:404\n  - hostname: b.example.com\n    service: http://b:1\n"),
             std::string("ingress: yes\n"),
             std::string("- just\n- a list\n"),
         }) {
        write(bad);
        judged_file f(path_, "");
        auto r = f.add_rule("app.example.com", "http://app:3100", "");
        EXPECT_FALSE(r) << bad;
        if (!r) EXPECT_NE(r.error().message.find("untouched"), std::string::npos) << r.error().message;
        EXPECT_EQ(read(), bad);
        EXPECT_EQ(files_in_dir(), 2) << "only the file and its lock";  // no temp file left behind
    }
}

TEST_F(ingress_file_test, an_invalid_target_is_refused_before_anything_is_read) {
    judged_file f(path_, "");
    auto r = f.add_rule("app.example.com", "http://app:3100/path", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::invalid);
    EXPECT_EQ(read(), stock);
}

TEST_F(ingress_file_test, a_file_without_ingress_gets_one_with_a_catch_all) {
    write("tunnel: abc\ncredentials-file: /x.json\n");
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    auto rules = f.read_rules();
    ASSERT_TRUE(rules) << rules.error().message;
    ASSERT_EQ(rules->size(), 2u);
    EXPECT_EQ((*rules)[1].service, "http_status:404");
    EXPECT_NE(read().find("credentials-file: /x.json"), std::string::npos);
}

TEST_F(ingress_file_test, flow_style_lists_are_rewritten_keeping_every_key) {
    write("tunnel: abc\ningress: [{hostname: w.example.com, service: 'http://w:1', originRequest: {noTLSVerify: true}}, "
          "{service: 'http_status:404'}]\n");
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    auto rules = f.read_rules();
    ASSERT_TRUE(rules);
    ASSERT_EQ(rules->size(), 3u);
    EXPECT_EQ((*rules)[1].hostname, "app.example.com");
    std::string text = read();
    EXPECT_NE(text.find("noTLSVerify: true"), std::string::npos) << text;
    EXPECT_NE(text.find("tunnel: abc"), std::string::npos);
}

TEST_F(ingress_file_test, keeps_the_files_mode) {
    ::chmod(path_.c_str(), 0640);
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(ingress_file_test, every_change_is_committed_to_the_git_backup) {
    std::string backup = (dir_ / "history").string();
    judged_file f(path_, backup);
    auto a = f.add_rule("app.example.com", "http://app:3100", "add app.example.com for consilio");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->backup_error, "");
    auto b = f.remove_rule("app.example.com", "remove app.example.com");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->backup_error, "");
    auto log = sys::run({"git", "-C", backup, "log", "--format=%s"});
    ASSERT_TRUE(log);
    EXPECT_EQ(log->out, "remove app.example.com\nadd app.example.com for consilio\n");
    auto content = sys::read_file(backup + "/config.yml");
    ASSERT_TRUE(content);
    EXPECT_EQ(*content, read());
}

TEST_F(ingress_file_test, a_failed_backup_is_reported_not_fatal) {
    std::string backup = (dir_ / "not-a-dir").string();
    std::ofstream(backup) << "a file where the backup folder should be";
    judged_file f(path_, backup);
    auto a = f.add_rule("app.example.com", "http://app:3100", "add");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_TRUE(a->changed);
    EXPECT_NE(a->backup_error, "");
    EXPECT_NE(read().find("app.example.com"), std::string::npos);
}

TEST_F(ingress_file_test, concurrent_processes_lose_no_rule_and_the_file_stays_valid) {
    constexpr int procs = 6, each = 8;
    std::vector<pid_t> kids;
    for (int p = 0; p < procs; ++p) {
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            judged_file f(path_, "");
            f.check_routes(false);  // each version is still validated; routing is checked everywhere else
            int bad = 0;
            for (int i = 0; i < each; ++i) {
                std::string host = "p" + std::to_string(p) + "-" + std::to_string(i) + ".example.com";
                if (!f.add_rule(host, "http://svc:" + std::to_string(3000 + p * each + i), "")) ++bad;
                if (!f.read_rules()) ++bad;  // valid after every step, as others see it
                if (i % 2 == 1 && !f.remove_rule(host, "")) ++bad;
            }
            ::_exit(bad + f.refusals());  // every version any process wrote passed cloudflared
        }
        kids.push_back(pid);
    }
    for (pid_t k : kids) {
        int status = 0;
        ::waitpid(k, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    judged_file f(path_, "");
    auto rules = f.read_rules();
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_EQ(rules->size(), static_cast<size_t>(2 + procs * each / 2));  // www + kept rules + catch-all
    for (int p = 0; p < procs; ++p) {
        for (int i = 0; i < each; i += 2) {
            std::string host = "p" + std::to_string(p) + "-" + std::to_string(i) + ".example.com";
            bool found = false;
            for (const auto& r : *rules) found = found || r.hostname == host;
            EXPECT_TRUE(found) << host;
        }
    }
}

namespace {

const char* wildcard = R"(tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
ingress:
  - hostname: www.example.com
    service: http://localhost:80
  - hostname: "*.example.org"
    service: http://localhost:8080
  - hostname: api.example.net
    path: ^/v1/
    service: http://localhost:9090
  - service: http_status:404
)";

}  // namespace

TEST(ingress_rules, a_rule_catches_names_as_cloudflared_matches_them) {
    EXPECT_TRUE(core::rule_catches_host("*.example.org", "shadow.example.org"));
    EXPECT_TRUE(core::rule_catches_host("*.example.org", "a.b.example.org")) << "any depth, as cloudflared";
    EXPECT_TRUE(core::rule_catches_host("*.Example.org", "SHADOW.example.org."));
    EXPECT_FALSE(core::rule_catches_host("*.example.org", "example.org")) << "the dot stays in the suffix";
    EXPECT_FALSE(core::rule_catches_host("*.example.org", "badexample.org"));
    EXPECT_TRUE(core::rule_catches_host("app.example.org", "app.example.org"));
    EXPECT_FALSE(core::rule_catches_host("app.example.org", "x.app.example.org"));
    EXPECT_FALSE(core::rule_catches_host("wiki.*", "wiki.example.org")) << "only a leading *. is a wildcard";
    EXPECT_TRUE(core::rule_catches_host("", "anything.example.org"));
    EXPECT_TRUE(core::rule_catches_host("*", "anything.example.org"));
}

TEST_F(ingress_file_test, a_name_an_earlier_wildcard_would_catch_is_refused_naming_the_rule_and_nothing_changes) {
    write(wildcard);
    judged_file f(path_, "");
    auto r = f.add_rule("Shadow.example.org", "http://app:3100", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::conflict);
    EXPECT_NE(r.error().message.find("rule #1 (`*.example.org` → http://localhost:8080)"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(read(), wildcard);
    // A rule with a path takes part of the name's requests: it counts too.
    auto api = f.add_rule("api.example.net", "http://app:3100", "");
    ASSERT_FALSE(api);
    // Names no earlier rule covers are added as before.
    EXPECT_TRUE(f.add_rule("example.org", "http://app:3100", "")) << "*.example.org does not cover example.org";
    EXPECT_TRUE(f.add_rule("shop.example.com", "http://app:3101", ""));
}

TEST_F(ingress_file_test, the_real_cloudflared_routes_each_name_where_the_editor_says) {
    const std::string bin = real_cloudflared();
    if (bin.empty()) GTEST_SKIP() << "the real cloudflared is not on this machine (../shared/tools/cloudflared): skipped";
    write(wildcard);
    const std::vector<core::ingress_rule> rules = {{"www.example.com", "", "http://localhost:80"},
                                                   {"*.example.org", "", "http://localhost:8080"},
                                                   {"api.example.net", "^/v1/", "http://localhost:9090"},
                                                   {"", "", "http_status:404"}};
    for (const char* host : {"shadow.example.org", "a.b.example.org", "example.org", "www.example.com", "new.example.com"}) {
        auto ours = core::first_rule_catching(rules, host);
        int theirs = cloudflared_rule_for(bin, path_, host);
        ASSERT_GE(theirs, 0) << "cloudflared could not answer for " << host;
        EXPECT_EQ(ours ? static_cast<int>(*ours) : 3, theirs) << host;
    }
    // After an accepted add, cloudflared itself routes the new name to the new rule.
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("new.example.com", "http://app:3100", ""));
    EXPECT_EQ(cloudflared_rule_for(bin, path_, "new.example.com"), 3);
}

namespace {

// A stand-in cloudflared for the judge's own behaviour on machines without the real one: a shell
// script that logs how it was called (and the mode and text of the file it was given) and answers
// as `verdict` says.
std::string stub_cloudflared(const fs::path& dir, const std::string& verdict) {
    const fs::path script = dir / "bin" / "cloudflared";
    fs::create_directories(script.parent_path());
    std::ofstream(script) << "#!/bin/sh\n"
                          << "log=" << (dir / "judge.log").string() << "\n"
                          << "echo \"args: $*\" >> \"$log\"\n"
                          << "echo \"mode: $(stat -c %a \"$4\")\" >> \"$log\"\n"
                          << "cp \"$4\" " << (dir / "judged.yml").string() << "\n"
                          << verdict << "\n";
    ::chmod(script.c_str(), 0755);
    return script.string();
}

}  // namespace

TEST_F(ingress_file_test, the_judge_sees_the_candidate_in_a_private_temp_file_before_it_is_written) {
    const std::string bin = stub_cloudflared(dir_, "echo 'Validating rules from x'; echo OK; exit 0");
    core::ingress_file f(path_, "", 100, core::cloudflared_check(bin));
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    auto log = sys::read_file((dir_ / "judge.log").string());
    ASSERT_TRUE(log);
    EXPECT_NE(log->find("args: --no-autoupdate tunnel --config /"), std::string::npos) << *log;
    EXPECT_NE(log->find("/config.yml ingress validate\n"), std::string::npos) << *log;
    EXPECT_EQ(log->find("args: --no-autoupdate tunnel --config " + path_), std::string::npos)
        << "the candidate is judged, not the file in place: " << *log;
    EXPECT_NE(log->find("mode: 600"), std::string::npos) << "the candidate may hold a token: " << *log;
    EXPECT_EQ(*sys::read_file((dir_ / "judged.yml").string()), read()) << "what was judged is what was written";
    // check_editable asks about the file as it is now.
    fs::remove(dir_ / "judge.log");
    EXPECT_TRUE(f.check_editable());
    EXPECT_NE(sys::read_file((dir_ / "judge.log").string())->find("--config " + path_ + " ingress validate"), std::string::npos);
}

TEST_F(ingress_file_test, a_refusal_of_the_judge_is_its_own_message_and_leaves_the_file_untouched) {
    const std::string tmp = (dir_ / "tmp").string();
    fs::create_directories(tmp);
    const char* old_tmp = std::getenv("TMPDIR");
    const std::string saved = old_tmp != nullptr ? old_tmp : "";
    ::setenv("TMPDIR", tmp.c_str(), 1);
    // Refuses only the candidate (it names the new host), as cloudflared refuses a bad rule.
    const std::string bin = stub_cloudflared(
        dir_, "if grep -q app.example.com \"$4\"; then echo 'Validation failed: the stub refuses app.example.com' >&2; "
              "exit 1; fi; exit 0");
    core::ingress_file f(path_, (dir_ / "history").string(), 100, core::cloudflared_check(bin));
    EXPECT_TRUE(f.check_editable()) << "the file as it is passes";
    auto r = f.add_rule("app.example.com", "http://app:3100", "");
    if (old_tmp != nullptr) ::setenv("TMPDIR", saved.c_str(), 1); else ::unsetenv("TMPDIR");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::invalid);
    EXPECT_NE(r.error().message.find("cloudflared refuses " + path_ + " with this change: Validation failed: the stub "
                                     "refuses app.example.com — the file is left untouched"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(r.error().message.find(tmp), std::string::npos) << "the temp file is not named: " << r.error().message;
    EXPECT_EQ(read(), stock);
    EXPECT_TRUE(fs::is_empty(tmp)) << "the private temp folder is removed";
    EXPECT_FALSE(fs::exists(dir_ / "history")) << "nothing was committed to the history";
}

TEST_F(ingress_file_test, a_judge_that_hangs_or_cannot_run_refuses_and_an_absent_one_is_skipped) {
    const std::string hangs = stub_cloudflared(dir_, "exec sleep 5");
    core::ingress_file slow(path_, "", 100, core::cloudflared_check(hangs, std::chrono::milliseconds(200)));
    auto r = slow.add_rule("app.example.com", "http://app:3100", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::timeout);
    EXPECT_NE(r.error().message.find("tunnel.cloudflared_bin"), std::string::npos) << r.error().message;
    EXPECT_EQ(read(), stock);
    // Absent (a path that does not exist) or turned off: the built-in rules alone decide.
    core::cloudflared_check absent((dir_ / "no-such-cloudflared").string());
    EXPECT_EQ(absent.binary(), "");
    core::ingress_file f(path_, "", 100, absent);
    EXPECT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    EXPECT_EQ(core::cloudflared_check("none").binary(), "");
    EXPECT_TRUE(core::cloudflared_check("none").off());
}

TEST_F(ingress_file_test, an_empty_cloudflared_bin_finds_cloudflared_on_path) {
    const std::string bin = stub_cloudflared(dir_, "exit 0");
    const char* old_path = std::getenv("PATH");
    const std::string saved = old_path != nullptr ? old_path : "";
    ::setenv("PATH", (dir_ / "bin").c_str(), 1);
    std::string found = core::cloudflared_check("").binary();
    std::string by_name = core::cloudflared_check("cloudflared").binary();
    ::setenv("PATH", (dir_ / "nowhere").c_str(), 1);
    std::string none = core::cloudflared_check("").binary();
    ::setenv("PATH", saved.c_str(), 1);
    EXPECT_EQ(found, bin);
    EXPECT_EQ(by_name, bin);
    EXPECT_EQ(none, "");
}

TEST_F(ingress_file_test, the_real_cloudflared_as_judge_refuses_what_the_built_in_rules_let_through) {
    const std::string bin = real_cloudflared();
    if (bin.empty()) GTEST_SKIP() << "the real cloudflared is not on this machine (../shared/tools/cloudflared): skipped";
    core::ingress_file f(path_, "", 100, core::cloudflared_check(bin));
    // A host Go's URL parser refuses: tunnelmgr's own rules accept it, cloudflared does not.
    ASSERT_EQ(core::check_service("http://a b:3100"), "") << "the built-in rules learned this one: pick another case";
    auto r = f.add_rule("app.example.com", "http://a b:3100", "");
    ASSERT_FALSE(r) << "a file cloudflared refuses was written";
    EXPECT_EQ(r.error().code, core::errc::invalid);
    EXPECT_NE(r.error().message.find("invalid character \" \" in host name"), std::string::npos) << r.error().message;
    EXPECT_EQ(read(), stock);
    EXPECT_EQ(files_in_dir(), 2) << "only the file and its lock";
    // A hand-written rule cloudflared cannot load (a duration it cannot parse): the file as it is is
    // refused by check_editable, before anything public is made, and no edit touches it.
    const std::string hand = std::string(stock).replace(std::string(stock).find("noTLSVerify: true"), 17,
                                                          "connectTimeout: soon");
    write(hand);
    EXPECT_TRUE(core::ingress_file(path_, "").read_rules()) << "the built-in rules accept it";
    auto editable = f.check_editable();
    ASSERT_FALSE(editable);
    EXPECT_NE(editable.error().message.find(path_ + ": cloudflared refuses it: "), std::string::npos)
        << editable.error().message;
    EXPECT_NE(editable.error().message.find("cannot unmarshal !!str `soon` into time.Duration"), std::string::npos)
        << editable.error().message;
    auto add = f.add_rule("app.example.com", "http://app:3100", "");
    ASSERT_FALSE(add);
    EXPECT_NE(add.error().message.find("fix the file by hand"), std::string::npos) << add.error().message;
    EXPECT_EQ(read(), hand);
    // A good change passes the judge.
    write(stock);
    EXPECT_TRUE(f.check_editable());
    EXPECT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    EXPECT_TRUE(f.remove_rule("app.example.com", ""));
    EXPECT_EQ(read(), stock);
}

// Layouts operators write by hand: every version the editor makes of them passes cloudflared (when
// installed) and routes the added name to the added service; removing restores the rules.
TEST_F(ingress_file_test, unusual_layouts_are_edited_into_files_cloudflared_accepts) {
    const std::vector<std::string> layouts = {
        "ingress:\n- hostname: w.example.com\n  service: http://w:1\n- service: http_status:404\n",  // no indent
        "---\ntunnel: abc\ningress:   # routes\n  - hostname: w.example.com\n    service: http://w:1\n\n"
        "  # the catch-all\n  - service: http_status:404  # last\n...\n",
        "ingress:\n  -\n    hostname: w.example.com\n    service: http://w:1\n  -\n    service: http_status:404\n",
        "ingress:\n  - {hostname: w.example.com, service: 'http://w:1'}\n  - {service: 'http_status:404'}\n",
        "ingress:\n  - hostname: w.example.com\n    service: http://w:1\n  - service: http_status:404\n"
        "    originRequest:\n      noTLSVerify: true\n",
        "ingress:\n  - hostname: w.example.com\n    service: http://w:1\n  - hostname: \"*\"\n    service: http_status:404\n",
        "ingress:\n    - hostname: \"w.example.com\"\n      service: \"http://w:1\"\n    - service: \"http_status:404\"\n",
        "tunnel: abc\r\ningress:\r\n  - hostname: w.example.com\r\n    service: http://w:1\r\n  - service: http_status:404\r\n",
    };
    for (const auto& layout : layouts) {
        write(layout);
        judged_file f(path_, "");
        auto a = f.add_rule("app.example.com", "http://app:3100", "");
        ASSERT_TRUE(a) << layout << a.error().message;
        auto b = f.add_rule("b.example.com", "http://b:3101", "");
        ASSERT_TRUE(b) << layout << b.error().message;
        ASSERT_TRUE(f.remove_rule("app.example.com", "")) << layout;
        ASSERT_TRUE(f.remove_rule("b.example.com", "")) << layout;
        auto rules = f.read_rules();
        ASSERT_TRUE(rules) << layout;
        ASSERT_EQ(rules->size(), 2u) << layout;
        EXPECT_EQ((*rules)[0].hostname, "w.example.com") << layout;
        EXPECT_EQ((*rules)[0].service, "http://w:1") << layout;
        EXPECT_EQ(f.refusals(), 0) << layout;
    }
}

// --- origin settings and retarget ----------------------------------------------------------------

TEST_F(ingress_file_test, a_rule_with_origin_settings_is_written_as_cloudflared_reads_them) {
    judged_file f(path_, "");
    const std::string origin = R"({"connectTimeout":10,"noTLSVerify":true,"httpHostHeader":"app.internal"})";
    auto r = f.add_rule("app.example.com", "https://app:3100", origin, "add app");
    ASSERT_TRUE(r) << r.error().message;
    std::string expected = stock;
    expected.insert(expected.find("  - service: http_status:404"),
                    "  - hostname: app.example.com\n    service: https://app:3100\n    originRequest:\n"
                    "      connectTimeout: 10s\n      noTLSVerify: true\n      httpHostHeader: \"app.internal\"\n");
    EXPECT_EQ(read(), expected);
    // A retry of the same step changes nothing; the same name with other settings is not ours to change.
    auto again = f.add_rule("app.example.com", "https://app:3100", origin, "");
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->changed);
    auto other = f.add_rule("app.example.com", "https://app:3100", R"({"connectTimeout":20})", "");
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().code, core::errc::conflict);
    EXPECT_EQ(read(), expected);
}

TEST_F(ingress_file_test, replace_changes_the_rule_where_it_stands_and_keeps_the_comments_around_it) {
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", R"({"connectTimeout":10})", ""));
    ASSERT_TRUE(f.add_rule("api.example.com", "http://api:3101", ""));
    // The operator's comment between our two rules belongs to the next one and stays.
    std::string text = read();
    text.insert(text.find("  - hostname: api.example.com"), "  # the api, since March\n");
    write(text);
    const std::string before = read();

    auto r = f.replace_rule("app.example.com", "http://green:3100", R"({"httpHostHeader":"green.internal"})", "retarget");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->changed);
    EXPECT_EQ(r->removed_service, "http://app:3100");
    EXPECT_EQ(r->removed_origin_request, R"({"connectTimeout":10})");
    std::string expected = before;
    const std::string old_rule = "  - hostname: app.example.com\n    service: http://app:3100\n    originRequest:\n      connectTimeout: 10s\n";
    ASSERT_NE(expected.find(old_rule), std::string::npos) << expected;
    expected.replace(expected.find(old_rule), old_rule.size(),
                     "  - hostname: app.example.com\n    service: http://green:3100\n    originRequest:\n"
                     "      httpHostHeader: \"green.internal\"\n");
    EXPECT_EQ(read(), expected);
    auto rules = f.read_rules();
    ASSERT_TRUE(rules);
    EXPECT_EQ((*rules)[1].hostname, "app.example.com") << "second, as before";

    // The undo: what it had, back exactly.
    auto back = f.replace_rule("app.example.com", r->removed_service, r->removed_origin_request, "roll back");
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(read(), before);
    auto same = f.replace_rule("app.example.com", "http://app:3100", R"({"connectTimeout":10})", "");
    ASSERT_TRUE(same);
    EXPECT_FALSE(same->changed);
    EXPECT_EQ(same->removed_service, "http://app:3100");
}

TEST_F(ingress_file_test, replace_refuses_what_is_not_a_plain_rule_of_ours_and_leaves_the_file) {
    judged_file f(path_, "");
    auto missing = f.replace_rule("nobody.example.com", "http://x:1", "", "");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, core::errc::not_found);
    // A hand-written setting tunnelmgr does not manage: the rule is the operator's to change.
    std::string text = stock;
    text.insert(text.find("  - service: http_status:404"),
                "  - hostname: hand.example.com\n    service: http://hand:1\n    originRequest:\n      tlsTimeout: 5s\n");
    write(text);
    auto hand = f.replace_rule("hand.example.com", "http://other:2", "", "");
    ASSERT_FALSE(hand);
    EXPECT_EQ(hand.error().code, core::errc::invalid);
    EXPECT_NE(hand.error().message.find("change that rule by hand"), std::string::npos) << hand.error().message;
    EXPECT_EQ(read(), text);
    auto bad = f.replace_rule("www.example.com", "ftp://nope", "", "");
    ASSERT_FALSE(bad);
    EXPECT_EQ(read(), text);
}

TEST_F(ingress_file_test, replace_in_a_flow_style_file_is_re_emitted_with_the_settings) {
    write("tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\n"
          "ingress: [{hostname: app.example.com, service: \"http://app:1\"}, {service: \"http_status:404\"}]\n");
    judged_file f(path_, "");
    auto r = f.replace_rule("app.example.com", "http://app:2", R"({"connectTimeout":5,"http2Origin":true})", "");
    ASSERT_TRUE(r) << r.error().message;
    auto rules = f.read_rules();
    ASSERT_TRUE(rules);
    ASSERT_EQ(rules->size(), 2u);
    EXPECT_EQ((*rules)[0].service, "http://app:2");
    const std::string text = read();
    EXPECT_NE(text.find("connectTimeout: 5s"), std::string::npos) << text;
    EXPECT_NE(text.find("http2Origin: true"), std::string::npos) << text;
}

// An editor remembers the parse of the text it last wrote; a file changed by other hands since is
// read again, never edited from the remembered parse.
TEST_F(ingress_file_test, an_edit_by_other_hands_between_two_edits_is_read_not_overwritten) {
    judged_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    std::string text = read();
    text.insert(text.find("  - service: http_status:404"), "  - hostname: hand.example.com\n    service: http://hand:1\n");
    write(text);
    ASSERT_TRUE(f.add_rule("api.example.com", "http://api:3101", ""));
    auto rules = f.read_rules();
    ASSERT_TRUE(rules);
    std::vector<std::string> hosts;
    for (const auto& r : *rules) hosts.push_back(r.hostname);
    EXPECT_EQ(hosts, (std::vector<std::string>{"www.example.com", "app.example.com", "hand.example.com", "api.example.com", ""}));
    // And the same length but other content (a changed service) is seen too.
    std::string now = read();
    now.replace(now.find("http://hand:1"), 13, "http://hand:2");
    write(now);
    auto conflict = f.add_rule("hand.example.com", "http://hand:1", "");
    ASSERT_FALSE(conflict);
    EXPECT_NE(conflict.error().message.find("already routes hand.example.com to http://hand:2"), std::string::npos)
        << conflict.error().message;
}
