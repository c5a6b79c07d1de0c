// Changes without downtime (issue 12): the real `tunnelmgr daemon` with its API socket, the real
// systemd-supervisor driving a scripted systemctl that runs real cloudflared stub processes (each
// replica a unit with its own metrics port), the Cloudflare API fake over loopback, a real ingress
// file. Four projects make 100 hostname changes at once while a sampler reads every replica's
// /ready every 10 ms. With two replicas and tunnel.apply_delay, no sample finds every replica
// unready and each replica restarts once per batch; with one replica and apply_delay 0, the gap
// the replicas close shows up. Figures go to stdout (for the notes), not into assertions on time.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <rapidjson/document.h>

#include "../host/metrics/loopback_http.hpp"
#include "cloudflare_fake.hpp"
#include "process/child_process.hpp"
#include "process/run_process.hpp"
#include "process/test_files.hpp"
#include "service/api_client.hpp"
#include "sys/sha256.hpp"

using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::eventually;
using tunnelmgr::testing::lines_of;
using tunnelmgr::testing::run_process;
using tunnelmgr::testing::slurp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using namespace tunnelmgr;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string cf_token = "fake-token-for-tests-zero-downtime-3a9c";
const std::string tunnel_id = "6ff42ae2-765d-4adf-8112-31c55c1551ef";

class zero_downtime : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tm-zdt-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        cloudflare_fake::options o;
        o.tokens = {cf_token};
        o.zones = {"example.com"};
        auto f = cloudflare_fake::start(o);
        ASSERT_TRUE(f) << f.error();
        fake_ = std::move(*f);
        std::ofstream(dir_ / "token") << cf_token << "\n";
        std::ofstream(dir_ / "creds.json") << R"({"AccountTag":"a","TunnelSecret":"c2VjcmV0","TunnelID":")" << tunnel_id << "\"}";
        std::ofstream(dir_ / "cloudflared.yml") << "tunnel: " << tunnel_id << "\ncredentials-file: " << (dir_ / "creds.json").string()
                                                << "\ningress:\n  - service: http_status:404\n";
        socket_ = "/tmp/tm-zdt-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_) + ".sock";
    }
    void TearDown() override {
        daemon_.stop();
        // Let restarts the scripted systemctl still has under way finish, then end every stub it started.
        for (int i = 1; i <= replicas_; ++i) {
            const std::string u = unit(i);
            eventually([&] { return lines_of(dir_ / ("launches-" + u)) >= jobs(u); }, 5s);
            std::ifstream in(dir_ / ("main-" + u + ".pid"));
            pid_t pid = 0;
            if (in >> pid; pid > 0) ::kill(pid, SIGKILL);
        }
        fake_.reset();
        fs::remove(socket_);
        if (!HasFailure()) fs::remove_all(dir_);
    }

    static std::string unit(int i) { return "cloudflared@" + std::to_string(i) + ".service"; }

    // systemctl for systemd-supervisor, one stub per unit: `show -- UNIT` reports its main PID;
    // `restart --no-block -- UNIT` returns at once and, 0.2 s later (the old process draining), stops
    // it and starts a fresh one on the unit's own metrics port (ready 100 ms after it starts).
    void write_systemctl() {
        auto path = dir_ / "systemctl";
        std::ofstream f(path);
        f << "#!/bin/sh\n"
          << "d='" << dir_.string() << "'\n"
          << "for a in \"$@\"; do u=\"$a\"; done\n"  // the unit is the last argument
          << "echo \"$1 $u\" >> \"$d/calls\"\n"
          << "port=$(cat \"$d/port-$u\")\n"
          << "alive() { [ -n \"$1\" ] && [ \"$1\" -gt 0 ] && [ -d /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }\n"
          << "stop() { if alive \"$1\"; then kill -TERM \"$1\"; i=0; while alive \"$1\" && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done; fi; }\n"
          << "launch() {\n"
          << "  TM_STUB_READY_DELAY_MS=100 setsid " << TM_CLOUDFLARED_STUB << " tunnel --config "
          << (dir_ / "cloudflared.yml").string() << " --metrics 127.0.0.1:$port"
          << " --grace-period 0s run >> \"$d/stub-$u.log\" 2>&1 < /dev/null &\n"
          << "  echo $! > \"$d/main-$u.pid\"; echo \"$!\" >> \"$d/launches-$u\"\n"
          << "}\n"
          << "pid=$(cat \"$d/main-$u.pid\" 2>/dev/null)\n"
          << "case \"$1\" in\n"
          << "show)\n"
          << "  if alive \"$pid\"; then\n"
          << "    printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=%s\\nActiveEnterTimestampMonotonic=1\\nNRestarts=0\\nResult=success\\n' \"$pid\"\n"
          << "  else\n"
          << "    printf 'LoadState=loaded\\nActiveState=activating\\nSubState=start\\nMainPID=0\\nActiveEnterTimestampMonotonic=0\\nNRestarts=0\\nResult=success\\n'\n"
          << "  fi ;;\n"
          << "start) stop \"$pid\"; launch ;;\n"
          << "restart) ( sleep 0.2; stop \"$pid\"; launch ) < /dev/null > /dev/null 2>&1 & ;;\n"
          << "esac\n"
          << "exit 0\n";
        f.close();
        ::chmod(path.c_str(), 0755);
    }
    size_t jobs(const std::string& u) {  // start and restart calls of one unit so far
        std::ifstream in(dir_ / "calls");
        size_t n = 0;
        for (std::string line; std::getline(in, line);) {
            n += (line.rfind("start ", 0) == 0 || line.rfind("restart ", 0) == 0) && line.find(u) != std::string::npos;
        }
        return n;
    }

    // replicas: units cloudflared@1..N; apply_delay: tunnel.apply_delay.
    void start(int replicas, const std::string& apply_delay) {
        replicas_ = replicas;
        write_systemctl();
        std::string units;
        for (int i = 1; i <= replicas; ++i) {
            ports_.push_back(tunnelmgr::testing::free_loopback_port());
            std::ofstream(dir_ / ("port-" + unit(i))) << ports_.back();
            units += (i == 1 ? "" : ", ") + std::string("{unit: ") + unit(i) + ", metrics: \"127.0.0.1:" +
                     std::to_string(ports_.back()) + "\"}";
        }
        std::ofstream cfg(dir_ / "config.yml");
        cfg << "state: { plugin: sqlite-state, path: " << (dir_ / "state.db").string() << " }\n"
            << "dns:\n  plugin: cloudflare-dns\n  api_base: " << fake_->base_url() << "\n  api_token_file: "
            << (dir_ / "token").string() << "\n  account_id: " << fake_->account_id() << "\n  budget_per_5min: 2000\n"
            << "tunnel: { id: " << tunnel_id << ", default_domain: example.com, ingress: local, config_file: "
            << (dir_ / "cloudflared.yml").string() << ", metrics: \"127.0.0.1:" << ports_[0] << "\", ready_timeout: 10s, "
            << "apply_delay: " << apply_delay << ", backup_dir: " << (dir_ / "history").string() << " }\n"
            << "supervisor: { plugin: systemd-supervisor, "
            << (replicas == 1 ? "unit: " + unit(1) : "units: [" + units + "]") << ", systemctl: " << (dir_ / "systemctl").string()
            << " }\n"
            << "health: { interval: 30s }\n"
            << "api: { socket: " << socket_ << " }\n"
            << "projects:\n";
        for (int p = 0; p < 4; ++p) {
            cfg << "  p" << p << ": { ports: \"" << 3000 + p * 100 << "-" << 3099 + p * 100 << "\", token_sha256: "
                << sys::sha256_hex(project_token(p)) << ", rate: { changes_per_minute: 1000 } }\n";
        }
        cfg << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
        cfg.close();
        for (int i = 1; i <= replicas; ++i) {
            ASSERT_EQ(run_process({(dir_ / "systemctl").string(), "start", "--", unit(i)}).exit_code, 0);
        }
        ASSERT_TRUE(eventually([&] {
            for (int port : ports_) {
                if (tunnelmgr::testing::loopback_request(port, "GET", "/ready").status != 200) return false;
            }
            return true;
        })) << slurp(dir_ / ("stub-" + unit(1) + ".log"));
        ASSERT_TRUE(daemon_.start({binary, "--config", (dir_ / "config.yml").string(), "--log-level", "info", "daemon"},
                                  (dir_ / "daemon.log").string()));
        ASSERT_TRUE(eventually([&] { return fs::exists(socket_) || !daemon_.running(); }, 20s));
        ASSERT_TRUE(fs::exists(socket_)) << daemon_.log();
    }
    static std::string project_token(int p) { return "fake-token-for-tests-zdt-project-" + std::to_string(p); }

    struct figures {
        int samples = 0, all_unready = 0, changes_ok = 0, changes_failed = 0;
        std::vector<size_t> restarts;  // per replica
        std::string first_error;
    };

    // Each of 4 projects makes `per_project` changes (adds, and a delete after every other add) while
    // the sampler reads every replica's /ready every 10 ms.
    figures run_changes(int per_project) {
        figures fig;
        std::atomic<bool> stop{false};
        std::atomic<int> samples{0}, all_unready{0}, ok{0}, failed{0};
        std::thread sampler([&] {
            while (!stop) {
                bool any = false;
                for (int port : ports_) any = any || tunnelmgr::testing::loopback_request(port, "GET", "/ready").status == 200;
                ++samples;
                if (!any) ++all_unready;
                std::this_thread::sleep_for(10ms);
            }
        });
        std::mutex err_m;
        std::vector<std::thread> projects;
        for (int p = 0; p < 4; ++p) {
            projects.emplace_back([&, p] {
                auto c = service::api_client::connect(socket_);
                if (!c) return;
                service::session_request want{project_token(p), "p" + std::to_string(p), false};
                if (!(*c)->open_session(want)) return;
                int made = 0, n = 0;
                while (made < per_project) {
                    const std::string sub = "p" + std::to_string(p) + "n" + std::to_string(n);
                    auto add = (*c)->call("cname.request", "{\"subdomain\":\"" + sub + "\",\"port\":" +
                                                             std::to_string(3000 + p * 100 + n % 100) + "}");
                    ++made;
                    (add ? ok : failed)++;
                    if (!add) {
                        std::lock_guard<std::mutex> l(err_m);
                        if (fig.first_error.empty()) fig.first_error = add.error().message;
                    }
                    if (made < per_project && n % 2 == 1 && add) {
                        auto del = (*c)->call("cname.delete", "{\"hostname\":\"" + sub + ".example.com\"}");
                        ++made;
                        (del ? ok : failed)++;
                    }
                    ++n;
                }
            });
        }
        for (auto& t : projects) t.join();
        std::this_thread::sleep_for(300ms);
        stop = true;
        sampler.join();
        fig.samples = samples;
        fig.all_unready = all_unready;
        fig.changes_ok = ok;
        fig.changes_failed = failed;
        for (int i = 1; i <= replicas_; ++i) fig.restarts.push_back(lines_of(dir_ / ("launches-" + unit(i))) - 1);
        return fig;
    }

    fs::path dir_;
    std::unique_ptr<cloudflare_fake> fake_;
    tunnelmgr::testing::child_process daemon_;
    std::string socket_;
    std::vector<int> ports_;
    int replicas_ = 0;
    static inline int serial_ = 0;
};

}  // namespace

TEST_F(zero_downtime, two_replicas_and_batched_applies_keep_a_replica_ready_through_100_changes) {
    start(2, "1s");
    auto fig = run_changes(25);
    std::printf("[ FIGURES  ] 2 replicas, apply_delay 1s: %d changes ok, %d failed; restarts per replica %zu/%zu; "
                "%d samples, %d with no replica ready\n",
                fig.changes_ok, fig.changes_failed, fig.restarts[0], fig.restarts[1], fig.samples, fig.all_unready);
    EXPECT_EQ(fig.changes_ok, 100) << fig.first_error << "\n" << daemon_.log();
    EXPECT_EQ(fig.all_unready, 0) << "a sample found no replica ready";
    EXPECT_GT(fig.samples, 100);
    // A rolling restart restarts each replica once per batch; batches carry several changes.
    EXPECT_EQ(fig.restarts[0], fig.restarts[1]);
    EXPECT_GE(fig.restarts[0], 1u);
    EXPECT_LT(fig.restarts[0], 100u / 2) << "changes were not applied together";
    const std::string log = daemon_.log();
    EXPECT_NE(log.find("changes applied together"), std::string::npos) << log;
    // What the changes left: the names of the last adds that were not deleted, each with its rule.
    auto listed = run_process({binary, "--config", (dir_ / "config.yml").string(), "--log-level", "error", "reconcile",
                               "--json"});
    EXPECT_EQ(listed.exit_code, 0) << listed.out << listed.err;
}

TEST_F(zero_downtime, one_replica_without_batching_shows_the_gap_replicas_close) {
    start(1, "0");
    auto fig = run_changes(10);
    std::printf("[ FIGURES  ] 1 replica, apply_delay 0: %d changes ok, %d failed; restarts %zu; %d samples, %d with "
                "no replica ready\n",
                fig.changes_ok, fig.changes_failed, fig.restarts[0], fig.samples, fig.all_unready);
    EXPECT_EQ(fig.changes_ok, 40) << fig.first_error << "\n" << daemon_.log();
    EXPECT_EQ(fig.restarts[0], 40u) << "one restart per change";
    EXPECT_GT(fig.all_unready, 0) << "each restart leaves a moment with nothing ready";
}
