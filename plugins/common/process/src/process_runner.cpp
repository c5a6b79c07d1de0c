// See process_runner.hpp.
#include "process_runner.hpp"

#include <cctype>
#include <cerrno>
#include <string>
#include <string_view>
#include <vector>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tunnelmgr::process {

bool inherited_by_children(std::string_view entry) {
    std::string name(entry.substr(0, entry.find('=')));
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const char* secret : {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "API_KEY", "APIKEY"}) {
        if (name.find(secret) != std::string::npos) return false;
    }
    // systemd's channels to this process are its own, not its children's.
    for (const char* own : {"NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"}) {
        if (name == own) return false;
    }
    return true;
}

namespace {

// What a child gets: this process's environment without a variable that may hold a secret.
std::vector<char*> child_environment() {
    std::vector<char*> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        if (inherited_by_children(*e)) env.push_back(*e);
    }
    env.push_back(nullptr);
    return env;
}

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

// posix_spawn's attributes and file actions, destroyed on every path.
struct spawn_setup {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    spawn_setup() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
    }
    ~spawn_setup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    spawn_setup(const spawn_setup&) = delete;
    spawn_setup& operator=(const spawn_setup&) = delete;
};

}  // namespace

outcome run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                    const std::string& working_dir) {
    outcome result;
    if (argv.empty()) {
        result.spawn_errno = EINVAL;
        return result;
    }
    pipe_pair out_pipe, err_pipe;
    if (!out_pipe.open() || !err_pipe.open()) {
        result.spawn_errno = errno;
        result.failed_call = "pipe";
        return result;
    }
    pid_t pid = -1;
    int rc = 0;
    {
        spawn_setup setup;
        posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&setup.actions, out_pipe.fds[1], 1);
        posix_spawn_file_actions_adddup2(&setup.actions, err_pipe.fds[1], 2);
        // glibc ≥ 2.29 (Debian 12 has 2.36). A folder that does not exist fails the spawn (ENOENT).
        if (!working_dir.empty()) posix_spawn_file_actions_addchdir_np(&setup.actions, working_dir.c_str());
        // The child must not inherit a blocked or ignored SIGPIPE/SIGTERM/SIGINT from the caller's threads.
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGTERM);
        sigaddset(&defaults, SIGINT);
        posix_spawnattr_setsigmask(&setup.attr, &none);
        posix_spawnattr_setsigdefault(&setup.attr, &defaults);
        posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

        std::vector<std::string> copy = argv;
        std::vector<char*> args;
        args.reserve(copy.size() + 1);
        for (auto& a : copy) args.push_back(a.data());
        args.push_back(nullptr);
        std::vector<char*> child_env = child_environment();
        rc = ::posix_spawnp(&pid, args[0], &setup.actions, &setup.attr, args.data(), child_env.data());
    }
    out_pipe.close_end(1);
    err_pipe.close_end(1);
    if (rc != 0) {
        result.spawn_errno = rc;
        return result;
    }

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_pipe.fds[0], POLLIN, 0}, {err_pipe.fds[0], POLLIN, 0}};
    int open_fds = 2;
    bool timed_out = false;
    char buf[8192];
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
                fds[i].fd = -1;  // closed by its pipe_pair
                --open_fds;
                continue;
            }
            std::string& sink = i == 0 ? result.out : result.err;
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
        result.ended = outcome::how::timed_out;
        return result;
    }
    if (WIFEXITED(status)) {
        result.ended = outcome::how::exited;
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.ended = outcome::how::signaled;
        result.signal = WTERMSIG(status);
    }
    return result;
}

}  // namespace tunnelmgr::process
