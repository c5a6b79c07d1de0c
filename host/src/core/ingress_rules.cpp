// See ingress_rules.hpp. Messages follow cloudflared's so operators recognise them.
#include "core/ingress_rules.hpp"

#include <tunnelmgr/sdk/hostname.hpp>

#include <cctype>
#include <regex>
#include <string_view>

namespace tunnelmgr::core {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

bool all_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
    }
    return true;
}

// Go's net.SplitHostPort succeeds on "host:port" and "[v6]:port"; such a hostname carries a port.
bool has_port(const std::string& h) {
    if (h.empty()) return false;
    if (h.front() == '[') {
        auto close = h.find(']');
        return close != std::string::npos && close + 1 < h.size() && h[close + 1] == ':';
    }
    auto colon = h.find(':');
    return colon != std::string::npos && h.find(':', colon + 1) == std::string::npos;
}

}  // namespace

std::string check_service(const std::string& service) {
    if (service.empty()) return "has no service: give one such as http://localhost:8080 or http_status:404";
    if (starts_with(service, "unix:") || starts_with(service, "unix+tls:")) {
        std::string path = service.substr(service.find(':') + 1);
        return path.empty() ? "'" + service + "' names no socket path" : "";
    }
    if (starts_with(service, "http_status:")) {
        std::string code = service.substr(12);
        if (!all_digits(code) || code.size() != 3 || code[0] == '0') {
            return "'" + service + "' is an invalid HTTP status: use http_status:NNN with NNN from 100 to 999";
        }
        return "";
    }
    for (const char* word : {"hello_world", "hello-world", "helloworld", "bastion", "socks-proxy"}) {
        if (service == word) return "";
    }
    static const char* schemes[] = {"http", "https", "ws", "wss", "tcp", "ssh", "rdp", "smb"};
    auto sep = service.find("://");
    if (sep == std::string::npos) {
        return "'" + service + "' is an invalid address, please make sure it has a scheme and a hostname";
    }
    // Views into `service`, no copies: every rule of the file is checked at every edit.
    const std::string_view all(service);
    const std::string_view scheme = all.substr(0, sep);
    bool known = false;
    for (const char* s : schemes) known = known || scheme == s;
    if (!known) {
        return "'" + service + "' uses the scheme '" + std::string(scheme) +
               "'; cloudflared proxies http, https, ws, wss, tcp, ssh, rdp and smb";
    }
    const std::string_view rest = all.substr(sep + 3);
    auto slash = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        return "'" + service +
               "' is an invalid address, ingress rules don't support proxying to a different path on the origin service";
    }
    std::string_view host = authority.substr(authority.rfind('@') == std::string_view::npos ? 0 : authority.rfind('@') + 1);
    if (!host.empty() && host.front() == '[') {
        host = host.substr(0, host.find(']') + 1);
    } else {
        host = host.substr(0, host.find(':'));
    }
    if (host.empty() || host == "[]") {
        return "'" + service + "' is an invalid address, please make sure it has a scheme and a hostname";
    }
    if (auto colon = authority.rfind(':'); colon != std::string_view::npos && authority.back() != ']') {
        const std::string port(authority.substr(colon + 1));
        if (!port.empty() && (!all_digits(port) || port.size() > 5 || std::stol(port) > 65535)) {
            return "'" + service + "' has an invalid port";
        }
    }
    return "";
}

result<void> validate_rule(const ingress_rule& r, size_t i, bool last) {
    // Named only when refused: a file of 1,000 rules is checked whole when it is read.
    auto n = [i] { return "Rule #" + std::to_string(i + 1); };
    if (auto bad = check_service(r.service); !bad.empty()) return fail(errc::invalid, n() + " " + bad);
    if (has_port(r.hostname)) {
        return fail(errc::invalid, n() + ": Hostname cannot contain a port ('" + r.hostname + "')");
    }
    if (auto star = r.hostname.rfind('*'); star != std::string::npos && star > 0) {
        return fail(errc::invalid, n() + ": Hostname patterns can have at most one wildcard character (\"*\") and it "
                                       "can only be used for subdomains, e.g. \"*.example.com\"");
    }
    if (!r.path.empty()) {
        try {
            std::regex re(r.path, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
            return fail(errc::invalid, n() + " has an invalid regex: '" + r.path + "'");
        }
    }
    bool catch_all = (r.hostname.empty() || r.hostname == "*") && r.path.empty();
    if (last && !catch_all) {
        return fail(errc::invalid, "The last ingress rule must match all URLs (i.e. it should not have a "
                                   "hostname or path filter): end the list with `- service: http_status:404`");
    }
    if (!last && catch_all) {
        return fail(errc::invalid, n() + " is matching the hostname '" + r.hostname +
                                       "', but this will match every hostname, meaning the rules which follow it "
                                       "will never be triggered.");
    }
    return {};
}

result<void> validate_ingress(const std::vector<ingress_rule>& rules) {
    if (rules.empty()) {
        return fail(errc::invalid, "The config file doesn't contain any ingress rules: add at least a catch-all "
                                   "rule such as `- service: http_status:404`");
    }
    for (size_t i = 0; i < rules.size(); ++i) {
        if (auto v = validate_rule(rules[i], i, i + 1 == rules.size()); !v) return v;
    }
    return {};
}

namespace {
std::string_view without_trailing_dots(std::string_view name) {
    while (!name.empty() && name.back() == '.') name.remove_suffix(1);
    return name;
}
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
// a and b equal once both are lower-cased (ASCII, as sdk::fold_hostname folds).
bool equal_folded(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}
}  // namespace

bool same_folded_host(std::string_view name, std::string_view folded) {
    return equal_folded(without_trailing_dots(name), folded);
}

// Every rule is matched at every add, so nothing here copies a name (issue 13).
bool rule_catches_host(const std::string& rule_host, const std::string& host) {
    const std::string_view rule = without_trailing_dots(rule_host), name = without_trailing_dots(host);
    if (rule.empty() || rule == "*" || equal_folded(rule, name)) return true;
    if (rule.size() > 2 && rule.compare(0, 2, "*.") == 0) {
        const std::string_view suffix = rule.substr(1);  // ".example.org": the dot stays, so example.org itself is not caught
        return name.size() > suffix.size() && equal_folded(name.substr(name.size() - suffix.size()), suffix);
    }
    return false;
}

std::optional<size_t> first_rule_catching(const std::vector<ingress_rule>& rules, const std::string& host) {
    // The last rule is the catch-all that the new rule goes in front of.
    for (size_t i = 0; i + 1 < rules.size(); ++i) {
        if (rule_catches_host(rules[i].hostname, host)) return i;
    }
    return std::nullopt;
}

error shadowed_by(const ingress_rule& rule, size_t index, const std::string& host) {
    std::string what = "`" + rule.hostname + "`" + (rule.path.empty() ? "" : " path `" + rule.path + "`") + " → " + rule.service;
    return error{errc::conflict,
                 host + " would never reach tunnelmgr's rule: cloudflared sends a request to the first rule that matches, "
                 "and rule #" + std::to_string(index) + " (" + what + ") comes first and matches it. Pick a name " +
                 "that rule does not cover, or ask the operator to narrow or remove it"};
}

}  // namespace tunnelmgr::core
