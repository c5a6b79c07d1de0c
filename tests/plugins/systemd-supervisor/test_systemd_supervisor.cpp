// systemd_supervisor with a recorded runner (what it asks systemctl, how it turns answers into a
// status or an error), and run_command with real processes (argv only, timeouts, missing programs).
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include "command_runner.hpp"
#include "systemd_supervisor.hpp"

namespace {

using namespace tunnelmgr::plugins::systemd_supervisor;
using std::chrono::milliseconds;

struct recording_runner {
    std::vector<std::vector<std::string>> calls;
    std::vector<milliseconds> timeouts;
    command_outcome answer;
    command_runner fn() {
        return [this](const std::vector<std::string>& argv, milliseconds timeout) {
            calls.push_back(argv);
            timeouts.push_back(timeout);
            return answer;
        };
    }
};

command_outcome answer_with(int code, std::string out, std::string err = "") {
    command_outcome o;
    o.ended = command_outcome::how::exited;
    o.exit_code = code;
    o.out = std::move(out);
    o.err = std::move(err);
    return o;
}

supervisor_clocks fixed_clocks(std::int64_t unix_ms, std::int64_t mono_us) {
    return {[=] { return unix_ms; }, [=] { return mono_us; }};
}

TEST(SystemdSupervisor, StatusOfARunningUnit) {
    recording_runner r;
    r.answer = answer_with(0,
                           "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\n"
                           "ActiveEnterTimestampMonotonic=9000000\nActiveEnterTimestamp=Sun 2026-11-22 03:00:00 CET\n"
                           "NRestarts=0\nResult=success\n");
    supervisor_config c;
    c.command_prefix = {"sudo", "-n"};
    c.timeout = milliseconds(700);
    systemd_supervisor s(c, r.fn(), fixed_clocks(2'000'000'000'000, 10'000'000));
    auto st = s.status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_TRUE(st->running);
    EXPECT_EQ(st->pid, 4242);
    EXPECT_EQ(st->state, "active/running");
    EXPECT_EQ(st->since_ms, 2'000'000'000'000 - 1'000);  // entered active 1 s before "now"
    EXPECT_EQ(st->restarts, 0);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0], show_argv(c));
    EXPECT_EQ(r.timeouts[0], milliseconds(700));

    rapidjson::Document doc;
    doc.Parse(to_json(*st).c_str());
    ASSERT_TRUE(doc.IsObject());
    EXPECT_TRUE(doc["running"].GetBool());
    EXPECT_EQ(doc["pid"].GetInt64(), 4242);
    EXPECT_STREQ(doc["state"].GetString(), "active/running");
    EXPECT_EQ(doc["since_ms"].GetInt64(), 1'999'999'999'000);
    EXPECT_NE(std::string(doc["detail"].GetString()).find("main PID 4242"), std::string::npos);
    EXPECT_STREQ(doc["unit"].GetString(), "cloudflared.service");
}

TEST(SystemdSupervisor, StatusOfAFailedUnitHasNullPidAndSince) {
    recording_runner r;
    r.answer = answer_with(0,
                           "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\n"
                           "ActiveEnterTimestampMonotonic=9000000\nActiveEnterTimestamp=Sun 2026-11-22 02:00:00 UTC\n"
                           "NRestarts=5\nResult=exit-code\n");
    systemd_supervisor s(supervisor_config{}, r.fn(), fixed_clocks(0, 10'000'000));
    auto st = s.status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_FALSE(st->running);
    EXPECT_FALSE(st->pid);
    EXPECT_FALSE(st->since_ms);
    EXPECT_EQ(st->state, "failed/failed");
    EXPECT_NE(st->detail.find("last result exit-code"), std::string::npos) << st->detail;
    rapidjson::Document doc;
    doc.Parse(to_json(*st).c_str());
    EXPECT_TRUE(doc["pid"].IsNull());
    EXPECT_TRUE(doc["since_ms"].IsNull());
    EXPECT_EQ(doc["restarts"].GetInt64(), 5);
}

TEST(SystemdSupervisor, StatusOfAMissingUnitIsNotFoundWithTheFix) {
    recording_runner r;
    // `systemctl show` exits 0 for a unit that does not exist; LoadState says so.
    r.answer = answer_with(0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n");
    supervisor_config c;
    c.unit = "cloudfared.service";
    systemd_supervisor s(c, r.fn());
    auto st = s.status();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, sup_errc::not_found);
    EXPECT_NE(st.error().message.find("has no unit cloudfared.service"), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("supervisor.unit"), std::string::npos);
}

TEST(SystemdSupervisor, RestartQueuesAndReportsFailures) {
    recording_runner r;
    r.answer = answer_with(0, "");
    supervisor_config c;
    c.command_prefix = {"docker", "exec", "cf"};
    systemd_supervisor s(c, r.fn());
    ASSERT_TRUE(s.restart());
    // reset-failed first, so systemd's start limit cannot refuse tunnelmgr's own restart
    ASSERT_EQ(r.calls.size(), 2u);
    EXPECT_EQ(r.calls[0], reset_failed_argv(c));
    EXPECT_EQ(r.calls[1], restart_argv(c));

    // reset-failed's answer does not decide (it fails for units systemd unloaded); restart's does.
    r.answer = answer_with(1, "", "Failed to restart cloudflared.service: Access denied\n");
    auto denied = s.restart();
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().kind, sup_errc::denied);

    r.answer.ended = command_outcome::how::timed_out;
    auto late = s.restart();
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().kind, sup_errc::timeout);
}

// --- run_command with real processes ---------------------------------------------------------

TEST(RunCommand, ArgumentsReachTheProgramVerbatimWithNoShell) {
    auto o = run_command({"/bin/echo", "$(id)", ";", "`true`", "a b"}, milliseconds(5000));
    ASSERT_EQ(o.ended, command_outcome::how::exited);
    EXPECT_EQ(o.exit_code, 0);
    EXPECT_EQ(o.out, "$(id) ; `true` a b\n");
}

TEST(RunCommand, FindsProgramsOnPathAndKeepsStdoutAndStderrApart) {
    auto o = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"}, milliseconds(5000));
    ASSERT_EQ(o.ended, command_outcome::how::exited);
    EXPECT_EQ(o.exit_code, 3);
    EXPECT_EQ(o.out, "out\n");
    EXPECT_EQ(o.err, "err\n");
}

TEST(RunCommand, MissingProgramIsASpawnFailureWithEnoent) {
    auto o = run_command({"tm-no-such-program-for-tests"}, milliseconds(5000));
    EXPECT_EQ(o.ended, command_outcome::how::spawn_failed);
    EXPECT_EQ(o.spawn_errno, ENOENT);
}

TEST(RunCommand, PastTheDeadlineTheChildIsKilledAndReaped) {
    auto o = run_command({"sh", "-c", "echo $$; exec sleep 30"}, milliseconds(300));
    EXPECT_EQ(o.ended, command_outcome::how::timed_out);
    ASSERT_FALSE(o.out.empty());
    pid_t child = static_cast<pid_t>(std::stol(o.out));
    // Reaped: the PID no longer names our child (kill fails with ESRCH).
    EXPECT_EQ(::kill(child, 0), -1);
}

TEST(RunCommand, StdinIsClosedSoAPromptCannotWaitForInput) {
    auto o = run_command({"sh", "-c", "read line; echo \"got:$line\""}, milliseconds(5000));
    ASSERT_EQ(o.ended, command_outcome::how::exited);
    EXPECT_EQ(o.out, "got:\n");
}

TEST(RunCommand, ADeathBySignalIsReported) {
    auto o = run_command({"sh", "-c", "kill -KILL $$"}, milliseconds(5000));
    ASSERT_EQ(o.ended, command_outcome::how::signaled);
    EXPECT_EQ(o.signal, SIGKILL);
}

}  // namespace
