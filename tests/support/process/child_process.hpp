// A long-running helper process for a test (the Cloudflare fake, the cloudflared stub): started by
// argv, its output in a log file, ended by its own PID — never by name — when the test is done.
#pragma once

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "process/environment.hpp"

namespace tunnelmgr::testing {

class child_process {
public:
    child_process() = default;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() { stop(); }

    // Starts argv with stdout+stderr appended to log_path. False when it could not start.
    bool start(const std::vector<std::string>& argv, const std::string& log_path,
               const std::map<std::string, std::string>& extra_env = {}) {
        log_path_ = log_path;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        child_environment env(extra_env);
        std::vector<char*> args;
        std::vector<std::string> copy = argv;
        for (auto& a : copy) args.push_back(a.data());
        args.push_back(nullptr);
        int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), env.envp());
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) pid_ = -1;
        return pid_ > 0;
    }

    // Waits until `path` exists and is non-empty; returns its first line ("" on timeout or exit).
    std::string wait_for_file(const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            std::ifstream in(path);
            std::string line;
            if (in && std::getline(in, line) && !line.empty()) return line;
            if (!running()) return "";
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return "";
    }

    bool running() {
        if (pid_ <= 0) return false;
        int status = 0;
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }

    // SIGTERM, then SIGKILL after `grace`; always reaps.
    void stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) {
        if (pid_ <= 0) return;
        kill(pid_, SIGTERM);
        auto until = std::chrono::steady_clock::now() + grace;
        int status = 0;
        while (std::chrono::steady_clock::now() < until) {
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    pid_t pid() const { return pid_; }
    std::string log() const {
        std::ifstream in(log_path_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    pid_t pid_ = -1;
    std::string log_path_;
};

}  // namespace tunnelmgr::testing
