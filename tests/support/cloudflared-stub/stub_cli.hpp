// The stub's command line, shaped like cloudflared's (`tunnel [flags] run [TUNNEL]`,
// `tunnel --config F ingress validate`), and how flags, TUNNEL_* env and config.yml combine.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "stub_config.hpp"

namespace tunnelmgr::stubs::cloudflared {

enum class stub_command { run, ingress_validate, ingress_rule, version, help };

struct invocation {
  stub_command command = stub_command::help;
  std::optional<std::string> config_path;
  std::optional<std::string> metrics;
  std::optional<std::string> grace_period;
  std::optional<std::string> pidfile;
  std::optional<std::string> ready_delay;  // stub only
  std::optional<std::string> token;
  std::optional<std::string> token_file;
  std::optional<std::string> credentials_file;
  std::optional<std::string> ha_connections;
  std::optional<std::string> tunnel;    // `run TUNNEL`
  std::optional<std::string> rule_url;  // `ingress rule URL`
};

// Errors read like urfave/cli's ("flag provided but not defined: -foo").
tl::expected<invocation, std::string> parse_command_line(const std::vector<std::string>& args);

using env_lookup = std::function<std::optional<std::string>(const char*)>;
std::optional<std::string> process_env(const char* name);

// Everything `tunnel run` needs, resolved flag > env > config file > default, as urfave/altsrc does.
struct run_settings {
  std::string tunnel;           // name or id; empty when only a token names it
  std::string metrics_address;  // empty: cloudflared's default search (20241-20245, then any)
  std::chrono::nanoseconds grace_period{std::chrono::seconds(30)};
  std::string pidfile;
  std::chrono::milliseconds ready_delay{200};
  bool start_unready = false;
  int ha_connections = 4;
  std::string credentials_file;
  bool has_token = false;
};

tl::expected<run_settings, std::string> resolve_run_settings(const invocation& cli,
                                                             const tunnel_config& config,
                                                             const env_lookup& env);

std::string usage_text();

}  // namespace tunnelmgr::stubs::cloudflared
