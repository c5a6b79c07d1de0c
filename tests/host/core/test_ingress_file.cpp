// The ingress file editor on real files: comments and foreign rules kept, rule placed before the
// catch-all, refusals leave the file byte-for-byte untouched, atomic writes, git backups, and
// several processes editing at once lose nothing.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ingress_file.hpp"
#include "core/ingress_rules.hpp"
#include "sys/files.hpp"
#include "sys/process.hpp"

using namespace tunnelmgr;
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
    core::ingress_file f(path_, "");
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
    core::ingress_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    std::string once = read();
    auto again = f.add_rule("app.example.com", "http://app:3100", "");
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->changed);
    EXPECT_EQ(read(), once);
}

TEST_F(ingress_file_test, a_foreign_rule_for_the_name_is_a_conflict_and_nothing_changes) {
    core::ingress_file f(path_, "");
    auto r = f.add_rule("www.example.com", "http://app:3100", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::conflict);
    EXPECT_NE(r.error().message.find("already routes www.example.com to http://localhost:80"), std::string::npos);
    EXPECT_EQ(read(), stock);
}

TEST_F(ingress_file_test, remove_takes_out_exactly_our_rule) {
    core::ingress_file f(path_, "");
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
        core::ingress_file f(path_, "");
        auto r = f.add_rule("app.example.com", "http://app:3100", "");
        EXPECT_FALSE(r) << bad;
        if (!r) EXPECT_NE(r.error().message.find("untouched"), std::string::npos) << r.error().message;
        EXPECT_EQ(read(), bad);
        EXPECT_EQ(files_in_dir(), 2) << "only the file and its lock";  // no temp file left behind
    }
}

TEST_F(ingress_file_test, an_invalid_target_is_refused_before_anything_is_read) {
    core::ingress_file f(path_, "");
    auto r = f.add_rule("app.example.com", "http://app:3100/path", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::invalid);
    EXPECT_EQ(read(), stock);
}

TEST_F(ingress_file_test, a_file_without_ingress_gets_one_with_a_catch_all) {
    write("tunnel: abc\ncredentials-file: /x.json\n");
    core::ingress_file f(path_, "");
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
    core::ingress_file f(path_, "");
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
    core::ingress_file f(path_, "");
    ASSERT_TRUE(f.add_rule("app.example.com", "http://app:3100", ""));
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(ingress_file_test, every_change_is_committed_to_the_git_backup) {
    std::string backup = (dir_ / "history").string();
    core::ingress_file f(path_, backup);
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
    core::ingress_file f(path_, backup);
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
            core::ingress_file f(path_, "");
            int bad = 0;
            for (int i = 0; i < each; ++i) {
                std::string host = "p" + std::to_string(p) + "-" + std::to_string(i) + ".example.com";
                if (!f.add_rule(host, "http://svc:" + std::to_string(3000 + p * each + i), "")) ++bad;
                if (!f.read_rules()) ++bad;  // valid after every step, as others see it
                if (i % 2 == 1 && !f.remove_rule(host, "")) ++bad;
            }
            ::_exit(bad);
        }
        kids.push_back(pid);
    }
    for (pid_t k : kids) {
        int status = 0;
        ::waitpid(k, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    core::ingress_file f(path_, "");
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

// The real cloudflared, where this machine has it (see ../shared/tools/cloudflared/README.md): beside
// the source tree, on PATH, or $TM_CLOUDFLARED. "" when absent.
std::string real_cloudflared() {
    if (const char* e = std::getenv("TM_CLOUDFLARED"); e != nullptr && fs::exists(e)) return e;
    fs::path beside = fs::path(TM_TEST_SOURCE_DIR) / ".." / "shared" / "tools" / "cloudflared" / "cloudflared";
    if (fs::exists(beside)) return beside.string();
    for (const char* dir : {"/usr/local/bin", "/usr/bin"}) {
        if (fs::exists(fs::path(dir) / "cloudflared")) return (fs::path(dir) / "cloudflared").string();
    }
    return "";
}

// "Matched rule #N" from `cloudflared tunnel --config FILE ingress rule https://HOST`; -1 when it fails.
int cloudflared_rule_for(const std::string& bin, const std::string& config, const std::string& host) {
    std::string cmd = bin + " --no-autoupdate tunnel --config " + config + " ingress rule https://" + host + " 2>&1";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r"); p != nullptr) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
        if (::pclose(p) != 0) return -1;
    }
    auto at = out.find("Matched rule #");
    return at == std::string::npos ? -1 : std::stoi(out.substr(at + 14));
}

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
    core::ingress_file f(path_, "");
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
    core::ingress_file f(path_, "");
    ASSERT_TRUE(f.add_rule("new.example.com", "http://app:3100", ""));
    EXPECT_EQ(cloudflared_rule_for(bin, path_, "new.example.com"), 3);
}
