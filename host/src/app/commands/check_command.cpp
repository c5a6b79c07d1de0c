// `tunnelmgr check`: start every configured plugin, as the daemon would, and say how each slot fared.
#include <cstdio>

#include "app/commands/commands.hpp"

namespace tunnelmgr::app {

run_result cmd_check(app_state& s) {
    std::string bad;
    wants_json(s, bad);
    if (!bad.empty()) return run_result::fatal("check: unknown argument '" + bad + "'", 2);
    std::printf("config: %s\n", s.cfg.source.c_str());
    int failed = 0;
    for (const auto& slot : config::slot_names()) {
        const config::slot* sc = s.cfg.find_slot(slot);
        if (sc == nullptr) {
            std::printf("  %-10s (empty)\n", slot.c_str());
            continue;
        }
        auto r = s.plugins->start_slot(slot, slot_as_started(s.cfg, slot), s.cfg.plugin_dirs);
        if (r) {
            const auto* inst = s.plugins->find(slot);
            std::printf("  %-10s ok       %s %s\n", slot.c_str(), inst->library().name.c_str(),
                        inst->library().version.c_str());
        } else {
            ++failed;
            std::printf("  %-10s FAILED   %s\n", slot.c_str(), r.error().c_str());
        }
    }
    s.exit_code = failed == 0 ? 0 : 3;
    return run_result::proceed();
}

}  // namespace tunnelmgr::app
