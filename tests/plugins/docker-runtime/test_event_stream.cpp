// The event stream: lines cut from arbitrary chunks, events parsed from recorded lines, and what
// docker-runtime reports for them. Also Docker's timestamps.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "docker_time.hpp"
#include "event_stream.hpp"
#include "fixtures.hpp"

namespace tunnelmgr::plugins::docker_runtime {
namespace {

using test::fixture;
using test::parse_json;

std::vector<std::string> recorded_lines() {
    std::vector<std::string> lines;
    std::istringstream in(fixture("events.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

TEST(LineSplitter, SameLinesWhateverTheChunking) {
    const std::string stream = fixture("events.jsonl");
    for (size_t chunk : {size_t(1), size_t(7), size_t(100), stream.size()}) {
        line_splitter splitter;
        std::vector<std::string> lines;
        for (size_t i = 0; i < stream.size(); i += chunk) {
            splitter.feed(std::string_view(stream).substr(i, chunk), [&](std::string_view l) { lines.emplace_back(l); });
        }
        EXPECT_EQ(lines, recorded_lines()) << "chunk " << chunk;
        EXPECT_EQ(splitter.pending(), 0u);
    }
}

TEST(LineSplitter, KeepsAnUnfinishedLineAndDropsOverlongOnes) {
    line_splitter splitter(16);
    std::vector<std::string> lines;
    auto sink = [&](std::string_view l) { lines.emplace_back(l); };
    splitter.feed("short\r\n\nthis line is far too long for", sink);
    splitter.feed(" the limit\nok", sink);
    EXPECT_EQ(lines, (std::vector<std::string>{"short"}));
    EXPECT_EQ(splitter.pending(), 2u);
    splitter.feed("\n", sink);
    EXPECT_EQ(lines, (std::vector<std::string>{"short", "ok"}));
}

TEST(EventStream, ParsesContainerAndNetworkEvents) {
    const auto lines = recorded_lines();
    auto start = parse_event(lines[0]);
    ASSERT_TRUE(start);
    EXPECT_EQ(start->type, "container");
    EXPECT_EQ(start->action, "start");
    EXPECT_EQ(start->attribute("name"), "cloudflared");
    EXPECT_EQ(start->time_nano, 1714558320123456789);
    EXPECT_EQ(start->time_ms(), 1714558320123);

    auto connect = parse_event(lines[2]);
    ASSERT_TRUE(connect);
    EXPECT_EQ(connect->type, "network");
    EXPECT_EQ(connect->actor_id, "7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99");
    EXPECT_EQ(connect->attribute("container"), "3333333333333333333333333333333333333333333333333333333333333333");

    EXPECT_FALSE(parse_event("garbage"));
    EXPECT_FALSE(parse_event(R"({"status":"start"})"));  // pre-1.22 shape: no Type/Action
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

TEST(DockerTime, Rfc3339ToUnixMilliseconds) {
    EXPECT_EQ(rfc3339_to_unix_ms("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(rfc3339_to_unix_ms("2024-05-01T10:10:01.250000000Z"), 1714558201250);
    EXPECT_EQ(rfc3339_to_unix_ms("2024-05-01T10:10:01Z"), 1714558201000);
    EXPECT_EQ(rfc3339_to_unix_ms("2024-05-01T12:10:01.5+02:00"), 1714558201500);
    EXPECT_FALSE(rfc3339_to_unix_ms("0001-01-01T00:00:00Z"));  // Go's zero time: never
    EXPECT_FALSE(rfc3339_to_unix_ms(""));
    EXPECT_FALSE(rfc3339_to_unix_ms("2024-05-01 garbage"));
}

}  // namespace
}  // namespace tunnelmgr::plugins::docker_runtime
