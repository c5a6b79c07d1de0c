// build_snapshot against recorded Engine API answers: network flags, containers' networks and ports
// (running vs stopped), projects from labels and name prefixes, where cloudflared runs.
#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "snapshot_builder.hpp"

namespace tunnelmgr::plugins::docker_runtime {
namespace {

using test::find_by;
using test::fixture;
using test::parse_json;

rapidjson::Document snapshot_of(const std::vector<std::string>& inspect_files, snapshot_options options = {}) {
    std::vector<std::string> inspects;
    for (const auto& f : inspect_files) inspects.push_back(fixture(f));
    auto json = build_snapshot(fixture("networks.json"), inspects, "1.41", options);
    EXPECT_TRUE(json) << (json ? "" : json.error().message);
    return parse_json(json ? *json : std::string("{}"));
}

TEST(SnapshotBuilder, MarksOnlyCreatedNetworksUserDefined) {
    auto snap = snapshot_of({});
    const auto& nets = snap["networks"];
    ASSERT_EQ(nets.Size(), 5u);
    for (const char* builtin : {"bridge", "host", "none"}) {
        const auto* n = find_by(nets, "name", builtin);
        ASSERT_NE(n, nullptr) << builtin;
        EXPECT_FALSE((*n)["user_defined"].GetBool()) << builtin;
    }
    const auto* edge = find_by(nets, "name", "edge");
    ASSERT_NE(edge, nullptr);
    EXPECT_TRUE((*edge)["user_defined"].GetBool());
    EXPECT_STREQ((*edge)["driver"].GetString(), "bridge");
    EXPECT_STREQ((*edge)["scope"].GetString(), "local");
    EXPECT_STREQ((*edge)["id"].GetString(), "7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99");
    EXPECT_FALSE((*edge)["internal"].GetBool());
    EXPECT_TRUE((*find_by(nets, "name", "backend"))["internal"].GetBool());
    EXPECT_STREQ(snap["api_version"].GetString(), "1.41");
}

TEST(SnapshotBuilder, RunningContainerHasItsNetworkAliasesAndPublishedPorts) {
    auto snap = snapshot_of({"inspect_web_running.json"});
    const auto* web = find_by(snap["containers"], "name", "consilio-web");
    ASSERT_NE(web, nullptr);
    EXPECT_STREQ((*web)["image"].GetString(), "tm-busybox:latest");
    EXPECT_STREQ((*web)["state"].GetString(), "running");
    EXPECT_STREQ((*web)["project"].GetString(), "consilio");
    EXPECT_STREQ((*web)["labels"]["tier"].GetString(), "web");
    ASSERT_EQ((*web)["networks"].Size(), 1u);
    const auto& edge = (*web)["networks"][0];
    EXPECT_STREQ(edge["network"].GetString(), "edge");
    EXPECT_STREQ(edge["ip"].GetString(), "172.18.0.2");
    EXPECT_STREQ(edge["gateway"].GetString(), "172.18.0.1");
    ASSERT_EQ(edge["aliases"].Size(), 2u);
    EXPECT_STREQ(edge["aliases"][0].GetString(), "web");

    const auto& ports = (*web)["ports"];
    ASSERT_EQ(ports.Size(), 3u);  // 8080 on 127.0.0.1 and ::1, 9090 exposed only
    EXPECT_EQ(ports[0]["container_port"].GetInt(), 8080);
    EXPECT_STREQ(ports[0]["protocol"].GetString(), "tcp");
    EXPECT_EQ(ports[0]["host_port"].GetInt(), 18080);
    EXPECT_EQ(ports[2]["container_port"].GetInt(), 9090);
    EXPECT_TRUE(ports[2]["host_port"].IsNull());
    EXPECT_TRUE(ports[2]["host_ip"].IsNull());
}

TEST(SnapshotBuilder, StoppedContainerTakesPortsFromItsBindings) {
    auto snap = snapshot_of({"inspect_api_exited.json"});
    const auto* api = find_by(snap["containers"], "name", "alpha-api");
    ASSERT_NE(api, nullptr);
    EXPECT_STREQ((*api)["state"].GetString(), "exited");
    const auto& ports = (*api)["ports"];
    ASSERT_EQ(ports.Size(), 3u);  // 3000 bound to 13000, 3001 exposed, 5000/udp bound to a random port
    EXPECT_EQ(ports[0]["container_port"].GetInt(), 3000);
    EXPECT_EQ(ports[0]["host_port"].GetInt(), 13000);
    EXPECT_TRUE(ports[0]["host_ip"].IsNull());
    EXPECT_EQ(ports[1]["container_port"].GetInt(), 3001);
    EXPECT_TRUE(ports[1]["host_port"].IsNull());
    EXPECT_STREQ(ports[2]["protocol"].GetString(), "udp");
    EXPECT_TRUE(ports[2]["host_port"].IsNull());
    // Not running: on its network, but without an address.
    ASSERT_EQ((*api)["networks"].Size(), 1u);
    EXPECT_TRUE((*api)["networks"][0]["ip"].IsNull());
}

TEST(SnapshotBuilder, ProjectFromNamePrefixOnlyForKnownProjects) {
    auto unknown = snapshot_of({"inspect_api_exited.json"});
    EXPECT_TRUE((*find_by(unknown["containers"], "name", "alpha-api"))["project"].IsNull())
        << "without known projects, a name says nothing";

    snapshot_options options;
    options.projects = {"alp", "alpha", "beta"};
    auto known = snapshot_of({"inspect_api_exited.json", "inspect_web_running.json"}, options);
    EXPECT_STREQ((*find_by(known["containers"], "name", "alpha-api"))["project"].GetString(), "alpha");
    // The label wins over any prefix.
    options.projects = {"consilio", "other"};
    auto labelled = snapshot_of({"inspect_web_running.json"}, options);
    EXPECT_STREQ((*find_by(labelled["containers"], "name", "consilio-web"))["project"].GetString(), "consilio");
}

TEST(SnapshotBuilder, ProjectOfNeverGuessesFromAPartialName) {
    EXPECT_EQ(project_of("alpha-web", "", {"alpha"}), "alpha");
    EXPECT_EQ(project_of("alphaweb", "", {"alpha"}), "");
    EXPECT_EQ(project_of("alpha-", "", {"alpha"}), "");
    EXPECT_EQ(project_of("beta-web", "", {"alpha"}), "");
    EXPECT_EQ(project_of("beta-web", "gamma", {"beta"}), "gamma");
    EXPECT_EQ(project_of("my-app-web", "", {"my", "my-app"}), "my-app");
}

TEST(SnapshotBuilder, FindsRunningCloudflaredWithItsNetworks) {
    auto snap = snapshot_of({"inspect_web_running.json", "inspect_cloudflared_running.json"});
    const auto& cf = snap["cloudflared"];
    EXPECT_STREQ(cf["where"].GetString(), "container");
    EXPECT_STREQ(cf["container"].GetString(), "cloudflared");
    EXPECT_FALSE(cf["host_network"].GetBool());
    ASSERT_EQ(cf["networks"].Size(), 2u);
    EXPECT_STREQ(cf["networks"][0].GetString(), "backend");
    EXPECT_STREQ(cf["networks"][1].GetString(), "edge");
    // The host seen from cloudflared's container: the gateway of its own (not internal) network, not the
    // default bridge's.
    EXPECT_STREQ(snap["host_gateway"].GetString(), "172.18.0.1");
}

TEST(SnapshotBuilder, StoppedCloudflaredDoesNotCount) {
    auto snap = snapshot_of({"inspect_web_running.json", "inspect_cloudflared_exited.json"});
    const auto& cf = snap["cloudflared"];
    EXPECT_STREQ(cf["where"].GetString(), "host");
    EXPECT_TRUE(cf["container"].IsNull());
    EXPECT_EQ(cf["networks"].Size(), 0u);
    ASSERT_EQ(cf["stopped"].Size(), 1u);
    EXPECT_STREQ(cf["stopped"][0].GetString(), "tunnel-old");  // matched by its image
    EXPECT_STREQ(snap["host_gateway"].GetString(), "172.17.0.1");  // the default bridge's
}

TEST(SnapshotBuilder, RunningOneWinsOverAStoppedOne) {
    auto snap = snapshot_of({"inspect_cloudflared_exited.json", "inspect_cloudflared_running.json"});
    EXPECT_STREQ(snap["cloudflared"]["where"].GetString(), "container");
    EXPECT_STREQ(snap["cloudflared"]["container"].GetString(), "cloudflared");
}

TEST(SnapshotBuilder, HostNetworkedCloudflared) {
    auto snap = snapshot_of({"inspect_cloudflared_host.json"});
    const auto& cf = snap["cloudflared"];
    EXPECT_STREQ(cf["where"].GetString(), "container");
    EXPECT_TRUE(cf["host_network"].GetBool());
    EXPECT_EQ(cf["networks"].Size(), 0u);
    EXPECT_TRUE(snap["host_gateway"].IsNull()) << "localhost is the host itself";
}

TEST(SnapshotBuilder, ConfiguredNamesDecideWhatIsCloudflared) {
    snapshot_options options;
    options.cloudflared_names = {"tunnel"};
    auto snap = snapshot_of({"inspect_cloudflared_running.json"}, options);
    EXPECT_STREQ(snap["cloudflared"]["where"].GetString(), "host");
}

TEST(SnapshotBuilder, ImageBaseName) {
    EXPECT_EQ(image_base_name("cloudflare/cloudflared:2024.6.1"), "cloudflared");
    EXPECT_EQ(image_base_name("registry.example.com:5000/cf/cloudflared@sha256:abc"), "cloudflared");
    EXPECT_EQ(image_base_name("cloudflared"), "cloudflared");
    EXPECT_EQ(image_base_name("busybox:latest"), "busybox");
}

TEST(SnapshotBuilder, RefusesAnswersThatAreNotJson) {
    EXPECT_FALSE(build_snapshot("not json", {}, "1.41", {}));
    EXPECT_FALSE(build_snapshot("{}", {}, "1.41", {}));
    auto bad_container = build_snapshot("[]", {"<html>"}, "1.41", {});
    ASSERT_FALSE(bad_container);
    EXPECT_NE(bad_container.error().message.find("not a JSON object"), std::string::npos);
}

TEST(SnapshotBuilder, EmptyDaemon) {
    auto json = build_snapshot("[]", {}, "1.40", {});
    ASSERT_TRUE(json);
    EXPECT_EQ(*json,
              R"({"networks":[],"containers":[],"cloudflared":{"where":"host","container":null,"networks":[],)"
              R"("host_network":false,"stopped":[]},"host_gateway":null,"api_version":"1.40"})");
}

}  // namespace
}  // namespace tunnelmgr::plugins::docker_runtime
