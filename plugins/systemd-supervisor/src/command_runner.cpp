#include "command_runner.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tunnelmgr::plugins::systemd_supervisor {
namespace {

// Output beyond this is dropped: systemctl's answers are a few lines, and a runaway child must not
// grow the host's memory.
constexpr std::size_t max_output = 1 << 20;

struct pipe_pair {
    int fds[2] = {-1, -1};
    bool open() { return ::pipe2(fds, O_CLOEXEC) == 0; }
    void close_end(int i) {
        if (fds[i] >= 0) ::close(fds[i]);
        fds[i] = -1;
    }
    ~pipe_pair() {
        close_end(0);
        close_end(1);
    }
};

}  // namespace

command_outcome run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    command_outcome outcome;
    if (argv.empty()) {
        outcome.spawn_errno = EINVAL;
        return outcome;
    }
    pipe_pair out_pipe, err_pipe;
    if (!out_pipe.open() || !err_pipe.open()) {
        outcome.spawn_errno = errno;
        return outcome;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe.fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe.fds[1], 2);
    // The child must not inherit a blocked or ignored SIGPIPE/SIGTERM from the host's threads.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    args.reserve(copy.size() + 1);
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    out_pipe.close_end(1);
    err_pipe.close_end(1);
    if (rc != 0) {
        outcome.spawn_errno = rc;
        return outcome;
    }

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_pipe.fds[0], POLLIN, 0}, {err_pipe.fds[0], POLLIN, 0}};
    int open_fds = 2;
    bool timed_out = false;
    char buf[4096];
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            std::string& sink = i == 0 ? outcome.out : outcome.err;
            if (sink.size() < max_output) sink.append(buf, static_cast<std::size_t>(got));
        }
    }

    int status = 0;
    if (!timed_out) {
        // Both pipes closed: the child is exiting (or handed them on to a grandchild). Wait for it,
        // still within the deadline.
        while (true) {
            pid_t r = ::waitpid(pid, &status, WNOHANG);
            if (r == pid) break;
            if (r < 0 && errno != EINTR) break;
            if (std::chrono::steady_clock::now() >= deadline) {
                timed_out = true;
                break;
            }
            ::usleep(2000);
        }
    }
    if (timed_out) {
        ::kill(pid, SIGKILL);  // our own child, by its PID
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        outcome.ended = command_outcome::how::timed_out;
        return outcome;
    }
    if (WIFEXITED(status)) {
        outcome.ended = command_outcome::how::exited;
        outcome.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        outcome.ended = command_outcome::how::signaled;
        outcome.signal = WTERMSIG(status);
    }
    return outcome;
}

}  // namespace tunnelmgr::plugins::systemd_supervisor
