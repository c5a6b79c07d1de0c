// The docker-runtime config section: defaults, every key, and refusals that name the key.
#include <gtest/gtest.h>

#include "runtime_config.hpp"

namespace tunnelmgr::plugins::docker_runtime {
namespace {

TEST(RuntimeConfig, Defaults) {
    auto c = parse_runtime_config(R"({"plugin":"docker-runtime"})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->socket, "/var/run/docker.sock");
    EXPECT_EQ(c->timeout.count(), 5000);
    EXPECT_EQ(c->snapshot.project_label, "com.supervisor.project");
    EXPECT_EQ(c->snapshot.cloudflared_names, std::vector<std::string>{"cloudflared"});
    EXPECT_TRUE(c->snapshot.projects.empty());
}

TEST(RuntimeConfig, EveryKey) {
    auto c = parse_runtime_config(R"({"socket":"/run/user/1000/docker.sock","timeout_ms":250,"project_label":"x.project",
                                      "cloudflared_names":["cloudflared","tunnel"],"projects":["alpha","beta"]})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->socket, "/run/user/1000/docker.sock");
    EXPECT_EQ(c->timeout.count(), 250);
    EXPECT_EQ(c->snapshot.project_label, "x.project");
    EXPECT_EQ(c->snapshot.cloudflared_names, (std::vector<std::string>{"cloudflared", "tunnel"}));
    EXPECT_EQ(c->snapshot.projects, (std::vector<std::string>{"alpha", "beta"}));
}

TEST(RuntimeConfig, RefusalsNameTheKey) {
    struct bad {
        const char* json;
        const char* names;
    };
    for (const auto& b : {bad{R"({"sokcet":"/x"})", "runtime.sokcet is not a docker-runtime setting"},
                          bad{R"({"socket":"docker.sock"})", "runtime.socket must be the absolute path"},
                          bad{R"({"timeout_ms":5})", "runtime.timeout_ms must be"},
                          bad{R"({"project_label":""})", "runtime.project_label"},
                          bad{R"({"cloudflared_names":[]})", "runtime.cloudflared_names"},
                          bad{R"({"projects":["a",3]})", "runtime.projects"},
                          bad{"[]", "must be a JSON object"}}) {
        auto c = parse_runtime_config(b.json);
        ASSERT_FALSE(c) << b.json;
        EXPECT_EQ(c.error().kind, docker_engine::docker_errc::invalid);
        EXPECT_NE(c.error().message.find(b.names), std::string::npos) << c.error().message;
    }
}

}  // namespace
}  // namespace tunnelmgr::plugins::docker_runtime
