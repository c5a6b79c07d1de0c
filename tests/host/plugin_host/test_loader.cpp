// The loader against the ABI fixtures: every broken plugin refused with its reason, the good one
// accepted, instances created and destroyed, init failures turned into one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <string>

#include "plugin_host/loader.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/capability_clients.hpp"
#include "plugin_host/state_store_client.hpp"

using namespace tunnelmgr;

namespace {

std::filesystem::path fixture(const std::string& name) {
    return std::filesystem::path(TM_TEST_BINARY_DIR) / "abi-fixtures" / (name + ".so");
}

std::string refusal_of(const std::string& name) {
    auto lib = host::load_library(fixture(name));
    if (lib) return "(accepted)";
    EXPECT_EQ(lib.error().path, fixture(name));
    return lib.error().reason;
}

}  // namespace

TEST(loader, accepts_a_good_plugin_and_reports_it) {
    auto lib = host::load_library(fixture("abi-good"));
    ASSERT_TRUE(lib) << lib.error().reason;
    EXPECT_EQ((*lib)->name, "abi-good");
    EXPECT_EQ((*lib)->version, "0.0.1");
    EXPECT_EQ((*lib)->required_api, TM_PLUGIN_API_VERSION_STRING);
    EXPECT_TRUE((*lib)->provides("state"));
    EXPECT_FALSE((*lib)->provides("dns"));
    EXPECT_EQ((*lib)->capability_names(), std::vector<std::string>{"state_store_v1"});
}

struct refusal_case {
    const char* fixture;
    const char* expected;
};

class loader_refuses : public ::testing::TestWithParam<refusal_case> {};

TEST_P(loader_refuses, with_a_reason_naming_the_problem) {
    std::string reason = refusal_of(GetParam().fixture);
    EXPECT_NE(reason, "(accepted)");
    EXPECT_NE(reason.find(GetParam().expected), std::string::npos) << reason;
    EXPECT_EQ(reason.find('\n'), std::string::npos) << "a refusal is one line";
}

INSTANTIATE_TEST_SUITE_P(
    abi_fixtures, loader_refuses,
    ::testing::Values(refusal_case{"abi-no-entry", "exports no tm_plugin_entry"},
                      refusal_case{"abi-null-entry", "returned NULL"},
                      refusal_case{"abi-major-2", "requires plugin API 2.0.0"},
                      refusal_case{"abi-newer-minor", "upgrade tunnelmgr"},
                      refusal_case{"abi-bad-version", "not MAJOR.MINOR.PATCH"},
                      refusal_case{"abi-oversized", "newer plugin API"},
                      refusal_case{"abi-undersized", "smaller than"},
                      refusal_case{"abi-missing-init", "lacks required function init"},
                      refusal_case{"abi-wrong-name", "calls itself 'somebody-else'"},
                      refusal_case{"abi-no-capability", "no capability"},
                      refusal_case{"abi-incomplete-table", "state_store_v1 lacks required function schema_version"},
                      refusal_case{"abi-table-oversized", "its state_store_v1 is"},
                      refusal_case{"abi-partial-replicas",
                                   "only some of replica_count/replica_status/replica_restart: provide all three or none"},
                      refusal_case{"abi-entry-throws", "tm_plugin_entry threw"}),
    [](const auto& info) {
        std::string n = info.param.fixture;
        for (auto& c : n) c = c == '-' ? '_' : c;
        return n;
    });

TEST(loader, refuses_a_file_that_is_not_a_shared_object) {
    auto dir = std::filesystem::temp_directory_path() / ("tm-loader-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto bogus = dir / "bogus.so";
    { std::ofstream(bogus) << "not an ELF file"; }
    auto lib = host::load_library(bogus);
    ASSERT_FALSE(lib);
    EXPECT_NE(lib.error().reason.find("cannot be loaded"), std::string::npos) << lib.error().reason;
    std::filesystem::remove_all(dir);
}

TEST(loader, init_failure_is_one_line_with_the_plugins_reason) {
    auto lib = host::load_library(fixture("abi-init-fails"));
    ASSERT_TRUE(lib) << lib.error().reason;  // loads fine; only starting it fails
    host::host_services services;
    auto inst = host::create_instance(*lib, "{}", services);
    ASSERT_FALSE(inst);
    EXPECT_NE(inst.error().find("abi-init-fails.so: refused: init failed: the fixture refuses to start"), std::string::npos)
        << inst.error();
}

TEST(loader, a_throwing_init_is_caught_and_refused) {
    auto lib = host::load_library(fixture("abi-init-throws"));
    ASSERT_TRUE(lib) << lib.error().reason;
    host::host_services services;
    auto inst = host::create_instance(*lib, "{}", services);
    ASSERT_FALSE(inst);
    EXPECT_NE(inst.error().find("threw (fixture init exploded)"), std::string::npos) << inst.error();
}

TEST(loader, instance_calls_go_through_the_copied_table) {
    auto lib = host::load_library(fixture("abi-good"));
    ASSERT_TRUE(lib);
    host::host_services services;
    auto inst = host::create_instance(*lib, "{}", services);
    ASSERT_TRUE(inst) << inst.error();
    host::state_store_client store(**inst);
    auto v = store.schema_version();
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 1);
    auto bad = store.cname_delete("app.example.com");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, core::errc::error);
    EXPECT_EQ(bad.error().message, "fixture error");
}

TEST(registry, a_slot_filled_by_a_plugin_without_that_capability_is_refused) {
    host::host_services services;
    host::registry reg(services);
    config::slot s{"abi-good", "{}", 1};
    auto r = reg.start_slot("dns", s, {std::string(TM_TEST_BINARY_DIR) + "/abi-fixtures"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("configured for slot 'dns' but it provides only state_store_v1"), std::string::npos) << r.error();
    EXPECT_EQ(reg.find("dns"), nullptr);
}

TEST(registry, a_missing_plugin_names_where_it_looked) {
    host::host_services services;
    host::registry reg(services);
    config::slot s{"no-such-plugin", "{}", 1};
    auto r = reg.start_slot("state", s, {"/nonexistent/dir"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("no-such-plugin.so in /nonexistent/dir"), std::string::npos) << r.error();
}

TEST(registry, scanning_lists_every_fixture_as_loaded_or_refused) {
    auto scan = host::scan_plugin_dirs({std::string(TM_TEST_BINARY_DIR) + "/abi-fixtures"});
    std::vector<std::string> loaded;
    for (const auto& l : scan.loaded) loaded.push_back(l->name);
    std::sort(loaded.begin(), loaded.end());
    EXPECT_EQ(loaded, (std::vector<std::string>{"abi-good", "abi-init-fails", "abi-init-throws", "abi-v1-0-store",
                                                "abi-v1-1-dns", "abi-v1-1-supervisor"}));
    EXPECT_EQ(scan.refused.size(), 14u);
}

TEST(loader, a_plugin_built_against_1_0_loads_and_its_missing_functions_read_as_null) {
    auto lib = host::load_library(fixture("abi-v1-0-store"));
    ASSERT_TRUE(lib) << lib.error().reason;
    EXPECT_EQ((*lib)->required_api, "1.0.0");
    EXPECT_EQ((*lib)->state_store.cname_count, nullptr) << "a field past the plugin's struct_size must be zero";
    host::host_services services;
    auto inst = host::create_instance(*lib, "{}", services);
    ASSERT_TRUE(inst) << inst.error();
    host::state_store_client store(**inst);
    auto n = store.cname_count("{}");
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(*n, 2) << "counted through cname_list, the 1.0 way";
}

TEST(loader, a_dns_plugin_built_against_1_1_loads_and_cannot_list_records) {
    auto lib = host::load_library(fixture("abi-v1-1-dns"));
    ASSERT_TRUE(lib) << lib.error().reason;
    EXPECT_EQ((*lib)->required_api, "1.1.0");
    EXPECT_TRUE((*lib)->provides("dns"));
    EXPECT_EQ((*lib)->dns.list_records, nullptr) << "a field past the plugin's struct_size must be zero";
    host::host_services services;
    auto inst = host::create_instance(*lib, "{}", services);
    ASSERT_TRUE(inst) << inst.error();
    host::dns_provider_client dns(**inst);
    EXPECT_FALSE(dns.supports_list_records()) << "the reconciler falls back to find_record, the 1.1 way";
    auto listed = dns.list_records("zone", "tunnelmgr:");
    ASSERT_FALSE(listed) << "the pointer past struct_size was called: " << *listed;
    EXPECT_EQ(listed.error().code, core::errc::invalid);
    EXPECT_NE(listed.error().message.find("built before plugin API 1.2"), std::string::npos) << listed.error().message;
    auto found = dns.find_record("zone", "app.example.com", "CNAME");
    ASSERT_FALSE(found);
    EXPECT_EQ(found.error().code, core::errc::not_found) << "its 1.1 functions are called as before";
}

TEST(loader, a_supervisor_built_against_1_1_loads_as_one_replica) {
    auto lib = host::load_library(fixture("abi-v1-1-supervisor"));
    ASSERT_TRUE(lib) << lib.error().reason;
    EXPECT_EQ((*lib)->required_api, "1.1.0");
    EXPECT_TRUE((*lib)->provides("supervisor"));
    EXPECT_EQ((*lib)->supervisor.replica_count, nullptr) << "a field past the plugin's struct_size must be zero";
    EXPECT_EQ((*lib)->supervisor.replica_status, nullptr);
    EXPECT_EQ((*lib)->supervisor.replica_restart, nullptr);
    EXPECT_EQ((*lib)->capability_names(), (std::vector<std::string>{"tunnel_supervisor_v1"}));
    host::host_services services;
    auto inst = host::create_instance(*lib, "{}", services);
    ASSERT_TRUE(inst) << inst.error();
    host::supervisor_client sup(**inst);
    EXPECT_FALSE(sup.has_replicas());
    EXPECT_EQ(sup.replica_count(), 1) << "the pointer past struct_size was called";
    auto info = sup.replica_info(0);
    EXPECT_EQ(info.name, "");
    EXPECT_EQ(info.metrics, "") << "one replica reads the tunnel's metrics address";
    // Replica 0 is status()/restart(), the 1.1 way.
    auto zero = sup.replica_status(0);
    ASSERT_TRUE(zero) << zero.error().message;
    ASSERT_TRUE(zero->running.has_value());
    EXPECT_TRUE(*zero->running);
    EXPECT_EQ(zero->pid.value_or(0), 1100);
    ASSERT_TRUE(sup.replica_restart(0)) << "restart() is called for replica 0";
    EXPECT_EQ(sup.replica_status(0)->pid.value_or(0), 1101);
    auto beyond = sup.replica_status(1);
    ASSERT_FALSE(beyond);
    EXPECT_EQ(beyond.error().code, core::errc::invalid);
    EXPECT_NE(beyond.error().message.find("has no replica 1 (it supervises one cloudflared: replica 0)"), std::string::npos)
        << beyond.error().message;
    EXPECT_FALSE(sup.replica_restart(1));
}

TEST(loader, the_host_is_plugin_api_1_6) {
    EXPECT_EQ(TM_PLUGIN_API_VERSION_MAJOR, 1);
    EXPECT_EQ(TM_PLUGIN_API_VERSION_MINOR, 6);
    EXPECT_STREQ(TM_PLUGIN_API_VERSION_STRING, "1.6.0");
    // 1.3 to 1.6 changed no table: they gave rows fields, the journal a kind, the filters members and
    // operation_advance a lazier promise (plugin_api.h, state_store_v1), so the last member of
    // tm_state_store_v1 is still 1.1's cname_count.
    EXPECT_EQ(sizeof(tm_state_store_v1),
              offsetof(tm_state_store_v1, cname_count) + sizeof(static_cast<tm_state_store_v1*>(nullptr)->cname_count));
    // list_records is what 1.2 added to tm_dns_provider_v1, at its end.
    EXPECT_EQ(sizeof(tm_dns_provider_v1),
              offsetof(tm_dns_provider_v1, list_records) + sizeof(static_cast<tm_dns_provider_v1*>(nullptr)->list_records));
    EXPECT_GT(offsetof(tm_dns_provider_v1, list_records), offsetof(tm_dns_provider_v1, get_tunnel_config));
    // 1.2 also ends tm_tunnel_supervisor_v1 with the replica functions, after watch_stop.
    EXPECT_EQ(sizeof(tm_tunnel_supervisor_v1), offsetof(tm_tunnel_supervisor_v1, replica_restart) +
                                                   sizeof(static_cast<tm_tunnel_supervisor_v1*>(nullptr)->replica_restart));
    EXPECT_GT(offsetof(tm_tunnel_supervisor_v1, replica_count), offsetof(tm_tunnel_supervisor_v1, watch_stop));
}
