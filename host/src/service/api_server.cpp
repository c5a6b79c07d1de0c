// See api_server.hpp.
#include "service/api_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <condition_variable>
#include <optional>

#include "core/json.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::service {

struct api_server::connection {
    uint64_t id = 0;
    int fd = -1;
    sys::peer_credentials peer;
    std::mutex write_m;
    std::mutex m;  // who, subscribed, in_flight
    std::condition_variable idle;
    std::optional<core::session> who;
    bool subscribed = false;
    size_t in_flight = 0;
    std::atomic<bool> finished{false};
    std::thread reader;

    void send(const std::string& line) {
        std::lock_guard<std::mutex> lock(write_m);
        // A peer that went away is noticed by the reader; one that stops reading hits the send
        // timeout (SO_SNDTIMEO) and is closed, so it cannot hold a worker forever.
        if (!sys::send_all(fd, line + "\n")) ::shutdown(fd, SHUT_RDWR);
    }
    // For pushed events, sent from the daemon's own threads (the health loop): never wait for a
    // client. One that is not reading (its buffer full) is closed rather than allowed to stall them.
    void send_now(const std::string& line) {
        std::string msg = line + "\n";
        std::lock_guard<std::mutex> lock(write_m);  // an answer being written is bounded by SO_SNDTIMEO
        ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n != static_cast<ssize_t>(msg.size())) ::shutdown(fd, SHUT_RDWR);
    }
};

namespace {

std::string error_line(const std::string& id_json, int code, const std::string& message, const char* kind) {
    core::json::object err;
    err.set("code", code).set("message", message);
    if (kind != nullptr) err.set_raw("data", core::json::object().set("kind", kind).str());
    return R"({"jsonrpc":"2.0","id":)" + id_json + R"(,"error":)" + err.str() + "}";
}

std::string result_line(const std::string& id_json, const std::string& result_json) {
    return R"({"jsonrpc":"2.0","id":)" + id_json + R"(,"result":)" + result_json + "}";
}

std::string notification(const std::string& method, const std::string& params_json) {
    return R"({"jsonrpc":"2.0","method":)" + core::json::to_string(rapidjson::Value(rapidjson::StringRef(method.c_str()))) +
           R"(,"params":)" + params_json + "}";
}

}  // namespace

api_server::api_server(host_calls& ops, authenticate_fn authenticate)
    : ops_(ops), authenticate_(std::move(authenticate)) {}

api_server::~api_server() { stop(); }

const std::string& api_server::path() const {
    static const std::string none;
    return listener_ ? listener_->path() : none;
}

core::result<void> api_server::start(const std::string& path, const std::string& group) {
    if (listener_) return {};
    auto l = sys::unix_listener::listen(path, 0660, group);
    if (!l) return tl::unexpected(l.error());
    if (::pipe2(wake_, O_CLOEXEC) != 0) return core::fail(core::errc::error, "cannot create a pipe for the API server");
    listener_ = std::make_unique<sys::unix_listener>(std::move(*l));
    stopping_ = false;
    acceptor_ = std::thread([this] { accept_loop(); });
    log::info("api", "serving the API on " + path);
    return {};
}

void api_server::accept_loop() {
    for (;;) {
        pollfd fds[2] = {{listener_->fd(), POLLIN, 0}, {wake_[0], POLLIN, 0}};
        int n = ::poll(fds, 2, -1);
        if (stopping_) return;
        if (n < 0) continue;
        if ((fds[1].revents & POLLIN) != 0) return;
        if ((fds[0].revents & POLLIN) == 0) continue;
        auto fd = listener_->accept();
        if (!fd) continue;
        reap();
        auto peer = sys::peer_of(*fd);
        std::lock_guard<std::mutex> lock(m_);
        if (conns_.size() >= max_connections || !peer) {
            std::string why = !peer ? peer.error().message
                                    : "the daemon serves at most " + std::to_string(max_connections) +
                                          " connections at once; close another session and retry";
            (void)sys::send_all(*fd, error_line("null", -32000, why, "retry") + "\n");
            ::close(*fd);
            continue;
        }
        timeval send_timeout{10, 0};
        ::setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
        auto c = std::make_shared<connection>();
        c->id = next_id_++;
        c->fd = *fd;
        c->peer = *peer;
        conns_.push_back(c);
        c->reader = std::thread([this, c] { serve(c); });
    }
}

void api_server::reap() {
    std::list<std::shared_ptr<connection>> done;
    {
        std::lock_guard<std::mutex> lock(m_);
        for (auto it = conns_.begin(); it != conns_.end();) {
            if ((*it)->finished) {
                done.push_back(*it);
                it = conns_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& c : done) {
        if (c->reader.joinable()) c->reader.join();
        ::close(c->fd);
    }
}

void api_server::serve(const std::shared_ptr<connection>& c) {
    sys::line_reader in(c->fd, max_message);
    std::string line;
    for (;;) {
        auto more = in.next(line);
        if (!more) {
            c->send(error_line("null", -32600, more.error().message + "; the connection is closed", "invalid"));
            break;
        }
        if (!*more) break;
        if (line.empty()) continue;
        handle(c, std::move(line));
        line.clear();
    }
    // The peer went away (or the server stops): let its calls finish before the descriptor goes.
    std::unique_lock<std::mutex> lock(c->m);
    c->idle.wait(lock, [&] { return c->in_flight == 0; });
    ::shutdown(c->fd, SHUT_RDWR);
    c->finished = true;
}

void api_server::handle(const std::shared_ptr<connection>& c, std::string line) {
    auto doc = core::json::parse(line);
    if (!doc) return c->send(error_line("null", -32700, "the message is not JSON: send one JSON-RPC 2.0 object per line", "invalid"));
    if (!doc->IsObject()) {
        return c->send(error_line("null", -32600, "send one JSON-RPC 2.0 object per line (batches are not supported)", "invalid"));
    }
    auto id = doc->FindMember("id");
    bool has_id = id != doc->MemberEnd() && (id->value.IsString() || id->value.IsInt64() || id->value.IsUint64());
    std::string id_json = has_id ? core::json::to_string(id->value) : "null";
    auto method = doc->FindMember("method");
    if (method == doc->MemberEnd() || !method->value.IsString() || core::json::str(*doc, "jsonrpc") != "2.0") {
        if (!has_id) return;  // an answer or noise: nothing to reply to
        return c->send(error_line(id_json, -32600, "a request needs \"jsonrpc\":\"2.0\", a string \"method\" and an id", "invalid"));
    }
    if (!has_id) return;  // notifications from clients carry nothing the daemon acts on
    std::string m = method->value.GetString();
    auto params = doc->FindMember("params");
    if (params != doc->MemberEnd() && !params->value.IsObject() && !params->value.IsNull()) {
        return c->send(error_line(id_json, -32602, "\"params\" must be an object", "invalid"));
    }
    rapidjson::Value empty(rapidjson::kObjectType);
    rapidjson::Value& p = (params == doc->MemberEnd() || params->value.IsNull()) ? empty : params->value;
    // Progress tokens are routed back to this connection: prefix them with its id.
    auto prog = p.FindMember("_progress");
    if (prog != p.MemberEnd() && prog->value.IsString()) {
        std::string routed = "c" + std::to_string(c->id) + ":" + prog->value.GetString();
        prog->value.SetString(routed.c_str(), static_cast<rapidjson::SizeType>(routed.size()), doc->GetAllocator());
    }
    std::string params_json = core::json::to_string(p);
    if (m == "session.open" || m == "events.subscribe") return c->send(dispatch(c, m, params_json, id_json));
    {
        std::lock_guard<std::mutex> lock(c->m);
        if (!c->who) {
            return c->send(error_line(id_json, -32002, "open a session first: call session.open with your token", "denied"));
        }
        if (c->in_flight >= max_in_flight) {
            return c->send(error_line(id_json, -32000,
                                      "too many calls in flight on this connection (" + std::to_string(max_in_flight) +
                                          "); wait for their answers and retry",
                                      "retry"));
        }
        ++c->in_flight;
    }
    std::thread([this, c, m = std::move(m), params_json = std::move(params_json), id_json]() mutable {
        c->send(dispatch(c, m, std::move(params_json), id_json));
        std::lock_guard<std::mutex> lock(c->m);
        --c->in_flight;
        c->idle.notify_all();
    }).detach();
}

std::string api_server::dispatch(const std::shared_ptr<connection>& c, const std::string& method, std::string params,
                                 const std::string& id_json) {
    auto doc = core::json::parse(params);
    if (method == "session.open") {
        session_request want;
        want.token = core::json::str(*doc, "token");
        want.project = core::json::str(*doc, "project");
        want.admin = core::json::boolean(*doc, "admin");
        auto who = authenticate_(want, c->peer);
        // The token is not needed past this point.
        std::fill(want.token.begin(), want.token.end(), '\0');
        std::fill(params.begin(), params.end(), '\0');
        if (!who) {
            log::warn("api", "refused a session for uid " + std::to_string(c->peer.uid) + " pid " +
                                 std::to_string(c->peer.pid) + ": " + who.error().message);
            return error_line(id_json, -32001, who.error().message, core::errc_name(who.error().code));
        }
        who->origin = "api";
        who->peer_uid = c->peer.uid;
        who->peer_pid = c->peer.pid;
        std::lock_guard<std::mutex> lock(c->m);
        c->who = *who;
        log::info("api", "session for " + who->actor() + " (uid " + std::to_string(c->peer.uid) + ", pid " +
                             std::to_string(c->peer.pid) + ")");
        return result_line(id_json, core::json::object()
                                        .set("project", who->project)
                                        .set("role", who->role_name())
                                        .set("uid", c->peer.uid)
                                        .set("pid", c->peer.pid)
                                        .str());
    }
    if (method == "events.subscribe") {
        std::lock_guard<std::mutex> lock(c->m);
        if (!c->who) return error_line(id_json, -32002, "open a session first: call session.open with your token", "denied");
        c->subscribed = true;
        return result_line(id_json, R"({"subscribed":["tunnel.status"]})");
    }
    core::session who;
    {
        std::lock_guard<std::mutex> lock(c->m);
        who = *c->who;
    }
    // The table takes the one-writer lock for the calls it marks `writes`.
    core::result<std::string> r = ops_.call(method, params, who);
    if (!r) return error_line(id_json, -32000, r.error().message, core::errc_name(r.error().code));
    return result_line(id_json, r->empty() ? "null" : *r);
}

void api_server::publish(const std::string& method, const std::string& params_json) {
    std::string line = notification(method, params_json);
    std::list<std::shared_ptr<connection>> to;
    {
        std::lock_guard<std::mutex> lock(m_);
        for (auto& c : conns_) {
            std::lock_guard<std::mutex> cl(c->m);
            if (c->subscribed && !c->finished) to.push_back(c);
        }
    }
    for (auto& c : to) c->send_now(line);
}

void api_server::progress(const std::string& routed_token, const std::string& step, int done, int total) {
    if (routed_token.size() < 3 || routed_token[0] != 'c') return;
    auto colon = routed_token.find(':');
    if (colon == std::string::npos) return;
    uint64_t id = std::strtoull(routed_token.c_str() + 1, nullptr, 10);
    std::shared_ptr<connection> to;
    {
        std::lock_guard<std::mutex> lock(m_);
        for (auto& c : conns_) {
            if (c->id == id) to = c;
        }
    }
    if (!to) return;
    core::json::object p;
    p.set("token", routed_token.substr(colon + 1)).set("step", step).set("done", done).set("total", total);
    to->send_now(notification("call.progress", p.str()));
}

size_t api_server::connections() const {
    std::lock_guard<std::mutex> lock(m_);
    size_t n = 0;
    for (const auto& c : conns_) n += c->finished ? 0 : 1;
    return n;
}

void api_server::stop() {
    if (!listener_) return;
    stopping_ = true;
    if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
    if (acceptor_.joinable()) acceptor_.join();
    std::list<std::shared_ptr<connection>> all;
    {
        std::lock_guard<std::mutex> lock(m_);
        all.swap(conns_);
    }
    for (auto& c : all) ::shutdown(c->fd, SHUT_RDWR);
    for (auto& c : all) {
        if (c->reader.joinable()) c->reader.join();
        ::close(c->fd);
    }
    listener_.reset();
    for (int& fd : wake_) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    log::info("api", "stopped serving the API");
}

}  // namespace tunnelmgr::service
