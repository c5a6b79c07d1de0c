// Seeds a state database with N CNAME rows spread over 10 projects (p0..p9) and the zone they are in,
// through the real sqlite-state store code, for benchmarks that need a big table.   tm_seed_state PATH N
#include <cstdio>
#include <string>

#include "sqlite_store.hpp"
#include "store_config.hpp"

using namespace tunnelmgr::plugins::sqlite_state;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: tm_seed_state PATH N\n");
        return 2;
    }
    store_config cfg;
    cfg.path = argv[1];
    auto store = sqlite_store::open(cfg);
    if (!store) {
        std::fprintf(stderr, "%s\n", store.error().message.c_str());
        return 1;
    }
    zone z;
    z.zone_id = "fedcba9876543210fedcba9876543210";
    z.name = "example.com";
    z.status = "active";
    if (auto ok = (*store)->domains_replace({z}); !ok) {
        std::fprintf(stderr, "zones: %s\n", ok.error().message.c_str());
        return 1;
    }
    long n = std::stol(argv[2]);
    for (long i = 0; i < n; ++i) {
        cname_row r;
        r.subdomain = "h" + std::to_string(i);
        r.domain = "example.com";
        r.hostname = r.subdomain + "." + r.domain;
        r.project = "p" + std::to_string(i % 10);
        r.port = 3000 + i % 1000;
        r.target = "http://localhost:" + std::to_string(r.port);
        r.target_type = "host";
        r.dns_record_id = "0123456789abcdef0123456789abcdef";
        r.zone_id = "fedcba9876543210fedcba9876543210";
        if (auto ok = (*store)->cname_insert(r); !ok) {
            std::fprintf(stderr, "row %ld: %s\n", i, ok.error().message.c_str());
            return 1;
        }
    }
    std::printf("seeded %ld cnames into %s\n", n, argv[1]);
    return 0;
}
