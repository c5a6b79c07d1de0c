// The built systemd-supervisor.so through the C ABI only, as the host sees it: one exported symbol,
// config refused with a sentence, and status/restart against a scripted systemctl (a real process
// that records its argv), including the rc each failure maps to.
#include <dlfcn.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <tunnelmgr/plugin_api.h>

#include "process/run_process.hpp"

namespace {

namespace fs = std::filesystem;

void log_line(void*, tm_log_level, const char*, const char*) {}

// What the plugin emitted, for the watch test.
std::mutex g_events_mutex;
std::condition_variable g_events_cv;
std::vector<std::pair<std::string, std::string>> g_events;
tm_rc emit_event(void*, const char* type, const char* json) {
    std::lock_guard<std::mutex> lock(g_events_mutex);
    g_events.emplace_back(type, json);
    g_events_cv.notify_all();
    return TM_OK;
}
tm_rc call(void*, const char*, const char*, const tm_session_t*, tm_buffer*) { return TM_ERROR; }
void buffer_release(void*, tm_buffer*) {}

const std::string k_plugin = std::string(TM_TEST_PLUGIN_DIR) + "/systemd-supervisor.so";

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::trunc);
    out << text;
}

class SystemdSupervisorPlugin : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/tm-sdsup-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        // A stand-in systemctl: records each argv (one argument per line, then "--end--") and answers
        // from files the test writes.
        fake_ = dir_ / "fake-systemctl";
        write_file(fake_, "#!/bin/sh\n"
                          "d='" + dir_.string() + "'\n"
                          "printf '%s\\n' \"$@\" --end-- >> \"$d/calls\"\n"
                          "[ -f \"$d/sleep\" ] && sleep \"$(cat \"$d/sleep\")\"\n"
                          "[ -f \"$d/$1.out\" ] && cat \"$d/$1.out\"\n"
                          "[ -f \"$d/$1.err\" ] && cat \"$d/$1.err\" >&2\n"
                          "exit \"$(cat \"$d/$1.rc\" 2>/dev/null || echo 0)\"\n");
        ::chmod(fake_.c_str(), 0755);

        lib_ = ::dlopen(k_plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(lib_, nullptr) << ::dlerror();
        auto entry = reinterpret_cast<tm_plugin_entry_fn>(::dlsym(lib_, TM_PLUGIN_ENTRY_SYMBOL));
        ASSERT_NE(entry, nullptr);
        api_ = entry();
        ASSERT_NE(api_, nullptr);
        host_.struct_size = sizeof(tm_host_api);
        host_.api_version = TM_PLUGIN_API_VERSION_STRING;
        host_.log = log_line;
        host_.emit_event = emit_event;
        host_.call = call;
        host_.buffer_release = buffer_release;
    }

    void TearDown() override {
        if (instance_ != nullptr) api_->destroy(instance_);
        if (lib_ != nullptr) ::dlclose(lib_);
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    tm_plugin_t* init(const std::string& extra = "") {
        std::string config = R"({"plugin":"systemd-supervisor","unit":"cloudflared.service","systemctl":")" +
                             fake_.string() + R"(","command_prefix":["env","TM_VIA_PREFIX=1"])" + extra + "}";
        tm_rc rc = TM_ERROR;
        instance_ = api_->init(&host_, config.c_str(), &rc);
        EXPECT_EQ(rc, TM_OK) << api_->last_error(nullptr);
        return instance_;
    }

    fs::path dir_;
    fs::path fake_;
    void* lib_ = nullptr;
    const tm_plugin_api* api_ = nullptr;
    tm_plugin_t* instance_ = nullptr;
    tm_host_api host_{};
};

TEST_F(SystemdSupervisorPlugin, ExportsOnlyTheEntrySymbol) {
    auto nm = tunnelmgr::testing::run_process({"/usr/bin/nm", "-D", "--defined-only", k_plugin});
    ASSERT_EQ(nm.exit_code, 0) << nm.err;
    std::istringstream lines(nm.out);
    std::string line;
    std::vector<std::string> exported;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string addr, type, name;
        fields >> addr >> type >> name;
        if (type == "T" || type == "D" || type == "B" || type == "R") exported.push_back(name);
    }
    EXPECT_EQ(exported, (std::vector<std::string>{"tm_plugin_entry"}));
}

TEST_F(SystemdSupervisorPlugin, DescribesItselfAndProvidesOnlyTheSupervisorTable) {
    EXPECT_STREQ(api_->name(), "systemd-supervisor");
    EXPECT_STREQ(api_->required_api_version(), TM_PLUGIN_API_VERSION_STRING);
    rapidjson::Document schema;
    schema.Parse(api_->config_schema());
    ASSERT_FALSE(schema.HasParseError());
    EXPECT_TRUE(schema["properties"].HasMember("command_prefix"));
    ASSERT_NE(api_->tunnel_supervisor_v1, nullptr);
    EXPECT_NE(api_->tunnel_supervisor_v1->watch_start, nullptr);  // follows the main PID (pidfd)
    EXPECT_EQ(api_->state_store_v1, nullptr);
    EXPECT_EQ(api_->transport_v1, nullptr);
}

TEST_F(SystemdSupervisorPlugin, BadConfigIsRefusedWithASentence) {
    tm_rc rc = TM_OK;
    EXPECT_EQ(api_->init(&host_, R"({"command_prefix":"sudo -n"})", &rc), nullptr);
    EXPECT_NE(rc, TM_OK);
    EXPECT_NE(std::string(api_->last_error(nullptr)).find("supervisor.command_prefix must be a list"),
              std::string::npos)
        << api_->last_error(nullptr);
}

TEST_F(SystemdSupervisorPlugin, StatusRunsShowThroughThePrefixAndReturnsJson) {
    write_file(dir_ / "show.out", "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=777\n"
                                  "ActiveEnterTimestampMonotonic=1\nActiveEnterTimestamp=@1700000000\nNRestarts=1\n");
    ASSERT_NE(init(), nullptr);
    const char* out = nullptr;
    ASSERT_EQ(api_->tunnel_supervisor_v1->status(instance_, &out), TM_OK) << api_->last_error(instance_);
    rapidjson::Document doc;
    doc.Parse(out);
    ASSERT_TRUE(doc.IsObject()) << out;
    EXPECT_TRUE(doc["running"].GetBool());
    EXPECT_EQ(doc["pid"].GetInt64(), 777);
    EXPECT_STREQ(doc["state"].GetString(), "active/running");
    EXPECT_EQ(doc["since_ms"].GetInt64(), 1700000000000);
    EXPECT_EQ(read_file(dir_ / "calls"), "show\n--no-pager\n-p\nLoadState,ActiveState,SubState,MainPID,"
                                         "ActiveEnterTimestampMonotonic,ActiveEnterTimestamp,NRestarts,Result\n"
                                         "--\ncloudflared.service\n--end--\n");
}

TEST_F(SystemdSupervisorPlugin, RestartIsQueuedWithoutBlockingOrPrompting) {
    ASSERT_NE(init(), nullptr);
    ASSERT_EQ(api_->tunnel_supervisor_v1->restart(instance_), TM_OK) << api_->last_error(instance_);
    EXPECT_EQ(read_file(dir_ / "calls"), "reset-failed\n--no-ask-password\n--\ncloudflared.service\n--end--\n"
                                         "restart\n--no-block\n--no-ask-password\n--\ncloudflared.service\n--end--\n");
}

TEST_F(SystemdSupervisorPlugin, FailuresMapToRcAndLastError) {
    ASSERT_NE(init(R"(,"timeout_ms":300)"), nullptr);
    auto* sup = api_->tunnel_supervisor_v1;

    write_file(dir_ / "show.out", "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n");
    const char* out = nullptr;
    EXPECT_EQ(sup->status(instance_, &out), TM_NOT_FOUND);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("has no unit cloudflared.service"), std::string::npos);

    write_file(dir_ / "restart.err", "Failed to restart cloudflared.service: Access denied\n");
    write_file(dir_ / "restart.rc", "1");
    EXPECT_EQ(sup->restart(instance_), TM_DENIED);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("command_prefix"), std::string::npos);

    write_file(dir_ / "restart.err", "Failed to restart cloudflared.service: Unit cloudflared.service not found.\n");
    write_file(dir_ / "restart.rc", "5");
    EXPECT_EQ(sup->restart(instance_), TM_NOT_FOUND);

    write_file(dir_ / "sleep", "5");
    EXPECT_EQ(sup->restart(instance_), TM_TIMEOUT);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("300 ms"), std::string::npos)
        << api_->last_error(instance_);
}

TEST_F(SystemdSupervisorPlugin, WatchReportsTheMainProcessEndingAtOnce) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::pause();
        ::_exit(0);
    }
    write_file(dir_ / "show.out", "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=" +
                                      std::to_string(child) + "\nActiveEnterTimestampMonotonic=1\n");
    ASSERT_NE(init(), nullptr);  // the prefix is `env ...`: same PID namespace, so the watch is allowed
    {
        std::lock_guard<std::mutex> lock(g_events_mutex);
        g_events.clear();
    }
    ASSERT_EQ(api_->tunnel_supervisor_v1->watch_start(instance_), TM_OK) << api_->last_error(instance_);
    auto t0 = std::chrono::steady_clock::now();
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    std::unique_lock<std::mutex> lock(g_events_mutex);
    ASSERT_TRUE(g_events_cv.wait_for(lock, std::chrono::seconds(5), [] { return !g_events.empty(); }))
        << "no tunnel.died within 5 s";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
    EXPECT_EQ(g_events[0].first, "tunnel.died");
    rapidjson::Document d;
    d.Parse(g_events[0].second.c_str());
    ASSERT_TRUE(d.IsObject()) << g_events[0].second;
    EXPECT_EQ(d["pid"].GetInt64(), child);
    EXPECT_STREQ(d["unit"].GetString(), "cloudflared.service");
    lock.unlock();
    EXPECT_EQ(api_->tunnel_supervisor_v1->watch_stop(instance_), TM_OK);
}

TEST_F(SystemdSupervisorPlugin, WatchIsRefusedThroughAPrefixIntoAnotherNamespace) {
    std::string config = R"({"systemctl":")" + fake_.string() + R"(","command_prefix":["docker","exec","cf"]})";
    tm_rc rc = TM_ERROR;
    instance_ = api_->init(&host_, config.c_str(), &rc);
    ASSERT_NE(instance_, nullptr);
    EXPECT_EQ(api_->tunnel_supervisor_v1->watch_start(instance_), TM_INVALID);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("docker exec cf"), std::string::npos)
        << api_->last_error(instance_);
}

TEST_F(SystemdSupervisorPlugin, MissingSystemctlIsAnErrorNamingTheSetting) {
    std::string config = R"({"systemctl":"/nonexistent/systemctl"})";
    tm_rc rc = TM_ERROR;
    instance_ = api_->init(&host_, config.c_str(), &rc);
    ASSERT_NE(instance_, nullptr);
    const char* out = nullptr;
    EXPECT_EQ(api_->tunnel_supervisor_v1->status(instance_, &out), TM_ERROR);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("supervisor.systemctl"), std::string::npos)
        << api_->last_error(instance_);
}

}  // namespace
