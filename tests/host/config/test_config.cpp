// Config reading: good files become values; each mistake names the file, line and key.
#include <gtest/gtest.h>

#include "config/config.hpp"

using namespace tunnelmgr::config;
using namespace std::chrono_literals;

namespace {
const char* full = R"(# a complete config
state:      { plugin: sqlite-state, path: /tmp/x/state.db, busy_timeout_ms: 2500 }
dns:
  plugin: cloudflare-dns
  api_base: https://api.cloudflare.com/client/v4
  account_id: "0123"
  default_domain: example.com
supervisor: { plugin: systemd-supervisor, unit: cloudflared.service }
tunnel:     { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, ingress: local, config_file: /etc/cloudflared/config.yml, metrics: 127.0.0.1:20241 }
health:     { interval: 10s, strikes: 4, backoff: [1s, 2s, 1m] }
projects:
  consilio: { ports: "3100-3199, 8080", token_sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 }
admin:      { token_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }
transport:  { plugin: mcp-stdio }
plugin_dir: /opt/tm/plugins
log: { level: debug }
)";
}  // namespace

TEST(config, reads_every_section) {
    auto cfg = load_string(full, "test.yml");
    ASSERT_TRUE(cfg) << cfg.error();
    EXPECT_EQ(cfg->source, "test.yml");
    ASSERT_NE(cfg->find_slot("state"), nullptr);
    EXPECT_EQ(cfg->find_slot("state")->plugin, "sqlite-state");
    EXPECT_EQ(cfg->find_slot("state")->config_json, R"({"path":"/tmp/x/state.db","busy_timeout_ms":2500})");
    EXPECT_EQ(cfg->find_slot("state")->line, 2);
    // A quoted number stays a string: account ids must not lose their leading zero.
    EXPECT_NE(cfg->find_slot("dns")->config_json.find(R"("account_id":"0123")"), std::string::npos);
    EXPECT_EQ(cfg->find_slot("runtime"), nullptr);
    EXPECT_EQ(cfg->tunnel.id, "6ff42ae2-765d-4adf-8112-31c55c1551ef");
    EXPECT_EQ(cfg->tunnel.metrics, "127.0.0.1:20241");
    EXPECT_EQ(cfg->health.interval, 10s);
    EXPECT_EQ(cfg->health.strikes, 4);
    EXPECT_EQ(cfg->health.backoff, (std::vector<std::chrono::milliseconds>{1s, 2s, 1min}));
    ASSERT_EQ(cfg->projects.count("consilio"), 1u);
    const auto& p = cfg->projects.at("consilio");
    ASSERT_EQ(p.ports.size(), 2u);
    EXPECT_TRUE(p.ports[0].contains(3150));
    EXPECT_FALSE(p.ports[0].contains(3200));
    EXPECT_TRUE(p.ports[1].contains(8080));
    EXPECT_EQ(p.token_sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");  // folded
    EXPECT_EQ(cfg->plugin_dirs, std::vector<std::string>{"/opt/tm/plugins"});
    EXPECT_EQ(cfg->log_level, "debug");
}

TEST(config, defaults_apply_when_sections_are_absent) {
    auto cfg = load_string("state: { plugin: sqlite-state, path: /tmp/s.db }\n", "min.yml");
    ASSERT_TRUE(cfg) << cfg.error();
    EXPECT_EQ(cfg->health.interval, 30s);
    EXPECT_EQ(cfg->health.strikes, 3);
    EXPECT_EQ(cfg->health.backoff, (std::vector<std::chrono::milliseconds>{5s, 15s, 30s, 1min, 5min}));
    EXPECT_EQ(cfg->tunnel.ingress, "local");
    EXPECT_EQ(cfg->plugin_dirs, std::vector<std::string>{default_plugin_dir()});
}

struct bad_case {
    const char* yaml;
    const char* expected;  // a piece of the message, including file:line
};

class config_refuses : public ::testing::TestWithParam<bad_case> {};

TEST_P(config_refuses, naming_file_line_and_key) {
    auto cfg = load_string(GetParam().yaml, "bad.yml");
    ASSERT_FALSE(cfg);
    EXPECT_NE(cfg.error().find(GetParam().expected), std::string::npos) << cfg.error();
}

INSTANTIATE_TEST_SUITE_P(
    mistakes, config_refuses,
    ::testing::Values(
        bad_case{"state: { plugin: sqlite-state }\nstaet: {}\n", "bad.yml:2: staet: unknown key"},
        bad_case{"state: { path: /x }\n", "bad.yml:1: state.plugin: is missing"},
        bad_case{"state: { plugin: Sqlite_State }\n", "state.plugin: 'Sqlite_State' is not a plugin name"},
        bad_case{"health:\n  interval: 30x\n", "bad.yml:2: health.interval: '30x' is not a duration"},
        bad_case{"health: { strikes: 0 }\n", "health.strikes: '0' must be a whole number"},
        bad_case{"health: { backoff: [] }\n", "health.backoff: must be a non-empty list"},
        bad_case{"tunnel: { ingress: sideways }\n", "tunnel.ingress: 'sideways' is not a strategy"},
        bad_case{"tunnel: { metrics: localhost }\n", "tunnel.metrics: 'localhost' is not HOST:PORT"},
        bad_case{"tunnel: { colour: blue }\n", "tunnel.colour: unknown key"},
        bad_case{"projects:\n  a: { ports: \"0-10\" }\n", "bad.yml:2: projects.a.ports: '0-10' is not a port"},
        bad_case{"projects:\n  a: { ports: \"3000-70000\" }\n", "'3000-70000' is not a port"},
        bad_case{"projects:\n  a: { ports: \"90-80\" }\n", "'90-80' is not a port"},
        bad_case{"projects:\n  a: { ports: \"80\", token_sha256: secret }\n", "projects.a.token_sha256: must be the 64 hex"},
        bad_case{"projects:\n  a: {}\n", "projects.a.ports: is missing"},
        bad_case{"projects:\n  'a b': { ports: \"80\" }\n", "a project name may hold"},
        bad_case{"admin: { token_sha256: 1234 }\n", "admin.token_sha256: must be the 64 hex"},
        bad_case{"state: [1, 2\n", "bad.yml:"},
        bad_case{"- a\n- b\n", "must be a map of sections"},
        bad_case{"", "the file is empty"}));

TEST(config, port_ranges_and_durations) {
    auto r = parse_port_ranges(" 80 , 3000-3002,65535");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[1].first, 3000);
    EXPECT_EQ((*r)[1].last, 3002);
    EXPECT_EQ((*r)[2].first, 65535);
    EXPECT_FALSE(parse_port_ranges(""));
    EXPECT_FALSE(parse_port_ranges("65536"));
    EXPECT_FALSE(parse_port_ranges("a-b"));
    EXPECT_EQ(*parse_duration("250ms"), 250ms);
    EXPECT_EQ(*parse_duration("2h"), 2h);
    EXPECT_EQ(*parse_duration("7"), 7s);
    EXPECT_FALSE(parse_duration("1.5s"));
    EXPECT_FALSE(parse_duration("s"));
}

TEST(config, missing_file_says_so) {
    auto cfg = load_file("/nonexistent/tunnelmgr.yml");
    ASSERT_FALSE(cfg);
    EXPECT_NE(cfg.error().find("/nonexistent/tunnelmgr.yml: cannot read the config file"), std::string::npos);
}

TEST(config, embedded_default_has_only_sqlite_state) {
    setenv("TUNNELMGR_STATE_DB", "/tmp/tm-default-test.db", 1);
    auto cfg = embedded_default();
    unsetenv("TUNNELMGR_STATE_DB");
    EXPECT_EQ(cfg.source, "<embedded default>");
    ASSERT_NE(cfg.find_slot("state"), nullptr);
    EXPECT_EQ(cfg.find_slot("state")->plugin, "sqlite-state");
    EXPECT_EQ(cfg.find_slot("state")->config_json, R"({"path":"/tmp/tm-default-test.db"})");
    EXPECT_EQ(cfg.slots.size(), 1u);
}

TEST(config, the_shipped_example_config_is_valid) {
    auto cfg = load_file(std::string(TM_TEST_SOURCE_DIR) + "/packaging/examples/config.yml");
    ASSERT_TRUE(cfg) << cfg.error();
    for (const auto& slot : slot_names()) EXPECT_NE(cfg->find_slot(slot), nullptr) << slot;
    EXPECT_EQ(cfg->projects.at("consilio").ports.front().first, 3100);
}
