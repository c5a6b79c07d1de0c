// The event stream: lines cut from arbitrary chunks and events parsed from recorded lines. Also
// Docker's timestamps.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "docker_time.hpp"
#include "event_stream.hpp"
#include "fixtures.hpp"

namespace tunnelmgr::plugins::docker_engine {
namespace {

using docker_runtime::test::fixture;

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
}  // namespace tunnelmgr::plugins::docker_engine
