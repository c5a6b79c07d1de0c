// Notices a cloudflared unit's main process ending the moment it ends: a pidfd (Linux ≥ 5.3) for the
// main PID systemd last reported, polled on a thread of its own with no timeout, so an idle watch
// costs no wake-ups. One per unit (replica). Reports "tunnel.died", and "tunnel.started" when a
// status names a new main process, through a callback; never calls systemctl itself.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace tunnelmgr::plugins::systemd_supervisor {

class main_pid_watch {
public:
    using report_fn = std::function<void(const std::string& type, const std::string& json)>;

    // `replica` is the unit's index in the supervisor's config, reported with each event.
    main_pid_watch(std::string unit, int replica, report_fn report);
    ~main_pid_watch();
    main_pid_watch(const main_pid_watch&) = delete;
    main_pid_watch& operator=(const main_pid_watch&) = delete;

    // Starts the thread; false (with why) when this kernel offers no pidfd or eventfd.
    bool start(std::string& why);
    // Returns after the thread has stopped.
    void stop();
    bool running() const;

    // The main PID as systemd reports it now (0: none). A new PID is followed from here on (and,
    // unless it is the first the watch is told of, reported as "tunnel.started"); the same PID
    // again changes nothing; 0 stops following. Thread-safe.
    void follow(std::int64_t pid);

    // {"unit":"...","name":"...","replica":N,"pid":N,"time_ms":N} ("name" is the unit too: the key
    // every supervisor's events share).
    static std::string event_json(const std::string& unit, int replica, std::int64_t pid, std::int64_t time_ms);

private:
    void run();
    void wake();

    std::string unit_;
    int replica_ = 0;
    report_fn report_;
    mutable std::mutex mutex_;
    std::thread thread_;
    int wake_fd_ = -1;
    bool stopping_ = false;
    std::int64_t wanted_pid_ = 0;  // what follow() asked for; the thread opens its pidfd
    bool told_ = false;            // follow() was called at least once
    bool wanted_is_first_ = true;  // wanted_pid_ came from the first follow(): where watching starts, not a start
};

}  // namespace tunnelmgr::plugins::systemd_supervisor
