// Config reading: good files become values; each mistake names the file, line and key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

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

TEST(config, a_projects_rates_and_quota_are_read_and_default_when_absent) {
    auto cfg = load_string("projects:\n"
                           "  a: { ports: \"80\", rate: { changes_per_minute: 4, checks_per_minute: 120 }, max_hostnames: 0 }\n"
                           "  b: { ports: \"81\", rate: { checks_per_minute: 30 } }\n"
                           "  c: { ports: \"82\" }\n",
                           "limits.yml");
    ASSERT_TRUE(cfg) << cfg.error();
    const auto& a = cfg->projects.at("a");
    EXPECT_EQ(a.rate.changes_per_minute, 4);
    EXPECT_EQ(a.rate.checks_per_minute, 120);
    EXPECT_EQ(a.max_hostnames, 0);
    const auto& b = cfg->projects.at("b");
    EXPECT_EQ(b.rate.changes_per_minute, 10);
    EXPECT_EQ(b.rate.checks_per_minute, 30);
    const auto& c = cfg->projects.at("c");
    EXPECT_EQ(c.rate.changes_per_minute, 10);
    EXPECT_EQ(c.rate.checks_per_minute, 60);
    EXPECT_EQ(c.max_hostnames, 100);
}

TEST(config, the_machine_is_the_state_sections_or_the_host_name) {
    auto named = load_string("state: { plugin: postgres-state, dsn_file: /etc/tunnelmgr/pg.dsn, machine: web-2 }\n"
                             "projects:\n"
                             "  shop: { ports: \"80\", machines: [web-1, web-2] }\n"
                             "  blog: { ports: \"81\" }\n",
                             "machines.yml");
    ASSERT_TRUE(named) << named.error();
    EXPECT_EQ(named->machine, "web-2");
    EXPECT_EQ(named->projects.at("shop").machines, (std::vector<std::string>{"web-1", "web-2"}));
    EXPECT_TRUE(named->projects.at("blog").machines.empty());

    char host[256] = {};
    ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
    auto unnamed = load_string("state: { plugin: sqlite-state, path: /tmp/x.db }\n", "plain.yml");
    ASSERT_TRUE(unnamed) << unnamed.error();
    EXPECT_EQ(unnamed->machine, std::string(host));
    EXPECT_EQ(embedded_default().machine, std::string(host));
}

TEST(config, a_projects_zones_and_name_rule_are_read_folded_and_unset_by_default) {
    auto cfg = load_string("tunnel: { default_domain: example.com }\n"
                           "projects:\n"
                           "  shop:\n"
                           "    ports: \"4000-4099\"\n"
                           "    domains: [Example.COM, example.org., example.com]\n"
                           "    names: { prefix: Shop- }\n"
                           "  tail: { ports: \"81\", domains: example.net, names: { suffix: -tail } }\n"
                           "  any: { ports: \"82\", domains: [\"*\"] }\n"
                           "  plain: { ports: \"83\" }\n",
                           "scope.yml");
    ASSERT_TRUE(cfg) << cfg.error();
    const auto& shop = cfg->projects.at("shop");
    EXPECT_EQ(shop.domains, (std::vector<std::string>{"example.com", "example.org"}));
    EXPECT_EQ(shop.name_prefix, "shop-");
    EXPECT_EQ(shop.name_suffix, "");
    EXPECT_EQ(cfg->projects.at("tail").domains, std::vector<std::string>{"example.net"});
    EXPECT_EQ(cfg->projects.at("tail").name_suffix, "-tail");
    EXPECT_EQ(cfg->projects.at("any").domains, std::vector<std::string>{"*"});
    // Not set: empty, which the pipeline reads as tunnel.default_domain only.
    EXPECT_TRUE(cfg->projects.at("plain").domains.empty());
    EXPECT_TRUE(cfg->projects.at("plain").name_prefix.empty());
    EXPECT_TRUE(cfg->warnings.empty());
}

TEST(config, a_project_with_no_zone_at_all_is_warned_about) {
    auto cfg = load_string("projects:\n  a: { ports: \"80\" }\n  b: { ports: \"81\", domains: [example.com] }\n", "nozone.yml");
    ASSERT_TRUE(cfg) << cfg.error();
    EXPECT_EQ(cfg->warnings, std::vector<std::string>{"nozone.yml: project 'a' may publish in no zone: set "
                                                      "projects.a.domains (or tunnel.default_domain)"});
}

TEST(config, reserved_labels_default_to_the_well_known_names_and_can_be_replaced_or_emptied) {
    auto absent = load_string("state: { plugin: sqlite-state }\n", "r.yml");
    ASSERT_TRUE(absent) << absent.error();
    EXPECT_EQ(absent->reserved_labels, default_reserved_labels());
    for (const char* l : {"www", "mail", "login", "autodiscover", "autoconfig", "wpad", "admin"}) {
        EXPECT_NE(std::find(absent->reserved_labels.begin(), absent->reserved_labels.end(), l), absent->reserved_labels.end()) << l;
    }
    EXPECT_EQ(embedded_default().reserved_labels, default_reserved_labels());
    auto own = load_string("reserved_labels: [WWW, status, www]\n", "r.yml");
    ASSERT_TRUE(own) << own.error();
    EXPECT_EQ(own->reserved_labels, (std::vector<std::string>{"www", "status"}));
    auto none = load_string("reserved_labels: []\n", "r.yml");
    ASSERT_TRUE(none) << none.error();
    EXPECT_TRUE(none->reserved_labels.empty());
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
        bad_case{"projects:\n  a:\n    ports: \"80\"\n    rate: { changes_per_minute: 0 }\n",
                 "bad.yml:4: projects.a.rate.changes_per_minute: '0' must be a whole number from 1 to 10000"},
        bad_case{"projects:\n  a: { ports: \"80\", rate: { checks_per_minute: often } }\n",
                 "bad.yml:2: projects.a.rate.checks_per_minute: 'often' must be a whole number from 1 to 10000"},
        bad_case{"projects:\n  a: { ports: \"80\", rate: { writes_per_minute: 5 } }\n",
                 "projects.a.rate.writes_per_minute: unknown key; the keys allowed here are: changes_per_minute, checks_per_minute"},
        bad_case{"projects:\n  a: { ports: \"80\", rate: 10 }\n", "projects.a.rate: must be a map, e.g. { changes_per_minute: 10"},
        bad_case{"projects:\n  a: { ports: \"80\", max_hostnames: -1 }\n",
                 "bad.yml:2: projects.a.max_hostnames: '-1' must be a whole number from 0 to 1000000"},
        bad_case{"projects:\n  a: { ports: \"80\", quota: 5 }\n", "projects.a.quota: unknown key"},
        bad_case{"projects:\n  a:\n    ports: \"80\"\n    domains: []\n",
                 "bad.yml:4: projects.a.domains: is empty: list at least one zone, e.g. [example.com]"},
        bad_case{"projects:\n  a:\n    ports: \"80\"\n    domains:\n      - example.com\n      - localhost\n",
                 "bad.yml:6: projects.a.domains[1]: 'localhost': is not a zone"},
        bad_case{"projects:\n  a: { ports: \"80\", domains: [exa_mple.com] }\n",
                 "bad.yml:2: projects.a.domains[0]: 'exa_mple.com': 'exa_mple' has the character '_'"},
        bad_case{"projects:\n  a: { ports: \"80\", domains: { example.com: 1 } }\n", "projects.a.domains: must be a list of zones"},
        bad_case{"projects:\n  a: { ports: \"80\", names: shop- }\n", "projects.a.names: must be a map, e.g. { prefix: \"shop-\" }"},
        bad_case{"projects:\n  a: { ports: \"80\", names: { start: shop- } }\n",
                 "projects.a.names.start: unknown key; the keys allowed here are: prefix, suffix"},
        bad_case{"projects:\n  a: { ports: \"80\", names: { prefix: \"-shop\" } }\n",
                 "projects.a.names.prefix: '-shop' starts with '-'"},
        bad_case{"projects:\n  a: { ports: \"80\", names: { suffix: \"shop.\" } }\n",
                 "projects.a.names.suffix: 'shop.' has the character '.'"},
        bad_case{"projects:\n  a: { ports: \"80\", machines: web-1 }\n",
                 "bad.yml:2: projects.a.machines: must be a list of machine names, e.g. [web-1, web-2]"},
        bad_case{"projects:\n  a: { ports: \"80\", machines: [\"web 1\"] }\n",
                 "projects.a.machines[0]: must be a machine name (1 to 253 characters, no spaces or quotes)"},
        bad_case{"reserved_labels: www\n", "bad.yml:1: reserved_labels: must be a list of labels"},
        bad_case{"reserved_labels:\n  - www\n  - mail.example.com\n",
                 "bad.yml:3: reserved_labels[1]: 'mail.example.com' has the character '.'"},
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
    EXPECT_EQ(cfg->projects.at("consilio").rate.changes_per_minute, 10);
    EXPECT_EQ(cfg->projects.at("consilio").rate.checks_per_minute, 60);
    EXPECT_EQ(cfg->projects.at("consilio").max_hostnames, 100);
    EXPECT_EQ(cfg->projects.at("consilio").domains, std::vector<std::string>{"example.com"});
    EXPECT_EQ(cfg->projects.at("consilio").name_prefix, "");
    EXPECT_EQ(cfg->reserved_labels, default_reserved_labels());
}

// yaml-cpp keeps both pairs of a repeated key and answers with the first: the operator's second
// `tunnel:` (or a second `interval:`) would be ignored without a word.
TEST(config, a_key_written_twice_is_refused_naming_both_lines) {
    auto top = load_string("tunnel: { id: a }\nhealth: { strikes: 4 }\ntunnel: { id: b }\n", "dup.yml");
    ASSERT_FALSE(top);
    EXPECT_NE(top.error().find("dup.yml:3: tunnel: written twice (first on line 1)"), std::string::npos) << top.error();
    auto nested = load_string("health:\n  interval: 10s\n  strikes: 3\n  interval: 20s\n", "dup.yml");
    ASSERT_FALSE(nested);
    EXPECT_NE(nested.error().find("dup.yml:4: health.interval: written twice (first on line 2)"), std::string::npos)
        << nested.error();
    auto flow = load_string("projects:\n  a: { ports: \"80\", ports: \"81\" }\n", "dup.yml");
    ASSERT_FALSE(flow);
    EXPECT_NE(flow.error().find("dup.yml:2: projects.a.ports: written twice"), std::string::npos) << flow.error();
}

TEST(config, the_ingress_history_is_bounded_by_default_and_configurable) {
    auto dflt = load_string("tunnel: { id: a }\n", "t.yml");
    ASSERT_TRUE(dflt) << dflt.error();
    EXPECT_EQ(dflt->tunnel.history_keep, 100);
    auto set = load_string("tunnel: { history_keep: 7 }\n", "t.yml");
    ASSERT_TRUE(set) << set.error();
    EXPECT_EQ(set->tunnel.history_keep, 7);
    auto all = load_string("tunnel: { history_keep: 0 }\n", "t.yml");
    ASSERT_TRUE(all) << all.error();
    EXPECT_EQ(all->tunnel.history_keep, 0);
    auto bad = load_string("tunnel:\n  history_keep: lots\n", "t.yml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("t.yml:2: tunnel.history_keep: 'lots' is not a number of versions"), std::string::npos)
        << bad.error();
}

TEST(config, apply_delay_and_the_reconcile_interval_are_read_and_may_be_off) {
    auto none = load_string("state: { plugin: sqlite-state, path: /tmp/s.db }\n", "min.yml");
    ASSERT_TRUE(none) << none.error();
    EXPECT_EQ(none->tunnel.apply_delay, 0ms) << "each change is applied at once unless asked";
    EXPECT_EQ(none->reconcile.interval, 10min);

    auto set = load_string("tunnel: { apply_delay: 2s }\nreconcile: { interval: 30s, repair: repair }\n", "set.yml");
    ASSERT_TRUE(set) << set.error();
    EXPECT_EQ(set->tunnel.apply_delay, 2s);
    EXPECT_EQ(set->reconcile.interval, 30s);
    EXPECT_EQ(set->reconcile.repair, "repair");

    auto off = load_string("tunnel: { apply_delay: off }\nreconcile: { interval: off }\n", "off.yml");
    ASSERT_TRUE(off) << off.error();
    EXPECT_EQ(off->tunnel.apply_delay, 0ms);
    EXPECT_EQ(off->reconcile.interval, 0ms);

    auto long_delay = load_string("tunnel: { apply_delay: 5m }\n", "long.yml");
    ASSERT_FALSE(long_delay);
    EXPECT_NE(long_delay.error().find("long.yml:1: tunnel.apply_delay: must be at most 60s"), std::string::npos)
        << long_delay.error();
    auto too_often = load_string("reconcile: { interval: 200ms }\n", "often.yml");
    ASSERT_FALSE(too_often);
    EXPECT_NE(too_often.error().find("reconcile.interval: must be at least 1s"), std::string::npos) << too_often.error();
}
