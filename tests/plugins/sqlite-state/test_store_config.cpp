// parse_store_config: defaults, every key, and a sentence naming the key for each kind of mistake.
#include <string>

#include <gtest/gtest.h>

#include "store_config.hpp"

using tunnelmgr::plugins::sqlite_state::parse_store_config;
using tunnelmgr::plugins::sqlite_state::store_config_schema;

namespace {

std::string error_of(const std::string& json) {
    auto c = parse_store_config(json);
    EXPECT_FALSE(c.has_value()) << json;
    return c ? std::string() : c.error();
}

TEST(store_config, path_alone_takes_the_defaults) {
    auto c = parse_store_config(R"({"plugin":"sqlite-state","path":"/var/lib/tunnelmgr/state.db"})");
    ASSERT_TRUE(c.has_value()) << c.error();
    EXPECT_EQ(c->path, "/var/lib/tunnelmgr/state.db");
    EXPECT_EQ(c->busy_timeout_ms, 5000);
    EXPECT_EQ(c->health_days, 30);
    EXPECT_EQ(c->audit_days, 365);
}

TEST(store_config, reads_every_key) {
    auto c = parse_store_config(
        R"({"path":"/tmp/s.db","busy_timeout_ms":250,"retention":{"health_days":7,"audit_days":0}})");
    ASSERT_TRUE(c.has_value()) << c.error();
    EXPECT_EQ(c->busy_timeout_ms, 250);
    EXPECT_EQ(c->health_days, 7);
    EXPECT_EQ(c->audit_days, 0);
}

TEST(store_config, mistakes_name_the_key_and_the_fix) {
    EXPECT_NE(error_of("{}").find("state.path is required"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":""})").find("state.path"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":42})").find("state.path"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","busy_timeout_ms":"5s"})").find("state.busy_timeout_ms must be a whole number"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","busy_timeout_ms":-1})").find("state.busy_timeout_ms"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","busy_timeout":5})").find("state.busy_timeout is not a sqlite-state setting"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","retention":7})").find("state.retention must be an object"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","retention":{"health_days":1.5}})").find("state.retention.health_days"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","retention":{"days":3}})").find("state.retention.days"), std::string::npos);
    EXPECT_NE(error_of("not json").find("JSON object"), std::string::npos);
}

TEST(store_config, schema_describes_the_same_keys) {
    const std::string schema = store_config_schema;
    for (const char* key : {"\"path\"", "\"busy_timeout_ms\"", "\"retention\"", "\"health_days\"", "\"audit_days\"",
                            "\"required\": [\"path\"]", "2020-12"}) {
        EXPECT_NE(schema.find(key), std::string::npos) << key;
    }
}

}  // namespace
