// cloudflared's ingress checks (ingress/ingress.go: validateIngress, validateHostname) and rule
// matching, so the stub refuses exactly the configs that would stop the real one from starting.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "stub_config.hpp"

namespace tunnelmgr::stubs::cloudflared {

// The sentence cloudflared prints when a config has no ingress at all. `tunnel run` tolerates
// it (every request then gets a 503); `ingress validate` does not.
inline constexpr std::string_view no_ingress_rules_message =
    "The config file doesn't contain any ingress rules";

// Checks every rule in order and returns the first reason, worded as cloudflared words it.
tl::expected<void, std::string> validate_ingress(const std::vector<ingress_rule>& rules);

// Index of the first rule that matches, the catch-all when none does (as FindMatchingRule).
// Assumes the rules passed validate_ingress.
std::size_t find_matching_rule(const std::vector<ingress_rule>& rules, std::string_view hostname,
                               std::string_view path);

// The parts of a URL that ingress needs, parsed the way Go's net/url does for these forms.
struct parsed_url {
  std::string scheme;  // lower-case
  std::string hostname;
  std::string port;
  std::string path;
};
tl::expected<parsed_url, std::string> parse_url(std::string_view text);

}  // namespace tunnelmgr::stubs::cloudflared
