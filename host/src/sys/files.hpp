// Durable file writes and cross-process locks: what the ingress file (and anything else tunnelmgr
// writes for other programs to read) needs so a crash never leaves a half-written file.
#pragma once

#include <string>

#include "common/result.hpp"

namespace tunnelmgr::sys {

// Whole file as bytes; not_found when it does not exist.
result<std::string> read_file(const std::string& path);

// Writes `data` to a unique temp file beside `path`, fsyncs it, renames it over `path` and fsyncs
// the folder. Keeps the old file's mode (and owner, when running as root); new files get 0644.
result<void> write_file_atomic(const std::string& path, const std::string& data);

// An exclusive advisory lock (flock) on `lock_path`, created if missing, held until destruction.
class file_lock {
public:
    static result<file_lock> acquire(const std::string& lock_path);
    file_lock(file_lock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    file_lock& operator=(file_lock&& other) noexcept;
    file_lock(const file_lock&) = delete;
    file_lock& operator=(const file_lock&) = delete;
    ~file_lock();

private:
    explicit file_lock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace tunnelmgr::sys
