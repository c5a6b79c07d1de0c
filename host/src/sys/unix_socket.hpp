// Unix stream sockets for the daemon's local API: a listener that replaces only a stale socket file,
// the peer's credentials as the kernel saw them, a client connect whose errors say who is missing,
// and newline-delimited reading with a line cap.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tunnelmgr::sys {

struct peer_credentials {
    int64_t uid = -1;
    int64_t gid = -1;
    int64_t pid = -1;
};

// SO_PEERCRED of a connected unix socket.
result<peer_credentials> peer_of(int fd);

class unix_listener {
public:
    // Binds `path` with `mode` (e.g. 0660) and, when `group` is not empty, that group. A socket file
    // nobody answers on (a daemon that died) is replaced; one somebody answers on is a conflict (another
    // daemon serves it). The parent folder is created (0755) when missing.
    static result<unix_listener> listen(const std::string& path, unsigned mode, const std::string& group);
    unix_listener(unix_listener&& o) noexcept;
    unix_listener& operator=(unix_listener&& o) noexcept;
    unix_listener(const unix_listener&) = delete;
    unix_listener& operator=(const unix_listener&) = delete;
    ~unix_listener();  // closes, and removes the socket file if it is still the one this bound

    int fd() const { return fd_; }
    const std::string& path() const { return path_; }
    // A connected descriptor (close-on-exec), or an error; would-block is errc::retry.
    result<int> accept();
    // Closes the descriptor without removing the file (a forked child, or a move).
    void release();

private:
    unix_listener(int fd, std::string path, uint64_t dev, uint64_t ino) : fd_(fd), path_(std::move(path)), dev_(dev), ino_(ino) {}
    int fd_ = -1;
    std::string path_;
    uint64_t dev_ = 0, ino_ = 0;
};

// Connects to the socket at `path`. not_found: nobody serves it (no file, or a stale one); denied: this
// user may not connect (the sentence names the socket and its group); error: anything else.
result<int> connect_unix(const std::string& path);

// Writes every byte (no SIGPIPE); a peer that went away is an error.
result<void> send_all(int fd, std::string_view data);

// Reads newline-terminated lines from a descriptor it does not own.
class line_reader {
public:
    line_reader(int fd, size_t max_line) : fd_(fd), max_(max_line) {}
    // true and a line (without its newline); false at end of stream; an error for a line over the cap
    // or a read failure.
    result<bool> next(std::string& line);

private:
    int fd_;
    size_t max_;
    std::string buf_;
    size_t start_ = 0;
};

}  // namespace tunnelmgr::sys
