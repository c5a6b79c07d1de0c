// libFuzzer target for mcp_server's message handler: arbitrary bytes in, cut into lines as stdin
// would be. The oracle, beyond ASan: every message written is one valid JSON object on one line.
// Lines starting with '!' are delivered as a tunnel.status event, '~' as call.progress.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "line_splitter.hpp"
#include "mcp_server.hpp"

using namespace tunnelmgr::plugins::mcp_stdio;

namespace {

host_reply fake_host(std::string_view op, std::string_view args) {
    // Vary the answers by the arguments' size so every result-shaping path gets exercised.
    switch (args.size() % 5) {
        case 0: return {host_status::ok, op == "status.get" ? R"({"tunnel":{"status":"up"}})" : "[1,{\"a\":2}]"};
        case 1: return {host_status::denied, R"({"error":"not yours","code":"denied"})"};
        case 2: return {host_status::ok, "{broken"};
        case 3: return {host_status::timeout, ""};
        default: return {host_status::ok, R"({"hostname":"a.example.com","url":"https://a.example.com"})"};
    }
}

void check_message(std::string_view message) {
    rapidjson::Document d;
    d.Parse(message.data(), message.size());
    if (d.HasParseError() || !d.IsObject() || message.find('\n') != std::string_view::npos) {
        std::fprintf(stderr, "invalid output message: %.*s\n", static_cast<int>(message.size()), message.data());
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    server_options options;
    options.workers = 0;  // inline: deterministic, one thread
    options.max_line_bytes = 4096;
    mcp_server* server_ptr = nullptr;
    mcp_server server(
        options,
        [&](std::string_view op, std::string_view args) {
            auto at = args.find("\"_progress\":\"");
            if (at != std::string_view::npos && server_ptr != nullptr) {
                auto start = at + 13;
                auto token = args.substr(start, args.find('"', start) - start);
                server_ptr->deliver_event("call.progress",
                                          "{\"token\":\"" + std::string(token) + "\",\"step\":\"s\",\"done\":1,\"total\":2}");
            }
            return fake_host(op, args);
        },
        check_message, nullptr);
    server_ptr = &server;
    line_splitter splitter(
        options.max_line_bytes,
        [&](std::string_view line) {
            if (line.front() == '!') {
                server.deliver_event("tunnel.status", line.substr(1));
            } else if (line.front() == '~') {
                server.deliver_event("call.progress", line.substr(1));
            } else {
                server.handle_line(line);
            }
        },
        [&](std::size_t bytes) { server.handle_oversize(bytes); });
    splitter.feed(std::string_view(reinterpret_cast<const char*>(data), size));
    splitter.finish();
    server.finish();
    return 0;
}
