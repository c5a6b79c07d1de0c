// A whole tunnelmgr setup on loopback for process-level tests (doctor, the daemon's /metrics):
// the Cloudflare API fake in-process, the cloudflared stub as a child process, a stand-in
// `systemctl` script for systemd-supervisor, and a config naming them all.
#pragma once

#include <sys/stat.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cloudflare_fake.hpp"
#include "loopback_http.hpp"
#include "process/child_process.hpp"
#include "process/run_process.hpp"

namespace tunnelmgr::testing {

inline const std::string live_token = "fake-token-for-tests-5d0c1a";  // obviously fake
inline const std::string live_tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";

struct live_system_options {
    bool stub_ready = true;  // false: the stub starts unready (TM_STUB_START_UNREADY)
    bool start_stub = true;
};

class live_system {
public:
    using options = live_system_options;

    explicit live_system(const std::string& name, options o = options()) : opts_(o) {
        dir_ = std::filesystem::temp_directory_path() / ("tm-live-" + std::to_string(::getpid()) + "-" + name);
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        cloudflare_fake::options fo;
        fo.tokens = {live_token};
        fo.zones = {"example.com"};
        auto f = cloudflare_fake::start(fo);
        if (!f) {
            ADD_FAILURE() << f.error();
            return;
        }
        fake_ = std::move(*f);
        write_token(live_token);
        std::ofstream(dir_ / "credentials.json") << "{\"AccountTag\":\"fake\",\"TunnelID\":\"" << live_tunnel_id
                                                  << "\",\"TunnelSecret\":\"ZmFrZQ==\"}";
        std::ofstream(dir_ / "cloudflared.yml")
            << "tunnel: " << live_tunnel_id << "\ncredentials-file: " << (dir_ / "credentials.json").string()
            << "\ningress:\n  - hostname: www.example.com\n    service: http://localhost:80\n  - service: http_status:404\n";
        if (o.start_stub) start_stub();
        // systemd-supervisor runs `systemctl show ...` by argv: this script answers as systemd would
        // for a running unit whose main process is the stub in main.pid; `restart` replaces it, as
        // systemd does (a new process on the same metrics address: tunnelmgr waits for a new one).
        if (o.start_stub) std::ofstream(dir_ / "main.pid") << stub_.pid();
        {
            std::ofstream sc(dir_ / "systemctl");
            sc << "#!/bin/sh\nd='" << dir_.string() << "'\npid=$(cat \"$d/main.pid\" 2>/dev/null)\n"
               << "alive() { [ -n \"$1\" ] && [ -d /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }\n"
               << "case \"$1\" in\nshow)\n"
               << "printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=%s"
               << "\\nActiveEnterTimestampMonotonic=1\\nActiveEnterTimestamp=\\nNRestarts=0\\nResult=success\\n' \"$pid\" ;;\n"
               << "restart)\n"
               << "  if alive \"$pid\"; then kill -TERM \"$pid\"; i=0; while alive \"$pid\" && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; fi\n"
               << "  TM_STUB_READY_DELAY_MS=0 TM_STUB_START_UNREADY=" << (o.stub_ready ? "0" : "1") << " setsid "
               << TM_CLOUDFLARED_STUB << " tunnel --config " << (dir_ / "cloudflared.yml").string() << " --metrics "
               << stub_metrics_ << " --grace-period 0s run >> \"$d/stub.log\" 2>&1 < /dev/null &\n"
               << "  echo $! > \"$d/main.pid\" ;;\nesac\nexit 0\n";
        }
        ::chmod((dir_ / "systemctl").c_str(), 0755);
        write_config();
    }
    ~live_system() {
        stub_.stop(std::chrono::seconds(5));
        // A stub the stand-in systemctl started on a restart (detached: nobody's child here).
        pid_t restarted = 0;
        std::ifstream(dir_ / "main.pid") >> restarted;
        if (restarted > 0 && restarted != stub_.pid()) ::kill(restarted, SIGKILL);
        fake_.reset();
        std::error_code ec;
        if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_, ec);
    }

    void start_stub() {
        std::map<std::string, std::string> env{{"TM_STUB_READY_DELAY_MS", "0"}};
        if (!opts_.stub_ready) env["TM_STUB_START_UNREADY"] = "1";
        auto log = (dir_ / "stub.log").string();
        ASSERT_TRUE(stub_.start({TM_CLOUDFLARED_STUB, "tunnel", "--config", (dir_ / "cloudflared.yml").string(), "--metrics",
                                 "127.0.0.1:0", "--grace-period", "0s", "run"},
                                log, env));
        // The bound address is in the log: "Starting metrics server on 127.0.0.1:PORT/metrics".
        for (int i = 0; i < 1000 && stub_metrics_.empty(); ++i) {
            std::string text = stub_.log();
            auto at = text.find("Starting metrics server on ");
            if (at != std::string::npos) {
                auto from = at + std::string("Starting metrics server on ").size();
                auto end = text.find("/metrics", from);
                if (end != std::string::npos) stub_metrics_ = text.substr(from, end - from);
            }
            if (stub_metrics_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ASSERT_FALSE(stub_metrics_.empty()) << stub_.log();
        if (opts_.stub_ready) {
            int port = std::stoi(stub_metrics_.substr(stub_metrics_.rfind(':') + 1));
            for (int i = 0; i < 500 && loopback_request(port, "GET", "/ready").status != 200; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            ASSERT_EQ(loopback_request(port, "GET", "/ready").status, 200) << stub_.log();
        }
    }

    void write_token(const std::string& token, unsigned mode = 0600) {
        std::ofstream(dir_ / "token", std::ios::trunc) << token << "\n";
        ::chmod((dir_ / "token").c_str(), mode);
    }

    // tunnel.metrics defaults to the stub's address; `extra` is appended (more top-level keys).
    void write_config(const std::string& extra = "", const std::string& tunnel_metrics = "") {
        std::ofstream(dir_ / "config.yml", std::ios::trunc)
            << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id()
            << "\n  max_retries: 1\n"
            << "supervisor: { plugin: systemd-supervisor, unit: cloudflared.service, systemctl: "
            << (dir_ / "systemctl").string() << " }\n"
            << "tunnel: { id: " << live_tunnel_id << ", default_domain: example.com, ingress: local, config_file: " << (dir_ / "cloudflared.yml").string()
            << ", metrics: \"" << (tunnel_metrics.empty() ? stub_metrics_ : tunnel_metrics) << "\", backup_dir: "
            << (dir_ / "history").string() << ", ready_timeout: 10s }\n"
            << "health: { interval: 1s }\n"
            << "projects:\n  alpha: { ports: \"3100-3199\" }\n  beta: { ports: \"4100-4199\" }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n"
            << extra;
    }

    process_result tunnelmgr(const std::vector<std::string>& args) {
        std::vector<std::string> argv{std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr", "--config",
                                      (dir_ / "config.yml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }
    std::vector<std::string> tunnelmgr_argv(const std::vector<std::string>& args) const {
        std::vector<std::string> argv{std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr", "--config",
                                      (dir_ / "config.yml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    const std::filesystem::path& dir() const { return dir_; }
    const std::string& stub_metrics() const { return stub_metrics_; }
    child_process& stub() { return stub_; }

private:
    options opts_;
    std::filesystem::path dir_;
    std::unique_ptr<cloudflare_fake> fake_;
    child_process stub_;
    std::string stub_metrics_;
};

}  // namespace tunnelmgr::testing
