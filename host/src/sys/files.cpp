// See files.hpp.
#include "sys/files.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tunnelmgr::sys {
namespace {

std::string sys_error(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

result<std::string> read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return fail(errc::not_found, path + " does not exist");
        return fail(errc::error, sys_error("cannot read", path));
    }
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            auto err = sys_error("cannot read", path);
            ::close(fd);
            return fail(errc::error, err);
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

result<void> write_file_atomic(const std::string& path, const std::string& data) {
    std::filesystem::path p(path);
    std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
    std::string tmpl = dir + "/." + p.filename().string() + ".tmp-XXXXXX";
    std::string tmp = tmpl;
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return fail(errc::error, sys_error("cannot create a temporary file in", dir));
    auto cleanup = [&](const std::string& err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(errc::error, err);
    };
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (::fchmod(fd, st.st_mode & 07777) != 0) return cleanup(sys_error("cannot set the mode of", tmp));
        if (::geteuid() == 0 && ::fchown(fd, st.st_uid, st.st_gid) != 0) return cleanup(sys_error("cannot chown", tmp));
    } else if (::fchmod(fd, 0644) != 0) {
        return cleanup(sys_error("cannot set the mode of", tmp));
    }
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cleanup(sys_error("cannot write", tmp));
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) return cleanup(sys_error("cannot fsync", tmp));
    if (::close(fd) != 0) {
        ::unlink(tmp.c_str());
        return fail(errc::error, sys_error("cannot close", tmp));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto err = sys_error("cannot rename over", path);
        ::unlink(tmp.c_str());
        return fail(errc::error, err);
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

result<file_lock> file_lock::acquire(const std::string& lock_path) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return fail(errc::error, sys_error("cannot open the lock file", lock_path));
    while (::flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        auto err = sys_error("cannot lock", lock_path);
        ::close(fd);
        return fail(errc::error, err);
    }
    return file_lock(fd);
}

file_lock& file_lock::operator=(file_lock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

file_lock::~file_lock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace tunnelmgr::sys
