// See registry.hpp.
#include "plugin_host/registry.hpp"

#include <algorithm>
#include <system_error>

#include "log/logger.hpp"
#include "plugin_host/config_check.hpp"

namespace tunnelmgr::host {

scan_result scan_plugin_dirs(const std::vector<std::string>& dirs) {
    scan_result out;
    std::map<std::string, std::filesystem::path> first_by_name;  // the search order decides which one is used
    for (const auto& dir : dirs) {
        std::error_code ec;
        std::vector<std::filesystem::path> files;
        for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->path().extension() == ".so") files.push_back(it->path());
        }
        if (ec) {
            out.refused.push_back({dir, "cannot read this plugin folder (" + ec.message() + ")"});
            continue;
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            auto lib = load_library(f);
            if (lib) {
                auto [first, inserted] = first_by_name.emplace((*lib)->name, f);
                if (!inserted) (*lib)->shadowed_by = first->second;
                out.loaded.push_back(*lib);
            } else {
                out.refused.push_back(lib.error());
            }
        }
    }
    return out;
}

std::filesystem::path locate_plugin(const std::vector<std::string>& dirs, const std::string& name) {
    for (const auto& dir : dirs) {
        std::filesystem::path p = std::filesystem::path(dir) / (name + ".so");
        std::error_code ec;
        if (std::filesystem::exists(p, ec)) return p;
    }
    return std::filesystem::path(dirs.empty() ? "." : dirs.front()) / (name + ".so");
}

tl::expected<void, std::string> registry::start_slot(const std::string& slot, const config::slot& slot_cfg,
                                                     const std::vector<std::string>& dirs) {
    auto path = locate_plugin(dirs, slot_cfg.plugin);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        std::string searched;
        for (const auto& d : dirs) searched += (searched.empty() ? "" : ", ") + d;
        return tl::unexpected("plugin '" + slot_cfg.plugin + "' for slot '" + slot + "' not found (looked for " +
                              slot_cfg.plugin + ".so in " + searched +
                              "): install it, or point plugin_dir / --plugin-dir at its folder");
    }
    auto lib = load_library(path);
    if (!lib) return tl::unexpected(lib.error().line());
    if (!(*lib)->provides(slot)) {
        std::string caps;
        for (const auto& c : (*lib)->capability_names()) caps += (caps.empty() ? "" : ", ") + c;
        return tl::unexpected(path.string() + ": refused: configured for slot '" + slot + "' but it provides only " +
                              caps + ": name a plugin that fills this slot");
    }
    // The section is checked against the plugin's own schema before init(), so a mistake is named by
    // file, line and key; one problem per line on stderr, all of them in the refusal.
    auto problems = check_section((*lib)->config_schema, slot_cfg.config_json,
                                  section_origin{slot_cfg.source, slot, slot_cfg.key_lines});
    if (!problems) return tl::unexpected(path.string() + ": refused: " + problems.error());
    if (!problems->empty()) {
        std::string all;
        for (const auto& p : *problems) {
            log::error("config", p);
            all += (all.empty() ? "" : "\n") + p;
        }
        return tl::unexpected(all);
    }
    auto inst = create_instance(*lib, slot_cfg.config_json, services_);
    if (!inst) return tl::unexpected(inst.error());
    started_.emplace_back(slot, std::move(*inst));
    return {};
}

plugin_instance* registry::find(const std::string& slot) const {
    for (const auto& [s, inst] : started_) {
        if (s == slot) return inst.get();
    }
    return nullptr;
}

void registry::stop_all() {
    while (!started_.empty()) started_.pop_back();
}

}  // namespace tunnelmgr::host
