// The one way a hostname is folded before it is compared or stored, shared by the host and the
// plugins: DNS names are case-insensitive and "app.example.com." is "app.example.com".
#pragma once

#include <string>
#include <string_view>

namespace tunnelmgr::sdk {

// "App.Example.COM." → "app.example.com". ASCII only: internationalised names travel in xn-- form.
inline std::string fold_hostname(std::string_view name) {
    while (!name.empty() && name.back() == '.') name.remove_suffix(1);
    std::string out(name);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

}  // namespace tunnelmgr::sdk
