// Follows the daemon's GET /events on a thread of its own and hands each event to a callback;
// reconnects with backoff when the daemon goes away, resuming from the last event seen.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "docker_error.hpp"
#include "event_stream.hpp"
#include "unix_http.hpp"

namespace tunnelmgr::plugins::docker_engine {

enum class watch_log_level { debug, info, warn };

class event_watcher {
public:
    using event_fn = std::function<void(const docker_event&)>;
    using log_fn = std::function<void(watch_log_level, std::string_view)>;

    // filters: the URL-encoded JSON `filters` value. timeout bounds each connection attempt.
    event_watcher(std::string socket_path, std::chrono::milliseconds timeout, std::string filters, event_fn on_event,
                  log_fn on_log);
    ~event_watcher();
    event_watcher(const event_watcher&) = delete;
    event_watcher& operator=(const event_watcher&) = delete;

    // Starts the thread and returns once the first connection is open or has failed (then the thread
    // keeps retrying; the failure is logged). A second start() while running does nothing.
    void start();
    // Returns after the thread has stopped; prompt even in the middle of a stream or a backoff.
    void stop();
    bool running() const;

    // Backoff after the n-th consecutive failure (0-based): 0.5 s, 1, 2, 4, 8, 16, then 30 s.
    static std::chrono::milliseconds backoff_for(int failures);

private:
    void run();
    void handle_line(std::string_view line);
    bool wait_backoff(std::chrono::milliseconds delay);  // false when stopping
    std::string since_query() const;

    std::string socket_path_;
    std::chrono::milliseconds timeout_;
    std::string filters_;
    event_fn on_event_;
    log_fn on_log_;

    http_stream stream_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool first_attempt_done_ = false;

    // Resume point: events at or before it were delivered already (a reconnect replays them).
    int64_t last_time_nano_ = 0;
    std::set<std::string> seen_at_last_time_;
};

}  // namespace tunnelmgr::plugins::docker_engine
