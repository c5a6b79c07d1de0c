// A restart counts when a new cloudflared is ready: `tunnelmgr cname add` against real parts — the
// tunnelmgr binary, the systemd-supervisor plugin, the cloudflared stub, the Cloudflare API fake —
// with a scripted systemctl that, like `systemctl restart --no-block`, returns at once and replaces
// the process later, so the old stub keeps answering /ready (with its own connectorId) meanwhile.
// An add reports ready only once the new process is; a new one that never gets ready rolls it back.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"
#include "process/run_process.hpp"
#include "process/test_files.hpp"
#include "../host/metrics/loopback_http.hpp"

using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::run_process;
namespace fs = std::filesystem;
using tunnelmgr::testing::eventually;
using tunnelmgr::testing::lines_of;
using tunnelmgr::testing::slurp;
using namespace std::chrono_literals;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string token = "fake-token-for-tests-5d1e7a";
const std::string tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";





class restart_readiness : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-restart-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        port_ = tunnelmgr::testing::free_loopback_port();
        cloudflare_fake::options o;
        o.tokens = {token};
        o.zones = {"example.com"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(dir_ / "token") << token << "\n";
        std::ofstream(dir_ / "creds.json") << R"({"AccountTag":"a","TunnelSecret":"c2VjcmV0","TunnelID":")" << tunnel_id << "\"}";
        seed_ = "# cloudflared config (the operator's)\ntunnel: " + tunnel_id + "\ncredentials-file: " +
                (dir_ / "creds.json").string() + "\ningress:\n  - hostname: www.example.com\n    service: http://localhost:80\n"
                "  - service: http_status:404\n";
        std::ofstream(dir_ / "cloudflared.yml") << seed_;
        write_systemctl();
        std::ofstream(dir_ / "config.yml")
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id() << "\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: local, config_file: "
            << (dir_ / "cloudflared.yml").string() << ", metrics: 127.0.0.1:" << port_ << ", ready_timeout: 3s }\n"
            << "supervisor: { plugin: systemd-supervisor, unit: cloudflared.service, systemctl: " << (dir_ / "systemctl").string() << " }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
        ASSERT_EQ(run_process({(dir_ / "systemctl").string(), "start", "cloudflared.service"}).exit_code, 0);
        ASSERT_TRUE(eventually([&] { return ready().first == 200; })) << slurp(dir_ / "stub.log");
    }
    void TearDown() override {
        // Let a restart the scripted systemctl still has under way finish, then stop what it started.
        eventually([&] { return lines_of(dir_ / "launches") >= jobs(); }, 5s);
        if (pid_t pid = main_pid(); pid > 0) ::kill(pid, SIGKILL);
        fake_.reset();
        if (!HasFailure()) fs::remove_all(dir_);
    }

    // systemctl for systemd-supervisor: `show` reports the stub in main.pid; `restart` returns at
    // once and, after `hold` seconds in which the old stub keeps answering, stops it (SIGTERM) and
    // starts a fresh one — one that never connects when the file `next-unready` exists (used once).
    void write_systemctl() {
        auto path = dir_ / "systemctl";
        std::ofstream f(path);
        f << "#!/bin/sh\n"
          << "d='" << dir_.string() << "'\n"
          << "echo \"$*\" >> \"$d/calls\"\n"
          << "alive() { [ -n \"$1\" ] && [ \"$1\" -gt 0 ] && [ -d /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }\n"
          << "stop() { if alive \"$1\"; then kill -TERM \"$1\"; i=0; while alive \"$1\" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; fi; }\n"
          << "launch() {\n"
          << "  u=0; if [ -e \"$d/next-unready\" ]; then rm -f \"$d/next-unready\"; u=1; fi\n"
          << "  TM_STUB_START_UNREADY=$u TM_STUB_READY_DELAY_MS=100 setsid " << TM_CLOUDFLARED_STUB << " tunnel --config "
          << (dir_ / "cloudflared.yml").string() << " --metrics 127.0.0.1:" << port_
          << " --grace-period 0s run >> \"$d/stub.log\" 2>&1 < /dev/null &\n"
          << "  echo $! > \"$d/main.pid\"; echo \"$! unready=$u\" >> \"$d/launches\"\n"
          << "}\n"
          << "pid=$(cat \"$d/main.pid\" 2>/dev/null)\n"
          << "case \"$1\" in\n"
          << "show)\n"
          << "  if alive \"$pid\"; then\n"
          << "    printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=%s\\nActiveEnterTimestampMonotonic=1\\nNRestarts=0\\nResult=success\\n' \"$pid\"\n"
          << "  else\n"
          << "    printf 'LoadState=loaded\\nActiveState=activating\\nSubState=start\\nMainPID=0\\nActiveEnterTimestampMonotonic=0\\nNRestarts=0\\nResult=success\\n'\n"
          << "  fi ;;\n"
          << "start) stop \"$pid\"; launch ;;\n"
          << "restart)\n"
          << "  hold=$(cat \"$d/hold\" 2>/dev/null || echo 0)\n"
          << "  ( sleep \"$hold\"; stop \"$pid\"; launch ) < /dev/null > /dev/null 2>&1 &\n"
          << "  ;;\n"
          << "esac\n"
          << "exit 0\n";
        f.close();
        ::chmod(path.c_str(), 0755);
    }
    size_t jobs() {  // start and restart calls so far
        std::ifstream in(dir_ / "calls");
        size_t n = 0;
        for (std::string line; std::getline(in, line);) n += line.rfind("start", 0) == 0 || line.rfind("restart", 0) == 0;
        return n;
    }
    pid_t main_pid() {
        std::ifstream in(dir_ / "main.pid");
        pid_t pid = 0;
        in >> pid;
        return pid;
    }
    // GET /ready: the status and the connectorId of whichever stub answers.
    std::pair<int, std::string> ready() {
        auto a = tunnelmgr::testing::loopback_request(port_, "GET", "/ready");
        rapidjson::Document d;
        d.Parse(a.body.c_str());
        std::string id = d.IsObject() && d.HasMember("connectorId") && d["connectorId"].IsString() ? d["connectorId"].GetString() : "";
        return {a.status, id};
    }
    tunnelmgr::testing::process_result tm(std::vector<std::string> args) {
        std::vector<std::string> argv{binary, "--config", (dir_ / "config.yml").string(), "--log-level", "info"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }
    size_t our_records() {
        size_t n = 0;
        for (const auto& r : fake_->records()) n += r.type == "CNAME" && r.comment && r.comment->rfind("tunnelmgr:", 0) == 0;
        return n;
    }

    fs::path dir_;
    int port_ = 0;
    std::string seed_;
    std::unique_ptr<cloudflare_fake> fake_;
};

}  // namespace

TEST_F(restart_readiness, the_add_is_ready_only_when_the_new_instance_answers_not_the_old_one) {
    const auto [status, old_id] = ready();
    ASSERT_EQ(status, 200);
    ASSERT_FALSE(old_id.empty()) << "the stub's /ready names its connector, as cloudflared 2025.5.0's does";
    const pid_t old_pid = main_pid();
    std::ofstream(dir_ / "hold") << "1.5";  // the old process answers 200 for 1.5 s after the restart is issued

    auto r = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    ASSERT_TRUE(d.IsObject() && d.HasMember("apply") && d["apply"].IsString()) << r.out;
    const std::string note = d["apply"].GetString();
    std::printf("apply: %s\n", note.c_str());

    // Which process answers now: a new one, and the one the add waited for.
    const auto [now_status, new_id] = ready();
    EXPECT_EQ(now_status, 200);
    EXPECT_NE(new_id, old_id);
    EXPECT_NE(main_pid(), old_pid);
    EXPECT_NE(note.find("new instance (connector " + new_id + ")"), std::string::npos) << note;
    EXPECT_EQ(note.find(old_id), std::string::npos) << note;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(note, m, std::regex("after ([0-9]+) ms"))) << note;
    EXPECT_GE(std::stoi(m[1].str()), 1000) << "it cannot be ready before the old process is even stopped: " << note;
    EXPECT_EQ(our_records(), 1u);
    EXPECT_NE(slurp(dir_ / "cloudflared.yml").find("app.example.com"), std::string::npos);
}

TEST_F(restart_readiness, a_new_instance_that_never_gets_ready_rolls_the_add_back) {
    std::ofstream(dir_ / "hold") << "0.5";
    std::ofstream(dir_ / "next-unready") << "";  // the restart's new stub never connects (the rollback's does)

    auto r = tm({"cname", "add", "app", "--port", "3100", "--project", "alpha"});
    std::printf("exit %d; stderr tail: %s\n", r.exit_code, r.err.substr(r.err.size() > 600 ? r.err.size() - 600 : 0).c_str());
    EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
    EXPECT_NE(r.err.find("the new instance did not report ready within 3 s"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(dir_ / "cloudflared.yml"), seed_) << "the ingress file is as it was";
    EXPECT_EQ(our_records(), 0u) << "the DNS record is deleted again";
    auto ls = tm({"cname", "ls", "--json"});
    EXPECT_EQ(ls.exit_code, 0) << ls.err;
    EXPECT_EQ(ls.out.find("app.example.com"), std::string::npos) << ls.out;
    // The rollback restarted cloudflared once more, on the old file: that one comes up.
    EXPECT_GE(jobs(), 3u) << slurp(dir_ / "calls");
    EXPECT_TRUE(eventually([&] { return ready().first == 200; }, 5s)) << slurp(dir_ / "stub.log");
}
