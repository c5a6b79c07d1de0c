#include "stub_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "go_duration.hpp"

namespace tunnelmgr::stubs::cloudflared {
namespace {

enum class value_kind { string, boolean, integer, duration, map, sequence };

struct known_key {
  const char* name;
  value_kind kind;
};

// The originRequest keys cloudflared decodes into typed fields. Unknown keys are ignored, as
// cloudflared only warns about them; known keys with the wrong type stop it from starting.
constexpr known_key origin_request_keys[] = {
    {"connectTimeout", value_kind::duration},
    {"tlsTimeout", value_kind::duration},
    {"tcpKeepAlive", value_kind::duration},
    {"keepAliveTimeout", value_kind::duration},
    {"proxyConnectTimeout", value_kind::duration},
    {"noHappyEyeballs", value_kind::boolean},
    {"keepAliveConnections", value_kind::integer},
    {"httpHostHeader", value_kind::string},
    {"originServerName", value_kind::string},
    {"matchSNItoHost", value_kind::boolean},
    {"caPool", value_kind::string},
    {"noTLSVerify", value_kind::boolean},
    {"disableChunkedEncoding", value_kind::boolean},
    {"http2Origin", value_kind::boolean},
    {"bastionMode", value_kind::boolean},
    {"proxyAddress", value_kind::string},
    {"proxyPort", value_kind::integer},
    {"proxyType", value_kind::string},
    {"access", value_kind::map},
    {"ipRules", value_kind::sequence},
};

constexpr known_key top_level_keys[] = {
    {"tunnel", value_kind::string},    {"credentials-file", value_kind::string},
    {"metrics", value_kind::string},   {"grace-period", value_kind::duration},
    {"pidfile", value_kind::string},   {"originRequest", value_kind::map},
    {"ingress", value_kind::sequence},
};

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "\"" + node.Scalar() + "\"";
  }
}

// yaml.v3 (cloudflared's decoder) still reads the YAML 1.1 spellings into a typed bool field.
bool is_yaml_bool(const std::string& text) {
  static const std::vector<std::string> spellings = {
      "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No",
      "NO",   "on",   "On",   "ON",    "off",   "Off",   "OFF", "y",   "Y",   "n",  "N"};
  return std::find(spellings.begin(), spellings.end(), text) != spellings.end();
}

bool is_yaml_integer(const std::string& text) {
  if (text.empty()) return false;
  std::size_t start = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (start == text.size()) return false;
  for (std::size_t i = start; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

// Returns an empty string when the value fits, else the reason.
std::string check_kind(const YAML::Node& value, value_kind kind) {
  const bool scalar = value.IsScalar();
  switch (kind) {
    case value_kind::string:
      return scalar ? "" : "must be a string, got " + describe(value);
    case value_kind::boolean:
      return scalar && is_yaml_bool(value.Scalar()) ? "" : "must be true or false, got " + describe(value);
    case value_kind::integer:
      return scalar && is_yaml_integer(value.Scalar()) ? "" : "must be an integer, got " + describe(value);
    case value_kind::duration: {
      if (!scalar) return "must be a duration such as \"30s\", got " + describe(value);
      auto parsed = parse_go_duration(value.Scalar());
      return parsed ? "" : parsed.error();
    }
    case value_kind::map:
      return value.IsMap() ? "" : "must be a map, got " + describe(value);
    case value_kind::sequence:
      return value.IsSequence() ? "" : "must be a list, got " + describe(value);
  }
  return "";
}

template <std::size_t N>
std::string check_keys(const YAML::Node& map, const known_key (&keys)[N], const std::string& where) {
  for (const auto& key : keys) {
    const YAML::Node value = map[key.name];
    if (!value.IsDefined() || value.IsNull()) continue;
    if (auto reason = check_kind(value, key.kind); !reason.empty()) {
      return where + key.name + " " + reason;
    }
  }
  return "";
}

std::optional<std::string> optional_scalar(const YAML::Node& map, const char* key) {
  const YAML::Node value = map[key];
  if (!value.IsDefined() || value.IsNull()) return std::nullopt;
  return value.Scalar();
}

tl::expected<std::string, std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(std::string(std::strerror(errno)));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return tl::unexpected(std::string("read error"));
  return content.str();
}

tl::expected<tunnel_config, std::string> parse_config(const YAML::Node& document, const std::string& path) {
  tunnel_config config;
  config.source_path = path;
  if (!document.IsDefined() || document.IsNull()) return config;  // an empty file is a valid, empty config
  if (!document.IsMap()) {
    return tl::unexpected("the top level must be a map of settings, got " + describe(document));
  }
  if (auto reason = check_keys(document, top_level_keys, ""); !reason.empty()) return tl::unexpected(reason);

  config.tunnel = optional_scalar(document, "tunnel");
  config.credentials_file = optional_scalar(document, "credentials-file");
  config.metrics = optional_scalar(document, "metrics");
  config.grace_period = optional_scalar(document, "grace-period");
  config.pidfile = optional_scalar(document, "pidfile");
  // yaml-cpp throws on Type() of a missing key, so every lookup asks IsDefined() first.
  if (const YAML::Node defaults = document["originRequest"]; defaults.IsDefined() && defaults.IsMap()) {
    config.origin_request = defaults;
    if (auto reason = check_keys(config.origin_request, origin_request_keys, "originRequest.");
        !reason.empty()) {
      return tl::unexpected(reason);
    }
  }

  const YAML::Node ingress = document["ingress"];
  if (!ingress.IsDefined() || !ingress.IsSequence()) return config;
  std::size_t number = 0;
  for (const auto& item : ingress) {
    ++number;
    const std::string where = "ingress rule #" + std::to_string(number) + ": ";
    if (!item.IsMap()) return tl::unexpected(where + "must be a map, got " + describe(item));
    for (const char* key : {"hostname", "path", "service"}) {
      const YAML::Node value = item[key];
      if (value.IsDefined() && !value.IsNull() && !value.IsScalar()) {
        return tl::unexpected(where + key + " must be a string, got " + describe(value));
      }
    }
    ingress_rule rule;
    rule.hostname = optional_scalar(item, "hostname");
    rule.path = optional_scalar(item, "path");
    rule.service = optional_scalar(item, "service").value_or("");
    const YAML::Node origin_request = item["originRequest"];
    if (origin_request.IsDefined() && !origin_request.IsNull()) {
      if (!origin_request.IsMap()) {
        return tl::unexpected(where + "originRequest must be a map, got " + describe(origin_request));
      }
      if (auto reason = check_keys(origin_request, origin_request_keys, where + "originRequest.");
          !reason.empty()) {
        return tl::unexpected(reason);
      }
      rule.origin_request = origin_request;
    }
    config.ingress.push_back(std::move(rule));
  }
  return config;
}

}  // namespace

tl::expected<tunnel_config, std::string> load_config_file(const std::string& path) {
  auto text = read_whole_file(path);
  if (!text) return tl::unexpected("error reading config file at " + path + ": " + text.error());
  YAML::Node document;
  try {
    document = YAML::Load(*text);
  } catch (const YAML::Exception& error) {
    return tl::unexpected("error parsing YAML in config file at " + path + ": " + error.what());
  }
  auto config = parse_config(document, path);
  if (!config) return tl::unexpected("invalid config file at " + path + ": " + config.error());
  return config;
}

std::string find_default_config_file() {
  std::vector<std::filesystem::path> directories;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    directories.emplace_back(std::filesystem::path(home) / ".cloudflared");
  }
  directories.emplace_back("/etc/cloudflared");
  directories.emplace_back("/usr/local/etc/cloudflared");
  for (const auto& directory : directories) {
    for (const char* name : {"config.yml", "config.yaml"}) {
      std::error_code error;
      const auto candidate = directory / name;
      if (std::filesystem::is_regular_file(candidate, error)) return candidate.string();
    }
  }
  return "";
}

}  // namespace tunnelmgr::stubs::cloudflared
