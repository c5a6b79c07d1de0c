// The Debian packages on a clean Debian 12: a debootstrapped root with systemd as PID 1 in a container
// of a private dockerd (no --privileged, no network), apt pointed only at an offline repository.
//
// The offline repository holds exactly what the .debs' own Depends pull in (closure minus what the
// clean root already has, make_local_repo.sh), so `apt-get install ./tunnelmgr_*.deb` proves that
// Depends is complete: a library left out of Depends is in neither the root nor the repository, and
// the binary or a plugin would then fail to load in the checks below.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "dockerd/dockerd_fixture.hpp"
#include "process/run_process.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tunnelmgr::testing::docker;
using tunnelmgr::testing::docker_name;
using tunnelmgr::testing::dockerd;
using tunnelmgr::testing::run_process;

const std::string k_source = TM_TEST_SOURCE_DIR;
const std::string k_build = TM_TEST_BINARY_DIR;
// Shared with the systemd-supervisor tests: debootstrapped once per build dir.
const std::string k_rootfs = k_build + "/systemd-rootfs/bookworm-systemd.tar";
const std::string k_work = k_build + "/tests/packaging";
const std::string k_image = "tm-systemd:latest";
const std::set<std::string> k_stock_plugins{"sqlite-state",       "cloudflare-dns",       "docker-runtime",
                                            "systemd-supervisor", "container-supervisor", "mcp-stdio",
                                            "postgres-state"};

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

std::string find_deb(const std::string& dir, const std::string& prefix) {
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename();
        if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".deb") return e.path();
    }
    return {};
}

class DebPackage : public tunnelmgr::testing::dockerd_test {
protected:
    void SetUp() override {
        dockerd_test::SetUp();
        if (HasFatalFailure()) return;
        auto debs = run_process({"/bin/bash", k_source + "/tests/packaging/build_debs.sh", k_build, k_source,
                                 k_work + "/debs"});
        ASSERT_EQ(debs.exit_code, 0) << "cpack failed:\n" << debs.out << debs.err;
        deb_ = find_deb(k_work + "/debs", "tunnelmgr_");
        dev_deb_ = find_deb(k_work + "/debs", "tunnelmgr-dev_");
        ASSERT_FALSE(deb_.empty()) << "no tunnelmgr_*.deb in " << k_work << "/debs";
        ASSERT_FALSE(dev_deb_.empty()) << "no tunnelmgr-dev_*.deb in " << k_work << "/debs";
        auto rootfs = run_process(
            {"/bin/bash", k_source + "/tests/plugins/systemd-supervisor/make_systemd_rootfs.sh", k_rootfs});
        ASSERT_EQ(rootfs.exit_code, 0) << "could not build the Debian rootfs:\n" << rootfs.out << rootfs.err;
        auto imported = docker("import", "-c", "CMD [\"/sbin/init\"]", k_rootfs, k_image);
        ASSERT_TRUE(imported.ok()) << imported.output();
    }

    void TearDown() override {
        if (!ctr_.empty()) docker("rm", "-f", ctr_);
    }

    // An offline repository with everything the two packages need (minus `without`, if given).
    std::string make_repo(const std::string& name, const std::string& without = "") {
        const std::string dir = k_work + "/" + name;
        auto r = run_process({"/bin/bash", k_source + "/tests/packaging/make_local_repo.sh", dir, k_rootfs, deb_,
                              dev_deb_},
                             without.empty() ? std::map<std::string, std::string>{}
                                             : std::map<std::string, std::string>{{"TM_REPO_WITHOUT", without}});
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        return dir;
    }

    // The same package with a higher Debian revision, for a real upgrade (not just a reinstall).
    std::string make_next_revision() {
        const fs::path dir = fs::path(dockerd->dir()) / "next";
        fs::remove_all(dir);
        fs::create_directories(dir / "pkg");
        auto unpack = run_process({"/usr/bin/dpkg-deb", "-R", deb_, (dir / "pkg").string()});
        EXPECT_EQ(unpack.exit_code, 0) << unpack.err;
        const fs::path control = dir / "pkg/DEBIAN/control";
        std::ifstream in(control);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        in.close();
        auto at = text.find("\nVersion: ");
        if (at == std::string::npos) {
            ADD_FAILURE() << "no Version in " << control << ":\n" << text;
            return {};
        }
        auto end = text.find('\n', at + 1);
        version_ = text.substr(at + 10, end - at - 10);
        next_version_ = version_ + "+next1";
        text.replace(at + 10, end - at - 10, next_version_);
        std::ofstream(control, std::ios::trunc) << text;
        const std::string out = (dir / "tunnelmgr_next_amd64.deb").string();
        auto build = run_process({"/usr/bin/dpkg-deb", "--root-owner-group", "-b", (dir / "pkg").string(), out});
        EXPECT_EQ(build.exit_code, 0) << build.out << build.err;
        return out;
    }

    // Boots systemd as PID 1 with no network; the repository and the .debs mounted read-only.
    void boot(const std::string& repo) {
        ctr_ = docker_name("tm-deb");
        const fs::path debs = fs::path(deb_).parent_path();
        auto run = docker("run", "-d", "--name", ctr_, "--network", "none", "--tmpfs", "/run", "--tmpfs", "/run/lock",
                          "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host", "-v", repo + ":/srv/tm-repo:ro",
                          "-v", debs.string() + ":/srv/debs:ro", "-v", (fs::path(dockerd->dir()) / "next").string() + ":/srv/next:ro",
                          k_image, "/sbin/init");
        ASSERT_TRUE(run.ok()) << run.output();
        std::string state;
        for (int i = 0; i < 600; ++i) {
            state = trim(docker("exec", ctr_, "systemctl", "is-system-running").out);
            if (state == "running" || state == "degraded") break;
            std::this_thread::sleep_for(100ms);
        }
        ASSERT_TRUE(state == "running" || state == "degraded")
            << "systemd did not finish booting (" << state << "): " << docker("logs", ctr_).output();
        use_repo();
    }

    void use_repo() {
        auto apt = sh("rm -f /etc/apt/sources.list.d/*; echo 'deb [trusted=yes] file:/srv/tm-repo ./' > "
                      "/etc/apt/sources.list && apt-get update -q");
        ASSERT_TRUE(apt.ok()) << apt.output();
    }

    tunnelmgr::testing::docker_result sh(const std::string& script) {
        return docker("exec", ctr_, "bash", "-c", "export DEBIAN_FRONTEND=noninteractive; " + script);
    }

    // `systemctl is-active`, waited on while the unit is on its way (activating/deactivating).
    std::string unit_state() {
        std::string s;
        for (int i = 0; i < 300; ++i) {
            s = trim(sh("systemctl is-active tunnelmgr.service").out);
            if (s != "activating" && s != "deactivating" && s != "reloading") break;
            std::this_thread::sleep_for(100ms);
        }
        return s;
    }

    std::string journal() { return sh("journalctl -u tunnelmgr --no-pager -n 40").output(); }

    std::string deb_, dev_deb_, ctr_, version_, next_version_;
};

// A dependency missing from the offline repository makes the install fail: the repository is the
// only source, so the positive test below really checks the .deb's Depends.
TEST_F(DebPackage, InstallFailsWhenADependencyIsNotAvailable) {
    const std::string repo = make_repo("repo-without-yaml-cpp", "libyaml-cpp0.7");
    ASSERT_FALSE(HasFailure());
    auto r = docker("run", "--rm", "--network", "none", "-v", repo + ":/srv/tm-repo:ro", "-v",
                    fs::path(deb_).parent_path().string() + ":/srv/debs:ro", k_image, "bash", "-c",
                    "rm -f /etc/apt/sources.list.d/*; echo 'deb [trusted=yes] file:/srv/tm-repo ./' > "
                    "/etc/apt/sources.list && apt-get update -q >/dev/null && "
                    "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /srv/debs/" +
                        fs::path(deb_).filename().string());
    EXPECT_NE(r.exit_code, 0) << r.output();
    EXPECT_NE(r.output().find("libyaml-cpp0.7"), std::string::npos) << r.output();
}

TEST_F(DebPackage, InstallsRunsUpgradesRemovesAndPurgesOnCleanDebian) {
    const std::string repo = make_repo("repo");
    const std::string next = make_next_revision();
    ASSERT_FALSE(HasFailure());
    boot(repo);
    if (HasFatalFailure()) return;
    const std::string deb = "/srv/debs/" + fs::path(deb_).filename().string();
    const std::string dev = "/srv/debs/" + fs::path(dev_deb_).filename().string();

    // A docker group before the install: postinst must put the daemon's user in it.
    ASSERT_TRUE(sh("groupadd --system docker").ok());
    auto install = sh("apt-get install -y -q " + deb);
    ASSERT_TRUE(install.ok()) << install.output();
    EXPECT_TRUE(sh("dpkg-query -W -f='${Status}' tunnelmgr | grep -q 'install ok installed'").ok());

    // The binary and every plugin load: each library they link came with the install.
    auto version = sh("tunnelmgr --version");
    EXPECT_TRUE(version.ok()) << version.output();
    EXPECT_NE(version.out.find(version_.substr(0, version_.find('-'))), std::string::npos) << version.output();
    auto ldd = sh("ldd /usr/bin/tunnelmgr /usr/lib/tunnelmgr/plugins/*.so | grep 'not found' || true");
    EXPECT_EQ(trim(ldd.out), "") << "libraries not installed by Depends:\n" << ldd.out;

    // Plugins: the shipped config's folder, and the compiled-in default (a config with no plugin_dir).
    for (const std::string& args : {std::string("plugins --json"),
                                    std::string("--config /tmp/bare.yml plugins --json")}) {
        ASSERT_TRUE(sh("printf 'state: { plugin: sqlite-state, path: /tmp/bare.db }\\n' > /tmp/bare.yml").ok());
        auto plugins = sh("tunnelmgr " + args);
        ASSERT_TRUE(plugins.ok()) << args << ": " << plugins.output();
        rapidjson::Document doc;
        doc.Parse(plugins.out.c_str());
        ASSERT_FALSE(doc.HasParseError()) << plugins.out;
        ASSERT_TRUE(doc.HasMember("plugins") && doc["plugins"].IsArray()) << plugins.out;
        std::set<std::string> names;
        for (const auto& p : doc["plugins"].GetArray()) names.insert(p["name"].GetString());
        EXPECT_EQ(names, k_stock_plugins) << args << ": " << plugins.out;
        ASSERT_TRUE(doc.HasMember("refused") && doc["refused"].IsArray());
        EXPECT_EQ(doc["refused"].Size(), 0U) << args << ": " << plugins.out;
        ASSERT_TRUE(doc.HasMember("plugin_dirs") && doc["plugin_dirs"].IsArray() && doc["plugin_dirs"].Size() > 0);
        EXPECT_STREQ(doc["plugin_dirs"][0].GetString(), "/usr/lib/tunnelmgr/plugins") << args;
    }

    // The shipped config passes `check`, run as the daemon's user (so the state file is its own).
    auto check = sh("runuser -u tunnelmgr -- tunnelmgr check");
    EXPECT_TRUE(check.ok()) << check.output();
    // And `doctor` runs on the clean root. The shipped config names no tunnel yet, so it must say
    // so, with the fix, and exit 1 — while the state store it does have checks out.
    auto doctor = sh("runuser -u tunnelmgr -- tunnelmgr doctor");
    EXPECT_EQ(doctor.exit_code, 1) << doctor.output();
    EXPECT_NE(doctor.output().find("FAIL  tunnel.id is not set"), std::string::npos) << doctor.output();
    EXPECT_NE(doctor.output().find("ok    state: sqlite-state"), std::string::npos) << doctor.output();
    auto groups = sh("id -nG tunnelmgr");
    EXPECT_NE((" " + trim(groups.out) + " ").find(" docker "), std::string::npos) << groups.output();
    EXPECT_EQ(trim(sh("stat -c '%U:%G %a' /etc/tunnelmgr/config.yml").out), "root:tunnelmgr 640");

    // The unit: verified by systemd itself, started on install, running as its user, owning its state.
    auto verify = sh("systemd-analyze verify /lib/systemd/system/tunnelmgr.service");
    EXPECT_TRUE(verify.ok() && verify.output().find("tunnelmgr.service") == std::string::npos) << verify.output();
    EXPECT_TRUE(sh("systemctl start tunnelmgr.service").ok()) << journal();
    EXPECT_EQ(unit_state(), "active") << journal();
    EXPECT_EQ(trim(sh("systemctl is-enabled tunnelmgr.service").out), "enabled");
    EXPECT_EQ(trim(sh("stat -c %U /proc/$(systemctl show -p MainPID --value tunnelmgr.service)").out), "tunnelmgr")
        << journal();
    EXPECT_EQ(trim(sh("stat -c %U /var/lib/tunnelmgr/state.db").out), "tunnelmgr") << journal();
    // The sandbox as the kernel sees it on the running daemon. The mount-namespace part (ProtectSystem,
    // PrivateTmp...) needs CAP_SYS_ADMIN, which an unprivileged container's systemd lacks: systemd then
    // skips it ("assuming containerized execution"), so that part is reported, not asserted.
    const std::string status = "/proc/$(systemctl show -p MainPID --value tunnelmgr.service)/status";
    EXPECT_EQ(trim(sh("awk '/^NoNewPrivs:/ {print $2}' " + status).out), "1");
    EXPECT_EQ(trim(sh("awk '/^CapEff:/ {print $2}' " + status).out), "0000000000000000");
    EXPECT_EQ(trim(sh("awk '/^Seccomp:/ {print $2}' " + status).out), "2");
    auto own_ns = sh("test \"$(readlink /proc/$(systemctl show -p MainPID --value tunnelmgr.service)/ns/mnt)\" != "
                     "\"$(readlink /proc/1/ns/mnt)\"");
    auto exposure = sh("systemd-analyze security tunnelmgr.service --no-pager | tail -n 1");
    std::printf("[ sandbox  ] %s; own mount namespace: %s\n", trim(exposure.out).c_str(),
                own_ns.ok() ? "yes" : "no (container without CAP_SYS_ADMIN)");

    // The alert rules and dashboards, where packaging/README.md tells the operator to copy them from;
    // the dashboards, each with its panels.
    EXPECT_TRUE(sh("test -f /usr/share/tunnelmgr/monitoring/tunnelmgr-alerts.yml && "
                   "grep -q 'alert: ' /usr/share/tunnelmgr/monitoring/tunnelmgr-alerts.yml && "
                   "for f in health hostnames docker-reconcile; do "
                   "grep -q '\"panels\"' /usr/share/tunnelmgr/monitoring/grafana/tunnelmgr-$f.json || exit 1; done")
                    .ok())
        << sh("ls -lR /usr/share/tunnelmgr").output();

    // The template for cloudflared replicas: installed, valid for systemd (with a stand-in cloudflared,
    // which the package does not bring), and left disabled.
    ASSERT_TRUE(sh("test -f /lib/systemd/system/cloudflared@.service").ok());
    ASSERT_TRUE(sh("test -e /usr/bin/cloudflared || { printf '#!/bin/sh\\nexit 0\\n' > /usr/bin/cloudflared && "
                   "chmod 0755 /usr/bin/cloudflared && touch /tmp/tm-fake-cloudflared; }").ok());
    auto template_verify = sh("systemd-analyze verify cloudflared@1.service");
    EXPECT_TRUE(template_verify.ok() && template_verify.output().find("cloudflared@") == std::string::npos)
        << template_verify.output();
    const std::string exec_start = sh("systemctl show -p ExecStart --value cloudflared@2.service").out;
    EXPECT_NE(exec_start.find("--metrics 127.0.0.1:20242"), std::string::npos) << "instance 2's own metrics port: " << exec_start;
    EXPECT_NE(trim(sh("systemctl is-enabled cloudflared@1.service").out), "enabled");
    ASSERT_TRUE(sh("test ! -e /tmp/tm-fake-cloudflared || rm -f /usr/bin/cloudflared /tmp/tm-fake-cloudflared").ok());

    // An operator's edit to the conffile survives a reinstall and an upgrade, with no prompt.
    ASSERT_TRUE(sh("echo '# edited by the operator' >> /etc/tunnelmgr/config.yml").ok());
    auto reinstall = sh("apt-get install -y -q --reinstall " + deb + " </dev/null");
    EXPECT_TRUE(reinstall.ok()) << reinstall.output();
    auto upgrade = sh("apt-get install -y -q /srv/next/tunnelmgr_next_amd64.deb </dev/null");
    EXPECT_TRUE(upgrade.ok()) << upgrade.output();
    EXPECT_EQ(trim(sh("dpkg-query -W -f='${Version}' tunnelmgr").out), next_version_);
    EXPECT_TRUE(sh("tail -n 1 /etc/tunnelmgr/config.yml | grep -qx '# edited by the operator'").ok())
        << sh("cat /etc/tunnelmgr/config.yml").output();
    EXPECT_FALSE(sh("ls /etc/tunnelmgr/config.yml.dpkg-*").ok());
    EXPECT_EQ(unit_state(), "active") << "not running again after the upgrade: " << journal();
    EXPECT_TRUE(sh("test -s /var/lib/tunnelmgr/state.db").ok());

    // The -dev package: headers, CMake package and pkg-config file, with libexpected-dev pulled in.
    auto dev_install = sh("apt-get install -y -q " + dev);
    EXPECT_TRUE(dev_install.ok()) << dev_install.output();
    EXPECT_TRUE(sh("test -f /usr/include/tunnelmgr/plugin_api.h && test -d /usr/include/tunnelmgr/sdk && "
                   "test -f /usr/lib/cmake/tunnelmgr-plugin-api/tunnelmgr-plugin-api-config.cmake && "
                   "test -f /usr/share/pkgconfig/tunnelmgr-plugin-api.pc && "
                   "dpkg-query -W -f='${Status}' libexpected-dev | grep -q 'install ok installed'")
                    .ok())
        << sh("dpkg -L tunnelmgr-dev").output();
    // Its conformance tool runs on the clean root with what the package declares, and the stock store passes.
    auto conformance = sh("tunnelmgr-plugin-check /usr/lib/tunnelmgr/plugins/sqlite-state.so");
    EXPECT_TRUE(conformance.ok()) << conformance.output();
    EXPECT_NE(conformance.output().find(" 0 failed"), std::string::npos) << conformance.output();

    // Remove: the daemon stops, the program goes, the config and the state stay.
    auto remove = sh("apt-get remove -y -q tunnelmgr");
    EXPECT_TRUE(remove.ok()) << remove.output();
    EXPECT_NE(unit_state(), "active");
    EXPECT_FALSE(sh("test -e /usr/bin/tunnelmgr").ok());
    EXPECT_FALSE(sh("test -e /lib/systemd/system/tunnelmgr.service").ok());
    EXPECT_FALSE(sh("test -e /lib/systemd/system/cloudflared@.service").ok());
    EXPECT_TRUE(sh("test -f /etc/tunnelmgr/config.yml && test -f /var/lib/tunnelmgr/state.db").ok());

    // Installing again after a remove: the scripts meet their own leftovers (user, state, masked unit).
    auto again = sh("apt-get install -y -q " + deb);
    EXPECT_TRUE(again.ok()) << again.output();
    EXPECT_EQ(unit_state(), "active") << journal();

    // Purge: config, state, user and group are gone; so is every trace in dpkg.
    auto purge = sh("apt-get purge -y -q tunnelmgr tunnelmgr-dev");
    EXPECT_TRUE(purge.ok()) << purge.output();
    EXPECT_FALSE(sh("test -e /etc/tunnelmgr/config.yml").ok());
    EXPECT_FALSE(sh("test -e /var/lib/tunnelmgr").ok());
    EXPECT_FALSE(sh("getent passwd tunnelmgr").ok());
    EXPECT_FALSE(sh("dpkg-query -W -f='${Status}' tunnelmgr 2>/dev/null | grep -q installed").ok());
    EXPECT_NE(unit_state(), "active");
}

}  // namespace
