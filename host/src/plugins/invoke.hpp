// The one way the host calls into a plugin table: under the instance's lock, with last_error read
// while still holding it (so it belongs to this call), and rc turned into core::error.
#pragma once

#include <mutex>
#include <string>

#include "core/result.hpp"
#include "plugins/loader.hpp"

namespace tunnelmgr::host {

core::errc errc_from_rc(tm_rc rc);

template <class Fn>
core::result<void> invoke(plugin_instance& inst, Fn&& fn) {
    std::lock_guard<std::mutex> lock(inst.call_mutex());
    tm_rc rc = fn();
    if (rc == TM_OK) return {};
    return core::fail(errc_from_rc(rc), inst.last_error());
}

// For functions that return JSON through `const char** out`: the text is copied at once.
template <class Fn>
core::result<std::string> invoke_json(plugin_instance& inst, Fn&& fn) {
    std::string out;
    auto r = invoke(inst, [&] {
        const char* json = nullptr;
        tm_rc rc = fn(&json);
        if (rc == TM_OK) out = json != nullptr ? json : "null";
        return rc;
    });
    if (!r) return tl::unexpected(r.error());
    return out;
}

}  // namespace tunnelmgr::host
