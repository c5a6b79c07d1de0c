// Target selection rules over Docker snapshots (the JSON the runtime plugin returns): names on
// shared user-defined networks, published ports, host services, and refusals that name the fix.
#include <gtest/gtest.h>

#include "core/docker_targets.hpp"

using namespace tunnelmgr::core;

namespace {

std::string snapshot(const std::string& cloudflared, const std::string& containers, const std::string& gateway = "") {
    return R"({"networks":[{"name":"bridge","driver":"bridge","user_defined":false},)"
           R"({"name":"host","driver":"host","user_defined":false},)"
           R"({"name":"tunnel","driver":"bridge","user_defined":true},)"
           R"({"name":"backend","driver":"bridge","user_defined":true}],)"
           R"("containers":[)" + containers + R"(],"cloudflared":)" + cloudflared +
           (gateway.empty() ? "" : R"(,"host_gateway":")" + gateway + "\"") + "}";
}

const std::string cf_on_tunnel = R"({"where":"container","container":"cloudflared","networks":["tunnel"],"host_network":false})";
const std::string cf_on_bridge = R"({"where":"container","container":"cloudflared","networks":["bridge"],"host_network":false})";
const std::string cf_on_host = R"({"where":"host"})";
const std::string cf_host_net = R"({"where":"container","container":"cloudflared","networks":["host"],"host_network":true})";

std::string app(const std::string& networks, const std::string& ports, const std::string& project = "alpha",
                const std::string& state = "running", const std::string& name = "alpha-web") {
    return R"({"name":")" + name + R"(","state":")" + state + R"(","project":")" + project + R"(","networks":[)" + networks +
           R"(],"ports":[)" + ports + "]}";
}

const std::string on_tunnel = R"({"network":"tunnel","ip":"172.20.0.3","aliases":["web"]})";
const std::string on_backend = R"({"network":"backend","ip":"172.21.0.3","aliases":[]})";
const std::string on_bridge = R"({"network":"bridge","ip":"172.17.0.3","aliases":[]})";
const std::string exposed_3000 = R"({"container_port":3000,"protocol":"tcp","host_ip":"","host_port":0})";
const std::string published_3000 = R"({"container_port":3000,"protocol":"tcp","host_ip":"0.0.0.0","host_port":3100})";

}  // namespace

TEST(docker_targets, a_shared_user_defined_network_reaches_the_container_by_name) {
    auto t = select_target(snapshot(cf_on_tunnel, app(on_tunnel, exposed_3000)), "alpha", 3000);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->service, "http://alpha-web:3000");
    EXPECT_EQ(t->type, "container");
    EXPECT_EQ(t->docker_network, "tunnel");
    EXPECT_EQ(t->container_name, "alpha-web");
    EXPECT_EQ(t->probe_address, "172.20.0.3:3000") << "probed through the container's IP on that network";
}

TEST(docker_targets, the_default_bridge_does_not_count_and_the_refusal_names_the_fix) {
    auto t = select_target(snapshot(cf_on_bridge, app(on_bridge, exposed_3000)), "alpha", 3000);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message.find("docker network create tunnel && docker network connect tunnel cloudflared && "
                                     "docker network connect tunnel alpha-web"),
              std::string::npos)
        << t.error().message;
}

TEST(docker_targets, a_container_on_another_user_network_needs_cloudflared_connected) {
    auto t = select_target(snapshot(cf_on_tunnel, app(on_backend, exposed_3000)), "alpha", 3000);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message.find("`docker network connect backend cloudflared`"), std::string::npos) << t.error().message;
}

TEST(docker_targets, a_published_port_is_reached_on_localhost_when_cloudflared_is_on_the_host) {
    auto t = select_target(snapshot(cf_on_host, app(on_bridge, published_3000)), "alpha", 3000);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->service, "http://localhost:3100");
    EXPECT_EQ(t->type, "host_port");
    EXPECT_EQ(t->probe_address, "127.0.0.1:3100");
    // Asking by the host port finds the same container.
    auto by_host_port = select_target(snapshot(cf_on_host, app(on_bridge, published_3000)), "alpha", 3100);
    ASSERT_TRUE(by_host_port);
    EXPECT_EQ(by_host_port->service, "http://localhost:3100");
}

TEST(docker_targets, host_networked_cloudflared_sees_published_ports) {
    auto t = select_target(snapshot(cf_host_net, app(on_bridge, published_3000)), "alpha", 3000);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->service, "http://localhost:3100");
    EXPECT_NE(t->reason.find("host networking"), std::string::npos);
}

TEST(docker_targets, an_unpublished_port_with_cloudflared_on_the_host_is_refused_with_the_publish_fix) {
    auto t = select_target(snapshot(cf_on_host, app(on_bridge, exposed_3000)), "alpha", 3000);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message.find("publish the port on the host (`docker run -p 3000:3000"), std::string::npos)
        << t.error().message;
}

TEST(docker_targets, host_services) {
    auto on_host = select_target(snapshot(cf_on_host, ""), "alpha", 3000);
    ASSERT_TRUE(on_host);
    EXPECT_EQ(on_host->service, "http://localhost:3000");
    EXPECT_EQ(on_host->type, "host");
    auto via_gateway = select_target(snapshot(cf_on_bridge, "", "172.17.0.1"), "alpha", 3000);
    ASSERT_TRUE(via_gateway);
    EXPECT_EQ(via_gateway->service, "http://172.17.0.1:3000");
    auto unreachable = select_target(snapshot(cf_on_tunnel, ""), "alpha", 3000);
    ASSERT_FALSE(unreachable);
    EXPECT_NE(unreachable.error().message.find("--network host"), std::string::npos);
}

TEST(docker_targets, other_projects_and_stopped_containers_are_never_chosen) {
    auto other = select_target(snapshot(cf_on_tunnel, app(on_tunnel, exposed_3000, "beta", "running", "beta-web")), "alpha", 3000);
    ASSERT_FALSE(other) << "beta's container must not serve alpha";
    auto stopped = select_target(snapshot(cf_on_tunnel, app(on_tunnel, exposed_3000, "alpha", "exited")), "alpha", 3000);
    ASSERT_FALSE(stopped);
}

TEST(docker_targets, a_malformed_snapshot_is_an_error_not_a_guess) {
    EXPECT_FALSE(select_target("not json", "alpha", 3000));
}
