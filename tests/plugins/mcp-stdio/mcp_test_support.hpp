// A harness around mcp_server for the tests and the fuzzer: a scriptable fake host and the server's
// output captured as parsed messages, with waits that end on an event (never a measured time).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "mcp_server.hpp"

namespace tunnelmgr::plugins::mcp_stdio::testing {

inline std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return buf.GetString();
}

// Holds host calls until the test lets them go.
class gate {
public:
    void open() {
        std::lock_guard<std::mutex> lock(m_);
        open_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [this] { return open_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
};

struct host_call_record {
    std::string op;
    std::string args;
};

class harness {
public:
    using host_fn = std::function<host_reply(const std::string& op, const std::string& args)>;

    explicit harness(unsigned workers = 2, std::size_t max_line_bytes = 1048576) {
        server_options options;
        options.workers = workers;
        options.max_line_bytes = max_line_bytes;
        options.server_version = "9.9.9";
        server_ = std::make_unique<mcp_server>(
            options,
            [this](std::string_view op, std::string_view args) {
                host_fn fn;
                {
                    std::lock_guard<std::mutex> lock(m_);
                    calls_.push_back({std::string(op), std::string(args)});
                    ++started_;
                    cv_.notify_all();
                    fn = host_;
                }
                host_reply r = fn ? fn(std::string(op), std::string(args)) : default_reply(std::string(op));
                std::lock_guard<std::mutex> lock(m_);
                ++returned_;
                cv_.notify_all();
                return r;
            },
            [this](std::string_view message) {
                std::lock_guard<std::mutex> lock(m_);
                raw_.emplace_back(message);
                cv_.notify_all();
            },
            [](log_level, std::string_view) {});
    }

    ~harness() { server_->finish(); }

    static host_reply default_reply(const std::string& op) {
        if (op == "status.get") {
            return {host_status::ok,
                    R"({"tunnel":{"status":"up","ready_connections":4,"restart_count":0,"uptime_s":12,"last_error":null,"checked_ms":1},"supervisor":null,"cnames":1})"};
        }
        if (op == "cname.list") return {host_status::ok, R"([{"hostname":"a.example.com","project":"p","port":3100}])"};
        if (op == "domains.list" || op == "domains.refresh") {
            return {host_status::ok, R"([{"zone_id":"z1","name":"example.com","status":"active"}])"};
        }
        if (op == "audit.query") return {host_status::ok, R"([{"ts":1,"actor":"p","action":"cname.request"}])"};
        if (op == "health.history") return {host_status::ok, R"([{"ts":1,"status":"up"},{"ts":0,"status":"down"}])"};
        if (op == "cname.request") {
            return {host_status::ok,
                    R"({"hostname":"app.example.com","url":"https://app.example.com","ingress_target":"http://app:3100","target_type":"container_network","container_name":"app","docker_network":"net","reason":"shared network","project":"p","port":3100,"dns_record_id":"r1","apply":"local","operation_id":7})"};
        }
        if (op == "cname.delete") return {host_status::ok, R"({"hostname":"app.example.com","deleted":true,"apply":"local"})"};
        if (op == "target.check") return {host_status::ok, R"({"hostname":"app.example.com","available":true,"reason":"ok"})"};
        if (op == "tunnel.restart") return {host_status::ok, R"({"restarted":true,"detail":"issued"})"};
        if (op == "reconcile.run") {
            return {host_status::ok, R"({"drift":false,"policy":"report","dry_run":true,"findings":[],"problems":[],"notes":[]})"};
        }
        return {host_status::invalid, R"({"error":"unknown op","code":"invalid"})"};
    }

    void set_host(host_fn fn) {
        std::lock_guard<std::mutex> lock(m_);
        host_ = std::move(fn);
    }

    mcp_server& server() { return *server_; }
    void send(std::string_view line) { server_->handle_line(line); }

    void initialize(std::string_view version = "2025-11-25") {
        send(R"({"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":")" +
             std::string(version) + R"(","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
        send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
        clear();
    }

    // Every message written so far, parsed.
    std::vector<std::shared_ptr<rapidjson::Document>> messages() {
        std::lock_guard<std::mutex> lock(m_);
        std::vector<std::shared_ptr<rapidjson::Document>> out;
        for (const auto& r : raw_) {
            auto d = std::make_shared<rapidjson::Document>();
            d->Parse(r.c_str());
            out.push_back(d);
        }
        return out;
    }
    std::vector<std::string> raw() {
        std::lock_guard<std::mutex> lock(m_);
        return raw_;
    }
    void clear() {
        std::lock_guard<std::mutex> lock(m_);
        raw_.clear();
    }

    // The response to request `id_json` (e.g. "1" or "\"a\""); waits for it (the deadline only guards
    // against a hang; it is not what the test measures). nullptr when none came.
    std::shared_ptr<rapidjson::Document> response(const std::string& id_json, int seconds = 20) {
        std::unique_lock<std::mutex> lock(m_);
        std::shared_ptr<rapidjson::Document> found;
        cv_.wait_for(lock, std::chrono::seconds(seconds), [&] {
            for (const auto& r : raw_) {
                auto d = std::make_shared<rapidjson::Document>();
                d->Parse(r.c_str());
                if (!d->HasParseError() && d->IsObject() && d->HasMember("id") && to_json((*d)["id"]) == id_json &&
                    !d->HasMember("method")) {
                    found = d;
                    return true;
                }
            }
            return false;
        });
        return found;
    }

    // Notifications with this method, in order.
    std::vector<std::shared_ptr<rapidjson::Document>> notifications(std::string_view method) {
        std::vector<std::shared_ptr<rapidjson::Document>> out;
        for (auto& d : messages()) {
            if (d->IsObject() && d->HasMember("method") && (*d)["method"].IsString() &&
                std::string_view((*d)["method"].GetString()) == method) {
                out.push_back(d);
            }
        }
        return out;
    }

    void wait_started(int n) {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait_for(lock, std::chrono::seconds(20), [&] { return started_ >= n; });
    }
    void wait_returned(int n) {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait_for(lock, std::chrono::seconds(20), [&] { return returned_ >= n; });
    }
    int started() {
        std::lock_guard<std::mutex> lock(m_);
        return started_;
    }
    int returned() {
        std::lock_guard<std::mutex> lock(m_);
        return returned_;
    }
    std::vector<host_call_record> calls() {
        std::lock_guard<std::mutex> lock(m_);
        return calls_;
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::vector<std::string> raw_;
    std::vector<host_call_record> calls_;
    host_fn host_;
    int started_ = 0;
    int returned_ = 0;
    std::unique_ptr<mcp_server> server_;
};

}  // namespace tunnelmgr::plugins::mcp_stdio::testing
