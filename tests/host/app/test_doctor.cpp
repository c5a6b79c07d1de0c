// `tunnelmgr doctor`, the real binary as a process against the Cloudflare API fake, the cloudflared
// stub and the real plugins: all ok on a healthy setup; each broken part a FAIL line that names the
// fix, exit 1; the API token never printed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include "live_system.hpp"

using tunnelmgr::testing::live_system;

namespace {

std::vector<std::string> lines_starting(const std::string& out, const std::string& prefix) {
    std::vector<std::string> found;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) found.push_back(line);
    }
    return found;
}

bool has_line(const std::string& out, const std::string& prefix, const std::string& part) {
    for (const auto& l : lines_starting(out, prefix)) {
        if (l.find(part) != std::string::npos) return true;
    }
    return false;
}

}  // namespace

TEST(doctor, a_healthy_setup_is_all_ok) {
    live_system sys("doctor-ok");
    auto r = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(lines_starting(r.out, "FAIL").empty()) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "parses")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "is readable and private (mode 600)")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "dns: cloudflare-dns")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "1 zone(s) visible (example.com)")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "is ready with 4 connection(s)")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "is valid (2 ingress rule(s))")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "matches tunnel.id")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "cloudflared is running (")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "schema version")) << r.out;
    EXPECT_TRUE(has_line(r.out, "ok    ", "no process holds the background lease")) << r.out;
    // Empty optional slots are warnings, each with what to do.
    EXPECT_TRUE(has_line(r.out, "warn  ", "the runtime slot is empty — ")) << r.out;
    EXPECT_NE(r.out.find("0 problem(s) found"), std::string::npos);

    auto j = sys.tunnelmgr({"doctor", "--json"});
    EXPECT_EQ(j.exit_code, 0) << j.err;
    rapidjson::Document d;
    d.Parse(j.out.c_str());
    ASSERT_FALSE(d.HasParseError()) << j.out;
    EXPECT_TRUE(d["ok"].GetBool());
    EXPECT_EQ(d["failures"].GetInt(), 0);
    ASSERT_TRUE(d["findings"].IsArray());
    EXPECT_GE(d["findings"].Size(), 10u);
    for (const auto& f : d["findings"].GetArray()) {
        std::string status = f["status"].GetString();
        EXPECT_TRUE(status == "ok" || status == "warn") << f["what"].GetString();
        if (status != "ok") EXPECT_STRNE(f["fix"].GetString(), "");
    }
}

TEST(doctor, a_refused_token_fails_with_the_fix_and_is_never_printed) {
    live_system sys("doctor-token");
    const std::string wrong = "fake-token-for-tests-refused-81c3";
    sys.write_token(wrong);
    auto r = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "the Cloudflare API token was refused")) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", " — put a valid Cloudflare API token")) << r.out;
    EXPECT_EQ(r.out.find(wrong), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(wrong), std::string::npos) << r.err;
    // The rest is still checked: the stub is fine.
    EXPECT_TRUE(has_line(r.out, "ok    ", "is ready with 4 connection(s)")) << r.out;
    auto j = sys.tunnelmgr({"doctor", "--json"});
    EXPECT_EQ(j.exit_code, 1);
    EXPECT_EQ(j.out.find(wrong), std::string::npos);
}

TEST(doctor, a_world_readable_token_file_fails) {
    live_system sys("doctor-mode");
    sys.write_token(tunnelmgr::testing::live_token, 0644);
    auto r = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "is readable by every user (mode 644) — chmod 600 ")) << r.out;
    EXPECT_EQ(r.out.find(tunnelmgr::testing::live_token), std::string::npos);
}

TEST(doctor, a_missing_ingress_file_fails) {
    live_system sys("doctor-ingress");
    std::filesystem::remove(sys.dir() / "cloudflared.yml");  // the stub read it at start; doctor looks now
    auto r = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "cloudflared.yml does not exist — point tunnel.config_file at")) << r.out;
}

TEST(doctor, a_tunnel_id_that_differs_from_the_ingress_file_fails) {
    live_system sys("doctor-tunnel-id");
    std::string text;
    {
        std::ifstream in(sys.dir() / "cloudflared.yml");
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    text.replace(text.find(tunnelmgr::testing::live_tunnel_id), tunnelmgr::testing::live_tunnel_id.size(),
                 "11111111-2222-3333-4444-555555555555");
    std::ofstream(sys.dir() / "cloudflared.yml", std::ios::trunc) << text;
    auto r = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "runs tunnel 11111111-2222-3333-4444-555555555555 but tunnel.id is")) << r.out;
}

TEST(doctor, an_unready_tunnel_fails) {
    live_system::options o;
    o.stub_ready = false;
    live_system sys("doctor-unready", o);
    auto r = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "reports 0 ready connections")) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", " — check cloudflared's log")) << r.out;
}

TEST(doctor, a_wrong_metrics_address_says_to_pin_it) {
    live_system sys("doctor-metrics");
    // A port that is bound but not listening refuses connections, and stays ours for the test.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::string wrong = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    sys.write_config("", wrong);
    auto r = sys.tunnelmgr({"doctor"});
    ::close(fd);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "nothing answers /ready at " + wrong)) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "pin --metrics to tunnel.metrics")) << r.out;
}

TEST(doctor, a_missing_plugin_fails_with_where_to_install_it) {
    live_system sys("doctor-plugin");
    sys.write_config("runtime: { plugin: no-such-runtime }\n");
    auto r = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", "runtime: ")) << r.out;
    EXPECT_TRUE(has_line(r.out, "FAIL  ", " — install no-such-runtime.so")) << r.out;
}

TEST(doctor, a_config_that_does_not_parse_is_a_finding_with_its_line) {
    auto dir = std::filesystem::temp_directory_path() / ("tm-doctor-badcfg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto cfg = dir / "config.yml";
    std::ofstream(cfg) << "state: { plugin: sqlite-state, path: /tmp/x.db }\nhealth:\n  interval: soon\n";
    auto r = tunnelmgr::testing::run_process({std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr", "--config", cfg.string(), "doctor"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("FAIL  " + cfg.string() + ":3: health.interval: 'soon' is not a duration"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 problem(s) found"), std::string::npos) << r.out;
    // Every other command still refuses to start on it.
    auto state = tunnelmgr::testing::run_process({std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr", "--config", cfg.string(), "state"});
    EXPECT_EQ(state.exit_code, 2);
    std::filesystem::remove_all(dir);
}

TEST(doctor, the_api_socket_is_checked_where_sessions_will_look_for_it) {
    live_system sys("doctor-api");
    const std::string sock = (sys.dir() / "api.sock").string();
    sys.write_config("api: { socket: " + sock + " }\n");
    auto none = sys.tunnelmgr({"doctor"});
    EXPECT_TRUE(has_line(none.out, "warn  ", "no tunnelmgr daemon answers on " + sock)) << none.out;
    EXPECT_TRUE(has_line(none.out, "warn  ", " — start the daemon")) << none.out;
    // Something listening there: the daemon answers.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    auto up = sys.tunnelmgr({"doctor"});
    ::close(fd);
    EXPECT_TRUE(has_line(up.out, "ok    ", "a daemon answers on " + sock)) << up.out;
}

namespace {

// tunnel.cloudflared_bin set to `bin` in the live system's config.
void judge_with(live_system& sys, const std::string& bin) {
    sys.write_config();
    std::ifstream in(sys.dir() / "config.yml");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string cfg = ss.str();
    cfg.replace(cfg.find("ingress: local, "), 16, "ingress: local, cloudflared_bin: \"" + bin + "\", ");
    std::ofstream(sys.dir() / "config.yml", std::ios::trunc) << cfg;
}

}  // namespace

TEST(doctor, cloudflared_judges_the_ingress_file_or_its_absence_is_a_warning) {
    live_system sys("doctor-judge");
    // Not found: a warning with what to do, not a failure.
    judge_with(sys, (sys.dir() / "no-such-cloudflared").string());
    auto absent = sys.tunnelmgr({"doctor"});
    EXPECT_TRUE(has_line(absent.out, "warn  ", "tunnel.cloudflared_bin " + (sys.dir() / "no-such-cloudflared").string() +
                                                   " is not an executable file — install cloudflared or set "
                                                   "tunnel.cloudflared_bin"))
        << absent.out;
    EXPECT_TRUE(lines_starting(absent.out, "FAIL").empty()) << absent.out;
    // `none`: not asked, not mentioned.
    judge_with(sys, "none");
    auto off = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(off.out.find("cloudflared_bin"), std::string::npos) << off.out;
    // A cloudflared that refuses the file: FAIL with its own words.
    const auto stub = sys.dir() / "cloudflared-says-no";
    std::ofstream(stub) << "#!/bin/sh\necho 'Validating rules from '\"$4\"\n"
                           "echo 'Validation failed: the stub refuses '\"$4\" >&2\nexit 1\n";
    std::filesystem::permissions(stub, std::filesystem::perms::owner_all);
    judge_with(sys, stub.string());
    auto no = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(no.exit_code, 1) << no.out;
    const std::string file = (sys.dir() / "cloudflared.yml").string();
    EXPECT_TRUE(has_line(no.out, "FAIL  ", "cloudflared (" + stub.string() + ") refuses " + file +
                                               ": Validation failed: the stub refuses " + file + " — fix the file"))
        << no.out;
}

TEST(doctor, the_real_cloudflared_accepts_a_good_file_and_fails_one_it_cannot_load) {
    live_system sys("doctor-real-judge");
    const std::string file = (sys.dir() / "cloudflared.yml").string();
    std::string real;
    if (const char* e = std::getenv("TM_CLOUDFLARED"); e != nullptr && *e != '\0') {
        real = ::access(e, X_OK) == 0 ? e : "";  // set to nothing runnable: the real one is skipped
    } else if (auto beside = std::filesystem::path(TM_TEST_SOURCE_DIR) / ".." / "shared" / "tools" / "cloudflared" / "cloudflared";
               std::filesystem::exists(beside)) {
        real = beside.lexically_normal().string();
    }
    if (real.empty()) GTEST_SKIP() << "the real cloudflared is not on this machine (../shared/tools/cloudflared): its part skipped";
    judge_with(sys, real);
    auto ok = sys.tunnelmgr({"doctor"});
    EXPECT_TRUE(has_line(ok.out, "ok    ", "cloudflared (" + real + ") accepts " + file)) << ok.out;
    // A hand-written duration cloudflared cannot parse; tunnelmgr's own rules let it through.
    std::string text;
    {
        std::ifstream in(file);
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    const auto catch_all = text.find("  - service: http_status:404");
    ASSERT_NE(catch_all, std::string::npos) << text;
    text.insert(catch_all, "    originRequest:\n      connectTimeout: soon\n");
    std::ofstream(file, std::ios::trunc) << text;
    auto bad = sys.tunnelmgr({"doctor"});
    EXPECT_EQ(bad.exit_code, 1) << bad.out;
    EXPECT_TRUE(has_line(bad.out, "FAIL  ", "cloudflared (" + real + ") refuses " + file)) << bad.out;
    EXPECT_TRUE(has_line(bad.out, "FAIL  ", "cannot unmarshal !!str `soon` into time.Duration")) << bad.out;
}
