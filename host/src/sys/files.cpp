// See files.hpp.
#include "sys/files.hpp"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace tunnelmgr::sys {
namespace {

std::string sys_error(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

// When this process started, as near as a library can tell: temp files written before it cannot
// belong to a writer of this process. The coarse clock is the one file times are stamped with, so a
// file written just after start is never dated before it.
const timespec k_process_start = [] {
    timespec t{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return t;
}();

std::string user_name(uid_t uid) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
        return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
    }
    return "uid " + std::to_string(uid);
}

std::string group_name(gid_t gid) {
    std::vector<char> buf(16384);
    group gr{};
    group* found = nullptr;
    if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
        return std::string(found->gr_name) + " (gid " + std::to_string(gid) + ")";
    }
    return "gid " + std::to_string(gid);
}

std::string octal(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

std::string folder_of(const std::string& path) {
    std::filesystem::path p(path);
    return p.has_parent_path() ? p.parent_path().string() : ".";
}

std::string temp_prefix(const std::string& real) {
    return "." + std::filesystem::path(real).filename().string() + ".tmp-";
}

// `path` with a symlink at its end followed (through every link of a chain); as it is otherwise.
result<std::string> resolve(const std::string& path) {
    struct stat lst {};
    if (::lstat(path.c_str(), &lst) != 0 || !S_ISLNK(lst.st_mode)) return path;
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf) == nullptr) {
        if (errno == ENOENT) {
            std::error_code ec;
            auto target = std::filesystem::read_symlink(path, ec);
            return fail(errc::not_found, path + " is a symlink to " + (ec ? std::string("a file") : target.string()) +
                                             ", which does not exist");
        }
        return fail(errc::error, sys_error("cannot follow the symlink", path));
    }
    return std::string(buf);
}

struct temp_file {
    int fd = -1;
    std::string path;
    void discard() {
        if (fd >= 0) ::close(fd);
        fd = -1;
        if (!path.empty()) ::unlink(path.c_str());
        path.clear();
    }
};

result<temp_file> make_temp_beside(const std::string& real) {
    std::string dir = folder_of(real);
    std::string tmp = dir + "/" + temp_prefix(real) + "XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) {
        if (errno == EACCES || errno == EPERM || errno == EROFS) {
            return fail(errc::denied, sys_error("cannot create a file in", dir) + "; tunnelmgr replaces " + real +
                                          " by writing a new file beside it and renaming it over, so its user needs "
                                          "write access to the folder " + dir);
        }
        return fail(errc::error, sys_error("cannot create a temporary file in", dir));
    }
    return temp_file{fd, tmp};
}

// Gives the temp file the owner, group and mode of the file it will replace; the sentence says what
// the operator can do when this process may not.
result<void> take_identity(temp_file& t, const std::string& real, const struct stat& st) {
    struct stat mine {};
    if (::fstat(t.fd, &mine) != 0) return fail(errc::error, sys_error("cannot stat", t.path));
    if (mine.st_uid != st.st_uid || mine.st_gid != st.st_gid) {
        if (::fchown(t.fd, st.st_uid, st.st_gid) != 0) {
            if (errno != EPERM) return fail(errc::error, sys_error("cannot chown", t.path));
            if (mine.st_uid != st.st_uid) {
                return fail(errc::denied,
                            real + " is owned by " + user_name(st.st_uid) + ", and tunnelmgr runs as " +
                                user_name(::geteuid()) + ", which may not give a rewritten file back to its owner: "
                                "tunnelmgr leaves it untouched. Make tunnelmgr's user own it (`chown " +
                                std::to_string(::geteuid()) + " " + real + "`; keep the group so cloudflared can "
                                "still read it), or run tunnelmgr as root");
            }
            return fail(errc::denied, real + " belongs to group " + group_name(st.st_gid) + ", and tunnelmgr's user " +
                                          user_name(::geteuid()) + " is not in it, so a rewritten file could not keep "
                                          "that group: tunnelmgr leaves it untouched. Add the user to the group, or "
                                          "`chgrp` the file to one of its groups");
        }
    }
    if (::fchmod(t.fd, st.st_mode & 07777) != 0) return fail(errc::error, sys_error("cannot set the mode of", t.path));
    return {};
}

result<struct stat> existing_writable(const std::string& real) {
    struct stat st {};
    if (::stat(real.c_str(), &st) != 0) {
        if (errno == ENOENT) return fail(errc::not_found, real + " does not exist");
        return fail(errc::error, sys_error("cannot stat", real));
    }
    if (!S_ISREG(st.st_mode)) return fail(errc::invalid, real + " is not a regular file");
    if ((st.st_mode & 0222) == 0) {
        return fail(errc::denied, real + " is read-only (mode " + octal(st.st_mode) +
                                      "): tunnelmgr does not rewrite a file its owner made read-only. If tunnelmgr "
                                      "should manage it, give it a write bit (`chmod u+w " + real + "`)");
    }
    return st;
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

result<file_identity> replaceable_file(const std::string& path) {
    auto real = resolve(path);
    if (!real) return tl::unexpected(real.error());
    auto st = existing_writable(*real);
    if (!st) return tl::unexpected(st.error());
    // The only sure way to know chown and the folder allow it is to try, on a temp file.
    auto t = make_temp_beside(*real);
    if (!t) return tl::unexpected(t.error());
    auto ok = take_identity(*t, *real, *st);
    t->discard();
    if (!ok) return tl::unexpected(ok.error());
    return file_identity{*real, st->st_uid, st->st_gid, static_cast<mode_t>(st->st_mode & 07777)};
}

result<void> write_file_atomic(const std::string& path, const std::string& data, std::optional<mode_t> mode) {
    auto resolved = resolve(path);
    if (!resolved) return tl::unexpected(resolved.error());
    const std::string& real = *resolved;
    std::optional<struct stat> old;
    if (!mode) {
        auto st = existing_writable(real);
        if (st) {
            old = *st;
        } else if (st.error().code != errc::not_found) {
            return tl::unexpected(st.error());
        }
    }
    auto made = make_temp_beside(real);
    if (!made) return tl::unexpected(made.error());
    temp_file t = *made;
    auto give_up = [&](error e) {
        t.discard();
        return tl::unexpected(std::move(e));
    };
    if (old) {
        if (auto ok = take_identity(t, real, *old); !ok) return give_up(ok.error());
    } else if (::fchmod(t.fd, mode ? (*mode & 07777) : 0644) != 0) {
        return give_up(error{errc::error, sys_error("cannot set the mode of", t.path)});
    }
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(t.fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return give_up(error{errc::error, sys_error("cannot write", t.path)});
        done += static_cast<size_t>(n);
    }
    if (::fsync(t.fd) != 0) return give_up(error{errc::error, sys_error("cannot fsync", t.path)});
    int fd = std::exchange(t.fd, -1);
    if (::close(fd) != 0) return give_up(error{errc::error, sys_error("cannot close", t.path)});
    if (::rename(t.path.c_str(), real.c_str()) != 0) return give_up(error{errc::error, sys_error("cannot rename over", real)});
    std::string dir = folder_of(real);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

int remove_stale_temp_files(const std::string& path) {
    auto resolved = resolve(path);
    if (!resolved) return 0;
    const std::string dir = folder_of(*resolved);
    const std::string prefix = temp_prefix(*resolved);
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return 0;
    int removed = 0;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        // mkostemp's six characters come from [A-Za-z0-9]; anything else is not ours.
        if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0) continue;
        bool ours = true;
        for (size_t i = prefix.size(); i < name.size(); ++i) {
            ours = ours && std::isalnum(static_cast<unsigned char>(name[i])) != 0;
        }
        if (!ours) continue;
        struct stat st {};
        std::string full = dir + "/" + name;
        if (::lstat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        bool older = st.st_mtim.tv_sec < k_process_start.tv_sec ||
                     (st.st_mtim.tv_sec == k_process_start.tv_sec && st.st_mtim.tv_nsec < k_process_start.tv_nsec);
        if (older && ::unlink(full.c_str()) == 0) ++removed;
    }
    ::closedir(d);
    return removed;
}

namespace {

result<int> open_lock_file(const std::string& lock_path) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return fail(errc::error, sys_error("cannot open the lock file", lock_path));
    return fd;
}

}  // namespace

result<file_lock> file_lock::acquire(const std::string& lock_path) {
    auto fd = open_lock_file(lock_path);
    if (!fd) return tl::unexpected(fd.error());
    while (::flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        auto err = sys_error("cannot lock", lock_path);
        ::close(*fd);
        return fail(errc::error, err);
    }
    return file_lock(*fd);
}

result<file_lock> file_lock::try_acquire(const std::string& lock_path) {
    auto fd = open_lock_file(lock_path);
    if (!fd) return tl::unexpected(fd.error());
    while (::flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        bool busy = errno == EWOULDBLOCK;
        auto err = sys_error("cannot lock", lock_path);
        ::close(*fd);
        return fail(busy ? errc::retry : errc::error, err);
    }
    return file_lock(*fd);
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
