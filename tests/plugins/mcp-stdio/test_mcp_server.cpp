// mcp_server against a scripted host: the handshake and version rules of the three revisions, the
// tools and their host ops, every error path, and the concurrency promises (ping during a slow call,
// cancellation, progress, EOF mid-call), all through the same messages a client would send.
#include <atomic>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "line_splitter.hpp"
#include "mcp_test_support.hpp"

namespace tunnelmgr::plugins::mcp_stdio {
namespace {

using testing::gate;
using testing::harness;
using testing::to_json;

std::string str(const rapidjson::Value& v) { return v.IsString() ? v.GetString() : to_json(v); }

int error_code(const rapidjson::Document& d) {
    return d.HasMember("error") && d["error"].HasMember("code") ? d["error"]["code"].GetInt() : 0;
}

// The structuredContent of a tools/call response, checked against its text twin.
const rapidjson::Value& structured(const rapidjson::Document& d) {
    const auto& r = d["result"];
    EXPECT_TRUE(r["structuredContent"].IsObject());
    rapidjson::Document text;
    text.Parse(r["content"][0]["text"].GetString());
    EXPECT_TRUE(text == r["structuredContent"]) << "the text block must carry the same JSON";
    EXPECT_STREQ(r["content"][0]["type"].GetString(), "text");
    return r["structuredContent"];
}

std::string call_line(int id, std::string_view tool, std::string_view args, std::string_view extra = "") {
    return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":"tools/call","params":{"name":")" +
           std::string(tool) + R"(","arguments":)" + std::string(args) + std::string(extra) + "}}";
}

// --- handshake and versions ---------------------------------------------------------------------

class version_negotiation : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(version_negotiation, answers_with_the_clients_version_when_supported_else_the_newest) {
    harness h;
    auto [asked, expected] = GetParam();
    h.send(std::string(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":")") + asked +
           R"(","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})");
    auto r = h.response("1");
    ASSERT_TRUE(r);
    const auto& result = (*r)["result"];
    EXPECT_STREQ(result["protocolVersion"].GetString(), expected);
    EXPECT_STREQ(result["serverInfo"]["name"].GetString(), "tunnelmgr");
    EXPECT_STREQ(result["serverInfo"]["version"].GetString(), "9.9.9");
    EXPECT_TRUE(result["capabilities"]["tools"].IsObject());
    EXPECT_TRUE(result["capabilities"]["resources"]["subscribe"].GetBool());
    EXPECT_TRUE(result["capabilities"]["logging"].IsObject());
    EXPECT_FALSE(result.HasMember("resultType")) << "2025 results carry no resultType";
}

INSTANTIATE_TEST_SUITE_P(revisions, version_negotiation,
                         ::testing::Values(std::make_pair("2025-06-18", "2025-06-18"),
                                           std::make_pair("2025-11-25", "2025-11-25"),
                                           std::make_pair("2024-11-05", "2025-11-25"),
                                           std::make_pair("2099-01-01", "2025-11-25"),
                                           std::make_pair("2026-07-28", "2025-11-25")));

TEST(mcp_server, initialize_needs_a_protocol_version_and_happens_once) {
    harness h;
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})");
    EXPECT_EQ(error_code(*h.response("1")), -32602);
    h.initialize("2025-06-18");
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})");
    EXPECT_EQ(error_code(*h.response("2")), -32600);
}

TEST(mcp_server, requests_before_initialize_are_refused_but_ping_and_notifications_are_fine) {
    harness h;
    h.send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tunnel_get_status"}})");
    h.send(R"({"jsonrpc":"2.0","id":3,"method":"ping"})");
    auto r1 = h.response("1");
    EXPECT_EQ(error_code(*r1), -32600);
    EXPECT_NE(str((*r1)["error"]["message"]).find("initialize"), std::string::npos);
    EXPECT_EQ(error_code(*h.response("2")), -32600);
    EXPECT_TRUE((*h.response("3"))["result"].IsObject());
    EXPECT_EQ(h.messages().size(), 3u) << "notifications are never answered";
    EXPECT_EQ(h.started(), 0) << "nothing reached the host";
}

TEST(mcp_server, server_discover_lists_every_revision_without_a_handshake) {
    harness h;
    h.send(R"({"jsonrpc":"2.0","id":"d","method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})");
    auto r = h.response("\"d\"");
    ASSERT_TRUE(r);
    const auto& result = (*r)["result"];
    EXPECT_STREQ(result["resultType"].GetString(), "complete");
    std::set<std::string> versions;
    for (const auto& v : result["supportedVersions"].GetArray()) versions.insert(v.GetString());
    EXPECT_EQ(versions, (std::set<std::string>{"2026-07-28", "2025-11-25", "2025-06-18"}));
    EXPECT_STREQ(result["serverInfo"]["name"].GetString(), "tunnelmgr");
    EXPECT_TRUE(result["capabilities"]["tools"].IsObject());
}

TEST(mcp_server, stateless_requests_carry_their_version_and_get_result_type) {
    harness h;
    const std::string meta = R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}})";
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{)" + meta + "}}");
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tunnel_get_status","arguments":{},)" +
           meta + "}}");
    auto list = h.response("1");
    EXPECT_STREQ((*list)["result"]["resultType"].GetString(), "complete");
    EXPECT_EQ((*list)["result"]["tools"].Size(), 12u);
    auto call = h.response("2");
    ASSERT_TRUE(call);
    EXPECT_STREQ((*call)["result"]["resultType"].GetString(), "complete");
    EXPECT_FALSE((*call)["result"]["isError"].GetBool());
}

TEST(mcp_server, an_unsupported_per_request_version_gets_32022_with_the_supported_list) {
    harness h;
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}})");
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"1900-01-01"}}})");
    for (const char* id : {"1", "2"}) {
        auto r = h.response(id);
        ASSERT_TRUE(r);
        EXPECT_EQ(error_code(*r), -32022);
        const auto& data = (*r)["error"]["data"];
        EXPECT_TRUE(data["supported"].IsArray());
        EXPECT_STREQ(data["supported"][0].GetString(), "2026-07-28");
        EXPECT_TRUE(data["requested"].IsString());
    }
    EXPECT_STREQ((*h.response("1"))["error"]["data"]["requested"].GetString(), "2099-01-01");
}

// --- tools/list -------------------------------------------------------------------------------------

TEST(mcp_server, tools_list_describes_every_tool_completely) {
    harness h;
    h.initialize();
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}})");
    auto r = h.response("1");
    ASSERT_TRUE(r);
    std::set<std::string> names;
    for (const auto& t : (*r)["result"]["tools"].GetArray()) {
        std::string name = t["name"].GetString();
        names.insert(name);
        EXPECT_TRUE(t["title"].IsString() && t["title"].GetStringLength() > 0) << name;
        EXPECT_TRUE(t["description"].IsString() && t["description"].GetStringLength() > 20) << name;
        EXPECT_STREQ(t["inputSchema"]["type"].GetString(), "object") << name;
        EXPECT_STREQ(t["outputSchema"]["type"].GetString(), "object") << name;
        for (const char* hint : {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}) {
            EXPECT_TRUE(t["annotations"][hint].IsBool()) << name << " " << hint;
        }
    }
    EXPECT_EQ(names, (std::set<std::string>{"tunnel_get_status", "tunnel_request_cname", "tunnel_delete_cname",
                                            "tunnel_list_cnames", "tunnel_list_domains", "tunnel_check_target",
                                            "tunnel_restart", "tunnel_audit_log", "tunnel_health_history",
                                            "tunnel_refresh_domains", "tunnel_reconcile", "tunnel_update_cname"}));
    const auto& tools = (*r)["result"]["tools"];
    for (const auto& t : tools.GetArray()) {
        std::string name = t["name"].GetString();
        if (name == "tunnel_request_cname") {
            EXPECT_TRUE(t["inputSchema"]["properties"].HasMember("subdomain"));
            EXPECT_STREQ(t["inputSchema"]["properties"]["port"]["type"].GetString(), "integer");
            EXPECT_TRUE(t["inputSchema"]["properties"].HasMember("domain"));
            EXPECT_TRUE(t["inputSchema"]["properties"].HasMember("projectName"));
            EXPECT_EQ(t["inputSchema"]["required"].Size(), 2u);
            EXPECT_FALSE(t["annotations"]["readOnlyHint"].GetBool());
        }
        if (name == "tunnel_delete_cname") {
            EXPECT_TRUE(t["annotations"]["destructiveHint"].GetBool());
        }
        if (name == "tunnel_get_status") {
            EXPECT_TRUE(t["annotations"]["readOnlyHint"].GetBool());
        }
    }
}

TEST(mcp_server, name_arguments_carry_a_bound_and_a_pattern_of_dns_names) {
    harness h;
    h.initialize();
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}})");
    auto r = h.response("1");
    ASSERT_TRUE(r);
    // What each kind of name must accept and refuse (JSON Schema patterns are ECMAScript, unanchored).
    const std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> examples{
        {"subdomain", {{"app", "App-1", "x"}, {"a.b", "-app", "app-", "a b", "caf\xc3\xa9", "*", "app\x1b[2J"}}},
        {"domain",
         {{"example.com", "Example.ORG", "dev.example.co.uk", "example.com.", "xn--bcher-kva.example"},
          {"localhost", "example..com", "-example.com", "example-.com", "exa mple.com", "https://example.com",
           "example.com/", "\x1b[2J.example.com", "example.com\n", "*.example.com", ".example.com"}}},
        {"hostname",
         {{"api.example.com", "api.example.com."},
          {"api", "api.example.com:443", "https://api.example.com/", "api.example.com\x07", "api example.com"}}},
    };
    int seen = 0;
    for (const auto& t : (*r)["result"]["tools"].GetArray()) {
        const auto& props = t["inputSchema"]["properties"];
        for (const auto& [key, cases] : examples) {
            if (!props.HasMember(key.c_str())) continue;
            ++seen;
            const auto& p = props[key.c_str()];
            std::string where = std::string(t["name"].GetString()) + "." + key;
            ASSERT_TRUE(p.HasMember("pattern") && p["pattern"].IsString()) << where;
            ASSERT_TRUE(p.HasMember("maxLength") && p["maxLength"].IsUint()) << where;
            EXPECT_LE(p["maxLength"].GetUint(), 253u) << where;
            std::regex re(p["pattern"].GetString(), std::regex::ECMAScript);
            for (const auto& good : cases.first) EXPECT_TRUE(std::regex_search(good, re)) << where << " refuses " << good;
            for (const auto& bad : cases.second) EXPECT_FALSE(std::regex_search(bad, re)) << where << " accepts " << bad;
        }
    }
    EXPECT_EQ(seen, 6) << "subdomain and domain in two tools, hostname in two";
}

TEST(mcp_server, a_refused_name_is_quoted_with_its_control_characters_shown_not_sent) {
    harness h;
    h.initialize();
    h.send(call_line(1, "tunnel_request_cname", R"({"subdomain":"app","port":3100,"domain":"\u001b[2J\u001b[Hevil.com"})"));
    auto r = h.response("1");
    ASSERT_TRUE(r && r->HasMember("result")) << to_json(*r);
    EXPECT_TRUE((*r)["result"]["isError"].GetBool());
    std::string message = structured(*r)["error"].GetString();
    EXPECT_NE(message.find("domain has the wrong form: the string \"\\x1b[2J\\x1b[Hevil.com\""), std::string::npos) << message;
    EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
    EXPECT_EQ(h.started(), 0);
}

// --- each tool → its host op --------------------------------------------------------------------------

struct mapping {
    const char* tool;
    const char* args;
    const char* op;
    const char* expect_key;  // a key structuredContent must have
};

class tool_mapping : public ::testing::TestWithParam<mapping> {};

TEST_P(tool_mapping, calls_its_host_op_with_the_arguments_and_returns_an_object) {
    harness h;
    h.initialize();
    const mapping& m = GetParam();
    h.send(call_line(1, m.tool, m.args));
    auto r = h.response("1");
    ASSERT_TRUE(r);
    ASSERT_TRUE((*r).HasMember("result")) << to_json(*r);
    EXPECT_FALSE((*r)["result"]["isError"].GetBool()) << to_json(*r);
    EXPECT_TRUE(structured(*r).HasMember(m.expect_key)) << to_json(*r);
    auto calls = h.calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].op, m.op);
    rapidjson::Document sent, given;
    sent.Parse(calls[0].args.c_str());
    given.Parse(m.args);
    EXPECT_TRUE(sent == given) << calls[0].args;
}

INSTANTIATE_TEST_SUITE_P(
    tools, tool_mapping,
    ::testing::Values(mapping{"tunnel_get_status", "{}", "status.get", "tunnel"},
                      mapping{"tunnel_request_cname", R"({"subdomain":"app","port":3100,"domain":"example.com"})",
                              "cname.request", "url"},
                      mapping{"tunnel_request_cname", R"({"subdomain":"app","port":3100,"projectName":"p"})",
                              "cname.request", "ingress_target"},
                      mapping{"tunnel_delete_cname", R"({"hostname":"app.example.com"})", "cname.delete", "deleted"},
                      mapping{"tunnel_list_cnames", "{}", "cname.list", "cnames"},
                      mapping{"tunnel_list_cnames", R"({"projectName":"p"})", "cname.list", "count"},
                      mapping{"tunnel_list_cnames", R"({"after":"app.example.com","limit":10})", "cname.list", "cnames"},
                      mapping{"tunnel_list_domains", "{}", "domains.list", "domains"},
                      mapping{"tunnel_check_target", R"({"subdomain":"app","port":3100})", "target.check", "available"},
                      mapping{"tunnel_restart", "{}", "tunnel.restart", "restarted"},
                      mapping{"tunnel_audit_log", R"({"limit":5,"action":"cname.request"})", "audit.query", "entries"},
                      mapping{"tunnel_health_history", R"({"limit":2})", "health.history", "history"},
                      mapping{"tunnel_refresh_domains", "{}", "domains.refresh", "domains"},
                      mapping{"tunnel_reconcile", R"({"dryRun":true})", "reconcile.run", "findings"}));

TEST(mcp_server, lists_are_wrapped_in_an_object_with_their_count) {
    harness h;
    h.initialize();
    h.send(call_line(1, "tunnel_health_history", "{}"));
    auto s_response = h.response("1");  // keep the document alive while s refers into it
    const auto& s = structured(*s_response);
    EXPECT_EQ(s["history"].Size(), 2u);
    EXPECT_EQ(s["count"].GetInt(), 2);
}

TEST(mcp_server, a_host_failure_is_a_tool_error_with_a_recommendation) {
    harness h;
    h.initialize();
    h.set_host([](const std::string&, const std::string&) {
        return host_reply{host_status::conflict,
                          R"({"error":"app.example.com is already published by project other","code":"conflict"})"};
    });
    h.send(call_line(1, "tunnel_request_cname", R"({"subdomain":"app","port":3100})"));
    auto r = h.response("1");
    ASSERT_TRUE(r && r->HasMember("result")) << "a failed tool is not a JSON-RPC error";
    EXPECT_TRUE((*r)["result"]["isError"].GetBool());
    const auto& s = structured(*r);
    EXPECT_STREQ(s["error"].GetString(), "app.example.com is already published by project other");
    EXPECT_STREQ(s["code"].GetString(), "conflict");
    EXPECT_NE(std::string(s["recommendation"].GetString()).find("another subdomain"), std::string::npos);
}

TEST(mcp_server, a_denied_projectname_says_what_to_do_and_keeps_the_hosts_own_recommendation) {
    harness h;
    h.initialize();
    h.set_host([](const std::string&, const std::string&) {
        return host_reply{host_status::denied,
                          R"({"error":"this session is project a; it cannot act for b","code":"denied","recommendation":"leave projectName out"})"};
    });
    h.send(call_line(1, "tunnel_list_cnames", R"({"projectName":"b"})"));
    auto s_response = h.response("1");  // keep the document alive while s refers into it
    const auto& s = structured(*s_response);
    EXPECT_STREQ(s["code"].GetString(), "denied");
    EXPECT_STREQ(s["recommendation"].GetString(), "leave projectName out");
}

TEST(mcp_server, malformed_json_from_the_host_is_a_tool_error_not_a_crash) {
    harness h;
    h.initialize();
    h.set_host([](const std::string&, const std::string&) { return host_reply{host_status::ok, "{not json"}; });
    h.send(call_line(1, "tunnel_get_status", "{}"));
    auto r = h.response("1");
    EXPECT_TRUE((*r)["result"]["isError"].GetBool());
}

// The host's object goes into structuredContent as it is and, escaped once, into the text: both must
// still be the same JSON, whatever the strings hold.
TEST(mcp_server, a_host_object_is_passed_through_and_its_text_is_the_same_json) {
    const std::string reply = " {\"cnames\":[{\"hostname\":\"a\\\"b\\\\c\\u0001.example.com\",\"note\":\"\xc3\xa9 \xe2\x9c\x93 \\n\\t/\"}],"
                              "\n \"total\":1,\"big\":12345678901234567890,\"x\":1.5e300} \n";
    harness h;
    h.initialize();
    h.set_host([&](const std::string&, const std::string&) { return host_reply{host_status::ok, reply}; });
    h.send(call_line(1, "tunnel_list_cnames", "{}"));
    auto r = h.response("1");
    ASSERT_TRUE(r && r->HasMember("result"));
    EXPECT_FALSE((*r)["result"]["isError"].GetBool()) << to_json(*r);
    rapidjson::Document expected, text;
    expected.Parse(reply.c_str());
    ASSERT_FALSE(expected.HasParseError());
    EXPECT_TRUE(structured(*r) == expected) << to_json(*r);
    const auto& content = (*r)["result"]["content"][0]["text"];
    text.Parse(content.GetString(), content.GetStringLength());
    EXPECT_TRUE(text == expected) << content.GetString();
}

TEST(mcp_server, a_host_reply_that_is_not_one_well_formed_value_is_a_tool_error) {
    for (std::string bad : {std::string("{\"a\":\"\xff\"}"), std::string("{\"a\":\"line\nbreak\"}"), std::string("{} {}"),
                            std::string("{\"a\":1"), std::string("  "), std::string()}) {
        harness h;
        h.initialize();
        h.set_host([&](const std::string&, const std::string&) { return host_reply{host_status::ok, bad}; });
        h.send(call_line(1, "tunnel_get_status", "{}"));
        auto r = h.response("1");
        ASSERT_TRUE(r && r->HasMember("result")) << bad;
        EXPECT_TRUE((*r)["result"]["isError"].GetBool()) << bad;
        EXPECT_NE(std::string(structured(*r)["error"].GetString()).find("malformed JSON"), std::string::npos) << bad;
    }
}

// --- bad arguments are tool errors --------------------------------------------------------------------

struct bad_args {
    const char* tool;
    const char* args;
    const char* says;
};

// Defined before the cases below, which are built during the same static initialisation.
const std::string long_domain_args = R"({"subdomain":"app","port":3100,"domain":")" + std::string(254, 'a') + R"("})";

class bad_arguments : public ::testing::TestWithParam<bad_args> {};

TEST_P(bad_arguments, are_refused_before_the_host_with_a_sentence) {
    harness h;
    h.initialize();
    const auto& b = GetParam();
    h.send(call_line(1, b.tool, b.args));
    auto r = h.response("1");
    ASSERT_TRUE(r && r->HasMember("result")) << to_json(*r);
    EXPECT_TRUE((*r)["result"]["isError"].GetBool());
    std::string message = structured(*r)["error"].GetString();
    EXPECT_NE(message.find(b.says), std::string::npos) << message;
    EXPECT_EQ(h.started(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    cases, bad_arguments,
    ::testing::Values(bad_args{"tunnel_request_cname", R"({"subdomain":"app","port":"3100"})",
                               "port must be an integer from 1 to 65535, not the string \"3100\""},
                      bad_args{"tunnel_request_cname", R"({"subdomain":"app","port":70000})", "port must be an integer"},
                      bad_args{"tunnel_request_cname", R"({"subdomain":"app","port":31.5})", "port must be an integer"},
                      bad_args{"tunnel_request_cname", R"({"port":3100})", "missing required argument subdomain"},
                      bad_args{"tunnel_request_cname", R"({"subdomain":"app"})", "missing required argument port"},
                      bad_args{"tunnel_request_cname", R"({"subdomain":"a b","port":3100})", "subdomain has the wrong form"},
                      bad_args{"tunnel_request_cname", R"({"subdomain":"","port":3100})", "subdomain must not be empty"},
                      bad_args{"tunnel_request_cname", R"({"subdomain":"app","port":3100,"admin":true})",
                               "unknown argument admin"},
                      bad_args{"tunnel_delete_cname", R"({})", "missing required argument hostname"},
                      bad_args{"tunnel_delete_cname", R"({"hostname":["x"]})", "hostname must be a string"},
                      bad_args{"tunnel_delete_cname", R"({"hostname":"https://app.example.com/"})",
                               "hostname has the wrong form"},
                      bad_args{"tunnel_request_cname", R"({"subdomain":"app","port":3100,"domain":"localhost"})",
                               "domain has the wrong form: the string \"localhost\" does not match"},
                      bad_args{"tunnel_check_target", R"({"subdomain":"app","port":3100,"domain":"exa mple.com"})",
                               "domain has the wrong form"},
                      bad_args{"tunnel_request_cname", long_domain_args.c_str(),
                               "domain is too long: at most 253 characters"},
                      bad_args{"tunnel_get_status", R"({"x":1})", "this tool takes no arguments"},
                      bad_args{"tunnel_audit_log", R"({"limit":0})", "limit must be an integer from 1 to 1000"},
                      bad_args{"tunnel_list_cnames", R"([1,2])", "arguments must be a JSON object"},
                      bad_args{"tunnel_list_cnames", R"("x")", "arguments must be a JSON object"}));

// --- JSON-RPC errors -------------------------------------------------------------------------------

TEST(mcp_server, malformed_messages_get_the_jsonrpc_error_they_deserve) {
    harness h;
    h.initialize();
    struct c {
        const char* line;
        const char* id;
        int code;
    };
    const c cases[] = {
        {R"({"jsonrpc":"2.0","id":1,"method":"tools/list")", "null", -32700},
        {"\xff\xfe{}", "null", -32700},
        {R"({"jsonrpc":"2.0","id":1,"method":"ping"} trailing)", "null", -32700},
        {R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}])", "null", -32600},
        {R"("just a string")", "null", -32600},
        {R"({"jsonrpc":"2.0","id":null,"method":"ping"})", "null", -32600},
        {R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})", "null", -32600},
        {R"({"jsonrpc":"1.0","id":3,"method":"ping"})", "3", -32600},
        {R"({"jsonrpc":"2.0","id":4,"method":7})", "4", -32600},
        {R"({"jsonrpc":"2.0","id":5})", "5", -32600},
        {R"({"jsonrpc":"2.0","id":6,"method":"tools/list","params":[1]})", "6", -32602},
        {R"({"jsonrpc":"2.0","id":7,"method":"no/such/method"})", "7", -32601},
        {R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"tunnel_fly"}})", "8", -32602},
        {R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{}})", "9", -32602},
        {R"({"jsonrpc":"2.0","id":"s","method":"prompts/list"})", "\"s\"", -32601},
    };
    for (const auto& k : cases) {
        h.clear();
        h.send(k.line);
        auto msgs = h.messages();
        ASSERT_EQ(msgs.size(), 1u) << k.line;
        const auto& d = *msgs[0];
        EXPECT_STREQ(d["jsonrpc"].GetString(), "2.0");
        EXPECT_EQ(to_json(d["id"]), k.id) << k.line;
        EXPECT_EQ(error_code(d), k.code) << k.line;
        EXPECT_TRUE(d["error"]["message"].IsString());
    }
    EXPECT_EQ(h.started(), 0);
}

TEST(mcp_server, notifications_and_client_responses_are_never_answered) {
    harness h;
    h.initialize();
    h.send(R"({"jsonrpc":"2.0","method":"notifications/whatever","params":{}})");
    h.send(R"({"jsonrpc":"2.0","method":"unknown/method"})");
    h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":424242}})");
    h.send(R"({"jsonrpc":"2.0","id":77,"result":{}})");
    h.send(R"({"jsonrpc":"2.0","id":78,"error":{"code":1,"message":"x"}})");
    EXPECT_TRUE(h.messages().empty());
}

TEST(mcp_server, an_over_long_line_is_answered_once_and_the_next_line_still_works) {
    harness h(2, 4096);
    h.initialize();
    line_splitter splitter(
        4096, [&](std::string_view l) { h.send(l); }, [&](std::size_t n) { h.server().handle_oversize(n); });
    std::string huge = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"s":")" +
                       std::string(100000, 'a') + "\"}}}\n";
    for (std::size_t i = 0; i < huge.size(); i += 1000) splitter.feed(std::string_view(huge).substr(i, 1000));
    splitter.feed("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n");
    auto msgs = h.messages();
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_EQ(error_code(*msgs[0]), -32600);
    EXPECT_TRUE((*msgs[0])["id"].IsNull());
    EXPECT_NE(std::string((*msgs[0])["error"]["message"].GetString()).find("4096"), std::string::npos);
    EXPECT_TRUE((*h.response("2"))["result"].IsObject());
    EXPECT_EQ(h.started(), 0);
}

TEST(mcp_server, deep_nesting_is_a_plain_error_not_a_stack_overflow) {
    harness h;
    h.initialize();
    std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tunnel_get_status","arguments":{"a":)" +
                       std::string(200000, '[') + std::string(200000, ']') + "}}}";
    h.send(deep);
    auto r = h.response("1");
    ASSERT_TRUE(r);
    EXPECT_TRUE((*r)["result"]["isError"].GetBool());
}

TEST(mcp_server, a_reused_id_of_a_running_call_is_refused) {
    harness h(1);
    h.initialize();
    gate g;
    h.set_host([&](const std::string& op, const std::string&) {
        g.wait();
        return harness::default_reply(op);
    });
    h.send(call_line(1, "tunnel_get_status", "{}"));
    h.wait_started(1);
    h.send(call_line(1, "tunnel_list_domains", "{}"));
    auto r = h.response("1");
    EXPECT_EQ(error_code(*r), -32600);
    g.open();
    h.wait_returned(1);
    h.server().finish();
    EXPECT_EQ(h.messages().size(), 2u);
}

// --- concurrency -------------------------------------------------------------------------------------

TEST(mcp_server, ping_and_other_calls_are_answered_while_a_slow_call_waits) {
    harness h(2);
    h.initialize();
    gate g;
    h.set_host([&](const std::string& op, const std::string&) {
        if (op == "cname.request") g.wait();  // cloudflared takes its time
        return harness::default_reply(op);
    });
    h.send(call_line(1, "tunnel_request_cname", R"({"subdomain":"app","port":3100})"));
    h.wait_started(1);
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
    h.send(call_line(3, "tunnel_get_status", "{}"));
    h.send(R"({"jsonrpc":"2.0","id":4,"method":"tools/list"})");
    ASSERT_TRUE(h.response("2"));
    ASSERT_TRUE(h.response("3"));
    ASSERT_TRUE(h.response("4"));
    EXPECT_EQ(h.returned(), 1) << "only the status call has returned; the CNAME request is still waiting";
    g.open();
    auto slow = h.response("1");
    ASSERT_TRUE(slow);
    EXPECT_STREQ(structured(*slow)["url"].GetString(), "https://app.example.com");
}

TEST(mcp_server, concurrent_calls_each_get_exactly_one_whole_line) {
    harness h(4);
    h.initialize();
    for (int i = 0; i < 200; ++i) h.send(call_line(i, i % 2 ? "tunnel_list_cnames" : "tunnel_get_status", "{}"));
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(h.response(std::to_string(i))) << i;
    h.server().finish();
    std::set<std::string> ids;
    for (const auto& raw : h.raw()) {
        rapidjson::Document d;
        d.Parse(raw.c_str());
        ASSERT_FALSE(d.HasParseError()) << raw;
        EXPECT_EQ(raw.find('\n'), std::string::npos);
        ids.insert(to_json(d["id"]));
    }
    EXPECT_EQ(ids.size(), 200u);
    EXPECT_EQ(h.raw().size(), 200u);
}

TEST(mcp_server, a_cancelled_running_call_gets_no_response) {
    harness h(2);
    h.initialize();
    gate g;
    h.set_host([&](const std::string& op, const std::string&) {
        if (op == "cname.request") g.wait();
        return harness::default_reply(op);
    });
    h.send(call_line(1, "tunnel_request_cname", R"({"subdomain":"app","port":3100})"));
    h.wait_started(1);
    h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user"}})");
    g.open();
    h.wait_returned(1);
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
    ASSERT_TRUE(h.response("2"));
    h.server().finish();
    for (const auto& d : h.messages()) EXPECT_NE(to_json((*d)["id"]), "1") << "no answer to a cancelled request";
}

TEST(mcp_server, a_cancelled_queued_call_never_reaches_the_host) {
    harness h(1);
    h.initialize();
    gate g;
    h.set_host([&](const std::string& op, const std::string&) {
        g.wait();
        return harness::default_reply(op);
    });
    h.send(call_line(1, "tunnel_get_status", "{}"));
    h.wait_started(1);
    h.send(call_line(2, "tunnel_restart", "{}"));
    h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}})");
    g.open();
    ASSERT_TRUE(h.response("1"));
    h.server().finish();
    auto calls = h.calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].op, "status.get");
    EXPECT_EQ(h.messages().size(), 1u);
}

TEST(mcp_server, progress_is_reported_with_the_clients_token_for_each_step) {
    harness h(2);
    h.initialize();
    h.set_host([&](const std::string& op, const std::string& args) {
        rapidjson::Document a;
        a.Parse(args.c_str());
        if (a.HasMember("_progress")) {
            std::string token = a["_progress"].GetString();
            const char* steps[] = {"validated", "dns_created", "dns_created", "ingress_written", "applied"};
            int done[] = {1, 2, 2, 3, 4};
            for (int i = 0; i < 5; ++i) {
                h.server().deliver_event("call.progress", R"({"token":")" + token + R"(","step":")" + steps[i] +
                                                              R"(","done":)" + std::to_string(done[i]) + R"(,"total":5})");
            }
        }
        return harness::default_reply(op);
    });
    h.send(call_line(1, "tunnel_request_cname", R"({"subdomain":"app","port":3100})",
                     R"(,"_meta":{"progressToken":"tok-1"})"));
    ASSERT_TRUE(h.response("1"));
    h.send(call_line(2, "tunnel_delete_cname", R"({"hostname":"app.example.com"})", R"(,"_meta":{"progressToken":42})"));
    ASSERT_TRUE(h.response("2"));
    h.send(call_line(3, "tunnel_get_status", "{}"));
    ASSERT_TRUE(h.response("3"));

    auto progress = h.notifications("notifications/progress");
    ASSERT_EQ(progress.size(), 8u) << "4 increasing steps per call; the repeated step is dropped";
    EXPECT_EQ(to_json((*progress[0])["params"]["progressToken"]), "\"tok-1\"");
    EXPECT_EQ((*progress[0])["params"]["progress"].GetInt(), 1);
    EXPECT_EQ((*progress[0])["params"]["total"].GetInt(), 5);
    EXPECT_STREQ((*progress[0])["params"]["message"].GetString(), "validated");
    EXPECT_EQ((*progress[3])["params"]["progress"].GetInt(), 4);
    EXPECT_EQ(to_json((*progress[4])["params"]["progressToken"]), "42");
    // Each progress notification came before its call's response.
    auto msgs = h.messages();
    std::size_t last_progress_1 = 0, response_1 = 0;
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        if (msgs[i]->HasMember("method") && to_json((*msgs[i])["params"]["progressToken"]) == "\"tok-1\"") last_progress_1 = i;
        if (msgs[i]->HasMember("id") && to_json((*msgs[i])["id"]) == "1") response_1 = i;
    }
    EXPECT_LT(last_progress_1, response_1);
    auto calls = h.calls();
    EXPECT_EQ(calls[2].args.find("_progress"), std::string::npos) << "no token, no _progress";
}

TEST(mcp_server, progress_for_an_unknown_or_finished_token_is_ignored) {
    harness h;
    h.initialize();
    h.server().deliver_event("call.progress", R"({"token":"p1","step":"x","done":1,"total":2})");
    h.server().deliver_event("call.progress", "not json");
    h.server().deliver_event("something.else", "{}");
    EXPECT_TRUE(h.messages().empty());
}

TEST(mcp_server, eof_mid_call_still_answers_every_request_already_received) {
    harness h(1);
    h.initialize();
    gate g;
    h.set_host([&](const std::string& op, const std::string&) {
        g.wait();
        return harness::default_reply(op);
    });
    h.send(call_line(1, "tunnel_request_cname", R"({"subdomain":"app","port":3100})"));
    h.wait_started(1);
    h.send(call_line(2, "tunnel_get_status", "{}"));  // queued behind the slow call
    std::atomic<bool> finished{false};
    std::thread eof([&] {
        h.server().finish();  // what serve() does at EOF: a piped client still gets every answer
        finished = true;
    });
    g.open();
    eof.join();
    EXPECT_TRUE(finished);
    auto msgs = h.messages();
    ASSERT_EQ(msgs.size(), 2u);
    std::set<std::string> ids{to_json((*msgs[0])["id"]), to_json((*msgs[1])["id"])};
    EXPECT_EQ(ids, (std::set<std::string>{"1", "2"}));
}

TEST(mcp_server, stop_mid_call_lets_the_running_call_answer_and_drops_the_queued_one) {
    harness h(1);
    h.initialize();
    gate g;
    h.set_host([&](const std::string& op, const std::string&) {
        g.wait();
        return harness::default_reply(op);
    });
    h.send(call_line(1, "tunnel_request_cname", R"({"subdomain":"app","port":3100})"));
    h.wait_started(1);
    h.send(call_line(2, "tunnel_get_status", "{}"));
    std::thread stop([&] { h.server().finish(/*drop_queued=*/true); });
    // Only once finish() has dropped the queue may the running call end; else the worker would
    // rightly take the queued call first.
    while (!h.server().closing()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    g.open();
    stop.join();
    auto msgs = h.messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(to_json((*msgs[0])["id"]), "1");
    EXPECT_EQ(h.calls().size(), 1u) << "the queued call was never started";
}

// --- resources and logging ----------------------------------------------------------------------------

TEST(mcp_server, tunnel_status_resource_can_be_listed_read_and_subscribed) {
    harness h;
    h.initialize();
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"resources/list"})");
    auto list = h.response("1");
    EXPECT_STREQ((*list)["result"]["resources"][0]["uri"].GetString(), "tunnel://status");
    EXPECT_STREQ((*list)["result"]["resources"][0]["mimeType"].GetString(), "application/json");

    h.send(R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"tunnel://status"}})");
    auto read = h.response("2");
    ASSERT_TRUE(read);
    const auto& content = (*read)["result"]["contents"][0];
    EXPECT_STREQ(content["uri"].GetString(), "tunnel://status");
    rapidjson::Document body;
    body.Parse(content["text"].GetString());
    EXPECT_STREQ(body["tunnel"]["status"].GetString(), "up");
    EXPECT_EQ(h.calls().back().op, "status.get");

    h.send(R"({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"tunnel://nope"}})");
    EXPECT_EQ(error_code(*h.response("3")), -32002);
    h.send(R"({"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{}})");
    EXPECT_EQ(error_code(*h.response("4")), -32602);

    h.server().deliver_event("tunnel.status", R"({"status":"degraded","ready_connections":1})");
    EXPECT_TRUE(h.notifications("notifications/resources/updated").empty()) << "not subscribed yet";

    h.send(R"({"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"tunnel://status"}})");
    ASSERT_TRUE(h.response("5"));
    h.server().deliver_event("tunnel.status", R"({"status":"up","ready_connections":4})");
    auto updated = h.notifications("notifications/resources/updated");
    ASSERT_EQ(updated.size(), 1u);
    EXPECT_STREQ((*updated[0])["params"]["uri"].GetString(), "tunnel://status");
    EXPECT_TRUE(h.notifications("notifications/message").empty()) << "no logging level set, no log messages";

    h.send(R"({"jsonrpc":"2.0","id":6,"method":"resources/unsubscribe","params":{"uri":"tunnel://status"}})");
    ASSERT_TRUE(h.response("6"));
    h.server().deliver_event("tunnel.status", R"({"status":"down"})");
    EXPECT_EQ(h.notifications("notifications/resources/updated").size(), 1u);
}

TEST(mcp_server, tunnel_topology_resource_is_the_hosts_topology_text_and_cannot_be_subscribed_to) {
    harness h;
    h.initialize();
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"resources/list"})");
    auto list = h.response("1");
    ASSERT_TRUE(list);
    ASSERT_EQ((*list)["result"]["resources"].Size(), 2u);
    EXPECT_STREQ((*list)["result"]["resources"][1]["uri"].GetString(), "tunnel://topology");
    EXPECT_STREQ((*list)["result"]["resources"][1]["mimeType"].GetString(), "text/plain");

    const std::string text = "tunnelmgr topology (Docker snapshot from the runtime)\nhostnames (0):\n";
    h.set_host([](const std::string& op, const std::string&) -> host_reply {
        if (op != "topology.get") return harness::default_reply(op);
        return {host_status::ok, R"({"source":"runtime","hostnames":[],"broken":0,"text":)" + std::string("\"") +
                                     "tunnelmgr topology (Docker snapshot from the runtime)\\nhostnames (0):\\n\"}"};
    });
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"tunnel://topology"}})");
    auto read = h.response("2");
    ASSERT_TRUE(read);
    ASSERT_TRUE((*read).HasMember("result")) << to_json(*read);
    const auto& content = (*read)["result"]["contents"][0];
    EXPECT_STREQ(content["uri"].GetString(), "tunnel://topology");
    EXPECT_STREQ(content["mimeType"].GetString(), "text/plain");
    EXPECT_EQ(std::string(content["text"].GetString()), text);
    EXPECT_EQ(h.calls().back().op, "topology.get");

    // A project session: the host refuses (admin only), and its sentence is the error.
    h.set_host([](const std::string& op, const std::string&) -> host_reply {
        if (op != "topology.get") return harness::default_reply(op);
        return {host_status::denied, R"({"error":"topology.get is for the admin session only","code":"denied"})"};
    });
    h.send(R"({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"tunnel://topology"}})");
    auto denied = h.response("3");
    ASSERT_TRUE(denied);
    EXPECT_EQ(error_code(*denied), -32603);
    EXPECT_NE(std::string((*denied)["error"]["message"].GetString()).find("admin session only"), std::string::npos)
        << to_json(*denied);

    h.send(R"({"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{"uri":"tunnel://topology"}})");
    EXPECT_EQ(error_code(*h.response("4")), -32602);
    h.send(R"({"jsonrpc":"2.0","id":5,"method":"resources/read","params":{}})");
    EXPECT_EQ(error_code(*h.response("5")), -32602);
}

TEST(mcp_server, going_down_and_coming_back_are_logged_at_warning_when_asked) {
    harness h;
    h.initialize();
    h.send(R"({"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"loud"}})");
    EXPECT_EQ(error_code(*h.response("1")), -32602);
    h.send(R"({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"info"}})");
    ASSERT_TRUE(h.response("2"));
    h.server().deliver_event("tunnel.status", R"({"status":"up"})");
    h.server().deliver_event("tunnel.status", R"({"status":"degraded"})");
    EXPECT_TRUE(h.notifications("notifications/message").empty()) << "up and degraded are not down";
    h.server().deliver_event("tunnel.status", R"({"status":"down","last_error":"no connection to the edge"})");
    h.server().deliver_event("tunnel.status", R"({"status":"up"})");
    auto logs = h.notifications("notifications/message");
    ASSERT_EQ(logs.size(), 2u);
    EXPECT_STREQ((*logs[0])["params"]["level"].GetString(), "warning");
    EXPECT_STREQ((*logs[0])["params"]["data"]["status"].GetString(), "down");
    EXPECT_NE(std::string((*logs[0])["params"]["data"]["message"].GetString()).find("no connection"), std::string::npos);
    EXPECT_STREQ((*logs[1])["params"]["data"]["previous"].GetString(), "down");

    h.send(R"({"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"error"}})");
    ASSERT_TRUE(h.response("3"));
    h.server().deliver_event("tunnel.status", R"({"status":"down"})");
    EXPECT_EQ(h.notifications("notifications/message").size(), 2u) << "warning is below the error threshold";
}

}  // namespace
}  // namespace tunnelmgr::plugins::mcp_stdio
