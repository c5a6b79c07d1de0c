// Entry point of cloudflared-stub: a process that stands in for cloudflared where tunnelmgr can
// observe it (CLI, config checks, metrics server, signals, pidfile). See README.md.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config_json.hpp"
#include "go_duration.hpp"
#include "ingress_rules.hpp"
#include "metrics_server.hpp"
#include "stop_signals.hpp"
#include "stub_cli.hpp"
#include "stub_config.hpp"
#include "tunnel_lifecycle.hpp"

namespace cf = tunnelmgr::stubs::cloudflared;

namespace {

constexpr const char* stub_version = "2024.8.2-stub";

std::string random_uuid() {
  std::random_device entropy;
  std::mt19937_64 generator((static_cast<std::uint64_t>(entropy()) << 32) ^ entropy());
  std::uniform_int_distribution<int> nibble(0, 15);
  const char* digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    int value = nibble(generator);
    if (i == 12) value = 4;                // version 4
    if (i == 16) value = 8 | (value & 3);  // RFC 4122 variant
    out.push_back(digits[value]);
  }
  return out;
}

// cloudflared's unit is Type=notify: READY=1 goes out with the first edge connection.
void notify_systemd_ready() {
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (socket_path == nullptr || *socket_path == '\0') return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string path = socket_path;
  if (path.size() >= sizeof(address.sun_path)) return;
  std::copy(path.begin(), path.end(), address.sun_path);
  if (path.front() == '@') address.sun_path[0] = '\0';  // abstract namespace
  const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return;
  const char message[] = "READY=1";
  ::sendto(sock, message, sizeof(message) - 1, 0, reinterpret_cast<const sockaddr*>(&address),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size()));
  ::close(sock);
}

long long unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int refuse_to_start(const std::string& reason) {
  cf::log_line("ERR", "Couldn't start tunnel error=\"" + reason + "\"");
  return 1;
}

tl::expected<cf::tunnel_config, std::string> load_config(const cf::invocation& cli) {
  const std::string path = cli.config_path ? *cli.config_path : cf::find_default_config_file();
  if (path.empty()) return cf::tunnel_config{};
  return cf::load_config_file(path);
}

int validate_command(const cf::tunnel_config& config) {
  if (config.source_path.empty()) {
    std::cout << "No configuration file was found. Please create one, or use the --config flag to "
                 "specify its filepath. You can use the help command to learn more about "
                 "configuration files\n";
    return 0;
  }
  std::cout << "Validating rules from " << config.source_path << std::endl;
  if (auto valid = cf::validate_ingress(config.ingress); !valid) {
    std::cerr << "Validation failed: " << valid.error() << std::endl;
    return 1;
  }
  std::cout << "OK" << std::endl;
  return 0;
}

int rule_command(const cf::tunnel_config& config, const std::string& url_text) {
  auto url = cf::parse_url(url_text);
  if (!url) {
    std::cerr << url_text << " is not a valid URL" << std::endl;
    return 1;
  }
  if (url->hostname.empty() && url->scheme.empty()) {
    std::cerr << url_text << " doesn't have a hostname, consider adding a scheme" << std::endl;
    return 1;
  }
  std::cout << "Using rules from " << config.source_path << std::endl;
  if (auto valid = cf::validate_ingress(config.ingress); !valid) {
    std::cerr << "Validation failed: " << valid.error() << std::endl;
    return 1;
  }
  const std::size_t index = cf::find_matching_rule(config.ingress, url->hostname, url->path);
  const cf::ingress_rule& rule = config.ingress[index];
  std::cout << "Matched rule #" << index + 1 << "\n";
  if (rule.hostname && !rule.hostname->empty()) std::cout << "\thostname: " << *rule.hostname << "\n";
  if (rule.path && !rule.path->empty()) std::cout << "\tpath: " << *rule.path << "\n";
  std::cout << "\tservice: " << rule.service << std::endl;
  return 0;
}

int run_command(const cf::invocation& cli, const cf::tunnel_config& config) {
  const long long started_at = unix_ms_now();
  if (!config.ingress.empty()) {
    if (auto valid = cf::validate_ingress(config.ingress); !valid) return refuse_to_start(valid.error());
  } else {
    cf::log_line("WRN",
                 "No ingress rules were defined in provided config (if any) nor from the cli, "
                 "cloudflared will return 503 for all incoming HTTP requests");
  }
  auto settings = cf::resolve_run_settings(cli, config, cf::process_env);
  if (!settings) return refuse_to_start(settings.error());

  std::atomic<bool> pidfile_written = false;  // set on whichever thread connects first
  auto write_pidfile = [&] {
    notify_systemd_ready();
    if (settings->pidfile.empty()) return;
    std::ofstream out(settings->pidfile, std::ios::trunc);
    out << ::getpid();  // no newline, as cloudflared writes it
    if (out.flush()) {
      pidfile_written = true;
    } else {
      cf::log_line("ERR", "Unable to write pid expandedPath=" + settings->pidfile);
    }
  };
  cf::tunnel_lifecycle lifecycle(settings->ha_connections, write_pidfile);

  cf::stub_identity identity;
  identity.connector_id = random_uuid();
  identity.version = stub_version;
  identity.config_path = config.source_path;
  identity.tunnel = settings->tunnel;
  identity.config_json = cf::config_to_json(config);
  identity.started_at_unix_ms = started_at;
  identity.grace_period_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(settings->grace_period).count();
  identity.ready_delay_ms = settings->ready_delay.count();

  cf::metrics_server server(lifecycle, identity);
  auto bound = server.bind(settings->metrics_address);
  if (!bound) return refuse_to_start("Error opening metrics server listener: " + bound.error());

  cf::log_line("INF", std::string("Starting tunnel tunnelID=") + settings->tunnel);
  cf::log_line("INF",
               std::string("Version ") + stub_version + " (cloudflared-stub, not the real cloudflared)");
  cf::log_line("INF", "Generated Connector ID: " + identity.connector_id);
  cf::log_line("INF", "Starting metrics server on " + *bound + "/metrics");
  server.start();
  cf::watch_stop_signals(lifecycle);

  std::optional<cf::tunnel_lifecycle::clock::time_point> connect_at;
  if (settings->start_unready) {
    cf::log_line("INF", "TM_STUB_START_UNREADY=1: staying unready until told otherwise");
  } else {
    connect_at = cf::tunnel_lifecycle::clock::now() + settings->ready_delay;
  }
  lifecycle.run_until_shutdown(connect_at);

  lifecycle.begin_drain();
  if (settings->grace_period.count() > 0) {
    cf::log_line("INF", "Waiting for the grace period to pass gracePeriod=" +
                            cf::format_duration_ms(settings->grace_period));
    std::this_thread::sleep_for(settings->grace_period);
  }
  cf::log_line("INF", "Tunnel server stopped");
  server.stop();
  cf::log_line("INF", "Metrics server stopped");
  if (pidfile_written) {
    std::error_code ignored;
    std::filesystem::remove(settings->pidfile, ignored);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cf::block_stop_signals();
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto cli = cf::parse_command_line(args);
  if (!cli) {
    std::cerr << "Incorrect Usage: " << cli.error() << "\n\n" << cf::usage_text();
    return 1;
  }
  switch (cli->command) {
    case cf::stub_command::version:
      std::cout << "cloudflared version " << stub_version << " (built tunnelmgr cloudflared-stub)"
                << std::endl;
      return 0;
    case cf::stub_command::help:
      std::cout << cf::usage_text();
      return 0;
    default:
      break;
  }
  auto config = load_config(*cli);
  if (!config) return refuse_to_start(config.error());
  switch (cli->command) {
    case cf::stub_command::ingress_validate:
      return validate_command(*config);
    case cf::stub_command::ingress_rule:
      return rule_command(*config, *cli->rule_url);
    default:
      return run_command(*cli, *config);
  }
}
