// See state_store_client.hpp.
#include "plugin_host/state_store_client.hpp"
#include "plugin_host/invoke.hpp"
#include "plugin_host/version.hpp"

#include <mutex>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::host {

namespace {

std::string s(std::string_view v) { return std::string(v); }

}  // namespace

state_store_client::state_store_client(plugin_instance& inst) : inst_(inst), t_(inst.library().state_store) {}

bool state_store_client::keeps_row_extras() const {
    auto v = parse_api_version(inst_.library().required_api);
    return v && (v->major > 1 || (v->major == 1 && v->minor >= 3));
}

bool state_store_client::counts_pending() const {
    auto v = parse_api_version(inst_.library().required_api);
    return t_.cname_count != nullptr && v && (v->major > 1 || (v->major == 1 && v->minor >= 4));
}

bool state_store_client::pages_after() const {
    auto v = parse_api_version(inst_.library().required_api);
    return v && (v->major > 1 || (v->major == 1 && v->minor >= 5));
}

core::error state_store_client::malformed(const char* function, const std::string& why) const {
    return {core::errc::error, "plugin '" + inst_.library().name + "': " + function +
                                   "() replied with something tunnelmgr cannot read (" + why +
                                   "): the plugin is broken; tell its author"};
}


core::result<int64_t> state_store_client::schema_version() {
    int64_t v = 0;
    auto r = invoke(inst_, "schema_version", [&] { return t_.schema_version(inst_.handle(), &v); });
    if (!r) return tl::unexpected(r.error());
    return v;
}

core::result<std::string> state_store_client::stats() { return invoke_json(inst_, "stats", [&](const char** json) { return t_.stats(inst_.handle(), json); }); }

core::result<int64_t> state_store_client::cname_insert(const sdk::model::cname_row& row_in) {
    int64_t id = 0;
    auto row = sdk::model::encode(row_in);
    auto r = invoke(inst_, "cname_insert", [&] { return t_.cname_insert(inst_.handle(), row.c_str(), &id); });
    if (!r) return tl::unexpected(r.error());
    return id;
}

core::result<void> state_store_client::cname_delete(std::string_view hostname) {
    auto h = s(hostname);
    return invoke(inst_, "cname_delete", [&] { return t_.cname_delete(inst_.handle(), h.c_str()); });
}

core::result<sdk::model::cname_row> state_store_client::cname_get(std::string_view hostname) {
    auto h = s(hostname);
    auto raw = invoke_json(inst_, "cname_get", [&](const char** json) { return t_.cname_get(inst_.handle(), h.c_str(), json); });
    if (!raw) return tl::unexpected(raw.error());
    auto row = sdk::model::decode_cname_row(*raw);
    if (!row) return tl::unexpected(malformed("cname_get", row.error()));
    return std::move(*row);
}

core::result<std::string> state_store_client::cname_list(std::string_view filter_json) {
    auto f = s(filter_json);
    return invoke_json(inst_, "cname_list", [&](const char** json) { return t_.cname_list(inst_.handle(), f.c_str(), json); });
}

core::result<int64_t> state_store_client::operation_begin(std::string_view op_json) {
    int64_t id = 0;
    auto op = s(op_json);
    auto r = invoke(inst_, "operation_begin", [&] { return t_.operation_begin(inst_.handle(), op.c_str(), &id); });
    if (!r) return tl::unexpected(r.error());
    return id;
}

core::result<void> state_store_client::operation_advance(int64_t id, std::string_view state, std::string_view patch_json) {
    auto st = s(state), p = s(patch_json);
    return invoke(inst_, "operation_advance", [&] { return t_.operation_advance(inst_.handle(), id, st.c_str(), p.c_str()); });
}

std::string state_store_client::commit_json(const sdk::model::cname_row& row) {
    const bool only_hostname = !row.id && row.subdomain.empty() && row.domain.empty() && row.project.empty() &&
                               row.port == 0 && row.target.empty() && !row.target_type && !row.container_name &&
                               !row.docker_network && !row.dns_record_id && !row.zone_id && !row.created_at;
    if (!only_hostname) return sdk::model::encode(row);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("hostname");
    w.String(row.hostname.c_str(), static_cast<rapidjson::SizeType>(row.hostname.size()));
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

core::result<void> state_store_client::operation_commit(int64_t id, const sdk::model::cname_row& row) {
    auto c = commit_json(row);
    return invoke(inst_, "operation_commit", [&] { return t_.operation_commit(inst_.handle(), id, c.c_str()); });
}

core::result<std::string> state_store_client::operation_list_unfinished() {
    return invoke_json(inst_, "operation_list_unfinished", [&](const char** json) { return t_.operation_list_unfinished(inst_.handle(), json); });
}

core::result<void> state_store_client::audit_append(const sdk::model::audit_entry& entry) {
    auto e = sdk::model::encode(entry);
    return invoke(inst_, "audit_append", [&] { return t_.audit_append(inst_.handle(), e.c_str()); });
}

core::result<std::string> state_store_client::audit_query(std::string_view filter_json) {
    auto f = s(filter_json);
    return invoke_json(inst_, "audit_query", [&](const char** json) { return t_.audit_query(inst_.handle(), f.c_str(), json); });
}

core::result<void> state_store_client::health_record(const sdk::model::health_sample& sample) {
    auto j = sdk::model::encode(sample);
    return invoke(inst_, "health_record", [&] { return t_.health_record(inst_.handle(), j.c_str()); });
}

core::result<std::string> state_store_client::health_history(std::string_view filter_json) {
    auto f = s(filter_json);
    return invoke_json(inst_, "health_history", [&](const char** json) { return t_.health_history(inst_.handle(), f.c_str(), json); });
}

core::result<void> state_store_client::domains_replace(const std::vector<sdk::model::zone>& zones) {
    auto z = sdk::model::encode(zones);
    return invoke(inst_, "domains_replace", [&] { return t_.domains_replace(inst_.handle(), z.c_str()); });
}

core::result<std::vector<sdk::model::zone>> state_store_client::domains_list() {
    auto raw = invoke_json(inst_, "domains_list", [&](const char** json) { return t_.domains_list(inst_.handle(), json); });
    if (!raw) return tl::unexpected(raw.error());
    auto zones = sdk::model::decode_zones(*raw);
    if (!zones) return tl::unexpected(malformed("domains_list", zones.error()));
    return std::move(*zones);
}

core::result<void> state_store_client::docker_snapshot_replace(const sdk::model::docker_snapshot& snapshot) {
    auto sn = sdk::model::encode(snapshot);
    return invoke(inst_, "docker_snapshot_replace", [&] { return t_.docker_snapshot_replace(inst_.handle(), sn.c_str()); });
}

core::result<sdk::model::docker_snapshot> state_store_client::docker_snapshot_get() {
    auto raw = invoke_json(inst_, "docker_snapshot_get", [&](const char** json) { return t_.docker_snapshot_get(inst_.handle(), json); });
    if (!raw) return tl::unexpected(raw.error());
    auto snapshot = sdk::model::decode_docker_snapshot(*raw);
    if (!snapshot) return tl::unexpected(malformed("docker_snapshot_get", snapshot.error()));
    return std::move(*snapshot);
}

core::result<bool> state_store_client::lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) {
    int32_t got = 0;
    auto n = s(name), h = s(holder);
    auto r = invoke(inst_, "lease_acquire", [&] { return t_.lease_acquire(inst_.handle(), n.c_str(), h.c_str(), ttl_ms, &got); });
    if (!r) return tl::unexpected(r.error());
    return got != 0;
}

core::result<void> state_store_client::lease_release(std::string_view name, std::string_view holder) {
    auto n = s(name), h = s(holder);
    return invoke(inst_, "lease_release", [&] { return t_.lease_release(inst_.handle(), n.c_str(), h.c_str()); });
}

core::result<int64_t> state_store_client::prune() {
    int64_t n = 0;
    auto r = invoke(inst_, "prune", [&] { return t_.prune(inst_.handle(), &n); });
    if (!r) return tl::unexpected(r.error());
    return n;
}

core::result<int64_t> state_store_client::cname_count(std::string_view filter_json) {
    auto f = s(filter_json);
    if (t_.cname_count != nullptr) {
        int64_t n = 0;
        auto r = invoke(inst_, "cname_count", [&] { return t_.cname_count(inst_.handle(), f.c_str(), &n); });
        if (r) return n;
    }
    // A 1.0 store (or one that does not count): count the listed rows.
    auto rows = cname_list(f);
    if (!rows) return tl::unexpected(rows.error());
    rapidjson::Document d;
    d.Parse(rows->c_str());
    if (d.HasParseError() || !d.IsArray()) return core::fail(core::errc::error, "the state store listed malformed rows");
    return static_cast<int64_t>(d.Size());
}

}  // namespace tunnelmgr::host
