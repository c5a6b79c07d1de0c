// The git history of the ingress file: a copy of each version, committed with why it changed, the
// newest `keep` versions kept. A convenience for the operator (what did the file say before?), never
// a reason for a change to fail: every failure is reported as text.
//
// Two ways to write it:
// - now (the default; one-shot CLI processes): the edit commits the text it wrote, under the file's
//   lock, before it returns. One git process per version once the copy is tracked.
// - after_reply (the daemon): the edit only notes why; a worker thread then takes the file's lock,
//   reads what the file says *then*, takes the history's lock (DIR.lock), lets the file's lock go and
//   commits that text, every change noted since the last commit in one commit. Locks are always taken
//   file first, history second, so an edit of another process (which commits at once, holding both)
//   and the worker never wait on each other in a circle. git leaves the change's critical path, and a burst of changes costs one commit. Because
//   the worker copies the file as it is, a version another process wrote (and committed) meanwhile
//   is never overwritten by an older one. A daemon killed before the worker ran loses those history
//   entries, not the file: the next commit holds the newest text.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"
#include "sys/files.hpp"

namespace tunnelmgr::core {

class ingress_history {
public:
    // What the worker needs of the file: its lock held, its text and mode.
    struct snapshot {
        sys::file_lock lock;
        std::string text;
        unsigned mode = 0600;
    };
    using snapshot_fn = std::function<result<snapshot>()>;

    // dir: the git repository (created when missing); file_name: the copy's name in it; keep: how
    // many versions to keep (0: all), older ones dropped in batches of a tenth.
    ingress_history(std::string dir, std::string file_name, int keep, snapshot_fn take_snapshot);
    ~ingress_history();  // commits what is still noted, then stops the worker
    ingress_history(const ingress_history&) = delete;
    ingress_history& operator=(const ingress_history&) = delete;

    // From now on versions are committed by a worker after the edit returns.
    void write_after_reply();
    bool after_reply() const;

    // An edit wrote `text` (mode `mode`) because of `why`, and still holds the file's lock. Now: commits
    // it and returns "" or what went wrong. After reply: notes `why` and returns "".
    std::string record(const std::string& text, const std::string& why, unsigned mode);

    // Waits until every noted change is committed (or failed); the last failure, "" for none.
    std::string flush();

    const std::string& dir() const { return dir_; }

private:
    std::string commit(const std::string& text, const std::string& message, unsigned mode);
    result<sys::file_lock> history_lock() const;
    std::string prune();
    std::string git(std::vector<std::string> args, std::string* out = nullptr) const;
    void work();

    std::string dir_;
    std::string name_;
    int keep_;
    snapshot_fn take_snapshot_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;   // the worker: something noted, or stop
    std::condition_variable idle_;   // flush(): nothing noted and no commit under way
    std::vector<std::string> noted_;
    bool committing_ = false;
    bool stop_ = false;
    bool after_reply_ = false;
    std::string last_error_;
    std::thread worker_;
};

}  // namespace tunnelmgr::core
