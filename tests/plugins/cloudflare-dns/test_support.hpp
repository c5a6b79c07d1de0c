// Shared pieces of the cloudflare-dns tests: a clock that never really sleeps, a temporary
// directory, a throw-away PKI made with the openssl CLI, and the obviously fake token.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "clock_source.hpp"

extern char** environ;

namespace tunnelmgr::plugins::cloudflare_dns::test {

namespace fs = std::filesystem;

// Obviously fake, and distinctive enough that finding it in any text is a real leak.
inline constexpr const char* k_token = "fake-token-for-tests-c0ffee7e57";
inline constexpr const char* k_tunnel = "c1744f8b-faa1-48a4-9e5c-02ac921467fa";

// Virtual time: sleep_for records the wait and moves now() forward at once.
class fake_clock final : public clock_source {
public:
    time_point now() override { return now_; }
    void sleep_for(std::chrono::milliseconds d) override {
        waits.push_back(d);
        now_ += d;
    }
    void advance(std::chrono::milliseconds d) { now_ += d; }
    std::vector<std::chrono::milliseconds> waits;

private:
    time_point now_ = time_point(std::chrono::hours(1000));
};

class temp_dir {
public:
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "tm-cfdns-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }
    fs::path write(const std::string& name, const std::string& content) const {
        const fs::path p = path_ / name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }

private:
    fs::path path_;
};

inline int run_quietly(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -1;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct test_pki {
    fs::path ca_cert, server_cert, server_key;
    bool ok = false;
};

// A CA and a server certificate for 127.0.0.1 signed by it, valid two days.
inline test_pki make_pki(const fs::path& dir) {
    test_pki p{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
    const std::string ca_key = (dir / "ca.key").string();
    const std::string csr = (dir / "server.csr").string();
    const std::string ext = (dir / "san.ext").string();
    std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    p.ok = run_quietly({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out",
                        p.ca_cert.string(), "-days", "2", "-subj", "/CN=tunnelmgr cloudflare-dns test CA"}) == 0 &&
           run_quietly({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p.server_key.string(), "-out",
                        csr, "-subj", "/CN=127.0.0.1"}) == 0 &&
           run_quietly({"openssl", "x509", "-req", "-in", csr, "-CA", p.ca_cert.string(), "-CAkey", ca_key,
                        "-CAcreateserial", "-out", p.server_cert.string(), "-days", "2", "-extfile", ext}) == 0;
    return p;
}

}  // namespace tunnelmgr::plugins::cloudflare_dns::test
