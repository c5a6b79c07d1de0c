// Dispatch rules worth knowing before changing this file:
// - stdout carries only what send() writes, one message per call, serialized by out_mutex_.
// - Only tools/call and resources/read reach the host; they run on workers, everything else inline,
//   so ping and tools/list are answered even while every worker waits on a slow CNAME request.
// - A request whose _meta names 2026-07-28 is served statelessly (no initialize needed, results carry
//   resultType); any other request needs the 2025 handshake first.
// - Client input is parsed iteratively (kParseIterativeFlag): a line of a million '[' must not
//   recurse, and only checked flat values are ever serialized back.
#include "mcp_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "argument_check.hpp"

namespace tunnelmgr::plugins::mcp_stdio {
namespace {

constexpr unsigned parse_flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
constexpr const char* status_uri = "tunnel://status";
constexpr const char* topology_uri = "tunnel://topology";
constexpr const char* meta_version_key = "io.modelcontextprotocol/protocolVersion";

// JSON-RPC and MCP error codes.
constexpr int parse_error = -32700;
constexpr int invalid_request = -32600;
constexpr int method_not_found = -32601;
constexpr int invalid_params = -32602;
constexpr int internal_error = -32603;
constexpr int resource_not_found = -32002;
constexpr int unsupported_version = -32022;

// RFC 5424 severities in the order MCP uses; logging/setLevel picks a threshold among them.
constexpr std::array<std::string_view, 8> log_levels = {"debug", "info",     "notice", "warning",
                                                        "error", "critical", "alert",  "emergency"};
constexpr int warning_level = 3;

using writer_t = rapidjson::Writer<rapidjson::StringBuffer>;

std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    v.Accept(w);
    return {buf.GetString(), buf.GetSize()};
}

// `s` as a JSON string, appended to `out`: runs that need no escape are copied whole. Escapes as
// rapidjson's Writer does (\" \\ \b \f \n \r \t, other controls as \u00XX; UTF-8 as it is).
void append_quoted(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    // Eight bytes at a time while none of them is '"', '\\' or a control character (most of a page).
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    auto has_zero_byte = [](std::uint64_t v) { return ((v - ones) & ~v & highs) != 0; };
    auto plain8 = [&](const char* p) {
        std::uint64_t w;
        std::memcpy(&w, p, sizeof w);
        const bool control = ((w - ones * 0x20) & ~w & highs) != 0;
        return !control && !has_zero_byte(w ^ (ones * '"')) && !has_zero_byte(w ^ (ones * '\\'));
    };
    out += '"';
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        while (i + 8 <= s.size() && plain8(s.data() + i)) i += 8;
        if (i >= s.size()) break;
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

std::string quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + s.size() / 8 + 2);
    append_quoted(out, s);
    return out;
}

std::string_view sv(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

const rapidjson::Value* member(const rapidjson::Value* obj, const char* key) {
    if (obj == nullptr || !obj->IsObject()) return nullptr;
    auto it = obj->FindMember(key);
    return it == obj->MemberEnd() ? nullptr : &it->value;
}

const rapidjson::Value* string_member(const rapidjson::Value* obj, const char* key) {
    const auto* v = member(obj, key);
    return v != nullptr && v->IsString() ? v : nullptr;
}

// JSON-RPC ids in MCP are strings or integers (never null, never fractional).
bool valid_id(const rapidjson::Value& v) { return v.IsString() || v.IsInt64() || v.IsUint64(); }

std::string supported_versions_json() {
    std::string out = "[" + quote(modern_version);
    for (const auto& v : legacy_versions) out += "," + quote(v);
    return out + "]";
}

const char* capabilities_json =
    R"({"tools":{"listChanged":false},"resources":{"subscribe":true,"listChanged":false},"logging":{}})";

const char* instructions =
    "tunnelmgr publishes services of this machine on the internet through its Cloudflare Tunnel. "
    "tunnel_check_target shows how a port would be published without changing anything; "
    "tunnel_request_cname publishes SUBDOMAIN.DOMAIN for one of your project's ports; tunnel_list_cnames and "
    "tunnel_delete_cname manage what you published; tunnel_get_status and the tunnel://status resource report "
    "the tunnel's health; an admin session can read tunnel://topology, the paths from each hostname to its target. "
    "This session acts for one project (or the admin), decided when it was started.";

std::string code_name(host_status s) {
    switch (s) {
        case host_status::ok: return "ok";
        case host_status::invalid: return "invalid";
        case host_status::denied: return "denied";
        case host_status::not_found: return "not_found";
        case host_status::conflict: return "conflict";
        case host_status::retry: return "retry";
        case host_status::timeout: return "timeout";
        case host_status::error: return "error";
    }
    return "error";
}

// Capacity kept for the JSON-RPC envelope send_result writes around a result: the page moves within
// its buffer instead of being copied into a new one.
constexpr std::size_t envelope_bytes = 128;

// `structured` is one JSON object, compact or not; it goes into the result as it is, and once more,
// escaped, as the text a client without structured output reads.
std::string tool_result(std::string_view structured, bool is_error) {
    static constexpr std::string_view head = R"({"content":[{"type":"text","text":)";
    static constexpr std::string_view middle = R"(}],"structuredContent":)";
    std::string out;
    out.reserve(envelope_bytes + head.size() + middle.size() + 2 * structured.size() + structured.size() / 8 + 32);
    out += head;
    append_quoted(out, structured);
    out += middle;
    out += structured;
    out += is_error ? R"(,"isError":true})" : R"(,"isError":false})";
    return out;
}

// Checks a reply the host printed without building it again (SAX, no DOM): one well-formed value,
// valid UTF-8; and, for an array, how many elements it has.
struct reply_check : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, reply_check> {
    int depth = 0;
    std::size_t top_level_count = 0;
    bool StartObject() { return ++depth > 0; }
    bool EndObject(rapidjson::SizeType) { return --depth >= 0; }
    bool StartArray() { return ++depth > 0; }
    bool EndArray(rapidjson::SizeType n) {
        if (--depth == 0) top_level_count = n;
        return depth >= 0;
    }
};

// Pure ASCII cannot be invalid UTF-8: the (costly) encoding check is skipped for it.
bool all_ascii(std::string_view s) {
    std::uint64_t any = 0;
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, sizeof w);
        any |= w;
    }
    for (; i < s.size(); ++i) any |= static_cast<unsigned char>(s[i]);
    return (any & 0x8080808080808080ULL) == 0;
}

bool well_formed(std::string_view json, bool ascii, std::size_t& top_level_count) {
    rapidjson::MemoryStream ms(json.data(), json.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
    rapidjson::Reader reader;
    reply_check check;
    const bool ok = ascii ? !reader.Parse<rapidjson::kParseIterativeFlag>(in, check).IsError()
                          : !reader.Parse<parse_flags>(in, check).IsError();
    top_level_count = check.top_level_count;
    return ok;
}

// The same check in place: strings are unescaped into `json` itself instead of copied out, so `json`
// is garbage afterwards. It must hold no NUL (the parser stops at the first).
bool well_formed_in_place(std::string& json, bool ascii) {
    rapidjson::InsituStringStream in(json.data());
    rapidjson::Reader reader;
    reply_check check;
    constexpr unsigned in_place = rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag;
    return ascii ? !reader.Parse<in_place>(in, check).IsError()
                 : !reader.Parse<in_place | rapidjson::kParseValidateEncodingFlag>(in, check).IsError();
}

std::string_view trimmed(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::string tool_error(std::string_view tool, std::string_view message, std::string_view code) {
    std::string structured = "{\"error\":" + quote(message) + ",\"code\":" + quote(code) +
                             ",\"recommendation\":" + quote(recommendation_for(tool, code)) + "}";
    return tool_result(structured, true);
}

// Built once: parsing ten schemas per session (or per fuzz input) is wasted work.
const tool_catalog& shared_catalog() {
    static const tool_catalog catalog;
    return catalog;
}

}  // namespace

struct mcp_server::call_state {
    std::string id;  // as JSON
    bool modern = false;
    std::string progress_id;
    std::atomic<bool> cancelled{false};
};

// What an asynchronous request ends with: a result body, or a JSON-RPC error.
struct outcome {
    std::string result;
    int error_code = 0;
    std::string error_message;
};

mcp_server::mcp_server(server_options options, host_call_fn host_call, write_fn write, log_fn log)
    : options_(std::move(options)),
      host_call_(std::move(host_call)),
      write_(std::move(write)),
      log_(std::move(log)),
      catalog_(shared_catalog()) {
    if (!log_) log_ = [](log_level, std::string_view) {};
    for (unsigned i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

mcp_server::~mcp_server() { finish(); }

// --- output ---------------------------------------------------------------------------------------

void mcp_server::send(std::string_view message) {
    std::lock_guard<std::mutex> lock(out_mutex_);
    try {
        write_(message);
    } catch (const std::exception& e) {
        // The client is gone or stdout is broken; nothing more useful can be done with this message.
        log_(log_level::warn, std::string("could not write an MCP message: ") + e.what());
    }
}

// The envelope is written around `body` in its own buffer (no copy of a big page into a new one).
void mcp_server::send_result(const std::string& id, std::string body, bool modern) {
    std::string envelope = R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":)";
    std::size_t replaced = 0;
    if (modern && body.size() >= 2 && body.front() == '{') {
        // 2026-07-28: every result says whether it is complete.
        envelope += body.size() > 2 ? R"({"resultType":"complete",)" : R"({"resultType":"complete")";
        replaced = 1;
    }
    body.replace(0, replaced, envelope);
    body += '}';
    send(body);
}

void mcp_server::send_error(const std::string& id, int code, std::string_view message, const std::string& data_json) {
    std::string out = R"({"jsonrpc":"2.0","id":)" + id + R"(,"error":{"code":)" + std::to_string(code) +
                      R"(,"message":)" + quote(message);
    if (!data_json.empty()) out += R"(,"data":)" + data_json;
    send(out + "}}");
}

void mcp_server::send_notification(std::string_view method, const std::string& params_json) {
    send(R"({"jsonrpc":"2.0","method":)" + quote(method) + R"(,"params":)" + params_json + "}");
}

// --- input ----------------------------------------------------------------------------------------

void mcp_server::handle_line(std::string_view line) {
    try {
        dispatch(line);
    } catch (const std::exception& e) {
        // A bug of ours must not end the session: say so on stderr and carry on.
        log_(log_level::error, std::string("internal error while handling a message: ") + e.what());
    }
}

void mcp_server::handle_oversize(std::size_t bytes) {
    log_(log_level::warn, "dropped a " + std::to_string(bytes) + "-byte message (max_line_bytes is " +
                              std::to_string(options_.max_line_bytes) + ")");
    send_error("null", invalid_request,
               "the message is " + std::to_string(bytes) + " bytes, more than the limit of " +
                   std::to_string(options_.max_line_bytes) + " bytes; it was ignored");
}

// One message as the handlers see it: the envelope already checked.
struct mcp_server::request {
    std::string id;  // as JSON; empty for a notification
    std::string method;
    const rapidjson::Value* params = nullptr;  // an object, or nullptr
    bool modern = false;                       // carries _meta's 2026-07-28 protocol version
};

struct mcp_server::method_entry {
    std::string_view method;
    void (mcp_server::*handle)(const request&);
    bool before_initialize;  // answered without the 2025 initialize handshake
};

// The requests this server answers. Any other method is "Method not found" (once the session may ask).
const mcp_server::method_entry* mcp_server::find_request_method(std::string_view method) {
    static constexpr method_entry methods[] = {
        {"initialize", &mcp_server::on_initialize, true},
        {"server/discover", &mcp_server::on_server_discover, true},
        {"ping", &mcp_server::on_ping, true},
        {"tools/list", &mcp_server::on_tools_list, false},
        {"tools/call", &mcp_server::on_tools_call, false},
        {"resources/list", &mcp_server::on_resources_list, false},
        {"resources/templates/list", &mcp_server::on_resource_templates_list, false},
        {"resources/read", &mcp_server::on_resources_read, false},
        {"resources/subscribe", &mcp_server::on_resources_subscribe, false},
        {"resources/unsubscribe", &mcp_server::on_resources_subscribe, false},
        {"logging/setLevel", &mcp_server::on_logging_set_level, false},
    };
    for (const auto& entry : methods) {
        if (entry.method == method) return &entry;
    }
    return nullptr;
}

void mcp_server::dispatch(std::string_view line) {
    rapidjson::Document doc;
    doc.Parse<parse_flags>(line.data(), line.size());
    if (doc.HasParseError()) {
        send_error("null", parse_error,
                   std::string("Parse error: ") + rapidjson::GetParseError_En(doc.GetParseError()) + " (at byte " +
                       std::to_string(doc.GetErrorOffset()) + ")");
        return;
    }
    if (doc.IsArray()) {
        send_error("null", invalid_request,
                   "Invalid Request: JSON-RPC batches are not supported (MCP removed them in 2025-06-18); send one "
                   "message per line");
        return;
    }
    if (!doc.IsObject()) {
        send_error("null", invalid_request, "Invalid Request: a message must be a JSON object");
        return;
    }

    const rapidjson::Value* id_value = member(&doc, "id");
    if (id_value != nullptr && !valid_id(*id_value)) {
        send_error("null", invalid_request, "Invalid Request: id must be a string or an integer");
        return;
    }
    std::string id = id_value != nullptr ? to_json(*id_value) : std::string();
    const rapidjson::Value* method_value = member(&doc, "method");
    const rapidjson::Value* jsonrpc = string_member(&doc, "jsonrpc");
    if (jsonrpc == nullptr || sv(*jsonrpc) != "2.0") {
        if (id_value != nullptr || method_value != nullptr) {
            send_error(id.empty() ? "null" : id, invalid_request, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        }
        return;
    }
    if (method_value == nullptr) {
        // A response: we never send requests, so there is nothing to match it with.
        if (member(&doc, "result") == nullptr && member(&doc, "error") == nullptr) {
            send_error(id.empty() ? "null" : id, invalid_request, "Invalid Request: \"method\" is missing");
        }
        return;
    }
    if (!method_value->IsString()) {
        if (!id.empty()) send_error(id, invalid_request, "Invalid Request: \"method\" must be a string");
        return;
    }
    const rapidjson::Value* params = member(&doc, "params");
    if (params != nullptr && !params->IsObject()) {
        if (!id.empty()) send_error(id, invalid_params, "Invalid params: \"params\" must be an object");
        return;
    }

    request message{std::move(id), std::string(sv(*method_value)), params, false};
    if (message.id.empty()) {
        handle_notification(message);
    } else {
        handle_request(message);
    }
}

// Notifications are never answered. Only cancellation needs action; notifications/initialized and
// anything else need none.
void mcp_server::handle_notification(const request& note) {
    if (note.method == "notifications/cancelled") on_cancelled(note);
}

void mcp_server::handle_request(request& req) {
    if (!accept_protocol_version(req)) return;
    const method_entry* entry = find_request_method(req.method);
    if ((entry == nullptr || !entry->before_initialize) && !require_session(req)) return;
    if (entry == nullptr) {
        send_error(req.id, method_not_found, "Method not found: " + req.method);
        return;
    }
    (this->*entry->handle)(req);
}

// A request naming a protocol version in _meta is served statelessly, and only 2026-07-28 can be.
bool mcp_server::accept_protocol_version(request& req) {
    const rapidjson::Value* meta = member(req.params, "_meta");
    const auto* version = member(meta, meta_version_key);
    if (version == nullptr) return true;
    if (!version->IsString() || sv(*version) != modern_version) {
        std::string requested = version->IsString() ? std::string(sv(*version)) : to_json(*version);
        send_error(req.id, unsupported_version, "Unsupported protocol version: " + requested,
                   R"({"supported":)" + supported_versions_json() + R"(,"requested":)" + quote(requested) + "}");
        return false;
    }
    req.modern = true;
    return true;
}

// Without 2026-07-28 in _meta, a request needs the 2025 handshake first.
bool mcp_server::require_session(const request& req) {
    if (req.modern) return true;
    std::lock_guard<std::mutex> lock(state_mutex_);
    if (initialize_answered_) return true;
    send_error(req.id, invalid_request,
               "Invalid Request: the session is not initialized; send initialize first (2025-06-18, "
               "2025-11-25), or carry _meta[\"io.modelcontextprotocol/protocolVersion\"]=\"2026-07-28\" on "
               "every request");
    return false;
}

// Registers a request that is answered later; nullptr (and an error to the client) when its id is
// already used by a request in progress.
std::shared_ptr<mcp_server::call_state> mcp_server::start_call(const request& req, std::string progress_id) {
    auto call = std::make_shared<call_state>();
    call->id = req.id;
    call->modern = req.modern;
    call->progress_id = std::move(progress_id);
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        if (pending_.count(req.id) == 0) {
            pending_[req.id] = call;
            return call;
        }
    }
    send_error(req.id, invalid_request, "Invalid Request: id " + req.id + " is already used by a request in progress");
    return nullptr;
}

// --- method handlers ------------------------------------------------------------------------------

void mcp_server::on_cancelled(const request& note) {
    const auto* rid = member(note.params, "requestId");
    if (rid == nullptr || !valid_id(*rid)) return;
    std::string key = to_json(*rid);
    std::lock_guard<std::mutex> lock(state_mutex_);
    auto it = pending_.find(key);
    if (it == pending_.end()) return;  // finished already, or never ours: ignore, as the spec says
    it->second->cancelled = true;
    if (!it->second->progress_id.empty()) progress_.erase(it->second->progress_id);
    pending_.erase(it);
    log_(log_level::debug, "request " + key + " cancelled by the client");
}

void mcp_server::on_initialize(const request& req) {
    const auto* requested = string_member(req.params, "protocolVersion");
    if (requested == nullptr) {
        send_error(req.id, invalid_params, "Invalid params: initialize needs \"protocolVersion\" (a string)");
        return;
    }
    std::string chosen = legacy_versions.front();
    if (std::find(legacy_versions.begin(), legacy_versions.end(), sv(*requested)) != legacy_versions.end()) {
        chosen = std::string(sv(*requested));
    }
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        if (initialize_answered_) {
            send_error(req.id, invalid_request,
                       "Invalid Request: this connection is initialized already (protocol " + session_version_ +
                           "); start a new process for a new session");
            return;
        }
        initialize_answered_ = true;
        session_version_ = chosen;
    }
    send_result(req.id,
                R"({"protocolVersion":)" + quote(chosen) + R"(,"capabilities":)" + capabilities_json +
                    R"(,"serverInfo":{"name":"tunnelmgr","title":"tunnelmgr","version":)" +
                    quote(options_.server_version) + R"(},"instructions":)" + quote(instructions) + "}",
                false);
}

void mcp_server::on_server_discover(const request& req) {
    send_result(req.id,
                R"({"supportedVersions":)" + supported_versions_json() + R"(,"capabilities":)" + capabilities_json +
                    R"(,"serverInfo":{"name":"tunnelmgr","title":"tunnelmgr","version":)" +
                    quote(options_.server_version) + R"(},"instructions":)" + quote(instructions) + "}",
                true);
}

void mcp_server::on_ping(const request& req) { send_result(req.id, "{}", req.modern); }

void mcp_server::on_tools_list(const request& req) { send_result(req.id, catalog_.list_result(), req.modern); }

void mcp_server::on_tools_call(const request& req) {
    const auto* name = string_member(req.params, "name");
    if (name == nullptr) {
        send_error(req.id, invalid_params, "Invalid params: tools/call needs \"name\" (a string)");
        return;
    }
    const tool_def* tool = catalog_.find(sv(*name));
    if (tool == nullptr) {
        send_error(req.id, invalid_params,
                   "Unknown tool: " + std::string(sv(*name)) + "; tools/list gives the names of the tools");
        return;
    }
    rapidjson::Value empty(rapidjson::kObjectType);
    const rapidjson::Value* args = member(req.params, "arguments");
    if (args == nullptr || args->IsNull()) args = &empty;
    if (auto checked = check_arguments(tool->input_schema, *args); !checked) {
        send_result(req.id, tool_error(tool->name, checked.error(), "invalid"), req.modern);
        return;
    }
    std::string progress_id;
    std::string token_json;
    if (const auto* token = member(member(req.params, "_meta"), "progressToken"); token != nullptr && valid_id(*token)) {
        std::lock_guard<std::mutex> lock(state_mutex_);
        progress_id = "p" + std::to_string(next_progress_++);
        token_json = to_json(*token);
    }
    // Arguments are flat scalars now (the check refused anything else), so copying them is cheap.
    rapidjson::Document host_args(rapidjson::kObjectType);
    host_args.CopyFrom(*args, host_args.GetAllocator());
    if (!progress_id.empty()) {
        host_args.AddMember("_progress", rapidjson::Value(progress_id.c_str(), host_args.GetAllocator()),
                            host_args.GetAllocator());
    }
    auto call = start_call(req, progress_id);
    if (!call) return;
    if (!progress_id.empty()) {
        std::lock_guard<std::mutex> lock(state_mutex_);
        progress_[progress_id] = progress_route{token_json, call, -1};
    }
    run_async(call, [this, tool, args_json = to_json(host_args), progress_id]() {
        return call_tool(*tool, args_json, progress_id);
    });
}

void mcp_server::on_resources_list(const request& req) {
    send_result(req.id,
                R"({"resources":[{"uri":"tunnel://status","name":"tunnel-status","title":"Tunnel status",)"
                R"("description":"The tunnel's health as tunnel_get_status reports it; subscribe to hear when it changes.",)"
                R"("mimeType":"application/json"},)"
                R"x({"uri":"tunnel://topology","name":"tunnel-topology","title":"Tunnel topology (admin)",)x"
                R"("description":"Where cloudflared runs, the Docker networks and containers, and the path each published )"
                R"(hostname takes to its target, broken paths flagged, as `tunnelmgr topology` prints it. Admin sessions only.",)"
                R"("mimeType":"text/plain"}]})",
                req.modern);
}

void mcp_server::on_resource_templates_list(const request& req) {
    send_result(req.id, R"({"resourceTemplates":[]})", req.modern);
}

// resources/subscribe and /unsubscribe name a uri, and tunnel://status is the only one that changes
// by itself (tunnel://topology is read when wanted).
bool mcp_server::check_status_uri(const request& req) {
    const auto* uri = string_member(req.params, "uri");
    if (uri == nullptr) {
        send_error(req.id, invalid_params, "Invalid params: " + req.method + " needs \"uri\" (a string)");
        return false;
    }
    if (sv(*uri) == topology_uri) {
        send_error(req.id, invalid_params,
                   "Invalid params: tunnel://topology cannot be subscribed to; read it again when you need it",
                   R"({"uri":)" + quote(sv(*uri)) + "}");
        return false;
    }
    if (sv(*uri) != status_uri) {
        send_error(req.id, resource_not_found, "Resource not found: the only resource that can be subscribed to is tunnel://status",
                   R"({"uri":)" + quote(sv(*uri)) + "}");
        return false;
    }
    return true;
}

void mcp_server::on_resources_read(const request& req) {
    const auto* uri = string_member(req.params, "uri");
    if (uri == nullptr) {
        send_error(req.id, invalid_params, "Invalid params: " + req.method + " needs \"uri\" (a string)");
        return;
    }
    const bool topology = sv(*uri) == topology_uri;
    if (!topology && sv(*uri) != status_uri) {
        send_error(req.id, resource_not_found, "Resource not found: the resources are tunnel://status and tunnel://topology",
                   R"({"uri":)" + quote(sv(*uri)) + "}");
        return;
    }
    auto call = start_call(req, {});
    if (!call) return;
    if (topology) {
        run_async(call, [this]() { return read_topology_resource(); });
    } else {
        run_async(call, [this]() { return read_status_resource(); });
    }
}

// resources/subscribe and resources/unsubscribe.
void mcp_server::on_resources_subscribe(const request& req) {
    if (!check_status_uri(req)) return;
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        if (req.method == "resources/subscribe") {
            subscriptions_.insert(status_uri);
        } else {
            subscriptions_.erase(status_uri);
        }
    }
    send_result(req.id, "{}", req.modern);
}

void mcp_server::on_logging_set_level(const request& req) {
    const auto* level = string_member(req.params, "level");
    auto it = level == nullptr ? log_levels.end() : std::find(log_levels.begin(), log_levels.end(), sv(*level));
    if (it == log_levels.end()) {
        send_error(req.id, invalid_params,
                   "Invalid params: level must be one of debug, info, notice, warning, error, critical, alert, "
                   "emergency");
        return;
    }
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        log_threshold_ = static_cast<int>(it - log_levels.begin());
    }
    send_result(req.id, "{}", req.modern);
}

// --- asynchronous calls -----------------------------------------------------------------------------

void mcp_server::run_async(std::shared_ptr<call_state> call, std::function<std::string()> work) {
    if (options_.workers == 0) {
        std::string body;
        try {
            body = work();
        } catch (const std::exception& e) {
            body = "\x01" + std::string(e.what());
        }
        complete(call, std::move(body));
        return;
    }
    {
        std::lock_guard<std::mutex> lock(queue_mutex_);
        if (!closing_) {
            queue_.emplace_back(std::move(call), std::move(work));
            queue_cv_.notify_one();
            return;
        }
    }
    // Input is over: nobody waits for the answer, so do not start new work.
    std::lock_guard<std::mutex> lock(state_mutex_);
    pending_.erase(call->id);
    if (!call->progress_id.empty()) progress_.erase(call->progress_id);
}

void mcp_server::worker_loop() {
    for (;;) {
        std::pair<std::shared_ptr<call_state>, std::function<std::string()>> job;
        {
            std::unique_lock<std::mutex> lock(queue_mutex_);
            queue_cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
            if (queue_.empty()) return;
            job = std::move(queue_.front());
            queue_.pop_front();
            ++running_;
        }
        if (!job.first->cancelled) {
            std::string body;
            try {
                body = job.second();
            } catch (const std::exception& e) {
                body = "\x01" + std::string(e.what());
            }
            complete(job.first, std::move(body));
        }
        std::lock_guard<std::mutex> lock(queue_mutex_);
        --running_;
        idle_cv_.notify_all();
    }
}

// `body` is a result object, or "\x01" + a message for a JSON-RPC internal error.
void mcp_server::complete(const std::shared_ptr<call_state>& call, std::string body) {
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        if (!call->progress_id.empty()) progress_.erase(call->progress_id);
        if (call->cancelled) return;  // the client said it no longer wants an answer
        auto it = pending_.find(call->id);
        if (it != pending_.end() && it->second == call) pending_.erase(it);
    }
    if (!body.empty() && body.front() == '\x01') {
        send_error(call->id, internal_error, body.substr(1));
    } else {
        send_result(call->id, std::move(body), call->modern);
    }
}

bool mcp_server::closing() const {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    return closing_;
}

void mcp_server::finish(bool drop_queued) {
    decltype(queue_) dropped;
    {
        std::lock_guard<std::mutex> lock(queue_mutex_);
        closing_ = true;
        if (drop_queued) dropped.swap(queue_);
        queue_cv_.notify_all();  // workers drain what is left in the queue, then exit
    }
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        for (auto& [call, work] : dropped) {
            pending_.erase(call->id);
            if (!call->progress_id.empty()) progress_.erase(call->progress_id);
        }
    }
    if (!dropped.empty()) {
        log_(log_level::info, "stopped; " + std::to_string(dropped.size()) + " queued call(s) were not started");
    }
    for (auto& t : workers_) {
        if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
    workers_.clear();
}

// --- the work itself --------------------------------------------------------------------------------

std::string mcp_server::call_tool(const tool_def& tool, const std::string& args_json, const std::string&) {
    host_reply reply = host_call_(tool.op, args_json);
    if (reply.status != host_status::ok) {
        rapidjson::Document doc;
        doc.Parse<parse_flags>(reply.json.data(), reply.json.size());
        std::string code = code_name(reply.status);
        rapidjson::Document err(rapidjson::kObjectType);
        auto& a = err.GetAllocator();
        if (!doc.HasParseError() && doc.IsObject()) err.CopyFrom(doc, a);
        if (!string_member(&err, "error")) {
            err.RemoveMember("error");
            err.AddMember("error",
                          rapidjson::Value((tool.name + " failed (" + code + ") without saying why").c_str(), a), a);
        }
        if (!string_member(&err, "code")) {
            err.RemoveMember("code");
            err.AddMember("code", rapidjson::Value(code.c_str(), a), a);
        }
        if (!string_member(&err, "recommendation")) {
            err.RemoveMember("recommendation");
            std::string rec = recommendation_for(tool.name, sv(err["code"]));
            err.AddMember("recommendation", rapidjson::Value(rec.c_str(), a), a);
        }
        log_(log_level::debug, tool.name + " failed: " + std::string(sv(err["error"])));
        return tool_result(to_json(err), true);
    }
    auto malformed = [&] {
        log_(log_level::error, "the host answered " + tool.op + " with malformed JSON");
        return tool_error(tool.name, "tunnelmgr's host answered " + tool.op + " with malformed JSON; this is a bug",
                          "error");
    };
    const std::string_view reply_json = trimmed(reply.json);
    if (reply_json.empty() || reply_json.find('\0') != std::string_view::npos) return malformed();
    const bool ascii = all_ascii(reply_json);
    if (reply_json.front() == '{') {
        // A page of rows is most of the bytes: passed through as the host printed it, escaped once for
        // the text; checked after it was copied, in place, since the host's text is not needed any more.
        std::string answer = tool_result(reply_json, false);
        if (well_formed_in_place(reply.json, ascii)) return answer;
        return malformed();
    }
    std::size_t count = 0;
    if (!well_formed(reply_json, ascii, count)) return malformed();
    // structuredContent must be an object: lists go under the tool's key, with their length.
    std::string key = tool.wrap_key.empty() ? "value" : tool.wrap_key;
    std::string structured;
    structured.reserve(reply_json.size() + key.size() + 32);
    structured += '{';
    append_quoted(structured, key);
    structured += ':';
    structured += reply_json;
    if (reply_json.front() == '[') structured += ",\"count\":" + std::to_string(count);
    structured += '}';
    return tool_result(structured, false);
}

std::string mcp_server::read_status_resource() {
    host_reply reply = host_call_("status.get", "{}");
    if (reply.status != host_status::ok) {
        rapidjson::Document doc;
        doc.Parse<parse_flags>(reply.json.data(), reply.json.size());
        const auto* message = string_member(&doc, "error");
        return "\x01" + (message != nullptr ? std::string(sv(*message)) : "the tunnel status could not be read (" +
                                                                              code_name(reply.status) + ")");
    }
    return R"({"contents":[{"uri":"tunnel://status","mimeType":"application/json","text":)" + quote(reply.json) +
           "}]}";
}

// The host's topology.get carries the text `tunnelmgr topology` prints; the resource is that text. A
// project session is refused by the host (admin only), and the refusal is the error.
std::string mcp_server::read_topology_resource() {
    host_reply reply = host_call_("topology.get", "{}");
    rapidjson::Document doc;
    doc.Parse<parse_flags>(reply.json.data(), reply.json.size());
    if (reply.status != host_status::ok) {
        const auto* message = string_member(&doc, "error");
        return "\x01" + (message != nullptr ? std::string(sv(*message))
                                             : "the topology could not be read (" + code_name(reply.status) + ")");
    }
    const auto* text = string_member(&doc, "text");
    if (text == nullptr) {
        log_(log_level::error, "the host answered topology.get without its text");
        return "\x01tunnelmgr's host answered topology.get without its text; this is a bug";
    }
    return R"({"contents":[{"uri":"tunnel://topology","mimeType":"text/plain","text":)" + quote(sv(*text)) + "}]}";
}

// --- host events ------------------------------------------------------------------------------------

void mcp_server::deliver_event(std::string_view type, std::string_view json) {
    try {
        if (type == "call.progress") {
            on_progress(json);
        } else if (type == "tunnel.status") {
            on_tunnel_status(json);
        }
    } catch (const std::exception& e) {
        log_(log_level::error, std::string("internal error while delivering an event: ") + e.what());
    }
}

void mcp_server::on_progress(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse<parse_flags>(json.data(), json.size());
    const auto* token = string_member(&doc, "token");
    const auto* done = member(&doc, "done");
    if (token == nullptr || done == nullptr || !done->IsNumber()) return;
    const auto* total = member(&doc, "total");
    const auto* step = string_member(&doc, "step");

    std::lock_guard<std::mutex> lock(state_mutex_);  // held while sending: no progress after a cancel
    auto it = progress_.find(std::string(sv(*token)));
    if (it == progress_.end() || it->second.call->cancelled) return;
    double value = done->GetDouble();
    if (value <= it->second.last) return;  // progress must increase with each notification
    it->second.last = value;
    std::string params = R"({"progressToken":)" + it->second.token_json + R"(,"progress":)" + to_json(*done);
    if (total != nullptr && total->IsNumber()) params += R"(,"total":)" + to_json(*total);
    if (step != nullptr) params += R"(,"message":)" + quote(sv(*step));
    send_notification("notifications/progress", params + "}");
}

void mcp_server::on_tunnel_status(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse<parse_flags>(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) return;
    const rapidjson::Value* tunnel = member(&doc, "tunnel");
    if (tunnel == nullptr || !tunnel->IsObject()) tunnel = &doc;  // the tunnel object itself, or status.get's shape
    const auto* status_value = string_member(tunnel, "status");
    if (status_value == nullptr) return;
    std::string status(sv(*status_value));

    std::string previous;
    bool subscribed = false;
    bool warn = false;
    {
        std::lock_guard<std::mutex> lock(state_mutex_);
        previous = last_status_;
        last_status_ = status;
        subscribed = subscriptions_.count(status_uri) != 0;
        bool down = status == "down";
        bool was_down = previous == "down";
        warn = log_threshold_.has_value() && *log_threshold_ <= warning_level && down != was_down &&
               !(previous.empty() && !down);
    }
    if (subscribed) send_notification("notifications/resources/updated", R"({"uri":"tunnel://status"})");
    if (warn) {
        std::string message;
        if (status == "down") {
            const auto* last_error = string_member(tunnel, "last_error");
            message = "the tunnel is down" +
                      (last_error != nullptr ? " (" + std::string(sv(*last_error)) + ")" : std::string()) +
                      "; published hostnames are unreachable until it is back";
        } else {
            message = "the tunnel is back (" + status + ")";
        }
        send_notification("notifications/message",
                          R"({"level":"warning","logger":"tunnelmgr","data":{"message":)" + quote(message) +
                              R"(,"status":)" + quote(status) + R"(,"previous":)" +
                              (previous.empty() ? std::string("null") : quote(previous)) + "}}");
    }
}

}  // namespace tunnelmgr::plugins::mcp_stdio
