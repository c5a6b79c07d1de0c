// See ingress_history.hpp.
#include "core/ingress_history.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "log/logger.hpp"
#include "sys/process.hpp"

namespace tunnelmgr::core {
namespace {

// The history folder is readable by whom the file is: a 0600 file may hold a credential.
unsigned history_folder_mode(unsigned source_mode) {
    return 0700u | ((source_mode & 0040u) != 0 ? 0050u : 0u) | ((source_mode & 0004u) != 0 ? 0005u : 0u);
}

// Several changes in one commit: a summary line, then each reason on a line of its own.
std::string message_of(const std::vector<std::string>& whys) {
    auto one = [](const std::string& w) { return w.empty() ? std::string("tunnelmgr change") : w; };
    if (whys.size() == 1) return one(whys.front());
    std::string m = std::to_string(whys.size()) + " changes\n";
    for (const auto& w : whys) m += "\n" + one(w);
    return m;
}

}  // namespace

ingress_history::ingress_history(std::string dir, std::string file_name, int keep, snapshot_fn take_snapshot)
    : dir_(std::move(dir)), name_(std::move(file_name)), keep_(std::max(0, keep)), take_snapshot_(std::move(take_snapshot)) {}

ingress_history::~ingress_history() {
    {
        std::lock_guard<std::mutex> l(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
}

void ingress_history::write_after_reply() {
    std::lock_guard<std::mutex> l(mutex_);
    if (after_reply_) return;
    after_reply_ = true;
    worker_ = std::thread([this] { work(); });
}

bool ingress_history::after_reply() const {
    std::lock_guard<std::mutex> l(mutex_);
    return after_reply_;
}

std::string ingress_history::record(const std::string& text, const std::string& why, unsigned mode) {
    {
        std::lock_guard<std::mutex> l(mutex_);
        if (after_reply_) {
            noted_.push_back(why);
            wake_.notify_one();
            return "";
        }
    }
    // Under the file's lock already (the edit holds it); the history's own lock orders this commit
    // with a daemon's worker, which commits without the file's lock.
    auto held = history_lock();
    if (!held) return held.error().message;
    return commit(text, message_of({why}), mode);
}

// Beside the history folder, taken after the file's lock by whoever takes both: every git run in
// the folder holds it.
result<sys::file_lock> ingress_history::history_lock() const {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path folder(dir_);
    if (folder.has_parent_path()) fs::create_directories(folder.parent_path(), ec);
    return sys::file_lock::acquire(dir_ + ".lock");
}

std::string ingress_history::flush() {
    std::unique_lock<std::mutex> l(mutex_);
    idle_.wait(l, [&] { return !after_reply_ || (noted_.empty() && !committing_); });
    return last_error_;
}

void ingress_history::work() {
    std::unique_lock<std::mutex> l(mutex_);
    for (;;) {
        wake_.wait(l, [&] { return stop_ || !noted_.empty(); });
        if (noted_.empty()) break;  // stopping with nothing left to commit
        committing_ = true;
        l.unlock();
        // The reasons are taken once the file's lock is held: every edit whose text the snapshot
        // holds noted its reason before it let go of the lock, and no later edit has written yet.
        auto snap = take_snapshot_();
        std::vector<std::string> whys;
        {
            std::lock_guard<std::mutex> g(mutex_);
            whys.swap(noted_);
        }
        std::string error;
        if (!snap) {
            error = snap.error().message;
        } else if (auto held = history_lock(); !held) {
            error = held.error().message;
        } else {
            // The history's lock is held: the file's can go, so the next edit does not wait for git.
            { auto released = std::move(snap->lock); }
            error = commit(snap->text, message_of(whys), snap->mode);
        }
        if (!error.empty()) {
            log::warn("ingress", "the history in " + dir_ + " missed " + std::to_string(whys.size()) +
                                     " change(s) of the ingress file (the file itself is written): " + error);
        }
        l.lock();
        committing_ = false;
        last_error_ = error;
        if (noted_.empty()) idle_.notify_all();
    }
    committing_ = false;
    idle_.notify_all();
}

// Copies `text` in and commits it, under the history's lock (history_lock), which every writer of
// this history holds (edits of any process, a daemon's worker), so git never meets itself here.
std::string ingress_history::commit(const std::string& text, const std::string& message, unsigned mode) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return "cannot create " + dir_ + ": " + ec.message();
    const unsigned folder_mode = history_folder_mode(mode);
    struct stat st {};
    if (::stat(dir_.c_str(), &st) == 0 && (st.st_mode & 0777u & ~folder_mode) != 0 &&
        ::chmod(dir_.c_str(), folder_mode) != 0) {
        char want[8];
        std::snprintf(want, sizeof want, "%04o", folder_mode);
        return "cannot make " + dir_ + " as private as the file it keeps (`chmod " + want + " " + dir_ +
               "`): " + std::strerror(errno);
    }
    bool fresh = false;
    if (!fs::exists(fs::path(dir_) / ".git", ec)) {
        if (auto e = git({"init", "-q"}); !e.empty()) return e;
        fresh = true;
    }
    const std::string copy = dir_ + "/" + name_;
    if (!fresh) {
        // The worker copies the file as it is: already the newest version committed, nothing to do.
        if (auto held = sys::read_file(copy); held && *held == text) return "";
    }
    sys::remove_stale_temp_files(copy);
    if (auto w = sys::write_file_atomic(copy, text, static_cast<mode_t>(mode)); !w) return w.error().message;
    // Once the copy is tracked one process commits it; the first time (or after someone untracked
    // it) git needs an `add` first.
    std::string e = fresh ? "not tracked yet" : git({"commit", "-q", "-m", message, "--", name_});
    if (!e.empty()) {
        if (auto a = git({"add", "--", name_}); !a.empty()) return a;
        if (auto c = git({"commit", "-q", "-m", message}); !c.empty()) return c;
    }
    return prune();
}

std::string ingress_history::git(std::vector<std::string> args, std::string* out) const {
    // No automatic maintenance: a commit would start `git maintenance --auto`, another process on
    // every change; prune() drops old versions itself, in batches.
    std::vector<std::string> argv{"git", "-C", dir_, "-c", "user.name=tunnelmgr", "-c",
                                  "user.email=tunnelmgr@localhost", "-c", "commit.gpgsign=false",
                                  "-c", "maintenance.auto=false", "-c", "gc.auto=0"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = sys::run(argv, std::chrono::seconds(20));
    if (!r) return r.error().message;
    if (r->exit_code != 0) return "git " + args.front() + " failed: " + r->err.substr(0, 300);
    if (out != nullptr) *out = r->out;
    return "";
}

// Keeps the newest keep_ versions. How many there are is kept in .git/tunnelmgr-versions, so a commit
// costs no `rev-list` to count them (counted afresh when the file is missing or unreadable, and at
// every prune). The oldest kept commit becomes the root the way a shallow clone's does (.git/shallow),
// so every kept commit keeps its id, date and message, and prune then drops everything older for
// good. Done in batches of a tenth: a prune costs more than a commit.
std::string ingress_history::prune() {
    if (keep_ == 0) return "";
    const std::string counter = dir_ + "/.git/tunnelmgr-versions";
    long held = -1;
    if (auto known = sys::read_file(counter); known) {
        char* end = nullptr;
        held = std::strtol(known->c_str(), &end, 10);
        if (end == known->c_str() || held < 0) held = -1;
    }
    std::string out;
    if (held < 0) {
        if (auto e = git({"rev-list", "--count", "HEAD"}, &out); !e.empty()) return e;
        held = std::strtol(out.c_str(), nullptr, 10);
    } else {
        ++held;  // the commit just made
    }
    if (held > keep_ + std::max(1, keep_ / 10)) {
        if (auto e = git({"rev-list", "--max-count=" + std::to_string(keep_), "HEAD"}, &out); !e.empty()) return e;
        std::istringstream commits(out);
        std::string line, oldest;
        while (std::getline(commits, line)) {
            if (!line.empty()) oldest = line;
        }
        if (oldest.empty()) return "git rev-list listed no commits in " + dir_;
        if (auto w = sys::write_file_atomic(dir_ + "/.git/shallow", oldest + "\n", 0644); !w) return w.error().message;
        if (auto e = git({"reflog", "expire", "--expire=now", "--all"}); !e.empty()) return e;
        // Only loose objects to drop (automatic gc is off, nothing is ever packed): `prune` takes a
        // tenth of what `gc --prune=now` would (16 vs 143 ms at 110 versions of a 1,000-rule file).
        if (auto e = git({"prune", "--expire=now"}); !e.empty()) return e;
        if (auto e = git({"rev-list", "--count", "HEAD"}, &out); !e.empty()) return e;
        held = std::strtol(out.c_str(), nullptr, 10);
    }
    // Not durable on purpose (no fsync on every change): a lost or torn count is counted again.
    std::ofstream(counter, std::ios::trunc) << held << "\n";
    return "";
}

}  // namespace tunnelmgr::core
