// container-supervisor's pure parts: status from recorded inspect answers, which events become
// tunnel.died / tunnel.started, and the config section.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "container_status.hpp"
#include "supervisor_config.hpp"

namespace tunnelmgr::plugins::container_supervisor {
namespace {

rapidjson::Document status_of(const std::string& inspect) {
    auto json = status_from_inspect(inspect, "cloudflared");
    EXPECT_TRUE(json) << (json ? "" : json.error().message);
    rapidjson::Document doc;
    doc.Parse(json ? json->c_str() : "{}");
    return doc;
}

TEST(ContainerStatus, Running) {
    auto s = status_of(R"({"Id":"abc123","RestartCount":3,"Config":{"Image":"cloudflare/cloudflared:2024.6.1"},
        "State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,"Pid":4242,"ExitCode":0,
                 "StartedAt":"2024-05-01T10:10:01.250000000Z","FinishedAt":"2024-05-01T10:09:00Z"}})");
    EXPECT_TRUE(s["running"].GetBool());
    EXPECT_EQ(s["pid"].GetInt(), 4242);
    EXPECT_STREQ(s["state"].GetString(), "running");
    EXPECT_EQ(s["since_ms"].GetInt64(), 1714558201250);
    EXPECT_TRUE(s["exit_code"].IsNull());
    EXPECT_EQ(s["restart_count"].GetInt(), 3);
    EXPECT_STREQ(s["id"].GetString(), "abc123");
    EXPECT_EQ(std::string(s["detail"].GetString()),
              "container cloudflared (image cloudflare/cloudflared:2024.6.1) running since 2024-05-01T10:10:01.250000000Z "
              "with pid 4242");
}

TEST(ContainerStatus, ExitedSinceItFinished) {
    auto s = status_of(R"({"Id":"abc","State":{"Status":"exited","Running":false,"Pid":0,"ExitCode":137,"OOMKilled":true,
        "StartedAt":"2024-05-01T10:10:01Z","FinishedAt":"2024-05-01T10:20:00.5Z"}})");
    EXPECT_FALSE(s["running"].GetBool());
    EXPECT_TRUE(s["pid"].IsNull());
    EXPECT_STREQ(s["state"].GetString(), "exited");
    EXPECT_EQ(s["since_ms"].GetInt64(), 1714558800500);
    EXPECT_EQ(s["exit_code"].GetInt(), 137);
    EXPECT_NE(std::string(s["detail"].GetString()).find("exit code 137 (killed for lack of memory)"), std::string::npos);
}

TEST(ContainerStatus, PausedAndCreatedAreNotRunning) {
    auto paused = status_of(R"({"State":{"Status":"paused","Running":true,"Paused":true,"Pid":7,
        "StartedAt":"2024-05-01T10:10:01Z","FinishedAt":"0001-01-01T00:00:00Z"}})");
    EXPECT_FALSE(paused["running"].GetBool());
    EXPECT_NE(std::string(paused["detail"].GetString()).find("docker unpause cloudflared"), std::string::npos);
    auto created = status_of(R"({"State":{"Status":"created","Running":false,"Pid":0,"ExitCode":0,
        "StartedAt":"0001-01-01T00:00:00Z","FinishedAt":"0001-01-01T00:00:00Z"}})");
    EXPECT_FALSE(created["running"].GetBool());
    EXPECT_TRUE(created["since_ms"].IsNull());
    EXPECT_TRUE(created["exit_code"].IsNull());
    EXPECT_FALSE(status_from_inspect("nope", "cloudflared"));
}

int parse_replica(const std::optional<std::pair<std::string, std::string>>& e) {
    if (!e) return -1;
    rapidjson::Document d;
    d.Parse(e->second.c_str());
    return d["replica"].GetInt();
}

docker_engine::docker_event event(const char* action, const char* name, const char* id = "feedface00") {
    docker_engine::docker_event e;
    e.type = "container";
    e.action = action;
    e.actor_id = id;
    e.attributes["name"] = name;
    e.attributes["exitCode"] = "137";
    e.time_nano = 1714558201250000000;
    return e;
}

const std::vector<replicas::replica_ref> k_one = {{"cloudflared", ""}};

TEST(SupervisorEvents, DieAndStartOfOurContainerOnly) {
    auto died = supervisor_event_for(event("die", "cloudflared"), k_one);
    ASSERT_TRUE(died);
    EXPECT_EQ(died->first, "tunnel.died");
    EXPECT_EQ(died->second, R"({"container":"cloudflared","name":"cloudflared","replica":0,"id":"feedface00","exit_code":137,)"
                            R"("time_ms":1714558201250})");
    auto started = supervisor_event_for(event("start", "cloudflared"), k_one);
    ASSERT_TRUE(started);
    EXPECT_EQ(started->first, "tunnel.started");
    EXPECT_EQ(started->second,
              R"({"container":"cloudflared","name":"cloudflared","replica":0,"id":"feedface00","time_ms":1714558201250})");
    EXPECT_FALSE(supervisor_event_for(event("die", "cloudflared-old"), k_one));
    EXPECT_FALSE(supervisor_event_for(event("stop", "cloudflared"), k_one));
    EXPECT_FALSE(supervisor_event_for(event("kill", "cloudflared"), k_one));
    // Configured by id: an id prefix matches.
    EXPECT_TRUE(supervisor_event_for(event("die", "whatever", "feedface00112233"), {{"feedface00", ""}}));
}

TEST(SupervisorEvents, EachReplicasEventsNameItAndItsIndex) {
    const std::vector<replicas::replica_ref> two = {{"cf-1", "127.0.0.1:20241"}, {"cf-2", "127.0.0.1:20242"}};
    auto second = supervisor_event_for(event("die", "cf-2", "abc"), two);
    ASSERT_TRUE(second);
    rapidjson::Document d;
    d.Parse(second->second.c_str());
    EXPECT_STREQ(d["name"].GetString(), "cf-2");
    EXPECT_STREQ(d["container"].GetString(), "cf-2");
    EXPECT_EQ(d["replica"].GetInt(), 1);
    auto first = supervisor_event_for(event("start", "cf-1", "def"), two);
    ASSERT_TRUE(first);
    d.Parse(first->second.c_str());
    EXPECT_EQ(d["replica"].GetInt(), 0);
    EXPECT_FALSE(supervisor_event_for(event("die", "cf-3"), two));
    // A name wins over an id prefix that happens to be another replica's name.
    EXPECT_EQ(parse_replica(supervisor_event_for(event("die", "cf-2", "cf-1abc"), two)), 1);
}

TEST(SupervisorEvents, FiltersNameTheContainer) {
    EXPECT_EQ(supervisor_event_filters(k_one),
              "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%2C%22die%22%5D%2C%22container%22%3A%5B%"
              "22cloudflared%22%5D%7D");
    EXPECT_EQ(supervisor_event_filters({{"cf-1", ""}, {"cf-2", ""}}),
              "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%2C%22die%22%5D%2C%22container%22%3A%5B%"
              "22cf-1%22%2C%22cf-2%22%5D%7D");
}

TEST(SupervisorConfig, DefaultsKeysAndRefusals) {
    auto d = parse_supervisor_config(R"({"plugin":"container-supervisor"})");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->socket, "/var/run/docker.sock");
    ASSERT_EQ(d->containers.size(), 1u);
    EXPECT_EQ(d->containers[0].name, "cloudflared");
    EXPECT_EQ(d->containers[0].metrics, "");
    EXPECT_FALSE(d->listed);
    EXPECT_EQ(d->grace_s, 10);
    EXPECT_EQ(d->timeout.count(), 5000);
    auto c = parse_supervisor_config(R"({"socket":"/run/d.sock","container":"tunnel_1","grace_s":0,"timeout_ms":800})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->containers[0].name, "tunnel_1");
    EXPECT_EQ(c->grace_s, 0);
    for (const char* bad : {R"({"unit":"cloudflared.service"})", R"({"container":"../x"})", R"({"grace_s":-1})",
                            R"({"grace_s":"10s"})", R"({"socket":"rel"})", R"({"timeout_ms":1})"}) {
        auto r = parse_supervisor_config(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().message.rfind("supervisor.", 0), 0u) << r.error().message;
    }
}

TEST(SupervisorConfig, ContainersListsReplicasWithTheirMetrics) {
    auto c = parse_supervisor_config(R"({"containers":[{"container":"cf-1","metrics":"127.0.0.1:20241"},
                                                         {"container":"cf-2","metrics":"[::1]:20242"}]})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_TRUE(c->listed);
    ASSERT_EQ(c->containers.size(), 2u);
    EXPECT_EQ(c->containers[0].name, "cf-1");
    EXPECT_EQ(c->containers[0].metrics, "127.0.0.1:20241");
    EXPECT_EQ(c->containers[1].name, "cf-2");
    EXPECT_EQ(c->containers[1].metrics, "[::1]:20242");
    EXPECT_EQ(container_setting(*c), "supervisor.containers");
    // One entry may leave its metrics out: the host then reads the tunnel's.
    auto one = parse_supervisor_config(R"({"containers":[{"container":"cf-1"}]})");
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(one->containers[0].metrics, "");
}

TEST(SupervisorConfig, ContainersMistakesNameTheEntry) {
    struct bad {
        const char* json;
        const char* says;
    };
    for (const auto& b : {
             bad{R"({"containers":[]})", "supervisor.containers must be a list of one or more replicas"},
             bad{R"({"containers":"cf-1"})", "supervisor.containers must be a list"},
             bad{R"({"containers":["cf-1"]})", "supervisor.containers[0] must be a mapping {container: NAME"},
             bad{R"({"containers":[{"metrics":"127.0.0.1:1"}]})", "supervisor.containers[0] names no container"},
             bad{R"({"containers":[{"container":"../x"}]})", "supervisor.containers[0].container must be a Docker container name"},
             bad{R"({"containers":[{"container":"a","metrics":"20241"}]})", "supervisor.containers[0].metrics must be"},
             bad{R"({"containers":[{"container":"a","metrics":"127.0.0.1:0"}]})", "supervisor.containers[0].metrics must be"},
             bad{R"({"containers":[{"container":"a","metrics":"http://127.0.0.1:20241"}]})", "supervisor.containers[0].metrics must be"},
             bad{R"({"containers":[{"container":"a","port":1}]})", "supervisor.containers[0].port is not a setting of a replica"},
             bad{R"({"containers":[{"container":"a","metrics":"127.0.0.1:1"},{"container":"a","metrics":"127.0.0.1:2"}]})",
                 "supervisor.containers[1] names \"a\" a second time"},
             bad{R"({"containers":[{"container":"a","metrics":"127.0.0.1:1"},{"container":"b","metrics":"127.0.0.1:1"}]})",
                 "supervisor.containers[1].metrics \"127.0.0.1:1\" is another replica's too"},
             bad{R"({"containers":[{"container":"a","metrics":"127.0.0.1:1"},{"container":"b"}]})",
                 "supervisor.containers[1] (b) has no metrics address"},
             bad{R"({"container":"a","containers":[{"container":"b"}]})",
                 "supervisor.container and supervisor.containers are both set"}}) {
        auto r = parse_supervisor_config(b.json);
        ASSERT_FALSE(r) << b.json;
        EXPECT_EQ(r.error().kind, docker_engine::docker_errc::invalid);
        EXPECT_NE(r.error().message.find(b.says), std::string::npos) << b.json << " -> " << r.error().message;
    }
}

TEST(SupervisorConfig, MissingContainerSentenceNamesTheFix) {
    EXPECT_EQ(missing_container_sentence("cloudflared", "/var/run/docker.sock"),
              "there is no container named cloudflared on the Docker daemon at /var/run/docker.sock: create it "
              "(docker run -d --name cloudflared ... cloudflared tunnel run), or set supervisor.container to the name of "
              "the container that runs cloudflared");
    EXPECT_NE(missing_container_sentence("cf-2", "/s", "supervisor.containers").find("set supervisor.containers to"),
              std::string::npos);
}

}  // namespace
}  // namespace tunnelmgr::plugins::container_supervisor
