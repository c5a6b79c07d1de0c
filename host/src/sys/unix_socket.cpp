// See unix_socket.hpp.
#include "sys/unix_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tunnelmgr::sys {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

result<sockaddr_un> address_of(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(a.sun_path)) {
        return fail(errc::invalid, "the socket path '" + path + "' is empty or longer than " +
                                       std::to_string(sizeof(a.sun_path) - 1) + " bytes");
    }
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

std::string group_of_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    if (const group* g = ::getgrgid(st.st_gid); g != nullptr) return g->gr_name;
    return std::to_string(st.st_gid);
}

}  // namespace

result<peer_credentials> peer_of(int fd) {
    ucred c{};
    socklen_t len = sizeof(c);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) {
        return fail(errc::error, "cannot read the peer's credentials: " + errno_text(errno));
    }
    return peer_credentials{static_cast<int64_t>(c.uid), static_cast<int64_t>(c.gid), static_cast<int64_t>(c.pid)};
}

result<unix_listener> unix_listener::listen(const std::string& path, unsigned mode, const std::string& group) {
    auto addr = address_of(path);
    if (!addr) return tl::unexpected(addr.error());
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
        std::filesystem::create_directories(parent, ec);
        if (ec) return fail(errc::error, "cannot create the folder of the API socket " + parent.string() + ": " + ec.message());
        ::chmod(parent.c_str(), 0755);
    }
    // A socket file somebody answers on belongs to a running daemon: never steal it.
    if (auto probe = connect_unix(path); probe) {
        ::close(*probe);
        return fail(errc::conflict, "another tunnelmgr daemon already serves the API socket " + path);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return fail(errc::conflict, path + " exists and is not a socket; remove it or choose another api.socket");
        }
        ::unlink(path.c_str());  // stale: its daemon is gone
    }
    gid_t gid = static_cast<gid_t>(-1);
    if (!group.empty()) {
        const struct group* g = ::getgrnam(group.c_str());
        if (g == nullptr) {
            return fail(errc::invalid, "api.group '" + group + "' is not a group on this machine; create it (groupadd " +
                                           group + ") or leave api.group out");
        }
        gid = g->gr_gid;
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(errc::error, "cannot create a unix socket: " + errno_text(errno));
    // Bind with a restrictive umask, then open up to `mode`: no moment where anyone else may connect.
    mode_t old = ::umask(0177);
    int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
    int bind_errno = errno;
    ::umask(old);
    if (rc != 0) {
        ::close(fd);
        return fail(errc::error, "cannot bind the API socket " + path + ": " + errno_text(bind_errno));
    }
    if (gid != static_cast<gid_t>(-1) && ::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return fail(errc::error, "cannot give the API socket " + path + " to group " + group + ": " + errno_text(e));
    }
    if (::chmod(path.c_str(), mode) != 0 || ::listen(fd, 64) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return fail(errc::error, "cannot listen on the API socket " + path + ": " + errno_text(e));
    }
    ::lstat(path.c_str(), &st);
    return unix_listener(fd, path, st.st_dev, st.st_ino);
}

unix_listener::unix_listener(unix_listener&& o) noexcept
    : fd_(o.fd_), path_(std::move(o.path_)), dev_(o.dev_), ino_(o.ino_) {
    o.fd_ = -1;
}

unix_listener& unix_listener::operator=(unix_listener&& o) noexcept {
    if (this != &o) {
        this->~unix_listener();
        fd_ = o.fd_;
        path_ = std::move(o.path_);
        dev_ = o.dev_;
        ino_ = o.ino_;
        o.fd_ = -1;
    }
    return *this;
}

unix_listener::~unix_listener() {
    if (fd_ < 0) return;
    struct stat st {};
    // Remove the file only if it is still ours: a successor may have bound the path since.
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(path_.c_str());
    ::close(fd_);
    fd_ = -1;
}

void unix_listener::release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

result<int> unix_listener::accept() {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return fail(errc::retry, "no connection waiting");
        return fail(errc::error, "accept on the API socket failed: " + errno_text(errno));
    }
    return c;
}

result<int> connect_unix(const std::string& path) {
    auto addr = address_of(path);
    if (!addr) return tl::unexpected(addr.error());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(errc::error, "cannot create a unix socket: " + errno_text(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) == 0) return fd;
    int e = errno;
    ::close(fd);
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
        return fail(errc::not_found, "no tunnelmgr daemon answers on " + path);
    }
    if (e == EACCES || e == EPERM) {
        std::string g = group_of_file(path);
        return fail(errc::denied, "this user may not connect to the tunnelmgr API socket " + path +
                                      (g.empty() ? std::string() : " (group " + g + ")") +
                                      "; ask the operator to add the user to that group, then log in again");
    }
    return fail(errc::error, "cannot connect to the tunnelmgr API socket " + path + ": " + errno_text(e));
}

result<void> send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(errc::error, "the peer went away: " + errno_text(errno));
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

result<bool> line_reader::next(std::string& line) {
    for (;;) {
        auto nl = buf_.find('\n', start_);
        if (nl != std::string::npos) {
            line.assign(buf_, start_, nl - start_);
            start_ = nl + 1;
            if (start_ > 65536 || start_ == buf_.size()) {
                buf_.erase(0, start_);
                start_ = 0;
            }
            return true;
        }
        if (buf_.size() - start_ > max_) return fail(errc::invalid, "a message is longer than " + std::to_string(max_) + " bytes");
        char chunk[65536];
        ssize_t n = ::read(fd_, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(errc::error, "read failed: " + errno_text(errno));
        }
        if (n == 0) {
            if (buf_.size() > start_) {  // a last line without its newline
                line.assign(buf_, start_, std::string::npos);
                buf_.clear();
                start_ = 0;
                return true;
            }
            return false;
        }
        buf_.append(chunk, static_cast<size_t>(n));
    }
}

}  // namespace tunnelmgr::sys
