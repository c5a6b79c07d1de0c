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

TEST(SupervisorEvents, DieAndStartOfOurContainerOnly) {
    auto died = supervisor_event_for(event("die", "cloudflared"), "cloudflared");
    ASSERT_TRUE(died);
    EXPECT_EQ(died->first, "tunnel.died");
    EXPECT_EQ(died->second, R"({"container":"cloudflared","id":"feedface00","exit_code":137,"time_ms":1714558201250})");
    auto started = supervisor_event_for(event("start", "cloudflared"), "cloudflared");
    ASSERT_TRUE(started);
    EXPECT_EQ(started->first, "tunnel.started");
    EXPECT_EQ(started->second, R"({"container":"cloudflared","id":"feedface00","time_ms":1714558201250})");
    EXPECT_FALSE(supervisor_event_for(event("die", "cloudflared-old"), "cloudflared"));
    EXPECT_FALSE(supervisor_event_for(event("stop", "cloudflared"), "cloudflared"));
    EXPECT_FALSE(supervisor_event_for(event("kill", "cloudflared"), "cloudflared"));
    // Configured by id: an id prefix matches.
    EXPECT_TRUE(supervisor_event_for(event("die", "whatever", "feedface00112233"), "feedface00"));
}

TEST(SupervisorEvents, FiltersNameTheContainer) {
    EXPECT_EQ(supervisor_event_filters("cloudflared"),
              "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%2C%22die%22%5D%2C%22container%22%3A%5B%"
              "22cloudflared%22%5D%7D");
}

TEST(SupervisorConfig, DefaultsKeysAndRefusals) {
    auto d = parse_supervisor_config(R"({"plugin":"container-supervisor"})");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->socket, "/var/run/docker.sock");
    EXPECT_EQ(d->container, "cloudflared");
    EXPECT_EQ(d->grace_s, 10);
    EXPECT_EQ(d->timeout.count(), 5000);
    auto c = parse_supervisor_config(R"({"socket":"/run/d.sock","container":"tunnel_1","grace_s":0,"timeout_ms":800})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->container, "tunnel_1");
    EXPECT_EQ(c->grace_s, 0);
    for (const char* bad : {R"({"unit":"cloudflared.service"})", R"({"container":"../x"})", R"({"grace_s":-1})",
                            R"({"grace_s":"10s"})", R"({"socket":"rel"})", R"({"timeout_ms":1})"}) {
        auto r = parse_supervisor_config(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().message.rfind("supervisor.", 0), 0u) << r.error().message;
    }
}

TEST(SupervisorConfig, MissingContainerSentenceNamesTheFix) {
    EXPECT_EQ(missing_container_sentence("cloudflared", "/var/run/docker.sock"),
              "there is no container named cloudflared on the Docker daemon at /var/run/docker.sock: create it "
              "(docker run -d --name cloudflared ... cloudflared tunnel run), or set supervisor.container to the name of "
              "the container that runs cloudflared");
}

}  // namespace
}  // namespace tunnelmgr::plugins::container_supervisor
