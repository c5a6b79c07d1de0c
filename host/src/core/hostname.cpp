// See hostname.hpp.
#include "core/hostname.hpp"

#include <cctype>

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

}  // namespace tunnelmgr::core
