// The built mcp-stdio.so through the C ABI: its entry table and config refusal, then a real serve()
// in a child process whose stdin/stdout are pipes — only MCP on stdout, the session passed back on
// every host call, and a clean return at EOF.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tunnelmgr/plugin_api.h>

// The host's session type is opaque to plugins; this fake host defines its own.
struct tm_session {
    int marker;
};

namespace {

const std::string plugin_path = std::string(TM_TEST_PLUGIN_DIR) + "/mcp-stdio.so";

const tm_plugin_api* load() {
    void* lib = ::dlopen(plugin_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return nullptr;
    auto entry = reinterpret_cast<tm_plugin_entry_fn>(::dlsym(lib, TM_PLUGIN_ENTRY_SYMBOL));
    return entry == nullptr ? nullptr : entry();
}

tm_session the_session{42};

void fake_log(void*, tm_log_level, const char* component, const char* msg) {
    std::string line = std::string("[") + component + "] " + msg + "\n";
    [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
}
tm_rc fake_emit(void*, const char*, const char*) { return TM_OK; }
tm_rc fake_call(void*, const char* op, const char*, const tm_session_t* session, tm_buffer* out) {
    const char* body = nullptr;
    tm_rc rc = TM_OK;
    if (session != &the_session) {
        body = R"({"error":"wrong session","code":"denied"})";
        rc = TM_DENIED;
    } else if (std::strcmp(op, "status.get") == 0) {
        body = R"({"tunnel":{"status":"up","ready_connections":4},"supervisor":null,"cnames":0})";
    } else {
        body = R"({"error":"not in this fake","code":"invalid"})";
        rc = TM_INVALID;
    }
    char* copy = ::strdup(body);
    out->data = copy;
    out->size = std::strlen(copy);
    out->opaque = copy;
    return rc;
}
void fake_release(void*, tm_buffer* buf) {
    std::free(buf->opaque);
    buf->data = nullptr;
    buf->opaque = nullptr;
}
tm_host_api fake_host() {
    tm_host_api h{};
    h.struct_size = sizeof(tm_host_api);
    h.api_version = TM_PLUGIN_API_VERSION_STRING;
    h.log = fake_log;
    h.emit_event = fake_emit;
    h.call = fake_call;
    h.buffer_release = fake_release;
    return h;
}

TEST(mcp_stdio_plugin, offers_a_transport_with_events_and_refuses_bad_config) {
    const tm_plugin_api* api = load();
    ASSERT_NE(api, nullptr) << ::dlerror();
    EXPECT_STREQ(api->name(), "mcp-stdio");
    ASSERT_NE(api->transport_v1, nullptr);
    EXPECT_NE(api->transport_v1->serve, nullptr);
    EXPECT_NE(api->transport_v1->stop, nullptr);
    EXPECT_NE(api->transport_v1->deliver_event, nullptr);
    EXPECT_EQ(api->state_store_v1, nullptr);
    rapidjson::Document schema;
    schema.Parse(api->config_schema());
    EXPECT_FALSE(schema.HasParseError());

    tm_host_api host = fake_host();
    tm_rc rc = TM_OK;
    EXPECT_EQ(api->init(&host, R"({"workers":0})", &rc), nullptr);
    EXPECT_NE(rc, TM_OK);
    EXPECT_NE(std::string(api->last_error(nullptr)).find("workers"), std::string::npos);

    tm_plugin_t* p = api->init(&host, R"({"workers":2,"max_line_bytes":4096})", &rc);
    ASSERT_NE(p, nullptr) << api->last_error(nullptr);
    EXPECT_EQ(api->transport_v1->deliver_event(p, "tunnel.status", R"({"status":"up"})"), TM_OK)
        << "events with no session being served are dropped quietly";
    api->destroy(p);
}

TEST(mcp_stdio_plugin, serves_stdio_until_eof_with_only_mcp_on_stdout) {
    int in[2], out[2];
    ASSERT_EQ(::pipe(in), 0);
    ASSERT_EQ(::pipe(out), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::close(in[0]);
        ::close(in[1]);
        ::close(out[0]);
        ::close(out[1]);
        const tm_plugin_api* api = load();
        if (api == nullptr) ::_exit(10);
        tm_host_api host = fake_host();
        tm_rc rc = TM_OK;
        tm_plugin_t* p = api->init(&host, R"({"max_line_bytes":4096})", &rc);
        if (p == nullptr) ::_exit(11);
        rc = api->transport_v1->serve(p, &the_session);
        api->destroy(p);
        ::_exit(rc == TM_OK ? 0 : 12);
    }
    ::close(in[0]);
    ::close(out[1]);
    std::string input =
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
        "\n"
        R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
        "\n"
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tunnel_get_status","arguments":{}}})"
        "\n"
        "this is not json\n" +
        std::string(10000, 'x') + "\n" +
        R"({"jsonrpc":"2.0","id":3,"method":"ping"})";  // the last line has no newline: EOF ends it
    ASSERT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
    ::close(in[1]);

    std::string output;
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "serve() returns TM_OK at EOF";

    std::vector<rapidjson::Document> messages;
    std::size_t start = 0;
    for (std::size_t nl; (nl = output.find('\n', start)) != std::string::npos; start = nl + 1) {
        messages.emplace_back();
        messages.back().Parse(output.c_str() + start, nl - start);
        ASSERT_FALSE(messages.back().HasParseError()) << output.substr(start, nl - start);
        EXPECT_STREQ(messages.back()["jsonrpc"].GetString(), "2.0");
    }
    EXPECT_EQ(start, output.size()) << "every message ends with a newline";
    ASSERT_EQ(messages.size(), 5u) << output;
    // The tool call runs on a worker, so its answer may come after later inline ones: find by id.
    auto by_id = [&](int id) -> const rapidjson::Document* {
        for (const auto& m : messages) {
            if (m["id"].IsInt() && m["id"].GetInt() == id) return &m;
        }
        return nullptr;
    };
    ASSERT_NE(by_id(1), nullptr);
    EXPECT_STREQ((*by_id(1))["result"]["protocolVersion"].GetString(), "2025-06-18");
    ASSERT_NE(by_id(2), nullptr);
    EXPECT_FALSE((*by_id(2))["result"]["isError"].GetBool()) << "the host saw the session serve() was given";
    EXPECT_STREQ((*by_id(2))["result"]["structuredContent"]["tunnel"]["status"].GetString(), "up");
    ASSERT_NE(by_id(3), nullptr);
    std::vector<int> null_id_codes;
    for (const auto& m : messages) {
        if (m["id"].IsNull()) null_id_codes.push_back(m["error"]["code"].GetInt());
    }
    EXPECT_EQ(null_id_codes, (std::vector<int>{-32700, -32600}));
}

}  // namespace
