// systemd's notification protocol as the daemon speaks it: a datagram on $NOTIFY_SOCKET (a path or an
// abstract name), and the watchdog interval read as sd_watchdog_enabled(3) reads it.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "sys/systemd_notify.hpp"

using namespace tunnelmgr;

namespace {

// A datagram socket bound at `name` (a path, or "@name" for an abstract one), as systemd's is.
struct listener {
    int fd = -1;
    explicit listener(const std::string& name) {
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, name.data(), name.size());
        if (name[0] == '@') a.sun_path[0] = '\0';
        socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '@' ? 0 : 1));
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0) << std::strerror(errno);
    }
    ~listener() { ::close(fd); }
    std::string next() {
        char buf[512];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "<nothing>";
    }
};

}  // namespace

TEST(systemd_notify, a_state_reaches_the_socket_systemd_named_by_path_or_abstract_name) {
    const std::string path = (std::filesystem::temp_directory_path() / ("tm-notify-" + std::to_string(::getpid()))).string();
    ::unlink(path.c_str());
    {
        listener l(path);
        ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
        EXPECT_TRUE(sys::notify_systemd("READY=1\nSTATUS=running"));
        EXPECT_EQ(l.next(), "READY=1\nSTATUS=running");
    }
    ::unlink(path.c_str());
    const std::string abstract = "@tm-notify-abstract-" + std::to_string(::getpid());
    {
        listener l(abstract);
        ::setenv("NOTIFY_SOCKET", abstract.c_str(), 1);
        EXPECT_TRUE(sys::notify_systemd("WATCHDOG=1"));
        EXPECT_EQ(l.next(), "WATCHDOG=1");
    }
    ::setenv("NOTIFY_SOCKET", "relative/path", 1);
    EXPECT_FALSE(sys::notify_systemd("READY=1"));
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(sys::notify_systemd("READY=1")) << "not under systemd: nothing to tell";
}

TEST(systemd_notify, the_watchdog_interval_is_ours_only_when_it_names_this_process) {
    ::unsetenv("WATCHDOG_PID");
    ::unsetenv("WATCHDOG_USEC");
    EXPECT_EQ(sys::systemd_watchdog_interval().count(), 0);
    ::setenv("WATCHDOG_USEC", "30000000", 1);
    EXPECT_EQ(sys::systemd_watchdog_interval().count(), 30000000);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    EXPECT_EQ(sys::systemd_watchdog_interval().count(), 30000000);
    ::setenv("WATCHDOG_PID", std::to_string(::getppid()).c_str(), 1);
    EXPECT_EQ(sys::systemd_watchdog_interval().count(), 0) << "meant for our parent";
    ::unsetenv("WATCHDOG_PID");
    ::setenv("WATCHDOG_USEC", "soon", 1);
    EXPECT_EQ(sys::systemd_watchdog_interval().count(), 0);
    ::unsetenv("WATCHDOG_USEC");
}
