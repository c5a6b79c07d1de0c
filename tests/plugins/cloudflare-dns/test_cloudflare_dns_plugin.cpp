// The built cloudflare-dns.so through the C ABI only, as the host sees it: dlopen, tm_plugin_entry,
// init against the Cloudflare fake, the dns_provider_v1 table, rc codes, last_error sentences, and
// host log lines that never carry the token.
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "plugin_host/plugin_host.hpp"
#include <rapidjson/document.h>
#include <tunnelmgr/plugin_api.h>

#include "cloudflare_fake.hpp"
#include "test_support.hpp"

namespace {

using tunnelmgr::plugins::cloudflare_dns::test::k_token;
using tunnelmgr::plugins::cloudflare_dns::test::k_tunnel;
using tunnelmgr::plugins::cloudflare_dns::test::temp_dir;
using tunnelmgr::testing::cloudflare_fake;

constexpr const char* k_comment = "tunnelmgr:consilio";

using tunnelmgr::testing::parse;

class CloudflareDnsPlugin : public ::testing::Test {
protected:
    void SetUp() override {
        api_ = tunnelmgr::testing::load_plugin("cloudflare-dns", &lib_);
        ASSERT_NE(api_, nullptr);
        dns_ = api_->dns_provider_v1;
        ASSERT_NE(dns_, nullptr);

        cloudflare_fake::options opts;
        opts.tokens = {k_token};
        opts.zones = {"example.com"};
        auto fake = cloudflare_fake::start(opts);
        ASSERT_TRUE(fake) << fake.error();
        fake_ = std::move(*fake);
        token_file_ = dir_.write("cloudflare-token", std::string(k_token) + "\n").string();
    }

    void TearDown() override {
        if (api_ != nullptr && instance_ != nullptr) api_->destroy(instance_);
        for (const auto& line : host_.logs()) EXPECT_EQ(line.find(k_token), std::string::npos) << line;
        for (const auto& text : errors_) EXPECT_EQ(text.find(k_token), std::string::npos) << text;
        if (lib_ != nullptr) ::dlclose(lib_);
    }

    std::string config(const std::string& extra = "") const {
        return R"({"api_base":")" + fake_->base_url() + R"(","api_token_file":")" + token_file_ +
               R"(","account_id":")" + fake_->account_id() +
               R"(","default_domain":"example.com","timeout_ms":5000,"max_retries":1)" + extra + "}";
    }

    tm_plugin_t* init(const std::string& cfg, tm_rc* rc) { return api_->init(host_.api(), cfg.c_str(), rc); }

    tm_plugin_t* open() {
        tm_rc rc = TM_ERROR;
        instance_ = init(config(), &rc);
        EXPECT_EQ(rc, TM_OK) << api_->last_error(nullptr);
        return instance_;
    }

    std::string error() {
        std::string e = api_->last_error(instance_);
        errors_.push_back(e);
        return e;
    }
    std::string init_error() {
        std::string e = api_->last_error(nullptr);
        errors_.push_back(e);
        return e;
    }

    std::string zone_id() const { return fake_->find_zone("example.com")->id; }

    bool logged(const std::string& fragment) {
        for (const auto& l : host_.logs()) {
            if (l.find(fragment) != std::string::npos) return true;
        }
        return false;
    }

    void* lib_ = nullptr;
    const tm_plugin_api* api_ = nullptr;
    const tm_dns_provider_v1* dns_ = nullptr;
    tm_plugin_t* instance_ = nullptr;
    tunnelmgr::testing::recording_host host_;
    temp_dir dir_;
    std::string token_file_;
    std::unique_ptr<cloudflare_fake> fake_;
    std::vector<std::string> errors_;
};

TEST_F(CloudflareDnsPlugin, DescribesItself) {
    EXPECT_EQ(api_->struct_size, sizeof(tm_plugin_api));
    EXPECT_STREQ(api_->name(), "cloudflare-dns");
    EXPECT_STREQ(api_->required_api_version(), TM_PLUGIN_API_VERSION_STRING);
    EXPECT_EQ(api_->state_store_v1, nullptr);
    EXPECT_EQ(api_->transport_v1, nullptr);
    EXPECT_EQ(dns_->struct_size, sizeof(tm_dns_provider_v1));
    EXPECT_NE(dns_->put_tunnel_config, nullptr);
    EXPECT_NE(dns_->get_tunnel_config, nullptr);
    EXPECT_NE(dns_->list_records, nullptr);  // since 1.2
    auto schema = parse(api_->config_schema());
    ASSERT_TRUE(schema.IsObject());
    EXPECT_TRUE(schema["properties"].HasMember("api_token_file"));
    EXPECT_FALSE(schema["additionalProperties"].GetBool());
    // (That the .so exports only tm_plugin_entry is checked for every plugin by tests/abi/check_exports.sh.)
}

TEST_F(CloudflareDnsPlugin, ABadTokenOrConfigFailsInitWithASentence) {
    tm_rc rc = TM_OK;
    const std::string wrong = dir_.write("wrong-token", "wrong-token-for-tests\n").string();
    std::string cfg = config();
    cfg.replace(cfg.find(token_file_), token_file_.size(), wrong);
    EXPECT_EQ(init(cfg, &rc), nullptr);
    EXPECT_EQ(rc, TM_ERROR);
    const std::string refused = init_error();
    EXPECT_NE(refused.find("the Cloudflare API token was refused (HTTP 401, code 1000"), std::string::npos) << refused;
    EXPECT_NE(refused.find("check api_token_file (" + wrong + ")"), std::string::npos) << refused;
    EXPECT_EQ(refused.find("wrong-token-for-tests"), std::string::npos) << refused;

    EXPECT_EQ(init(config(R"(,"zone":"example.com")"), &rc), nullptr);
    EXPECT_NE(init_error().find("unknown key dns.zone"), std::string::npos);
    EXPECT_EQ(init(R"({"api_token_file":"/nonexistent/token"})", &rc), nullptr);
    EXPECT_NE(init_error().find("dns.api_token_file: cannot read /nonexistent/token"), std::string::npos);
}

TEST_F(CloudflareDnsPlugin, DrivesRecordsThroughTheCTable) {
    ASSERT_NE(open(), nullptr);
    EXPECT_TRUE(logged("1 cloudflare-dns: GET /user/tokens/verify -> 200"));
    const char* out = nullptr;

    ASSERT_EQ(dns_->list_zones(instance_, &out), TM_OK) << error();
    auto zones = parse(out);
    ASSERT_EQ(zones.Size(), 1U);
    EXPECT_EQ(zones[0]["zone_id"].GetString(), zone_id());
    EXPECT_STREQ(zones[0]["name"].GetString(), "example.com");

    const std::string zone = zone_id();
    EXPECT_EQ(dns_->find_record(instance_, zone.c_str(), "app.example.com", "CNAME", &out), TM_NOT_FOUND);
    EXPECT_NE(error().find("there is no CNAME record for app.example.com"), std::string::npos);

    const std::string rec = std::string(R"({"name":"app.example.com","content":")") + k_tunnel +
                            R"(.cfargotunnel.com","comment":")" + k_comment + R"("})";
    ASSERT_EQ(dns_->create_record(instance_, zone.c_str(), rec.c_str(), &out), TM_OK) << error();
    auto created = parse(out);
    const std::string id = created["id"].GetString();
    EXPECT_TRUE(created["proxied"].GetBool());
    EXPECT_STREQ(created["comment"].GetString(), k_comment);

    ASSERT_EQ(dns_->find_record(instance_, zone.c_str(), "app.example.com", "CNAME", &out), TM_OK) << error();
    EXPECT_EQ(parse(out)["id"].GetString(), id);

    EXPECT_EQ(dns_->create_record(instance_, zone.c_str(), rec.c_str(), &out), TM_CONFLICT);
    EXPECT_NE(error().find("app.example.com"), std::string::npos);
    EXPECT_EQ(dns_->create_record(instance_, zone.c_str(), R"({"name":"x.example.com"})", &out), TM_INVALID);

    EXPECT_EQ(dns_->delete_record(instance_, zone.c_str(), id.c_str(), "tunnelmgr:other"), TM_CONFLICT);
    EXPECT_NE(error().find("is not tunnelmgr's (its comment is 'tunnelmgr:consilio'); left in place"),
              std::string::npos);
    EXPECT_EQ(dns_->delete_record(instance_, zone.c_str(), id.c_str(), k_comment), TM_OK) << error();
    EXPECT_EQ(dns_->delete_record(instance_, zone.c_str(), id.c_str(), k_comment), TM_NOT_FOUND);
    EXPECT_TRUE(fake_->records().empty());
}

TEST_F(CloudflareDnsPlugin, ListsRecordsByCommentThroughTheCTable) {
    ASSERT_NE(open(), nullptr);
    const std::string zone = zone_id();
    const char* out = nullptr;
    for (const char* name : {"one.example.com", "two.example.com"}) {
        const std::string rec = std::string(R"({"name":")") + name + R"(","content":")" + k_tunnel +
                                R"(.cfargotunnel.com","comment":")" + k_comment + R"("})";
        ASSERT_EQ(dns_->create_record(instance_, zone.c_str(), rec.c_str(), &out), TM_OK) << error();
    }
    tunnelmgr::testing::fake_dns_record foreign;
    foreign.type = "CNAME";
    foreign.name = "blog.example.com";
    foreign.content = "blog.hosting.example";
    foreign.comment = "made by hand";
    ASSERT_TRUE(fake_->add_foreign_record("example.com", foreign));

    ASSERT_EQ(dns_->list_records(instance_, zone.c_str(), "tunnelmgr:", &out), TM_OK) << error();
    auto listed = parse(out);
    ASSERT_TRUE(listed.IsArray()) << out;
    ASSERT_EQ(listed.Size(), 2U) << out;
    for (const auto& r : listed.GetArray()) {
        EXPECT_STREQ(r["comment"].GetString(), k_comment);
        EXPECT_STREQ(r["type"].GetString(), "CNAME");
        EXPECT_TRUE(r["proxied"].GetBool());
        EXPECT_FALSE(std::string(r["id"].GetString()).empty());
    }
    EXPECT_STREQ(listed[0]["name"].GetString(), "one.example.com");

    ASSERT_EQ(dns_->list_records(instance_, zone.c_str(), "tunnelmgr:nobody", &out), TM_OK) << error();
    EXPECT_STREQ(out, "[]");
    EXPECT_EQ(dns_->list_records(instance_, zone.c_str(), "", &out), TM_INVALID);
    EXPECT_NE(error().find("list_records needs a comment prefix"), std::string::npos);
    EXPECT_EQ(dns_->list_records(instance_, "00000000000000000000000000000000", "tunnelmgr:", &out), TM_NOT_FOUND);
    EXPECT_NE(error().find("does not exist for this token"), std::string::npos);
}

TEST_F(CloudflareDnsPlugin, MapsFailuresToReturnCodes) {
    ASSERT_NE(open(), nullptr);
    const char* out = nullptr;
    tunnelmgr::testing::fault_rule down;
    down.status = 503;
    down.count = 2;
    fake_->inject_fault(down);
    EXPECT_EQ(dns_->list_zones(instance_, &out), TM_RETRY);  // max_retries 1: two tries, ~0.5 s real backoff
    EXPECT_NE(error().find("try again in a few minutes"), std::string::npos);
    EXPECT_TRUE(logged("3 cloudflare-dns: GET /zones?page=1&per_page=50: HTTP 503"));

    fake_->revoke_token(k_token);
    EXPECT_EQ(dns_->list_zones(instance_, &out), TM_DENIED);
    EXPECT_NE(error().find("Cloudflare refused to list the zones"), std::string::npos);
}

TEST_F(CloudflareDnsPlugin, PutsAndGetsTheTunnelConfiguration) {
    ASSERT_NE(open(), nullptr);
    const char* out = nullptr;
    ASSERT_EQ(dns_->get_tunnel_config(instance_, k_tunnel, &out), TM_OK) << error();
    EXPECT_STREQ(out, R"({"config":{"ingress":[]},"version":0})");
    const char* body = R"({"config":{"ingress":[{"hostname":"app.example.com","service":"http://localhost:3100"},{"service":"http_status:404"}]}})";
    ASSERT_EQ(dns_->put_tunnel_config(instance_, k_tunnel, body), TM_OK) << error();
    ASSERT_EQ(dns_->get_tunnel_config(instance_, k_tunnel, &out), TM_OK) << error();
    EXPECT_EQ(parse(out)["config"]["ingress"].Size(), 2U);
    EXPECT_EQ(dns_->put_tunnel_config(instance_, "not a tunnel", body), TM_INVALID);
}

}  // namespace

// A CLI command starts the plugin anew each time: a token Cloudflare accepted a moment ago is not
// checked again (token_memo_seconds), a refused one always is, and a refusal later drops the memo.
class CloudflareDnsPluginMemo : public CloudflareDnsPlugin {
protected:
    void SetUp() override {
        CloudflareDnsPlugin::SetUp();
        const char* old = std::getenv("XDG_RUNTIME_DIR");
        saved_runtime_dir_ = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
        ::setenv("XDG_RUNTIME_DIR", dir_.path().c_str(), 1);
    }
    void TearDown() override {
        if (saved_runtime_dir_) {
            ::setenv("XDG_RUNTIME_DIR", saved_runtime_dir_->c_str(), 1);
        } else {
            ::unsetenv("XDG_RUNTIME_DIR");
        }
        CloudflareDnsPlugin::TearDown();
    }
    // One start and stop of the plugin, as one CLI command makes; the rc of init.
    tm_rc start_and_stop(const std::string& cfg) {
        tm_rc rc = TM_ERROR;
        tm_plugin_t* p = init(cfg, &rc);
        if (p != nullptr) api_->destroy(p);
        return rc;
    }
    std::size_t verifications() const { return fake_->request_count("GET", "/client/v4/user/tokens/verify"); }

    std::optional<std::string> saved_runtime_dir_;
};

TEST_F(CloudflareDnsPluginMemo, ASecondStartAsksCloudflareNothing) {
    const std::string cfg = config(R"(,"token_memo_seconds":600)");
    ASSERT_EQ(start_and_stop(cfg), TM_OK) << init_error();
    ASSERT_EQ(verifications(), 1U);
    ASSERT_EQ(start_and_stop(cfg), TM_OK) << init_error();
    EXPECT_EQ(verifications(), 1U);
    EXPECT_EQ(fake_->total_requests(), 1U);
    EXPECT_TRUE(logged("checked less than 600 s ago, not asked again"));

    // The memo holds a hash, never the token, in a file only this user can read.
    const auto file = dir_.path() / "tunnelmgr" / "cloudflare-token-checks";
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text.size(), 64U + 1 + 10 + 1) << text;
    EXPECT_EQ(text.find(k_token), std::string::npos);
    EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

    // Without the memo (0, the default for a loopback api_base) every start asks.
    ASSERT_EQ(start_and_stop(config()), TM_OK) << init_error();
    EXPECT_EQ(verifications(), 2U);
}

TEST_F(CloudflareDnsPluginMemo, ARefusedTokenIsNeverRememberedAndARefusalDropsTheMemo) {
    const std::string cfg = config(R"(,"token_memo_seconds":600)");
    tm_rc rc = TM_ERROR;
    ASSERT_NE(instance_ = init(cfg, &rc), nullptr) << init_error();  // remembered
    fake_->revoke_token(k_token);
    const char* out = nullptr;
    EXPECT_EQ(dns_->list_zones(instance_, &out), TM_DENIED);  // Cloudflare refuses it now: forgotten
    EXPECT_NE(error().find("Cloudflare refused to list the zones"), std::string::npos);

    // So the next start checks again, and fails with the same sentence as without a memo; and again.
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(start_and_stop(cfg), TM_ERROR);
        const std::string refused = init_error();
        EXPECT_NE(refused.find("the Cloudflare API token was refused (HTTP 401, code 1000"), std::string::npos) << refused;
    }
    EXPECT_EQ(verifications(), 3U);
}
