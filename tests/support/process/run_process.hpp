// Runs a program to completion for a test: argv in, exit status, stdout and stderr out.
// No shell is involved; the child gets the parent's environment plus `extra_env`.
//
// Tests call this from several threads at once. The pipes are therefore close-on-exec: a child
// spawned by another thread must not inherit this call's write ends, or this call waits for EOF
// until that other child exits — forever when it is a daemon (a PostgreSQL server started by
// pg_ctl kept a load thread's pipe open and hung a test for 600 s). `deadline` bounds a call that
// hangs anyway: the child is killed by PID and the result says so in `err` and `timed_out`.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "process/environment.hpp"

namespace tunnelmgr::testing {

struct process_result {
    int exit_code = -1;  // -1 when killed by a signal
    int signal = 0;
    bool timed_out = false;
    std::string out;
    std::string err;
};

inline process_result run_process(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& extra_env = {},
                                  const std::string& stdin_data = "",
                                  std::chrono::milliseconds deadline = std::chrono::minutes(5)) {
    process_result r;
    int out_pipe[2], err_pipe[2], in_pipe[2];
    // dup2 onto 0/1/2 in the child clears close-on-exec there; every other copy closes at exec.
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0) return r;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
        posix_spawn_file_actions_addclose(&fa, fd);
    }
    child_environment env(extra_env);
    std::vector<char*> args;
    std::vector<std::string> argv_copy = argv;
    for (auto& a : argv_copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), env.envp());
    posix_spawn_file_actions_destroy(&fa);
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(err_pipe[0]);
        r.err = "posix_spawn failed: " + std::to_string(rc);
        return r;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!stdin_data.empty()) {
        ssize_t ignored = write(in_pipe[1], stdin_data.data(), stdin_data.size());
        (void)ignored;
    }
    close(in_pipe[1]);
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            kill(pid, SIGKILL);
            for (auto& f : fds) {
                if (f.fd >= 0) close(f.fd);
                f.fd = -1;
            }
            r.err += "\n[run_process: " + argv[0] + " still ran after " + std::to_string(deadline.count()) +
                     " ms, or something it started kept its output open; killed]\n";
            break;
        }
        if (poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 60000))) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            } else {
                (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

}  // namespace tunnelmgr::testing
