// The part of cloudflared's config.yml the stub reads: tunnel, credentials-file, metrics,
// grace-period, pidfile, originRequest and ingress, checked for shape and types at load time.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace tunnelmgr::stubs::cloudflared {

struct ingress_rule {
  std::optional<std::string> hostname;
  std::optional<std::string> path;
  std::string service;
  YAML::Node origin_request;  // a map, or undefined when the rule has none
};

struct tunnel_config {
  std::string source_path;  // empty: no config file was given or found
  std::optional<std::string> tunnel;
  std::optional<std::string> credentials_file;
  std::optional<std::string> metrics;
  std::optional<std::string> grace_period;
  std::optional<std::string> pidfile;
  YAML::Node origin_request;
  std::vector<ingress_rule> ingress;
};

// Reads and type-checks a config file. The message names the file and the offending key,
// the way cloudflared refuses to start on a config it cannot unmarshal.
tl::expected<tunnel_config, std::string> load_config_file(const std::string& path);

// cloudflared's search order when --config is absent: ~/.cloudflared, /etc/cloudflared,
// /usr/local/etc/cloudflared, each config.yml then config.yaml. Empty when none exists.
std::string find_default_config_file();

}  // namespace tunnelmgr::stubs::cloudflared
