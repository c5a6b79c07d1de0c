// run_process is shared by tests that spawn from several threads at once (three_machines runs two
// load threads of `cname add` while the main thread stops and starts PostgreSQL). A child must see
// only its own stdin/stdout/stderr, never another call's pipes: a long-lived child holding one would
// keep that call waiting for EOF after its own process has exited.
#include <atomic>
#include <filesystem>
#include <gtest/gtest.h>
#include <set>
#include <signal.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process/run_process.hpp"

using tunnelmgr::testing::run_process;
using namespace std::chrono_literals;

namespace {

// The shell's descriptors, as `ls -l` shows them ("... 3 -> pipe:[123]"); ls runs as the shell's
// child, so the listing holds what the shell inherited and nothing of its own making.
const std::vector<std::string> list_inherited_fds = {"/bin/sh", "-c", "exec 2>/dev/null; ls -l /proc/$$/fd"};

// The pipes this test process holds already (inherited from whoever started it): not ours to judge.
std::set<std::string> pipes_held_here() {
    std::set<std::string> held;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink(e.path(), ec).string();
        if (!ec && target.rfind("pipe:", 0) == 0) held.insert(target);
    }
    return held;
}

// The lines of `listing` naming, above descriptor 2, a pipe that is not in `before`.
std::string new_pipes(const std::string& listing, const std::set<std::string>& before) {
    std::istringstream in(listing);
    std::string line, out;
    while (std::getline(in, line)) {
        const auto arrow = line.find(" -> pipe:");
        if (arrow == std::string::npos) continue;
        const auto fd = std::stoi(line.substr(line.rfind(' ', arrow - 1) + 1));
        if (fd > 2 && before.count(line.substr(arrow + 4)) == 0) out += line + "\n";
    }
    return out;
}

}  // namespace

TEST(run_process, a_child_inherits_no_pipe_of_a_call_running_on_another_thread) {
    const auto before = pipes_held_here();
    std::atomic<bool> stop{false};
    std::atomic<int> other_calls{0};
    std::thread busy([&] {
        while (!stop.load()) {
            auto r = run_process({"/bin/true"});
            EXPECT_EQ(r.exit_code, 0);
            ++other_calls;
        }
    });
    std::string leaks;
    for (int i = 0; i < 200 && leaks.empty(); ++i) {
        auto r = run_process(list_inherited_fds);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        leaks = new_pipes(r.out, before);
    }
    stop = true;
    busy.join();
    EXPECT_GT(other_calls.load(), 0) << "the other thread spawned while this one did";
    EXPECT_EQ(leaks, "") << "a child held pipes of another call";
}

TEST(run_process, a_child_past_its_deadline_is_killed_and_the_result_says_so) {
    auto r = run_process({"/bin/sleep", "30"}, {}, "", 300ms);
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(r.signal, SIGKILL);
    EXPECT_EQ(r.exit_code, -1);
    EXPECT_NE(r.err.find("/bin/sleep still ran after 300 ms"), std::string::npos) << r.err;
}

TEST(run_process, a_child_within_its_deadline_runs_to_its_end) {
    auto r = run_process({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, {}, "", 30s);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
}
