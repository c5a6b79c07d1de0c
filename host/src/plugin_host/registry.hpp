// Finds plugins in the plugin folders and keeps the loaded libraries and live instances by slot.
// Teardown destroys instances in the reverse order of their creation.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "config/config.hpp"
#include "plugin_host/host_services.hpp"
#include "plugin_host/loader.hpp"

namespace tunnelmgr::host {

struct scan_result {
    std::vector<std::shared_ptr<loaded_library>> loaded;
    std::vector<refusal> refused;
};

// Every *.so in `dirs`, loaded and checked (no init). A missing folder is a refusal line, not an error.
scan_result scan_plugin_dirs(const std::vector<std::string>& dirs);

// Where `name` would be found: the first <dir>/<name>.so that exists, else the path in the first dir.
std::filesystem::path locate_plugin(const std::vector<std::string>& dirs, const std::string& name);

class registry {
public:
    explicit registry(host_services& services) : services_(services) {}
    ~registry() { stop_all(); }

    // Loads and starts the plugin named by `slot_cfg` for `slot`. The error is one line naming the
    // file and the reason.
    tl::expected<void, std::string> start_slot(const std::string& slot, const config::slot& slot_cfg,
                                               const std::vector<std::string>& dirs);
    plugin_instance* find(const std::string& slot) const;
    // Destroys instances newest first.
    void stop_all();

private:
    host_services& services_;
    std::vector<std::pair<std::string, std::unique_ptr<plugin_instance>>> started_;
};

}  // namespace tunnelmgr::host
