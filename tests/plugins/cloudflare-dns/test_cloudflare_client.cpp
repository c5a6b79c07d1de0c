// cloudflare_client against the stateful Cloudflare fake over real loopback HTTP(S), through the real
// libcurl transport, with a virtual clock so every backoff and budget wait is checked, not slept.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "cloudflare_client.hpp"
#include "cloudflare_fake.hpp"
#include "curl_transport.hpp"
#include "test_support.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using test::fake_clock;
using test::k_token;
using test::k_tunnel;
using test::temp_dir;
using tunnelmgr::testing::cloudflare_fake;
using tunnelmgr::testing::fake_dns_record;
using tunnelmgr::testing::tunnel_race;
using tunnelmgr::testing::fault_kind;
using tunnelmgr::testing::fault_rule;

constexpr const char* k_comment = "tunnelmgr:consilio";
constexpr const char* k_target = "c1744f8b-faa1-48a4-9e5c-02ac921467fa.cfargotunnel.com";

// Passes every request on, but reports the first `count` requests of `method` as lost after the
// server handled them: what a connection reset after the request arrived looks like.
class losing_transport final : public http_transport {
public:
    losing_transport(http_transport& inner, std::string method, int count)
        : inner_(inner), method_(std::move(method)), count_(count) {}
    tl::expected<http_response, transport_error> send(const http_request& request) override {
        auto answer = inner_.send(request);
        if (request.method == method_ && count_ > 0) {
            --count_;
            return tl::unexpected(transport_error{transport_errc::connection, "Connection reset by peer (test)"});
        }
        return answer;
    }

private:
    http_transport& inner_;
    std::string method_;
    int count_;
};

class CloudflareClient : public ::testing::Test {
protected:
    void SetUp() override { start_fake(cloudflare_fake::options{}); }

    void TearDown() override {
        // The token really went out (so the checks below mean something) and never came back out.
        if (fake_ && fake_->total_requests() > 0 && !used_other_token_) {
            EXPECT_EQ(fake_->last_authorization(), std::string("Bearer ") + k_token);
        }
        for (const auto& line : logs_) EXPECT_EQ(line.find(k_token), std::string::npos) << line;
        for (const auto& text : errors_) EXPECT_EQ(text.find(k_token), std::string::npos) << text;
    }

    void start_fake(cloudflare_fake::options opts) {
        fake_.reset();
        opts.tokens = {k_token};
        if (opts.zones.empty() && opts.generated_zones == 0) opts.zones = {"example.com", "example.org"};
        auto started = cloudflare_fake::start(std::move(opts));
        ASSERT_TRUE(started) << started.error();
        fake_ = std::move(*started);
    }

    client_config config() const {
        client_config c;
        c.api_base = fake_->base_url();
        c.api_token = k_token;
        c.token_source = "api_token_file (/etc/tunnelmgr/cloudflare-token)";
        c.account_id = fake_->account_id();
        c.timeout = 5000ms;
        c.max_retries = 3;
        return c;
    }

    std::unique_ptr<cloudflare_client> client(client_config c, http_transport* transport = nullptr) {
        transports_.push_back(std::make_unique<curl_transport>(c.ca_file));
        http_transport& t = transport != nullptr ? *transport : *transports_.back();
        return std::make_unique<cloudflare_client>(
            std::move(c), t, clock_,
            [this](log_level level, std::string_view msg) {
                logs_.push_back(std::to_string(static_cast<int>(level)) + " " + std::string(msg));
            },
            [] { return 0.5; });
    }
    std::unique_ptr<cloudflare_client> client() { return client(config()); }

    template <class T>
    cf_error error_of(const cf_result<T>& r) {
        EXPECT_FALSE(r);
        if (r) return {};
        errors_.push_back(r.error().message);
        return r.error();
    }

    std::string zone_id(const std::string& name = "example.com") const { return fake_->find_zone(name)->id; }

    bool logged(const std::string& fragment) const {
        return std::any_of(logs_.begin(), logs_.end(),
                           [&](const std::string& l) { return l.find(fragment) != std::string::npos; });
    }

    std::unique_ptr<cloudflare_fake> fake_;
    fake_clock clock_;
    std::vector<std::unique_ptr<http_transport>> transports_;
    std::vector<std::string> logs_;
    std::vector<std::string> errors_;
    bool used_other_token_ = false;
};

// ---- token ----

TEST_F(CloudflareClient, VerifiesAGoodToken) {
    auto c = client();
    auto ok = c->verify_token();
    EXPECT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(fake_->request_count("GET", "/user/tokens/verify"), 1U);
    EXPECT_TRUE(logged("GET /user/tokens/verify -> 200"));
}

TEST_F(CloudflareClient, ABadTokenIsRefusedWithASentence) {
    auto cfg = config();
    cfg.api_token = "wrong-token-for-tests";
    used_other_token_ = true;
    auto c = client(cfg);
    const auto err = error_of(c->verify_token());
    EXPECT_EQ(err.kind, cf_errc::denied);
    EXPECT_NE(err.message.find("the Cloudflare API token was refused (HTTP 401, code 1000"), std::string::npos)
        << err.message;
    EXPECT_NE(err.message.find("check api_token_file"), std::string::npos) << err.message;
    EXPECT_EQ(err.message.find("wrong-token-for-tests"), std::string::npos) << err.message;
    EXPECT_TRUE(clock_.waits.empty());  // a refusal is final: no retry

    // A revoked token on any other call is TM_DENIED with the permissions advice.
    fake_->revoke_token(k_token);
    auto other = client();
    const auto denied = error_of(other->list_zones());
    EXPECT_EQ(denied.kind, cf_errc::denied);
    EXPECT_NE(denied.message.find("code 10000"), std::string::npos) << denied.message;
    EXPECT_NE(denied.message.find("Zone:DNS:Edit"), std::string::npos) << denied.message;
}

// ---- zones ----

TEST_F(CloudflareClient, ListsEveryZoneAcrossPages) {
    cloudflare_fake::options opts;
    opts.generated_zones = 120;
    start_fake(opts);
    auto c = client();
    auto zones = c->list_zones();
    ASSERT_TRUE(zones) << zones.error().message;
    ASSERT_EQ(zones->size(), 120U);
    EXPECT_EQ(fake_->request_count("GET", "/zones"), 3U);
    EXPECT_EQ(zones->front().name, "zone-001.example");
    EXPECT_EQ(zones->back().name, "zone-120.example");
    EXPECT_EQ(zones->at(60).zone_id, fake_->find_zone("zone-061.example")->id);
    EXPECT_EQ(zones->at(60).status, "active");
    for (const auto& r : fake_->requests()) EXPECT_NE(r.query.find("per_page=50"), std::string::npos) << r.query;
}

// ---- records ----

TEST_F(CloudflareClient, CreatesFindsAndDeletesByIdOnlyWithTheOwnersComment) {
    auto c = client();
    auto created = c->create_record(zone_id(), new_cname{"App.Example.com", k_target, k_comment});
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_EQ(created->name, "app.example.com");
    EXPECT_EQ(created->type, "CNAME");
    auto stored = fake_->record(created->id);
    ASSERT_TRUE(stored);
    EXPECT_TRUE(stored->proxied);
    EXPECT_EQ(stored->ttl, 1);
    EXPECT_EQ(stored->content, k_target);
    EXPECT_EQ(stored->comment, k_comment);

    auto found = c->find_record(zone_id(), "app.example.com", "CNAME");
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(found->id, created->id);
    EXPECT_EQ(found->comment, k_comment);
    EXPECT_TRUE(found->proxied);
    const auto last = fake_->requests().back();
    EXPECT_NE(last.query.find("name.exact=app.example.com"), std::string::npos) << last.query;
    EXPECT_NE(last.query.find("type=CNAME"), std::string::npos) << last.query;

    auto deleted = c->delete_record(zone_id(), created->id, k_comment);
    ASSERT_TRUE(deleted) << deleted.error().message;
    EXPECT_FALSE(fake_->record(created->id));
    EXPECT_EQ(fake_->request_count("DELETE", "/zones/" + zone_id() + "/dns_records/" + created->id), 1U);

    EXPECT_EQ(error_of(c->delete_record(zone_id(), created->id, k_comment)).kind, cf_errc::not_found);
    EXPECT_EQ(error_of(c->find_record(zone_id(), "app.example.com", "CNAME")).kind, cf_errc::not_found);
    EXPECT_EQ(error_of(c->find_record("00000000000000000000000000000000", "app.example.com", "CNAME")).kind,
              cf_errc::not_found);
}

TEST_F(CloudflareClient, AForeignRecordIsAConflictNamingTheHost) {
    fake_dns_record foreign;
    foreign.type = "A";
    foreign.name = "shop.example.com";
    foreign.content = "192.0.2.10";
    ASSERT_TRUE(fake_->add_foreign_record("example.com", foreign));
    auto c = client();
    const auto err = error_of(c->create_record(zone_id(), new_cname{"shop.example.com", k_target, k_comment}));
    EXPECT_EQ(err.kind, cf_errc::conflict);
    EXPECT_NE(err.message.find("shop.example.com"), std::string::npos) << err.message;
    EXPECT_NE(err.message.find("81053"), std::string::npos) << err.message;
    EXPECT_EQ(fake_->records("example.com").size(), 1U);

    // Creating the same CNAME twice: the second is a conflict too, not a second record.
    ASSERT_TRUE(c->create_record(zone_id(), new_cname{"mine.example.com", k_target, k_comment}));
    EXPECT_EQ(error_of(c->create_record(zone_id(), new_cname{"mine.example.com", k_target, k_comment})).kind,
              cf_errc::conflict);
    EXPECT_EQ(fake_->records("example.com").size(), 2U);
}

TEST_F(CloudflareClient, RefusesToDeleteARecordThatIsNotOurs) {
    fake_dns_record unmarked;
    unmarked.type = "CNAME";
    unmarked.name = "blog.example.com";
    unmarked.content = "blog.hosting.example";
    auto a = fake_->add_foreign_record("example.com", unmarked);
    ASSERT_TRUE(a) << a.error();
    fake_dns_record other_project = unmarked;
    other_project.name = "wiki.example.com";
    other_project.comment = "tunnelmgr:other-project";
    auto b = fake_->add_foreign_record("example.com", other_project);
    ASSERT_TRUE(b) << b.error();

    auto c = client();
    const auto no_comment = error_of(c->delete_record(zone_id(), a->id, k_comment));
    EXPECT_EQ(no_comment.kind, cf_errc::conflict);
    EXPECT_NE(no_comment.message.find("blog.example.com"), std::string::npos) << no_comment.message;
    EXPECT_NE(no_comment.message.find("is not tunnelmgr's (it has no comment); left in place"), std::string::npos)
        << no_comment.message;
    const auto other = error_of(c->delete_record(zone_id(), b->id, k_comment));
    EXPECT_EQ(other.kind, cf_errc::conflict);
    EXPECT_NE(other.message.find("wiki.example.com (id " + b->id +
                                 ") is not tunnelmgr's (its comment is 'tunnelmgr:other-project'); left in place"),
              std::string::npos)
        << other.message;
    EXPECT_EQ(error_of(c->delete_record(zone_id(), b->id, "")).kind, cf_errc::invalid);

    EXPECT_TRUE(fake_->record(a->id));
    EXPECT_TRUE(fake_->record(b->id));
    EXPECT_EQ(fake_->request_count_prefix("DELETE", "/zones/"), 0U);
}

TEST_F(CloudflareClient, BadInputIsRefusedBeforeAnyRequest) {
    auto c = client();
    EXPECT_EQ(error_of(c->create_record(zone_id(), new_cname{"a.example.com", k_target, std::string(101, 'x')})).kind,
              cf_errc::invalid);
    EXPECT_EQ(error_of(c->create_record(zone_id(), new_cname{"a.example.com", k_target, std::string("two\nlines")})).kind,
              cf_errc::invalid);
    EXPECT_EQ(error_of(c->create_record("../../user", new_cname{"a.example.com", k_target, k_comment})).kind,
              cf_errc::invalid);
    EXPECT_EQ(error_of(c->find_record(zone_id(), "a.example.com&type=A", "CNAME")).kind, cf_errc::invalid);
    EXPECT_EQ(error_of(c->delete_record(zone_id(), "x/../y", k_comment)).kind, cf_errc::invalid);
    EXPECT_EQ(fake_->total_requests(), 0U);
    // 100 characters (not bytes) is allowed.
    std::string hundred;
    for (int i = 0; i < 100; ++i) hundred += "\xC3\xA9";  // é
    auto ok = c->create_record(zone_id(), new_cname{"a.example.com", k_target, hundred});
    if (!ok) errors_.push_back(ok.error().message);
    EXPECT_NE(fake_->total_requests(), 0U);
}

// ---- listing records by comment ----

namespace {

fake_dns_record tunnel_cname(const std::string& name, std::optional<std::string> comment) {
    fake_dns_record r;
    r.type = "CNAME";
    r.name = name;
    r.content = k_target;
    r.proxied = true;
    r.comment = std::move(comment);
    return r;
}

}  // namespace

TEST_F(CloudflareClient, ListsTheMarkedRecordsOfAZoneAcrossEveryPage) {
    // 250 marked, more than two pages of 100; around them what must not be listed.
    for (int i = 0; i < 250; ++i) {
        const std::string project = i % 2 == 0 ? "alpha" : "beta";
        ASSERT_TRUE(fake_->add_foreign_record(
            "example.com", tunnel_cname("m" + std::to_string(i) + ".example.com", "tunnelmgr:" + project)));
        if (i % 50 == 0) {
            ASSERT_TRUE(fake_->add_foreign_record("example.com", tunnel_cname("u" + std::to_string(i) + ".example.com",
                                                                              std::string("someone else"))));
            ASSERT_TRUE(fake_->add_foreign_record("example.com", tunnel_cname("n" + std::to_string(i) + ".example.com",
                                                                              std::nullopt)));
        }
    }
    // Cloudflare matches comment.startswith ignoring case; the marker does not.
    ASSERT_TRUE(fake_->add_foreign_record("example.com", tunnel_cname("upper.example.com", std::string("TunnelMgr:alpha"))));
    ASSERT_TRUE(fake_->add_foreign_record("example.org", tunnel_cname("other-zone.example.org", std::string("tunnelmgr:alpha"))));

    auto c = client();
    auto listed = c->list_records(zone_id(), "tunnelmgr:");
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed->size(), 250U);
    std::set<std::string> names;
    for (const auto& r : *listed) {
        names.insert(r.name);
        ASSERT_TRUE(r.comment.has_value()) << r.name;
        EXPECT_EQ(r.comment->rfind("tunnelmgr:", 0), 0U) << r.name << ": " << *r.comment;
        EXPECT_FALSE(r.id.empty()) << r.name;
        EXPECT_EQ(r.content, k_target) << r.name;
        EXPECT_TRUE(r.proxied) << r.name;
    }
    EXPECT_EQ(names.size(), 250U) << "each record once";
    EXPECT_EQ(names.count("m0.example.com"), 1U);
    EXPECT_EQ(names.count("m249.example.com"), 1U);
    EXPECT_EQ(names.count("upper.example.com"), 0U);
    EXPECT_EQ(names.count("u0.example.com"), 0U);

    // Three pages of 100 (the fake filters as Cloudflare does, so it counts the upper-case one too).
    const std::string path = "/zones/" + zone_id() + "/dns_records";
    EXPECT_EQ(fake_->request_count("GET", path), 3U);
    std::vector<std::string> queries;
    for (const auto& r : fake_->requests()) {
        if (r.path == path) queries.push_back(r.query);
    }
    EXPECT_EQ(queries, (std::vector<std::string>{"comment.startswith=tunnelmgr%3A&per_page=100&page=1",
                                                 "comment.startswith=tunnelmgr%3A&per_page=100&page=2",
                                                 "comment.startswith=tunnelmgr%3A&per_page=100&page=3"}));

    // An empty zone is one request and an empty list.
    auto none = c->list_records(zone_id(), "tunnelmgr:nobody");
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_TRUE(none->empty());
    EXPECT_EQ(fake_->request_count("GET", path), 4U);
}

TEST_F(CloudflareClient, ListingWaitsOutA429AndA500ThenGoesOn) {
    for (int i = 0; i < 150; ++i) {
        ASSERT_TRUE(fake_->add_foreign_record("example.com", tunnel_cname("m" + std::to_string(i) + ".example.com",
                                                                          std::string("tunnelmgr:alpha"))));
    }
    fault_rule limited;
    limited.path_prefix = "/zones/";
    limited.status = 429;
    limited.retry_after_seconds = 3;
    fake_->inject_fault(limited);
    fault_rule broken;
    broken.path_prefix = "/zones/";
    broken.status = 500;
    fake_->inject_fault(broken);

    auto c = client();
    auto listed = c->list_records(zone_id(), "tunnelmgr:");
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_EQ(listed->size(), 150U);
    ASSERT_EQ(clock_.waits.size(), 2U);
    EXPECT_GE(clock_.waits[0], 3000ms);  // never sooner than Retry-After asked
    EXPECT_LE(clock_.waits[0], 3300ms);
    EXPECT_EQ(clock_.waits[1], 1000ms);  // the second retry of the same request backs off further
    EXPECT_EQ(fake_->request_count("GET", "/zones/" + zone_id() + "/dns_records"), 4U);  // 2 refused, 2 pages
    EXPECT_TRUE(logged("rate limited"));

    // Past max_retries the listing fails as a transient error, naming the request, and lists nothing.
    fault_rule down;
    down.path_prefix = "/zones/";
    down.status = 503;
    down.count = 10;
    fake_->inject_fault(down);
    const auto err = error_of(c->list_records(zone_id(), "tunnelmgr:"));
    EXPECT_EQ(err.kind, cf_errc::retry);
    EXPECT_NE(err.message.find("Cloudflare failed GET /zones/" + zone_id() + "/dns_records 4 times"), std::string::npos)
        << err.message;
}

TEST_F(CloudflareClient, ThePrefixIsEncodedInTheQuery) {
    const std::string prefix = "tunnelmgr:a b&c=d+e%f#g?";
    ASSERT_TRUE(fake_->add_foreign_record("example.com", tunnel_cname("exact.example.com", prefix)));
    ASSERT_TRUE(fake_->add_foreign_record("example.com", tunnel_cname("longer.example.com", prefix + "/x")));
    // What a prefix pasted into the query unencoded would match instead.
    ASSERT_TRUE(fake_->add_foreign_record("example.com", tunnel_cname("cut.example.com", std::string("tunnelmgr:a b"))));
    ASSERT_TRUE(fake_->add_foreign_record("example.com",
                                          tunnel_cname("spaced.example.com", std::string("tunnelmgr:a b&c=d e%f#g?"))));
    auto c = client();
    auto listed = c->list_records(zone_id(), prefix);
    ASSERT_TRUE(listed) << listed.error().message;
    std::set<std::string> names;
    for (const auto& r : *listed) names.insert(r.name);
    EXPECT_EQ(names, (std::set<std::string>{"exact.example.com", "longer.example.com"}));
    EXPECT_EQ(fake_->requests().back().query,
              "comment.startswith=tunnelmgr%3Aa%20b%26c%3Dd%2Be%25f%23g%3F&per_page=100&page=1");
}

TEST_F(CloudflareClient, ListingRefusesBadInputBeforeAnyRequestAndNamesAnUnknownZone) {
    auto c = client();
    EXPECT_EQ(error_of(c->list_records("../../user", "tunnelmgr:")).kind, cf_errc::invalid);
    EXPECT_EQ(error_of(c->list_records(zone_id(), "")).kind, cf_errc::invalid);
    EXPECT_EQ(error_of(c->list_records(zone_id(), "two\nlines")).kind, cf_errc::invalid);
    EXPECT_EQ(error_of(c->list_records(zone_id(), std::string(101, 'x'))).kind, cf_errc::invalid);
    EXPECT_EQ(fake_->total_requests(), 0U);
    const auto unknown = error_of(c->list_records("00000000000000000000000000000000", "tunnelmgr:"));
    EXPECT_EQ(unknown.kind, cf_errc::not_found);
    EXPECT_NE(unknown.message.find("zone 00000000000000000000000000000000 does not exist for this token"),
              std::string::npos)
        << unknown.message;
}

// ---- retries ----

TEST_F(CloudflareClient, HonoursRetryAfterOn429ThenSucceeds) {
    fault_rule limited;
    limited.path_prefix = "/zones";
    limited.status = 429;
    limited.retry_after_seconds = 2;
    fake_->inject_fault(limited);
    auto c = client();
    auto zones = c->list_zones();
    ASSERT_TRUE(zones) << zones.error().message;
    EXPECT_EQ(zones->size(), 2U);
    ASSERT_EQ(clock_.waits.size(), 1U);
    EXPECT_GE(clock_.waits[0], 2000ms);  // never sooner than asked
    EXPECT_LE(clock_.waits[0], 2200ms);
    EXPECT_EQ(fake_->request_count("GET", "/zones"), 2U);
    EXPECT_TRUE(logged("rate limited"));
}

TEST_F(CloudflareClient, RetriesA500WithBackoffThenSucceeds) {
    fault_rule broken;
    broken.status = 500;
    broken.path_prefix = "/zones";
    fake_->inject_fault(broken);
    auto c = client();
    auto zones = c->list_zones();
    ASSERT_TRUE(zones) << zones.error().message;
    ASSERT_EQ(clock_.waits.size(), 1U);
    EXPECT_EQ(clock_.waits[0], 500ms);
}

TEST_F(CloudflareClient, ADroppedPostIsCheckedBeforeItIsSentAgain) {
    fault_rule drop;
    drop.method = "POST";
    drop.path_prefix = "/zones/";
    drop.kind = fault_kind::drop_connection;
    fake_->inject_fault(drop);
    auto c = client();
    auto created = c->create_record(zone_id(), new_cname{"app.example.com", k_target, k_comment});
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_EQ(fake_->records("example.com").size(), 1U);
    const std::string path = "/zones/" + zone_id() + "/dns_records";
    EXPECT_EQ(fake_->request_count("POST", path), 2U);
    EXPECT_EQ(fake_->request_count("GET", path), 1U);  // the look before the second POST
}

TEST_F(CloudflareClient, APostWhoseAnswerWasLostIsNotMadeTwice) {
    auto cfg = config();
    curl_transport real;
    losing_transport losing(real, "POST", 1);
    auto c = client(cfg, &losing);
    auto created = c->create_record(zone_id(), new_cname{"app.example.com", k_target, k_comment});
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_EQ(fake_->records("example.com").size(), 1U);
    EXPECT_EQ(fake_->request_count("POST", "/zones/" + zone_id() + "/dns_records"), 1U);
    EXPECT_EQ(created->comment, k_comment);
}

TEST_F(CloudflareClient, ADeleteWhoseAnswerWasLostCountsAsDone) {
    auto c = client();
    auto created = c->create_record(zone_id(), new_cname{"app.example.com", k_target, k_comment});
    ASSERT_TRUE(created);
    curl_transport real;
    losing_transport losing(real, "DELETE", 1);
    auto d = client(config(), &losing);
    auto deleted = d->delete_record(zone_id(), created->id, k_comment);
    EXPECT_TRUE(deleted) << deleted.error().message;
    EXPECT_FALSE(fake_->record(created->id));
}

TEST_F(CloudflareClient, ExhaustedRetriesAreATransientErrorWithASentence) {
    fault_rule down;
    down.status = 503;
    down.count = 10;
    fake_->inject_fault(down);
    auto cfg = config();
    cfg.max_retries = 2;
    auto c = client(cfg);
    const auto err = error_of(c->list_zones());
    EXPECT_EQ(err.kind, cf_errc::retry);
    EXPECT_NE(err.message.find("Cloudflare failed GET /zones 3 times (last: HTTP 503"), std::string::npos)
        << err.message;
    EXPECT_NE(err.message.find("try again in a few minutes"), std::string::npos) << err.message;
    ASSERT_EQ(clock_.waits.size(), 2U);
    EXPECT_EQ(clock_.waits[0], 500ms);
    EXPECT_EQ(clock_.waits[1], 1000ms);
    EXPECT_EQ(fake_->total_requests(), 3U);

    // A POST that keeps failing: looked up after each unknown outcome, never duplicated.
    fake_->clear_faults();
    fault_rule post_down;
    post_down.method = "POST";
    post_down.status = 502;
    post_down.count = 10;
    fake_->inject_fault(post_down);
    const auto post_err = error_of(c->create_record(zone_id(), new_cname{"app.example.com", k_target, k_comment}));
    EXPECT_EQ(post_err.kind, cf_errc::retry);
    EXPECT_TRUE(fake_->records("example.com").empty());
}

TEST_F(CloudflareClient, NoAnswerWithinTheTimeoutIsATimeout) {
    fault_rule slow;
    slow.kind = fault_kind::delay;
    slow.delay = 1500ms;
    slow.count = 2;
    slow.path_prefix = "/zones";
    fake_->inject_fault(slow);
    auto cfg = config();
    cfg.timeout = 200ms;
    cfg.max_retries = 1;
    auto c = client(cfg);
    const auto err = error_of(c->list_zones());
    EXPECT_EQ(err.kind, cf_errc::timeout);
    EXPECT_NE(err.message.find("Cloudflare did not answer GET /zones after 2 attempts"), std::string::npos)
        << err.message;
    EXPECT_NE(err.message.find("dns.timeout_ms"), std::string::npos) << err.message;
}

TEST_F(CloudflareClient, AnUnreachableApiIsATransientError) {
    auto cfg = config();
    const int port = fake_->port();
    fake_->stop();
    fake_.reset();
    cfg.api_base = "http://127.0.0.1:" + std::to_string(port) + "/client/v4";
    cfg.max_retries = 1;
    auto c = client(cfg);
    const auto err = error_of(c->verify_token());
    EXPECT_EQ(err.kind, cf_errc::retry);
    EXPECT_NE(err.message.find("the connection failed"), std::string::npos) << err.message;
}

// ---- budget ----

TEST_F(CloudflareClient, TheLocalBudgetRefusesTheRequestPastIt) {
    fake_->set_rate_limit(tunnelmgr::testing::rate_limit_rule{});  // 1200 / 5 min: only to measure the peak
    auto cfg = config();
    cfg.budget_per_5min = 5;
    auto c = client(cfg);
    ASSERT_TRUE(c->verify_token());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(c->list_zones());
    const auto err = error_of(c->list_zones());
    EXPECT_EQ(err.kind, cf_errc::retry);
    EXPECT_NE(err.message.find("budget of 5 Cloudflare requests per 5 minutes (dns.budget_per_5min) is used up"),
              std::string::npos)
        << err.message;
    EXPECT_EQ(fake_->total_requests(), 5U);
    EXPECT_EQ(fake_->peak_requests_in_window(), 5U);
    EXPECT_EQ(fake_->rate_limited_count(), 0U);
}

TEST_F(CloudflareClient, TheLocalBudgetWaitsWhenASlotFreesSoon) {
    auto cfg = config();
    cfg.budget_per_5min = 5;
    auto c = client(cfg);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(c->list_zones());
    clock_.advance(4min + 30s);
    auto sixth = c->list_zones();
    ASSERT_TRUE(sixth) << sixth.error().message;
    ASSERT_EQ(clock_.waits.size(), 1U);
    EXPECT_EQ(clock_.waits[0], 30s);
    EXPECT_EQ(fake_->total_requests(), 6U);
    EXPECT_TRUE(logged("request budget of 5 per 5 minutes reached"));
}

// ---- tunnel configuration ----

TEST_F(CloudflareClient, PutsAndGetsTheTunnelConfiguration) {
    auto c = client();
    auto before = c->get_tunnel_config(k_tunnel);
    ASSERT_TRUE(before) << before.error().message;
    EXPECT_EQ(*before, R"({"config":{"ingress":[]},"version":0})");

    const std::string body =
        R"({"config":{"ingress":[{"hostname":"app.example.com","service":"http://localhost:3100"},)"
        R"({"service":"http_status:404"}],"originRequest":{"connectTimeout":30}}})";
    auto put = c->put_tunnel_config(k_tunnel, body);
    ASSERT_TRUE(put) << put.error().message;
    auto stored = fake_->tunnel_configuration(k_tunnel);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->version, 1);

    auto after = c->get_tunnel_config(k_tunnel);
    ASSERT_TRUE(after) << after.error().message;
    rapidjson::Document d;
    d.Parse(after->c_str());
    ASSERT_TRUE(d.IsObject()) << *after;
    EXPECT_EQ(d["config"]["ingress"].Size(), 2U);
    EXPECT_STREQ(d["config"]["ingress"][0]["hostname"].GetString(), "app.example.com");
    EXPECT_EQ(d["config"]["originRequest"]["connectTimeout"].GetInt(), 30);
    EXPECT_EQ(d["version"].GetInt(), 1);

    // Cloudflare's own refusal (no catch-all) is TM_INVALID; so is a malformed body, before sending.
    const auto refused = error_of(c->put_tunnel_config(
        k_tunnel, R"({"config":{"ingress":[{"hostname":"a.example.com","service":"http://localhost:1"}]}})"));
    EXPECT_EQ(refused.kind, cf_errc::invalid);
    EXPECT_NE(refused.message.find("1056"), std::string::npos) << refused.message;
    EXPECT_EQ(error_of(c->put_tunnel_config(k_tunnel, R"({"ingress":[]})")).kind, cf_errc::invalid);

    auto no_account = config();
    no_account.account_id.clear();
    auto d2 = client(no_account);
    const auto missing = error_of(d2->get_tunnel_config(k_tunnel));
    EXPECT_EQ(missing.kind, cf_errc::invalid);
    EXPECT_NE(missing.message.find("dns.account_id is not set"), std::string::npos) << missing.message;
}

TEST_F(CloudflareClient, APutNamingTheVersionItReadIsCheckedAgainstTheVersionItMade) {
    auto c = client();
    const std::string config =
        R"({"ingress":[{"hostname":"app.example.com","service":"http://localhost:3100"},{"service":"http_status:404"}]})";
    auto at = [&](int version) { return R"({"config":)" + config + R"(,"version":)" + std::to_string(version) + "}"; };
    // Read at 0, nobody in between: version 1, fine; "version" itself never reaches Cloudflare.
    auto put = c->put_tunnel_config(k_tunnel, at(0));
    ASSERT_TRUE(put) << put.error().message;
    EXPECT_EQ(fake_->tunnel_configuration(k_tunnel)->version, 1);
    EXPECT_EQ(fake_->tunnel_configuration(k_tunnel)->config_json.find("version"), std::string::npos);

    // Another writer lands between the read (at 1) and this PUT: stored as 3, reported as a conflict.
    const std::string theirs = R"({"ingress":[{"service":"http_status:503"}]})";
    fake_->race_tunnel_puts({k_tunnel, theirs, 1, tunnel_race::at::before_put});
    const auto raced = error_of(c->put_tunnel_config(k_tunnel, at(1)));
    EXPECT_EQ(raced.kind, cf_errc::conflict);
    EXPECT_NE(raced.message.find("read at version 1 but stored as version 3"), std::string::npos) << raced.message;
    EXPECT_NE(fake_->tunnel_configuration(k_tunnel)->config_json.find("app.example.com"), std::string::npos)
        << "the configuration is stored all the same";

    // A writer landing after the PUT is not this PUT's conflict: the caller's next read shows it.
    fake_->race_tunnel_puts({k_tunnel, theirs, 1, tunnel_race::at::after_put});
    auto before_them = c->put_tunnel_config(k_tunnel, at(3));
    ASSERT_TRUE(before_them) << before_them.error().message;
    auto got = c->get_tunnel_config(k_tunnel);
    ASSERT_TRUE(got);
    EXPECT_NE(got->find(R"("version":5)"), std::string::npos) << *got;

    EXPECT_EQ(error_of(c->put_tunnel_config(k_tunnel, R"({"config":)" + config + R"(,"version":"5"})")).kind, cf_errc::invalid);
    EXPECT_EQ(error_of(c->put_tunnel_config(k_tunnel, R"({"config":)" + config + R"(,"version":-1})")).kind, cf_errc::invalid);
    EXPECT_EQ(error_of(c->put_tunnel_config(k_tunnel, R"({"config":)" + config + R"(,"other":1})")).kind, cf_errc::invalid);
}

// ---- TLS ----

TEST_F(CloudflareClient, VerifiesHttpsAgainstTheConfiguredCa) {
    temp_dir dir;
    const auto pki = test::make_pki(dir.path());
    ASSERT_TRUE(pki.ok) << "the openssl CLI could not make the test CA";
    cloudflare_fake::options opts;
    opts.tls_cert_file = pki.server_cert.string();
    opts.tls_key_file = pki.server_key.string();
    start_fake(opts);
    ASSERT_EQ(fake_->base_url().rfind("https://127.0.0.1:", 0), 0U);

    auto trusting_cfg = config();
    trusting_cfg.ca_file = pki.ca_cert.string();
    auto trusting = client(trusting_cfg);
    auto ok = trusting->verify_token();
    ASSERT_TRUE(ok) << ok.error().message;
    auto zones = trusting->list_zones();
    ASSERT_TRUE(zones) << zones.error().message;
    EXPECT_EQ(zones->size(), 2U);

    // Without the test CA (the system's bundle only) the server is not trusted: the client really
    // verifies, and says what to set.
    auto stranger = client(config());
    const auto err = error_of(stranger->verify_token());
    EXPECT_EQ(err.kind, cf_errc::error);
    EXPECT_NE(err.message.find("could not be verified"), std::string::npos) << err.message;
    EXPECT_NE(err.message.find("dns.ca_file"), std::string::npos) << err.message;
    EXPECT_TRUE(clock_.waits.empty());
}

// ---- secrets ----

TEST_F(CloudflareClient, RedactsTheTokenWhereverItCouldAppear) {
    auto c = client();
    EXPECT_EQ(c->redact(std::string("a ") + k_token + " b " + k_token), "a [redacted] b [redacted]");
    // Every kind of failure, then the fixture checks every log line and message for the token.
    fault_rule down;
    down.status = 500;
    down.count = 2;
    down.body = std::string("{\"success\":false,\"errors\":[{\"code\":10500,\"message\":\"echo ") + k_token + "\"}]}";
    fake_->inject_fault(down);
    auto cfg = config();
    cfg.max_retries = 1;
    auto d = client(cfg);
    const auto err = error_of(d->list_zones());
    EXPECT_EQ(err.kind, cf_errc::retry);
    EXPECT_NE(err.message.find("[redacted]"), std::string::npos) << err.message;
    EXPECT_TRUE(logged("GET /zones?page=1&per_page=50 -> 500"));
}

}  // namespace
}  // namespace tunnelmgr::plugins::cloudflare_dns
