// The sqlite-state plugin: tm_state_store_v1 over sqlite_store, through the adapter every stock
// store shares (state_rows::store_plugin): this file only opens the store and names the plugin.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tunnelmgr/sdk/plugin.hpp>

#include "sqlite_store.hpp"
#include "state_rows/store_plugin.hpp"
#include "store_config.hpp"

namespace tunnelmgr::plugins::sqlite_state {
namespace {

constexpr const char* component = "sqlite-state";

store_config config_or_throw(std::string_view json) {
    auto config = parse_store_config(json);
    if (!config) throw std::runtime_error(config.error());
    return *config;
}

}  // namespace

class sqlite_state_plugin final : public state_rows::store_plugin<sqlite_store> {
public:
    sqlite_state_plugin(const sdk::host& host, std::string_view config_json) : store_plugin(host, component) {
        const store_config config = config_or_throw(config_json);
        auto store = sqlite_store::open(config);
        if (!store) throw std::runtime_error(store.error().message);
        store_ = std::move(*store);
        host_.info(component, "opened " + config.path + " at schema version " +
                                  std::to_string(store_->schema_version().value_or(0)));
    }
};

}  // namespace tunnelmgr::plugins::sqlite_state

TM_PLUGIN(tunnelmgr::plugins::sqlite_state::sqlite_state_plugin, "sqlite-state", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::sqlite_state::store_config_schema)
