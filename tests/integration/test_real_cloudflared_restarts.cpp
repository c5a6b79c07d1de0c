// The real cloudflared (2025.5.0) that keeps dying: in a `--network none` container on a private
// dockerd it fails edge discovery and exits with status 1 within a second, every time. The real
// `tunnelmgr daemon`, with the container-supervisor plugin naming that container, restarts it: the
// restarts seen by Docker (start events, State.StartedAt) and recorded by tunnelmgr (audit rows)
// follow the backoff, one at a time and bounded in number, while the daemon keeps answering.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <elf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "process/child_process.hpp"
#include "process/run_process.hpp"
#include "process/test_files.hpp"

using tunnelmgr::testing::child_process;
using tunnelmgr::testing::process_result;
using tunnelmgr::testing::run_process;
namespace fs = std::filesystem;
using tunnelmgr::testing::slurp;
using namespace std::chrono_literals;

namespace {

const std::string binary = std::string(TM_TEST_BINARY_DIR) + "/tunnelmgr";
const std::string dockerd_sh = std::string(TM_TEST_SOURCE_DIR) + "/tests/support/dockerd/dockerd.sh";

// Obviously fake: no such tunnel or account exists, and the container cannot reach Cloudflare anyway.
const std::string fake_tunnel_id = "00000000-0000-4000-8000-000000000000";
const std::string fake_credentials =
    R"({"AccountTag":"fake-account-tag-for-tests-only","TunnelSecret":"ZmFrZS10dW5uZWwtc2VjcmV0LWZvci10ZXN0cy1vbmx5","TunnelID":")" +
    fake_tunnel_id + R"("})";

// The schedule under test: the real one (5 s, 15 s, 30 s, 1 m, 5 m) would take minutes; the
// config's health.backoff shortens it. Five restarts walk 2 s, 4 s, 8 s and repeat the last step.
const std::vector<int64_t> backoff_ms{2000, 4000, 8000};
const std::string backoff_yaml = "[2s, 4s, 8s]";
constexpr size_t k_restarts = 5;
constexpr int64_t k_clock_slack_ms = 100;  // Docker's ns timestamps against tunnelmgr's ms ones
constexpr int64_t k_late_ms = 3000;   // the check interval (1 s) plus a slow docker start on a busy machine
constexpr auto k_quiet = 6s;          // after the last expected restart: less than the 8 s step

int64_t step_ms(size_t i) { return backoff_ms[std::min(i, backoff_ms.size() - 1)]; }

int64_t unix_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "2026-12-02T08:38:18.173673272Z" → ns since the epoch; 0 when it is not that.
int64_t rfc3339_ns(const std::string& s) {
    std::tm tm{};
    if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                    &tm.tm_sec) != 6) {
        return 0;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t ns = 0;
    if (auto dot = s.find('.'); dot != std::string::npos) {
        int digits = 0;
        for (size_t i = dot + 1; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && digits < 9; ++i, ++digits) {
            ns = ns * 10 + (s[i] - '0');
        }
        for (; digits < 9; ++digits) ns *= 10;
    }
    return static_cast<int64_t>(timegm(&tm)) * 1000000000 + ns;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}


size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

std::string tail(const std::string& s, size_t n = 3000) { return s.size() > n ? s.substr(s.size() - n) : s; }


bool executable(const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0 && fs::is_regular_file(p); }

// TM_CLOUDFLARED, else ../shared/tools/cloudflared/cloudflared beside the source root, else PATH.
std::string find_cloudflared() {
    if (const char* e = std::getenv("TM_CLOUDFLARED"); e != nullptr && *e != '\0') return executable(e) ? e : "";
    std::error_code ec;
    auto shared = fs::weakly_canonical(fs::path(TM_TEST_SOURCE_DIR) / ".." / "shared" / "tools" / "cloudflared" / "cloudflared", ec);
    if (!ec && executable(shared.string())) return shared.string();
    if (const char* path = std::getenv("PATH"); path != nullptr) {
        std::stringstream dirs(path);
        for (std::string d; std::getline(dirs, d, ':');) {
            if (!d.empty() && executable(d + "/cloudflared")) return d + "/cloudflared";
        }
    }
    return "";
}

// The image holds nothing but cloudflared and its config: a dynamically linked one cannot run there.
std::string why_not_static(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    Elf64_Ehdr eh{};
    in.read(reinterpret_cast<char*>(&eh), sizeof eh);
    if (!in || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) {
        return "it is not a 64-bit ELF executable";
    }
    for (int i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph{};
        in.seekg(static_cast<std::streamoff>(eh.e_phoff + static_cast<uint64_t>(i) * eh.e_phentsize));
        in.read(reinterpret_cast<char*>(&ph), sizeof ph);
        if (!in) return "its program headers cannot be read";
        if (ph.p_type == PT_INTERP) return "it is dynamically linked (the image holds no libraries)";
    }
    return "";
}

std::string docker_cli() {
    if (const char* e = std::getenv("TM_DOCKER"); e != nullptr && *e != '\0') return e;
    if (::access("/usr/bin/docker", X_OK) == 0) return "/usr/bin/docker";
    return "/usr/local/bin/docker";
}

// The daemon's API socket spoken directly: newline-delimited JSON-RPC, one call at a time.
class api_line_client {
public:
    ~api_line_client() { close(); }
    bool connect(const std::string& path) {
        close();
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            close();
            return false;
        }
        return true;
    }
    // The result's JSON, or nullopt with `error` set (an error answer, a timeout, a closed socket).
    std::optional<std::string> call(const std::string& method, const std::string& params, std::string& error) {
        if (fd_ < 0) {
            error = "not connected";
            return std::nullopt;
        }
        const int id = ++id_;
        const std::string line =
            R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + method + R"(","params":)" + params + "}\n";
        if (::send(fd_, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
            error = "send failed: " + std::string(std::strerror(errno));
            return std::nullopt;
        }
        for (;;) {  // skip notifications until the answer with our id
            std::string answer;
            if (!read_line(answer)) {
                error = "no answer within 10 s (or the daemon closed the connection)";
                return std::nullopt;
            }
            rapidjson::Document d;
            d.Parse(answer.c_str());
            if (!d.IsObject() || !d.HasMember("id") || !d["id"].IsInt() || d["id"].GetInt() != id) continue;
            if (d.HasMember("error")) {
                error = answer;
                return std::nullopt;
            }
            auto at = answer.find("\"result\":");
            return at == std::string::npos ? std::string("null") : answer.substr(at + 9, answer.rfind('}') - at - 9);
        }
    }

private:
    bool read_line(std::string& out) {
        for (;;) {
            if (auto nl = buf_.find('\n'); nl != std::string::npos) {
                out = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return true;
            }
            char chunk[4096];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buf_.append(chunk, static_cast<size_t>(n));
        }
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
    }
    int fd_ = -1;
    int id_ = 0;
    std::string buf_;
};

struct container_event {
    std::string action;  // start | die | restart
    int64_t ns = 0;
    std::string exit_code;
};

class real_cloudflared_restarts : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: a private dockerd needs root (namespaces, overlay mounts)";
        cloudflared_ = find_cloudflared();
        if (const char* e = std::getenv("TM_CLOUDFLARED"); cloudflared_.empty() && e != nullptr && *e != '\0') {
            GTEST_SKIP() << "SKIPPED: TM_CLOUDFLARED=" << e << " is not an executable file: this test needs the real cloudflared";
        }
        if (cloudflared_.empty()) {
            GTEST_SKIP() << "SKIPPED: no real cloudflared found (TM_CLOUDFLARED, " << TM_TEST_SOURCE_DIR
                         << "/../shared/tools/cloudflared/cloudflared, PATH): this test needs the real binary";
        }
        if (auto why = why_not_static(cloudflared_); !why.empty()) {
            GTEST_SKIP() << "SKIPPED: " << cloudflared_ << " cannot run in a bare image: " << why;
        }
        if (::access("/usr/sbin/dockerd", X_OK) != 0 && ::access("/usr/bin/dockerd", X_OK) != 0) {
            GTEST_SKIP() << "SKIPPED: no dockerd here (install docker.io: packaging/scripts/install-deps.sh --test)";
        }
        work_ = fs::temp_directory_path() / ("tm-rcr-" + std::to_string(::getpid()));
        fs::remove_all(work_);
        fs::create_directories(work_);
        char tmpl[] = "/tmp/tmdk-XXXXXX";  // short: the socket path must fit in 107 bytes
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dockerd_dir_ = tmpl;
        auto started = run_process({"/bin/bash", dockerd_sh, "start", dockerd_dir_});
        if (started.exit_code != 0) {
            run_process({"/bin/bash", dockerd_sh, "stop", dockerd_dir_});
            GTEST_SKIP() << "SKIPPED: the test dockerd cannot run here (tests/support/dockerd/dockerd.sh start):\n"
                         << started.out << started.err;
        }
        dockerd_started_ = true;
        docker_host_ = "unix://" + dockerd_dir_ + "/docker.sock";
        container_ = "tm-cf-real-" + std::to_string(::getpid());
        image_ = "tm-cloudflared-real:" + std::to_string(::getpid());
    }

    // Everything this test started, by PID or by name, whatever happened before.
    void TearDown() override {
        daemon_.stop();
        events_.stop();
        if (dockerd_started_) {
            docker({"rm", "-f", container_});
            auto stopped = run_process({"/bin/bash", dockerd_sh, "stop", dockerd_dir_});
            if (stopped.exit_code != 0) ADD_FAILURE() << "dockerd.sh stop failed:\n" << stopped.out << stopped.err;
        }
        std::error_code ec;
        if (!dockerd_dir_.empty() && std::getenv("TM_KEEP_DOCKERD_DIR") == nullptr) fs::remove_all(dockerd_dir_, ec);
        if (!work_.empty()) {
            fs::remove_all(work_ / "rootfs", ec);
            fs::remove(work_ / "rootfs.tar", ec);
            if (HasFailure()) {
                std::printf("kept %s (daemon.log, events.jsonl, state.db) for a post-mortem\n", work_.c_str());
            } else {
                fs::remove_all(work_, ec);
            }
        }
    }

    process_result docker(std::vector<std::string> args) {
        std::vector<std::string> argv{docker_cli(), "-H", docker_host_};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }

    process_result tm(std::vector<std::string> args) {
        std::vector<std::string> argv{binary, "--config", (work_ / "config.yml").string(), "--log-level", "error"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }

    // A rootfs of /cloudflared and its config (a catch-all ingress, fake credentials), imported.
    void make_image() {
        const auto root = work_ / "rootfs";
        fs::create_directories(root / "etc" / "cloudflared");
        fs::create_directories(root / "tmp");
        fs::create_directories(root / "root");
        fs::copy_file(cloudflared_, root / "cloudflared");
        fs::permissions(root / "cloudflared", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                                  fs::perms::others_read | fs::perms::others_exec);
        std::ofstream(root / "etc" / "cloudflared" / "config.yml")
            << "tunnel: " << fake_tunnel_id << "\ncredentials-file: /etc/cloudflared/credentials.json\n"
            << "ingress:\n  - service: http_status:404\n";
        std::ofstream(root / "etc" / "cloudflared" / "credentials.json") << fake_credentials << "\n";
        std::ofstream(root / "etc" / "passwd") << "root:x:0:0:root:/root:/sbin/nologin\n";
        std::ofstream(root / "etc" / "group") << "root:x:0:\n";
        ::chmod((root / "tmp").c_str(), 01777);
        auto tar = run_process({"/bin/tar", "-C", root.string(), "-cf", (work_ / "rootfs.tar").string(), "."});
        ASSERT_EQ(tar.exit_code, 0) << tar.err;
        auto imported = docker({"import", (work_ / "rootfs.tar").string(), image_});
        ASSERT_EQ(imported.exit_code, 0) << imported.out << imported.err;
        std::error_code ec;
        fs::remove_all(root, ec);
        fs::remove(work_ / "rootfs.tar", ec);
    }

    void write_config() {
        // The host's copy of cloudflared's config, for tunnel.config_file; the container has its own.
        std::ofstream(work_ / "cloudflared.yml") << "tunnel: " << fake_tunnel_id
                                                 << "\ncredentials-file: /etc/cloudflared/credentials.json\n"
                                                 << "ingress:\n  - service: http_status:404\n";
        api_socket_ = (work_ / "api.sock").string();
        std::ofstream(work_ / "config.yml")
            << "state: { plugin: sqlite-state, path: " << (work_ / "state.db").string() << " }\n"
            // Nothing listens on the metrics address here: inside its own network namespace the
            // container's 127.0.0.1 is not the host's. /ready fails, as it does for a dying cloudflared.
            << "tunnel: { id: " << fake_tunnel_id << ", config_file: " << (work_ / "cloudflared.yml").string()
            << ", metrics: 127.0.0.1:" << tunnelmgr::testing::free_loopback_port() << " }\n"
            << "supervisor: { plugin: container-supervisor, socket: " << dockerd_dir_ << "/docker.sock, container: "
            << container_ << ", grace_s: 1, timeout_ms: 10000 }\n"
            << "health: { interval: 1s, strikes: 3, backoff: " << backoff_yaml << " }\n"
            << "api: { socket: " << api_socket_ << " }\n"
            << "plugin_dir: " << TM_TEST_PLUGIN_DIR << "\n";
    }

    std::vector<container_event> events() const {
        std::vector<container_event> out;
        std::ifstream in(work_ / "events.jsonl");
        for (std::string line; std::getline(in, line);) {
            rapidjson::Document d;
            d.Parse(line.c_str());
            if (!d.IsObject() || !d.HasMember("Action") || !d["Action"].IsString() || !d.HasMember("timeNano") ||
                !d["timeNano"].IsInt64()) {
                continue;
            }
            container_event e{d["Action"].GetString(), d["timeNano"].GetInt64(), ""};
            if (e.action != "start" && e.action != "die" && e.action != "restart") continue;
            if (d.HasMember("Actor") && d["Actor"].IsObject() && d["Actor"].HasMember("Attributes")) {
                const auto& attrs = d["Actor"]["Attributes"];
                if (attrs.IsObject() && attrs.HasMember("exitCode") && attrs["exitCode"].IsString()) {
                    e.exit_code = attrs["exitCode"].GetString();
                }
            }
            out.push_back(e);
        }
        std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.ns < b.ns; });
        return out;
    }

    static std::vector<int64_t> times_of(const std::vector<container_event>& ev, const std::string& action, int64_t after_ns) {
        std::vector<int64_t> out;
        for (const auto& e : ev) {
            if (e.action == action && e.ns > after_ns) out.push_back(e.ns);
        }
        return out;
    }

    std::string cloudflared_;
    fs::path work_;
    std::string dockerd_dir_;
    bool dockerd_started_ = false;
    std::string docker_host_;
    std::string container_;
    std::string image_;
    std::string api_socket_;
    child_process daemon_;
    child_process events_;
};

std::string ms_list(const std::vector<int64_t>& v) {
    std::string s;
    for (auto x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
    return "[" + s + "] ms";
}

}  // namespace

TEST_F(real_cloudflared_restarts, the_restarts_follow_the_backoff_one_at_a_time_without_livelock) {
    const int64_t test_start_ns = unix_ns();
    auto version = run_process({cloudflared_, "--version"});
    ASSERT_NE(version.out.find("cloudflared version"), std::string::npos) << cloudflared_ << ": " << version.out << version.err;
    std::printf("cloudflared: %s (%s)\n", cloudflared_.c_str(), trimmed(version.out).c_str());
    ASSERT_NO_FATAL_FAILURE(make_image());

    // Docker's own record of the container's life, from before it exists: every start, restart, die.
    ASSERT_TRUE(events_.start({docker_cli(), "-H", docker_host_, "events", "--since",
                               std::to_string(test_start_ns / 1000000000 - 1), "--filter", "type=container", "--filter",
                               "container=" + container_, "--format", "{{json .}}"},
                              (work_ / "events.jsonl").string()));

    // --network none and no restart policy: it can reach nothing, and only tunnelmgr restarts it.
    auto run = docker({"run", "-d", "--name", container_, "--network", "none", "--restart", "no", image_, "/cloudflared",
                       "--no-autoupdate", "tunnel", "--config", "/etc/cloudflared/config.yml", "--metrics",
                       "127.0.0.1:20241", "run"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    const auto inspect_format = "{{.State.Status}}|{{.State.ExitCode}}|{{.State.StartedAt}}|{{.State.FinishedAt}}|"
                                "{{.RestartCount}}|{{.HostConfig.NetworkMode}}|{{.HostConfig.RestartPolicy.Name}}";
    auto inspect = [&] {
        auto r = docker({"inspect", "-f", inspect_format, container_});
        std::vector<std::string> f;
        std::stringstream ss(trimmed(r.out));
        for (std::string part; std::getline(ss, part, '|');) f.push_back(part);
        f.resize(7);
        return f;
    };
    std::vector<std::string> first;
    for (auto until = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < until;) {
        first = inspect();
        if (first[0] == "exited") break;
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(first[0], "exited") << "the real cloudflared did not exit on its own:\n" << docker({"logs", container_}).err;
    EXPECT_EQ(first[1], "1");
    EXPECT_EQ(first[5], "none");
    EXPECT_EQ(first[6], "no");
    const double first_life_ms = static_cast<double>(rfc3339_ns(first[3]) - rfc3339_ns(first[2])) / 1e6;
    EXPECT_LT(first_life_ms, 3000) << "it should fail edge discovery within about a second";
    auto logs = docker({"logs", container_});
    EXPECT_NE((logs.out + logs.err).find("edge discovery"), std::string::npos) << logs.out << logs.err;
    EXPECT_NE((logs.out + logs.err).find("network is unreachable"), std::string::npos) << "it must reach nothing";
    std::printf("the first run (no tunnelmgr yet) lived %.0f ms and exited with status %s\n", first_life_ms, first[1].c_str());

    write_config();
    const int64_t daemon_start_ns = unix_ns();
    ASSERT_TRUE(daemon_.start({binary, "--config", (work_ / "config.yml").string(), "--log-level", "info", "daemon"},
                              (work_ / "daemon.log").string()));
    for (auto until = std::chrono::steady_clock::now() + 20s;
         std::chrono::steady_clock::now() < until && daemon_.running() && !fs::exists(api_socket_);) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(fs::exists(api_socket_)) << tail(daemon_.log());
    api_line_client api;
    ASSERT_TRUE(api.connect(api_socket_)) << tail(daemon_.log());
    std::string api_error;
    ASSERT_TRUE(api.call("session.open", "{}", api_error)) << api_error;  // root: the admin

    // Watch until the fifth restart, then as long again as no restart may come (less than the step).
    std::set<std::string> started_at;   // distinct State.StartedAt seen while the daemon ran
    std::vector<double> api_ms, status_ms;
    std::vector<std::string> unresponsive;
    auto next_api = std::chrono::steady_clock::now();
    auto next_status = std::chrono::steady_clock::now() + 1s;
    std::optional<std::chrono::steady_clock::time_point> quiet_until;
    const auto deadline = std::chrono::steady_clock::now() + 70s;
    while (std::chrono::steady_clock::now() < deadline) {
        ASSERT_TRUE(daemon_.running()) << "the daemon ended:\n" << tail(daemon_.log());
        auto f = inspect();
        if (!f[2].empty() && rfc3339_ns(f[2]) > daemon_start_ns) started_at.insert(f[2]);
        auto now = std::chrono::steady_clock::now();
        if (now >= next_api) {
            auto t0 = std::chrono::steady_clock::now();
            auto st = api.call("status.get", "{}", api_error);
            api_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            if (!st || st->find("\"tunnel\"") == std::string::npos) unresponsive.push_back("status.get: " + api_error);
            next_api = now + 2s;
        }
        if (now >= next_status) {
            auto t0 = std::chrono::steady_clock::now();
            auto st = tm({"status", "--json"});
            status_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            if (st.exit_code != 0 || st.out.find("\"tunnel\"") == std::string::npos) {
                unresponsive.push_back("tunnelmgr status: exit " + std::to_string(st.exit_code) + ": " + st.err);
            }
            next_status = now + 5s;
        }
        const size_t seen = times_of(events(), "start", daemon_start_ns).size();
        ASSERT_LE(seen, k_restarts + 3) << "livelock: " << seen << " restarts within "
                                        << (unix_ns() - daemon_start_ns) / 1000000 << " ms\n" << tail(daemon_.log());
        if (!quiet_until && seen >= k_restarts) quiet_until = std::chrono::steady_clock::now() + k_quiet;
        if (quiet_until && std::chrono::steady_clock::now() >= *quiet_until) break;
        std::this_thread::sleep_for(250ms);
    }

    // Stop the daemon, let the last container end, then stop Docker's event stream.
    auto t_term = std::chrono::steady_clock::now();
    ::kill(daemon_.pid(), SIGTERM);
    while (daemon_.running() && std::chrono::steady_clock::now() - t_term < 15s) std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(daemon_.running()) << "SIGTERM did not end the daemon within 15 s";
    const auto stop_took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t_term);
    const int64_t daemon_stop_ns = unix_ns();
    daemon_.stop();
    for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
        if (inspect()[0] == "exited") break;
        std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(500ms);
    events_.stop();
    const std::string log = daemon_.log();
    const auto ev = events();
    const auto last = inspect();

    // 1. tunnelmgr's own record: one audit row per restart, each decided no sooner than the previous
    //    row promised (next_restart_ms), and only after the previous restart call had returned.
    auto audit = tm({"audit", "--action", "tunnel.restart", "--limit", "100", "--json"});
    ASSERT_EQ(audit.exit_code, 0) << audit.err;
    rapidjson::Document rows;
    rows.Parse(audit.out.c_str());
    ASSERT_TRUE(rows.IsArray()) << audit.out;
    struct restart_row {
        int64_t ts = 0, next = 0, attempt = 0;  // ts: written once the restart call returned
        std::string result;
    };
    std::vector<restart_row> issued;
    for (const auto& r : rows.GetArray()) {
        restart_row x;
        if (!r.IsObject() || !r.HasMember("ts") || !r["ts"].IsInt64()) continue;
        x.ts = r["ts"].GetInt64();
        x.result = r.HasMember("result") && r["result"].IsString() ? r["result"].GetString() : "";
        if (r.HasMember("details") && r["details"].IsObject()) {
            const auto& d = r["details"];
            if (d.HasMember("next_restart_ms") && d["next_restart_ms"].IsInt64()) x.next = d["next_restart_ms"].GetInt64();
            if (d.HasMember("attempt") && d["attempt"].IsInt64()) x.attempt = d["attempt"].GetInt64();
        }
        issued.push_back(x);
    }
    std::reverse(issued.begin(), issued.end());  // oldest first
    ASSERT_EQ(issued.size(), k_restarts) << audit.out << tail(log);
    std::vector<int64_t> decided, issue_gaps, call_ms;
    for (size_t i = 0; i < issued.size(); ++i) {
        EXPECT_EQ(issued[i].result, "ok");
        EXPECT_EQ(issued[i].attempt, static_cast<int64_t>(i + 1));
        decided.push_back(issued[i].next - step_ms(i));  // the check that chose to restart
        call_ms.push_back(issued[i].ts - decided[i]);     // status, restart call, audit row
        if (i == 0) continue;
        issue_gaps.push_back(decided[i] - decided[i - 1]);
        EXPECT_GE(decided[i], issued[i - 1].next) << "restart " << i + 1 << " was issued inside the backoff";
        EXPECT_LE(decided[i] - issued[i - 1].next, 1500) << "restart " << i + 1 << " was due but waited";
        EXPECT_GE(decided[i], issued[i - 1].ts) << "restart " << i + 1 << " began before restart " << i << " had returned";
    }
    EXPECT_EQ(count_of(log, "restart #"), k_restarts) << tail(log);

    // 2. Docker's view: the starts tunnelmgr caused, their gaps, and the lives in between. Docker
    //    starts the container somewhere inside tunnelmgr's restart call (0.7-0.9 s here, longer on a
    //    busy machine), so a gap between starts may fall short of the step by up to that call's length.
    const auto starts = times_of(ev, "start", daemon_start_ns);
    const auto restarts = times_of(ev, "restart", daemon_start_ns);
    ASSERT_EQ(starts.size(), k_restarts) << "restarts in " << (daemon_stop_ns - daemon_start_ns) / 1000000
                                         << " ms (the backoff allows " << k_restarts << " before a quiet "
                                         << k_quiet.count() << " s)\n" << tail(log);
    EXPECT_EQ(restarts.size(), starts.size()) << "every start came from a restart call (tunnelmgr's)";
    EXPECT_EQ(last[4], "0") << "Docker's restart policy never restarted it";
    EXPECT_LT(starts.front() - daemon_start_ns, 15'000'000'000LL) << "the first restart should come at the first check";
    for (size_t i = 0; i < starts.size(); ++i) {
        const int64_t at_ms = starts[i] / 1000000;
        EXPECT_GE(at_ms, decided[i] - k_clock_slack_ms) << "Docker start " << i + 1 << " before tunnelmgr decided it";
        EXPECT_LE(at_ms, issued[i].ts + k_clock_slack_ms) << "Docker start " << i + 1 << " after tunnelmgr's call returned";
    }
    std::vector<int64_t> gaps, lives;
    for (size_t i = 1; i < starts.size(); ++i) gaps.push_back((starts[i] - starts[i - 1]) / 1000000);
    for (size_t i = 0; i < gaps.size(); ++i) {
        EXPECT_GE(gaps[i], step_ms(i) - call_ms[i] - k_clock_slack_ms) << "restart " << i + 2 << " came before its backoff step";
        EXPECT_LE(gaps[i], step_ms(i) + k_late_ms) << "restart " << i + 2 << " came long after its backoff step";
    }
    // One restart in flight at most: Docker saw start, die, start, die..., every life ending with status 1.
    std::string sequence;
    int64_t start_ns = 0;
    for (const auto& e : ev) {
        if (e.action == "restart") continue;
        sequence += e.action == "start" ? 'S' : 'D';
        if (e.action == "start") start_ns = e.ns;
        if (e.action == "die") {
            EXPECT_EQ(e.exit_code, "1") << "cloudflared should exit with status 1";
            if (start_ns > 0) lives.push_back((e.ns - start_ns) / 1000000);
        }
    }
    std::string alternating;
    for (size_t i = 0; i < sequence.size(); ++i) alternating += i % 2 == 0 ? 'S' : 'D';
    EXPECT_EQ(sequence, alternating) << "a start before the previous life ended, or a lost event";
    EXPECT_EQ(sequence.size(), 2 * (k_restarts + 1)) << sequence;
    for (auto l : lives) EXPECT_LT(l, 3000) << "a life of " << l << " ms: it should die within about a second";

    // 3. State.StartedAt, sampled every 250 ms: the same restarts, the same gaps.
    std::vector<int64_t> sampled;
    for (const auto& s : started_at) sampled.push_back(rfc3339_ns(s));
    std::sort(sampled.begin(), sampled.end());
    EXPECT_EQ(sampled.size(), starts.size()) << "distinct StartedAt values seen while the daemon ran";
    std::vector<int64_t> sampled_gaps;
    for (size_t i = 1; i < sampled.size(); ++i) sampled_gaps.push_back((sampled[i] - sampled[i - 1]) / 1000000);
    for (size_t i = 0; i < sampled_gaps.size() && i < call_ms.size(); ++i) {
        EXPECT_GE(sampled_gaps[i], step_ms(i) - call_ms[i] - k_clock_slack_ms);
    }

    // 4. The daemon answered all along, and its health history did not grow with every check.
    EXPECT_TRUE(unresponsive.empty()) << unresponsive.front();
    EXPECT_GE(api_ms.size(), 8u);
    EXPECT_GE(status_ms.size(), 3u);
    const double api_max = api_ms.empty() ? 0 : *std::max_element(api_ms.begin(), api_ms.end());
    const double status_max = status_ms.empty() ? 0 : *std::max_element(status_ms.begin(), status_ms.end());
    EXPECT_LT(api_max, 3000) << "status.get over the API socket took " << api_max << " ms";
    EXPECT_LT(status_max, 10000) << "tunnelmgr status took " << status_max << " ms";
    EXPECT_LT(stop_took, 10s);
    auto hist = run_process({"/usr/bin/sqlite3", "-readonly", (work_ / "state.db").string(),
                             "SELECT count(*) FROM tunnel_health;"});
    if (hist.exit_code == 0) {
        EXPECT_LE(std::stoll(trimmed(hist.out)), static_cast<long long>(4 * starts.size() + 4))
            << "health rows are written on a change, not on every check";
    }

    std::printf("backoff under test: %s (health.backoff; the default is 5 s, 15 s, 30 s, 1 m, 5 m), interval 1 s\n",
                backoff_yaml.c_str());
    std::printf("restarts by tunnelmgr: %zu in %.1f s (daemon start to SIGTERM); the first %.0f ms after the daemon started\n",
                starts.size(), static_cast<double>(daemon_stop_ns - daemon_start_ns) / 1e9,
                static_cast<double>(starts.front() - daemon_start_ns) / 1e6);
    std::printf("gaps between Docker start events: %s\n", ms_list(gaps).c_str());
    std::printf("gaps between State.StartedAt values: %s\n", ms_list(sampled_gaps).c_str());
    std::printf("gaps between tunnelmgr's restart decisions (audit): %s\n", ms_list(issue_gaps).c_str());
    std::printf("tunnelmgr's restart calls (decision to audit row): %s\n", ms_list(call_ms).c_str());
    std::printf("cloudflared lives (start to die, status 1): %s\n", ms_list(lives).c_str());
    std::printf("Docker events: %s (S start, D die); restart events %zu; RestartCount %s\n", sequence.c_str(),
                restarts.size(), last[4].c_str());
    std::printf("responsive: %zu status.get over the API socket, max %.0f ms; %zu `tunnelmgr status`, max %.0f ms; "
                "SIGTERM to exit %lld ms; health rows %s\n",
                api_ms.size(), api_max, status_ms.size(), status_max, static_cast<long long>(stop_took.count()),
                hist.exit_code == 0 ? trimmed(hist.out).c_str() : "(no sqlite3)");
}
