// What the core reports as it works, for whoever watches (tunnelmgr's metrics, today). The core
// calls these and knows nothing of who listens; every method does nothing unless overridden.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tunnelmgr::core {

class core_observer {
public:
    virtual ~core_observer() = default;
    // One pipeline step of a `kind` ("create", "delete") finished, `took` after the previous one.
    virtual void pipeline_step_done(std::string_view /*kind*/, std::string_view /*step*/,
                                    std::chrono::steady_clock::duration /*took*/) {}
    // An operation of `kind` failed before it reached `step`.
    virtual void pipeline_failed(std::string_view /*kind*/, std::string_view /*step*/) {}
    virtual void health_checked(std::chrono::steady_clock::duration /*took*/, std::string_view /*status*/,
                                int /*ready_connections*/) {}
    virtual void tunnel_restarted() {}
    // A reconcile run ended: what it found per drift class name (every class, 0 included), how many
    // repairs it made and how many failed, and whether every check could run.
    virtual void reconciled(const std::vector<std::pair<std::string, int>>& /*findings_per_class*/, int /*repaired*/,
                            int /*repair_failed*/, bool /*complete*/) {}
    // An expiry pass ended: names removed because their ttl ran out, and names past it that could not
    // go yet (they are tried again at the next pass).
    virtual void expiry_pass(int /*removed*/, int /*failed*/) {}
};

// The observer of a core nobody watches.
inline core_observer& no_observer() {
    static core_observer none;
    return none;
}

// Times one pipeline operation's steps: done(step) reports the time since the previous mark.
class step_clock {
public:
    step_clock(core_observer& o, std::string kind)
        : observer_(o), kind_(std::move(kind)), mark_(std::chrono::steady_clock::now()) {}
    void done(std::string_view step) {
        auto now = std::chrono::steady_clock::now();
        observer_.pipeline_step_done(kind_, step, now - mark_);
        mark_ = now;
    }
    void failed(std::string_view step) { observer_.pipeline_failed(kind_, step); }

private:
    core_observer& observer_;
    std::string kind_;
    std::chrono::steady_clock::time_point mark_;
};

}  // namespace tunnelmgr::core
