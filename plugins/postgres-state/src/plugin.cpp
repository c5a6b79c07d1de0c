// The postgres-state plugin: tm_state_store_v1 over pg_store, through the adapter every stock store
// shares (state_rows::store_plugin): this file only opens the store and names the plugin.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tunnelmgr/sdk/plugin.hpp>

#include "pg_config.hpp"
#include "pg_store.hpp"
#include "state_rows/store_plugin.hpp"

namespace tunnelmgr::plugins::postgres_state {
namespace {

constexpr const char* component = "postgres-state";

pg_config config_or_throw(std::string_view json) {
    auto config = parse_pg_config(json);
    if (!config) throw std::runtime_error(config.error());
    return *config;
}

}  // namespace

class postgres_state_plugin final : public state_rows::store_plugin<pg_store> {
public:
    postgres_state_plugin(const sdk::host& host, std::string_view config_json) : store_plugin(host, component) {
        const pg_config config = config_or_throw(config_json);
        auto store = pg_store::open(config);
        if (!store) throw std::runtime_error(store.error().message);
        store_ = std::move(*store);
        // The file's path only: its content holds the password.
        host_.info(component, "connected through " + config.dsn_file + " as machine " + config.machine +
                                  " at schema version " + std::to_string(store_->schema_version().value_or(0)));
    }
};

}  // namespace tunnelmgr::plugins::postgres_state

TM_PLUGIN(tunnelmgr::plugins::postgres_state::postgres_state_plugin, "postgres-state", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::postgres_state::pg_config_schema)
