// systemd_supervisor with a recorded runner (what it asks systemctl, how it turns answers into a
// status or an error), and run_command with real processes (argv only, timeouts, missing programs).
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
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
    auto st = s.replica_status(0);
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_TRUE(st->running);
    EXPECT_EQ(st->pid, 4242);
    EXPECT_EQ(st->state, "active/running");
    EXPECT_EQ(st->since_ms, 2'000'000'000'000 - 1'000);  // entered active 1 s before "now"
    EXPECT_EQ(st->restarts, 0);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0], show_argv(c, "cloudflared.service"));
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
    auto st = s.replica_status(0);
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
    c.units = {{"cloudfared.service", ""}};
    systemd_supervisor s(c, r.fn());
    auto st = s.replica_status(0);
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
    EXPECT_EQ(r.calls[0], reset_failed_argv(c, "cloudflared.service"));
    EXPECT_EQ(r.calls[1], restart_argv(c, "cloudflared.service"));

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

// --- replicas: one unit each ---------------------------------------------------------------------

// Answers `systemctl show` per unit (the last argument) from a table; anything else exits 0.
struct unit_runner {
    std::vector<std::vector<std::string>> calls;
    std::map<std::string, command_outcome> show;
    std::map<std::string, command_outcome> restart;
    command_runner fn() {
        return [this](const std::vector<std::string>& argv, milliseconds) {
            calls.push_back(argv);
            const std::string& unit = argv.back();
            if (std::find(argv.begin(), argv.end(), "show") != argv.end() && show.count(unit) > 0) return show[unit];
            if (std::find(argv.begin(), argv.end(), "restart") != argv.end() && restart.count(unit) > 0) return restart[unit];
            return answer_with(0, "");
        };
    }
};

std::string show_of(bool active, int pid) {
    return std::string("LoadState=loaded\nActiveState=") + (active ? "active\nSubState=running" : "inactive\nSubState=dead") +
           "\nMainPID=" + std::to_string(pid) + "\nActiveEnterTimestamp=@" + std::to_string(1'700'000'000 + pid) + "\n";
}

supervisor_config two_units() {
    supervisor_config c;
    c.units = {{"cloudflared@1.service", "127.0.0.1:20241"}, {"cloudflared@2.service", "127.0.0.1:20242"}};
    c.listed = true;
    return c;
}

TEST(SystemdReplicas, EachReplicaIsItsOwnUnit) {
    unit_runner r;
    r.show["cloudflared@1.service"] = answer_with(0, show_of(true, 101));
    r.show["cloudflared@2.service"] = answer_with(0, show_of(true, 202));
    systemd_supervisor s(two_units(), r.fn());
    EXPECT_EQ(s.replica_count(), 2);
    auto second = s.replica_status(1);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(second->pid, 202);
    EXPECT_EQ(second->unit, "cloudflared@2.service");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0], show_argv(s.config(), "cloudflared@2.service"));

    rapidjson::Document doc;
    doc.Parse(s.replica_json(1, *second).c_str());
    ASSERT_TRUE(doc.IsObject());
    EXPECT_STREQ(doc["name"].GetString(), "cloudflared@2.service");
    EXPECT_STREQ(doc["metrics"].GetString(), "127.0.0.1:20242");
    EXPECT_EQ(doc["pid"].GetInt64(), 202);
    EXPECT_TRUE(doc["running"].GetBool());
}

TEST(SystemdReplicas, AnIndexOutOfRangeIsInvalidAndAsksNothing) {
    unit_runner r;
    systemd_supervisor s(two_units(), r.fn());
    for (int bad : {2, -1, 99}) {
        auto st = s.replica_status(bad);
        ASSERT_FALSE(st) << bad;
        EXPECT_EQ(st.error().kind, sup_errc::invalid);
        EXPECT_NE(st.error().message.find("has no replica " + std::to_string(bad) + ": it supervises 2 units (replicas 0 to 1)"),
                  std::string::npos)
            << st.error().message;
        auto rs = s.replica_restart(bad);
        ASSERT_FALSE(rs);
        EXPECT_EQ(rs.error().kind, sup_errc::invalid);
    }
    EXPECT_TRUE(r.calls.empty());
}

TEST(SystemdReplicas, ReplicaRestartTouchesOnlyItsUnit) {
    unit_runner r;
    systemd_supervisor s(two_units(), r.fn());
    ASSERT_TRUE(s.replica_restart(1));
    ASSERT_EQ(r.calls.size(), 2u);
    EXPECT_EQ(r.calls[0], reset_failed_argv(s.config(), "cloudflared@2.service"));
    EXPECT_EQ(r.calls[1], restart_argv(s.config(), "cloudflared@2.service"));
}

TEST(SystemdReplicas, RestartTriesEveryUnitAndReturnsTheFirstFailure) {
    unit_runner r;
    r.restart["cloudflared@1.service"] = answer_with(1, "", "Failed to restart cloudflared@1.service: Access denied\n");
    systemd_supervisor s(two_units(), r.fn());
    auto all = s.restart();
    ASSERT_FALSE(all);
    EXPECT_EQ(all.error().kind, sup_errc::denied);
    EXPECT_NE(all.error().message.find("cloudflared@1.service"), std::string::npos) << all.error().message;
    ASSERT_EQ(r.calls.size(), 4u) << "the second unit is restarted all the same";
    EXPECT_EQ(r.calls[3], restart_argv(s.config(), "cloudflared@2.service"));
}

TEST(SystemdReplicas, TheWholeRunsWhenAnyReplicaRuns) {
    unit_runner r;
    r.show["cloudflared@1.service"] = answer_with(0, show_of(false, 0));
    r.show["cloudflared@2.service"] = answer_with(0, show_of(true, 202));
    systemd_supervisor s(two_units(), r.fn());
    auto each = s.every_status();
    ASSERT_EQ(each.size(), 2u);
    auto whole = s.whole_status(each);
    ASSERT_TRUE(whole) << whole.error().message;
    rapidjson::Document doc;
    doc.Parse(whole->c_str());
    ASSERT_TRUE(doc.IsObject()) << *whole;
    EXPECT_TRUE(doc["running"].GetBool());
    EXPECT_EQ(doc["pid"].GetInt64(), 202) << "the first replica that runs speaks for the whole";
    EXPECT_EQ(doc["replicas"].GetInt(), 2);
    EXPECT_EQ(doc["replicas_running"].GetInt(), 1);
    EXPECT_NE(std::string(doc["detail"].GetString()).find("1 of 2 replicas running"), std::string::npos);

    // A unit systemd does not know fails its own status, not the whole.
    r.show["cloudflared@1.service"] = answer_with(0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n");
    auto partly = s.whole_status(s.every_status());
    ASSERT_TRUE(partly);
    EXPECT_NE(partly->find("has no unit cloudflared@1.service"), std::string::npos) << *partly;
    EXPECT_NE(partly->find("supervisor.units"), std::string::npos) << *partly;
    r.show["cloudflared@2.service"] = r.show["cloudflared@1.service"];
    auto none = s.whole_status(s.every_status());
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, sup_errc::not_found);
}

TEST(SystemdReplicas, OneUnitsWholeStatusIsAsItAlwaysWas) {
    unit_runner r;
    r.show["cloudflared.service"] = answer_with(0, show_of(true, 77));
    systemd_supervisor s(supervisor_config{}, r.fn());
    auto whole = s.whole_status(s.every_status());
    ASSERT_TRUE(whole);
    EXPECT_EQ(*whole, to_json(*s.replica_status(0)));
    EXPECT_EQ(whole->find("replicas"), std::string::npos);
    EXPECT_EQ(whole->find("\"name\""), std::string::npos);
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
