// A real dockerd for a GoogleTest binary: one daemon per test process in a short temp dir,
// started by dockerd.sh, with the tm-busybox image, a docker(...) helper, and stopped by its PID.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "process/run_process.hpp"

#ifndef TM_DOCKERD_SH
#define TM_DOCKERD_SH TM_TEST_SOURCE_DIR "/tests/support/dockerd/dockerd.sh"
#endif

namespace tunnelmgr::testing {

struct docker_result {
    int exit_code = -1;
    std::string out;
    std::string err;
    bool ok() const { return exit_code == 0; }
    // For assertion messages: everything the command said.
    std::string output() const { return out + err; }
};

// Registered once per binary (see `dockerd` below). gtest_discover_tests runs each test in its own
// process, so in practice each test gets a fresh daemon: about 1 s to start and import, 2 s to stop.
class dockerd_environment : public ::testing::Environment {
public:
    // Failures here are non-fatal on purpose: a fatal one makes GoogleTest *skip* every test,
    // and a missing dockerd must fail them (each dockerd_test asserts ready() with the reason).
    void SetUp() override {
        char tmpl[] = "/tmp/tmdk-XXXXXX";  // short: the socket path must fit in 107 bytes
        if (mkdtemp(tmpl) == nullptr) {
            error_ = "mkdtemp /tmp/tmdk-XXXXXX failed";
            ADD_FAILURE() << error_;
            return;
        }
        dir_ = tmpl;
        socket_ = dir_ + "/docker.sock";
        auto started = run_process({"/bin/bash", TM_DOCKERD_SH, "start", dir_});
        if (started.exit_code != 0) {
            error_ = "dockerd did not start (FACTS.md: it runs on these machines; install docker.io with "
                     "packaging/scripts/install-deps.sh --test):\n" + started.out + started.err;
            ADD_FAILURE() << error_;
            return;
        }
        started_ = true;
        auto image = run_process({"/bin/bash", TM_DOCKERD_SH, "image", dir_});
        if (image.exit_code != 0) {
            error_ = "could not make the tm-busybox image:\n" + image.out + image.err;
            ADD_FAILURE() << error_;
            return;
        }
        ready_ = true;
    }

    void TearDown() override {
        if (started_) {
            auto stopped = run_process({"/bin/bash", TM_DOCKERD_SH, "stop", dir_});
            if (stopped.exit_code != 0) ADD_FAILURE() << "dockerd.sh stop failed:\n" << stopped.out << stopped.err;
            started_ = false;
        }
        if (!dir_.empty() && std::getenv("TM_KEEP_DOCKERD_DIR") == nullptr) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    bool ready() const { return ready_; }
    const std::string& error() const { return error_; }
    const std::string& dir() const { return dir_; }
    const std::string& socket_path() const { return socket_; }
    std::string host() const { return "unix://" + socket_; }
    std::string log_path() const { return dir_ + "/dockerd.log"; }

    // The docker CLI by argv (no shell) against this daemon. Debian's /usr/bin/docker matches
    // the daemon's API; TM_DOCKER overrides it.
    docker_result docker(const std::vector<std::string>& args) const {
        std::vector<std::string> argv{docker_cli(), "-H", host()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_process(argv);
        return {r.exit_code, std::move(r.out), std::move(r.err)};
    }

    // The prefix other programs put before their own arguments to act on this daemon,
    // e.g. a supervisor's command_prefix {docker, -H, unix://SOCK, exec, CTR}.
    std::vector<std::string> docker_argv() const { return {docker_cli(), "-H", host()}; }

    static std::string docker_cli() {
        if (const char* env = std::getenv("TM_DOCKER"); env != nullptr && *env != '\0') return env;
        if (access("/usr/bin/docker", X_OK) == 0) return "/usr/bin/docker";
        return "/usr/local/bin/docker";
    }

private:
    std::string dir_;
    std::string socket_;
    std::string error_ = "dockerd environment was not set up";
    bool started_ = false;
    bool ready_ = false;
};

// The binary's one environment; gtest owns it. Including this header registers it.
inline dockerd_environment* const dockerd = static_cast<dockerd_environment*>(
    ::testing::AddGlobalTestEnvironment(new dockerd_environment));

template <typename... Args>
docker_result docker(Args&&... args) {
    return dockerd->docker(std::vector<std::string>{std::string(std::forward<Args>(args))...});
}

// A unique, valid container/network name for this process (names are daemon-wide).
inline std::string docker_name(const std::string& prefix) {
    static int counter = 0;
    return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

// Derive tests from this: a test fails (never skips) when dockerd is not there, with the reason.
class dockerd_test : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(dockerd->ready()) << dockerd->error(); }
};

}  // namespace tunnelmgr::testing
