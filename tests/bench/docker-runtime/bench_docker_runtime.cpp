// Snapshot time of docker-runtime's topology reader with many containers on many networks: creates
// them with the docker CLI (busybox sleep), times snapshot() rounds, prints the median and the JSON
// size, and removes what it created (by the names it gave them).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine_client.hpp"
#include "process/run_process.hpp"
#include "topology_reader.hpp"

namespace {

using tunnelmgr::plugins::docker_engine::engine_client;
using tunnelmgr::plugins::docker_runtime::snapshot_options;
using tunnelmgr::plugins::docker_runtime::topology_reader;
using tunnelmgr::testing::run_process;

std::string docker_cli() {
    if (const char* env = std::getenv("TM_DOCKER"); env != nullptr && *env != '\0') return env;
    return "/usr/bin/docker";
}

bool docker(const std::string& socket, std::vector<std::string> args) {
    std::vector<std::string> argv{docker_cli(), "-H", "unix://" + socket};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv);
    if (r.exit_code != 0) std::fprintf(stderr, "docker %s failed: %s%s\n", args[0].c_str(), r.out.c_str(), r.err.c_str());
    return r.exit_code == 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string socket;
    int containers = 200, networks = 20, rounds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        if (key == "--socket") socket = argv[i + 1];
        if (key == "--containers") containers = std::atoi(argv[i + 1]);
        if (key == "--networks") networks = std::atoi(argv[i + 1]);
        if (key == "--rounds") rounds = std::atoi(argv[i + 1]);
    }
    if (socket.empty() || containers < 1 || networks < 1 || rounds < 1) {
        std::fprintf(stderr, "usage: bench_docker_runtime --socket PATH [--containers 200] [--networks 20] [--rounds 10]\n"
                             "(a dockerd with the tm-busybox image: tests/support/dockerd/dockerd.sh start|image DIR)\n");
        return 2;
    }
    const auto setup_start = std::chrono::steady_clock::now();
    std::vector<std::string> net_names, ctr_names;
    bool ok = true;
    for (int n = 0; n < networks && ok; ++n) {
        net_names.push_back("bench-net-" + std::to_string(n));
        ok = docker(socket, {"network", "create", net_names.back()});
    }
    // Every container on one network, every fifth also on a second, every tenth publishes a port;
    // created one by one, started in one CLI call.
    for (int c = 0; c < containers && ok; ++c) {
        ctr_names.push_back("bench-" + std::to_string(c % 7) + "-ctr-" + std::to_string(c));
        std::vector<std::string> args{"create", "--name", ctr_names.back(), "--network", net_names[c % networks],
                                      "--label", "com.supervisor.project=bench" + std::to_string(c % 7)};
        if (c % 10 == 0) {
            args.push_back("-p");
            args.push_back("127.0.0.1::8080");
        }
        args.insert(args.end(), {"tm-busybox:latest", "sleep", "3600"});
        ok = docker(socket, args);
    }
    for (int c = 0; c < containers && ok; c += 5) {
        ok = docker(socket, {"network", "connect", net_names[(c + 1) % networks], ctr_names[c]});
    }
    if (ok) {
        std::vector<std::string> start{"start"};
        start.insert(start.end(), ctr_names.begin(), ctr_names.end());
        ok = docker(socket, start);
    }
    const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();

    if (ok) {
        engine_client client(socket, std::chrono::milliseconds(30000));
        topology_reader reader(client, snapshot_options{});
        std::vector<double> ms;
        size_t bytes = 0;
        for (int r = 0; r < rounds + 1 && ok; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            auto snap = reader.snapshot();
            const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (!snap) {
                std::fprintf(stderr, "snapshot failed: %s\n", snap.error().message.c_str());
                ok = false;
                break;
            }
            bytes = snap->size();
            if (r > 0) ms.push_back(elapsed);  // round 0 warms the connection and the version negotiation
        }
        if (ok) {
            std::sort(ms.begin(), ms.end());
            std::printf("[figure] docker-runtime snapshot: %d containers on %d networks (running busybox sleep), "
                        "median %.1f ms, min %.1f ms, max %.1f ms over %d rounds; JSON %zu bytes (setup %.0f s)\n",
                        containers, networks, ms[ms.size() / 2], ms.front(), ms.back(), rounds, bytes, setup_s);
        }
    }
    // Clean up by name, whatever happened above.
    for (size_t i = 0; i < ctr_names.size(); i += 50) {
        std::vector<std::string> rm{"rm", "-f"};
        rm.insert(rm.end(), ctr_names.begin() + static_cast<long>(i),
                  ctr_names.begin() + static_cast<long>(std::min(ctr_names.size(), i + 50)));
        docker(socket, rm);
    }
    for (const auto& n : net_names) docker(socket, {"network", "rm", n});
    return ok ? 0 : 1;
}
