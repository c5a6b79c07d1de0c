// The replica list both supervisors read (`units:` / `containers:`) and the metrics address rule.
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include "replica_list.hpp"

namespace {

using namespace tunnelmgr::plugins::replicas;

list_spec units_spec() {
    return {"supervisor.units", "unit", [](std::string_view n) { return !n.empty() && n.front() != '-'; },
            "a unit name"};
}

tl::expected<std::vector<replica_ref>, std::string> parse(const char* json) {
    rapidjson::Document d;
    d.Parse(json);
    EXPECT_FALSE(d.HasParseError()) << json;
    return parse_replica_list(d, units_spec());
}

TEST(MetricsAddress, HostPortOnly) {
    for (const char* good : {"127.0.0.1:20241", "localhost:2000", "[::1]:20241", "cf-1.internal:65535", "0.0.0.0:1"}) {
        EXPECT_TRUE(is_metrics_address(good)) << good;
    }
    for (const char* bad : {"", "20241", ":20241", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:2024x",
                            "http://127.0.0.1:20241", "127.0.0.1:20241/ready", "::1:20241", "[::1]", "[]:1",
                            "[fe80::1%eth0]:1", "-host:1", "a b:1"}) {
        EXPECT_FALSE(is_metrics_address(bad)) << bad;
    }
}

TEST(ReplicaList, ReadsEachEntryInOrder) {
    auto r = parse(R"([{"unit":"cloudflared@1.service","metrics":"127.0.0.1:20241"},
                       {"metrics":"127.0.0.1:20242","unit":"cloudflared@2.service"}])");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].name, "cloudflared@1.service");
    EXPECT_EQ((*r)[0].metrics, "127.0.0.1:20241");
    EXPECT_EQ((*r)[1].name, "cloudflared@2.service");
    EXPECT_EQ((*r)[1].metrics, "127.0.0.1:20242");
}

TEST(ReplicaList, OneEntryMayLeaveMetricsOut) {
    auto r = parse(R"([{"unit":"cloudflared.service"}])");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ((*r)[0].metrics, "");
}

TEST(ReplicaList, MistakesAreSentencesNamingTheEntry) {
    struct bad {
        const char* json;
        const char* says;
    };
    for (const auto& b : {bad{"[]", "supervisor.units must be a list of one or more replicas, [{unit: NAME"},
                          bad{"{}", "supervisor.units must be a list"},
                          bad{R"(["cloudflared@1"])", "supervisor.units[0] must be a mapping {unit: NAME, metrics:"},
                          bad{R"([{"unit":"-x"}])", "supervisor.units[0].unit must be a unit name"},
                          bad{R"([{"unit":7}])", "supervisor.units[0].unit must be a unit name"},
                          bad{R"([{"unit":"a","metrics":7}])", "supervisor.units[0].metrics must be the replica's metrics address"},
                          bad{R"([{"unit":"a","Metrics":"127.0.0.1:1"}])", "supervisor.units[0].Metrics is not a setting of a replica (known: unit, metrics)"},
                          bad{R"([{"metrics":"127.0.0.1:1"}])", "supervisor.units[0] names no unit"},
                          bad{R"([{"unit":"a","metrics":"127.0.0.1:1"},{"unit":"a","metrics":"127.0.0.1:2"}])",
                              "supervisor.units[1] names \"a\" a second time"},
                          bad{R"([{"unit":"a","metrics":"127.0.0.1:1"},{"unit":"b","metrics":"127.0.0.1:1"}])",
                              "supervisor.units[1].metrics \"127.0.0.1:1\" is another replica's too"},
                          bad{R"([{"unit":"a"},{"unit":"b","metrics":"127.0.0.1:2"}])",
                              "supervisor.units[0] (a) has no metrics address: with several replicas each needs its own"}}) {
        auto r = parse(b.json);
        ASSERT_FALSE(r) << b.json;
        EXPECT_NE(r.error().find(b.says), std::string::npos) << b.json << " -> " << r.error();
    }
}

}  // namespace
