// The mcp-stdio plugin: tm_transport_v1 (+ deliver_event) over mcp_server. A thin adapter: stdin
// lines in, host.call() for each tool call with the session serve() was given, messages to stdout.
#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include <tunnelmgr/sdk/plugin.hpp>

#include "fd_line_reader.hpp"
#include "line_splitter.hpp"
#include "mcp_server.hpp"
#include "server_config.hpp"

namespace tunnelmgr::plugins::mcp_stdio {
namespace {

constexpr const char* component = "mcp-stdio";
constexpr const char* plugin_version = "0.1.0";

server_config config_or_throw(std::string_view json) {
    auto config = parse_server_config(json);
    if (!config) throw std::runtime_error(config.error());
    return *config;
}

host_status to_status(tm_rc rc) {
    switch (rc) {
        case TM_OK: return host_status::ok;
        case TM_INVALID: return host_status::invalid;
        case TM_DENIED: return host_status::denied;
        case TM_NOT_FOUND: return host_status::not_found;
        case TM_CONFLICT: return host_status::conflict;
        case TM_RETRY: return host_status::retry;
        case TM_TIMEOUT: return host_status::timeout;
        default: return host_status::error;
    }
}

// One message, one line on stdout; partial writes are finished, EINTR retried.
void write_line_to_stdout(std::string_view message) {
    std::string line;
    line.reserve(message.size() + 1);
    line.append(message).push_back('\n');
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDOUT_FILENO, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "write to stdout");
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

}  // namespace

class mcp_stdio_plugin final : public sdk::plugin, public sdk::transport_v1, public sdk::transport_events {
public:
    mcp_stdio_plugin(const sdk::host& host, std::string_view config_json)
        : host_(host), config_(config_or_throw(config_json)), reader_(STDIN_FILENO) {}

    sdk::result<void> serve(const tm_session_t* session) override {
        server_options options;
        options.max_line_bytes = config_.max_line_bytes;
        options.workers = config_.workers;
        options.server_version = plugin_version;
        mcp_server server(
            options,
            [this, session](std::string_view op, std::string_view args) {
                auto r = host_.call(op, args, session);
                if (r) return host_reply{host_status::ok, std::move(*r)};
                return host_reply{to_status(r.error().code), std::move(r.error().message)};
            },
            write_line_to_stdout,
            [this](log_level level, std::string_view msg) {
                switch (level) {
                    case log_level::debug: host_.debug(component, msg); break;
                    case log_level::info: host_.info(component, msg); break;
                    case log_level::warn: host_.warn(component, msg); break;
                    case log_level::error: host_.error(component, msg); break;
                }
            });
        {
            std::lock_guard<std::mutex> lock(current_mutex_);
            if (current_ != nullptr) return sdk::fail(TM_CONFLICT, "mcp-stdio serves one session at a time");
            current_ = &server;
        }
        line_splitter splitter(
            config_.max_line_bytes, [&](std::string_view line) { server.handle_line(line); },
            [&](std::size_t bytes) { server.handle_oversize(bytes); });
        auto end = reader_.run(splitter);
        server.finish(/*drop_queued=*/end != fd_line_reader::end::eof);
        {
            std::lock_guard<std::mutex> lock(current_mutex_);
            current_ = nullptr;
        }
        switch (end) {
            case fd_line_reader::end::eof: host_.info(component, "stdin closed; the MCP session is over"); break;
            case fd_line_reader::end::stopped: host_.info(component, "stopped; the MCP session is over"); break;
            case fd_line_reader::end::error:
                return sdk::fail(TM_ERROR, "reading stdin failed; the MCP session is over");
        }
        return {};
    }

    sdk::result<void> stop() override {
        reader_.stop();
        return {};
    }

    sdk::result<void> deliver_event(std::string_view type, std::string_view json) override {
        std::lock_guard<std::mutex> lock(current_mutex_);
        if (current_ != nullptr) current_->deliver_event(type, json);
        return {};
    }

private:
    sdk::host host_;
    server_config config_;
    fd_line_reader reader_;
    std::mutex current_mutex_;
    mcp_server* current_ = nullptr;  // the session being served, for deliver_event
};

}  // namespace tunnelmgr::plugins::mcp_stdio

TM_PLUGIN(tunnelmgr::plugins::mcp_stdio::mcp_stdio_plugin, "mcp-stdio", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::mcp_stdio::config_schema_json)
