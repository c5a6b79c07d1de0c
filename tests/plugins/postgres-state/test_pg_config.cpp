// The postgres-state config section: defaults, ranges, and the refusals that keep the connection
// string and its password out of config.yml.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "pg_config.hpp"

using namespace tunnelmgr::plugins::postgres_state;

TEST(pg_config, takes_defaults_and_the_host_name_as_machine) {
    auto c = parse_pg_config(R"({"plugin":"postgres-state","dsn_file":"/etc/tunnelmgr/postgres.dsn"})");
    ASSERT_TRUE(c.has_value()) << c.error();
    EXPECT_EQ(c->dsn_file, "/etc/tunnelmgr/postgres.dsn");
    EXPECT_EQ(c->machine, system_host_name());
    EXPECT_FALSE(c->machine.empty());
    EXPECT_EQ(c->pool_size, 4);
    EXPECT_EQ(c->connect_timeout_ms, 5000);
    EXPECT_EQ(c->health_days, 30);
    EXPECT_EQ(c->audit_days, 365);
    EXPECT_TRUE(c->prepared_statements);
}

TEST(pg_config, reads_every_key) {
    auto c = parse_pg_config(R"({"dsn_file":"/x","machine":"edge-2","pool_size":8,"connect_timeout_ms":2000,
                                 "retention":{"health_days":7,"audit_days":0}})");
    ASSERT_TRUE(c.has_value()) << c.error();
    EXPECT_EQ(c->machine, "edge-2");
    EXPECT_EQ(c->pool_size, 8);
    EXPECT_EQ(c->connect_timeout_ms, 2000);
    EXPECT_EQ(c->health_days, 7);
    EXPECT_EQ(c->audit_days, 0);
    EXPECT_TRUE(c->prepared_statements);
}

TEST(pg_config, prepared_statements_can_be_turned_off_for_a_pooler_and_must_be_a_boolean) {
    auto off = parse_pg_config(R"({"dsn_file":"/x","prepared_statements":false})");
    ASSERT_TRUE(off.has_value()) << off.error();
    EXPECT_FALSE(off->prepared_statements);
    auto bad = parse_pg_config(R"({"dsn_file":"/x","prepared_statements":"no"})");
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().find("state.prepared_statements must be true or false"), std::string::npos) << bad.error();
    EXPECT_NE(bad.error().find("PgBouncer"), std::string::npos) << bad.error();
}

TEST(pg_config, refuses_a_connection_string_or_password_in_the_config_saying_to_use_dsn_file) {
    for (const char* key : {"dsn", "password"}) {
        auto c = parse_pg_config(std::string(R"({"dsn_file":"/x",")") + key + R"(":"host=db password=hunter2"})");
        ASSERT_FALSE(c.has_value()) << key;
        EXPECT_NE(c.error().find(std::string("state.") + key + " is not accepted"), std::string::npos) << c.error();
        EXPECT_NE(c.error().find("state.dsn_file"), std::string::npos) << c.error();
        EXPECT_EQ(c.error().find("hunter2"), std::string::npos) << c.error();
    }
}

TEST(pg_config, refuses_missing_dsn_file_unknown_keys_and_out_of_range_values) {
    EXPECT_NE(parse_pg_config("{}").error().find("state.dsn_file is required"), std::string::npos);
    EXPECT_NE(parse_pg_config(R"({"dsn_file":"/x","path":"/y"})").error().find("state.path is not a postgres-state setting"),
              std::string::npos);
    EXPECT_NE(parse_pg_config(R"({"dsn_file":"/x","pool_size":0})").error().find("state.pool_size must be a whole number from 1 to 64"),
              std::string::npos);
    EXPECT_NE(parse_pg_config(R"({"dsn_file":"/x","pool_size":65})").error().find("from 1 to 64"), std::string::npos);
    EXPECT_NE(parse_pg_config(R"({"dsn_file":"/x","machine":""})").error().find("state.machine"), std::string::npos);
    EXPECT_NE(parse_pg_config(R"({"dsn_file":"/x","retention":{"days":3}})").error().find("state.retention.days"),
              std::string::npos);
    EXPECT_FALSE(parse_pg_config("not json").has_value());
}

TEST(pg_config, the_schema_is_json_and_requires_dsn_file) {
    rapidjson::Document d;
    d.Parse(pg_config_schema);
    ASSERT_FALSE(d.HasParseError());
    ASSERT_TRUE(d.IsObject());
    EXPECT_STREQ(d["required"][0].GetString(), "dsn_file");
    EXPECT_TRUE(d["properties"].HasMember("retention"));
    EXPECT_TRUE(d["properties"].HasMember("machine"));
    EXPECT_FALSE(d["properties"].HasMember("password"));
}

TEST(pg_config, read_dsn_trims_and_names_only_the_file) {
    const auto dir = std::filesystem::temp_directory_path() / ("tm-pg-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = (dir / "dsn").string();
    std::ofstream(file) << "  host=/tmp/x dbname=tunnelmgr user=tm password=s3cret\n";
    EXPECT_EQ(read_dsn(file).value(), "host=/tmp/x dbname=tunnelmgr user=tm password=s3cret");
    std::ofstream(file) << "\n  \n";
    auto empty = read_dsn(file);
    ASSERT_FALSE(empty.has_value());
    EXPECT_NE(empty.error().message.find("the dsn_file " + file + " is empty"), std::string::npos);
    auto missing = read_dsn((dir / "nope").string());
    ASSERT_FALSE(missing.has_value());
    EXPECT_NE(missing.error().message.find("cannot read the dsn_file"), std::string::npos);
    std::filesystem::remove_all(dir);
}
