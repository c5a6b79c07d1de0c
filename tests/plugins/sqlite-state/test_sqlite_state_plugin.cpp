// The built sqlite-state.so through the C ABI only, as the host sees it: dlopen, tm_plugin_entry,
// init with a config, table calls, rc codes and last_error sentences.
#include <dlfcn.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "plugin_host/plugin_host.hpp"
#include <rapidjson/document.h>
#include <tunnelmgr/plugin_api.h>

namespace fs = std::filesystem;

namespace {

using tunnelmgr::testing::parse;

class plugin_abi : public ::testing::Test {
protected:
    void SetUp() override {
        api_ = tunnelmgr::testing::load_plugin("sqlite-state", &lib_);
        ASSERT_NE(api_, nullptr);
        ASSERT_NE(api_->state_store_v1, nullptr);
        store_ = api_->state_store_v1;

        dir_ = fs::temp_directory_path() / ("tm-sqlite-state-abi-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override {
        if (api_ != nullptr && instance_ != nullptr) api_->destroy(instance_);
        if (lib_ != nullptr) ::dlclose(lib_);
        fs::remove_all(dir_);
    }

    tm_plugin_t* init(const std::string& config, tm_rc* rc) { return api_->init(host_.api(), config.c_str(), rc); }

    tm_plugin_t* open() {
        tm_rc rc = TM_ERROR;
        const std::string config = R"({"plugin":"sqlite-state","path":")" + (dir_ / "db" / "state.db").string() +
                                   R"(","busy_timeout_ms":2000,"retention":{"health_days":30,"audit_days":365}})";
        instance_ = init(config, &rc);
        EXPECT_EQ(rc, TM_OK) << api_->last_error(nullptr);
        return instance_;
    }

    std::string error() const { return api_->last_error(instance_); }

    void* lib_ = nullptr;
    const tm_plugin_api* api_ = nullptr;
    const tm_state_store_v1* store_ = nullptr;
    tm_plugin_t* instance_ = nullptr;
    tunnelmgr::testing::recording_host host_;
    fs::path dir_;
};

TEST_F(plugin_abi, describes_itself) {
    EXPECT_EQ(api_->struct_size, sizeof(tm_plugin_api));
    EXPECT_STREQ(api_->name(), "sqlite-state");
    EXPECT_STREQ(api_->required_api_version(), TM_PLUGIN_API_VERSION_STRING);
    EXPECT_EQ(store_->struct_size, sizeof(tm_state_store_v1));
    EXPECT_EQ(api_->dns_provider_v1, nullptr);
    EXPECT_EQ(api_->transport_v1, nullptr);
    auto schema = parse(api_->config_schema());
    ASSERT_TRUE(schema.IsObject());
    EXPECT_TRUE(schema["properties"].HasMember("path"));
    // Every function of the table is filled: the host refuses a plugin missing a required one.
    const auto* fns = reinterpret_cast<void* const*>(reinterpret_cast<const char*>(store_) + sizeof(void*));
    for (size_t i = 0; i < (sizeof(tm_state_store_v1) - sizeof(void*)) / sizeof(void*); ++i) {
        EXPECT_NE(fns[i], nullptr) << "function " << i;
    }
}

TEST_F(plugin_abi, bad_config_fails_init_with_a_sentence) {
    tm_rc rc = TM_OK;
    EXPECT_EQ(init(R"({"busy_timeout_ms":10})", &rc), nullptr);
    EXPECT_EQ(rc, TM_ERROR);
    EXPECT_NE(std::string(api_->last_error(nullptr)).find("state.path is required"), std::string::npos)
        << api_->last_error(nullptr);

    fs::create_directories(dir_);
    const fs::path blocker = dir_ / "file";
    { FILE* f = std::fopen(blocker.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
    EXPECT_EQ(init(R"({"path":")" + (blocker / "state.db").string() + R"("})", &rc), nullptr);
    EXPECT_NE(std::string(api_->last_error(nullptr)).find("cannot create the directory"), std::string::npos)
        << api_->last_error(nullptr);
}

TEST_F(plugin_abi, cnames_through_the_table) {
    tm_plugin_t* p = open();
    ASSERT_NE(p, nullptr);
    int64_t version = 0;
    ASSERT_EQ(store_->schema_version(p, &version), TM_OK);
    EXPECT_GE(version, 6);

    const char* row =
        R"({"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"consilio","port":3100,)"
        R"("target":"http://localhost:3100","target_type":"host","container_name":null,"docker_network":null,)"
        R"("dns_record_id":"rec-1","zone_id":"z1"})";
    int64_t id = 0;
    ASSERT_EQ(store_->cname_insert(p, row, &id), TM_OK) << error();
    EXPECT_GT(id, 0);

    const char* upper =
        R"({"hostname":"APP.example.com","subdomain":"APP","domain":"example.com","project":"other","port":3200,)"
        R"("target":"http://localhost:3200"})";
    EXPECT_EQ(store_->cname_insert(p, upper, &id), TM_CONFLICT);
    EXPECT_NE(error().find("already published by project \"consilio\""), std::string::npos) << error();

    EXPECT_EQ(store_->cname_insert(p, "{oops", &id), TM_INVALID);
    EXPECT_NE(error().find("not valid JSON"), std::string::npos) << error();

    const char* out = nullptr;
    ASSERT_EQ(store_->cname_get(p, "App.Example.com", &out), TM_OK);
    auto got = parse(out);
    EXPECT_STREQ(got["project"].GetString(), "consilio");
    EXPECT_STREQ(got["dns_record_id"].GetString(), "rec-1");
    EXPECT_TRUE(got["container_name"].IsNull());

    EXPECT_EQ(store_->cname_get(p, "nope.example.com", &out), TM_NOT_FOUND);
    EXPECT_NE(error().find("nope.example.com"), std::string::npos);

    ASSERT_EQ(store_->cname_list(p, R"({"project":"other"})", &out), TM_OK);
    EXPECT_EQ(parse(out).Size(), 0u);
    ASSERT_EQ(store_->cname_list(p, "{}", &out), TM_OK);
    EXPECT_EQ(parse(out).Size(), 1u);

    ASSERT_EQ(store_->stats(p, &out), TM_OK);
    auto stats = parse(out);
    EXPECT_EQ(stats["cnames"].GetInt64(), 1);
    EXPECT_EQ(stats["schema_version"].GetInt64(), version);

    EXPECT_EQ(store_->cname_delete(p, "app.example.com"), TM_OK);
    EXPECT_EQ(store_->cname_delete(p, "app.example.com"), TM_NOT_FOUND);
}

TEST_F(plugin_abi, operations_audit_and_leases_through_the_table) {
    tm_plugin_t* p = open();
    ASSERT_NE(p, nullptr);
    int64_t op = 0;
    const char* begin = R"({"kind":"create","hostname":"app.example.com","project":"consilio","request":{"port":3100}})";
    ASSERT_EQ(store_->operation_begin(p, begin, &op), TM_OK) << error();
    int64_t other = 0;
    EXPECT_EQ(store_->operation_begin(p, begin, &other), TM_CONFLICT);
    EXPECT_EQ(store_->operation_advance(p, op, "dns_created", R"({"dns_record_id":"rec-9"})"), TM_OK) << error();
    EXPECT_EQ(store_->operation_advance(p, op + 100, "dns_created", "{}"), TM_NOT_FOUND);

    const char* out = nullptr;
    ASSERT_EQ(store_->operation_list_unfinished(p, &out), TM_OK);
    auto ops = parse(out);
    ASSERT_EQ(ops.Size(), 1u);
    EXPECT_STREQ(ops[0]["state"].GetString(), "dns_created");
    EXPECT_STREQ(ops[0]["data"]["dns_record_id"].GetString(), "rec-9");
    EXPECT_EQ(ops[0]["data"]["request"]["port"].GetInt(), 3100);

    const char* row =
        R"({"hostname":"app.example.com","subdomain":"app","domain":"example.com","project":"consilio","port":3100,)"
        R"("target":"http://localhost:3100"})";
    ASSERT_EQ(store_->operation_commit(p, op, row), TM_OK) << error();
    ASSERT_EQ(store_->operation_list_unfinished(p, &out), TM_OK);
    EXPECT_EQ(parse(out).Size(), 0u);
    ASSERT_EQ(store_->cname_get(p, "app.example.com", &out), TM_OK);

    ASSERT_EQ(store_->audit_append(p, R"({"actor":"consilio","role":"project","action":"cname.request",)"
                                      R"("target":"app.example.com","result":"ok","error":null,"details":{"port":3100}})"),
              TM_OK)
        << error();
    EXPECT_EQ(store_->audit_append(p, R"({"actor":"consilio","action":"x","details":"text"})"), TM_INVALID);
    EXPECT_NE(error().find("audit.details must be a JSON object"), std::string::npos) << error();
    ASSERT_EQ(store_->audit_query(p, R"({"project":"consilio","limit":5})", &out), TM_OK);
    auto audit = parse(out);
    ASSERT_EQ(audit.Size(), 1u);
    EXPECT_EQ(audit[0]["details"]["port"].GetInt(), 3100);
    EXPECT_EQ(store_->audit_query(p, R"({"limit":20000})", &out), TM_INVALID);

    ASSERT_EQ(store_->health_record(p, R"({"status":"healthy","ready_connections":4,"restart_count":0,)"
                                       R"("last_error":null,"uptime_s":60,"detail":{}})"),
              TM_OK);
    ASSERT_EQ(store_->health_history(p, "{}", &out), TM_OK);
    EXPECT_EQ(parse(out).Size(), 1u);

    ASSERT_EQ(store_->domains_replace(p, R"([{"zone_id":"z1","name":"example.com","status":"active"}])"), TM_OK);
    ASSERT_EQ(store_->domains_list(p, &out), TM_OK);
    EXPECT_STREQ(parse(out)[0]["name"].GetString(), "example.com");

    ASSERT_EQ(store_->docker_snapshot_replace(
                  p, R"({"networks":[{"id":"n1","name":"web","driver":"bridge","scope":"local"}],"containers":[]})"),
              TM_OK);
    ASSERT_EQ(store_->docker_snapshot_get(p, &out), TM_OK);
    auto snap = parse(out);
    EXPECT_EQ(snap["networks"].Size(), 1u);
    EXPECT_TRUE(snap["taken_ms"].IsInt64());

    int32_t acquired = -1;
    ASSERT_EQ(store_->lease_acquire(p, "loops", "pid-1", 10'000, &acquired), TM_OK);
    EXPECT_EQ(acquired, 1);
    ASSERT_EQ(store_->lease_acquire(p, "loops", "pid-2", 10'000, &acquired), TM_OK);
    EXPECT_EQ(acquired, 0);
    EXPECT_EQ(store_->lease_acquire(p, "loops", "pid-2", -5, &acquired), TM_INVALID);
    EXPECT_EQ(store_->lease_release(p, "loops", "pid-1"), TM_OK);
    ASSERT_EQ(store_->lease_acquire(p, "loops", "pid-2", 10'000, &acquired), TM_OK);
    EXPECT_EQ(acquired, 1);

    int64_t pruned = -1;
    ASSERT_EQ(store_->prune(p, &pruned), TM_OK);
    EXPECT_EQ(pruned, 0);  // everything is fresh
}

}  // namespace
