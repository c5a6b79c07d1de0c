// ABI-side helpers shared by the two Docker plugins' plugin.cpp: docker_errc → tm_rc, and
// docker_result → sdk::result. Only plugin.cpp files include this; the domain code never does.
#pragma once

#include <type_traits>
#include <utility>

#include <tunnelmgr/sdk/result.hpp>

#include "docker_error.hpp"
#include "event_watcher.hpp"

namespace tunnelmgr::plugins::docker_engine {

inline tm_rc to_rc(docker_errc kind) {
    switch (kind) {
        case docker_errc::unreachable: return TM_RETRY;
        case docker_errc::timeout: return TM_TIMEOUT;
        case docker_errc::not_found: return TM_NOT_FOUND;
        case docker_errc::conflict: return TM_CONFLICT;
        case docker_errc::invalid: return TM_INVALID;
        case docker_errc::error: return TM_ERROR;
    }
    return TM_ERROR;
}

template <class T>
sdk::result<T> lift(docker_result<T>&& r) {
    if (!r) return sdk::fail(to_rc(r.error().kind), std::move(r.error().message));
    if constexpr (std::is_void_v<T>) {
        return {};
    } else {
        return std::move(*r);
    }
}

inline tm_log_level to_log_level(watch_log_level level) {
    switch (level) {
        case watch_log_level::debug: return TM_LOG_DEBUG;
        case watch_log_level::info: return TM_LOG_INFO;
        case watch_log_level::warn: return TM_LOG_WARN;
    }
    return TM_LOG_INFO;
}

}  // namespace tunnelmgr::plugins::docker_engine
