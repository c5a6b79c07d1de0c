// The audit entry's one codec (sdk/model_audit.hpp): what every writer of the audit log encodes.
#include <gtest/gtest.h>

#include <tunnelmgr/sdk/model_audit.hpp>

using tunnelmgr::sdk::model::audit_entry;
using tunnelmgr::sdk::model::decode_audit_entry;
using tunnelmgr::sdk::model::encode;

TEST(audit_entry, encodes_every_field_in_order_with_details_as_an_object) {
    audit_entry e{"project:alpha", "project", "cname.delete", "app.example.com", "alpha", "denied",
                  "app.example.com is not among the hostnames of project 'alpha'", R"({"origin":"mcp"})"};
    EXPECT_EQ(encode(e),
              R"({"actor":"project:alpha","role":"project","action":"cname.delete","target":"app.example.com",)"
              R"("project":"alpha","result":"denied","error":"app.example.com is not among the hostnames of project 'alpha'",)"
              R"("details":{"origin":"mcp"}})");
}

TEST(audit_entry, details_that_are_not_an_object_become_empty_rather_than_losing_the_entry) {
    for (const char* bad : {"", "not json", "[1,2]", "\"text\""}) {
        audit_entry e{"admin", "admin", "tunnel.restart", "cloudflared", "", "ok", "", bad};
        auto text = encode(e);
        EXPECT_NE(text.find(R"("details":{})"), std::string::npos) << bad << ": " << text;
        auto back = decode_audit_entry(text);
        ASSERT_TRUE(back) << back.error();
        EXPECT_EQ(back->action, "tunnel.restart");
    }
}

TEST(audit_entry, decodes_what_it_encodes_and_ignores_the_stores_id) {
    audit_entry e{"health-loop", "system", "tunnel.status", "cloudflared", "", "down", "connection refused",
                  R"({"from":"up","to":"down","restart_count":2})"};
    std::string row = encode(e);
    EXPECT_EQ(row.find("\"ts\""), std::string::npos) << "no time given: the store sets it";
    EXPECT_EQ(row.find("\"machine\""), std::string::npos);
    row.insert(1, R"("id":7,)");
    auto back = decode_audit_entry(row);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(encode(*back), encode(e));
}

// Since plugin API 1.4 an entry read back keeps its time and machine, so `state copy` can write it
// again as it was.
TEST(audit_entry, the_time_and_machine_read_back_are_written_again) {
    auto back = decode_audit_entry(
        R"({"id":7,"ts":1796184319351,"machine":"web-2","actor":"admin","role":"admin","action":"cname.create",)"
        R"("target":"a.example.com","project":"p","result":"ok","error":"","details":{}})");
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->ts, 1796184319351);
    EXPECT_EQ(back->machine, "web-2");
    const std::string again = encode(*back);
    EXPECT_NE(again.find(R"("ts":1796184319351)"), std::string::npos) << again;
    EXPECT_NE(again.find(R"("machine":"web-2")"), std::string::npos) << again;
    EXPECT_EQ(again.find("\"id\""), std::string::npos) << "the id is the store's own";
}

TEST(audit_entry, a_field_of_the_wrong_type_is_named) {
    auto r = decode_audit_entry(R"({"actor":"admin","result":7})");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("`result` is a number, not a string"), std::string::npos) << r.error();
    auto d = decode_audit_entry(R"({"actor":"admin","details":[1]})");
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().find("`details` is an array, not an object"), std::string::npos) << d.error();
}
