// Runs the real cloudflared-stub process on loopback and checks that it behaves like cloudflared
// where tunnelmgr looks: CLI, config refusal, metrics endpoints, readiness, signals, pidfile.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "go_duration.hpp"
#include "ingress_rules.hpp"
#include "stub_cli.hpp"
#include "stub_config.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace cf = tunnelmgr::stubs::cloudflared;
using namespace std::chrono_literals;

constexpr auto generous_wait = 30s;

const char* const good_config = R"(tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: CREDS
originRequest:
  connectTimeout: 30s
ingress:
  - hostname: app.example.com
    service: http://localhost:3100
    originRequest:
      noTLSVerify: true
      keepAliveConnections: 10
  - hostname: "*.example.com"
    path: ^/api/.*
    service: https://localhost:3101
  - service: http_status:404
)";

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit = generous_wait) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

int free_loopback_port() {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(sock);
  return ntohs(address.sin_port);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

struct exit_status {
  bool exited = false;    // WIFEXITED
  int code = -1;          // exit code when exited
  int signal_number = 0;  // terminating signal when killed
};

// One child process of this test: spawned with a clean signal state and an environment without
// the caller's TUNNEL_*/TM_STUB_* variables; killed (by its own pid only) if a test leaves it.
class stub_process {
 public:
  stub_process(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
               const fs::path& log_dir)
      : stdout_path_(log_dir / ("stdout." + std::to_string(++counter_))),
        stderr_path_(log_dir / ("stderr." + std::to_string(counter_))) {
    std::vector<std::string> env_strings;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string text = *entry;
      if (text.starts_with("TUNNEL_") || text.starts_with("TM_STUB_") || text.starts_with("HOME=") ||
          text.starts_with("NOTIFY_SOCKET=")) {
        continue;
      }
      env_strings.push_back(text);
    }
    env_strings.push_back("HOME=" + log_dir.string());  // no ~/.cloudflared/config.yml to find
    for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);

    std::vector<std::string> argv_strings{TM_CLOUDFLARED_STUB_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv_pointers;
    for (auto& arg : argv_strings) argv_pointers.push_back(arg.data());
    argv_pointers.push_back(nullptr);
    std::vector<char*> env_pointers;
    for (auto& entry : env_strings) env_pointers.push_back(entry.data());
    env_pointers.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int failed = posix_spawn(&pid_, argv_pointers[0], &actions, &attributes, argv_pointers.data(),
                                   env_pointers.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (failed != 0) pid_ = -1;
  }

  ~stub_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int raw = 0;
      ::waitpid(pid_, &raw, 0);
    }
  }

  stub_process(const stub_process&) = delete;
  stub_process& operator=(const stub_process&) = delete;

  pid_t pid() const { return pid_; }
  void send(int signal_number) const { ::kill(pid_, signal_number); }

  std::optional<exit_status> wait_exit(std::chrono::milliseconds limit = generous_wait) {
    wait_until([this] { return poll(); }, limit);
    return status_;
  }
  bool running() { return !poll(); }

  std::string out() const { return read_file(stdout_path_); }
  std::string err() const { return read_file(stderr_path_); }

 private:
  bool poll() {
    if (status_) return true;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) != pid_) return false;
    exit_status status;
    status.exited = WIFEXITED(raw);
    status.code = status.exited ? WEXITSTATUS(raw) : -1;
    status.signal_number = WIFSIGNALED(raw) ? WTERMSIG(raw) : 0;
    status_ = status;
    return true;
  }

  static inline int counter_ = 0;
  fs::path stdout_path_;
  fs::path stderr_path_;
  pid_t pid_ = -1;
  std::optional<exit_status> status_;
};

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str());
  return document;
}

class CloudflaredStub : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tm-cloudflared-stub-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    creds_ = dir_ / "tunnel-credentials.json";
    write_file(creds_, R"({"AccountTag":"fake-account-for-tests","TunnelSecret":"ZmFrZS1zZWNyZXQ=",)"
                       R"("TunnelID":"6ff42ae2-765d-4adf-8112-31c55c1551ef"})");
    config_ = dir_ / "config.yml";
    write_config(good_config);
    port_ = free_loopback_port();
  }

  void TearDown() override {
    processes_.clear();  // kills leftovers (ours only) before the directory goes
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void write_config(std::string text) {
    const auto at = text.find("CREDS");
    if (at != std::string::npos) text.replace(at, 5, creds_.string());
    write_file(config_, text);
  }

  std::string metrics_address() const { return "127.0.0.1:" + std::to_string(port_); }

  stub_process& start(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    processes_.push_back(std::make_unique<stub_process>(args, env, dir_));
    return *processes_.back();
  }

  // `tunnel --config C --metrics A [extra] run`, ready after 50 ms unless env says otherwise.
  stub_process& start_tunnel(std::vector<std::string> extra = {},
                             std::map<std::string, std::string> env = {{"TM_STUB_READY_DELAY_MS", "50"}}) {
    std::vector<std::string> args{"tunnel", "--config", config_.string(), "--metrics", metrics_address()};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("run");
    return start(args, env);
  }

  exit_status run_to_end(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    stub_process& process = start(std::move(args), std::move(env));
    auto status = process.wait_exit();
    EXPECT_TRUE(status.has_value()) << "the stub did not exit; stderr: " << process.err();
    last_out_ = process.out();
    last_err_ = process.err();
    return status.value_or(exit_status{});
  }

  httplib::Result get(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(2s);
    client.set_read_timeout(5s);
    return client.Get(path.c_str());
  }

  httplib::Result post(const std::string& path, const std::string& body) {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(2s);
    client.set_read_timeout(5s);
    return client.Post(path.c_str(), body, "text/plain");
  }

  int ready_status() {
    auto result = get("/ready");
    return result ? result->status : -1;
  }

  bool wait_ready_status(int status) {
    return wait_until([&] { return ready_status() == status; });
  }

  fs::path dir_;
  fs::path creds_;
  fs::path config_;
  int port_ = 0;
  std::string last_out_;
  std::string last_err_;
  std::vector<std::unique_ptr<stub_process>> processes_;
};

// --- The process ------------------------------------------------------------------------------

TEST_F(CloudflaredStub, VersionPrintsACloudflaredStyleLine) {
  const auto status = run_to_end({"--version"});
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 0);
  EXPECT_TRUE(last_out_.starts_with("cloudflared version 20")) << last_out_;
}

TEST_F(CloudflaredStub, ServesReadyHealthcheckAndMetricsOnceConnected) {
  stub_process& stub = start_tunnel();
  ASSERT_TRUE(wait_ready_status(200)) << stub.err();

  auto ready = get("/ready");
  ASSERT_TRUE(ready);
  const auto body = parse_json(ready->body);
  ASSERT_TRUE(body.IsObject()) << ready->body;
  EXPECT_EQ(body["status"].GetInt(), 200);
  EXPECT_EQ(body["readyConnections"].GetInt(), 4);
  EXPECT_TRUE(
      std::regex_match(std::string(body["connectorId"].GetString()),
                       std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << ready->body;

  auto health = get("/healthcheck");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "OK\n");

  auto metrics = get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("\ncloudflared_tunnel_ha_connections 4\n"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("\ncloudflared_tunnel_total_requests 0\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("\ncloudflared_tunnel_request_errors 0\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("\nbuild_info{"), std::string::npos);
  EXPECT_NE(metrics->body.find("# TYPE cloudflared_tunnel_ha_connections gauge"), std::string::npos);
}

TEST_F(CloudflaredStub, StaysUnreadyUntilTheReadyDelayHasPassed) {
  // An hour-long delay: the metrics server answers long before the tunnel counts as connected.
  stub_process& stub = start_tunnel({}, {{"TM_STUB_READY_DELAY_MS", "3600000"}});
  ASSERT_TRUE(wait_until([&] { return get("/healthcheck") != nullptr; })) << stub.err();

  auto ready = get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  const auto body = parse_json(ready->body);
  EXPECT_EQ(body["status"].GetInt(), 503);
  EXPECT_EQ(body["readyConnections"].GetInt(), 0);
  auto metrics = get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\ncloudflared_tunnel_ha_connections 0\n"), std::string::npos);
}

TEST_F(CloudflaredStub, ReadyDelayFlagOverridesTheEnvironment) {
  stub_process& stub = start_tunnel({"--ready-delay", "100ms"}, {{"TM_STUB_READY_DELAY_MS", "3600000"}});
  EXPECT_TRUE(wait_ready_status(200)) << stub.err();
  auto info = get("/__stub/info");
  ASSERT_TRUE(info);
  EXPECT_EQ(parse_json(info->body)["readyDelayMs"].GetInt64(), 100);
}

TEST_F(CloudflaredStub, StartUnreadyKeepsItUnreadyUntilSwitched) {
  stub_process& stub = start_tunnel({}, {{"TM_STUB_START_UNREADY", "1"}, {"TM_STUB_READY_DELAY_MS", "0"}});
  ASSERT_TRUE(wait_until([&] { return get("/healthcheck") != nullptr; })) << stub.err();
  for (int check = 0; check < 10; ++check) {
    EXPECT_EQ(ready_status(), 503);
    std::this_thread::sleep_for(30ms);
  }
  auto switched = post("/__stub/ready", "1");
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->status, 200);
  EXPECT_EQ(ready_status(), 200);
}

TEST_F(CloudflaredStub, ReadinessSwitchesByControlEndpointAndSignals) {
  stub_process& stub = start_tunnel();
  ASSERT_TRUE(wait_ready_status(200)) << stub.err();

  auto down = post("/__stub/ready", "0");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 200);
  EXPECT_EQ(ready_status(), 503);
  auto metrics = get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\ncloudflared_tunnel_ha_connections 0\n"), std::string::npos);
  EXPECT_EQ(get("/healthcheck")->body, "OK\n");  // alive, just not connected

  auto up = post("/__stub/ready", "1\n");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200);
  EXPECT_EQ(ready_status(), 200);

  auto nonsense = post("/__stub/ready", "maybe");
  ASSERT_TRUE(nonsense);
  EXPECT_EQ(nonsense->status, 400);
  EXPECT_EQ(ready_status(), 200);

  stub.send(SIGUSR1);
  EXPECT_TRUE(wait_ready_status(503));
  stub.send(SIGUSR2);
  EXPECT_TRUE(wait_ready_status(200));
  EXPECT_TRUE(stub.running());
}

TEST_F(CloudflaredStub, ConfigAndInfoEndpointsShowWhatWasLoaded) {
  stub_process& stub = start_tunnel();
  ASSERT_TRUE(wait_until([&] { return get("/healthcheck") != nullptr; })) << stub.err();

  auto config = get("/__stub/config");
  ASSERT_TRUE(config);
  const auto document = parse_json(config->body);
  ASSERT_TRUE(document.IsObject()) << config->body;
  EXPECT_EQ(std::string(document["configPath"].GetString()), config_.string());
  EXPECT_EQ(std::string(document["tunnel"].GetString()), "6ff42ae2-765d-4adf-8112-31c55c1551ef");
  const auto& ingress = document["ingress"];
  ASSERT_EQ(ingress.Size(), 3u);
  EXPECT_EQ(std::string(ingress[0]["hostname"].GetString()), "app.example.com");
  EXPECT_EQ(std::string(ingress[0]["service"].GetString()), "http://localhost:3100");
  EXPECT_TRUE(ingress[0]["originRequest"]["noTLSVerify"].IsTrue());
  EXPECT_EQ(ingress[0]["originRequest"]["keepAliveConnections"].GetInt(), 10);
  EXPECT_EQ(std::string(ingress[1]["hostname"].GetString()), "*.example.com");
  EXPECT_EQ(std::string(ingress[1]["path"].GetString()), "^/api/.*");
  EXPECT_FALSE(ingress[2].HasMember("hostname"));
  EXPECT_EQ(std::string(ingress[2]["service"].GetString()), "http_status:404");
  EXPECT_EQ(std::string(document["originRequest"]["connectTimeout"].GetString()), "30s");

  auto info = get("/__stub/info");
  ASSERT_TRUE(info);
  const auto about = parse_json(info->body);
  EXPECT_EQ(about["pid"].GetInt64(), static_cast<long long>(stub.pid()));
  EXPECT_EQ(std::string(about["configPath"].GetString()), config_.string());
  EXPECT_EQ(std::string(about["metricsAddress"].GetString()), metrics_address());
  EXPECT_GT(about["startedAtUnixMs"].GetInt64(), 0);
  EXPECT_EQ(about["gracePeriodMs"].GetInt64(), 30000);  // cloudflared's default
}

TEST_F(CloudflaredStub, RestartPicksUpARewrittenConfigFile) {
  stub_process& first = start_tunnel({"--grace-period", "0s"});
  ASSERT_TRUE(wait_ready_status(200)) << first.err();
  const auto before = parse_json(get("/__stub/config")->body);
  EXPECT_EQ(std::string(before["ingress"][0]["hostname"].GetString()), "app.example.com");

  std::string rewritten = good_config;
  rewritten.replace(rewritten.find("app.example.com"), 15, "new.example.com");
  write_config(rewritten);
  // No reload: the running process keeps what it read at start-up.
  EXPECT_EQ(std::string(parse_json(get("/__stub/config")->body)["ingress"][0]["hostname"].GetString()),
            "app.example.com");

  first.send(SIGTERM);
  auto stopped = first.wait_exit();
  ASSERT_TRUE(stopped);
  EXPECT_TRUE(stopped->exited);
  EXPECT_EQ(stopped->code, 0);

  stub_process& second = start_tunnel({"--grace-period", "0s"});
  ASSERT_TRUE(wait_ready_status(200)) << second.err();
  const auto after = parse_json(get("/__stub/config")->body);
  EXPECT_EQ(std::string(after["ingress"][0]["hostname"].GetString()), "new.example.com");
  EXPECT_EQ(parse_json(get("/__stub/info")->body)["pid"].GetInt64(), static_cast<long long>(second.pid()));
}

TEST_F(CloudflaredStub, MetricsAddressFallsBackToTheConfigFile) {
  std::string with_metrics = good_config;
  with_metrics += "metrics: " + metrics_address() + "\n";
  write_config(with_metrics);
  stub_process& stub =
      start({"tunnel", "--config", config_.string(), "run"}, {{"TM_STUB_READY_DELAY_MS", "0"}});
  EXPECT_TRUE(wait_ready_status(200)) << stub.err();
}

TEST_F(CloudflaredStub, PinnedMetricsPortInUseRefusesToStart) {
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port_));
  int yes = 1;
  ::setsockopt(holder, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(holder, 4), 0);

  const auto status =
      run_to_end({"tunnel", "--config", config_.string(), "--metrics", metrics_address(), "run"});
  ::close(holder);
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(last_err_.find("Error opening metrics server listener"), std::string::npos) << last_err_;
}

// --- Signals ----------------------------------------------------------------------------------

TEST_F(CloudflaredStub, SighupKillsItLikeCloudflared) {
  const fs::path pidfile = dir_ / "cloudflared.pid";
  stub_process& stub = start_tunnel({"--pidfile", pidfile.string()});
  ASSERT_TRUE(wait_ready_status(200)) << stub.err();
  ASSERT_TRUE(wait_until([&] { return fs::exists(pidfile); }));

  stub.send(SIGHUP);
  auto status = stub.wait_exit();
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->exited);
  EXPECT_EQ(status->signal_number, SIGHUP);
  EXPECT_TRUE(fs::exists(pidfile));  // killed, so nobody cleaned up
}

TEST_F(CloudflaredStub, SigtermDrainsForTheGracePeriodThenExitsZero) {
  const fs::path pidfile = dir_ / "cloudflared.pid";
  stub_process& stub = start_tunnel({"--grace-period", "4s", "--pidfile", pidfile.string()});
  ASSERT_TRUE(wait_ready_status(200)) << stub.err();
  ASSERT_TRUE(wait_until([&] { return fs::exists(pidfile); }));
  EXPECT_EQ(read_file(pidfile), std::to_string(stub.pid()));

  stub.send(SIGTERM);
  // While draining the metrics server still answers, and says the tunnel is not ready.
  EXPECT_TRUE(wait_until([&] {
    auto info = get("/__stub/info");
    return info && parse_json(info->body)["draining"].IsTrue();
  }));
  EXPECT_EQ(ready_status(), 503);
  auto refused = post("/__stub/ready", "1");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409);
  EXPECT_TRUE(stub.running());

  auto status = stub.wait_exit();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 0);
  EXPECT_FALSE(fs::exists(pidfile));
  EXPECT_NE(stub.err().find("Initiating graceful shutdown due to signal terminated"), std::string::npos);
}

TEST_F(CloudflaredStub, SigintAlsoShutsDownCleanly) {
  stub_process& stub = start_tunnel({"--grace-period", "0s"});
  ASSERT_TRUE(wait_ready_status(200)) << stub.err();
  stub.send(SIGINT);
  auto status = stub.wait_exit();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 0);
}

TEST_F(CloudflaredStub, SecondSigtermEndsTheDrainAtOnce) {
  stub_process& stub = start_tunnel({"--grace-period", "1h"});
  ASSERT_TRUE(wait_ready_status(200)) << stub.err();
  stub.send(SIGTERM);
  ASSERT_TRUE(wait_until([&] {
    auto info = get("/__stub/info");
    return info && parse_json(info->body)["draining"].IsTrue();
  }));
  stub.send(SIGTERM);
  auto status = stub.wait_exit();  // far less than the hour of grace
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->exited);
  EXPECT_EQ(status->signal_number, SIGTERM);
}

TEST_F(CloudflaredStub, PidfileAppearsOnlyOnceConnected) {
  const fs::path pidfile = dir_ / "cloudflared.pid";
  stub_process& stub = start_tunnel({"--pidfile", pidfile.string()}, {{"TM_STUB_START_UNREADY", "1"}});
  ASSERT_TRUE(wait_until([&] { return get("/healthcheck") != nullptr; })) << stub.err();
  EXPECT_FALSE(fs::exists(pidfile));
  ASSERT_TRUE(post("/__stub/ready", "1"));
  EXPECT_TRUE(wait_until([&] { return fs::exists(pidfile); }));
}

// --- Refusing bad configs ---------------------------------------------------------------------

struct bad_config_case {
  const char* name;
  std::string yaml;
  const char* reason;
};

TEST_F(CloudflaredStub, BadConfigExitsOneWithTheReason) {
  const std::string head = "tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\ningress:\n";
  const std::vector<bad_config_case> cases = {
      {"last rule not catch-all", head + "  - hostname: a.example.com\n    service: http://localhost:1\n",
       "The last ingress rule must match all URLs"},
      {"catch-all before the end",
       head +
           "  - service: http://localhost:1\n  - hostname: a.example.com\n    service: http://localhost:2\n"
           "  - service: http_status:404\n",
       "Rule #1 is matching the hostname ''"},
      {"port in hostname",
       head + "  - hostname: a.example.com:8080\n    service: http://localhost:1\n  - service: "
              "http_status:404\n",
       "Hostname cannot contain a port"},
      {"wildcard not first",
       head +
           "  - hostname: a.*.example.com\n    service: http://localhost:1\n  - service: http_status:404\n",
       "at most one wildcard"},
      {"service with a path",
       head +
           "  - hostname: a.example.com\n    service: http://localhost:1/app\n  - service: http_status:404\n",
       "don't support proxying to a different path"},
      {"service without scheme",
       head + "  - hostname: a.example.com\n    service: localhost:3000\n  - service: http_status:404\n",
       "please make sure it has a scheme and a hostname"},
      {"bad status", head + "  - service: http_status:abc\n", "invalid HTTP status"},
      {"bad path regex",
       head + "  - hostname: a.example.com\n    path: \"*\"\n    service: http://localhost:1\n"
              "  - service: http_status:404\n",
       "Rule #1 has an invalid regex"},
      {"typed originRequest",
       head + "  - service: http_status:404\n    originRequest:\n      noTLSVerify: maybe\n",
       "noTLSVerify must be true or false"},
      {"duration without unit",
       head + "  - service: http_status:404\n    originRequest:\n      connectTimeout: 30\n",
       "missing unit in duration"},
      {"unreadable YAML", "ingress: [unclosed\n", "error parsing YAML in config file"},
  };
  for (const auto& bad : cases) {
    write_file(config_, bad.yaml);
    const auto status =
        run_to_end({"tunnel", "--config", config_.string(), "--metrics", metrics_address(), "run"});
    EXPECT_TRUE(status.exited) << bad.name;
    EXPECT_EQ(status.code, 1) << bad.name;
    EXPECT_NE(last_err_.find(bad.reason), std::string::npos) << bad.name << ": " << last_err_;
  }
}

TEST_F(CloudflaredStub, MissingConfigFileOrCredentialsRefusesToStart) {
  auto status = run_to_end({"tunnel", "--config", (dir_ / "absent.yml").string(), "run"});
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(last_err_.find("error reading config file at"), std::string::npos) << last_err_;

  std::string config = good_config;
  config.replace(config.find("CREDS"), 5, (dir_ / "absent.json").string());
  write_file(config_, config);
  status = run_to_end({"tunnel", "--config", config_.string(), "--metrics", metrics_address(), "run"});
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(last_err_.find("doesn't exist or is not a file"), std::string::npos) << last_err_;
}

TEST_F(CloudflaredStub, RunNeedsATunnelOrAValidToken) {
  write_file(config_, "ingress:\n  - service: http_status:404\n");
  auto status = run_to_end({"tunnel", "--config", config_.string(), "--metrics", metrics_address(), "run"});
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(last_err_.find("requires the ID or name of the tunnel"), std::string::npos) << last_err_;

  status = run_to_end({"tunnel", "--config", config_.string(), "--metrics", metrics_address(), "run",
                       "--token", "fake-token-for-tests"});
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(last_err_.find("Provided Tunnel token is not valid."), std::string::npos) << last_err_;

  // base64 of {"a":"fake-account","t":"6ff42ae2-765d-4adf-8112-31c55c1551ef","s":"ZmFrZQ=="}
  const std::string token =
      "eyJhIjoiZmFrZS1hY2NvdW50IiwidCI6IjZmZjQyYWUyLTc2NWQtNGFkZi04MTEyLTMxYzU1YzE1NTFlZiIsInMiOiJabUZyWlE9PS"
      "J9";
  stub_process& stub =
      start({"tunnel", "--no-autoupdate", "--metrics", metrics_address(), "run", "--token", token},
            {{"TM_STUB_READY_DELAY_MS", "0"}});
  EXPECT_TRUE(wait_ready_status(200)) << stub.err();
  EXPECT_EQ(std::string(parse_json(get("/__stub/info")->body)["tunnel"].GetString()),
            "6ff42ae2-765d-4adf-8112-31c55c1551ef");
}

// --- Offline checks ---------------------------------------------------------------------------

TEST_F(CloudflaredStub, IngressValidateAcceptsAGoodConfig) {
  const auto status = run_to_end({"tunnel", "--config", config_.string(), "ingress", "validate"});
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 0);
  EXPECT_EQ(last_out_, "Validating rules from " + config_.string() + "\nOK\n");
}

TEST_F(CloudflaredStub, IngressValidateRejectsABadConfigWithTheReason) {
  write_file(config_, "ingress:\n  - hostname: a.example.com\n    service: http://localhost:1\n");
  auto status = run_to_end({"tunnel", "--config", config_.string(), "ingress", "validate"});
  EXPECT_NE(status.code, 0);
  EXPECT_EQ(last_out_, "Validating rules from " + config_.string() + "\n");
  EXPECT_NE(last_err_.find("Validation failed: The last ingress rule must match all URLs"), std::string::npos)
      << last_err_;

  write_file(config_, "tunnel: x\n");
  status = run_to_end({"tunnel", "--config", config_.string(), "ingress", "validate"});
  EXPECT_NE(status.code, 0);
  EXPECT_NE(last_err_.find("doesn't contain any ingress rules"), std::string::npos) << last_err_;
}

TEST_F(CloudflaredStub, IngressRuleShowsTheMatchingRule) {
  auto status =
      run_to_end({"tunnel", "--config", config_.string(), "ingress", "rule", "https://app.example.com/x"});
  EXPECT_EQ(status.code, 0);
  EXPECT_NE(last_out_.find("Matched rule #1\n\thostname: app.example.com\n\tservice: http://localhost:3100"),
            std::string::npos)
      << last_out_;
  status =
      run_to_end({"tunnel", "--config", config_.string(), "ingress", "rule", "https://b.example.com/api/v1"});
  EXPECT_NE(last_out_.find("Matched rule #2"), std::string::npos) << last_out_;
  status = run_to_end({"tunnel", "--config", config_.string(), "ingress", "rule", "https://other.org/"});
  EXPECT_NE(last_out_.find("Matched rule #3"), std::string::npos) << last_out_;
}

TEST_F(CloudflaredStub, UnknownFlagIsAUsageError) {
  const auto status = run_to_end({"tunnel", "--no-such-flag", "run"});
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(last_err_.find("flag provided but not defined: -no-such-flag"), std::string::npos) << last_err_;
}

// --- The rules themselves, without a process --------------------------------------------------

std::vector<cf::ingress_rule> rules_of(const std::vector<std::pair<std::string, std::string>>& host_service) {
  std::vector<cf::ingress_rule> rules;
  for (const auto& [host, service] : host_service) {
    cf::ingress_rule rule;
    if (!host.empty()) rule.hostname = host;
    rule.service = service;
    rules.push_back(rule);
  }
  return rules;
}

TEST(CloudflaredStubRules, AcceptsEveryServiceFormCloudflaredAccepts) {
  for (const char* service :
       {"http://localhost:8080", "https://app:8443", "ws://a", "wss://a:1", "tcp://db:5432", "ssh://box:22",
        "rdp://pc:3389", "smb://nas:445", "unix:/run/app.sock", "unix+tls:/run/app.sock", "http_status:404",
        "http_status:100", "http_status:999", "hello_world", "bastion", "socks-proxy", "http://[::1]:8080",
        "http://localhost:8080?x=1"}) {
    EXPECT_TRUE(cf::validate_ingress(rules_of({{"a.example.com", service}, {"", "http_status:404"}})))
        << service;
  }
}

TEST(CloudflaredStubRules, RefusesServicesCloudflaredRefuses) {
  for (const char* service : {"http://localhost:8080/", "localhost:8080", "http://:8080", "http_status:99",
                              "http_status:1000", "ftp://files", "http://host:port", ""}) {
    EXPECT_FALSE(cf::validate_ingress(rules_of({{"a.example.com", service}, {"", "http_status:404"}})))
        << service;
  }
}

TEST(CloudflaredStubRules, HostnameChecks) {
  EXPECT_TRUE(cf::validate_ingress(rules_of({{"*.example.com", "http://a"}, {"*", "http_status:404"}})));
  EXPECT_FALSE(cf::validate_ingress(rules_of({{"[::1]:80", "http://a"}, {"", "http_status:404"}})));
  EXPECT_FALSE(cf::validate_ingress(rules_of({{"*", "http://a"}, {"", "http_status:404"}})));
  EXPECT_FALSE(cf::validate_ingress(rules_of({{"**.example.com", "http://a"}, {"", "http_status:404"}})));
  EXPECT_FALSE(cf::validate_ingress({}));
}

TEST(CloudflaredStubRules, GoDurations) {
  EXPECT_EQ(cf::parse_go_duration("30s").value(), std::chrono::seconds(30));
  EXPECT_EQ(cf::parse_go_duration("1m30s").value(), std::chrono::seconds(90));
  EXPECT_EQ(cf::parse_go_duration("250ms").value(), std::chrono::milliseconds(250));
  EXPECT_EQ(cf::parse_go_duration("1.5h").value(), std::chrono::minutes(90));
  EXPECT_EQ(cf::parse_go_duration("0").value(), std::chrono::nanoseconds(0));
  EXPECT_FALSE(cf::parse_go_duration("30"));
  EXPECT_FALSE(cf::parse_go_duration("10 s"));
  EXPECT_FALSE(cf::parse_go_duration("-1s"));
  EXPECT_FALSE(cf::parse_go_duration(""));
}

}  // namespace
