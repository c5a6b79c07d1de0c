#include "ingress_rules.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <regex>

namespace tunnelmgr::stubs::cloudflared {
namespace {

// FACTS.md's list. Upstream accepts any scheme with a host (unknown ones become TCP over
// WebSocket); the stub is deliberately as strict as tunnelmgr's own validator.
constexpr std::array<std::string_view, 8> allowed_schemes = {"http", "https", "ws",  "wss",
                                                             "tcp",  "ssh",   "rdp", "smb"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool all_digits(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// Go's net.SplitHostPort succeeds (so cloudflared rejects the hostname) for "host:port" with a
// single colon, or for "[v6]:port".
bool splits_as_host_port(std::string_view hostname) {
  const auto last_colon = hostname.rfind(':');
  if (last_colon == std::string_view::npos) return false;
  if (!hostname.empty() && hostname.front() == '[') {
    const auto close = hostname.find(']');
    return close != std::string_view::npos && close + 1 == last_colon;
  }
  const std::string_view host = hostname.substr(0, last_colon);
  const std::string_view port = hostname.substr(last_colon + 1);
  auto has_bracket = [](std::string_view part) { return part.find_first_of("[]") != std::string_view::npos; };
  return host.find(':') == std::string_view::npos && !has_bracket(host) && !has_bracket(port);
}

// RE2 syntax that std::regex (ECMAScript) spells differently: leading inline flags, named
// groups, \A and \z. Enough for the paths people write in ingress rules.
std::regex compile_re2(std::string_view pattern) {
  std::string text(pattern);
  auto flags = std::regex::ECMAScript;
  static const std::regex leading_flags(R"(^\(\?([imsU]+)\))");
  std::smatch found;
  if (std::regex_search(text, found, leading_flags)) {
    if (found[1].str().find('i') != std::string::npos) flags |= std::regex::icase;
    text = found.suffix();
  }
  text = std::regex_replace(text, std::regex(R"(\(\?P<[A-Za-z_][A-Za-z0-9_]*>)"), "(");
  text = std::regex_replace(text, std::regex(R"(\\A)"), "^");
  text = std::regex_replace(text, std::regex(R"(\\z)"), "$");
  return std::regex(text, flags);
}

bool is_catch_all(const ingress_rule& rule) {
  const std::string hostname = rule.hostname.value_or("");
  return (hostname.empty() || hostname == "*") && rule.path.value_or("").empty();
}

tl::expected<void, std::string> validate_service(const std::string& service) {
  const std::string_view text = service;
  if (text.starts_with("unix:") || text.starts_with("unix+tls:")) return {};
  if (text.starts_with("http_status:")) {
    const std::string_view code = text.substr(std::string_view("http_status:").size());
    if (code.empty() || !all_digits(code) || code.size() > 9) {
      return tl::unexpected("invalid HTTP status: strconv.Atoi: parsing \"" + std::string(code) +
                            "\": invalid syntax");
    }
    const int status = std::stoi(std::string(code));
    if (status < 100 || status > 999) {
      return tl::unexpected("invalid HTTP status: " + std::to_string(status) + " is not between 100 and 999");
    }
    return {};
  }
  if (text == "hello_world" || text == "hello-world" || text == "helloworld" || text == "bastion" ||
      text == "socks-proxy") {
    return {};
  }
  auto url = parse_url(text);
  if (!url) return tl::unexpected(url.error());
  if (url->scheme.empty() || url->hostname.empty()) {
    return tl::unexpected(service +
                          " is an invalid address, please make sure it has a scheme and a hostname");
  }
  if (!url->path.empty()) {
    return tl::unexpected(service +
                          " is an invalid address, ingress rules don't support proxying to a different "
                          "path on the origin service. The path will be the same as the eyeball "
                          "request's path");
  }
  if (std::find(allowed_schemes.begin(), allowed_schemes.end(), url->scheme) == allowed_schemes.end()) {
    return tl::unexpected(service +
                          " is an invalid address, the scheme must be one of http, https, ws, wss, "
                          "tcp, ssh, rdp, smb");
  }
  return {};
}

tl::expected<void, std::string> validate_hostname(const ingress_rule& rule, std::size_t index,
                                                  std::size_t total) {
  const std::string hostname = rule.hostname.value_or("");
  if (splits_as_host_port(hostname)) return tl::unexpected(std::string("Hostname cannot contain a port"));
  const auto last_star = hostname.rfind('*');
  if (last_star != std::string::npos && last_star > 0) {
    return tl::unexpected(std::string(
        "Hostname patterns can have at most one wildcard character (\"*\") and it can only be used "
        "for subdomains, e.g. \"*.example.com\""));
  }
  const bool last = index + 1 == total;
  if (last && !is_catch_all(rule)) {
    return tl::unexpected(std::string(
        "The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)"));
  }
  if (!last && is_catch_all(rule)) {
    return tl::unexpected("Rule #" + std::to_string(index + 1) + " is matching the hostname '" + hostname +
                          "', but this will match every hostname, meaning the rules which follow it "
                          "will never be triggered.");
  }
  return {};
}

bool host_matches(std::string_view rule_host, std::string_view request_host) {
  const std::string rule = lower(rule_host);
  const std::string request = lower(request_host);
  if (rule == request) return true;
  if (rule.starts_with("*.")) return request.ends_with(std::string_view(rule).substr(2));
  return false;
}

}  // namespace

tl::expected<parsed_url, std::string> parse_url(std::string_view text) {
  parsed_url url;
  std::string_view rest = text;
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);

  // A scheme is a letter followed by letters, digits, '+', '-' or '.', then ':'.
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(rest[i]);
    if (std::isalpha(c)) continue;
    if ((std::isdigit(c) || c == '+' || c == '-' || c == '.') && i > 0) continue;
    if (c == ':') {
      if (i == 0) return tl::unexpected("parse \"" + std::string(text) + "\": missing protocol scheme");
      url.scheme = lower(rest.substr(0, i));
      rest.remove_prefix(i + 1);
    }
    break;
  }
  if (const auto query = rest.find('?'); query != std::string_view::npos) rest = rest.substr(0, query);
  if (!rest.starts_with("//")) {
    // Opaque ("localhost:8080" reads as scheme "localhost") or a bare path: no host.
    if (url.scheme.empty() || rest.starts_with("/")) url.path = std::string(rest);
    return url;
  }
  rest.remove_prefix(2);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) url.path = std::string(rest.substr(slash));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);

  std::string_view host = authority;
  std::string_view port_part;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return tl::unexpected("parse \"" + std::string(text) + "\": missing ']' in host");
    }
    host = authority.substr(1, close - 1);
    port_part = authority.substr(close + 1);
    if (!port_part.empty() && !port_part.starts_with(":")) {
      return tl::unexpected("parse \"" + std::string(text) + "\": invalid port \"" + std::string(port_part) +
                            "\" after host");
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_part = authority.substr(colon);
  }
  if (!port_part.empty()) {
    if (!all_digits(port_part.substr(1))) {
      return tl::unexpected("parse \"" + std::string(text) + "\": invalid port \"" + std::string(port_part) +
                            "\" after host");
    }
    url.port = std::string(port_part.substr(1));
  }
  url.hostname = std::string(host);
  return url;
}

tl::expected<void, std::string> validate_ingress(const std::vector<ingress_rule>& rules) {
  if (rules.empty()) return tl::unexpected(std::string(no_ingress_rules_message));
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const ingress_rule& rule = rules[i];
    if (auto valid = validate_service(rule.service); !valid) return valid;
    if (auto valid = validate_hostname(rule, i, rules.size()); !valid) return valid;
    if (rule.path && !rule.path->empty()) {
      try {
        (void)compile_re2(*rule.path);
      } catch (const std::regex_error& error) {
        return tl::unexpected("Rule #" + std::to_string(i + 1) + " has an invalid regex: " + error.what());
      }
    }
  }
  return {};
}

std::size_t find_matching_rule(const std::vector<ingress_rule>& rules, std::string_view hostname,
                               std::string_view path) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const ingress_rule& rule = rules[i];
    const std::string rule_host = rule.hostname.value_or("");
    const bool host_ok = rule_host.empty() || rule_host == "*" || host_matches(rule_host, hostname);
    bool path_ok = true;
    if (rule.path && !rule.path->empty()) {
      const std::string subject(path);
      path_ok = std::regex_search(subject, compile_re2(*rule.path));
    }
    if (host_ok && path_ok) return i;
  }
  return rules.empty() ? 0 : rules.size() - 1;
}

}  // namespace tunnelmgr::stubs::cloudflared
