// The supervisor: section: defaults, each key, and a sentence naming the key for each mistake.
#include <gtest/gtest.h>

#include "supervisor_config.hpp"

namespace {

using namespace tunnelmgr::plugins::systemd_supervisor;

TEST(SupervisorConfig, DefaultsWhenEmpty) {
    for (const char* json : {"", "{}", R"({"plugin":"systemd-supervisor"})"}) {
        auto c = parse_supervisor_config(json);
        ASSERT_TRUE(c) << json << ": " << c.error().message;
        ASSERT_EQ(c->units.size(), 1u);
        EXPECT_EQ(c->units[0].name, "cloudflared.service");
        EXPECT_EQ(c->units[0].metrics, "");
        EXPECT_FALSE(c->listed);
        EXPECT_TRUE(c->command_prefix.empty());
        EXPECT_EQ(c->systemctl, "systemctl");
        EXPECT_EQ(c->timeout.count(), 15000);
    }
}

TEST(SupervisorConfig, ReadsEveryKey) {
    auto c = parse_supervisor_config(
        R"({"unit":"cloudflared@main.service","command_prefix":["docker","-H","unix:///x.sock","exec","cf"],
            "systemctl":"/usr/bin/systemctl","timeout_ms":2500})");
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_EQ(c->units.size(), 1u);
    EXPECT_EQ(c->units[0].name, "cloudflared@main.service");
    EXPECT_EQ(c->command_prefix, (std::vector<std::string>{"docker", "-H", "unix:///x.sock", "exec", "cf"}));
    EXPECT_EQ(c->systemctl, "/usr/bin/systemctl");
    EXPECT_EQ(c->timeout.count(), 2500);
}

TEST(SupervisorConfig, RefusesMistakesNamingTheKey) {
    struct bad {
        const char* json;
        const char* key;
    };
    for (const auto& b : {bad{R"({"unit":"--force"})", "supervisor.unit"},
                          bad{R"({"unit":"cloudflared; rm -rf /"})", "supervisor.unit"},
                          bad{R"({"unit":""})", "supervisor.unit"},
                          bad{R"({"unit":5})", "supervisor.unit"},
                          bad{R"({"command_prefix":"sudo -n"})", "supervisor.command_prefix"},
                          bad{R"({"command_prefix":["sudo",""]})", "supervisor.command_prefix"},
                          bad{R"({"command_prefix":["sudo",1]})", "supervisor.command_prefix"},
                          bad{R"({"systemctl":""})", "supervisor.systemctl"},
                          bad{R"({"timeout_ms":5})", "supervisor.timeout_ms"},
                          bad{R"({"timeout_ms":"10s"})", "supervisor.timeout_ms"},
                          bad{R"({"unti":"x.service"})", "supervisor.unti"},
                          bad{R"([1,2])", "mapping"},
                          bad{R"({"unit":)", "not valid JSON"}}) {
        auto c = parse_supervisor_config(b.json);
        ASSERT_FALSE(c) << b.json;
        EXPECT_EQ(c.error().kind, sup_errc::invalid);
        EXPECT_NE(c.error().message.find(b.key), std::string::npos) << b.json << " -> " << c.error().message;
    }
}

TEST(SupervisorConfig, UnitsListsReplicasWithTheirMetrics) {
    auto c = parse_supervisor_config(R"({"units":[{"unit":"cloudflared@1.service","metrics":"127.0.0.1:20241"},
                                                  {"unit":"cloudflared@2.service","metrics":"127.0.0.1:20242"}],
                                         "command_prefix":["sudo","-n"]})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_TRUE(c->listed);
    ASSERT_EQ(c->units.size(), 2u);
    EXPECT_EQ(c->units[0].name, "cloudflared@1.service");
    EXPECT_EQ(c->units[0].metrics, "127.0.0.1:20241");
    EXPECT_EQ(c->units[1].name, "cloudflared@2.service");
    EXPECT_EQ(c->units[1].metrics, "127.0.0.1:20242");
    EXPECT_EQ(unit_setting(*c), "supervisor.units");
    EXPECT_EQ(unit_setting(supervisor_config{}), "supervisor.unit");
}

TEST(SupervisorConfig, UnitsMistakesNameTheEntry) {
    struct bad {
        const char* json;
        const char* says;
    };
    for (const auto& b : {bad{R"({"units":[{"unit":"--force"}]})", "supervisor.units[0].unit must be a systemd unit name"},
                          bad{R"({"units":["cloudflared@1.service"]})", "supervisor.units[0] must be a mapping {unit: NAME"},
                          bad{R"({"units":[{"unit":"a.service","metrics":"127.0.0.1:1"},{"unit":"b.service"}]})",
                              "supervisor.units[1] (b.service) has no metrics address"},
                          bad{R"({"unit":"a.service","units":[{"unit":"b.service"}]})",
                              "supervisor.unit and supervisor.units are both set"},
                          bad{R"({"units":[]})", "supervisor.units must be a list of one or more replicas"}}) {
        auto c = parse_supervisor_config(b.json);
        ASSERT_FALSE(c) << b.json;
        EXPECT_EQ(c.error().kind, sup_errc::invalid);
        EXPECT_NE(c.error().message.find(b.says), std::string::npos) << b.json << " -> " << c.error().message;
    }
}

TEST(SupervisorConfig, UnitNamesFollowSystemdsCharacterSet) {
    EXPECT_TRUE(is_valid_unit_name("cloudflared.service"));
    EXPECT_TRUE(is_valid_unit_name("cloudflared@a-b_c:d.service"));
    EXPECT_TRUE(is_valid_unit_name("cloudflared"));
    EXPECT_FALSE(is_valid_unit_name("-cloudflared.service"));
    EXPECT_FALSE(is_valid_unit_name("cloud flared.service"));
    EXPECT_FALSE(is_valid_unit_name("a/b.service"));
    EXPECT_FALSE(is_valid_unit_name(std::string(256, 'a')));
}

}  // namespace
