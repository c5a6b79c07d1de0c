// The tm_state_store_v1 adapter every stock store shares: JSON in through store_json, a call on the
// store's domain class, JSON out, store_error kinds mapped to tm_rc. The semantics live in the store
// class; a store's plugin.cpp only opens its store and names itself (see sqlite-state, postgres-state).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <tunnelmgr/sdk/plugin.hpp>

#include "state_rows/store_error.hpp"
#include "state_rows/store_json.hpp"
#include "state_rows/store_types.hpp"

namespace tunnelmgr::plugins::state_rows {

inline tm_rc to_rc(store_errc kind) {
    switch (kind) {
        case store_errc::invalid: return TM_INVALID;
        case store_errc::not_found: return TM_NOT_FOUND;
        case store_errc::conflict: return TM_CONFLICT;
        case store_errc::busy: return TM_RETRY;
        case store_errc::error: return TM_ERROR;
    }
    return TM_ERROR;
}

namespace adapter_detail {

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

// Calls `use` with the parsed value; parse errors come back as TM_INVALID.
template <class Parsed, class Use>
auto parsed(store_result<Parsed>&& p, Use&& use) -> decltype(use(std::move(*p))) {
    if (!p) return sdk::fail(to_rc(p.error().kind), std::move(p.error().message));
    return use(std::move(*p));
}

inline const auto as_json = [](auto&& value) { return to_json(value); };

}  // namespace adapter_detail

// Store: a domain class with the methods of sqlite_store (cname_insert(const cname_row&), ...).
// `component` names the plugin in log lines.
template <class Store>
class store_plugin : public sdk::plugin, public sdk::state_store_v1 {
public:
    store_plugin(const sdk::host& host, const char* component) : host_(host), component_(component) {}

    sdk::result<int64_t> schema_version() override { return adapter_detail::lift(store_->schema_version()); }
    sdk::result<std::string> stats() override { return adapter_detail::lift(store_->stats(), adapter_detail::as_json); }

    sdk::result<int64_t> cname_insert(std::string_view row_json) override {
        return adapter_detail::parsed(cname_from_json(row_json),
                                      [&](cname_row row) { return adapter_detail::lift(store_->cname_insert(row)); });
    }
    sdk::result<void> cname_delete(std::string_view hostname) override {
        return adapter_detail::lift(store_->cname_delete(hostname));
    }
    sdk::result<std::string> cname_get(std::string_view hostname) override {
        return adapter_detail::lift(store_->cname_get(hostname), adapter_detail::as_json);
    }
    sdk::result<std::string> cname_list(std::string_view filter_json) override {
        return adapter_detail::parsed(cname_filter_from_json(filter_json), [&](cname_filter f) {
            return adapter_detail::lift(store_->cname_list(f), adapter_detail::as_json);
        });
    }
    sdk::result<int64_t> cname_count(std::string_view filter_json) override {
        return adapter_detail::parsed(cname_filter_from_json(filter_json),
                                      [&](cname_filter f) { return adapter_detail::lift(store_->cname_count(f)); });
    }

    sdk::result<int64_t> operation_begin(std::string_view op_json) override {
        return adapter_detail::parsed(operation_request_from_json(op_json), [&](operation_request r) {
            return adapter_detail::lift(store_->operation_begin(r));
        });
    }
    sdk::result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json) override {
        return adapter_detail::lift(store_->operation_advance(id, state, patch_json));
    }
    sdk::result<void> operation_commit(int64_t id, std::string_view cname_json) override {
        // A delete may pass "{}" or just {"hostname"}; the store checks the fields a create needs.
        return adapter_detail::parsed(cname_from_json(cname_json.empty() ? std::string_view("{}") : cname_json),
                                      [&](cname_row row) { return adapter_detail::lift(store_->operation_commit(id, row)); });
    }
    sdk::result<std::string> operation_list_unfinished() override {
        return adapter_detail::lift(store_->operation_list_unfinished(), adapter_detail::as_json);
    }

    sdk::result<void> audit_append(std::string_view entry_json) override {
        return adapter_detail::parsed(audit_entry_from_json(entry_json),
                                      [&](audit_entry e) { return adapter_detail::lift(store_->audit_append(e)); });
    }
    sdk::result<std::string> audit_query(std::string_view filter_json) override {
        return adapter_detail::parsed(audit_filter_from_json(filter_json), [&](audit_filter f) {
            return adapter_detail::lift(store_->audit_query(f), adapter_detail::as_json);
        });
    }

    sdk::result<void> health_record(std::string_view json) override {
        return adapter_detail::parsed(health_from_json(json), [&](health_observation h) {
            return adapter_detail::lift(store_->health_record(h));
        });
    }
    sdk::result<std::string> health_history(std::string_view filter_json) override {
        return adapter_detail::parsed(health_filter_from_json(filter_json), [&](health_filter f) {
            return adapter_detail::lift(store_->health_history(f), adapter_detail::as_json);
        });
    }

    sdk::result<void> domains_replace(std::string_view zones_json) override {
        return adapter_detail::parsed(zones_from_json(zones_json), [&](std::vector<zone> z) {
            return adapter_detail::lift(store_->domains_replace(z));
        });
    }
    sdk::result<std::string> domains_list() override {
        return adapter_detail::lift(store_->domains_list(), adapter_detail::as_json);
    }

    sdk::result<void> docker_snapshot_replace(std::string_view snapshot_json) override {
        return adapter_detail::parsed(docker_snapshot_from_json(snapshot_json), [&](docker_snapshot s) {
            return adapter_detail::lift(store_->docker_snapshot_replace(s));
        });
    }
    sdk::result<std::string> docker_snapshot_get() override {
        return adapter_detail::lift(store_->docker_snapshot_get(), adapter_detail::as_json);
    }

    sdk::result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) override {
        return adapter_detail::lift(store_->lease_acquire(name, holder, ttl_ms));
    }
    sdk::result<void> lease_release(std::string_view name, std::string_view holder) override {
        return adapter_detail::lift(store_->lease_release(name, holder));
    }

    sdk::result<int64_t> prune() override {
        auto deleted = adapter_detail::lift(store_->prune());
        if (deleted && *deleted > 0) host_.debug(component_, "pruned " + std::to_string(*deleted) + " old rows");
        return deleted;
    }

protected:
    sdk::host host_;
    const char* component_;
    std::unique_ptr<Store> store_;  // set by the derived plugin's constructor
};

}  // namespace tunnelmgr::plugins::state_rows
