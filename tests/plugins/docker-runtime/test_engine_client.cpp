// Version negotiation, answer interpretation and the unreachable-daemon sentence; the last against
// real sockets (a path with nothing on it, and a socket that refuses connections).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "engine_client.hpp"
#include "event_watcher.hpp"
#include "fixtures.hpp"

namespace tunnelmgr::plugins::docker_engine {
namespace {

TEST(ApiVersion, TakesTheLowerOfOursAndTheDaemons) {
    auto debian = negotiate_api_version(docker_runtime::test::fixture("version.json"));
    ASSERT_TRUE(debian);
    EXPECT_EQ(*debian, "1.41");
    EXPECT_EQ(*negotiate_api_version(R"({"ApiVersion":"1.45"})"), "1.41");
    EXPECT_EQ(*negotiate_api_version(R"({"ApiVersion":"1.40"})"), "1.40");
    auto ancient = negotiate_api_version(R"({"ApiVersion":"1.12"})");
    ASSERT_FALSE(ancient);
    EXPECT_EQ(ancient.error().kind, docker_errc::invalid);
    EXPECT_NE(ancient.error().message.find("upgrade Docker"), std::string::npos);
    EXPECT_FALSE(negotiate_api_version("<html>"));
    EXPECT_FALSE(negotiate_api_version(R"({"Version":"20.10"})"));
}

TEST(ApiVersion, ComparesNumerically) {
    EXPECT_LT(compare_api_versions("1.9", "1.41"), 0);
    EXPECT_GT(compare_api_versions("1.41", "1.9"), 0);
    EXPECT_EQ(compare_api_versions("1.41", "1.41"), 0);
    EXPECT_GT(compare_api_versions("2.0", "1.99"), 0);
}

TEST(Answers, MapStatusesToKindsWithTheDaemonsMessage) {
    EXPECT_EQ(*interpret_answer({200, "[]"}, "GET /networks"), "[]");
    EXPECT_TRUE(interpret_answer({204, ""}, "POST /x"));
    auto missing = interpret_answer({404, R"({"message":"No such container: cloudflared"})"}, "GET /containers/cloudflared/json");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, docker_errc::not_found);
    EXPECT_EQ(missing.error().message,
              "the Docker daemon refused GET /containers/cloudflared/json (404): No such container: cloudflared");
    EXPECT_EQ(interpret_answer({409, "{}"}, "x").error().kind, docker_errc::conflict);
    EXPECT_EQ(interpret_answer({400, "{}"}, "x").error().kind, docker_errc::invalid);
    EXPECT_EQ(interpret_answer({500, "oops"}, "x").error().kind, docker_errc::error);
}

TEST(Paths, EncodesQueriesAndChecksContainerNames) {
    EXPECT_EQ(url_encode(R"({"type":["container"]})"), "%7B%22type%22%3A%5B%22container%22%5D%7D");
    EXPECT_TRUE(valid_container_ref("cloudflared"));
    EXPECT_TRUE(valid_container_ref("my_app.web-1"));
    EXPECT_FALSE(valid_container_ref(""));
    EXPECT_FALSE(valid_container_ref("../version"));
    EXPECT_FALSE(valid_container_ref("a/b"));
    EXPECT_FALSE(valid_container_ref("-x"));
}

class Unreachable : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/tmdr-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        if (fd_ >= 0) ::close(fd_);
        std::filesystem::remove_all(dir_);
    }
    // A unix socket that is bound but never listens: connect() gets ECONNREFUSED, as with a dead dockerd.
    std::string refusing_socket() {
        const std::string path = dir_ + "/docker.sock";
        fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        return path;
    }
    std::string dir_;
    int fd_ = -1;
};

TEST_F(Unreachable, MissingSocketIsARetryWithTheFix) {
    engine_client client(dir_ + "/nothing.sock", std::chrono::milliseconds(1000));
    auto r = client.list_networks();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, docker_errc::unreachable);
    EXPECT_EQ(r.error().message, "cannot reach the Docker daemon at " + dir_ +
                                     "/nothing.sock (No such file or directory): is dockerd running, and may this "
                                     "user use the socket?");
}

TEST_F(Unreachable, RefusedSocketIsARetryWithTheFix) {
    const std::string path = refusing_socket();
    engine_client client(path, std::chrono::milliseconds(1000));
    auto r = client.inspect_container("cloudflared");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, docker_errc::unreachable);
    EXPECT_NE(r.error().message.find("(Connection refused): is dockerd running"), std::string::npos) << r.error().message;
}

TEST_F(Unreachable, WatcherKeepsRetryingAndStopsPromptly) {
    std::vector<std::string> logs;
    std::mutex mutex;
    event_watcher watcher(
        refusing_socket(), std::chrono::milliseconds(1000), "%7B%7D", [](const docker_event&) {},
        [&](watch_log_level, std::string_view msg) {
            std::lock_guard<std::mutex> lock(mutex);
            logs.emplace_back(msg);
        });
    watcher.start();  // returns after the first attempt failed
    EXPECT_TRUE(watcher.running());
    {
        std::lock_guard<std::mutex> lock(mutex);
        ASSERT_FALSE(logs.empty());
        EXPECT_NE(logs[0].find("cannot reach the Docker daemon"), std::string::npos) << logs[0];
        EXPECT_NE(logs[0].find("retrying in 500 ms"), std::string::npos) << logs[0];
    }
    watcher.stop();  // in the middle of a backoff: must not wait it out (no timed assertion; a hang fails by timeout)
    EXPECT_FALSE(watcher.running());
    watcher.start();  // restartable
    EXPECT_TRUE(watcher.running());
    watcher.stop();
}

TEST(Backoff, GrowsThenStaysAtThirtySeconds) {
    EXPECT_EQ(event_watcher::backoff_for(0).count(), 500);
    EXPECT_EQ(event_watcher::backoff_for(1).count(), 1000);
    EXPECT_EQ(event_watcher::backoff_for(5).count(), 16000);
    EXPECT_EQ(event_watcher::backoff_for(6).count(), 30000);
    EXPECT_EQ(event_watcher::backoff_for(1000).count(), 30000);
}

}  // namespace
}  // namespace tunnelmgr::plugins::docker_engine
