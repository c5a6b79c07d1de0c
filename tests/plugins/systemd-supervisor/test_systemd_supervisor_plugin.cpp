// The built systemd-supervisor.so through the C ABI only, as the host sees it: one exported symbol,
// config refused with a sentence, and status/restart against a scripted systemctl (a real process
// that records its argv), including the rc each failure maps to.
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
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
        // from files the test writes: COMMAND.UNIT.out/.err/.rc for one unit (the last argument),
        // else COMMAND.out/.err/.rc.
        fake_ = dir_ / "fake-systemctl";
        write_file(fake_, "#!/bin/sh\n"
                          "d='" + dir_.string() + "'\n"
                          "printf '%s\\n' \"$@\" --end-- >> \"$d/calls\"\n"
                          "for unit; do :; done\n"
                          "pick() { if [ -f \"$d/$1.$unit.$2\" ]; then echo \"$d/$1.$unit.$2\"; else echo \"$d/$1.$2\"; fi; }\n"
                          "[ -f \"$d/sleep\" ] && sleep \"$(cat \"$d/sleep\")\"\n"
                          "f=$(pick \"$1\" out); [ -f \"$f\" ] && cat \"$f\"\n"
                          "f=$(pick \"$1\" err); [ -f \"$f\" ] && cat \"$f\" >&2\n"
                          "f=$(pick \"$1\" rc); exit \"$(cat \"$f\" 2>/dev/null || echo 0)\"\n");
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

    tm_plugin_t* init(const std::string& extra = "", const std::string& units = R"("unit":"cloudflared.service")") {
        std::string config = R"({"plugin":"systemd-supervisor",)" + units + R"(,"systemctl":")" +
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

// --- replicas ------------------------------------------------------------------------------------

constexpr const char* k_two_units = R"("units":[{"unit":"cloudflared@1.service","metrics":"127.0.0.1:20241"},)"
                                    R"({"unit":"cloudflared@2.service","metrics":"127.0.0.1:20242"}])";

std::string show_running(long pid) {
    return "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=" + std::to_string(pid) +
           "\nActiveEnterTimestamp=@1700000000\n";
}

rapidjson::Document parsed(const char* json) {
    rapidjson::Document d;
    d.Parse(json != nullptr ? json : "null");
    return d;
}

TEST_F(SystemdSupervisorPlugin, OneUnitIsOneReplicaAndUnitsAreSeveral) {
    auto* sup = api_->tunnel_supervisor_v1;
    ASSERT_NE(sup->replica_count, nullptr);
    ASSERT_NE(sup->replica_status, nullptr);
    ASSERT_NE(sup->replica_restart, nullptr);
    ASSERT_NE(init(), nullptr);
    int32_t n = 0;
    ASSERT_EQ(sup->replica_count(instance_, &n), TM_OK);
    EXPECT_EQ(n, 1);
    api_->destroy(instance_);
    instance_ = nullptr;
    ASSERT_NE(init("", k_two_units), nullptr);
    ASSERT_EQ(sup->replica_count(instance_, &n), TM_OK);
    EXPECT_EQ(n, 2);
    rapidjson::Document schema;
    schema.Parse(api_->config_schema());
    EXPECT_TRUE(schema["properties"].HasMember("units"));
}

TEST_F(SystemdSupervisorPlugin, ReplicaStatusIsItsUnitsWithNameAndMetrics) {
    write_file(dir_ / "show.cloudflared@1.service.out", show_running(101));
    write_file(dir_ / "show.cloudflared@2.service.out", show_running(202));
    ASSERT_NE(init("", k_two_units), nullptr);
    auto* sup = api_->tunnel_supervisor_v1;
    const char* out = nullptr;
    ASSERT_EQ(sup->replica_status(instance_, 1, &out), TM_OK) << api_->last_error(instance_);
    auto d = parsed(out);
    ASSERT_TRUE(d.IsObject()) << out;
    EXPECT_TRUE(d["running"].GetBool());
    EXPECT_EQ(d["pid"].GetInt64(), 202);
    EXPECT_STREQ(d["name"].GetString(), "cloudflared@2.service");
    EXPECT_STREQ(d["metrics"].GetString(), "127.0.0.1:20242");
    EXPECT_EQ(read_file(dir_ / "calls").find("cloudflared@1.service"), std::string::npos) << "asked only its own unit";

    ASSERT_EQ(sup->replica_status(instance_, 0, &out), TM_OK);
    EXPECT_STREQ(parsed(out)["name"].GetString(), "cloudflared@1.service");

    // One unit: replica 0 is it, with no metrics address of its own.
    api_->destroy(instance_);
    instance_ = nullptr;
    write_file(dir_ / "show.out", show_running(303));
    ASSERT_NE(init(), nullptr);
    ASSERT_EQ(sup->replica_status(instance_, 0, &out), TM_OK);
    auto one = parsed(out);
    EXPECT_STREQ(one["name"].GetString(), "cloudflared.service");
    EXPECT_STREQ(one["metrics"].GetString(), "");
    EXPECT_EQ(one["pid"].GetInt64(), 303);
}

TEST_F(SystemdSupervisorPlugin, AReplicaOutOfRangeIsInvalid) {
    ASSERT_NE(init("", k_two_units), nullptr);
    auto* sup = api_->tunnel_supervisor_v1;
    const char* out = nullptr;
    for (int32_t bad : {2, -1, 1000}) {
        EXPECT_EQ(sup->replica_status(instance_, bad, &out), TM_INVALID) << bad;
        EXPECT_NE(std::string(api_->last_error(instance_)).find("replica " + std::to_string(bad)), std::string::npos)
            << api_->last_error(instance_);
        EXPECT_EQ(sup->replica_restart(instance_, bad), TM_INVALID) << bad;
    }
    EXPECT_FALSE(fs::exists(dir_ / "calls")) << "systemctl was run for a replica that does not exist";
}

TEST_F(SystemdSupervisorPlugin, ReplicaRestartRestartsThatUnitOnly) {
    ASSERT_NE(init("", k_two_units), nullptr);
    ASSERT_EQ(api_->tunnel_supervisor_v1->replica_restart(instance_, 1), TM_OK) << api_->last_error(instance_);
    EXPECT_EQ(read_file(dir_ / "calls"), "reset-failed\n--no-ask-password\n--\ncloudflared@2.service\n--end--\n"
                                         "restart\n--no-block\n--no-ask-password\n--\ncloudflared@2.service\n--end--\n");
}

TEST_F(SystemdSupervisorPlugin, WithUnitsStatusIsTheWholeAndRestartIsEveryUnit) {
    write_file(dir_ / "show.cloudflared@1.service.out",
               "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nResult=exit-code\n");
    write_file(dir_ / "show.cloudflared@2.service.out", show_running(202));
    ASSERT_NE(init("", k_two_units), nullptr);
    auto* sup = api_->tunnel_supervisor_v1;
    const char* out = nullptr;
    ASSERT_EQ(sup->status(instance_, &out), TM_OK) << api_->last_error(instance_);
    auto d = parsed(out);
    EXPECT_TRUE(d["running"].GetBool()) << out;
    EXPECT_EQ(d["pid"].GetInt64(), 202);
    EXPECT_EQ(d["replicas"].GetInt(), 2);
    EXPECT_EQ(d["replicas_running"].GetInt(), 1);
    EXPECT_FALSE(d.HasMember("name"));

    fs::remove(dir_ / "calls");
    write_file(dir_ / "restart.cloudflared@1.service.err", "Failed to restart cloudflared@1.service: Access denied\n");
    write_file(dir_ / "restart.cloudflared@1.service.rc", "1");
    EXPECT_EQ(sup->restart(instance_), TM_DENIED);
    EXPECT_NE(std::string(api_->last_error(instance_)).find("cloudflared@1.service"), std::string::npos);
    EXPECT_NE(read_file(dir_ / "calls").find("restart\n--no-block\n--no-ask-password\n--\ncloudflared@2.service\n"),
              std::string::npos)
        << "every unit is restarted, also after one failed";
}

// Children that wait to be killed, for MainPIDs the watch can follow; the ones the test did not
// end are killed (by their PID) when it ends, whatever happened.
struct waiting_children {
    std::vector<pid_t> pids;
    pid_t spawn() {
        pid_t child = ::fork();
        if (child == 0) {
            ::pause();
            ::_exit(0);
        }
        if (child > 0) pids.push_back(child);
        return child;
    }
    void end(pid_t pid) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pids.erase(std::remove(pids.begin(), pids.end(), pid), pids.end());
    }
    ~waiting_children() {
        for (pid_t p : pids) {
            ::kill(p, SIGKILL);
            ::waitpid(p, nullptr, 0);
        }
    }
};

bool wait_for_event(const std::string& type, size_t from, std::string* json) {
    std::unique_lock<std::mutex> lock(g_events_mutex);
    return g_events_cv.wait_for(lock, std::chrono::seconds(5), [&] {
        for (size_t i = from; i < g_events.size(); ++i) {
            if (g_events[i].first == type) {
                *json = g_events[i].second;
                return true;
            }
        }
        return false;
    });
}

size_t event_count() {
    std::lock_guard<std::mutex> lock(g_events_mutex);
    return g_events.size();
}

TEST_F(SystemdSupervisorPlugin, WatchFollowsEveryReplicasMainProcess) {
    waiting_children children;
    const pid_t one = children.spawn(), two = children.spawn();
    ASSERT_GT(one, 0);
    ASSERT_GT(two, 0);
    write_file(dir_ / "show.cloudflared@1.service.out", show_running(one));
    write_file(dir_ / "show.cloudflared@2.service.out", show_running(two));
    ASSERT_NE(init("", k_two_units), nullptr);
    auto* sup = api_->tunnel_supervisor_v1;
    ASSERT_EQ(sup->watch_start(instance_), TM_OK) << api_->last_error(instance_);
    const size_t from = event_count();

    // The second replica's process ends: reported at once, naming that replica.
    children.end(two);
    std::string died;
    ASSERT_TRUE(wait_for_event("tunnel.died", from, &died)) << "no tunnel.died within 5 s";
    auto d = parsed(died.c_str());
    EXPECT_STREQ(d["name"].GetString(), "cloudflared@2.service");
    EXPECT_STREQ(d["unit"].GetString(), "cloudflared@2.service");
    EXPECT_EQ(d["replica"].GetInt(), 1);
    EXPECT_EQ(d["pid"].GetInt64(), two);

    // systemd starts a new one; the next status of that replica names it: reported as started.
    const pid_t three = children.spawn();
    write_file(dir_ / "show.cloudflared@2.service.out", show_running(three));
    const size_t before_start = event_count();
    const char* out = nullptr;
    ASSERT_EQ(sup->replica_status(instance_, 1, &out), TM_OK);
    std::string started;
    ASSERT_TRUE(wait_for_event("tunnel.started", before_start, &started)) << "no tunnel.started within 5 s";
    auto s = parsed(started.c_str());
    EXPECT_STREQ(s["name"].GetString(), "cloudflared@2.service");
    EXPECT_EQ(s["pid"].GetInt64(), three);

    // The first replica was followed all along: its death is reported too.
    const size_t before_one = event_count();
    children.end(one);
    std::string died_one;
    ASSERT_TRUE(wait_for_event("tunnel.died", before_one, &died_one));
    EXPECT_EQ(parsed(died_one.c_str())["replica"].GetInt(), 0);

    EXPECT_EQ(sup->watch_stop(instance_), TM_OK);
    // The first status after watch_start is where watching starts: no "started" for processes that ran before.
    std::lock_guard<std::mutex> lock(g_events_mutex);
    int starts = 0;
    for (size_t i = from; i < g_events.size(); ++i) starts += g_events[i].first == "tunnel.started" ? 1 : 0;
    EXPECT_EQ(starts, 1);
}

}  // namespace
