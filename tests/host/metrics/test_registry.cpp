// The metrics registry and its text exposition: names and labels checked, values and escapes as
// format 0.0.4 writes them, histograms cumulative, updates from many threads, the loopback server.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "exposition_parser.hpp"
#include "loopback_http.hpp"
#include "metrics/exposition.hpp"
#include "metrics/http_server.hpp"
#include "sys/listen_address.hpp"
#include "metrics/registry.hpp"

using namespace tunnelmgr::metrics;
using tunnelmgr::sys::parse_listen_address;
using tunnelmgr::testing::loopback_request;
using tunnelmgr::testing::parse_exposition;

TEST(metrics_exposition, names_follow_the_format) {
    EXPECT_TRUE(valid_metric_name("tunnelmgr_tunnel_up"));
    EXPECT_TRUE(valid_metric_name("a:b_c9"));
    EXPECT_FALSE(valid_metric_name("9lives"));
    EXPECT_FALSE(valid_metric_name("with-dash"));
    EXPECT_FALSE(valid_metric_name(""));
    EXPECT_TRUE(valid_label_name("project"));
    EXPECT_FALSE(valid_label_name("__reserved"));
    EXPECT_FALSE(valid_label_name("a:b"));
}

TEST(metrics_exposition, escapes_and_numbers) {
    EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    EXPECT_EQ(escape_help("line\\one\nline two \"quoted\""), "line\\\\one\\nline two \"quoted\"");
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(4), "4");
    EXPECT_EQ(format_value(0.1), "0.1");
    EXPECT_EQ(format_value(1e21), "1e+21");
    EXPECT_EQ(format_value(INFINITY), "+Inf");
    EXPECT_EQ(format_value(-INFINITY), "-Inf");
    EXPECT_EQ(format_value(NAN), "NaN");
}

TEST(metrics_registry, refuses_bad_declarations_and_misuse) {
    registry r;
    EXPECT_TRUE(r.add_counter("c_total", "a counter", {"op"}));
    EXPECT_FALSE(r.add_counter("c_total", "again"));
    EXPECT_FALSE(r.add_gauge("bad-name", "x"));
    EXPECT_FALSE(r.add_gauge("g", "x", {"__x"}));
    EXPECT_FALSE(r.add_gauge("g2", "x", {"a", "a"}));
    EXPECT_FALSE(r.add_histogram("h", "x", {"le"}));
    EXPECT_FALSE(r.inc("c_total"));                  // wrong number of label values
    EXPECT_FALSE(r.inc("c_total", {"x"}, -1));       // counters never go down
    EXPECT_FALSE(r.set("c_total", {"x"}, 1));        // wrong type
    EXPECT_FALSE(r.inc("nope", {}));                 // unknown
    EXPECT_TRUE(r.inc("c_total", {"x"}));
}

TEST(metrics_registry, writes_counters_gauges_and_escaped_labels) {
    registry r;
    r.add_counter("calls_total", "Calls by result.\nSecond line \\ here", {"op", "result"});
    r.add_gauge("up", "Up or not.");
    r.inc("calls_total", {"list_zones", "ok"});
    r.inc("calls_total", {"list_zones", "ok"}, 2);
    r.inc("calls_total", {"weird \"op\"\\\n", "error"});
    r.set("up", 1);
    EXPECT_EQ(r.exposition(),
              "# HELP calls_total Calls by result.\\nSecond line \\\\ here\n"
              "# TYPE calls_total counter\n"
              "calls_total{op=\"list_zones\",result=\"ok\"} 3\n"
              "calls_total{op=\"weird \\\"op\\\"\\\\\\n\",result=\"error\"} 1\n"
              "# HELP up Up or not.\n"
              "# TYPE up gauge\n"
              "up 1\n");
    auto parsed = parse_exposition(r.exposition());
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ((*parsed)["calls_total"].samples[1].labels["op"], "weird \"op\"\\\n");
}

TEST(metrics_registry, label_less_families_start_at_zero_and_labelled_ones_empty) {
    registry r;
    r.add_counter("restarts_total", "r");
    r.add_counter("by_op_total", "o", {"op"});
    EXPECT_EQ(r.exposition(),
              "# HELP by_op_total o\n# TYPE by_op_total counter\n# HELP restarts_total r\n# TYPE restarts_total counter\n"
              "restarts_total 0\n");
}

TEST(metrics_registry, histograms_are_cumulative_with_inf_equal_to_count) {
    registry r;
    r.add_histogram("step_seconds", "s", {"kind"}, {1, 0.1, 0.5});  // unsorted on purpose
    r.observe("step_seconds", {"create"}, 0.05);
    r.observe("step_seconds", {"create"}, 0.1);  // le is inclusive
    r.observe("step_seconds", {"create"}, 0.7);
    r.observe("step_seconds", {"create"}, 30);
    EXPECT_FALSE(r.observe("step_seconds", {"create"}, NAN));
    EXPECT_EQ(r.exposition(),
              "# HELP step_seconds s\n# TYPE step_seconds histogram\n"
              "step_seconds_bucket{kind=\"create\",le=\"0.1\"} 2\n"
              "step_seconds_bucket{kind=\"create\",le=\"0.5\"} 2\n"
              "step_seconds_bucket{kind=\"create\",le=\"1\"} 3\n"
              "step_seconds_bucket{kind=\"create\",le=\"+Inf\"} 4\n"
              "step_seconds_sum{kind=\"create\"} 30.85\n"
              "step_seconds_count{kind=\"create\"} 4\n");
    auto parsed = parse_exposition(r.exposition());
    EXPECT_TRUE(parsed) << parsed.error();
}

TEST(metrics_registry, replace_drops_series_no_longer_given) {
    registry r;
    r.add_gauge("cnames", "c", {"project"});
    r.replace("cnames", {{{"alpha"}, 2}, {{"beta"}, 1}});
    r.replace("cnames", {{{"beta"}, 0}});
    EXPECT_EQ(r.exposition(), "# HELP cnames c\n# TYPE cnames gauge\ncnames{project=\"beta\"} 0\n");
}

TEST(metrics_registry, concurrent_updates_are_all_counted) {
    registry r;
    r.add_counter("hits_total", "h", {"t"});
    r.add_histogram("lat_seconds", "l");
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&r, t] {
            for (int i = 0; i < 2000; ++i) {
                r.inc("hits_total", {t % 2 == 0 ? "even" : "odd"});
                r.observe("lat_seconds", 0.01);
                if (i % 100 == 0) (void)r.exposition();  // a scrape in the middle
            }
        });
    }
    for (auto& th : threads) th.join();
    auto parsed = parse_exposition(r.exposition());
    ASSERT_TRUE(parsed) << parsed.error();
    double hits = 0;
    for (const auto& s : (*parsed)["hits_total"].samples) hits += s.value;
    EXPECT_EQ(hits, 16000);
    for (const auto& s : (*parsed)["lat_seconds"].samples) {
        if (s.name == "lat_seconds_count") EXPECT_EQ(s.value, 16000);
    }
}

TEST(metrics_listen_address, loopback_only) {
    auto a = parse_listen_address("127.0.0.1:9464");
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 9464);
    auto l = parse_listen_address("localhost:0");
    ASSERT_TRUE(l);
    EXPECT_EQ(l->host, "127.0.0.1");
    auto v6 = parse_listen_address("[::1]:9464");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->ipv6);
    EXPECT_EQ(v6->text(), "[::1]:9464");
    for (const char* bad : {"0.0.0.0:9464", "192.0.2.10:9464", "[::]:9464", "example.com:9464"}) {
        auto r = parse_listen_address(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().find("loopback"), std::string::npos) << r.error();
    }
    EXPECT_FALSE(parse_listen_address("127.0.0.1"));
    EXPECT_FALSE(parse_listen_address("127.0.0.1:99999"));
    EXPECT_FALSE(parse_listen_address("127.0.0.1:abc"));
}

TEST(metrics_http_server, serves_metrics_and_nothing_else) {
    registry r;
    r.add_gauge("up", "Up.");
    int scrapes = 0;
    http_server server(r, [&] { r.set("up", ++scrapes); });
    auto started = server.start(*parse_listen_address("127.0.0.1:0"));
    ASSERT_TRUE(started) << started.error();
    int port = server.address().port;
    ASSERT_GT(port, 0);
    auto ok = loopback_request(port, "GET", "/metrics");
    EXPECT_EQ(ok.status, 200);
    EXPECT_NE(ok.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << ok.headers;
    EXPECT_EQ(ok.body, "# HELP up Up.\n# TYPE up gauge\nup 1\n");
    EXPECT_EQ(loopback_request(port, "GET", "/other").status, 404);
    EXPECT_EQ(loopback_request(port, "POST", "/metrics").status, 405);
    auto head = loopback_request(port, "HEAD", "/metrics");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    // A second server cannot take the same port: a sentence, not a crash.
    http_server other(r);
    auto clash = other.start(server.address());
    ASSERT_FALSE(clash);
    EXPECT_NE(clash.error().find("metrics.listen"), std::string::npos);
    server.stop();
    EXPECT_EQ(loopback_request(port, "GET", "/metrics").status, 0);
}
