#include "stub_cli.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>

#include "go_duration.hpp"

namespace tunnelmgr::stubs::cloudflared {
namespace {

// Flags that take a value. The ones the stub does not use are accepted so that the command
// lines written for real cloudflared (systemd unit, docker run) start the stub unchanged.
constexpr std::string_view value_flags[] = {"config",          "metrics",          "grace-period",
                                            "pidfile",         "ready-delay",      "token",
                                            "token-file",      "credentials-file", "cred-file",
                                            "ha-connections",  "loglevel",         "transport-loglevel",
                                            "logfile",         "log-directory",    "protocol",
                                            "edge-ip-version", "region",           "retries",
                                            "autoupdate-freq", "origincert",       "edge-bind-address"};
constexpr std::string_view bool_flags[] = {"no-autoupdate", "no-tls-verify", "post-quantum",
                                           "no-chunked-encoding"};

template <std::size_t N>
bool contains(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

void store_flag(invocation& out, std::string_view name, std::string value) {
  if (name == "config")
    out.config_path = std::move(value);
  else if (name == "metrics")
    out.metrics = std::move(value);
  else if (name == "grace-period")
    out.grace_period = std::move(value);
  else if (name == "pidfile")
    out.pidfile = std::move(value);
  else if (name == "ready-delay")
    out.ready_delay = std::move(value);
  else if (name == "token")
    out.token = std::move(value);
  else if (name == "token-file")
    out.token_file = std::move(value);
  else if (name == "credentials-file" || name == "cred-file")
    out.credentials_file = std::move(value);
  else if (name == "ha-connections")
    out.ha_connections = std::move(value);
}

tl::expected<std::string, std::string> base64_decode(std::string_view text) {
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    const int value = value_of(c);
    if (value < 0) return tl::unexpected(std::string("not base64"));
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

// A tunnel token is base64 JSON {"a":account,"t":tunnel id,"s":secret}; cloudflared refuses
// anything else before it ever dials the edge, and so does the stub.
tl::expected<std::string, std::string> tunnel_id_from_token(const std::string& token) {
  const std::string refused = "Provided Tunnel token is not valid.";
  auto decoded = base64_decode(token);
  if (!decoded) return tl::unexpected(refused);
  rapidjson::Document document;
  document.Parse(decoded->c_str(), decoded->size());
  if (document.HasParseError() || !document.IsObject()) return tl::unexpected(refused);
  for (const char* key : {"a", "t", "s"}) {
    if (!document.HasMember(key) || !document[key].IsString()) return tl::unexpected(refused);
  }
  return std::string(document["t"].GetString());
}

tl::expected<void, std::string> check_credentials_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return tl::unexpected("Tunnel credentials file '" + path + "' doesn't exist or is not a file");
  }
  std::stringstream content;
  content << in.rdbuf();
  rapidjson::Document document;
  const std::string text = content.str();
  document.Parse(text.c_str(), text.size());
  if (document.HasParseError() || !document.IsObject()) {
    return tl::unexpected("Failed to decode credentials file " + path + ": not a JSON object");
  }
  return {};
}

}  // namespace

std::optional<std::string> process_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

tl::expected<invocation, std::string> parse_command_line(const std::vector<std::string>& args) {
  invocation out;
  std::vector<std::string> words;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--version" || arg == "-v" || arg == "-V") {
      out.command = stub_command::version;
      return out;
    }
    if (arg == "--help" || arg == "-h") {
      out.command = stub_command::help;
      return out;
    }
    if (arg.size() < 2 || arg.front() != '-') {
      words.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(arg.starts_with("--") ? 2 : 1);
    std::string_view name = arg;
    std::optional<std::string> inline_value;
    if (const auto equals = arg.find('='); equals != std::string_view::npos) {
      name = arg.substr(0, equals);
      inline_value = std::string(arg.substr(equals + 1));
    }
    if (contains(bool_flags, name)) continue;
    if (!contains(value_flags, name))
      return tl::unexpected("flag provided but not defined: -" + std::string(name));
    if (!inline_value) {
      if (i + 1 >= args.size()) return tl::unexpected("flag needs an argument: -" + std::string(name));
      inline_value = args[++i];
    }
    store_flag(out, name, std::move(*inline_value));
  }

  if (words.size() == 1 && words[0] == "version") {
    out.command = stub_command::version;
    return out;
  }
  if (words.empty() || words[0] != "tunnel") {
    return tl::unexpected(std::string("expected `tunnel run [TUNNEL]` or `tunnel ingress validate`"));
  }
  // `cloudflared tunnel` on its own runs the tunnel named in the config, like `tunnel run`.
  if (words.size() == 1 || words[1] == "run") {
    if (words.size() > 3)
      return tl::unexpected(std::string("`tunnel run` takes at most one tunnel name or id"));
    if (words.size() == 3) out.tunnel = words[2];
    out.command = stub_command::run;
    return out;
  }
  if (words[1] == "ingress" && words.size() == 3 && words[2] == "validate") {
    out.command = stub_command::ingress_validate;
    return out;
  }
  if (words[1] == "ingress" && words.size() >= 3 && words[2] == "rule") {
    if (words.size() != 4) {
      return tl::unexpected(
          std::string("cloudflared tunnel rule expects a single argument, the URL to test"));
    }
    out.rule_url = words[3];
    out.command = stub_command::ingress_rule;
    return out;
  }
  return tl::unexpected("unsupported command: " + words[1] +
                        " (the stub implements `tunnel run` and `tunnel ingress validate|rule`)");
}

tl::expected<run_settings, std::string> resolve_run_settings(const invocation& cli,
                                                             const tunnel_config& config,
                                                             const env_lookup& env) {
  run_settings settings;
  auto pick = [&](const std::optional<std::string>& flag, const char* env_name,
                  const std::optional<std::string>& from_file) -> std::optional<std::string> {
    if (flag) return flag;
    if (env_name != nullptr) {
      if (auto value = env(env_name)) return value;
    }
    return from_file;
  };

  settings.metrics_address = pick(cli.metrics, "TUNNEL_METRICS", config.metrics).value_or("");
  settings.pidfile = pick(cli.pidfile, "TUNNEL_PIDFILE", config.pidfile).value_or("");
  if (auto grace = pick(cli.grace_period, "TUNNEL_GRACE_PERIOD", config.grace_period)) {
    auto parsed = parse_go_duration(*grace);
    if (!parsed)
      return tl::unexpected("invalid value \"" + *grace + "\" for flag -grace-period: " + parsed.error());
    settings.grace_period = *parsed;
  }
  if (cli.ready_delay) {
    auto parsed = parse_go_duration(*cli.ready_delay);
    if (!parsed)
      return tl::unexpected("invalid value \"" + *cli.ready_delay +
                            "\" for flag -ready-delay: " + parsed.error());
    settings.ready_delay = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
  } else if (auto millis = env("TM_STUB_READY_DELAY_MS")) {
    char* end = nullptr;
    const long long value = std::strtoll(millis->c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || value < 0) {
      return tl::unexpected("TM_STUB_READY_DELAY_MS must be a whole number of milliseconds, got \"" +
                            *millis + "\"");
    }
    settings.ready_delay = std::chrono::milliseconds(value);
  }
  settings.start_unready = env("TM_STUB_START_UNREADY").value_or("0") == "1";
  if (cli.ha_connections) {
    char* end = nullptr;
    const long value = std::strtol(cli.ha_connections->c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || value < 1 || value > 16) {
      return tl::unexpected("invalid value \"" + *cli.ha_connections + "\" for flag -ha-connections");
    }
    settings.ha_connections = static_cast<int>(value);
  }

  std::optional<std::string> token = pick(cli.token, "TUNNEL_TOKEN", std::nullopt);
  if (!token) {
    if (auto token_file = pick(cli.token_file, "TUNNEL_TOKEN_FILE", std::nullopt)) {
      std::ifstream in(*token_file);
      if (!in) return tl::unexpected("Failed to read token file " + *token_file);
      std::string text;
      std::getline(in, text);
      token = text;
    }
  }
  if (token) {
    auto tunnel_id = tunnel_id_from_token(*token);
    if (!tunnel_id) return tl::unexpected(tunnel_id.error());
    settings.has_token = true;
    settings.tunnel = *tunnel_id;
    return settings;  // a token carries its own credentials
  }

  settings.tunnel = cli.tunnel ? *cli.tunnel : config.tunnel.value_or("");
  if (settings.tunnel.empty()) {
    return tl::unexpected(std::string(
        "\"cloudflared tunnel run\" requires the ID or name of the tunnel to run as the last command "
        "line argument or in the configuration file."));
  }
  settings.credentials_file =
      pick(cli.credentials_file, "TUNNEL_CRED_FILE", config.credentials_file).value_or("");
  if (!settings.credentials_file.empty()) {
    if (auto readable = check_credentials_file(settings.credentials_file); !readable) {
      return tl::unexpected(readable.error());
    }
  }
  return settings;
}

std::string usage_text() {
  return "usage: cloudflared-stub tunnel [--config FILE] [--metrics ADDR] [--grace-period DUR]\n"
         "                         [--pidfile FILE] [--ready-delay DUR] [--ha-connections N]\n"
         "                         [--token TOKEN | --token-file FILE] [--credentials-file FILE]\n"
         "                         run [TUNNEL]\n"
         "       cloudflared-stub tunnel --config FILE ingress validate\n"
         "       cloudflared-stub tunnel --config FILE ingress rule URL\n"
         "       cloudflared-stub --version\n"
         "A stand-in for cloudflared in tunnelmgr's tests: see tests/support/cloudflared-stub/README.md.\n";
}

}  // namespace tunnelmgr::stubs::cloudflared
