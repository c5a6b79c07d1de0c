// The ingress file's git history on real files and a real git: written by a worker after each
// change returns (the daemon), or at once (one-shot processes), never older than the file, and
// bounded without counting commits on every change.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>

#include "core/ingress_file.hpp"
#include "sys/files.hpp"
#include "sys/process.hpp"

using namespace tunnelmgr;
namespace fs = std::filesystem;

namespace {

const char* stock = "tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\ningress:\n  - service: http_status:404\n";

class ingress_history_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-history-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        path_ = (dir_ / "config.yml").string();
        history_ = (dir_ / "history").string();
        std::ofstream(path_) << stock;
    }
    void TearDown() override {
        if (!HasFailure()) fs::remove_all(dir_);
    }
    std::string git(std::vector<std::string> args) {
        std::vector<std::string> argv{"git", "-C", history_};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = sys::run(argv);
        EXPECT_TRUE(r);
        if (!r) return "";
        EXPECT_EQ(r->exit_code, 0) << r->err;
        return r->out;
    }
    int commits() { return std::stoi(git({"rev-list", "--count", "HEAD"})); }
    std::string file() { return *sys::read_file(path_); }
    std::string committed() { return git({"show", "HEAD:config.yml"}); }

    fs::path dir_;
    std::string path_;
    std::string history_;
};

}  // namespace

TEST_F(ingress_history_test, after_the_reply_every_change_reaches_the_history_in_as_many_commits_or_fewer) {
    core::ingress_file f(path_, history_, 100);
    f.write_history_after_reply();
    for (int i = 0; i < 10; ++i) {
        const std::string host = "h" + std::to_string(i) + ".example.com";
        auto r = f.add_rule(host, "http://app:3100", "add " + host);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->backup_error, "") << "a change does not wait for, nor report, the history";
    }
    EXPECT_EQ(f.flush_history(), "");
    const int n = commits();
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 10);
    const std::string log = git({"log", "--format=%B"});
    for (int i = 0; i < 10; ++i) {
        EXPECT_NE(log.find("add h" + std::to_string(i) + ".example.com"), std::string::npos) << "every reason is kept:\n" << log;
    }
    EXPECT_EQ(committed(), file()) << "the newest commit holds the file as it is";
    EXPECT_EQ(git({"status", "--porcelain"}), "");
}

TEST_F(ingress_history_test, a_version_another_process_committed_meanwhile_is_never_replaced_by_an_older_one) {
    core::ingress_file daemon(path_, history_, 100);
    daemon.write_history_after_reply();
    core::ingress_file cli(path_, history_, 100);  // another process: commits at once, under the file's lock
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(daemon.add_rule("d" + std::to_string(i) + ".example.com", "http://app:3100", "daemon " + std::to_string(i)));
        auto c = cli.add_rule("c" + std::to_string(i) + ".example.com", "http://app:3101", "cli " + std::to_string(i));
        ASSERT_TRUE(c) << c.error().message;
        EXPECT_EQ(c->backup_error, "") << "the two writers never meet in git";
    }
    EXPECT_EQ(daemon.flush_history(), "");
    EXPECT_EQ(committed(), file());
    for (int i = 0; i < 5; ++i) EXPECT_NE(committed().find("d" + std::to_string(i) + ".example.com"), std::string::npos);
    auto fsck = sys::run({"git", "-C", history_, "fsck", "--no-progress"});
    ASSERT_TRUE(fsck);
    EXPECT_EQ(fsck->exit_code, 0) << fsck->err;
}

TEST_F(ingress_history_test, an_editor_going_away_first_commits_what_it_noted) {
    {
        core::ingress_file f(path_, history_, 100);
        f.write_history_after_reply();
        ASSERT_TRUE(f.add_rule("last.example.com", "http://app:3100", "add last.example.com"));
    }  // the daemon stops
    EXPECT_NE(git({"log", "--format=%B"}).find("add last.example.com"), std::string::npos);
    EXPECT_EQ(committed(), file());
}

TEST_F(ingress_history_test, the_version_count_is_kept_beside_git_and_counted_again_when_lost) {
    core::ingress_file f(path_, history_, 5);
    const std::string counter = history_ + "/.git/tunnelmgr-versions";
    auto add = [&](int i) {
        auto r = f.add_rule("n" + std::to_string(i) + ".example.com", "http://app:3100", "add " + std::to_string(i));
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_EQ(r->backup_error, "");
    };
    for (int i = 0; i < 12; ++i) {
        add(i);
        ASSERT_EQ(std::stoi(*sys::read_file(counter)), commits()) << "after change " << i;
    }
    EXPECT_LE(commits(), 6) << "history_keep 5 holds at most 5 + 5/10 (at least 1) versions";
    fs::remove(counter);
    add(12);
    EXPECT_EQ(std::stoi(*sys::read_file(counter)), commits());
    std::ofstream(counter, std::ios::trunc) << "garbage\n";
    add(13);
    EXPECT_EQ(std::stoi(*sys::read_file(counter)), commits());
    EXPECT_EQ(committed(), file());
}

TEST_F(ingress_history_test, a_history_that_cannot_be_written_is_logged_and_the_file_still_changes) {
    std::ofstream(history_) << "a file where the history folder should be";
    core::ingress_file f(path_, history_, 100);
    f.write_history_after_reply();
    auto r = f.add_rule("app.example.com", "http://app:3100", "add app");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->changed);
    EXPECT_NE(f.flush_history(), "") << "the worker's failure is kept for whoever asks";
    EXPECT_NE(file().find("app.example.com"), std::string::npos);
}
