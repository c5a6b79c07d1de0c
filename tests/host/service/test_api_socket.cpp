// The API socket end to end inside one process: a real unix socket, the real table of host calls over
// the real core and a real sqlite-state file, and the client the thin `mcp` and the CLI use. Who a
// connection is comes from its token (or, for root and the daemon's user, from the kernel's peer
// credentials) — never from what it asks for — and the audit names the peer's uid and pid.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "app/daemon_api.hpp"
#include "config/config.hpp"
#include "core/json.hpp"
#include "log_capture.hpp"
#include "plugin_host/registry.hpp"
#include "plugin_host/state_store_client.hpp"
#include "service/api_client.hpp"
#include "service/api_server.hpp"
#include "service/core_services.hpp"
#include "service/host_calls.hpp"
#include "sys/sha256.hpp"
#include "sys/unix_socket.hpp"

using namespace tunnelmgr;

namespace {

constexpr const char* k_alpha_token = "fake-token-for-tests-alpha-api-1f2e";

class api_socket_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("tm-api-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        log_ = std::make_unique<test_support::log_capture>();
        auto cfg = config::load_string("state: { plugin: sqlite-state, path: " + (dir_ / "state.db").string() + " }\n" +
                                           "tunnel: { id: \"\", metrics: \"127.0.0.1:1\", config_file: " +
                                           (dir_ / "config.yml").string() + " }\n" +
                                           "projects:\n  alpha: { ports: \"3100-3199\", token_sha256: " +
                                           sys::sha256_hex(k_alpha_token) + " }\n  beta: { ports: \"4100-4199\" }\n",
                                       "api.yml");
        ASSERT_TRUE(cfg) << cfg.error();
        cfg_ = std::make_shared<const config::config>(*cfg);
        plugins_ = std::make_unique<host::registry>(services_);
        auto started = plugins_->start_slot("state", *cfg_->find_slot("state"), {TM_TEST_PLUGIN_DIR});
        ASSERT_TRUE(started) << started.error();
        state_ = std::make_unique<host::state_store_client>(*plugins_->find("state"));
        auto core = service::build_core(*cfg_, *plugins_, *state_);
        ASSERT_TRUE(core) << core.error().message;
        core_ = std::move(*core);
        calls_ = std::make_unique<service::host_calls>(*core_, *state_, [this](const std::string& t, const std::string& step,
                                                                               int done, int total) {
            server_->progress(t, step, done, total);
        });
        server_ = std::make_unique<service::api_server>(
            *calls_, [this](const service::session_request& want, const sys::peer_credentials& peer) {
                return app::daemon_api::authenticate(*cfg_, want, peer, static_cast<int64_t>(::geteuid()));
            });
        socket_ = (dir_ / "api.sock").string();
        auto serving = server_->start(socket_, "");
        ASSERT_TRUE(serving) << serving.error().message;
    }
    void TearDown() override {
        server_.reset();
        calls_.reset();
        core_.reset();
        state_.reset();
        plugins_.reset();
        log_.reset();
        std::filesystem::remove_all(dir_);
    }

    std::unique_ptr<service::api_client> client() {
        auto c = service::api_client::connect(socket_);
        EXPECT_TRUE(c) << c.error().message;
        return c ? std::move(*c) : nullptr;
    }
    // One raw request line and its answer line, on a fresh connection unless `fd` is given.
    std::string raw(int fd, const std::string& line) {
        EXPECT_TRUE(sys::send_all(fd, line + "\n"));
        sys::line_reader in(fd, 1 << 20);
        std::string answer;
        auto got = in.next(answer);
        EXPECT_TRUE(got && *got);
        return answer;
    }

    std::filesystem::path dir_;
    std::unique_ptr<test_support::log_capture> log_;
    std::shared_ptr<const config::config> cfg_;
    host::host_services services_;
    std::unique_ptr<host::registry> plugins_;
    std::unique_ptr<host::state_store_client> state_;
    std::unique_ptr<service::core_services> core_;
    std::unique_ptr<service::host_calls> calls_;
    std::unique_ptr<service::api_server> server_;
    std::string socket_;
};

TEST_F(api_socket_test, the_socket_is_only_for_its_owner_and_group) {
    struct stat st {};
    ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(api_socket_test, a_project_token_opens_that_projects_session_and_the_audit_names_the_peer) {
    auto c = client();
    ASSERT_TRUE(c);
    service::session_request want{k_alpha_token, "alpha", false};
    auto opened = c->open_session(want);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_TRUE(want.token.empty()) << "the client forgets the token once sent";
    auto s = core::json::parse(*opened);
    EXPECT_EQ(core::json::str(*s, "project"), "alpha");
    EXPECT_EQ(core::json::str(*s, "role"), "project");
    EXPECT_EQ(core::json::i64(*s, "pid"), ::getpid());

    auto info = c->call("session.info", "{}");
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_NE(info->find("\"alpha\""), std::string::npos);
    // Acting for another project is refused — and the refusal's audit row carries the kernel's view of the peer.
    auto other = c->call("cname.list", R"({"projectName":"beta"})");
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().code, core::errc::denied);
    auto rows = state_->audit_query(R"({"action":"cname.list","limit":10})");
    ASSERT_TRUE(rows);
    auto d = core::json::parse(*rows);
    ASSERT_TRUE(d && d->IsArray() && d->Size() == 1) << *rows;
    const auto& details = (*d)[0]["details"];
    ASSERT_TRUE(details.IsObject()) << *rows;
    EXPECT_EQ(core::json::str(details, "origin"), "api");
    EXPECT_EQ(core::json::i64(details, "peer_uid", -2), static_cast<int64_t>(::getuid()));
    EXPECT_EQ(core::json::i64(details, "peer_pid", -2), static_cast<int64_t>(::getpid()));
}

TEST_F(api_socket_test, a_wrong_or_missing_token_for_a_project_is_refused_with_a_sentence) {
    auto c = client();
    ASSERT_TRUE(c);
    service::session_request wrong{"fake-token-for-tests-wrong", "alpha", false};
    auto r = c->open_session(wrong);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::errc::denied);
    EXPECT_EQ(r.error().message, "the token is not project 'alpha''s token");
    service::session_request no_hash{"fake-token-for-tests-beta", "beta", false};
    r = c->open_session(no_hash);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no token_sha256"), std::string::npos) << r.error().message;
    // Nothing but session.open works before a session is open.
    auto call = c->call("cname.list", "{}");
    ASSERT_FALSE(call);
    EXPECT_NE(call.error().message.find("open a session first"), std::string::npos);
}

TEST_F(api_socket_test, without_a_token_only_root_or_the_daemons_user_is_the_admin) {
    config::config cfg = *cfg_;
    service::session_request none;
    auto root = app::daemon_api::authenticate(cfg, none, {0, 0, 1}, 998);
    ASSERT_TRUE(root);
    EXPECT_TRUE(root->is_admin());
    auto same = app::daemon_api::authenticate(cfg, none, {998, 998, 1}, 998);
    ASSERT_TRUE(same);
    EXPECT_TRUE(same->is_admin());
    auto stranger = app::daemon_api::authenticate(cfg, none, {1234, 1234, 1}, 998);
    ASSERT_FALSE(stranger);
    EXPECT_EQ(stranger.error().code, core::errc::denied);
    EXPECT_NE(stranger.error().message.find("TUNNELMGR_TOKEN"), std::string::npos);
    // Asking for a project without its token does not make a stranger that project.
    service::session_request as_alpha{"", "alpha", false};
    EXPECT_FALSE(app::daemon_api::authenticate(cfg, as_alpha, {1234, 1234, 1}, 998));
    service::session_request both{k_alpha_token, "alpha", true};
    EXPECT_FALSE(app::daemon_api::authenticate(cfg, both, {0, 0, 1}, 998));
}

TEST_F(api_socket_test, bad_lines_get_json_rpc_errors_and_the_connection_stays_usable) {
    auto fd = sys::connect_unix(socket_);
    ASSERT_TRUE(fd);
    auto a = core::json::parse(raw(*fd, "this is not json"));
    ASSERT_TRUE(a);
    EXPECT_EQ((*a)["error"]["code"].GetInt(), -32700);
    a = core::json::parse(raw(*fd, R"([{"jsonrpc":"2.0","id":1,"method":"session.info"}])"));
    EXPECT_EQ((*a)["error"]["code"].GetInt(), -32600);
    a = core::json::parse(raw(*fd, R"({"jsonrpc":"2.0","id":2,"method":"cname.list","params":[1]})"));
    EXPECT_EQ((*a)["error"]["code"].GetInt(), -32602);
    a = core::json::parse(raw(*fd, R"({"jsonrpc":"2.0","id":"x","method":"session.open","params":{}})"));
    ASSERT_TRUE(a->HasMember("result")) << core::json::to_string(*a);  // root, no token: the admin
    EXPECT_STREQ((*a)["id"].GetString(), "x");
    a = core::json::parse(raw(*fd, R"({"jsonrpc":"2.0","id":3,"method":"no.such.op","params":{}})"));
    EXPECT_EQ((*a)["error"]["code"].GetInt(), -32000);
    EXPECT_STREQ((*a)["error"]["data"]["kind"].GetString(), "invalid");
    ::close(*fd);
}

TEST_F(api_socket_test, concurrent_calls_on_one_connection_each_get_their_own_answer) {
    auto c = client();
    ASSERT_TRUE(c);
    service::session_request want{k_alpha_token, "alpha", false};
    ASSERT_TRUE(c->open_session(want));
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            auto r = c->call(i % 2 == 0 ? "session.info" : "cname.list", "{}");
            if (r && (i % 2 == 0 ? r->find("\"alpha\"") != std::string::npos : r->find("cnames") != std::string::npos)) ++ok;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 8);
}

TEST_F(api_socket_test, status_changes_reach_subscribed_sessions_only_and_progress_reaches_its_caller) {
    auto sub = client();
    auto quiet = client();
    ASSERT_TRUE(sub && quiet);
    service::session_request a{k_alpha_token, "alpha", false};
    ASSERT_TRUE(sub->open_session(a));
    service::session_request b{k_alpha_token, "alpha", false};
    ASSERT_TRUE(quiet->open_session(b));
    std::mutex m;
    std::vector<std::string> got_sub, got_quiet;
    sub->on_event([&](const std::string& method, const std::string& p) {
        std::lock_guard<std::mutex> lock(m);
        got_sub.push_back(method + " " + p);
    });
    quiet->on_event([&](const std::string& method, const std::string& p) {
        std::lock_guard<std::mutex> lock(m);
        got_quiet.push_back(method + " " + p);
    });
    ASSERT_TRUE(sub->call("events.subscribe", "{}"));
    server_->publish("tunnel.status", R"({"status":"down"})");
    // The progress token of connection 1 (the first accepted) comes back to it with its own token.
    server_->progress("c1:tok-7", "dns record created", 1, 4);
    ASSERT_TRUE(sub->call("session.info", "{}"));  // answers come after the notifications sent before them
    ASSERT_TRUE(quiet->call("session.info", "{}"));
    std::lock_guard<std::mutex> lock(m);
    ASSERT_EQ(got_sub.size(), 2u);
    EXPECT_EQ(got_sub[0], R"(tunnel.status {"status":"down"})");
    EXPECT_EQ(got_sub[1], R"(call.progress {"token":"tok-7","step":"dns record created","done":1,"total":4})");
    EXPECT_TRUE(got_quiet.empty());
}

TEST_F(api_socket_test, a_session_that_never_reads_its_events_is_closed_instead_of_stalling_the_daemon) {
    auto fd = sys::connect_unix(socket_);
    ASSERT_TRUE(fd);
    auto opened = core::json::parse(raw(*fd, R"({"jsonrpc":"2.0","id":1,"method":"session.open","params":{}})"));
    ASSERT_TRUE(opened && opened->HasMember("result"));
    ASSERT_TRUE(opened = core::json::parse(raw(*fd, R"({"jsonrpc":"2.0","id":2,"method":"events.subscribe","params":{}})")));
    // The client reads nothing more: its socket buffer fills, and the publisher (the health loop's
    // thread in the daemon) must not wait for it. If it did, this loop would hang and the test time out.
    std::string big = R"({"status":"down","pad":")" + std::string(64 * 1024, 'x') + "\"}";
    for (int i = 0; i < 200; ++i) server_->publish("tunnel.status", big);
    // Others are served as before.
    auto other = client();
    ASSERT_TRUE(other);
    service::session_request want{k_alpha_token, "alpha", false};
    EXPECT_TRUE(other->open_session(want));
    EXPECT_TRUE(other->call("session.info", "{}"));
    // The silent one was cut off: after what fit in its buffer, its stream ends.
    char buf[65536];
    ssize_t n = 0;
    size_t total = 0;
    while ((n = ::read(*fd, buf, sizeof(buf))) > 0) total += static_cast<size_t>(n);
    EXPECT_EQ(n, 0) << "the connection is closed";
    EXPECT_LT(total, 200u * 64 * 1024) << "not every event was delivered to a reader that never read";
    ::close(*fd);
}

TEST_F(api_socket_test, a_second_server_stands_by_a_stale_socket_is_replaced_and_stop_removes_the_file) {
    service::api_server second(*calls_, [](const service::session_request&, const sys::peer_credentials&) {
        return core::result<core::session>(core::session::admin_session("api"));
    });
    auto taken = second.start(socket_, "");
    ASSERT_FALSE(taken);
    EXPECT_EQ(taken.error().code, core::errc::conflict);
    server_->stop();
    EXPECT_FALSE(std::filesystem::exists(socket_));
    auto gone = service::api_client::connect(socket_);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code, core::errc::not_found);
    // A socket file left by a daemon that died: nobody answers, so the next one takes the path.
    {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, socket_.c_str());
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        ::close(fd);  // the file stays, with no listener
    }
    ASSERT_TRUE(std::filesystem::exists(socket_));
    auto now = second.start(socket_, "");
    ASSERT_TRUE(now) << now.error().message;
    EXPECT_TRUE(service::api_client::connect(socket_));
}

TEST_F(api_socket_test, a_client_whose_daemon_goes_away_gets_a_sentence_not_a_hang) {
    auto c = client();
    ASSERT_TRUE(c);
    service::session_request want{k_alpha_token, "alpha", false};
    ASSERT_TRUE(c->open_session(want));
    server_->stop();
    auto r = c->call("session.info", "{}");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("closed the connection"), std::string::npos) << r.error().message;
}

TEST(unix_socket, an_unknown_group_is_refused_with_the_fix) {
    auto l = sys::unix_listener::listen("/tmp/tm-api-group-" + std::to_string(::getpid()) + ".sock", 0660,
                                        "no-such-group-tm-test");
    ASSERT_FALSE(l);
    EXPECT_NE(l.error().message.find("groupadd"), std::string::npos) << l.error().message;
}

}  // namespace
