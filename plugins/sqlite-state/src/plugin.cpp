// The sqlite-state plugin: tm_state_store_v1 over sqlite_store. A thin adapter: JSON in through
// store_json, a call on the store, JSON out, and store_error kinds mapped to tm_rc.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tunnelmgr/sdk/plugin.hpp>

#include "sqlite_store.hpp"
#include "store_config.hpp"
#include "store_json.hpp"

namespace tunnelmgr::plugins::sqlite_state {
namespace {

constexpr const char* component = "sqlite-state";

tm_rc to_rc(store_errc kind) {
    switch (kind) {
        case store_errc::invalid: return TM_INVALID;
        case store_errc::not_found: return TM_NOT_FOUND;
        case store_errc::conflict: return TM_CONFLICT;
        case store_errc::busy: return TM_RETRY;
        case store_errc::error: return TM_ERROR;
    }
    return TM_ERROR;
}

// store_result<T> -> sdk::result<U>, converting the value with `convert`.
template <class T, class Fn>
auto lift(store_result<T>&& r, Fn&& convert) -> sdk::result<decltype(convert(std::move(*r)))> {
    if (!r) return sdk::fail(to_rc(r.error().kind), std::move(r.error().message));
    return convert(std::move(*r));
}

template <class T>
sdk::result<T> lift(store_result<T>&& r) {
    if (!r) return sdk::fail(to_rc(r.error().kind), std::move(r.error().message));
    if constexpr (std::is_void_v<T>) {
        return {};
    } else {
        return std::move(*r);
    }
}

// Parses with `parse`, then calls `use` with the parsed value; parse errors come back as TM_INVALID.
template <class Parsed, class Use>
auto parsed(store_result<Parsed>&& p, Use&& use) -> decltype(use(std::move(*p))) {
    if (!p) return sdk::fail(to_rc(p.error().kind), std::move(p.error().message));
    return use(std::move(*p));
}

const auto as_json = [](auto&& value) { return to_json(value); };

store_config config_or_throw(std::string_view json) {
    auto config = parse_store_config(json);
    if (!config) throw std::runtime_error(config.error());
    return *config;
}

}  // namespace

class sqlite_state_plugin final : public sdk::plugin, public sdk::state_store_v1 {
public:
    sqlite_state_plugin(const sdk::host& host, std::string_view config_json) : host_(host) {
        const store_config config = config_or_throw(config_json);
        auto store = sqlite_store::open(config);
        if (!store) throw std::runtime_error(store.error().message);
        store_ = std::move(*store);
        host_.info(component, "opened " + config.path + " at schema version " +
                                  std::to_string(store_->schema_version().value_or(0)));
    }

    sdk::result<int64_t> schema_version() override { return lift(store_->schema_version()); }
    sdk::result<std::string> stats() override { return lift(store_->stats(), as_json); }

    sdk::result<int64_t> cname_insert(std::string_view row_json) override {
        return parsed(cname_from_json(row_json), [&](cname_row row) { return lift(store_->cname_insert(row)); });
    }
    sdk::result<void> cname_delete(std::string_view hostname) override { return lift(store_->cname_delete(hostname)); }
    sdk::result<std::string> cname_get(std::string_view hostname) override {
        return lift(store_->cname_get(hostname), as_json);
    }
    sdk::result<std::string> cname_list(std::string_view filter_json) override {
        return parsed(cname_filter_from_json(filter_json),
                      [&](cname_filter f) { return lift(store_->cname_list(f), as_json); });
    }
    sdk::result<int64_t> cname_count(std::string_view filter_json) override {
        return parsed(cname_filter_from_json(filter_json), [&](cname_filter f) { return lift(store_->cname_count(f)); });
    }

    sdk::result<int64_t> operation_begin(std::string_view op_json) override {
        return parsed(operation_request_from_json(op_json),
                      [&](operation_request r) { return lift(store_->operation_begin(r)); });
    }
    sdk::result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json) override {
        return lift(store_->operation_advance(id, state, patch_json));
    }
    sdk::result<void> operation_commit(int64_t id, std::string_view cname_json) override {
        // A delete may pass "{}" or just {"hostname"}; the store checks the fields a create needs.
        return parsed(cname_from_json(cname_json.empty() ? std::string_view("{}") : cname_json),
                      [&](cname_row row) { return lift(store_->operation_commit(id, row)); });
    }
    sdk::result<std::string> operation_list_unfinished() override {
        return lift(store_->operation_list_unfinished(), as_json);
    }

    sdk::result<void> audit_append(std::string_view entry_json) override {
        return parsed(audit_entry_from_json(entry_json), [&](audit_entry e) { return lift(store_->audit_append(e)); });
    }
    sdk::result<std::string> audit_query(std::string_view filter_json) override {
        return parsed(audit_filter_from_json(filter_json),
                      [&](audit_filter f) { return lift(store_->audit_query(f), as_json); });
    }

    sdk::result<void> health_record(std::string_view json) override {
        return parsed(health_from_json(json), [&](health_observation h) { return lift(store_->health_record(h)); });
    }
    sdk::result<std::string> health_history(std::string_view filter_json) override {
        return parsed(health_filter_from_json(filter_json),
                      [&](health_filter f) { return lift(store_->health_history(f), as_json); });
    }

    sdk::result<void> domains_replace(std::string_view zones_json) override {
        return parsed(zones_from_json(zones_json),
                      [&](std::vector<zone> z) { return lift(store_->domains_replace(z)); });
    }
    sdk::result<std::string> domains_list() override { return lift(store_->domains_list(), as_json); }

    sdk::result<void> docker_snapshot_replace(std::string_view snapshot_json) override {
        return parsed(docker_snapshot_from_json(snapshot_json),
                      [&](docker_snapshot s) { return lift(store_->docker_snapshot_replace(s)); });
    }
    sdk::result<std::string> docker_snapshot_get() override { return lift(store_->docker_snapshot_get(), as_json); }

    sdk::result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) override {
        return lift(store_->lease_acquire(name, holder, ttl_ms));
    }
    sdk::result<void> lease_release(std::string_view name, std::string_view holder) override {
        return lift(store_->lease_release(name, holder));
    }

    sdk::result<int64_t> prune() override {
        auto deleted = lift(store_->prune());
        if (deleted && *deleted > 0) host_.debug(component, "pruned " + std::to_string(*deleted) + " old rows");
        return deleted;
    }

private:
    sdk::host host_;
    std::unique_ptr<sqlite_store> store_;
};

}  // namespace tunnelmgr::plugins::sqlite_state

TM_PLUGIN(tunnelmgr::plugins::sqlite_state::sqlite_state_plugin, "sqlite-state", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::sqlite_state::store_config_schema)
