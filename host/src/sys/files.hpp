// Durable file writes and cross-process locks: what the ingress file (and anything else tunnelmgr
// writes for other programs to read) needs so a crash never leaves a half-written file.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

#include "common/result.hpp"

namespace tunnelmgr::sys {

// Whole file as bytes; not_found when it does not exist.
result<std::string> read_file(const std::string& path);

// What replacing a file must keep: where it really is and who may read it.
struct file_identity {
    std::string path;  // the real file: every symlink on the way resolved
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0;  // permission bits only (07777)
};

// The file that writing `path` with write_file_atomic would replace, checked before anything changes:
// not_found when it does not exist (or is a symlink to nothing); denied, with the fix, when it is
// read-only (no write bit), when its folder is not writable, or when this process could not give the
// replacement the file's owner and group (chown needs root unless the file is already ours).
result<file_identity> replaceable_file(const std::string& path);

// Writes `data` to a unique temp file beside the real file (symlinks followed: the link stays, its
// target is replaced), fsyncs it, renames it over and fsyncs the folder. An existing file keeps its
// owner, group and mode, and is refused as replaceable_file says, before it is touched; a new file
// gets 0644. `mode`, when given, is the new mode whatever the file had (owner not copied): for copies.
result<void> write_file_atomic(const std::string& path, const std::string& data,
                               std::optional<mode_t> mode = std::nullopt);

// Removes what a killed write_file_atomic of `path` left beside the real file: `.NAME.tmp-XXXXXX`
// files (exactly our temp-name pattern) last written before this process started, so never one a
// live writer is still filling. Returns how many it removed. Call it holding the file's lock.
int remove_stale_temp_files(const std::string& path);

// An exclusive advisory lock (flock) on `lock_path`, created if missing, held until destruction.
class file_lock {
public:
    static result<file_lock> acquire(const std::string& lock_path);
    // As acquire, but retry (errc::retry) at once when another process holds it.
    static result<file_lock> try_acquire(const std::string& lock_path);
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
