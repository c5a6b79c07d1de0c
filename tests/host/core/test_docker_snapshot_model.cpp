// The Docker snapshot's one codec (sdk/model_docker.hpp), shared by the runtime plugin, the state
// store and target selection: byte-exact round trips, field paths in errors, defaults for what is missing.
#include <string>

#include <gtest/gtest.h>
#include <tunnelmgr/sdk/model.hpp>

namespace model = tunnelmgr::sdk::model;

namespace {

// What docker-runtime's build_snapshot writes for a daemon with a running cloudflared container, a
// running labelled web container and a stopped api container (tests/plugins/docker-runtime/fixtures).
const std::string realistic =
    R"({"networks":[{"id":"9e3c1a0b2f7d4e5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c")"
    R"(,"name":"backend","driver":"bridge","scope":"local","internal":true,"user_defined":true})"
    R"(,{"id":"f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566","name":"bridge")"
    R"(,"driver":"bridge","scope":"local","internal":false,"user_defined":false})"
    R"(,{"id":"7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99","name":"edge")"
    R"(,"driver":"bridge","scope":"local","internal":false,"user_defined":true})"
    R"(,{"id":"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90","name":"host")"
    R"(,"driver":"host","scope":"local","internal":false,"user_defined":false})"
    R"(,{"id":"0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080706050403020100f","name":"none")"
    R"(,"driver":"null","scope":"local","internal":false,"user_defined":false}])"
    R"(,"containers":[{"id":"2222222222222222222222222222222222222222222222222222222222222222")"
    R"(,"name":"alpha-api","image":"example/api:2.1","state":"exited","project":null,"labels":{})"
    R"(,"network_mode":"backend","networks":[{"network":"backend")"
    R"(,"network_id":"9e3c1a0b2f7d4e5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c","ip":null)"
    R"(,"aliases":["api"],"gateway":null}],"ports":[{"container_port":3000,"protocol":"tcp","host_ip":null)"
    R"(,"host_port":13000},{"container_port":3001,"protocol":"tcp","host_ip":null,"host_port":null})"
    R"(,{"container_port":5000,"protocol":"udp","host_ip":null,"host_port":null}]})"
    R"(,{"id":"3333333333333333333333333333333333333333333333333333333333333333","name":"cloudflared")"
    R"(,"image":"cloudflare/cloudflared:2024.6.1","state":"running","project":null,"labels":{})"
    R"(,"network_mode":"edge","networks":[{"network":"backend")"
    R"(,"network_id":"9e3c1a0b2f7d4e5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c","ip":"172.19.0.3")"
    R"(,"aliases":[],"gateway":"172.19.0.1"},{"network":"edge")"
    R"(,"network_id":"7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99","ip":"172.18.0.3")"
    R"(,"aliases":["cloudflared","333333333333"],"gateway":"172.18.0.1"}],"ports":[]})"
    R"(,{"id":"1111111111111111111111111111111111111111111111111111111111111111","name":"consilio-web")"
    R"(,"image":"tm-busybox:latest","state":"running","project":"consilio")"
    R"(,"labels":{"com.supervisor.project":"consilio","tier":"web"},"network_mode":"edge")"
    R"(,"networks":[{"network":"edge")"
    R"(,"network_id":"7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99","ip":"172.18.0.2")"
    R"(,"aliases":["web","111111111111"],"gateway":"172.18.0.1"}],"ports":[{"container_port":8080)"
    R"(,"protocol":"tcp","host_ip":"127.0.0.1","host_port":18080},{"container_port":8080,"protocol":"tcp")"
    R"(,"host_ip":"::1","host_port":18080},{"container_port":9090,"protocol":"tcp","host_ip":null)"
    R"(,"host_port":null}]}],"cloudflared":{"where":"container","container":"cloudflared")"
    R"(,"networks":["backend","edge"],"host_network":false,"stopped":[]},"host_gateway":"172.18.0.1")"
    R"(,"api_version":"1.41"})";

// The decode error for `json`, or "" when it decodes.
std::string error_of(const std::string& json) {
    auto s = model::decode_docker_snapshot(json);
    return s ? std::string() : s.error();
}

TEST(docker_snapshot_model, a_runtime_snapshot_round_trips_byte_for_byte) {
    auto snap = model::decode_docker_snapshot(realistic);
    ASSERT_TRUE(snap) << snap.error();
    EXPECT_EQ(model::encode(*snap), realistic);

    ASSERT_EQ(snap->networks.size(), 5u);
    EXPECT_EQ(snap->networks[0].name, "backend");
    EXPECT_TRUE(snap->networks[0].internal);
    EXPECT_EQ(snap->networks[0].user_defined, true);
    ASSERT_EQ(snap->containers.size(), 3u);
    const auto& web = snap->containers[2];
    EXPECT_EQ(web.name, "consilio-web");
    EXPECT_EQ(web.project.value_or(""), "consilio");
    EXPECT_EQ(web.labels.at("tier"), "web");
    ASSERT_EQ(web.networks.size(), 1u);
    EXPECT_EQ(web.networks[0].ip.value_or(""), "172.18.0.2");
    EXPECT_EQ(web.networks[0].gateway.value_or(""), "172.18.0.1");
    EXPECT_EQ(web.networks[0].aliases.size(), 2u);
    ASSERT_FALSE(web.ports.empty());
    EXPECT_EQ(web.ports[0].container_port, 8080);
    EXPECT_EQ(web.ports[0].host_port.value_or(0), 18080);
    const auto& api = snap->containers[0];
    EXPECT_FALSE(api.project.has_value());
    EXPECT_FALSE(api.networks[0].ip.has_value());
    ASSERT_TRUE(snap->cloudflared.has_value());
    EXPECT_EQ(snap->cloudflared->where, "container");
    EXPECT_EQ(snap->cloudflared->container.value_or(""), "cloudflared");
    EXPECT_EQ(snap->cloudflared->networks, (std::vector<std::string>{"backend", "edge"}));
    EXPECT_EQ(snap->host_gateway.value_or(""), "172.18.0.1") << "edge's gateway: backend is internal";
    EXPECT_EQ(snap->api_version.value_or(""), "1.41");
    EXPECT_FALSE(snap->taken_ms.has_value()) << "a runtime's snapshot has no taken_ms";
}

TEST(docker_snapshot_model, the_stores_taken_ms_is_kept_after_the_runtimes_keys) {
    const std::string stored = realistic.substr(0, realistic.size() - 1) + R"(,"taken_ms":1700000000123})";
    auto snap = model::decode_docker_snapshot(stored);
    ASSERT_TRUE(snap) << snap.error();
    EXPECT_EQ(snap->taken_ms.value_or(0), 1700000000123);
    EXPECT_EQ(model::encode(*snap), stored);

    model::docker_snapshot never;
    EXPECT_EQ(model::encode(never), R"({"networks":[],"containers":[],"host_gateway":null})");
    EXPECT_EQ(model::encode(never, model::taken_ms_key::always),
              R"({"networks":[],"containers":[],"host_gateway":null,"taken_ms":null})");
}

TEST(docker_snapshot_model, each_wrong_type_names_its_field_path) {
    EXPECT_EQ(error_of(R"({"containers":[{},{"ports":[{"container_port":80,"host_port":"8080"}]}]})"),
              "containers[1].ports[0].host_port is a string, not a whole number");
    EXPECT_EQ(error_of(R"({"containers":[{"ports":[{"container_port":80.5}]}]})"),
              "containers[0].ports[0].container_port is a fractional number, not a whole number");
    EXPECT_EQ(error_of(R"({"networks":[{"name":7}]})"), "networks[0].name is a number, not a string");
    EXPECT_EQ(error_of(R"({"networks":[{"name":"a"},{"name":"b","internal":"yes"}]})"),
              "networks[1].internal is a string, not a boolean");
    EXPECT_EQ(error_of(R"({"networks":[{"user_defined":1}]})"), "networks[0].user_defined is a number, not a boolean");
    EXPECT_EQ(error_of(R"({"containers":{}})"), "containers is an object, not an array");
    EXPECT_EQ(error_of(R"({"containers":["web"]})"), "containers[0] is a string, not an object");
    EXPECT_EQ(error_of(R"({"containers":[{"networks":[{"network":"edge","aliases":["web",3]}]}]})"),
              "containers[0].networks[0].aliases[1] is a number, not a string");
    EXPECT_EQ(error_of(R"({"containers":[{"networks":[{"ip":false}]}]})"),
              "containers[0].networks[0].ip is a boolean, not a string");
    EXPECT_EQ(error_of(R"({"containers":[{"labels":{"tier":["web"]}}]})"),
              "containers[0].labels.tier is an array, not a string");
    EXPECT_EQ(error_of(R"({"containers":[{"labels":[]}]})"), "containers[0].labels is an array, not an object");
    EXPECT_EQ(error_of(R"({"containers":[{"project":{}}]})"), "containers[0].project is an object, not a string");
    EXPECT_EQ(error_of(R"({"cloudflared":"host"})"), "cloudflared is a string, not an object");
    EXPECT_EQ(error_of(R"({"cloudflared":{"host_network":"no"}})"), "cloudflared.host_network is a string, not a boolean");
    EXPECT_EQ(error_of(R"({"cloudflared":{"stopped":[null]}})"), "cloudflared.stopped[0] is null, not a string");
    EXPECT_EQ(error_of(R"({"cloudflared":{"where":"moon"}})"), R"(cloudflared.where is "moon", not "container" or "host")");
    EXPECT_EQ(error_of(R"({"host_gateway":1})"), "host_gateway is a number, not a string");
    EXPECT_EQ(error_of(R"({"taken_ms":"now"})"), "taken_ms is a string, not a whole number");
    EXPECT_EQ(error_of(R"([])"), "the snapshot is an array, not a JSON object");
    EXPECT_EQ(error_of("not json"), "the snapshot is not JSON");
}

TEST(docker_snapshot_model, missing_and_null_fields_take_their_defaults_and_unknown_keys_are_ignored) {
    auto empty = model::decode_docker_snapshot("{}");
    ASSERT_TRUE(empty) << empty.error();
    EXPECT_TRUE(empty->networks.empty());
    EXPECT_TRUE(empty->containers.empty());
    EXPECT_FALSE(empty->cloudflared.has_value());
    EXPECT_FALSE(empty->host_gateway.has_value());
    EXPECT_FALSE(empty->api_version.has_value());

    auto snap = model::decode_docker_snapshot(
        R"({"networks":[{"name":"tunnel","driver":null,"future_key":[1,2]}],)"
        R"("containers":[{"name":"web","networks":[{"network":"tunnel"}],"ports":[{"container_port":80}],"extra":{}}],)"
        R"("cloudflared":{},"host_gateway":null,"something_new":true})");
    ASSERT_TRUE(snap) << snap.error();
    const auto& net = snap->networks.at(0);
    EXPECT_EQ(net.driver, "");
    EXPECT_FALSE(net.internal);
    EXPECT_FALSE(net.user_defined.has_value()) << "absent stays unknown, for the reader to decide";
    const auto& web = snap->containers.at(0);
    EXPECT_EQ(web.state, "");
    EXPECT_FALSE(web.project.has_value());
    EXPECT_TRUE(web.labels.empty());
    EXPECT_FALSE(web.networks.at(0).ip.has_value());
    EXPECT_TRUE(web.networks.at(0).aliases.empty());
    EXPECT_EQ(web.ports.at(0).protocol, "tcp");
    EXPECT_FALSE(web.ports.at(0).host_ip.has_value());
    EXPECT_FALSE(web.ports.at(0).host_port.has_value());
    ASSERT_TRUE(snap->cloudflared.has_value());
    EXPECT_EQ(snap->cloudflared->where, "host");
    EXPECT_FALSE(snap->cloudflared->container.has_value());

    // Encoded, every default is spelled out; user_defined follows the network's name when unknown.
    EXPECT_EQ(model::encode(*snap),
              R"({"networks":[{"id":"","name":"tunnel","driver":"","scope":"","internal":false,"user_defined":true}],)"
              R"("containers":[{"id":"","name":"web","image":"","state":"","project":null,"labels":{},"network_mode":"",)"
              R"("networks":[{"network":"tunnel","network_id":"","ip":null,"aliases":[],"gateway":null}],)"
              R"("ports":[{"container_port":80,"protocol":"tcp","host_ip":null,"host_port":null}]}],)"
              R"("cloudflared":{"where":"host","container":null,"networks":[],"host_network":false,"stopped":[]},)"
              R"("host_gateway":null})");
    model::docker_network bridge{"n1", "bridge", "bridge", "local"};
    EXPECT_NE(model::encode(model::docker_snapshot{{bridge}, {}}).find(R"("user_defined":false)"), std::string::npos);
}

}  // namespace
