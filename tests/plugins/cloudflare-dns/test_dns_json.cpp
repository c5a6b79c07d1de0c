// The ABI's JSON shapes for zones and records, and the strict reading of a record to create.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "dns_json.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

TEST(DnsJson, RecordsAndZonesInTheAbiShape) {
    dns_record r{"id1", "app.example.com", "CNAME", "t.cfargotunnel.com", true, std::nullopt};
    rapidjson::Document d;
    d.Parse(to_json(r).c_str());
    ASSERT_TRUE(d.IsObject());
    EXPECT_STREQ(d["id"].GetString(), "id1");
    EXPECT_TRUE(d["proxied"].GetBool());
    EXPECT_TRUE(d["comment"].IsNull());
    r.comment = "tunnelmgr:consilio";
    d.Parse(to_json(r).c_str());
    EXPECT_STREQ(d["comment"].GetString(), "tunnelmgr:consilio");

    d.Parse(to_json(std::vector<dns_record>{r, {"id2", "b.example.com", "CNAME", "t.cfargotunnel.com", false, std::nullopt}})
                .c_str());
    ASSERT_TRUE(d.IsArray());
    ASSERT_EQ(d.Size(), 2U);
    EXPECT_STREQ(d[0]["comment"].GetString(), "tunnelmgr:consilio");
    EXPECT_STREQ(d[1]["name"].GetString(), "b.example.com");
    EXPECT_TRUE(d[1]["comment"].IsNull());
    EXPECT_STREQ(to_json(std::vector<dns_record>{}).c_str(), "[]");

    d.Parse(to_json(std::vector<zone_info>{{"z1", "example.com", "active"}}).c_str());
    ASSERT_TRUE(d.IsArray());
    EXPECT_STREQ(d[0]["zone_id"].GetString(), "z1");
    EXPECT_STREQ(d[0]["status"].GetString(), "active");
}

TEST(DnsJson, RecordToCreateIsReadStrictly) {
    auto ok = new_cname_from_json(R"({"name":"App.example.com","content":"t.cfargotunnel.com","comment":"c","type":"CNAME"})");
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(ok->name, "App.example.com");
    EXPECT_EQ(ok->comment, "c");
    for (const char* bad : {R"({"name":"a.example.com"})", R"({"content":"t.cfargotunnel.com"})",
                            R"({"name":"a","content":"b","proxied":false})", R"({"name":"a","content":"b","type":"A"})",
                            R"({"name":1,"content":"b"})", "nope"}) {
        auto r = new_cname_from_json(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, cf_errc::invalid) << bad;
    }
}

}  // namespace
}  // namespace tunnelmgr::plugins::cloudflare_dns
