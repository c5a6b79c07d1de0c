// What is said to systemctl and how its answers are read: argv (prefix, no shell, "--" before the
// unit), `systemctl show` parsing, running/since rules, and each failure's kind and sentence.
#include <gtest/gtest.h>

#include <cerrno>

#include "systemctl_protocol.hpp"

namespace {

using namespace tunnelmgr::plugins::systemd_supervisor;

supervisor_config config_with(std::vector<std::string> prefix = {}) {
    supervisor_config c;
    c.command_prefix = std::move(prefix);
    return c;
}

command_outcome exited(int code, std::string err, std::string out = "") {
    command_outcome o;
    o.ended = command_outcome::how::exited;
    o.exit_code = code;
    o.err = std::move(err);
    o.out = std::move(out);
    return o;
}

const std::string k_unit = "cloudflared.service";

constexpr const char* k_active_show =
    "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=812\n"
    "ActiveEnterTimestampMonotonic=5000000\nActiveEnterTimestamp=Sun 2026-11-22 02:37:48 UTC\n"
    "NRestarts=2\nResult=success\n";

TEST(SystemctlArgv, ShowAndRestartWithoutPrefix) {
    auto c = config_with();
    EXPECT_EQ(show_argv(c, k_unit), (std::vector<std::string>{"systemctl", "show", "--no-pager", "-p", show_properties, "--",
                                                      "cloudflared.service"}));
    EXPECT_EQ(restart_argv(c, k_unit), (std::vector<std::string>{"systemctl", "restart", "--no-block", "--no-ask-password",
                                                         "--", "cloudflared.service"}));
}

TEST(SystemctlArgv, ResetFailedBeforeRestart) {
    auto c = config_with({"sudo", "-n"});
    EXPECT_EQ(reset_failed_argv(c, k_unit), (std::vector<std::string>{"sudo", "-n", "systemctl", "reset-failed",
                                                              "--no-ask-password", "--", "cloudflared.service"}));
}

TEST(SystemctlArgv, PrefixGoesFirstArgumentByArgument) {
    auto c = config_with({"docker", "-H", "unix:///tmp/x/docker.sock", "exec", "tm-systemd"});
    c.systemctl = "/bin/systemctl";
    auto argv = restart_argv(c, "cf.service");
    ASSERT_EQ(argv.size(), 11u);
    EXPECT_EQ(argv[0], "docker");
    EXPECT_EQ(argv[4], "tm-systemd");
    EXPECT_EQ(argv[5], "/bin/systemctl");
    EXPECT_EQ(argv.back(), "cf.service");
    EXPECT_EQ(argv[argv.size() - 2], "--");
    EXPECT_EQ(show_argv(c, "cf.service").front(), "docker");
}

TEST(SystemctlShow, ParsesAnActiveUnit) {
    auto p = parse_show_output(k_active_show);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_EQ(p->load_state, "loaded");
    EXPECT_EQ(p->active_state, "active");
    EXPECT_EQ(p->sub_state, "running");
    EXPECT_EQ(p->main_pid, 812);
    EXPECT_EQ(p->active_enter_monotonic_us, 5000000);
    EXPECT_EQ(p->active_enter_timestamp, "Sun 2026-11-22 02:37:48 UTC");
    EXPECT_EQ(p->n_restarts, 2);
    EXPECT_TRUE(is_running(*p));
    EXPECT_EQ(describe("cloudflared.service", *p),
              "cloudflared.service is active (running), main PID 812, since Sun 2026-11-22 02:37:48 UTC, "
              "restarted 2 times by systemd");
}

TEST(SystemctlShow, OrderOfLinesAndUnknownKeysDoNotMatter) {
    auto p = parse_show_output("Foo=bar\r\nMainPID=0\r\nSubState=dead\r\nActiveState=inactive\r\nLoadState=loaded\r\n");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->active_state, "inactive");
    EXPECT_EQ(p->main_pid, 0);
    EXPECT_FALSE(p->n_restarts.has_value());
    EXPECT_FALSE(is_running(*p));
}

TEST(SystemctlShow, OutputWithoutActiveStateIsNotUnderstood) {
    auto p = parse_show_output("something else entirely\n");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind, sup_errc::error);
    EXPECT_NE(p.error().message.find("something else entirely"), std::string::npos);
}

TEST(SystemctlShow, RunningNeedsAMainPidInAnAliveState) {
    unit_properties p;
    p.main_pid = 10;
    for (const char* s : {"active", "reloading", "activating"}) {
        p.active_state = s;
        EXPECT_TRUE(is_running(p)) << s;
    }
    for (const char* s : {"inactive", "failed", "deactivating"}) {
        p.active_state = s;
        EXPECT_FALSE(is_running(p)) << s;
    }
    p.active_state = "active";  // a oneshot with RemainAfterExit: active/exited, no process
    p.sub_state = "exited";
    p.main_pid = 0;
    EXPECT_FALSE(is_running(p));
}

TEST(SystemctlShow, SinceFromUtcTimestampOrUnixSecondsOrMonotonic) {
    unit_properties p;
    p.active_enter_timestamp = "Sun 2026-11-22 02:37:48 UTC";
    EXPECT_EQ(active_since_unix_ms(p, 0, 0), 1795315068000);
    p.active_enter_timestamp = "@1700000000";
    EXPECT_EQ(active_since_unix_ms(p, 0, 0), 1700000000000);
    // A local zone we cannot read reliably: the monotonic stamp, with this machine's clocks.
    p.active_enter_timestamp = "Sun 2026-11-22 03:37:48 CET";
    p.active_enter_monotonic_us = 4'000'000;
    EXPECT_EQ(active_since_unix_ms(p, 1'000'000'000'000, 10'000'000), 1'000'000'000'000 - 6'000);
    // A monotonic stamp from the future is from another machine: unknown.
    EXPECT_FALSE(active_since_unix_ms(p, 1'000'000'000'000, 1'000'000).has_value());
    p.active_enter_monotonic_us = 0;  // never active
    p.active_enter_timestamp = "";
    EXPECT_FALSE(active_since_unix_ms(p, 1'000'000'000'000, 10'000'000).has_value());
}

TEST(SystemctlShow, DescribesMissingMaskedAndFailedUnits) {
    unit_properties p;
    p.load_state = "not-found";
    EXPECT_NE(describe("x.service", p).find("not known to systemd"), std::string::npos);
    p.load_state = "masked";
    EXPECT_NE(describe("x.service", p).find("systemctl unmask x.service"), std::string::npos);
    p.load_state = "loaded";
    p.active_state = "failed";
    p.sub_state = "failed";
    p.result = "signal";
    EXPECT_EQ(describe("x.service", p), "x.service is failed (failed), last result signal");
}

TEST(SystemctlFailure, SuccessIsNoFailure) {
    auto c = config_with();
    EXPECT_FALSE(classify_failure(c, k_unit, restart_argv(c, k_unit), exited(0, ""), "restart").has_value());
}

TEST(SystemctlFailure, UnitNotFoundSaysHowToFixIt) {
    auto c = config_with();
    auto e = classify_failure(c, k_unit, restart_argv(c, k_unit),
                              exited(5, "Failed to restart cloudflared.service: Unit cloudflared.service not found.\n"),
                              "restart");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::not_found);
    EXPECT_NE(e->message.find("has no unit cloudflared.service"), std::string::npos) << e->message;
    EXPECT_NE(e->message.find("supervisor.unit"), std::string::npos) << e->message;
    EXPECT_NE(e->message.find("Unit cloudflared.service not found."), std::string::npos) << e->message;
}

TEST(SystemctlFailure, ResetFailedOfAnUnknownUnitIsNotFound) {
    auto c = config_with();
    auto e = classify_failure(c, k_unit, reset_failed_argv(c, k_unit),
        exited(1, "Failed to reset failed state of unit cloudflared.service: Unit cloudflared.service not loaded.\n"),
        "restart");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::not_found);
}

TEST(SystemctlFailure, PermissionDeniedSuggestsThePrefix) {
    auto c = config_with();
    for (const char* err : {"Failed to restart cloudflared.service: Access denied\n",
                            "Failed to restart cloudflared.service: Interactive authentication required.\n",
                            "sudo: a password is required\n"}) {
        auto e = classify_failure(c, k_unit, restart_argv(c, k_unit), exited(1, err), "restart");
        ASSERT_TRUE(e) << err;
        EXPECT_EQ(e->kind, sup_errc::denied) << err;
        EXPECT_NE(e->message.find(R"(["sudo", "-n"])"), std::string::npos) << e->message;
    }
    auto e = classify_failure(c, k_unit, restart_argv(c, k_unit), exited(4, ""), "restart");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::denied);
}

TEST(SystemctlFailure, TimeoutSaysWhatWasStopped) {
    auto c = config_with({"sudo"});
    c.timeout = std::chrono::milliseconds(1500);
    command_outcome o;
    o.ended = command_outcome::how::timed_out;
    auto e = classify_failure(c, k_unit, restart_argv(c, k_unit), o, "restart");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::timeout);
    EXPECT_NE(e->message.find("1500 ms"), std::string::npos) << e->message;
    EXPECT_NE(e->message.find("sudo -n"), std::string::npos) << e->message;
}

TEST(SystemctlFailure, MissingProgramNamesTheSettingToFix) {
    auto c = config_with();
    command_outcome o;
    o.ended = command_outcome::how::spawn_failed;
    o.spawn_errno = ENOENT;
    auto e = classify_failure(c, k_unit, show_argv(c, k_unit), o, "read the status of");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::error);
    EXPECT_NE(e->message.find("supervisor.systemctl"), std::string::npos) << e->message;
    auto p = config_with({"docker", "exec", "cf"});
    e = classify_failure(p, k_unit, show_argv(p, k_unit), o, "read the status of");
    ASSERT_TRUE(e);
    EXPECT_NE(e->message.find("docker is not installed"), std::string::npos) << e->message;
    EXPECT_NE(e->message.find("supervisor.command_prefix"), std::string::npos) << e->message;
}

TEST(SystemctlFailure, DockerExecPrefixProblemsAreNamed) {
    auto c = config_with({"docker", "exec", "cf"});
    auto e = classify_failure(c, k_unit, show_argv(c, k_unit), exited(1, "Error: No such container: cf\n"), "read the status of");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::not_found);
    EXPECT_NE(e->message.find("container name in supervisor.command_prefix"), std::string::npos) << e->message;
    e = classify_failure(c, k_unit, show_argv(c, k_unit),
                         exited(1, "Error response from daemon: Container 0123abc is not running\n"), "restart");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::error);
    EXPECT_NE(e->message.find("not running"), std::string::npos);
    e = classify_failure(c, k_unit, show_argv(c, k_unit),
                         exited(127, "OCI runtime exec failed: exec failed: unable to start container process: exec: "
                                     "\"systemctl\": executable file not found in $PATH: unknown\n"),
                         "restart");
    ASSERT_TRUE(e);
    EXPECT_NE(e->message.find("supervisor.systemctl"), std::string::npos) << e->message;
}

TEST(SystemctlFailure, NoSystemdWhereItRanPointsAtThePrefix) {
    auto c = config_with();
    auto e = classify_failure(c, k_unit, show_argv(c, k_unit),
                              exited(1, "System has not been booted with systemd as init system (PID 1). Can't "
                                        "operate.\nFailed to connect to bus: Host is down\n"),
                              "read the status of");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::error);
    EXPECT_NE(e->message.find("systemd is not running where systemctl ran"), std::string::npos) << e->message;
    EXPECT_NE(e->message.find("command_prefix"), std::string::npos);
}

TEST(SystemctlFailure, AnythingElseQuotesTheCommandAndExitCode) {
    auto c = config_with();
    auto e = classify_failure(c, k_unit, restart_argv(c, k_unit), exited(3, "weird\n"), "restart");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, sup_errc::error);
    EXPECT_NE(e->message.find("exit code 3"), std::string::npos) << e->message;
    EXPECT_NE(e->message.find("weird"), std::string::npos) << e->message;
}

}  // namespace
