// Proves the dockerd harness gives tests what README.md promises: a daemon of its own, the
// tm-busybox image, user-defined networks with name resolution, host networking, published ports.
#include "dockerd/dockerd_fixture.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace {

using tunnelmgr::testing::docker;
using tunnelmgr::testing::docker_name;
using tunnelmgr::testing::dockerd;
using tunnelmgr::testing::dockerd_test;

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

// A free loopback port, released before use (the container's publisher takes it right after).
int free_loopback_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

using DockerdHarness = dockerd_test;

TEST_F(DockerdHarness, DaemonAnswersOnItsOwnSocketWithApi141) {
    EXPECT_TRUE(std::filesystem::exists(dockerd->socket_path()));
    EXPECT_NE(dockerd->socket_path(), "/var/run/docker.sock");
    auto v = docker("version", "--format", "{{.Server.APIVersion}}");
    ASSERT_TRUE(v.ok()) << v.output();
    EXPECT_EQ(trim(v.out), "1.41");
}

TEST_F(DockerdHarness, BusyboxImageRunsAContainer) {
    auto ok = docker("run", "--rm", "tm-busybox:latest", "busybox", "true");
    EXPECT_EQ(ok.exit_code, 0) << ok.output();
    auto failing = docker("run", "--rm", "tm-busybox:latest", "false");
    EXPECT_EQ(failing.exit_code, 1) << failing.output();
    auto echo = docker("run", "--rm", "tm-busybox:latest", "echo", "hello from busybox");
    ASSERT_TRUE(echo.ok()) << echo.output();
    EXPECT_EQ(trim(echo.out), "hello from busybox");
}

TEST_F(DockerdHarness, NoDefaultBridgeOnlyHostAndNone) {
    auto ls = docker("network", "ls", "--format", "{{.Name}}");
    ASSERT_TRUE(ls.ok()) << ls.output();
    EXPECT_EQ(ls.out.find("bridge"), std::string::npos) << ls.out;
    EXPECT_NE(ls.out.find("host"), std::string::npos) << ls.out;
    EXPECT_NE(ls.out.find("none"), std::string::npos) << ls.out;
}

TEST_F(DockerdHarness, UserDefinedNetworkGivesIpsAndResolvesContainerNames) {
    auto net = docker_name("tmnet");
    auto server = docker_name("tm-srv");
    ASSERT_TRUE(docker("network", "create", net).ok());
    auto run = docker("run", "-d", "--name", server, "--network", net, "tm-busybox:latest",
                      "httpd", "-f", "-p", "8080", "-h", "/etc");
    ASSERT_TRUE(run.ok()) << run.output();
    auto ip = docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"" + net + "\").IPAddress}}", server);
    ASSERT_TRUE(ip.ok()) << ip.output();
    EXPECT_FALSE(trim(ip.out).empty());
    // Another container on the same network reaches it by name (Docker's embedded DNS).
    auto fetch = docker("run", "--rm", "--network", net, "tm-busybox:latest",
                        "wget", "-qO-", "http://" + server + ":8080/passwd");
    EXPECT_TRUE(fetch.ok()) << fetch.output();
    EXPECT_NE(fetch.out.find("root:x:0:0"), std::string::npos) << fetch.output();
    // The host reaches the container's IP through the network's bridge.
    auto from_host = docker("run", "--rm", "--network", "host", "tm-busybox:latest",
                            "wget", "-qO-", "http://" + trim(ip.out) + ":8080/passwd");
    EXPECT_TRUE(from_host.ok()) << from_host.output();
    // Attaching a running container to a second network works too.
    auto net2 = docker_name("tmnet");
    ASSERT_TRUE(docker("network", "create", net2).ok());
    auto connect = docker("network", "connect", net2, server);
    EXPECT_TRUE(connect.ok()) << connect.output();
    auto nets = docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", server);
    EXPECT_NE(nets.out.find(net2), std::string::npos) << nets.output();
    docker("rm", "-f", server);
    docker("network", "rm", net, net2);
}

TEST_F(DockerdHarness, PublishedPortOnLoopbackAnswersFromTheHost) {
    auto net = docker_name("tmnet");
    auto server = docker_name("tm-pub");
    ASSERT_TRUE(docker("network", "create", net).ok());
    int port = free_loopback_port();
    auto run = docker("run", "-d", "--name", server, "--network", net, "-p",
                      "127.0.0.1:" + std::to_string(port) + ":8080", "tm-busybox:latest",
                      "httpd", "-f", "-p", "8080", "-h", "/etc");
    ASSERT_TRUE(run.ok()) << run.output();
    auto ports = docker("port", server, "8080/tcp");
    EXPECT_EQ(trim(ports.out), "127.0.0.1:" + std::to_string(port)) << ports.output();
    // docker-proxy (the userland proxy) forwards without iptables; a host-networked busybox fetches.
    auto fetch = docker("run", "--rm", "--network", "host", "tm-busybox:latest",
                        "wget", "-qO-", "http://127.0.0.1:" + std::to_string(port) + "/passwd");
    EXPECT_TRUE(fetch.ok()) << fetch.output();
    EXPECT_NE(fetch.out.find("root:x:0:0"), std::string::npos);
    docker("rm", "-f", server);
    docker("network", "rm", net);
}

TEST_F(DockerdHarness, HostServiceAnswersAtTheNetworksGatewayButNotAtHostGateway) {
    auto net = docker_name("tmnet");
    auto host_service = docker_name("tm-hostsvc");
    ASSERT_TRUE(docker("network", "create", net).ok());
    auto gw = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net);
    ASSERT_TRUE(gw.ok()) << gw.output();
    int port = free_loopback_port();
    // A "host service": busybox httpd in the host's network namespace, on all interfaces.
    auto run = docker("run", "-d", "--name", host_service, "--network", "host", "tm-busybox:latest",
                      "httpd", "-f", "-p", "0.0.0.0:" + std::to_string(port), "-h", "/etc");
    ASSERT_TRUE(run.ok()) << run.output();
    auto fetch = docker("run", "--rm", "--network", net, "tm-busybox:latest", "wget", "-qO-",
                        "http://" + trim(gw.out) + ":" + std::to_string(port) + "/passwd");
    EXPECT_TRUE(fetch.ok()) << fetch.output();
    // host-gateway needs the default bridge, which --bridge=none removes.
    auto hosts = docker("run", "--rm", "--network", net, "--add-host", "host.docker.internal:host-gateway",
                        "tm-busybox:latest", "cat", "/etc/hosts");
    EXPECT_NE(hosts.out.find("<nil>\thost.docker.internal"), std::string::npos) << hosts.output();
    docker("rm", "-f", host_service);
    docker("network", "rm", net);
}

TEST_F(DockerdHarness, HostNetworkingSharesTheHostsInterfaces) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    auto r = docker("run", "--rm", "--network", "host", "tm-busybox:latest", "hostname");
    ASSERT_TRUE(r.ok()) << r.output();
    EXPECT_EQ(trim(r.out), std::string(host));
}

}  // namespace
