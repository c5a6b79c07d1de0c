// The plugin API version rule: majors equal, host minor >= the minor the plugin requires.
// Kept apart from the loader so the rule is tested on its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tunnelmgr::host {

struct api_version {
    unsigned major = 0, minor = 0, patch = 0;
    std::string str() const;
};

std::optional<api_version> parse_api_version(std::string_view text);

// Empty when compatible; otherwise a sentence saying why not and what to do.
std::string check_compatible(const api_version& host, const api_version& required);

}  // namespace tunnelmgr::host
