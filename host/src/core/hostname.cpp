// See hostname.hpp.
#include "core/hostname.hpp"

#include <algorithm>
#include <cctype>

#include <tunnelmgr/sdk/hostname.hpp>

namespace tunnelmgr::core {

result<std::string> normalize_label(const std::string& subdomain) {
    if (subdomain.empty()) return fail(errc::invalid, "the subdomain is empty: give one label such as `app`");
    if (subdomain.find('.') != std::string::npos) {
        return fail(errc::invalid, "'" + subdomain +
                                       "' has dots: give one label (e.g. `app`) and the zone separately as the domain");
    }
    if (subdomain.find('*') != std::string::npos) {
        return fail(errc::invalid, "'" + subdomain + "' has a '*': wildcard names cannot be requested; give one label such as `app`");
    }
    if (subdomain.size() > 63) {
        return fail(errc::invalid, "the subdomain is " + std::to_string(subdomain.size()) +
                                       " characters long; a DNS label holds at most 63");
    }
    std::string out;
    for (char c : subdomain) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            return fail(errc::invalid, "'" + subdomain +
                                           "' has non-ASCII characters: use a–z, 0–9 and '-' (for an internationalised name give its xn-- form)");
        }
        if (std::isalnum(u) == 0 && c != '-') {
            return fail(errc::invalid, "'" + subdomain + "' has the character '" + std::string(1, c) +
                                           "': a label may hold only a–z, 0–9 and '-'");
        }
        out += static_cast<char>(std::tolower(u));
    }
    if (out.front() == '-' || out.back() == '-') {
        return fail(errc::invalid, "'" + subdomain + "' starts or ends with '-', which DNS does not allow");
    }
    return out;
}

result<std::string> normalize_domain(const std::string& domain) {
    std::string d = domain;
    if (!d.empty() && d.back() == '.') d.pop_back();
    if (d.empty()) return fail(errc::invalid, "no domain given and no default_domain configured: name the zone, e.g. example.com");
    std::string out, label;
    for (size_t i = 0; i <= d.size(); ++i) {
        if (i == d.size() || d[i] == '.') {
            auto l = normalize_label(label);
            if (!l) return fail(errc::invalid, "'" + domain + "' is not a valid domain: " + l.error().message);
            out += (out.empty() ? "" : ".") + *l;
            label.clear();
        } else {
            label += d[i];
        }
    }
    if (out.find('.') == std::string::npos) {
        return fail(errc::invalid, "'" + domain + "' is not a zone: give a domain such as example.com");
    }
    return out;
}

result<std::string> join_hostname(const std::string& label, const std::string& domain) {
    std::string host = label + "." + domain;
    if (host.size() > 253) {
        return fail(errc::invalid, host.substr(0, 40) + "... is " + std::to_string(host.size()) +
                                       " characters long; a DNS name holds at most 253");
    }
    return host;
}

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& x) {
    return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// "example.com", "example.com and example.org", "a.com, b.com and c.com".
std::string spoken_list(const std::vector<std::string>& items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
        out += items[i];
    }
    return out;
}

}  // namespace

result<void> check_scope(const std::string& project, const project_scope& scope, const name_rules& rules,
                         bool by_admin, const std::string& label, const std::string& domain) {
    const std::string key = "projects." + project;
    // The zone. Unset: the default domain only, so a new project cannot reach every zone the token edits.
    std::vector<std::string> zones;
    for (const auto& z : scope.domains) zones.push_back(z == "*" ? z : sdk::fold_hostname(z));
    std::string where = "(" + key + ".domains)";
    if (zones.empty()) {
        if (rules.default_domain.empty()) {
            return fail(errc::denied, "project '" + project + "' may publish in no zone: " + key +
                                          ".domains is not set and there is no tunnel.default_domain; ask the operator "
                                          "to list the project's zones in " + key + ".domains");
        }
        zones.push_back(sdk::fold_hostname(rules.default_domain));
        where = "(" + key + ".domains is not set: tunnel.default_domain only)";
    }
    if (std::find(zones.begin(), zones.end(), "*") == zones.end() &&
        std::find(zones.begin(), zones.end(), domain) == zones.end()) {
        return fail(errc::denied, "project '" + project + "' may publish only in " + spoken_list(zones) + " " + where +
                                      "; asked for " + domain + ": use " + (zones.size() == 1 ? "that zone" : "one of those") +
                                      ", or ask the operator to add " + domain + " to " + key + ".domains");
    }
    // The name rule: a required prefix and/or suffix, so projects sharing a zone cannot take each other's names.
    bool prefix_ok = starts_with(label, scope.prefix), suffix_ok = ends_with(label, scope.suffix);
    if (!prefix_ok || !suffix_ok || label.size() < scope.prefix.size() + scope.suffix.size()) {
        std::string rule, keys;
        if (!scope.prefix.empty()) {
            rule = "start with '" + scope.prefix + "'";
            keys = key + ".names.prefix";
        }
        if (!scope.suffix.empty()) {
            rule += (rule.empty() ? "" : " and ") + std::string("end with '") + scope.suffix + "'";
            keys += (keys.empty() ? "" : ", ") + key + ".names.suffix";
        }
        std::string suggestion = (prefix_ok ? "" : scope.prefix) + label + (suffix_ok ? "" : scope.suffix);
        std::string try_this;
        if (suggestion != label && suggestion.size() <= 63) try_this = ", e.g. '" + suggestion + "'";
        return fail(errc::denied, "project '" + project + "' may publish only names that " + rule + " (" + keys +
                                      "); asked for '" + label + "': pick a subdomain that does" + try_this);
    }
    if (!by_admin && rules.reserved_labels.count(label) > 0) {
        return fail(errc::denied, "'" + label + "' is a reserved name (reserved_labels): only the admin may publish "
                                  "it; pick another subdomain, or ask the operator");
    }
    return {};
}

}  // namespace tunnelmgr::core
