// The one way the host calls into a plugin table: under the instance's lock, with last_error read
// while still holding it (so it belongs to this call), rc turned into core::error, the reply's size
// capped, and the call named for crash reports. Calls from the background loops also get a deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/result.hpp"
#include "plugin_host/call_site.hpp"
#include "plugin_host/loader.hpp"

namespace tunnelmgr::host {

// Larger replies are refused: no reply of any slot comes near it, and a runaway plugin must not
// make the host allocate without bound.
inline constexpr size_t max_reply_bytes = 16u << 20;

template <class Fn>
core::result<void> invoke(plugin_instance& inst, const char* function, Fn&& fn) {
    std::lock_guard<std::mutex> lock(inst.call_mutex());
    call_site site(inst.library().name.c_str(), function);
    tm_rc rc = fn();
    if (rc == TM_OK) return {};
    return core::fail(sdk::errc_of(rc), inst.last_error());
}

// Copies a JSON reply at once, refusing a NULL or oversized one with a sentence naming the call.
inline core::result<std::string> copy_reply(const plugin_instance& inst, const char* function, const char* json) {
    if (json == nullptr) {
        return core::fail(core::errc::error, "plugin '" + inst.library().name + "': " + function +
                                                 "() returned success without a reply: the plugin is broken; tell its author");
    }
    size_t n = ::strnlen(json, max_reply_bytes + 1);
    if (n > max_reply_bytes) {
        return core::fail(core::errc::error, "plugin '" + inst.library().name + "': " + function + "() replied with more than " +
                                                 std::to_string(max_reply_bytes >> 20) +
                                                 " MiB; the reply was refused: the plugin is broken; tell its author");
    }
    return std::string(json, n);
}

// For functions that return JSON through `const char** out`: the text is copied at once.
template <class Fn>
core::result<std::string> invoke_json(plugin_instance& inst, const char* function, Fn&& fn) {
    core::result<std::string> out = std::string();
    auto r = invoke(inst, function, [&] {
        const char* json = nullptr;
        tm_rc rc = fn(&json);
        if (rc == TM_OK) out = copy_reply(inst, function, json);
        return rc;
    });
    if (!r) return tl::unexpected(r.error());
    return out;
}

// A call that must answer within `deadline` (the background loops use it, so one hung plugin
// cannot stop the health checks). The call runs on a thread of its own; when the deadline passes,
// the caller gets a timeout and the call is left to finish. Until it does, further deadline calls
// on the instance are refused at once instead of queueing behind it. `fn` must own everything it
// uses (capture by value): it may outlive the caller.
template <class Fn>
core::result<std::string> invoke_json_within(plugin_instance& inst, const char* function,
                                             std::chrono::milliseconds deadline, Fn fn) {
    struct shared {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        bool overdue = false;  // the caller stopped waiting: the call is marked pending until it returns
        core::result<std::string> out = std::string();
    };
    auto busy = inst.pending_call();
    if (!busy.empty()) {
        return core::fail(core::errc::timeout, "plugin '" + inst.library().name + "' is still inside " + busy +
                                                   "() from an earlier call that passed its deadline; not calling " +
                                                   function + "() until it returns");
    }
    // A call of another thread still within its deadline is not refused: this one waits its turn on
    // the instance's lock, within its own deadline (the health check's status() and a change's
    // restart() often meet like that).
    auto state = std::make_shared<shared>();
    std::thread([&inst, function, state, fn = std::move(fn)]() mutable {
        auto r = invoke_json(inst, function, fn);
        std::lock_guard<std::mutex> lock(state->m);
        if (state->overdue) inst.end_pending();  // only then may the caller have let the instance go
        state->out = std::move(r);
        state->done = true;
        state->cv.notify_all();
    }).detach();
    std::unique_lock<std::mutex> lock(state->m);
    if (!state->cv.wait_for(lock, deadline, [&] { return state->done; })) {
        state->overdue = true;
        inst.begin_pending(function);
        return core::fail(core::errc::timeout, "plugin '" + inst.library().name + "': " + function + "() did not answer within " +
                                                   std::to_string(deadline.count()) +
                                                   " ms; the check goes on without it (the call is left to finish)");
    }
    return std::move(state->out);
}

}  // namespace tunnelmgr::host
