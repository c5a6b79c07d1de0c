// What docker-runtime reports to the host for recorded Engine API events.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "event_stream.hpp"
#include "fixtures.hpp"
#include "runtime_events.hpp"

namespace tunnelmgr::plugins::docker_runtime {
namespace {

using test::fixture;
using test::parse_json;
using docker_engine::parse_event;

std::vector<std::string> recorded_lines() {
    std::vector<std::string> lines;
    std::istringstream in(fixture("events.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

TEST(EventStream, ReportsStartDieConnectButNotExec) {
    const auto lines = recorded_lines();
    auto started = runtime_event_for(*parse_event(lines[0]), "com.supervisor.project");
    ASSERT_TRUE(started);
    EXPECT_EQ(started->first, "container.start");
    auto s = parse_json(started->second);
    EXPECT_STREQ(s["name"].GetString(), "cloudflared");
    EXPECT_STREQ(s["image"].GetString(), "cloudflare/cloudflared:2024.6.1");
    EXPECT_TRUE(s["project"].IsNull());
    EXPECT_EQ(s["time_ms"].GetInt64(), 1714558320123);
    EXPECT_FALSE(s.HasMember("exit_code"));

    auto died = runtime_event_for(*parse_event(lines[1]), "com.supervisor.project");
    ASSERT_TRUE(died);
    EXPECT_EQ(died->first, "container.die");
    auto d = parse_json(died->second);
    EXPECT_EQ(d["exit_code"].GetInt(), 137);
    EXPECT_STREQ(d["project"].GetString(), "consilio");

    auto connected = runtime_event_for(*parse_event(lines[2]), "com.supervisor.project");
    ASSERT_TRUE(connected);
    EXPECT_EQ(connected->first, "network.connect");
    auto c = parse_json(connected->second);
    EXPECT_STREQ(c["network"].GetString(), "edge");
    EXPECT_STREQ(c["container_id"].GetString(), "3333333333333333333333333333333333333333333333333333333333333333");

    EXPECT_FALSE(runtime_event_for(*parse_event(lines[3]), "com.supervisor.project"));
}

}  // namespace
}  // namespace tunnelmgr::plugins::docker_runtime
