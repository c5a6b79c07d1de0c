// A deliberately broken state_store_v1 for tunnelmgr-plugin-check's own tests: an in-memory store,
// shared by every instance opened on the same "path", that keeps every rule of plugin_api.h (1.5) except three:
//   1. hostname uniqueness in cname_insert is case-sensitive ("App.example.com" and "app.example.com" coexist);
//   2. operation_begin never refuses a second unfinished operation on the same hostname;
//   3. audit_query's "before_id" lets the entry of that id in too (health_history's does not), so paging
//      the audit log sees the last entry of each page twice.
// The conformance suite must name exactly these rules.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <tunnelmgr/sdk/plugin.hpp>

namespace {

using namespace tunnelmgr;
using doc_t = rapidjson::Document;
using alloc_t = rapidjson::Document::AllocatorType;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string text(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return std::string(buf.GetString(), buf.GetSize());
}

sdk::result<doc_t> parse(std::string_view json, bool object_only = true) {
    doc_t d;
    d.Parse(json.data(), json.size());
    if (d.HasParseError() || (object_only && !d.IsObject())) return sdk::fail(TM_INVALID, "expected a JSON object");
    return d;
}

std::string str(const rapidjson::Value& v, const char* key) {
    auto it = v.FindMember(key);
    return it != v.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
}

int64_t num(const rapidjson::Value& v, const char* key, int64_t fallback) {
    auto it = v.FindMember(key);
    return it != v.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : fallback;
}

bool has(const rapidjson::Value& v, const char* key) { return v.FindMember(key) != v.MemberEnd(); }

// RFC 7396 JSON merge patch.
void merge_patch(rapidjson::Value& target, const rapidjson::Value& patch, alloc_t& a) {
    if (!patch.IsObject()) {
        target.CopyFrom(patch, a);
        return;
    }
    if (!target.IsObject()) target.SetObject();
    for (const auto& m : patch.GetObject()) {
        if (m.value.IsNull()) {
            target.RemoveMember(m.name);
            continue;
        }
        auto it = target.FindMember(m.name);
        if (it != target.MemberEnd()) {
            merge_patch(it->value, m.value, a);
        } else {
            rapidjson::Value k(m.name, a), v;
            merge_patch(v, m.value, a);
            target.AddMember(k, v, a);
        }
    }
}

struct operation {
    int64_t id;
    std::string kind, hostname, project, state;
    doc_t data;
};

struct row {
    int64_t id, ts;
    doc_t doc;
};

// Everything one "path" holds; every instance opened on it shares this.
struct shared_state {
    std::mutex mutex;
    int64_t next_id = 1;
    std::map<std::string, row> cnames;  // ordered by hostname
    std::vector<operation> operations;
    std::vector<row> audit, health;
    doc_t zones{rapidjson::kArrayType};
    doc_t snapshot{rapidjson::kObjectType};
    std::map<std::string, std::pair<std::string, int64_t>> leases;  // name -> holder, expires
};

std::shared_ptr<shared_state> state_for(const std::string& path) {
    static std::mutex m;
    static std::map<std::string, std::shared_ptr<shared_state>> all;
    std::lock_guard<std::mutex> lock(m);
    auto& s = all[path];
    if (!s) s = std::make_shared<shared_state>();
    return s;
}

bool finished(const std::string& state) { return state == "committed" || state == "rolled_back"; }

// Rows newest first, filtered, limited; `keep` decides per row. With "before_id" (since 1.4) ordered by id,
// otherwise by time (a given ts may be older than rows appended before it).
template <class Keep>
std::string newest_first(const std::vector<row>& rows, int64_t limit, bool by_id, Keep keep) {
    std::vector<const row*> order;
    for (const auto& r : rows) order.push_back(&r);  // appended in id order
    if (!by_id) {
        std::stable_sort(order.begin(), order.end(), [](const row* a, const row* b) { return a->ts < b->ts; });
    }
    doc_t out(rapidjson::kArrayType);
    for (auto it = order.rbegin(); it != order.rend() && static_cast<int64_t>(out.Size()) < limit; ++it) {
        if (!keep(**it)) continue;
        rapidjson::Value v;
        v.CopyFrom((*it)->doc, out.GetAllocator());
        v.AddMember("id", (*it)->id, out.GetAllocator());
        v.AddMember("ts", (*it)->ts, out.GetAllocator());
        out.PushBack(v, out.GetAllocator());
    }
    return text(out);
}

// An appended entry: a given "ts" (> 0) is kept (since 1.4), else now; the store's own id and ts replace
// any in the entry.
row entry_row(int64_t id, doc_t d) {
    const int64_t given = num(d, "ts", 0);
    d.RemoveMember("id");
    d.RemoveMember("ts");
    return row{id, given > 0 ? given : now_ms(), std::move(d)};
}

class broken_store final : public sdk::plugin, public sdk::state_store_v1 {
public:
    broken_store(const sdk::host&, std::string_view config_json) {
        auto cfg = parse(config_json);
        if (!cfg || str(*cfg, "path").empty()) throw std::runtime_error("broken-store needs {\"path\": \"...\"}");
        s_ = state_for(str(*cfg, "path"));
    }

    sdk::result<int64_t> schema_version() override { return 1; }
    sdk::result<std::string> stats() override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        return "{\"schema_version\":1,\"cnames\":" + std::to_string(s_->cnames.size()) + "}";
    }

    sdk::result<int64_t> cname_insert(std::string_view row_json) override {
        auto d = parse(row_json);
        if (!d) return tl::unexpected(d.error());
        std::lock_guard<std::mutex> lock(s_->mutex);
        return insert_locked(std::move(*d));
    }
    sdk::result<void> cname_delete(std::string_view hostname) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (s_->cnames.erase(std::string(hostname)) == 0) return sdk::fail(TM_NOT_FOUND, "no row for that hostname");
        return {};
    }
    sdk::result<std::string> cname_get(std::string_view hostname) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        auto it = s_->cnames.find(std::string(hostname));
        if (it == s_->cnames.end()) return sdk::fail(TM_NOT_FOUND, "no row for that hostname");
        return text(it->second.doc);
    }
    sdk::result<std::string> cname_list(std::string_view filter_json) override {
        auto f = parse(filter_json.empty() ? "{}" : filter_json);
        if (!f) return tl::unexpected(f.error());
        const std::string project = str(*f, "project");
        const int64_t limit = num(*f, "limit", 10000), offset = num(*f, "offset", 0);
        const bool expiring = has(*f, "expires_before");  // since 1.3
        const int64_t before = num(*f, "expires_before", 0);
        // Since 1.5 (kept right: this store's bugs are elsewhere): keyset pages, never with an offset.
        const bool keyset = has(*f, "after");
        const std::string after = str(*f, "after");
        if (keyset && has(*f, "offset")) return sdk::fail(TM_INVALID, "give filter.after or filter.offset, not both");
        std::lock_guard<std::mutex> lock(s_->mutex);
        doc_t out(rapidjson::kArrayType);
        int64_t skipped = 0;
        for (auto it = keyset ? s_->cnames.upper_bound(after) : s_->cnames.begin(); it != s_->cnames.end(); ++it) {
            const auto& r = it->second;
            if (!project.empty() && str(r.doc, "project") != project) continue;
            if (expiring && (!has(r.doc, "expires_at") || !r.doc["expires_at"].IsInt64() ||
                             r.doc["expires_at"].GetInt64() > before)) {
                continue;
            }
            if (skipped++ < offset) continue;
            if (static_cast<int64_t>(out.Size()) >= limit) break;
            rapidjson::Value v;
            v.CopyFrom(r.doc, out.GetAllocator());
            out.PushBack(v, out.GetAllocator());
        }
        return text(out);
    }
    sdk::result<int64_t> cname_count(std::string_view filter_json) override {
        auto f = parse(filter_json.empty() ? "{}" : filter_json);
        if (!f) return tl::unexpected(f.error());
        const std::string project = str(*f, "project");
        std::lock_guard<std::mutex> lock(s_->mutex);
        auto n = static_cast<int64_t>(std::count_if(s_->cnames.begin(), s_->cnames.end(), [&](const auto& e) {
            return project.empty() || str(e.second.doc, "project") == project;
        }));
        // Since 1.4 (kept right: this store's bugs are elsewhere): "pending_before" adds the project's
        // unfinished creates begun earlier.
        if (auto before = f->FindMember("pending_before"); before != f->MemberEnd() && before->value.IsInt64()) {
            for (const auto& op : s_->operations) {
                if (op.kind == "create" && op.project == project && op.id < before->value.GetInt64() &&
                    op.state != "committed" && op.state != "rolled_back") {
                    ++n;
                }
            }
        }
        return n;
    }

    sdk::result<int64_t> operation_begin(std::string_view op_json) override {
        auto d = parse(op_json);
        if (!d) return tl::unexpected(d.error());
        std::lock_guard<std::mutex> lock(s_->mutex);
        // Broken on purpose: no check for another unfinished operation on the same hostname.
        operation op;
        op.id = s_->next_id++;
        op.kind = str(*d, "kind");
        op.hostname = str(*d, "hostname");
        op.project = str(*d, "project");
        op.state = "validated";
        op.data.SetObject();
        rapidjson::Value req;
        if (has(*d, "request")) req.CopyFrom((*d)["request"], op.data.GetAllocator());
        else req.SetObject();
        op.data.AddMember("request", req, op.data.GetAllocator());
        s_->operations.push_back(std::move(op));
        return s_->operations.back().id;
    }
    sdk::result<void> operation_advance(int64_t id, std::string_view state, std::string_view patch_json) override {
        auto patch = parse(patch_json.empty() ? "{}" : patch_json);
        if (!patch) return tl::unexpected(patch.error());
        std::lock_guard<std::mutex> lock(s_->mutex);
        operation* op = find(id);
        if (op == nullptr) return sdk::fail(TM_NOT_FOUND, "no operation " + std::to_string(id));
        if (finished(op->state)) return sdk::fail(TM_CONFLICT, "operation " + std::to_string(id) + " is finished");
        op->state = std::string(state);
        merge_patch(op->data, *patch, op->data.GetAllocator());
        return {};
    }
    sdk::result<void> operation_commit(int64_t id, std::string_view cname_json) override {
        auto d = parse(cname_json.empty() ? "{}" : cname_json);
        if (!d) return tl::unexpected(d.error());
        std::lock_guard<std::mutex> lock(s_->mutex);
        operation* op = find(id);
        if (op == nullptr) return sdk::fail(TM_NOT_FOUND, "no operation " + std::to_string(id));
        if (op->state == "committed") return {};
        if (op->state == "rolled_back") return sdk::fail(TM_CONFLICT, "operation was rolled back");
        if (op->kind == "create") {
            auto inserted = insert_locked(std::move(*d));
            if (!inserted) return tl::unexpected(inserted.error());
        } else if (op->kind == "retarget") {  // since 1.3: the new row, with the old id and created_at
            auto it = s_->cnames.find(op->hostname);
            if (it == s_->cnames.end()) return sdk::fail(TM_NOT_FOUND, "no row for " + op->hostname + " to retarget");
            for (const char* kept : {"id", "created_at"}) {
                d->RemoveMember(kept);
                if (!has(it->second.doc, kept)) continue;
                rapidjson::Value key(kept, d->GetAllocator()), value(it->second.doc[kept], d->GetAllocator());
                d->AddMember(key, value, d->GetAllocator());
            }
            it->second.doc = std::move(*d);
        } else {
            s_->cnames.erase(op->hostname);
        }
        op->state = "committed";
        return {};
    }
    sdk::result<std::string> operation_list_unfinished() override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        doc_t out(rapidjson::kArrayType);
        auto& a = out.GetAllocator();
        for (const auto& op : s_->operations) {
            if (finished(op.state)) continue;
            rapidjson::Value v(rapidjson::kObjectType), data;
            data.CopyFrom(op.data, a);
            v.AddMember("id", op.id, a);
            v.AddMember("kind", rapidjson::Value(op.kind.c_str(), a), a);
            v.AddMember("hostname", rapidjson::Value(op.hostname.c_str(), a), a);
            v.AddMember("project", rapidjson::Value(op.project.c_str(), a), a);
            v.AddMember("state", rapidjson::Value(op.state.c_str(), a), a);
            v.AddMember("data", data, a);
            out.PushBack(v, a);
        }
        return text(out);
    }

    sdk::result<void> audit_append(std::string_view entry_json) override {
        auto d = parse(entry_json);
        if (!d) return tl::unexpected(d.error());
        std::lock_guard<std::mutex> lock(s_->mutex);
        s_->audit.push_back(entry_row(s_->next_id++, std::move(*d)));
        return {};
    }
    sdk::result<std::string> audit_query(std::string_view filter_json) override {
        auto f = parse(filter_json.empty() ? "{}" : filter_json);
        if (!f) return tl::unexpected(f.error());
        const std::string project = str(*f, "project"), action = str(*f, "action");
        const int64_t since = num(*f, "since_ms", 0);
        const bool paging = has(*f, "before_id");
        const int64_t before = num(*f, "before_id", 0);
        std::lock_guard<std::mutex> lock(s_->mutex);
        return newest_first(s_->audit, num(*f, "limit", 100), paging, [&](const row& r) {
            std::string p = str(r.doc, "project");
            if (p.empty() && str(r.doc, "role") == "project") p = str(r.doc, "actor");
            // Broken on purpose: <= lets the entry of before_id itself in again.
            return (project.empty() || p == project) && (action.empty() || str(r.doc, "action") == action) &&
                   r.ts >= since && (!paging || r.id <= before);
        });
    }

    sdk::result<void> health_record(std::string_view json) override {
        auto d = parse(json);
        if (!d) return tl::unexpected(d.error());
        std::lock_guard<std::mutex> lock(s_->mutex);
        s_->health.push_back(entry_row(s_->next_id++, std::move(*d)));
        return {};
    }
    sdk::result<std::string> health_history(std::string_view filter_json) override {
        auto f = parse(filter_json.empty() ? "{}" : filter_json);
        if (!f) return tl::unexpected(f.error());
        const int64_t since = num(*f, "since_ms", 0);
        const bool paging = has(*f, "before_id");
        const int64_t before = num(*f, "before_id", 0);
        std::lock_guard<std::mutex> lock(s_->mutex);
        return newest_first(s_->health, num(*f, "limit", 100), paging,
                            [&](const row& r) { return r.ts >= since && (!paging || r.id < before); });
    }

    sdk::result<void> domains_replace(std::string_view zones_json) override {
        auto d = parse(zones_json, false);
        if (!d || !d->IsArray()) return sdk::fail(TM_INVALID, "zones must be a JSON array");
        std::sort(d->Begin(), d->End(), [](const rapidjson::Value& x, const rapidjson::Value& y) {
            return str(x, "name") < str(y, "name");
        });
        std::lock_guard<std::mutex> lock(s_->mutex);
        s_->zones.Swap(*d);
        return {};
    }
    sdk::result<std::string> domains_list() override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        return text(s_->zones);
    }

    sdk::result<void> docker_snapshot_replace(std::string_view snapshot_json) override {
        auto d = parse(snapshot_json);
        if (!d) return tl::unexpected(d.error());
        d->RemoveMember("taken_ms");
        d->AddMember("taken_ms", now_ms(), d->GetAllocator());
        std::lock_guard<std::mutex> lock(s_->mutex);
        s_->snapshot.Swap(*d);
        return {};
    }
    sdk::result<std::string> docker_snapshot_get() override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        return text(s_->snapshot);
    }

    sdk::result<bool> lease_acquire(std::string_view name, std::string_view holder, int64_t ttl_ms) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        const int64_t now = now_ms();
        auto it = s_->leases.find(std::string(name));
        if (it != s_->leases.end() && it->second.first != holder && it->second.second > now) return false;
        s_->leases[std::string(name)] = {std::string(holder), now + ttl_ms};
        return true;
    }
    sdk::result<void> lease_release(std::string_view name, std::string_view holder) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        auto it = s_->leases.find(std::string(name));
        if (it != s_->leases.end() && it->second.first == holder) s_->leases.erase(it);
        return {};
    }

    sdk::result<int64_t> prune() override { return 0; }

private:
    operation* find(int64_t id) {
        for (auto& op : s_->operations) {
            if (op.id == id) return &op;
        }
        return nullptr;
    }

    sdk::result<int64_t> insert_locked(doc_t d) {
        const std::string host = str(d, "hostname");
        if (host.empty()) return sdk::fail(TM_INVALID, "the row needs a hostname");
        // Broken on purpose: an exact comparison, so names differing only in case both get in.
        if (s_->cnames.count(host) != 0) return sdk::fail(TM_CONFLICT, host + " is taken");
        const int64_t id = s_->next_id++;
        d.RemoveMember("id");
        d.AddMember("id", id, d.GetAllocator());
        s_->cnames.emplace(host, row{id, now_ms(), std::move(d)});
        return id;
    }

    std::shared_ptr<shared_state> s_;
};

}  // namespace

TM_PLUGIN(broken_store, "broken-store", "0.0.1",
          R"({"type":"object","required":["path"],"properties":{"path":{"type":"string"}}})")
