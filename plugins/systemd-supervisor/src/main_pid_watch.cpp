// The thread: poll the wake eventfd and the current pidfd, forever (no timeout); when the pidfd is
// readable the process has ended: report it once and forget the PID until follow() names another,
// which is reported as started.
#include "main_pid_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugins::systemd_supervisor {
namespace {

int open_pidfd(std::int64_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
#else
    errno = ENOSYS;
    return -1;
#endif
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

main_pid_watch::main_pid_watch(std::string unit, int replica, report_fn report)
    : unit_(std::move(unit)), replica_(replica), report_(std::move(report)) {}

main_pid_watch::~main_pid_watch() {
    stop();
    if (wake_fd_ >= 0) ::close(wake_fd_);  // only here: follow() may still write to it after stop()
}

std::string main_pid_watch::event_json(const std::string& unit, int replica, std::int64_t pid, std::int64_t time_ms) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("unit");
    w.String(unit.c_str(), static_cast<rapidjson::SizeType>(unit.size()));
    w.Key("name");
    w.String(unit.c_str(), static_cast<rapidjson::SizeType>(unit.size()));
    w.Key("replica");
    w.Int(replica);
    w.Key("pid");
    w.Int64(pid);
    w.Key("time_ms");
    w.Int64(time_ms);
    w.EndObject();
    return buf.GetString();
}

bool main_pid_watch::start(std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return true;
    // pidfd_open of our own PID tells whether the kernel has it, before promising anything.
    int probe = open_pidfd(::getpid());
    if (probe < 0) {
        why = std::string("this kernel has no pidfd_open (") + std::strerror(errno) + "; Linux 5.3 or later has it)";
        return false;
    }
    ::close(probe);
    if (wake_fd_ < 0) wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        why = std::string("cannot create an eventfd: ") + std::strerror(errno);
        return false;
    }
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
    return true;
}

void main_pid_watch::stop() {
    std::thread worker;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        worker = std::move(thread_);
    }
    wake();
    if (worker.joinable()) worker.join();
}

bool main_pid_watch::running() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return thread_.joinable() && !stopping_;
}

void main_pid_watch::wake() {
    int fd;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        fd = wake_fd_;
    }
    if (fd < 0) return;
    std::uint64_t one = 1;
    ssize_t ignored = ::write(fd, &one, sizeof one);
    (void)ignored;
}

void main_pid_watch::follow(std::int64_t pid) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const bool first = !told_;
        told_ = true;
        if (pid == wanted_pid_) return;
        wanted_pid_ = pid;
        wanted_is_first_ = first;
    }
    wake();
}

void main_pid_watch::run() {
    std::int64_t watched = 0;
    int pidfd = -1;
    for (;;) {
        std::int64_t wanted;
        bool wanted_is_first;
        int wake_fd;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) break;
            wanted = wanted_pid_;
            wanted_is_first = wanted_is_first_;
            wake_fd = wake_fd_;
        }
        if (wanted != watched) {
            if (pidfd >= 0) ::close(pidfd);
            pidfd = -1;
            watched = wanted;
            if (watched > 0) {
                if (!wanted_is_first) report_("tunnel.started", event_json(unit_, replica_, watched, unix_ms()));
                pidfd = open_pidfd(watched);
                if (pidfd < 0 && errno == ESRCH) {
                    // Gone between systemctl's answer and now: that is a death too.
                    report_("tunnel.died", event_json(unit_, replica_, watched, unix_ms()));
                }
            }
        }
        pollfd fds[2] = {{wake_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
        int n = ::poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if ((fds[0].revents & POLLIN) != 0) {
            std::uint64_t count;
            ssize_t ignored = ::read(wake_fd, &count, sizeof count);
            (void)ignored;
        }
        if (pidfd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            ::close(pidfd);
            pidfd = -1;
            report_("tunnel.died", event_json(unit_, replica_, watched, unix_ms()));
            // `watched` stays: the same PID reported again (a stale status) must not re-arm.
        }
    }
    if (pidfd >= 0) ::close(pidfd);
}

}  // namespace tunnelmgr::plugins::systemd_supervisor
