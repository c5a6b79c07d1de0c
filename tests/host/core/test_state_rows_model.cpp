// The state rows' codecs (sdk/model_cname.hpp, model_zone.hpp, model_health.hpp), shared by the CNAME
// pipeline, the health loop, the DNS plugin and the state store: byte-exact round trips of what is
// written today, the field named in every shape error, defaults for what is missing.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tunnelmgr/sdk/model.hpp>

namespace model = tunnelmgr::sdk::model;

namespace {

// A row as sqlite-state's cname_get answers it (every key, id first, created_at last).
const std::string stored_row =
    R"({"id":7,"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"consilio",)"
    R"("port":3100,"target":"http://consilio-web:3100","target_type":"container","container_name":"consilio-web",)"
    R"("docker_network":"web","dns_record_id":"rec1","zone_id":"z1","created_at":1700000000000})";

// The row the pipeline hands to operation_commit: no id, no created_at (the store sets them).
const std::string new_row =
    R"({"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"alpha","port":3100,)"
    R"("target":"http://localhost:3100","target_type":"host","container_name":"","docker_network":"",)"
    R"("dns_record_id":"r1","zone_id":"z1"})";

TEST(cname_row_model, a_stored_row_round_trips_byte_for_byte) {
    auto row = model::decode_cname_row(stored_row);
    ASSERT_TRUE(row.has_value()) << row.error();
    EXPECT_EQ(row->id, 7);
    EXPECT_EQ(row->port, 3100);
    EXPECT_EQ(row->container_name.value_or(""), "consilio-web");
    EXPECT_EQ(row->created_at, 1700000000000);
    EXPECT_EQ(model::encode(*row), stored_row);
}

TEST(cname_row_model, a_new_row_round_trips_without_the_stores_keys) {
    auto row = model::decode_cname_row(new_row);
    ASSERT_TRUE(row.has_value()) << row.error();
    EXPECT_FALSE(row->id.has_value());
    EXPECT_FALSE(row->created_at.has_value());
    EXPECT_EQ(row->container_name.value_or("?"), "") << "an empty string is a value, not NULL";
    EXPECT_EQ(model::encode(*row), new_row);
}

TEST(cname_row_model, null_columns_stay_null) {
    const std::string with_nulls =
        R"({"id":1,"hostname":"example.com","subdomain":"","domain":"example.com","project":"p","port":80,)"
        R"("target":"http://localhost:80","target_type":null,"container_name":null,"docker_network":null,)"
        R"("dns_record_id":null,"zone_id":null,"created_at":5})";
    auto row = model::decode_cname_row(with_nulls);
    ASSERT_TRUE(row.has_value()) << row.error();
    EXPECT_FALSE(row->target_type.has_value());
    EXPECT_FALSE(row->zone_id.has_value());
    EXPECT_EQ(model::encode(*row), with_nulls);
}

TEST(cname_row_model, missing_fields_take_their_defaults) {
    auto row = model::decode_cname_row(R"({"hostname":"a.example.com"})");
    ASSERT_TRUE(row.has_value()) << row.error();
    EXPECT_EQ(row->hostname, "a.example.com");
    EXPECT_EQ(row->port, 0);
    EXPECT_EQ(row->project, "");
    EXPECT_FALSE(row->id.has_value());
    EXPECT_FALSE(row->target_type.has_value());
    EXPECT_FALSE(row->dns_record_id.has_value());
    EXPECT_FALSE(row->created_at.has_value());
}

TEST(cname_row_model, wrong_types_name_the_field) {
    EXPECT_EQ(model::decode_cname_row(R"({"port":"3100"})").error(), "`port` is a string, not a whole number");
    EXPECT_EQ(model::decode_cname_row(R"({"port":31.5})").error(), "`port` is a number, not a whole number");
    EXPECT_EQ(model::decode_cname_row(R"({"zone_id":7})").error(), "`zone_id` is a number, not a string");
    EXPECT_EQ(model::decode_cname_row(R"({"hostname":["a"]})").error(), "`hostname` is an array, not a string");
    EXPECT_EQ(model::decode_cname_row(R"({"created_at":"today"})").error(), "`created_at` is a string, not a whole number");
    EXPECT_EQ(model::decode_cname_row("[1]").error(), "the reply is an array, not a JSON object");
    EXPECT_EQ(model::decode_cname_row("{nope").error(), "the reply is not JSON");
}

TEST(cname_row_model, a_row_list_round_trips_and_names_the_element) {
    const std::string list = "[" + stored_row + "," + stored_row + "]";
    auto rows = model::decode_cname_rows(list);
    ASSERT_TRUE(rows.has_value()) << rows.error();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ(model::encode(*rows), list);
    EXPECT_EQ(model::encode(std::vector<model::cname_row>{}), "[]");
    EXPECT_EQ(model::decode_cname_rows(R"([{"port":1},{"port":"x"}])").error(), "`cnames[1].port` is a string, not a whole number");
    EXPECT_EQ(model::decode_cname_rows(R"([{},"x"])").error(), "`cnames[1]` is a string, not an object");
    EXPECT_EQ(model::decode_cname_rows("{}").error(), "the row list is an object, not a JSON array");
}

// What cloudflare-dns's list_zones writes and sqlite-state's domains_list answers.
TEST(zone_model, a_zone_list_round_trips_byte_for_byte) {
    const std::string zones =
        R"([{"zone_id":"z1","name":"example.com","status":"active"},{"zone_id":"z2","name":"example.org","status":null}])";
    auto decoded = model::decode_zones(zones);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    ASSERT_EQ(decoded->size(), 2u);
    EXPECT_EQ((*decoded)[0].status.value_or(""), "active");
    EXPECT_FALSE((*decoded)[1].status.has_value());
    EXPECT_EQ(model::encode(*decoded), zones);
    EXPECT_EQ(model::encode(std::vector<model::zone>{}), "[]");
}

TEST(zone_model, missing_fields_take_their_defaults) {
    auto decoded = model::decode_zones(R"([{"name":"example.com"}])");
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_EQ((*decoded)[0].zone_id, "");
    EXPECT_EQ((*decoded)[0].name, "example.com");
    EXPECT_FALSE((*decoded)[0].status.has_value());
}

TEST(zone_model, wrong_types_name_the_element_and_field) {
    EXPECT_EQ(model::decode_zones(R"([{"zone_id":"z1","name":"a.com"},{"zone_id":"z2","name":5}])").error(),
              "`zones[1].name` is a number, not a string");
    EXPECT_EQ(model::decode_zones(R"([{"status":true}])").error(), "`zones[0].status` is a boolean, not a string");
    EXPECT_EQ(model::decode_zones(R"(["example.com"])").error(), "`zones[0]` is a string, not an object");
    EXPECT_EQ(model::decode_zones(R"({"zones":[]})").error(), "the zone list is an object, not a JSON array");
    EXPECT_EQ(model::decode_zones("[").error(), "the zone list is not JSON");
}

// What the health loop's record() writes.
TEST(health_sample_model, a_sample_round_trips_byte_for_byte) {
    const std::string sample =
        R"({"status":"degraded","ready_connections":0,"restart_count":2,"last_error":"/ready reports 0 connections",)"
        R"("uptime_s":0,"detail":{"failed_checks":3}})";
    auto decoded = model::decode_health_sample(sample);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_EQ(decoded->status, "degraded");
    EXPECT_EQ(decoded->restart_count, 2);
    EXPECT_EQ(decoded->detail, R"({"failed_checks":3})");
    EXPECT_EQ(model::encode(*decoded), sample);
}

TEST(health_sample_model, missing_fields_take_their_defaults_and_encode_as_null) {
    auto decoded = model::decode_health_sample(R"({"status":"unknown","id":4,"ts":99})");
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_FALSE(decoded->ready_connections.has_value());
    EXPECT_FALSE(decoded->last_error.has_value());
    EXPECT_FALSE(decoded->uptime_s.has_value());
    EXPECT_EQ(decoded->detail, "{}");
    EXPECT_EQ(decoded->ts, 99) << "since 1.4 the time read back is kept (state copy)";
    EXPECT_EQ(model::encode(*decoded),
              R"({"status":"unknown","ready_connections":null,"restart_count":null,"last_error":null,"uptime_s":null,"detail":{},"ts":99})");
    decoded->ts = 0;
    EXPECT_EQ(model::encode(*decoded),
              R"({"status":"unknown","ready_connections":null,"restart_count":null,"last_error":null,"uptime_s":null,"detail":{}})")
        << "no time: the store sets it";
}

TEST(health_sample_model, a_detail_that_is_not_an_object_is_written_as_an_empty_one) {
    model::health_sample h;
    h.status = "up";
    h.detail = "[1,2]";
    EXPECT_EQ(model::encode(h),
              R"({"status":"up","ready_connections":null,"restart_count":null,"last_error":null,"uptime_s":null,"detail":{}})");
}

TEST(health_sample_model, wrong_types_name_the_field) {
    EXPECT_EQ(model::decode_health_sample(R"({"status":1})").error(), "`status` is a number, not a string");
    EXPECT_EQ(model::decode_health_sample(R"({"status":"up","uptime_s":"1h"})").error(),
              "`uptime_s` is a string, not a whole number");
    EXPECT_EQ(model::decode_health_sample(R"({"status":"up","ready_connections":true})").error(),
              "`ready_connections` is a boolean, not a whole number");
    EXPECT_EQ(model::decode_health_sample(R"({"status":"up","detail":"x"})").error(), "`detail` is a string, not an object");
    EXPECT_EQ(model::decode_health_sample("7").error(), "the reply is a number, not a JSON object");
}

}  // namespace
