// The MCP server behind the mcp-stdio plugin: JSON-RPC 2.0 messages in, responses and notifications
// out, tool calls turned into host calls on worker threads. No ABI types: the adapter injects I/O.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tool_catalog.hpp"

namespace tunnelmgr::plugins::mcp_stdio {

// How a host call ended; mirrors the kinds of tm_rc without depending on the ABI.
enum class host_status { ok, invalid, denied, not_found, conflict, retry, timeout, error };

struct host_reply {
    host_status status = host_status::error;
    std::string json;  // the result on ok; {"error":"sentence","code":"..."} otherwise
};

using host_call_fn = std::function<host_reply(std::string_view op, std::string_view args_json)>;
// Writes one complete message; the server adds no newline and never calls it concurrently.
using write_fn = std::function<void(std::string_view message)>;
enum class log_level { debug, info, warn, error };
using log_fn = std::function<void(log_level, std::string_view)>;

struct server_options {
    std::size_t max_line_bytes = 1048576;
    // 0 runs every call inline on the caller's thread (deterministic, for the fuzzer).
    unsigned workers = 4;
    std::string server_version = "0.1.0";
};

// Protocol revisions, newest first. 2026-07-28 is stateless (per-request _meta, server/discover);
// the 2025 ones use the initialize handshake.
inline constexpr const char* modern_version = "2026-07-28";
inline const std::vector<std::string> legacy_versions = {"2025-11-25", "2025-06-18"};

class mcp_server {
public:
    mcp_server(server_options options, host_call_fn host_call, write_fn write, log_fn log);
    ~mcp_server();
    mcp_server(const mcp_server&) = delete;
    mcp_server& operator=(const mcp_server&) = delete;

    // One line from the client (without its newline). Never throws; answers what needs answering.
    void handle_line(std::string_view line);
    // The client sent a line longer than max_line_bytes; it was dropped unread.
    void handle_oversize(std::size_t bytes);
    // A host event: "tunnel.status" (the status.get tunnel object) or "call.progress". Any thread.
    void deliver_event(std::string_view type, std::string_view json);
    // Input is over. At EOF every request already received is still run and answered (a client may
    // pipe requests and close stdin); on stop (drop_queued) calls not yet started are dropped. Either
    // way running calls finish and answer, since a host call cannot be interrupted. Returns when no
    // call is running or queued. Idempotent.
    void finish(bool drop_queued = false);
    // True once finish() has begun: new and (when dropped) queued calls will not start.
    bool closing() const;

    const server_options& options() const { return options_; }

private:
    struct call_state;
    struct progress_route {
        std::string token_json;  // the client's progressToken, as JSON
        std::shared_ptr<call_state> call;
        double last = -1;
    };

    struct request;
    struct method_entry;

    // Checks the JSON-RPC envelope, then hands the message to handle_notification or handle_request.
    void dispatch(std::string_view line);
    void handle_notification(const request& note);
    // The protocol version and session checks every request passes, then its entry in the method table.
    void handle_request(request& req);
    static const method_entry* find_request_method(std::string_view method);
    bool accept_protocol_version(request& req);
    bool require_session(const request& req);
    std::shared_ptr<call_state> start_call(const request& req, std::string progress_id);
    bool check_status_uri(const request& req);

    void on_cancelled(const request& note);
    void on_initialize(const request& req);
    void on_server_discover(const request& req);
    void on_ping(const request& req);
    void on_tools_list(const request& req);
    void on_tools_call(const request& req);
    void on_resources_list(const request& req);
    void on_resource_templates_list(const request& req);
    void on_resources_read(const request& req);
    void on_resources_subscribe(const request& req);
    void on_logging_set_level(const request& req);

    void send(std::string_view message);
    void send_result(const std::string& id, std::string body, bool modern);
    void send_error(const std::string& id, int code, std::string_view message, const std::string& data_json = {});
    void send_notification(std::string_view method, const std::string& params_json);

    void run_async(std::shared_ptr<call_state> call, std::function<std::string()> work);
    void worker_loop();
    void complete(const std::shared_ptr<call_state>& call, std::string body);

    std::string call_tool(const tool_def& tool, const std::string& args_json, const std::string& progress_id);
    std::string read_status_resource();
    std::string read_topology_resource();
    void on_tunnel_status(std::string_view json);
    void on_progress(std::string_view json);

    server_options options_;
    host_call_fn host_call_;
    write_fn write_;
    log_fn log_;
    const tool_catalog& catalog_;  // immutable, shared by every server in the process

    std::mutex out_mutex_;  // one message at a time on stdout

    std::mutex state_mutex_;
    bool initialize_answered_ = false;
    std::string session_version_;
    std::optional<int> log_threshold_;  // index in the syslog level list; unset until logging/setLevel
    std::set<std::string> subscriptions_;
    std::string last_status_;
    std::map<std::string, std::shared_ptr<call_state>> pending_;  // by request id (as JSON)
    std::map<std::string, progress_route> progress_;              // by the token given to the host
    std::uint64_t next_progress_ = 1;

    mutable std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::condition_variable idle_cv_;
    std::deque<std::pair<std::shared_ptr<call_state>, std::function<std::string()>>> queue_;
    unsigned running_ = 0;
    bool closing_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace tunnelmgr::plugins::mcp_stdio
