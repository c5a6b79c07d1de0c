// GET /metrics from a running `tunnelmgr daemon` (real process, real plugins, the Cloudflare API
// fake, the cloudflared stub) over loopback, every line checked against the exposition grammar.
#include <gtest/gtest.h>

#include "exposition_parser.hpp"
#include "live_system.hpp"

using namespace tunnelmgr::testing;

namespace {

double value_of(const prom_families& f, const std::string& family, const std::string& sample,
                const std::map<std::string, std::string>& labels = {}) {
    auto it = f.find(family);
    if (it == f.end()) return -1;
    for (const auto& s : it->second.samples) {
        if (s.name == sample && s.labels == labels) return s.value;
    }
    return -1;
}

}  // namespace

TEST(metrics_scrape, a_running_daemon_serves_valid_prometheus_text) {
    live_system sys("scrape");
    sys.write_config("metrics: { listen: \"127.0.0.1:0\" }\n");
    // One published hostname, so the per-project gauge has something to count.
    auto add = sys.tunnelmgr({"cname", "add", "app", "--port", "3100", "--project", "alpha"});
    ASSERT_EQ(add.exit_code, 0) << add.err;

    child_process daemon;
    ASSERT_TRUE(daemon.start(sys.tunnelmgr_argv({"--log-level", "info", "daemon"}), (sys.dir() / "daemon.log").string()));
    int port = 0;
    for (int i = 0; i < 1000 && port == 0 && daemon.running(); ++i) {
        std::string log = daemon.log();
        auto at = log.find("metrics at http://127.0.0.1:");
        if (at != std::string::npos) port = std::stoi(log.substr(at + std::string("metrics at http://127.0.0.1:").size()));
        if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GT(port, 0) << daemon.log();

    // Wait (bounded) until the loop has run a health check and refreshed the zones.
    http_answer a;
    prom_families fams;
    for (int i = 0; i < 300; ++i) {
        a = loopback_request(port, "GET", "/metrics");
        ASSERT_EQ(a.status, 200) << daemon.log();
        auto parsed = parse_exposition(a.body);
        ASSERT_TRUE(parsed) << parsed.error() << "\n" << a.body;
        fams = *parsed;
        if (value_of(fams, "tunnelmgr_health_check_duration_seconds", "tunnelmgr_health_check_duration_seconds_count") >= 1 &&
            value_of(fams, "tunnelmgr_cloudflare_api_calls_total", "tunnelmgr_cloudflare_api_calls_total",
                     {{"op", "list_zones"}, {"result", "ok"}}) >= 1) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(a.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << a.headers;
    for (const char* name :
         {"tunnelmgr_tunnel_up", "tunnelmgr_tunnel_ready_connections", "tunnelmgr_tunnel_restarts_total",
          "tunnelmgr_health_check_duration_seconds", "tunnelmgr_cnames", "tunnelmgr_pipeline_step_duration_seconds",
          "tunnelmgr_pipeline_failures_total", "tunnelmgr_cloudflare_api_calls_total",
          "tunnelmgr_cloudflare_api_retries_total", "tunnelmgr_lease_holder", "tunnelmgr_build_info"}) {
        ASSERT_EQ(fams.count(name), 1u) << name << "\n" << a.body;
        EXPECT_TRUE(fams[name].has_help && fams[name].has_type) << name;
    }
    EXPECT_EQ(fams["tunnelmgr_health_check_duration_seconds"].type, "histogram");
    EXPECT_EQ(fams["tunnelmgr_pipeline_step_duration_seconds"].type, "histogram");
    EXPECT_EQ(fams["tunnelmgr_tunnel_restarts_total"].type, "counter");
    EXPECT_EQ(value_of(fams, "tunnelmgr_tunnel_up", "tunnelmgr_tunnel_up"), 1) << a.body;
    EXPECT_EQ(value_of(fams, "tunnelmgr_tunnel_ready_connections", "tunnelmgr_tunnel_ready_connections"), 4);
    EXPECT_EQ(value_of(fams, "tunnelmgr_tunnel_restarts_total", "tunnelmgr_tunnel_restarts_total"), 0);
    EXPECT_EQ(value_of(fams, "tunnelmgr_lease_holder", "tunnelmgr_lease_holder"), 1);
    EXPECT_EQ(value_of(fams, "tunnelmgr_cnames", "tunnelmgr_cnames", {{"project", "alpha"}}), 1);
    EXPECT_EQ(value_of(fams, "tunnelmgr_cnames", "tunnelmgr_cnames", {{"project", "beta"}}), 0);
    EXPECT_GE(value_of(fams, "tunnelmgr_cloudflare_api_calls_total", "tunnelmgr_cloudflare_api_calls_total",
                       {{"op", "list_zones"}, {"result", "ok"}}),
              1);
    ASSERT_EQ(fams["tunnelmgr_build_info"].samples.size(), 1u);
    EXPECT_EQ(fams["tunnelmgr_build_info"].samples[0].value, 1);
    EXPECT_FALSE(fams["tunnelmgr_build_info"].samples[0].labels["version"].empty());

    EXPECT_EQ(loopback_request(port, "GET", "/").status, 404);
    EXPECT_EQ(loopback_request(port, "POST", "/metrics").status, 405);
    daemon.stop(std::chrono::seconds(10));
}

TEST(metrics_scrape, a_non_loopback_listen_address_is_refused_with_a_sentence) {
    live_system::options o;
    o.start_stub = false;
    live_system sys("scrape-refuse", o);
    sys.write_config("metrics: { listen: \"0.0.0.0:9464\" }\n", "127.0.0.1:1");
    auto r = sys.tunnelmgr({"daemon", "--once"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("metrics.listen: '0.0.0.0:9464' is not a loopback address"), std::string::npos) << r.err;
}
