// The dns_provider_v1 conformance suite: the rules of the tm_dns_provider_v1 table in plugin_api.h,
// checked against whatever DNS API the plugin is configured for. Safe on a real account: it writes only
// tm-check-<tag>.<zone> records under the zone given with --dns-zone, deletes only records it created
// (by id, with their comment), and puts tunnel ingress only to a tunnel id it made up.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "plugin_check/broken_rules.hpp"
#include "plugin_check/check_context.hpp"
#include "plugin_check/dns_calls.hpp"

namespace tunnelmgr::plugin_check {
namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// DNS names compare case-insensitively; an API may or may not keep a trailing dot.
bool same_name(std::string a, std::string b) {
    while (!a.empty() && a.back() == '.') a.pop_back();
    while (!b.empty() && b.back() == '.') b.pop_back();
    return lower(a) == lower(b);
}

// A random UUID (version 4): a tunnel id no real account has, so a check that writes a tunnel's
// configuration can never touch a real tunnel.
std::string made_up_uuid() {
    static std::mt19937_64 rng{std::random_device{}()};
    const unsigned long long a = rng(), b = rng();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-%04llx-%012llx", (a >> 32) & 0xffffffffULL,
                  (a >> 16) & 0xffffULL, a & 0xfffULL, 0x8000ULL | ((b >> 48) & 0x3fffULL), b & 0xffffffffffffULL);
    return buf;
}

std::string cname_record_json(const std::string& name, const std::string& content, const std::string& comment) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("name");
    w.String(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.Key("content");
    w.String(content.c_str(), static_cast<rapidjson::SizeType>(content.size()));
    w.Key("comment");
    w.String(comment.c_str(), static_cast<rapidjson::SizeType>(comment.size()));
    w.EndObject();
    return buffer.GetString();
}

std::string compact(const rapidjson::Value& v) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    v.Accept(w);
    return buffer.GetString();
}

bool bool_member(const rapidjson::Value& v, const char* key, bool fallback) {
    if (!v.IsObject()) return fallback;
    auto it = v.FindMember(key);
    return it != v.MemberEnd() && it->value.IsBool() ? it->value.GetBool() : fallback;
}

const std::string last_error_rule =
    "every call that does not return TM_OK must leave a sentence in last_error()";

class dns_provider_v1 : public ::testing::Test {
protected:
    // A record the suite created, deleted again in TearDown whatever the test's outcome.
    struct created {
        std::string name, id, comment;
    };

    void SetUp() override {
        if (!context().library || !context().library->has_dns) GTEST_SKIP() << "the plugin provides no dns_provider_v1";
        if (context().dns_zone.empty()) {
            GTEST_SKIP() << "dns_provider_v1 needs a zone to write in: give --dns-zone NAME (a zone the plugin's "
                            "credentials can edit; the checks create only tm-check-*.NAME records there and delete "
                            "only those)";
        }
        zone_ = context().dns_zone;
        const std::string config = expand_config(context().config_template, scratch_.path());
        auto inst = start_instance(config);
        ASSERT_TRUE(inst.has_value()) << (inst ? "" : inst.error()) << "\n  config: " << config
                                      << rule("init must accept the provider's config and return an instance (pass "
                                              "the config your provider needs with --config)");
        inst_ = std::move(*inst);
        dns_ = std::make_unique<dns_calls>(*inst_);
        tag_ = unique_tag();
        content_ = made_up_uuid() + ".cfargotunnel.com";
        comment_ = "tunnelmgr-plugin-check " + tag_;

        auto zones = dns().list_zones();
        ASSERT_TRUE(zones.ok()) << "list_zones " << zones.describe() << rule("list_zones must succeed");
        auto d = parse_json(zones.json);
        if (d.IsArray()) {
            for (const auto& z : d.GetArray()) {
                if (same_name(str_member(z, "name"), zone_)) zone_id_ = str_member(z, "zone_id");
            }
        }
        ASSERT_FALSE(zone_id_.empty()) << "list_zones replied " << zones.json << "\n  --dns-zone " << zone_
                                       << " is not in it with a \"zone_id\" (check the name, and that the "
                                          "credentials can see that zone)"
                                       << rule("list_zones must list every zone the credentials can see, each with "
                                               "a string \"zone_id\" and \"name\"");
    }

    void TearDown() override {
        if (!dns_) return;
        for (const auto& r : created_) {
            std::string id = r.id;
            if (id.empty()) {  // created, but the reply had no id: find it by name, and only if it is ours
                auto found = dns().find_record(zone_id_, r.name);
                if (!found.ok()) continue;
                auto d = parse_json(found.json);
                if (str_member(d, "comment") != r.comment) continue;
                id = str_member(d, "id");
            }
            auto del = dns().delete_record(zone_id_, id, r.comment);
            if (!del.ok() && del.rc != TM_NOT_FOUND) {
                std::cerr << "tunnelmgr-plugin-check: could not remove the check's record " << r.name << " (id " << id
                          << ") in zone " << zone_ << ": " << del.describe() << "; remove it by hand\n";
                ADD_FAILURE() << "delete_record(" << id << ") of the check's own record " << r.name << " "
                              << del.describe()
                              << rule("delete_record must delete a record whose comment equals expected_comment");
            }
        }
    }

    dns_calls& dns() { return *dns_; }
    // A name under the check zone that no one else uses: tm-check-<word>-<pid>x<ms>x<n>.<zone>.
    std::string name(const std::string& word) const { return "tm-check-" + word + "-" + tag_ + "." + zone_; }

    // create_record of the tunnel CNAME, remembering what it made so TearDown removes it.
    outcome create(const std::string& host, const std::string& content) { return create(host, content, comment_); }
    outcome create(const std::string& host, const std::string& content, const std::string& comment) {
        auto o = dns().create_record(zone_id_, cname_record_json(host, content, comment));
        if (o.ok()) created_.push_back({host, str_member(parse_json(o.json), "id"), comment});
        return o;
    }

    // Creates the tunnel CNAME `host`, failing the test when that does not work; its id.
    std::string create_ok(const std::string& host) { return create_ok(host, comment_); }
    std::string create_ok(const std::string& host, const std::string& comment) {
        auto o = create(host, content_, comment);
        EXPECT_TRUE(o.ok()) << "create_record(" << host << ") " << o.describe()
                            << rule("create_record must create a proxied CNAME {\"name\",\"content\",\"comment\"} "
                                    "under a zone from list_zones");
        return o.ok() ? created_.back().id : std::string();
    }

    void forget(const std::string& id) {
        created_.erase(std::remove_if(created_.begin(), created_.end(), [&](const created& r) { return r.id == id; }),
                       created_.end());
    }

    void expect_explained(const outcome& o, const std::string& call) {
        if (o.ok()) return;
        EXPECT_FALSE(o.last_error.empty()) << call << " " << o.describe() << rule(last_error_rule);
    }

    // The record fields create_record's reply and find_record's must carry for the tunnel CNAME `host`.
    void expect_the_record(const outcome& o, const std::string& host, const std::string& call, const std::string& r) {
        auto d = parse_json(o.json);
        ASSERT_TRUE(d.IsObject()) << call << " replied " << o.json << rule(r);
        EXPECT_FALSE(str_member(d, "id").empty()) << call << " replied " << o.json << rule(r);
        EXPECT_TRUE(same_name(str_member(d, "name"), host)) << call << " replied " << o.json << rule(r);
        EXPECT_TRUE(same_name(str_member(d, "content"), content_)) << call << " replied " << o.json << rule(r);
        EXPECT_EQ(str_member(d, "comment"), comment_) << call << " replied " << o.json << rule(r);
        EXPECT_TRUE(bool_member(d, "proxied", false))
            << call << " replied " << o.json << rule("create_record must create a proxied CNAME (a "
                                                     "cfargotunnel.com target only works proxied)");
        if (d.HasMember("type")) {
            EXPECT_EQ(str_member(d, "type"), "CNAME") << call << " replied " << o.json << rule(r);
        }
    }

    scratch_dir scratch_;
    std::unique_ptr<host::plugin_instance> inst_;
    std::unique_ptr<dns_calls> dns_;
    std::string zone_, zone_id_, tag_, content_, comment_;
    std::vector<created> created_;
};

TEST_F(dns_provider_v1, list_zones_is_an_array_of_zone_objects) {
    auto zones = dns().list_zones();
    ASSERT_TRUE(zones.ok()) << "list_zones " << zones.describe() << rule("list_zones must succeed");
    auto d = parse_json(zones.json);
    ASSERT_TRUE(d.IsArray()) << "list_zones replied " << zones.json
                             << rule("list_zones must return a JSON array of {\"zone_id\",\"name\",\"status\"}");
    for (const auto& z : d.GetArray()) {
        const std::string r = rule("each zone of list_zones must be an object with a non-empty string \"zone_id\" "
                                   "and \"name\"");
        EXPECT_TRUE(z.IsObject()) << "list_zones replied " << zones.json << r;
        EXPECT_FALSE(str_member(z, "zone_id").empty()) << "zone " << compact(z) << r;
        EXPECT_FALSE(str_member(z, "name").empty()) << "zone " << compact(z) << r;
        if (z.IsObject() && z.HasMember("status")) {
            EXPECT_TRUE(z["status"].IsString()) << "zone " << compact(z) << rule("a zone's \"status\" must be a string");
        }
    }
}

TEST_F(dns_provider_v1, find_record_of_a_missing_name_is_not_found) {
    auto found = dns().find_record(zone_id_, name("absent"));
    EXPECT_EQ(found.rc, TM_NOT_FOUND) << "find_record(" << name("absent") << ") " << found.describe()
                                      << (found.ok() ? " " + found.json : std::string())
                                      << rule("find_record must return TM_NOT_FOUND when there is no such record");
    expect_explained(found, "find_record");
}

TEST_F(dns_provider_v1, create_record_returns_the_record_and_find_record_finds_it) {
    const std::string host = name("new");
    auto made = create(host, content_);
    ASSERT_TRUE(made.ok()) << "create_record(" << host << ") " << made.describe()
                           << rule("create_record must create a proxied CNAME {\"name\",\"content\",\"comment\"} "
                                   "under a zone from list_zones");
    expect_the_record(made, host, "create_record",
                      "create_record must return the created record as find_record does: "
                      "{\"id\",\"name\",\"type\",\"content\",\"proxied\",\"comment\"} with the name, content and "
                      "comment given");
    auto found = dns().find_record(zone_id_, host);
    ASSERT_TRUE(found.ok()) << "find_record(" << host << ") " << found.describe()
                            << rule("find_record must find the record create_record made");
    expect_the_record(found, host, "find_record",
                      "find_record must return the record create_record made, with the same id, name, content and "
                      "comment");
    EXPECT_EQ(str_member(parse_json(found.json), "id"), str_member(parse_json(made.json), "id"))
        << "create_record replied " << made.json << ", find_record " << found.json
        << rule("find_record must return the record create_record made, with the same id");
}

TEST_F(dns_provider_v1, creating_an_existing_name_again_is_a_conflict) {
    const std::string host = name("twice");
    const std::string id = create_ok(host);
    if (HasFailure()) return;
    auto same = create(host, content_);
    EXPECT_EQ(same.rc, TM_CONFLICT) << "a second create_record(" << host << ") with the same content "
                                    << same.describe() << (same.ok() ? " " + same.json : std::string())
                                    << rule("create_record must return TM_CONFLICT when a record with that name exists "
                                            "(Cloudflare 81057: an identical record)");
    expect_explained(same, "create_record");
    auto other = create(host, made_up_uuid() + ".cfargotunnel.com");
    EXPECT_EQ(other.rc, TM_CONFLICT) << "create_record(" << host << ") pointing elsewhere " << other.describe()
                                     << (other.ok() ? " " + other.json : std::string())
                                     << rule("create_record must return TM_CONFLICT when a record with that name "
                                             "exists (Cloudflare 81053: a CNAME with that host)");
    expect_explained(other, "create_record");
    auto found = dns().find_record(zone_id_, host);
    ASSERT_TRUE(found.ok()) << "find_record(" << host << ") " << found.describe()
                            << rule("find_record must find the record create_record made");
    EXPECT_EQ(str_member(parse_json(found.json), "id"), id)
        << "find_record replied " << found.json
        << rule("a refused create_record must leave the existing record as it was");
}

TEST_F(dns_provider_v1, delete_record_with_another_comment_is_refused_and_keeps_the_record) {
    const std::string host = name("owned");
    const std::string id = create_ok(host);
    if (HasFailure()) return;
    auto del = dns().delete_record(zone_id_, id, comment_ + " (someone else)");
    EXPECT_NE(del.rc, TM_OK) << "delete_record(" << id << ") with a comment that is not the record's "
                             << del.describe()
                             << rule("delete_record must delete only when the record's comment equals "
                                     "expected_comment (the ownership marker)");
    EXPECT_TRUE(del.ok() || del.rc == TM_CONFLICT)
        << "delete_record(" << id << ") with a comment that is not the record's " << del.describe()
        << rule("delete_record must return TM_CONFLICT when the record's comment differs from expected_comment");
    expect_explained(del, "delete_record");
    if (del.rc == TM_CONFLICT) {
        EXPECT_TRUE(del.last_error.find(id) != std::string::npos || lower(del.last_error).find(host) != std::string::npos)
            << "delete_record " << del.describe()
            << rule("delete_record's TM_CONFLICT must name the record it left alone (its name or id)");
    }
    if (del.ok()) {
        forget(id);
        return;
    }
    auto found = dns().find_record(zone_id_, host);
    EXPECT_TRUE(found.ok()) << "find_record(" << host << ") after the refused delete " << found.describe()
                            << rule("a refused delete_record must leave the record in place");
    if (found.ok()) {
        EXPECT_EQ(str_member(parse_json(found.json), "id"), id)
            << "find_record replied " << found.json << rule("a refused delete_record must leave the record in place");
    }
}

TEST_F(dns_provider_v1, delete_record_with_its_comment_deletes_it_once) {
    const std::string host = name("gone");
    const std::string id = create_ok(host);
    if (HasFailure()) return;
    auto del = dns().delete_record(zone_id_, id, comment_);
    ASSERT_TRUE(del.ok()) << "delete_record(" << id << ") with the record's own comment " << del.describe()
                          << rule("delete_record must delete a record whose comment equals expected_comment");
    forget(id);
    auto found = dns().find_record(zone_id_, host);
    EXPECT_EQ(found.rc, TM_NOT_FOUND) << "find_record(" << host << ") after delete_record " << found.describe()
                                      << (found.ok() ? " " + found.json : std::string())
                                      << rule("find_record must return TM_NOT_FOUND once the record is deleted");
    expect_explained(found, "find_record");
    auto again = dns().delete_record(zone_id_, id, comment_);
    EXPECT_EQ(again.rc, TM_NOT_FOUND) << "a second delete_record(" << id << ") " << again.describe()
                                      << rule("delete_record must return TM_NOT_FOUND when the record is already gone");
    expect_explained(again, "delete_record");
}

TEST_F(dns_provider_v1, put_tunnel_config_then_get_returns_the_ingress) {
    if (!dns().has_tunnel_config()) {
        GTEST_SKIP() << "the plugin has no put_tunnel_config/get_tunnel_config (optional): nothing to check";
    }
    // A tunnel id made up for this run: on a real account it names no tunnel, so nothing real is rewritten.
    const std::string tunnel = made_up_uuid();
    const std::string ingress = R"([{"hostname":")" + name("ingress") +
                                R"(","service":"http://localhost:8080"},{"service":"http_status:404"}])";
    const std::string config = R"({"config":{"ingress":)" + ingress + "}}";
    auto put = dns().put_tunnel_config(tunnel, config);
    if (!put.ok()) {
        expect_explained(put, "put_tunnel_config");
        GTEST_SKIP() << "put_tunnel_config to the made-up tunnel " << tunnel << " " << put.describe()
                     << ": the API knows no such tunnel (as a real account should not), so the put/get round trip "
                        "is not checked; the suite never writes to a real tunnel";
    }
    auto got = dns().get_tunnel_config(tunnel);
    ASSERT_TRUE(got.ok()) << "get_tunnel_config(" << tunnel << ") after put_tunnel_config " << got.describe()
                          << rule("get_tunnel_config must read the configuration put_tunnel_config stored");
    auto d = parse_json(got.json);
    const std::string r = rule("get_tunnel_config must return {\"config\":{\"ingress\":[...]}} with the ingress "
                               "put_tunnel_config stored");
    ASSERT_TRUE(d.IsObject() && d.HasMember("config") && d["config"].IsObject()) << "replied " << got.json << r;
    const auto& cfg = d["config"];
    ASSERT_TRUE(cfg.HasMember("ingress")) << "replied " << got.json << r;
    auto want = parse_json(ingress);
    EXPECT_TRUE(cfg["ingress"] == static_cast<const rapidjson::Value&>(want)) << "put " << ingress << ", get_tunnel_config replied " << got.json << r;
}

// list_records (optional, since 1.2): the records of the reply, by id; fails the test when the reply is
// not an array of objects with a string "name".
std::map<std::string, std::string> listed_comments(const outcome& o, const std::string& call) {
    std::map<std::string, std::string> out;
    auto d = parse_json(o.json);
    const std::string r = rule("list_records must return a JSON array of find_record's objects "
                               "{\"id\",\"name\",\"type\",\"content\",\"proxied\",\"comment\"}");
    EXPECT_TRUE(d.IsArray()) << call << " replied " << o.json << r;
    if (!d.IsArray()) return out;
    for (const auto& rec : d.GetArray()) {
        EXPECT_TRUE(rec.IsObject() && rec.HasMember("name") && rec["name"].IsString()) << call << " listed "
                                                                                        << compact(rec) << r;
        EXPECT_FALSE(str_member(rec, "id").empty()) << call << " listed " << compact(rec) << r;
        EXPECT_TRUE(out.emplace(str_member(rec, "id"), str_member(rec, "comment")).second)
            << call << " listed record " << str_member(rec, "id") << " twice"
            << rule("list_records must list each record once, also across pages");
    }
    return out;
}

TEST_F(dns_provider_v1, list_records_lists_the_records_whose_comment_starts_with_the_prefix) {
    if (!dns().has_list_records()) {
        GTEST_SKIP() << "the plugin has no list_records (optional, since plugin API 1.2): nothing to check";
    }
    // Characters a URL query must encode, so a plugin that pastes the prefix into a query is caught.
    const std::string prefix = comment_ + " list&match=1+";
    const std::string a = create_ok(name("listed-a"), prefix + "a");
    const std::string b = create_ok(name("listed-b"), prefix);
    const std::string shorter = create_ok(name("unlisted"), comment_ + " list");
    std::string upper = prefix + "c";
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const std::string other_case = create_ok(name("upper"), upper);
    if (HasFailure()) return;

    auto listed = dns().list_records(zone_id_, prefix);
    const std::string call = "list_records(" + zone_id_ + ", \"" + prefix + "\")";
    ASSERT_TRUE(listed.ok()) << call << " " << listed.describe()
                             << rule("list_records must list the records of a zone from list_zones");
    auto comments = listed_comments(listed, call);
    for (const auto& id : {a, b}) {
        EXPECT_EQ(comments.count(id), 1u) << call << " replied " << listed.json << "\n  without record " << id
                                          << rule("list_records must list every record whose comment starts with "
                                                  "the prefix (an equal comment too)");
    }
    if (comments.count(a) != 0U) {
        EXPECT_EQ(comments[a], prefix + "a") << rule("list_records must give each record's comment");
    }
    EXPECT_EQ(comments.count(shorter), 0u) << call << " listed record " << shorter << " (comment '" << comment_ << " list')"
                                           << rule("list_records must list only records whose comment starts with "
                                                   "the prefix");
    EXPECT_EQ(comments.count(other_case), 0u)
        << call << " listed record " << other_case << " (comment '" << upper << "')"
        << rule("list_records matches the prefix byte for byte: a plugin whose API ignores case drops the records "
                "that differ");
    for (const auto& [id, comment] : comments) {
        EXPECT_EQ(comment.rfind(prefix, 0), 0u) << call << " listed record " << id << " with comment '" << comment << "'"
                                                << rule("list_records must list only records whose comment starts "
                                                        "with the prefix");
    }
}

TEST_F(dns_provider_v1, list_records_follows_every_page) {
    if (!dns().has_list_records()) {
        GTEST_SKIP() << "the plugin has no list_records (optional, since plugin API 1.2): nothing to check";
    }
    // More than the 100 records of Cloudflare's default page.
    constexpr int count = 101;
    std::set<std::string> ids;
    for (int i = 0; i < count && !HasFailure(); ++i) ids.insert(create_ok(name("page" + std::to_string(i))));
    if (HasFailure()) return;
    auto listed = dns().list_records(zone_id_, comment_);
    const std::string call = "list_records(" + zone_id_ + ", \"" + comment_ + "\")";
    ASSERT_TRUE(listed.ok()) << call << " " << listed.describe()
                             << rule("list_records must list the records of a zone from list_zones");
    auto comments = listed_comments(listed, call);
    size_t found = 0;
    for (const auto& id : ids) found += comments.count(id);
    EXPECT_EQ(found, ids.size()) << call << " listed " << found << " of the " << ids.size() << " records created with "
                                 << "that comment" << rule("list_records must follow every page of the zone's records");
}

}  // namespace
}  // namespace tunnelmgr::plugin_check
