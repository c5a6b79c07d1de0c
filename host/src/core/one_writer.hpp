// One change at a time: the lock every change of the tunnel (a CNAME request or deletion, a restart,
// a reconcile repair) holds, from whichever session or thread it comes. A change that waits for a
// batched apply lets the next change in while it waits (released_while), which is how several
// changes share one restart of cloudflared.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

namespace tunnelmgr::core {

class one_writer {
public:
    // BasicLockable, so std::unique_lock<one_writer> works.
    void lock() {
        m_.lock();
        owner_.store(std::this_thread::get_id());
    }
    bool try_lock() {
        if (!m_.try_lock()) return false;
        owner_.store(std::this_thread::get_id());
        return true;
    }
    void unlock() {
        owner_.store(std::thread::id());
        m_.unlock();
    }
    bool held_by_this_thread() const { return owner_.load() == std::this_thread::get_id(); }

    // Runs fn without the lock when this thread holds it, and takes it back before returning (also
    // when fn throws). fn must not hold other locks when it returns that a writer could wait for.
    template <class F>
    auto released_while(F&& fn) -> decltype(fn()) {
        if (!held_by_this_thread()) return fn();
        unlock();
        struct relock {
            one_writer& w;
            ~relock() { w.lock(); }
        } again{*this};
        return fn();
    }

private:
    std::mutex m_;
    std::atomic<std::thread::id> owner_{};
};

}  // namespace tunnelmgr::core
