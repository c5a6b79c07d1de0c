// Step: load and start the plugin of every slot the command needs. A plugin that is refused fails
// start-up only when its slot is needed; other slots are not even loaded, nor deferred ones (app.hpp)
// unless they turn out to be needed: a plugin costs its shared libraries (libcurl brings dozens) and
// its own start-up (the DNS plugin's token check).
#include "app/app.hpp"
#include "core/json.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::app {

namespace {

// The runtime plugin recognises `{project}-name` containers only for projects it knows: hand it the
// config's project names unless its section lists its own.
std::string with_project_names(const std::string& section_json, const config::config& cfg) {
    auto doc = core::json::parse(section_json);
    if (!doc || !doc->IsObject() || doc->HasMember("projects")) return section_json;
    rapidjson::Value names(rapidjson::kArrayType);
    for (const auto& [name, p] : cfg.projects) names.PushBack(rapidjson::Value(name.c_str(), doc->GetAllocator()), doc->GetAllocator());
    doc->AddMember("projects", names, doc->GetAllocator());
    return core::json::to_string(*doc);
}

}  // namespace

config::slot slot_as_started(const config::config& cfg, const std::string& slot) {
    config::slot effective = *cfg.find_slot(slot);
    if (slot == "runtime") effective.config_json = with_project_names(effective.config_json, cfg);
    return effective;
}

run_result start_slots(app_state& s, const std::vector<std::string>& needed_slots,
                       const std::vector<std::string>& wanted_slots) {
    if (!s.plugins) s.plugins = std::make_unique<host::registry>(s.services);
    for (const auto& slot : config::slot_names()) {
        bool needed = false, wanted = false;
        for (const auto& n : needed_slots) needed = needed || n == slot;
        for (const auto& n : wanted_slots) wanted = wanted || n == slot;
        if (!needed && !wanted) continue;
        if (s.plugins->find(slot) != nullptr) continue;
        const config::slot* cfg = s.cfg.find_slot(slot);
        if (cfg == nullptr && !needed) continue;
        if (cfg == nullptr) {
            return run_result::fatal("this command needs the '" + slot + "' slot but " + s.cfg.source +
                                     " names no plugin for it: add a `" + slot + ": { plugin: NAME }` section", 2);
        }
        auto started = s.plugins->start_slot(slot, slot_as_started(s.cfg, slot), s.cfg.plugin_dirs);
        if (!started) return run_result::fatal(started.error(), 3);
        auto* inst = s.plugins->find(slot);
        log::info("plugins", "slot=" + slot + " plugin=" + inst->library().name + " version=" + inst->library().version +
                                 " file=" + inst->library().path.string());
    }
    return run_result::proceed();
}

run_result start_plugins(app_state& s) {
    s.plugins = std::make_unique<host::registry>(s.services);
    return start_slots(s, s.needed_slots, s.wanted_slots);
}

}  // namespace tunnelmgr::app
