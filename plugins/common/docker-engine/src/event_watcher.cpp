// The thread's loop: connect, follow until the stream ends, back off, reconnect with `since` so no
// event that happened during the gap is lost, and skip the ones a replay delivers twice.
#include "event_watcher.hpp"

#include <algorithm>
#include <cstdio>

#include "engine_client.hpp"

namespace tunnelmgr::plugins::docker_engine {

event_watcher::event_watcher(std::string socket_path, std::chrono::milliseconds timeout, std::string filters,
                             event_fn on_event, log_fn on_log)
    : socket_path_(std::move(socket_path)),
      timeout_(timeout),
      filters_(std::move(filters)),
      on_event_(std::move(on_event)),
      on_log_(std::move(on_log)),
      stream_(socket_path_) {}

event_watcher::~event_watcher() { stop(); }

std::chrono::milliseconds event_watcher::backoff_for(int failures) {
    static constexpr int64_t steps[] = {500, 1000, 2000, 4000, 8000, 16000};
    constexpr int count = static_cast<int>(sizeof steps / sizeof steps[0]);
    if (failures < 0) failures = 0;
    return std::chrono::milliseconds(failures < count ? steps[failures] : 30000);
}

void event_watcher::start() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    first_attempt_done_ = false;
    stream_.rearm();
    thread_ = std::thread([this] { run(); });
    cv_.wait_for(lock, timeout_ + std::chrono::seconds(1), [this] { return first_attempt_done_ || stopping_; });
}

void event_watcher::stop() {
    std::thread worker;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        worker = std::move(thread_);
    }
    stream_.interrupt();
    cv_.notify_all();
    if (worker.joinable()) worker.join();
}

bool event_watcher::running() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return thread_.joinable() && !stopping_;
}

bool event_watcher::wait_backoff(std::chrono::milliseconds delay) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, delay, [this] { return stopping_; });
    return !stopping_;
}

std::string event_watcher::since_query() const {
    if (last_time_nano_ <= 0) return {};
    char buf[64];
    std::snprintf(buf, sizeof buf, "&since=%lld.%09lld", static_cast<long long>(last_time_nano_ / 1000000000),
                  static_cast<long long>(last_time_nano_ % 1000000000));
    return buf;
}

void event_watcher::handle_line(std::string_view line) {
    auto event = parse_event(line);
    if (!event) {
        on_log_(watch_log_level::debug, "ignored a line of the Docker event stream that is not an event");
        return;
    }
    const std::string key = event->type + "/" + event->action + "/" + event->actor_id;
    if (event->time_nano > 0) {
        if (event->time_nano < last_time_nano_) return;
        if (event->time_nano == last_time_nano_) {
            if (!seen_at_last_time_.insert(key).second) return;
        } else {
            last_time_nano_ = event->time_nano;
            seen_at_last_time_ = {key};
        }
    }
    on_event_(*event);
}

void event_watcher::run() {
    int failures = 0;
    auto finish_first_attempt = [this] {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!first_attempt_done_) {
            first_attempt_done_ = true;
            cv_.notify_all();
        }
    };
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) break;
        }
        // A fresh client each time: a daemon that came back may speak another API version.
        engine_client client(socket_path_, timeout_);
        auto target = client.versioned("/events?filters=" + filters_ + since_query());
        bool opened = false;
        docker_result<void> outcome;
        if (!target) {
            outcome = tl::unexpected(target.error());
        } else {
            line_splitter splitter;
            outcome = stream_.follow(
                *target, timeout_,
                [&] {
                    opened = true;
                    failures = 0;
                    on_log_(watch_log_level::info, "following Docker events at " + socket_path_);
                    finish_first_attempt();
                },
                [&](std::string_view chunk) {
                    splitter.feed(chunk, [&](std::string_view line) { handle_line(line); });
                });
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) break;
        }
        const auto delay = backoff_for(failures++);
        const std::string retry = "; retrying in " + std::to_string(delay.count()) + " ms";
        if (!outcome) {
            on_log_(watch_log_level::warn, "Docker events: " + outcome.error().message + retry);
        } else {
            on_log_(opened ? watch_log_level::info : watch_log_level::warn,
                    "the Docker daemon at " + socket_path_ + " ended the event stream" + retry);
        }
        finish_first_attempt();  // after the log line, so start() returns with the reason already reported
        if (!wait_backoff(delay)) break;
    }
}

}  // namespace tunnelmgr::plugins::docker_engine
