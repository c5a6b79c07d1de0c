// The Cloudflare fake behaves like the v4 API where our code depends on it, over real loopback HTTP(S),
// both in-process (the library) and as its own process (cloudflare-api-fake).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include "cloudflare_fake.hpp"

extern char** environ;

namespace tunnelmgr::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* k_token = "fake-token-for-tests";
constexpr const char* k_tunnel = "c1744f8b-faa1-48a4-9e5c-02ac921467fa";

rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  EXPECT_FALSE(d.HasParseError()) << body;
  return d;
}

int first_error_code(const rapidjson::Document& d) {
  if (!d.IsObject() || !d.HasMember("errors") || !d["errors"].IsArray() || d["errors"].Empty()) return -1;
  return d["errors"][0]["code"].GetInt();
}

class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "cffake-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A client bound to the fake's /client/v4, sending the given Authorization (none when empty).
class api_client {
 public:
  api_client(int port, std::string authorization = std::string("Bearer ") + k_token)
      : http_("127.0.0.1", port), authorization_(std::move(authorization)) {
    http_.set_read_timeout(10, 0);
  }

  httplib::Result get(const std::string& path) { return http_.Get(("/client/v4" + path).c_str(), headers()); }
  httplib::Result del(const std::string& path) { return http_.Delete(("/client/v4" + path).c_str(), headers()); }
  httplib::Result post(const std::string& path, const std::string& body) {
    return http_.Post(("/client/v4" + path).c_str(), headers(), body, "application/json");
  }
  httplib::Result put(const std::string& path, const std::string& body) {
    return http_.Put(("/client/v4" + path).c_str(), headers(), body, "application/json");
  }
  httplib::Result patch(const std::string& path, const std::string& body) {
    return http_.Patch(("/client/v4" + path).c_str(), headers(), body, "application/json");
  }
  httplib::Client& raw() { return http_; }

 private:
  httplib::Headers headers() const {
    if (authorization_.empty()) return {};
    return {{"Authorization", authorization_}};
  }
  httplib::Client http_;
  std::string authorization_;
};

class CloudflareFake : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(cloudflare_fake::options opts) {
    fake_.reset();
    if (opts.zones.empty()) opts.zones = {"example.com", "Example.ORG"};
    auto started = cloudflare_fake::start(opts);
    ASSERT_TRUE(started.has_value()) << started.error();
    fake_ = std::move(*started);
    client_ = std::make_unique<api_client>(fake_->port());
    zone_id_ = fake_->find_zone("example.com")->id;
  }

  std::string records_path() const { return "/zones/" + zone_id_ + "/dns_records"; }

  rapidjson::Document create_record(const std::string& body, int expected_status = 200) {
    auto res = client_->post(records_path(), body);
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return rapidjson::Document{};
    EXPECT_EQ(res->status, expected_status) << res->body;
    return parse(res->body);
  }

  std::unique_ptr<cloudflare_fake> fake_;
  std::unique_ptr<api_client> client_;
  std::string zone_id_;
};

TEST_F(CloudflareFake, BaseUrlPointsAtTheV4ApiOnLoopback) {
  EXPECT_GT(fake_->port(), 0);
  EXPECT_EQ(fake_->base_url(), "http://127.0.0.1:" + std::to_string(fake_->port()) + "/client/v4");
}

TEST_F(CloudflareFake, VerifyAnswersTheFullEnvelopeAndRemembersTheHeader) {
  auto res = client_->get("/user/tokens/verify");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  auto d = parse(res->body);
  EXPECT_TRUE(d["success"].GetBool());
  EXPECT_TRUE(d["errors"].IsArray() && d["errors"].Empty());
  ASSERT_TRUE(d["messages"].IsArray());
  EXPECT_EQ(d["messages"][0]["code"].GetInt(), 10000);
  EXPECT_STREQ(d["result"]["status"].GetString(), "active");
  EXPECT_EQ(std::string(d["result"]["id"].GetString()).size(), 32U);
  EXPECT_EQ(fake_->last_authorization(), std::string("Bearer ") + k_token);
}

TEST_F(CloudflareFake, MissingAuthorizationIsA400) {
  api_client anonymous(fake_->port(), "");
  auto res = anonymous.get("/zones");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  auto d = parse(res->body);
  EXPECT_FALSE(d["success"].GetBool());
  EXPECT_EQ(first_error_code(d), 9106);
  EXPECT_TRUE(d["result"].IsNull());
}

TEST_F(CloudflareFake, MalformedAuthorizationIs6003With6111Chain) {
  for (const std::string header : {"Token abc", "Bearer ", "Bearer two words", "bearer fake-token-for-tests"}) {
    api_client client(fake_->port(), header);
    auto res = client.get("/zones");
    ASSERT_TRUE(res) << header;
    EXPECT_EQ(res->status, 400) << header;
    auto d = parse(res->body);
    EXPECT_EQ(first_error_code(d), 6003) << header;
    ASSERT_TRUE(d["errors"][0].HasMember("error_chain")) << header;
    EXPECT_EQ(d["errors"][0]["error_chain"][0]["code"].GetInt(), 6111) << header;
  }
}

TEST_F(CloudflareFake, WrongTokenIsForbiddenEverywhereAndInvalidOnVerify) {
  api_client intruder(fake_->port(), "Bearer not-the-right-token");
  auto zones = intruder.get("/zones");
  ASSERT_TRUE(zones);
  EXPECT_EQ(zones->status, 403);
  EXPECT_EQ(first_error_code(parse(zones->body)), 10000);

  auto verify = intruder.get("/user/tokens/verify");
  ASSERT_TRUE(verify);
  EXPECT_EQ(verify->status, 401);
  EXPECT_EQ(first_error_code(parse(verify->body)), 1000);

  EXPECT_EQ(fake_->last_authorization(), "Bearer not-the-right-token");
  EXPECT_TRUE(fake_->records().empty());
}

TEST_F(CloudflareFake, RevokedTokenStopsWorkingAndReadOnlyTokenCannotWrite) {
  fake_->add_token("second-fake-token", token_access::read_only);
  api_client reader(fake_->port(), "Bearer second-fake-token");
  auto list = reader.get(records_path());
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  auto write = reader.post(records_path(), R"({"type":"A","name":"ro","content":"192.0.2.1"})");
  ASSERT_TRUE(write);
  EXPECT_EQ(write->status, 403);
  EXPECT_EQ(first_error_code(parse(write->body)), 9109);

  fake_->revoke_token(k_token);
  auto res = client_->get("/zones");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
}

TEST_F(CloudflareFake, UnknownRouteIsA404Envelope) {
  auto res = client_->get("/no/such/thing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  auto d = parse(res->body);
  EXPECT_FALSE(d["success"].GetBool());
  EXPECT_EQ(first_error_code(d), 7000);

  auto outside = client_->raw().Get("/elsewhere");
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->status, 404);
  EXPECT_EQ(first_error_code(parse(outside->body)), 7000);
}

TEST_F(CloudflareFake, OneHundredTwentyZonesTakeThreePagesOfFifty) {
  cloudflare_fake::options opts;
  opts.zones = {"example.com"};
  opts.generated_zones = 119;
  start(opts);

  std::set<std::string> ids;
  long page = 1;
  long total_pages = 0;
  std::vector<long> counts;
  do {
    auto res = client_->get("/zones?per_page=50&page=" + std::to_string(page));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    auto d = parse(res->body);
    const auto& info = d["result_info"];
    EXPECT_EQ(info["page"].GetInt(), page);
    EXPECT_EQ(info["per_page"].GetInt(), 50);
    EXPECT_EQ(info["total_count"].GetInt(), 120);
    total_pages = info["total_pages"].GetInt();
    counts.push_back(info["count"].GetInt());
    for (const auto& z : d["result"].GetArray()) ids.insert(z["id"].GetString());
    ++page;
  } while (page <= total_pages);
  EXPECT_EQ(total_pages, 3);
  EXPECT_EQ(counts, (std::vector<long>{50, 50, 20}));
  EXPECT_EQ(ids.size(), 120U);
  EXPECT_EQ(fake_->request_count("GET", "/zones"), 3U);
}

TEST_F(CloudflareFake, ZonePagingDefaultsTo20AndRefusesMoreThan50) {
  cloudflare_fake::options opts;
  opts.generated_zones = 45;
  start(opts);
  auto res = client_->get("/zones");
  ASSERT_TRUE(res);
  auto d = parse(res->body);
  EXPECT_EQ(d["result_info"]["per_page"].GetInt(), 20);
  EXPECT_EQ(d["result_info"]["total_pages"].GetInt(), 3);  // 47 zones
  EXPECT_EQ(d["result"].Size(), 20U);

  auto too_big = client_->get("/zones?per_page=100");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 400);
  EXPECT_FALSE(parse(too_big->body)["success"].GetBool());

  opts.clamp_zone_per_page = true;
  start(opts);
  auto clamped = client_->get("/zones?per_page=100");
  ASSERT_TRUE(clamped);
  EXPECT_EQ(clamped->status, 200);
  EXPECT_EQ(parse(clamped->body)["result_info"]["per_page"].GetInt(), 50);
}

TEST_F(CloudflareFake, ZoneNameFilterAndZoneById) {
  auto res = client_->get("/zones?name=EXAMPLE.org");
  ASSERT_TRUE(res);
  auto d = parse(res->body);
  ASSERT_EQ(d["result"].Size(), 1U);
  EXPECT_STREQ(d["result"][0]["name"].GetString(), "example.org");
  EXPECT_STREQ(d["result"][0]["account"]["id"].GetString(), fake_->account_id().c_str());

  auto one = client_->get("/zones/" + zone_id_);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_STREQ(parse(one->body)["result"]["name"].GetString(), "example.com");

  auto missing = client_->get("/zones/00000000000000000000000000000000");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(first_error_code(parse(missing->body)), 7003);
}

TEST_F(CloudflareFake, CreatedTunnelCnameIsStoredLowerCaseWithEveryField) {
  auto d = create_record(
      R"({"type":"CNAME","name":"App.Example.COM","content":"c1744f8b-faa1-48a4-9e5c-02ac921467fa.cfargotunnel.com",)"
      R"("proxied":true,"ttl":1,"comment":"tunnelmgr:project=consilio"})");
  ASSERT_TRUE(d.IsObject());
  const auto& r = d["result"];
  const std::string id = r["id"].GetString();
  EXPECT_EQ(id.size(), 32U);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_STREQ(r["name"].GetString(), "app.example.com");
  EXPECT_STREQ(r["type"].GetString(), "CNAME");
  EXPECT_TRUE(r["proxied"].GetBool());
  EXPECT_EQ(r["ttl"].GetInt(), 1);
  EXPECT_STREQ(r["comment"].GetString(), "tunnelmgr:project=consilio");
  EXPECT_STREQ(r["zone_id"].GetString(), zone_id_.c_str());
  EXPECT_FALSE(std::string(r["created_on"].GetString()).empty());

  auto stored = fake_->record(id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->name, "app.example.com");
  EXPECT_EQ(stored->content, "c1744f8b-faa1-48a4-9e5c-02ac921467fa.cfargotunnel.com");
}

TEST_F(CloudflareFake, RelativeNamesGetTheZoneAppended) {
  auto d = create_record(R"({"type":"A","name":"www","content":"192.0.2.10"})");
  EXPECT_STREQ(d["result"]["name"].GetString(), "www.example.com");
  auto apex = create_record(R"({"type":"A","name":"@","content":"192.0.2.11"})");
  EXPECT_STREQ(apex["result"]["name"].GetString(), "example.com");
}

TEST_F(CloudflareFake, ListFiltersByTypeNameAndComment) {
  create_record(R"({"type":"CNAME","name":"a.example.com","content":"t.cfargotunnel.com","proxied":true,"comment":"tunnelmgr:one"})");
  create_record(R"({"type":"CNAME","name":"b.example.com","content":"t.cfargotunnel.com","proxied":true,"comment":"tunnelmgr:two"})");
  create_record(R"({"type":"A","name":"c.example.com","content":"192.0.2.1","comment":"someone else"})");
  create_record(R"({"type":"TXT","name":"a.example.com","content":"hello"})");

  auto count = [&](const std::string& query) -> long {
    auto res = client_->get(records_path() + query);
    EXPECT_TRUE(res);
    if (!res) return -1;
    EXPECT_EQ(res->status, 200) << res->body;
    auto d = parse(res->body);
    EXPECT_EQ(static_cast<long>(d["result"].Size()), d["result_info"]["count"].GetInt64());
    return d["result_info"]["total_count"].GetInt64();
  };
  EXPECT_EQ(count(""), 4);
  EXPECT_EQ(count("?type=CNAME"), 2);
  EXPECT_EQ(count("?type=CNAME&name.exact=A.EXAMPLE.COM"), 1);
  EXPECT_EQ(count("?name=a.example.com"), 2);
  EXPECT_EQ(count("?comment.startswith=tunnelmgr:"), 2);
  EXPECT_EQ(count("?comment.startswith=TUNNELMGR:"), 2);
  EXPECT_EQ(count("?comment=tunnelmgr:two"), 1);
  EXPECT_EQ(count("?comment.exact=tunnelmgr:one"), 1);
  EXPECT_EQ(count("?comment.exact=tunnelmgr:"), 0);
  EXPECT_EQ(count("?comment.absent"), 1);
  EXPECT_EQ(count("?type=MX"), 0);
}

TEST_F(CloudflareFake, RecordListPaginates) {
  for (int i = 0; i < 12; ++i) {
    create_record(R"({"type":"A","name":"h)" + std::to_string(i) + R"(","content":"192.0.2.1"})");
  }
  auto res = client_->get(records_path() + "?per_page=5&page=3");
  ASSERT_TRUE(res);
  auto d = parse(res->body);
  EXPECT_EQ(d["result_info"]["total_pages"].GetInt(), 3);
  EXPECT_EQ(d["result_info"]["count"].GetInt(), 2);
  EXPECT_STREQ(d["result"][0]["name"].GetString(), "h10.example.com");
  auto default_page = parse(client_->get(records_path())->body);
  EXPECT_EQ(default_page["result_info"]["per_page"].GetInt(), 100);
}

TEST_F(CloudflareFake, ValidationErrorsHaveTheirCodes) {
  const std::string long_comment(101, 'x');
  const std::string ok_comment(100, 'x');
  struct bad_case {
    std::string body;
    int code;
  };
  const std::vector<bad_case> cases{
      {R"({"type":"BOGUS","name":"x","content":"y"})", 9020},
      {R"({"name":"x","content":"y"})", 9020},
      {R"({"type":"A","name":"bad name!","content":"192.0.2.1"})", 9000},
      {R"({"type":"A","name":"x.other-zone.net.","content":"192.0.2.1"})", 0},  // relative: becomes x.other-zone.net.example.com
      {R"({"type":"A","name":"x","content":"999.1.1.1"})", 9005},
      {R"({"type":"AAAA","name":"x","content":"192.0.2.1"})", 9006},
      {R"({"type":"CNAME","name":"x","content":"not a host"})", 9007},
      {R"({"type":"A","name":"x","content":"192.0.2.1","ttl":5})", 9021},
      {R"({"type":"TXT","name":"x","content":"t","proxied":true})", 9004},
      {R"({"type":"CNAME","name":"x","content":"t.cfargotunnel.com","comment":")" + long_comment + R"("})", 9102},
      {R"({"type":"CNAME","name":"x","content":"t.cfargotunnel.com","comment":"two\nlines"})", 9102},
      {R"({"type":"A","name":"x","content":"192.0.2.1","proxied":"yes"})", 9207},
      {R"(not json)", 6007},
  };
  for (const auto& c : cases) {
    auto res = client_->post(records_path(), c.body);
    ASSERT_TRUE(res) << c.body;
    if (c.code == 0) {
      EXPECT_EQ(res->status, 200) << c.body << " -> " << res->body;
      continue;
    }
    EXPECT_EQ(res->status, 400) << c.body;
    EXPECT_EQ(first_error_code(parse(res->body)), c.code) << c.body << " -> " << res->body;
  }
  create_record(R"({"type":"CNAME","name":"y","content":"t.cfargotunnel.com","comment":")" + ok_comment + R"("})");
  EXPECT_EQ(fake_->records("example.com").size(), 2U);
}

TEST_F(CloudflareFake, CnameOnAnOccupiedHostIs81053AndIdenticalRecordIs81057) {
  create_record(R"({"type":"A","name":"app.example.com","content":"192.0.2.1"})");
  auto cname = create_record(R"({"type":"CNAME","name":"APP.example.com","content":"t.cfargotunnel.com"})", 400);
  EXPECT_EQ(first_error_code(cname), 81053);
  EXPECT_STREQ(cname["errors"][0]["message"].GetString(), "An A, AAAA, or CNAME record with that host already exists.");

  create_record(R"({"type":"CNAME","name":"web.example.com","content":"t.cfargotunnel.com","proxied":true})");
  auto again = create_record(R"({"type":"CNAME","name":"web.example.com","content":"T.cfargotunnel.com.","proxied":true})", 400);
  EXPECT_EQ(first_error_code(again), 81057);
  auto other_target = create_record(R"({"type":"CNAME","name":"web.example.com","content":"u.cfargotunnel.com"})", 400);
  EXPECT_EQ(first_error_code(other_target), 81053);
  auto a_on_cname = create_record(R"({"type":"A","name":"web.example.com","content":"192.0.2.1"})", 400);
  EXPECT_EQ(first_error_code(a_on_cname), 81054);
  auto duplicate_a = create_record(R"({"type":"A","name":"app.example.com","content":"192.0.2.1"})", 400);
  EXPECT_EQ(first_error_code(duplicate_a), 81057);
  create_record(R"({"type":"A","name":"app.example.com","content":"192.0.2.2"})");  // round-robin is fine
  EXPECT_EQ(fake_->records().size(), 3U);
}

TEST_F(CloudflareFake, RecordByIdGetPatchPutDelete) {
  auto created = create_record(R"({"type":"CNAME","name":"app","content":"t.cfargotunnel.com","proxied":true,"comment":"mine"})");
  const std::string id = created["result"]["id"].GetString();
  const std::string path = records_path() + "/" + id;

  auto got = client_->get(path);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_STREQ(parse(got->body)["result"]["id"].GetString(), id.c_str());

  auto patched = client_->patch(path, R"({"content":"u.cfargotunnel.com"})");
  ASSERT_TRUE(patched);
  EXPECT_EQ(patched->status, 200) << patched->body;
  auto p = parse(patched->body);
  EXPECT_STREQ(p["result"]["content"].GetString(), "u.cfargotunnel.com");
  EXPECT_STREQ(p["result"]["comment"].GetString(), "mine");  // PATCH keeps what it was not given
  EXPECT_TRUE(p["result"]["proxied"].GetBool());

  auto replaced = client_->put(path, R"({"type":"CNAME","name":"app.example.com","content":"v.cfargotunnel.com"})");
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->status, 200) << replaced->body;
  auto r = parse(replaced->body);
  EXPECT_TRUE(r["result"]["comment"].IsNull());  // PUT replaces everything
  EXPECT_FALSE(r["result"]["proxied"].GetBool());

  auto deleted = client_->del(path);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200);
  EXPECT_STREQ(parse(deleted->body)["result"]["id"].GetString(), id.c_str());
  EXPECT_FALSE(fake_->record(id).has_value());

  std::vector<httplib::Result> after;
  after.push_back(client_->get(path));
  after.push_back(client_->del(path));
  after.push_back(client_->patch(path, R"({"content":"w.example.net"})"));
  for (auto& res : after) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    auto d = parse(res->body);
    EXPECT_EQ(first_error_code(d), 81044);
    EXPECT_STREQ(d["errors"][0]["message"].GetString(), "Record does not exist.");
  }
}

TEST_F(CloudflareFake, ForeignRecordIsVisibleButNotCountedAsARequest) {
  fake_dns_record theirs;
  theirs.type = "CNAME";
  theirs.name = "Shop.Example.com";
  theirs.content = "shops.myshopify.com";
  auto added = fake_->add_foreign_record("example.com", theirs);
  ASSERT_TRUE(added.has_value()) << added.error();
  EXPECT_EQ(added->name, "shop.example.com");
  EXPECT_EQ(fake_->total_requests(), 0U);

  auto res = client_->get(records_path() + "?name.exact=shop.example.com&type=CNAME");
  ASSERT_TRUE(res);
  auto d = parse(res->body);
  ASSERT_EQ(d["result"].Size(), 1U);
  EXPECT_TRUE(d["result"][0]["comment"].IsNull());

  auto clash = create_record(R"({"type":"CNAME","name":"shop","content":"t.cfargotunnel.com"})", 400);
  EXPECT_EQ(first_error_code(clash), 81053);
  EXPECT_FALSE(fake_->add_foreign_record("nope.test", theirs).has_value());
}

TEST_F(CloudflareFake, TunnelConfigurationVersionsCountUp) {
  const std::string path = "/accounts/" + fake_->account_id() + "/cfd_tunnel/" + k_tunnel + "/configurations";
  auto before = client_->get(path);
  ASSERT_TRUE(before);
  EXPECT_EQ(parse(before->body)["result"]["version"].GetInt(), 0);
  EXPECT_FALSE(fake_->tunnel_configuration(k_tunnel).has_value());

  const std::string body =
      R"({"config":{"ingress":[{"hostname":"app.example.com","service":"http://localhost:3100"},)"
      R"({"service":"http_status:404"}],"originRequest":{"connectTimeout":10}}})";
  for (int expected = 1; expected <= 2; ++expected) {
    auto res = client_->put(path, body);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    auto d = parse(res->body);
    EXPECT_EQ(d["result"]["version"].GetInt(), expected);
    EXPECT_STREQ(d["result"]["tunnel_id"].GetString(), k_tunnel);
    EXPECT_STREQ(d["result"]["config"]["ingress"][0]["hostname"].GetString(), "app.example.com");
  }
  auto got = parse(client_->get(path)->body);
  EXPECT_EQ(got["result"]["version"].GetInt(), 2);
  EXPECT_EQ(got["result"]["config"]["ingress"].Size(), 2U);
  auto stored = fake_->tunnel_configuration(k_tunnel);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->version, 2);
  EXPECT_NE(stored->config_json.find("http://localhost:3100"), std::string::npos);

  auto no_catch_all = client_->put(path, R"({"config":{"ingress":[{"hostname":"a.example.com","service":"http://localhost:1"}]}})");
  ASSERT_TRUE(no_catch_all);
  EXPECT_EQ(no_catch_all->status, 400);
  auto no_config = client_->put(path, R"({"ingress":[]})");
  ASSERT_TRUE(no_config);
  EXPECT_EQ(no_config->status, 400);
  EXPECT_EQ(fake_->tunnel_configuration(k_tunnel)->version, 2);

  auto other_account = client_->get("/accounts/ffffffffffffffffffffffffffffffff/cfd_tunnel/" + std::string(k_tunnel) + "/configurations");
  ASSERT_TRUE(other_account);
  EXPECT_EQ(other_account->status, 403);
  EXPECT_EQ(first_error_code(parse(other_account->body)), 9109);
}

TEST_F(CloudflareFake, ARacingWriterLandsBeforeOrAfterTheNextTunnelPuts) {
  const std::string path = "/accounts/" + fake_->account_id() + "/cfd_tunnel/" + k_tunnel + "/configurations";
  const std::string ours = R"({"config":{"ingress":[{"hostname":"ours.example.com","service":"http://localhost:1"},{"service":"http_status:404"}]}})";
  const std::string theirs = R"({"ingress":[{"hostname":"theirs.example.com","service":"http://localhost:2"},{"service":"http_status:404"}]})";
  fake_->race_tunnel_puts({k_tunnel, theirs, 1, tunnel_race::at::before_put});
  EXPECT_EQ(fake_->pending_races(), 1U);
  auto first = client_->put(path, ours);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(parse(first->body)["result"]["version"].GetInt(), 2) << "the other writer made version 1";
  EXPECT_NE(fake_->tunnel_configuration(k_tunnel)->config_json.find("ours.example.com"), std::string::npos);
  EXPECT_EQ(fake_->pending_races(), 0U);

  fake_->race_tunnel_puts({k_tunnel, theirs, 2, tunnel_race::at::after_put});
  for (int expected : {3, 5}) {
    auto res = client_->put(path, ours);
    ASSERT_TRUE(res);
    EXPECT_EQ(parse(res->body)["result"]["version"].GetInt(), expected) << "the answer is this PUT's version";
    auto stored = fake_->tunnel_configuration(k_tunnel);
    EXPECT_EQ(stored->version, expected + 1);
    EXPECT_NE(stored->config_json.find("theirs.example.com"), std::string::npos) << "the other writer came last";
  }
  auto plain = client_->put(path, ours);
  ASSERT_TRUE(plain);
  EXPECT_EQ(parse(plain->body)["result"]["version"].GetInt(), 7) << "the race is used up";
  EXPECT_NE(fake_->tunnel_configuration(k_tunnel)->config_json.find("ours.example.com"), std::string::npos);

  fake_->race_tunnel_puts({k_tunnel, theirs, 1, tunnel_race::at::after_put});
  fake_->reset();
  EXPECT_EQ(fake_->pending_races(), 0U);
}

TEST_F(CloudflareFake, InjectedRateLimitAnswers429WithRetryAfterForTheNextN) {
  fault_rule f;
  f.method = "POST";
  f.path_prefix = "/zones/";
  f.count = 2;
  f.status = 429;
  f.retry_after_seconds = 7;
  fake_->inject_fault(f);
  EXPECT_EQ(fake_->pending_faults(), 2U);

  auto unaffected = client_->get(records_path());  // GET does not match the rule
  ASSERT_TRUE(unaffected);
  EXPECT_EQ(unaffected->status, 200);

  const std::string body = R"({"type":"A","name":"x","content":"192.0.2.1"})";
  for (int i = 0; i < 2; ++i) {
    auto res = client_->post(records_path(), body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 429);
    EXPECT_EQ(res->get_header_value("Retry-After"), "7");
    EXPECT_EQ(first_error_code(parse(res->body)), 10429);
  }
  EXPECT_TRUE(fake_->records().empty());
  auto res = client_->post(records_path(), body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(fake_->pending_faults(), 0U);
  EXPECT_EQ(fake_->request_count("POST", records_path()), 3U);
}

TEST_F(CloudflareFake, InjectedServerErrorsAnswerTheirStatus) {
  for (int status : {500, 502, 503}) {
    fault_rule f;
    f.status = status;
    fake_->inject_fault(f);
    auto res = client_->get("/zones");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status);
    auto d = parse(res->body);
    EXPECT_FALSE(d["success"].GetBool());
    EXPECT_EQ(first_error_code(d), 10000 + status);
  }
  fault_rule html;
  html.status = 502;
  html.body = "<html><body>502 Bad Gateway</body></html>";
  html.content_type = "text/html";
  html.error_code = 0;
  fake_->inject_fault(html);
  auto res = client_->get("/zones");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html");
  EXPECT_EQ(res->body, html.body);

  auto after = client_->get("/zones");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_F(CloudflareFake, DelayedRequestOutlastsAShortClientTimeoutThenServesNormally) {
  fault_rule f;
  f.kind = fault_kind::delay;
  f.delay = std::chrono::milliseconds(3000);
  f.path_prefix = "/zones";
  fake_->inject_fault(f);
  api_client impatient(fake_->port());
  impatient.raw().set_read_timeout(0, 200000);
  auto res = impatient.get("/zones");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Read);
  EXPECT_EQ(fake_->pending_faults(), 0U);

  fault_rule short_delay;
  short_delay.kind = fault_kind::delay;
  short_delay.delay = std::chrono::milliseconds(20);
  fake_->inject_fault(short_delay);
  auto patient = client_->get("/zones");
  ASSERT_TRUE(patient);
  EXPECT_EQ(patient->status, 200);  // a delay changes when, not what
}

TEST_F(CloudflareFake, DroppedConnectionGivesNoResponseAtAll) {
  fault_rule f;
  f.kind = fault_kind::drop_connection;
  f.method = "POST";
  fake_->inject_fault(f);
  auto res = client_->post(records_path(), R"({"type":"A","name":"x","content":"192.0.2.1"})");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Read);
  EXPECT_TRUE(fake_->records().empty());
  const auto log = fake_->requests();
  ASSERT_EQ(log.size(), 1U);
  EXPECT_EQ(log[0].status, 0);

  auto next = client_->post(records_path(), R"({"type":"A","name":"x","content":"192.0.2.1"})");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(CloudflareFake, GlobalRateLimitRefusesBeyondTheBudget) {
  fake_->set_rate_limit(rate_limit_rule{3, std::chrono::minutes(1)});
  for (int i = 0; i < 3; ++i) {
    auto res = client_->get("/zones");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  auto res = client_->get("/zones");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  const int retry_after = std::stoi(res->get_header_value("Retry-After"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(first_error_code(parse(res->body)), 10429);
  EXPECT_EQ(fake_->rate_limited_count(), 1U);
  EXPECT_EQ(fake_->peak_requests_in_window(), 3U);

  fake_->set_rate_limit(std::nullopt);
  auto free_again = client_->get("/zones");
  ASSERT_TRUE(free_again);
  EXPECT_EQ(free_again->status, 200);
}

TEST_F(CloudflareFake, RequestCountsAndResetBackToTheStartState) {
  create_record(R"({"type":"A","name":"x","content":"192.0.2.1"})");
  (void)client_->get("/zones");
  (void)client_->get("/zones");
  EXPECT_EQ(fake_->request_count("GET", "/zones"), 2U);
  EXPECT_EQ(fake_->request_count("GET", "/client/v4/zones"), 2U);
  EXPECT_EQ(fake_->request_count_prefix("", "/zones"), 3U);
  EXPECT_EQ(fake_->total_requests(), 3U);
  fake_->add_zone("added-later.test");
  fake_->inject_fault(fault_rule{});

  fake_->reset();
  EXPECT_EQ(fake_->total_requests(), 0U);
  EXPECT_TRUE(fake_->records().empty());
  EXPECT_EQ(fake_->pending_faults(), 0U);
  EXPECT_EQ(fake_->zones().size(), 2U);
  EXPECT_TRUE(fake_->last_authorization().empty());
}

TEST_F(CloudflareFake, ControlEndpointsAreOffInTheLibraryByDefault) {
  httplib::Client c("127.0.0.1", fake_->port());
  auto res = c.Get("/__fake/state");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

// ---- HTTPS with a throw-away CA ----

int run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct test_pki {
  fs::path ca_cert, server_cert, server_key;
};

test_pki make_pki(const fs::path& dir) {
  test_pki p{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
  const std::string ca_key = (dir / "ca.key").string();
  const std::string csr = (dir / "server.csr").string();
  const std::string ext = (dir / "san.ext").string();
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  EXPECT_EQ(run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out",
                 p.ca_cert.string(), "-days", "2", "-subj", "/CN=tunnelmgr test CA"}),
            0);
  EXPECT_EQ(run({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p.server_key.string(), "-out", csr,
                 "-subj", "/CN=127.0.0.1"}),
            0);
  EXPECT_EQ(run({"openssl", "x509", "-req", "-in", csr, "-CA", p.ca_cert.string(), "-CAkey", ca_key,
                 "-CAcreateserial", "-out", p.server_cert.string(), "-days", "2", "-extfile", ext}),
            0);
  return p;
}

TEST(CloudflareFakeTls, ServesHttpsThatVerifiesAgainstTheTestCa) {
  temp_dir dir;
  const auto pki = make_pki(dir.path());
  cloudflare_fake::options opts;
  opts.zones = {"example.com"};
  opts.tls_cert_file = pki.server_cert.string();
  opts.tls_key_file = pki.server_key.string();
  auto fake = cloudflare_fake::start(opts);
  ASSERT_TRUE(fake.has_value()) << fake.error();
  EXPECT_EQ((*fake)->base_url().rfind("https://127.0.0.1:", 0), 0U);

  httplib::SSLClient trusting("127.0.0.1", (*fake)->port());
  trusting.set_ca_cert_path(pki.ca_cert.c_str());
  trusting.enable_server_certificate_verification(true);
  auto res = trusting.Get("/client/v4/user/tokens/verify", {{"Authorization", std::string("Bearer ") + k_token}});
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(parse(res->body)["success"].GetBool());

  // Without the test CA the same server is not trusted: the client really verifies.
  httplib::SSLClient stranger("127.0.0.1", (*fake)->port());
  stranger.set_ca_cert_path(pki.server_cert.c_str());  // a leaf is no trust anchor for itself
  stranger.enable_server_certificate_verification(true);
  auto refused = stranger.Get("/client/v4/user/tokens/verify");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::SSLServerVerification);

  fault_rule drop;
  drop.kind = fault_kind::drop_connection;
  (*fake)->inject_fault(drop);
  auto dropped = trusting.Get("/client/v4/zones", {{"Authorization", std::string("Bearer ") + k_token}});
  EXPECT_FALSE(dropped);
}

// ---- the executable ----

class fake_process {
 public:
  explicit fake_process(const std::vector<std::string>& extra_args) {
    port_file_ = dir_.path() / "port";
    token_file_ = dir_.path() / "token";
    std::ofstream(token_file_) << "process-fake-token\n";
    std::vector<std::string> argv{TM_CLOUDFLARE_FAKE_EXE, "--listen", "127.0.0.1:0", "--port-file", port_file_.string(),
                                  "--token-file", token_file_.string(), "--quiet"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    stderr_file_ = dir_.path() / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }

  ~fake_process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for the port file (the process writes it once it listens); bounded so a broken build cannot hang.
  int wait_for_port() {
    for (int i = 0; i < 1000 && pid_ > 0; ++i) {
      std::ifstream in(port_file_);
      int port = 0;
      if (in >> port && port > 0) return port;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  // SIGTERM, then the exit status (or -1 if it died otherwise).
  int terminate() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string stderr_text() const {
    std::ifstream in(stderr_file_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  temp_dir dir_;
  fs::path port_file_, token_file_, stderr_file_;
  pid_t pid_ = -1;
};

TEST(CloudflareFakeProcess, ServesTheApiAndTheControlEndpointsUntilSigterm) {
  fake_process proc({"--zone", "example.com", "--zones-generate", "3", "--account-id", "abcdefabcdefabcdefabcdefabcdef12"});
  const int port = proc.wait_for_port();
  ASSERT_GT(port, 0) << proc.stderr_text();

  api_client client(port, "Bearer process-fake-token");
  auto zones = client.get("/zones?name=example.com");
  ASSERT_TRUE(zones);
  ASSERT_EQ(zones->status, 200) << zones->body;
  auto zd = parse(zones->body);
  ASSERT_EQ(zd["result"].Size(), 1U);
  const std::string zone_id = zd["result"][0]["id"].GetString();
  EXPECT_STREQ(zd["result"][0]["account"]["id"].GetString(), "abcdefabcdefabcdefabcdefabcdef12");
  EXPECT_EQ(parse(client.get("/zones")->body)["result_info"]["total_count"].GetInt(), 4);

  httplib::Client control("127.0.0.1", port);
  auto foreign = control.Post("/__fake/records",
                              R"({"zone":"example.com","type":"A","name":"legacy","content":"192.0.2.7"})",
                              "application/json");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 201) << foreign->body;

  auto fault = control.Post("/__fake/faults",
                            R"([{"method":"GET","path_prefix":"/zones/","count":1,"kind":"status","status":503},)"
                            R"({"method":"POST","count":1,"kind":"status","status":429,"retry_after":4}])",
                            "application/json");
  ASSERT_TRUE(fault);
  EXPECT_EQ(fault->status, 200);
  EXPECT_EQ(parse(fault->body)["pending_faults"].GetInt(), 2);

  auto unavailable = client.get("/zones/" + zone_id + "/dns_records");
  ASSERT_TRUE(unavailable);
  EXPECT_EQ(unavailable->status, 503);
  auto limited = client.post("/zones/" + zone_id + "/dns_records", R"({"type":"A","name":"x","content":"192.0.2.1"})");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->get_header_value("Retry-After"), "4");
  auto created = client.post("/zones/" + zone_id + "/dns_records",
                             R"({"type":"CNAME","name":"app","content":"t.cfargotunnel.com","proxied":true,"comment":"tunnelmgr:x"})");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 200) << created->body;

  auto state = control.Get("/__fake/state");
  ASSERT_TRUE(state);
  ASSERT_EQ(state->status, 200);
  auto s = parse(state->body);
  EXPECT_EQ(s["records"].Size(), 2U);
  EXPECT_EQ(s["zones"].Size(), 4U);
  EXPECT_EQ(s["pending_faults"].GetInt(), 0);
  EXPECT_STREQ(s["last_authorization"].GetString(), "Bearer process-fake-token");
  EXPECT_EQ(s["requests"]["total"].GetInt(), 5);

  auto reset = control.Post("/__fake/reset", "", "application/json");
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->status, 200);
  EXPECT_EQ(parse(control.Get("/__fake/state")->body)["records"].Size(), 0U);

  EXPECT_EQ(proc.terminate(), 0);
  EXPECT_NE(proc.stderr_text().find("listening on http://127.0.0.1:" + std::to_string(port) + "/client/v4"),
            std::string::npos);
}

TEST(CloudflareFakeProcess, RefusesToListenBeyondLoopback) {
  temp_dir dir;
  EXPECT_NE(run({TM_CLOUDFLARE_FAKE_EXE, "--listen", "0.0.0.0:0", "--quiet"}), 0);
}

}  // namespace
}  // namespace tunnelmgr::testing
