// The real cloudflared as the judge of the ingress editor's tests: every file state an edit produces
// must pass `cloudflared tunnel ingress validate`, and each added name must be routed by
// `cloudflared tunnel ingress rule` to the rule that was added. Where no cloudflared is installed (a
// CI machine without ../shared/tools/cloudflared) the judge says so once and the rest of each test runs.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "core/ingress_file.hpp"
#include "sys/process.hpp"

namespace tunnelmgr::testing {

// Beside the source tree (../shared/tools/cloudflared, see its README), $TM_CLOUDFLARED, or on PATH;
// "" when absent.
inline std::string real_cloudflared() {
    namespace fs = std::filesystem;
    if (const char* e = std::getenv("TM_CLOUDFLARED"); e != nullptr && *e != '\0') {
        return ::access(e, X_OK) == 0 ? std::string(e) : std::string();
    }
    fs::path beside = fs::path(TM_TEST_SOURCE_DIR) / ".." / "shared" / "tools" / "cloudflared" / "cloudflared";
    if (::access(beside.c_str(), X_OK) == 0) return beside.lexically_normal().string();
    if (const char* path = std::getenv("PATH"); path != nullptr) {
        std::string dirs = path;
        for (size_t start = 0; start <= dirs.size();) {
            size_t end = dirs.find(':', start);
            if (end == std::string::npos) end = dirs.size();
            fs::path candidate = fs::path(dirs.substr(start, end - start)) / "cloudflared";
            if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
            start = end + 1;
        }
    }
    return "";
}

// The skip line, once per test program, so a run without cloudflared says what it did not check.
inline std::string judge_binary() {
    static const std::string bin = [] {
        std::string b = real_cloudflared();
        if (b.empty()) {
            std::printf("[ SKIPPED  ] the real cloudflared is not on this machine (../shared/tools/cloudflared, "
                        "$TM_CLOUDFLARED or PATH): the editor's files are not checked by it\n");
        }
        return b;
    }();
    return bin;
}

// cloudflared's verdict on the file: "" when it passes, else what it said.
inline std::string cloudflared_refusal(const std::string& bin, const std::string& config) {
    auto r = sys::run({bin, "--no-autoupdate", "tunnel", "--config", config, "ingress", "validate"}, std::chrono::seconds(20));
    if (!r) return "cloudflared did not run: " + r.error().message;
    return r->exit_code == 0 ? "" : "exit " + std::to_string(r->exit_code) + ": " + r->out + r->err;
}

// "Matched rule #N" from `cloudflared tunnel --config FILE ingress rule https://HOST`; -1 when it fails.
inline int cloudflared_rule_for(const std::string& bin, const std::string& config, const std::string& host) {
    auto r = sys::run({bin, "--no-autoupdate", "tunnel", "--config", config, "ingress", "rule", "https://" + host},
                      std::chrono::seconds(20));
    if (!r || r->exit_code != 0) return -1;
    auto at = r->out.find("Matched rule #");
    return at == std::string::npos ? -1 : std::stoi(r->out.substr(at + 14));
}

// The service of the rule cloudflared routes https://HOST to, "" when it cannot say.
inline std::string cloudflared_service_for(const std::string& bin, const std::string& config, const std::string& host) {
    auto r = sys::run({bin, "--no-autoupdate", "tunnel", "--config", config, "ingress", "rule", "https://" + host},
                      std::chrono::seconds(20));
    if (!r || r->exit_code != 0) return "";
    auto at = r->out.find("service: ");
    if (at == std::string::npos) return "";
    auto end = r->out.find('\n', at);
    return r->out.substr(at + 9, end == std::string::npos ? std::string::npos : end - at - 9);
}

// The file as an edit left it passes cloudflared (when it is installed).
inline void expect_cloudflared_accepts(const std::string& config) {
    const std::string bin = judge_binary();
    if (!bin.empty()) EXPECT_EQ(cloudflared_refusal(bin, config), "") << "cloudflared refuses " << config;
}

// An ingress_file whose every change is judged by the real cloudflared (when present): the file it
// leaves must validate, and an added name must route to the added service. Failures are gtest
// failures, and counted (a forked child reports them through its exit status).
class judged_file {
public:
    template <class... Args>
    explicit judged_file(Args&&... args) : file_(std::forward<Args>(args)...) {}

    core::result<core::ingress_change> add_rule(const std::string& host, const std::string& service, const std::string& why) {
        auto r = file_.add_rule(host, service, why);
        if (r && r->changed) judge(host, service);
        return r;
    }
    core::result<core::ingress_change> add_rule(const std::string& host, const std::string& service,
                                                const std::string& origin, const std::string& why) {
        auto r = file_.add_rule(host, service, origin, why);
        if (r && r->changed) judge(host, service);
        return r;
    }
    core::result<core::ingress_change> replace_rule(const std::string& host, const std::string& service,
                                                    const std::string& origin, const std::string& why) {
        auto r = file_.replace_rule(host, service, origin, why);
        if (r && r->changed) judge(host, service);
        return r;
    }
    core::result<core::ingress_change> remove_rule(const std::string& host, const std::string& why) {
        auto r = file_.remove_rule(host, why);
        if (r && r->changed) judge("", "");
        return r;
    }
    core::result<std::vector<core::ingress_rule>> read_rules() const { return file_.read_rules(); }
    core::result<void> check_editable() const { return file_.check_editable(); }
    const std::string& path() const { return file_.path(); }
    // Off: only validate (each `ingress rule` is another cloudflared start).
    void check_routes(bool on) { check_routes_ = on; }
    int refusals() const { return refusals_; }
    int judged() const { return judged_; }

private:
    void judge(const std::string& host, const std::string& service) {
        const std::string bin = judge_binary();
        if (bin.empty()) return;
        ++judged_;
        if (std::string no = cloudflared_refusal(bin, file_.path()); !no.empty()) {
            ++refusals_;
            ADD_FAILURE() << "cloudflared refuses the file the editor wrote (" << file_.path() << "): " << no;
            return;
        }
        if (host.empty() || !check_routes_) return;
        std::string name = host;  // as the editor writes it: lower case, no trailing dot
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!name.empty() && name.back() == '.') name.pop_back();
        std::string routed = cloudflared_service_for(bin, file_.path(), name);
        if (routed != service) {
            ++refusals_;
            ADD_FAILURE() << "cloudflared routes " << host << " to '" << routed << "', not to the added " << service;
        }
    }
    core::ingress_file file_;
    bool check_routes_ = true;
    int refusals_ = 0;
    int judged_ = 0;
};

}  // namespace tunnelmgr::testing
