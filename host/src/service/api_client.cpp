// See api_client.hpp.
#include "service/api_client.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include "core/json.hpp"

namespace tunnelmgr::service {
namespace {

core::errc errc_named(const std::string& kind) {
    for (auto c : {core::errc::not_found, core::errc::conflict, core::errc::retry, core::errc::timeout,
                   core::errc::denied, core::errc::invalid}) {
        if (kind == core::errc_name(c)) return c;
    }
    return core::errc::error;
}

}  // namespace

core::result<std::unique_ptr<api_client>> api_client::connect(const std::string& path) {
    auto fd = sys::connect_unix(path);
    if (!fd) return tl::unexpected(fd.error());
    return std::unique_ptr<api_client>(new api_client(*fd, path));
}

api_client::api_client(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
    reader_ = std::thread([this] { read_loop(); });
}

api_client::~api_client() {
    ::shutdown(fd_, SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    ::close(fd_);
}

void api_client::on_event(event_fn fn) {
    std::lock_guard<std::mutex> lock(m_);
    on_event_ = std::move(fn);
}

void api_client::on_closed(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(m_);
    on_closed_ = std::move(fn);
}

void api_client::read_loop() {
    sys::line_reader in(fd_, 64U << 20);
    std::string line;
    for (;;) {
        auto more = in.next(line);
        if (!more || !*more) break;
        auto doc = core::json::parse(line);
        if (!doc || !doc->IsObject()) continue;
        auto id = doc->FindMember("id");
        if (id == doc->MemberEnd() || id->value.IsNull()) {
            auto method = doc->FindMember("method");
            if (method == doc->MemberEnd() || !method->value.IsString()) continue;
            auto params = doc->FindMember("params");
            std::string p = params != doc->MemberEnd() ? core::json::to_string(params->value) : "{}";
            event_fn fn;
            {
                std::lock_guard<std::mutex> lock(m_);
                fn = on_event_;
            }
            if (fn) fn(method->value.GetString(), p);
            continue;
        }
        if (!id->value.IsInt64()) continue;
        core::result<std::string> answer = core::fail(core::errc::error, "the daemon's answer had neither result nor error");
        if (auto r = doc->FindMember("result"); r != doc->MemberEnd()) {
            answer = core::json::to_string(r->value);
        } else if (auto e = doc->FindMember("error"); e != doc->MemberEnd() && e->value.IsObject()) {
            std::string kind;
            if (auto d = e->value.FindMember("data"); d != e->value.MemberEnd() && d->value.IsObject()) {
                kind = core::json::str(d->value, "kind");
            }
            answer = core::fail(errc_named(kind), core::json::str(e->value, "message", "the daemon refused the call"));
        }
        std::lock_guard<std::mutex> lock(m_);
        auto it = pending_.find(id->value.GetInt64());
        if (it == pending_.end()) continue;
        it->second.answer = std::move(answer);
        it->second.done = true;
        cv_.notify_all();
    }
    std::function<void()> closed_fn;
    {
        std::lock_guard<std::mutex> lock(m_);
        closed_ = true;
        cv_.notify_all();
        closed_fn = on_closed_;
    }
    if (closed_fn) closed_fn();
}

core::result<std::string> api_client::request(const std::string& method, const std::string& params_json) {
    int64_t id = 0;
    {
        std::lock_guard<std::mutex> lock(m_);
        if (closed_) {
            return core::fail(core::errc::error, "the tunnelmgr daemon closed the connection on " + path_ +
                                                     " (it stopped or restarted); start the session again");
        }
        id = next_id_++;
        pending_[id];
    }
    std::string line = R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":)" +
                       core::json::to_string(rapidjson::Value(rapidjson::StringRef(method.c_str()))) +
                       R"(,"params":)" + (params_json.empty() ? std::string("{}") : params_json) + "}\n";
    core::result<void> sent;
    {
        std::lock_guard<std::mutex> lock(write_m_);
        sent = sys::send_all(fd_, line);
    }
    std::fill(line.begin(), line.end(), '\0');
    std::unique_lock<std::mutex> lock(m_);
    if (!sent) {
        pending_.erase(id);
        return core::fail(core::errc::error, "the tunnelmgr daemon closed the connection on " + path_ +
                                                 " (it stopped or restarted; " + sent.error().message +
                                                 "); start the session again");
    }
    cv_.wait(lock, [&] { return pending_[id].done || closed_; });
    auto p = std::move(pending_[id]);
    pending_.erase(id);
    if (!p.done) {
        return core::fail(core::errc::error, "the tunnelmgr daemon closed the connection on " + path_ +
                                                 " before answering (it stopped or restarted); the call may or may not "
                                                 "have taken effect: list to see, then retry");
    }
    return std::move(p.answer);
}

core::result<std::string> api_client::open_session(session_request& want) {
    core::json::object p;
    if (!want.token.empty()) p.set("token", want.token);
    if (!want.project.empty()) p.set("project", want.project);
    if (want.admin) p.set("admin", true);
    std::string params = p.str();
    std::fill(want.token.begin(), want.token.end(), '\0');
    want.token.clear();
    auto r = request("session.open", params);
    std::fill(params.begin(), params.end(), '\0');
    return r;
}

core::result<std::string> api_client::call(const std::string& op, const std::string& params_json) {
    return request(op, params_json);
}

}  // namespace tunnelmgr::service
