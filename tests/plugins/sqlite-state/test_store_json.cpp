// The JSON shapes of tm_state_store_v1: parsing checks types and names the field; output round-trips.
#include <string>

#include <gtest/gtest.h>

#include "store_json.hpp"

using namespace tunnelmgr::plugins::sqlite_state;

namespace {

TEST(store_json, cname_row_round_trips) {
    auto row = cname_from_json(
        R"({"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"consilio","port":3100,)"
        R"("target":"http://consilio-web:3100","target_type":"container","container_name":"consilio-web",)"
        R"("docker_network":"web","dns_record_id":"rec1","zone_id":"z1"})");
    ASSERT_TRUE(row.has_value()) << row.error().message;
    EXPECT_EQ(row->port, 3100);
    EXPECT_EQ(row->container_name.value_or(""), "consilio-web");
    const std::string out = to_json(*row);
    auto again = cname_from_json(out);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->docker_network, row->docker_network);
    EXPECT_EQ(again->target, row->target);
}

TEST(store_json, wrong_types_name_the_field) {
    auto r = cname_from_json(R"({"hostname":"a.example.com","port":"3100"})");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, store_errc::invalid);
    EXPECT_NE(r.error().message.find("cname.port must be an integer"), std::string::npos) << r.error().message;

    auto bad = cname_from_json("{not json");
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message.find("not valid JSON"), std::string::npos);
    EXPECT_EQ(cname_from_json("[1]").error().kind, store_errc::invalid);

    auto op = operation_request_from_json(R"({"kind":"rename","hostname":"a.example.com","project":"p"})");
    ASSERT_FALSE(op.has_value());
    EXPECT_NE(op.error().message.find("\"create\", \"delete\" or \"retarget\""), std::string::npos)
        << op.error().message;

    auto snap = docker_snapshot_from_json(R"({"containers":[{"id":"c1","name":"n","ports":[{"container_port":"80"}]}]})");
    ASSERT_FALSE(snap.has_value());
    EXPECT_NE(snap.error().message.find("snapshot.containers[0].ports[0].container_port"), std::string::npos)
        << snap.error().message;
}

TEST(store_json, filters_take_defaults_and_values) {
    auto empty = audit_filter_from_json("{}");
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(empty->limit, 100);
    EXPECT_FALSE(empty->project.has_value());
    auto f = audit_filter_from_json(R"({"project":"consilio","action":"cname.request","since_ms":5,"limit":7})");
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->project.value_or(""), "consilio");
    EXPECT_EQ(f->since_ms.value_or(0), 5);
    EXPECT_EQ(f->limit, 7);
    EXPECT_EQ(health_filter_from_json(R"({"limit":"all"})").error().kind, store_errc::invalid);
}

TEST(store_json, json_columns_come_out_as_json_not_strings) {
    audit_entry e;
    e.actor = "admin";
    e.action = "x";
    e.details_json = R"({"a":[1,2]})";
    const std::string out = to_json(std::vector<audit_entry>{e});
    EXPECT_NE(out.find(R"("details":{"a":[1,2]})"), std::string::npos) << out;
    EXPECT_NE(out.find(R"("role":null)"), std::string::npos) << out;
}

TEST(store_json, snapshot_round_trips) {
    const std::string in =
        R"({"networks":[{"id":"n1","name":"web","driver":"bridge","scope":"local"}],)"
        R"("containers":[{"id":"c1","name":"consilio-web","image":"img","state":"running","project":"consilio",)"
        R"("networks":[{"network":"web","ip":"172.18.0.2","aliases":["web","consilio-web"]}],)"
        R"("ports":[{"container_port":3100,"protocol":"tcp","host_ip":"0.0.0.0","host_port":3100},)"
        R"({"container_port":9000,"protocol":"tcp","host_ip":null,"host_port":null}]}]})";
    auto snap = docker_snapshot_from_json(in);
    ASSERT_TRUE(snap.has_value()) << snap.error().message;
    ASSERT_EQ(snap->containers.size(), 1u);
    EXPECT_EQ(snap->containers[0].networks[0].aliases.size(), 2u);
    EXPECT_FALSE(snap->containers[0].ports[1].host_port.has_value());
    const std::string out = to_json(*snap);
    EXPECT_NE(out.find(R"("aliases":["web","consilio-web"])"), std::string::npos) << out;
    EXPECT_NE(out.find(R"("taken_ms":null)"), std::string::npos) << out;
    EXPECT_TRUE(docker_snapshot_from_json(out).has_value());
}

TEST(store_json, is_json_object_accepts_only_objects) {
    EXPECT_TRUE(is_json_object("{}"));
    EXPECT_TRUE(is_json_object(R"({"a":1})"));
    EXPECT_FALSE(is_json_object("[]"));
    EXPECT_FALSE(is_json_object("1"));
    EXPECT_FALSE(is_json_object("{"));
    EXPECT_FALSE(is_json_object(""));
}

}  // namespace

// Since plugin API 1.4: a given "ts" is read from audit entries and health observations, and a
// shared store's "machine" is written on audit entries only when set.
TEST(store_json, ts_is_read_and_machine_is_written_only_when_set) {
    auto e = audit_entry_from_json(R"({"actor":"admin","action":"a","ts":1600000000123})");
    ASSERT_TRUE(e.has_value()) << e.error().message;
    EXPECT_EQ(e->ts, 1600000000123);
    EXPECT_EQ(audit_entry_from_json(R"({"actor":"admin","action":"a"})")->ts, 0);
    EXPECT_EQ(audit_entry_from_json(R"({"actor":"admin","action":"a","ts":"soon"})").error().kind, store_errc::invalid);
    auto h = health_from_json(R"({"status":"up","ts":1600000000456})");
    ASSERT_TRUE(h.has_value()) << h.error().message;
    EXPECT_EQ(h->ts, 1600000000456);

    audit_entry one;
    one.actor = "admin";
    one.action = "a";
    EXPECT_EQ(to_json(std::vector<audit_entry>{one}).find("machine"), std::string::npos);
    one.machine = "edge-1";
    EXPECT_NE(to_json(std::vector<audit_entry>{one}).find(R"("machine":"edge-1")"), std::string::npos);
}
