// See version.hpp.
#include "plugin_host/version.hpp"

#include <charconv>

namespace tunnelmgr::host {

std::string api_version::str() const {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::optional<api_version> parse_api_version(std::string_view text) {
    api_version v;
    unsigned* parts[3] = {&v.major, &v.minor, &v.patch};
    const char* p = text.data();
    const char* end = text.data() + text.size();
    for (int i = 0; i < 3; ++i) {
        if (p == end || *p < '0' || *p > '9') return std::nullopt;
        auto [next, ec] = std::from_chars(p, end, *parts[i]);
        if (ec != std::errc() || next - p > 6) return std::nullopt;
        p = next;
        if (i < 2) {
            if (p == end || *p != '.') return std::nullopt;
            ++p;
        }
    }
    if (p != end) return std::nullopt;
    return v;
}

std::string check_compatible(const api_version& host, const api_version& required) {
    if (required.major != host.major) {
        return "requires plugin API " + required.str() + " but this tunnelmgr provides " + host.str() +
               " (a different major version): rebuild the plugin against tunnelmgr-plugin-api " +
               std::to_string(host.major) + ".x";
    }
    if (required.minor > host.minor) {
        return "requires plugin API " + required.str() + " but this tunnelmgr provides only " + host.str() +
               ": upgrade tunnelmgr, or rebuild the plugin against API " + host.str();
    }
    return {};
}

}  // namespace tunnelmgr::host
