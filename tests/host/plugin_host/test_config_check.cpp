// A slot's section checked against its plugin's config_schema(): each mistake one sentence naming the
// file, the YAML line and the key; a broken schema blamed on the plugin; `{}` accepting anything.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/config.hpp"
#include "plugin_host/config_check.hpp"
#include "plugin_host/loader.hpp"

using tunnelmgr::host::check_section;
using tunnelmgr::host::section_origin;

namespace {

// The slot `name` of `yaml` as the host would validate it: the JSON the plugin receives and the lines.
struct section {
    std::string json;
    section_origin origin;
};

section slot_of(const std::string& yaml, const std::string& name) {
    auto cfg = tunnelmgr::config::load_string(yaml, "cfg.yml");
    EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : cfg.error());
    if (!cfg) return {};
    const auto* s = cfg->find_slot(name);
    EXPECT_NE(s, nullptr);
    if (s == nullptr) return {};
    return {s->config_json, {s->source, name, s->key_lines}};
}

std::vector<std::string> problems_of(const std::string& schema, const section& s) {
    auto r = check_section(schema, s.json, s.origin);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error());
    return r ? *r : std::vector<std::string>{};
}

const std::string dns_schema = R"({
  "type": "object",
  "properties": {
    "api_token_file": {"type": "string"},
    "api_token_env": {"type": "string"},
    "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 600000},
    "ingress": {"enum": ["local", "remote"]},
    "retention": {"type": "object", "additionalProperties": false,
                  "properties": {"audit_days": {"type": "integer"}, "health_days": {"type": "integer"}}},
    "names": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
  },
  "required": ["api_token_file"],
  "additionalProperties": false
})";

}  // namespace

TEST(config_check, a_wrong_type_names_the_file_line_and_key) {
    auto s = slot_of("state: { plugin: sqlite-state, path: /tmp/x.db }\n"
                     "dns:\n"
                     "  plugin: cloudflare-dns\n"
                     "  api_token_file: /etc/token\n"
                     "  timeout_ms: soon\n",
                     "dns");
    EXPECT_EQ(problems_of(dns_schema, s),
              std::vector<std::string>{"cfg.yml:5: dns.timeout_ms: must be an integer, got a string (\"soon\")"});
}

TEST(config_check, a_quoted_number_is_a_string_and_an_out_of_range_number_says_the_bound) {
    auto s = slot_of("dns:\n  plugin: p\n  api_token_file: /t\n  timeout_ms: \"5000\"\n", "dns");
    EXPECT_EQ(problems_of(dns_schema, s),
              std::vector<std::string>{"cfg.yml:4: dns.timeout_ms: must be an integer, got a string (\"5000\")"});
    auto low = slot_of("dns:\n  plugin: p\n  api_token_file: /t\n  timeout_ms: 5\n", "dns");
    EXPECT_EQ(problems_of(dns_schema, low),
              std::vector<std::string>{"cfg.yml:4: dns.timeout_ms: must be at least 100, got an integer (5)"});
}

TEST(config_check, a_missing_required_key_is_reported_at_the_section_line) {
    auto s = slot_of("state: { plugin: sqlite-state, path: /tmp/x.db }\n\ndns:\n  plugin: p\n  timeout_ms: 500\n",
                     "dns");
    EXPECT_EQ(problems_of(dns_schema, s),
              std::vector<std::string>{"cfg.yml:3: dns.api_token_file: is required but missing"});
}

TEST(config_check, an_unknown_key_is_refused_when_the_schema_forbids_it_and_names_the_allowed_ones) {
    auto s = slot_of("dns:\n  plugin: p\n  api_token_file: /t\n  tiemout_ms: 500\n", "dns");
    auto p = problems_of(dns_schema, s);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].rfind("cfg.yml:4: dns.tiemout_ms: unknown key; the keys allowed here are: api_token_file, "
                         "api_token_env, timeout_ms",
                         0),
              0u)
        << p[0];
    // Without additionalProperties: false the same key passes.
    EXPECT_TRUE(problems_of(R"({"type":"object","properties":{"timeout_ms":{"type":"integer"}}})", s).empty());
}

TEST(config_check, an_enum_mismatch_lists_the_allowed_values) {
    auto s = slot_of("dns:\n  plugin: p\n  api_token_file: /t\n  ingress: both\n", "dns");
    EXPECT_EQ(problems_of(dns_schema, s),
              std::vector<std::string>{
                  "cfg.yml:4: dns.ingress: must be one of \"local\" or \"remote\", got a string (\"both\")"});
}

TEST(config_check, nested_keys_and_list_entries_get_their_own_lines) {
    auto s = slot_of("dns:\n"
                     "  plugin: p\n"
                     "  api_token_file: /t\n"
                     "  retention:\n"
                     "    health_days: 3\n"
                     "    audit_days: forever\n"
                     "    weekly: 1\n"
                     "  names:\n"
                     "    - cloudflared\n"
                     "    - \"\"\n",
                     "dns");
    EXPECT_EQ(problems_of(dns_schema, s),
              (std::vector<std::string>{
                  "cfg.yml:6: dns.retention.audit_days: must be an integer, got a string (\"forever\")",
                  "cfg.yml:7: dns.retention.weekly: unknown key; the keys allowed here are: audit_days, health_days",
                  "cfg.yml:10: dns.names[1]: must not be empty"}));
}

TEST(config_check, every_mistake_is_reported_not_just_the_first) {
    auto s = slot_of("dns:\n  plugin: p\n  timeout_ms: soon\n  ingress: both\n  extra: 1\n", "dns");
    auto p = problems_of(dns_schema, s);
    ASSERT_EQ(p.size(), 4u) << ::testing::PrintToString(p);
    EXPECT_EQ(p[0].rfind("cfg.yml:3: dns.timeout_ms:", 0), 0u);
    EXPECT_EQ(p[1].rfind("cfg.yml:4: dns.ingress:", 0), 0u);
    EXPECT_EQ(p[2].rfind("cfg.yml:5: dns.extra: unknown key", 0), 0u);
    EXPECT_EQ(p[3], "cfg.yml:1: dns.api_token_file: is required but missing");
}

TEST(config_check, a_oneof_of_required_keys_is_put_in_words) {
    const std::string schema = R"({"type":"object",
      "properties":{"api_token_file":{"type":"string"},"api_token_env":{"type":"string"}},
      "oneOf":[{"required":["api_token_file"]},{"required":["api_token_env"]}]})";
    auto none = slot_of("dns:\n  plugin: p\n", "dns");
    EXPECT_EQ(problems_of(schema, none),
              std::vector<std::string>{"cfg.yml:1: dns: needs exactly one of api_token_file and api_token_env"});
    auto both = slot_of("dns:\n  plugin: p\n  api_token_file: /t\n  api_token_env: CF\n", "dns");
    EXPECT_EQ(problems_of(schema, both),
              std::vector<std::string>{"cfg.yml:1: dns: give only one of api_token_file and api_token_env, not several"});
    // A token key of the wrong type is one sentence, not two.
    auto wrong = slot_of("dns:\n  plugin: p\n  api_token_file: [a]\n", "dns");
    EXPECT_EQ(problems_of(schema, wrong),
              std::vector<std::string>{"cfg.yml:3: dns.api_token_file: must be a string, got a list"});
}

TEST(config_check, a_pattern_mismatch_shows_the_value) {
    const std::string schema = R"({"type":"object","properties":{"account_id":{"type":"string","pattern":"^[0-9a-fA-F]{32}$"}}})";
    auto s = slot_of("dns:\n  plugin: p\n  account_id: nope\n", "dns");
    auto p = problems_of(schema, s);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].rfind("cfg.yml:3: dns.account_id: a string (\"nope\") does not have the expected form", 0), 0u) << p[0];
    auto ok = slot_of("dns:\n  plugin: p\n  account_id: 0123456789abcdef0123456789ABCDEF\n", "dns");
    EXPECT_TRUE(problems_of(schema, ok).empty());
}

TEST(config_check, a_broken_schema_is_the_plugins_fault) {
    auto s = slot_of("dns:\n  plugin: p\n  timeout_ms: 5\n", "dns");
    for (const std::string schema : {std::string("{\"type\": \"object\""), std::string("[1, 2]"),
                                     std::string(R"({"type": "strnig"})"),
                                     std::string(R"({"properties": {"timeout_ms": 5}})"),
                                     std::string(R"({"properties": {"timeout_ms": {"pattern": "(["}}})"),
                                     std::string(R"({"required": "timeout_ms"})"),
                                     std::string(R"({"$ref": "#/definitions/missing"})")}) {
        auto r = check_section(schema, s.json, s.origin);
        ASSERT_FALSE(r.has_value()) << schema;
        EXPECT_EQ(r.error().rfind("its config_schema() is broken: ", 0), 0u) << r.error();
        EXPECT_NE(r.error().find("fault in the plugin, not in the config"), std::string::npos) << r.error();
    }
}

TEST(config_check, an_empty_schema_accepts_anything) {
    auto s = slot_of("dns:\n  plugin: p\n  timeout_ms: soon\n  whatever: [1, {a: b}]\n", "dns");
    for (const std::string schema : {std::string("{}"), std::string(""), std::string("  \n"), std::string("true"),
                                     std::string(R"({"type":"object"})")}) {
        auto r = check_section(schema, s.json, s.origin);
        ASSERT_TRUE(r.has_value()) << schema << ": " << r.error();
        EXPECT_TRUE(r->empty()) << schema;
    }
}

TEST(config_check, a_section_from_no_file_is_named_without_a_line) {
    auto r = check_section(R"({"required":["path"]})", "{}", section_origin{"<embedded default>", "state", {}});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, std::vector<std::string>{"<embedded default>: state.path: is required but missing"});
}

// Each stock plugin's own schema: usable, satisfied by the example config the README points at, and
// refusing what the plugin's own parser refuses.
TEST(config_check, stock_schemas_accept_the_example_config_and_refuse_what_their_parsers_refuse) {
    const std::string plugin_dir = std::string(TM_TEST_BINARY_DIR) + "/plugins";
    auto cfg = tunnelmgr::config::load_file(std::string(TM_TEST_SOURCE_DIR) + "/packaging/examples/config.yml");
    ASSERT_TRUE(cfg.has_value()) << cfg.error();
    int checked = 0;
    for (const auto& [slot, sc] : cfg->slots) {
        auto path = std::filesystem::path(plugin_dir) / (sc.plugin + ".so");
        if (!std::filesystem::exists(path)) continue;
        auto lib = tunnelmgr::host::load_library(path);
        ASSERT_TRUE(lib.has_value()) << lib.error().line();
        auto r = check_section((*lib)->config_schema, sc.config_json, {sc.source, slot, sc.key_lines});
        ASSERT_TRUE(r.has_value()) << sc.plugin << ": " << r.error();
        EXPECT_TRUE(r->empty()) << sc.plugin << ": " << ::testing::PrintToString(*r);
        // What the host adds itself (the runtime's project names) passes too.
        if (slot == "runtime") {
            auto with_projects = check_section((*lib)->config_schema, R"({"socket":"/s","projects":["consilio"]})",
                                               {sc.source, slot, sc.key_lines});
            ASSERT_TRUE(with_projects.has_value());
            EXPECT_TRUE(with_projects->empty()) << ::testing::PrintToString(*with_projects);
        }
        // Every stock parser refuses unknown keys: so does every stock schema.
        auto unknown = check_section((*lib)->config_schema, R"({"api_token_env":"CF","path":"/x","no_such_key":1})",
                                     {"cfg.yml", slot, {}});
        ASSERT_TRUE(unknown.has_value());
        bool named = false;
        for (const auto& p : *unknown) named = named || p.find(slot + ".no_such_key: unknown key") != std::string::npos;
        EXPECT_TRUE(named) << sc.plugin << ": " << ::testing::PrintToString(*unknown);
        ++checked;
    }
    if (checked == 0) GTEST_SKIP() << "no stock plugin built in " << plugin_dir;
    // Bounds the parsers enforce.
    auto dns = std::filesystem::path(plugin_dir) / "cloudflare-dns.so";
    if (std::filesystem::exists(dns)) {
        auto lib = tunnelmgr::host::load_library(dns);
        ASSERT_TRUE(lib.has_value());
        auto bad = check_section((*lib)->config_schema,
                                 R"({"api_token_env":"CF","api_base":"http://example.com","timeout_ms":50})",
                                 {"cfg.yml", "dns", {}});
        ASSERT_TRUE(bad.has_value());
        EXPECT_EQ(bad->size(), 2u) << ::testing::PrintToString(*bad);
        // The loopback fake may raise the budget past Cloudflare's 1200.
        auto fake = check_section((*lib)->config_schema,
                                  R"({"api_token_env":"CF","api_base":"http://127.0.0.1:8080/client/v4","budget_per_5min":1000000})",
                                  {"cfg.yml", "dns", {}});
        ASSERT_TRUE(fake.has_value());
        EXPECT_TRUE(fake->empty()) << ::testing::PrintToString(*fake);
    }
}

// The host's own key for the default zone, and the old one in the dns section still read with a warning.
TEST(config_default_domain, tunnel_default_domain_is_the_hosts_key) {
    auto cfg = tunnelmgr::config::load_string("tunnel:\n  id: t\n  default_domain: example.com\n", "cfg.yml");
    ASSERT_TRUE(cfg.has_value()) << cfg.error();
    EXPECT_EQ(cfg->tunnel.default_domain, "example.com");
    EXPECT_TRUE(cfg->warnings.empty());
}

TEST(config_default_domain, the_old_dns_key_still_works_with_one_warning) {
    auto cfg = tunnelmgr::config::load_string(
        "dns:\n  plugin: cloudflare-dns\n  api_token_file: /t\n  default_domain: old.example\n", "cfg.yml");
    ASSERT_TRUE(cfg.has_value()) << cfg.error();
    EXPECT_EQ(cfg->tunnel.default_domain, "old.example");
    EXPECT_EQ(cfg->warnings,
              std::vector<std::string>{"cfg.yml:4: dns.default_domain is deprecated: move it to tunnel.default_domain"});
    auto both = tunnelmgr::config::load_string("tunnel: { default_domain: new.example }\n"
                                               "dns: { plugin: cloudflare-dns, default_domain: old.example }\n",
                                               "cfg.yml");
    ASSERT_TRUE(both.has_value()) << both.error();
    EXPECT_EQ(both->tunnel.default_domain, "new.example");
    ASSERT_EQ(both->warnings.size(), 1u);
    EXPECT_NE(both->warnings[0].find("ignored: tunnel.default_domain is set"), std::string::npos);
}
