// replica_status()'s extra fields and the one rule for status() of several replicas.
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include "replica_status.hpp"

namespace {

using namespace tunnelmgr::plugins::replicas;

rapidjson::Document parsed(const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    EXPECT_TRUE(d.IsObject()) << json;
    return d;
}

std::string replica(bool running, int pid, long long since, const std::string& detail) {
    return std::string(R"({"running":)") + (running ? "true" : "false") + R"(,"pid":)" +
           (pid > 0 ? std::to_string(pid) : "null") + R"(,"state":")" + (running ? "active/running" : "inactive/dead") +
           R"(","since_ms":)" + (since > 0 ? std::to_string(since) : "null") + R"(,"detail":")" + detail +
           R"(","unit":"u","name":"n","metrics":"127.0.0.1:1"})";
}

TEST(ReplicaStatus, AddsNameAndMetrics) {
    auto d = parsed(with_replica_fields(R"({"running":true,"pid":5,"name":"old"})", {"cloudflared@2.service", "127.0.0.1:20242"}));
    EXPECT_TRUE(d["running"].GetBool());
    EXPECT_EQ(d["pid"].GetInt(), 5);
    EXPECT_STREQ(d["name"].GetString(), "cloudflared@2.service");
    EXPECT_STREQ(d["metrics"].GetString(), "127.0.0.1:20242");
    auto none = parsed(with_replica_fields(R"({"running":false})", {"cf", ""}));
    EXPECT_STREQ(none["metrics"].GetString(), "");
}

TEST(WholeStatus, RunningWhenAnyRunsWithTheFirstRunningOnesPid) {
    auto w = whole_status({{replica(false, 0, 0, "u1 is inactive (dead)"), ""},
                           {replica(true, 202, 2000, "u2 is active (running)"), ""},
                           {replica(true, 303, 3000, "u3 is active (running)"), ""}});
    ASSERT_TRUE(w);
    auto d = parsed(*w);
    EXPECT_TRUE(d["running"].GetBool());
    EXPECT_EQ(d["pid"].GetInt(), 202);
    EXPECT_EQ(d["since_ms"].GetInt64(), 2000);
    EXPECT_STREQ(d["state"].GetString(), "active/running");
    EXPECT_EQ(d["replicas"].GetInt(), 3);
    EXPECT_EQ(d["replicas_running"].GetInt(), 2);
    EXPECT_EQ(std::string(d["detail"].GetString()),
              "2 of 3 replicas running: u1 is inactive (dead); u2 is active (running); u3 is active (running)");
    EXPECT_FALSE(d.HasMember("name")) << "the whole is no one replica";
    EXPECT_FALSE(d.HasMember("metrics"));
}

TEST(WholeStatus, NoneRunningSpeaksWithTheFirstThatAnswered) {
    auto w = whole_status({{std::nullopt, "systemd has no unit u1"}, {replica(false, 0, 0, "u2 is failed"), ""}});
    ASSERT_TRUE(w);
    auto d = parsed(*w);
    EXPECT_FALSE(d["running"].GetBool());
    EXPECT_TRUE(d["pid"].IsNull());
    EXPECT_EQ(d["replicas_running"].GetInt(), 0);
    EXPECT_EQ(std::string(d["detail"].GetString()), "0 of 2 replicas running: systemd has no unit u1; u2 is failed");
}

TEST(WholeStatus, OneFailingReplicaDoesNotHideTheOthers) {
    auto w = whole_status({{std::nullopt, "cannot reach u1"}, {replica(true, 7, 70, "u2 runs"), ""}});
    ASSERT_TRUE(w);
    auto d = parsed(*w);
    EXPECT_TRUE(d["running"].GetBool());
    EXPECT_EQ(d["pid"].GetInt(), 7);
}

TEST(WholeStatus, NothingWhenNoReplicaAnswered) {
    EXPECT_FALSE(whole_status({{std::nullopt, "a"}, {std::nullopt, "b"}}));
    EXPECT_FALSE(whole_status({{std::string("not json"), ""}}));
    EXPECT_FALSE(whole_status({}));
}

}  // namespace
