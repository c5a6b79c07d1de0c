// See ingress_strategy.hpp.
#include "core/ingress_strategy.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "core/ingress_rules.hpp"
#include "core/json.hpp"
#include "core/metrics_probe.hpp"
#include "core/origin_settings.hpp"
#include "log/logger.hpp"
#include "sys/files.hpp"

namespace tunnelmgr::core {
namespace {


class local_ingress final : public ingress_strategy {
public:
    local_ingress(std::string file, std::string backup, int history_keep, tunnel_supervisor* sup, ready_probe* probe,
                  apply_timing t, cloudflared_check judge)
        : file_(std::move(file), std::move(backup), history_keep, std::move(judge)),
          supervisor_(sup),
          probe_(probe),
          timing_(std::move(t)) {
        if (!timing_.sleep) timing_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
        if (int n = file_.remove_leftovers(); n > 0) {
            log::info("ingress", "removed " + std::to_string(n) + " temporary file(s) a killed edit of " + file_.path() +
                                     " left behind");
        }
    }

    result<void> check_editable() override { return file_.check_editable(); }

    result<std::vector<ingress_rule>> list_rules() override { return file_.read_rules(); }
    result<std::map<std::string, std::string>> list_rule_origins() override { return file_.read_rule_origins(); }

    using ingress_strategy::add;
    result<bool> add(const std::string& hostname, const rule_target& to, const std::string& why) override {
        auto r = file_.add_rule(hostname, to.service, to.origin_request, why);
        if (!r) return tl::unexpected(r.error());
        backup_error_ = r->backup_error;
        return r->changed;
    }

    result<rule_target> replace(const std::string& hostname, const rule_target& to, const std::string& why) override {
        auto r = file_.replace_rule(hostname, to.service, to.origin_request, why);
        if (!r) return tl::unexpected(r.error());
        backup_error_ = r->backup_error;
        return rule_target{r->removed_service, r->removed_origin_request};
    }

    result<std::optional<std::string>> remove(const std::string& hostname, const std::string& why) override {
        auto r = file_.remove_rule(hostname, why);
        if (!r) return tl::unexpected(r.error());
        if (!r->changed) return std::optional<std::string>{};
        backup_error_ = r->backup_error;
        return std::optional<std::string>(r->removed_service);
    }

    result<std::string> apply() override {
        if (supervisor_ == nullptr) {
            return std::string("the ingress file is updated, but no supervisor is configured: restart cloudflared by "
                               "hand (e.g. `systemctl restart cloudflared`) for the change to take effect");
        }
        // The health loop leaves cloudflared alone until the new instance is ready (or the wait ends).
        struct counting {
            std::atomic<int>* n;
            explicit counting(std::atomic<int>* c) : n(c) {
                if (n) ++*n;
            }
            ~counting() {
                if (n) --*n;
            }
        } restarting(timing_.restarting);
        const int replicas = supervisor_->replica_count();
        if (replicas > 1) return rolling_restart(replicas);
        const instance before = current_instance(-1, probe_);
        auto restarted = supervisor_->restart();
        if (!restarted) {
            return fail(restarted.error().code, "cloudflared could not be restarted: " + restarted.error().message);
        }
        if (probe_ == nullptr) return std::string("cloudflared restarted");
        return wait_for_new_instance(-1, probe_, before);
    }

    std::string take_backup_error() override { return std::exchange(backup_error_, std::string()); }
    void write_history_after_reply() override { file_.write_history_after_reply(); }
    std::string flush_history() override { return file_.flush_history(); }

private:
    // Which cloudflared process is running: the supervisor's main PID and start time, and the
    // connectorId its /ready answers with (each process draws a new one).
    struct instance {
        std::optional<int64_t> pid;
        std::optional<int64_t> since_ms;
        std::string connector_id;
    };

    // Replicas one at a time: the next restarts only once the previous one's new instance is ready,
    // so while one restarts the others keep serving. A replica whose new instance never becomes ready
    // stops the roll (the change is rolled back; the replicas not reached still run the old rules).
    result<std::string> rolling_restart(int replicas) {
        std::string notes;
        for (int i = 0; i < replicas; ++i) {
            auto info = supervisor_->replica_info(i);
            // With replicas each names its own metrics address; none known (its status never answered)
            // means its /ready cannot be told from another's: restarted without waiting, and said so.
            ready_probe* probe = info.metrics.empty() ? nullptr : probe_for(info.metrics);
            const std::string name = info.name.empty() ? "replica " + std::to_string(i + 1) : info.name;
            const instance before = current_instance(i, probe);
            auto restarted = supervisor_->replica_restart(i);
            if (!restarted) {
                return fail(restarted.error().code, "cloudflared " + name + " (" + std::to_string(i + 1) + " of " +
                                                        std::to_string(replicas) + ") could not be restarted: " +
                                                        restarted.error().message);
            }
            if (probe == nullptr) {
                log::warn("ingress", name + " restarted without waiting for it: the supervisor has not said where it "
                                            "serves /ready (its status did not answer)");
                notes += (notes.empty() ? "" : "; ") + name + " restarted (not verified: its metrics address is unknown)";
                continue;
            }
            auto ready = wait_for_new_instance(i, probe, before);
            if (!ready) {
                return fail(ready.error().code, name + " (" + std::to_string(i + 1) + " of " + std::to_string(replicas) +
                                                    "): " + ready.error().message);
            }
            notes += (notes.empty() ? "" : "; ") + name + ": " + *ready;
        }
        return "rolling restart of " + std::to_string(replicas) + " replicas, one at a time: " + notes;
    }

    // The probe of a replica's metrics address ("": the tunnel's), made on first use.
    ready_probe* probe_for(const std::string& metrics) {
        if (metrics.empty()) return probe_;
        auto& p = replica_probes_[metrics];
        if (!p) p = timing_.replica_probe ? timing_.replica_probe(metrics) : std::make_unique<metrics_probe>(metrics);
        return p.get();
    }

    // replica -1: the whole (status()); else that replica's status.
    instance supervised_instance(int replica) {
        instance out;
        auto s = replica < 0 ? supervisor_->status() : supervisor_->replica_status(replica);
        if (s && s->running.value_or(false)) {
            out.pid = s->pid;
            out.since_ms = s->since_ms;
        }
        return out;
    }

    instance current_instance(int replica, ready_probe* probe) {
        instance out = supervised_instance(replica);
        if (probe != nullptr) {
            if (auto r = probe->ready()) out.connector_id = r->connector_id;
        }
        return out;
    }

    // A restart issued with --no-block returns while the old process still serves /ready (and
    // drains for its grace period), so an answer counts only once it comes from another process.
    // The connectorId decides when both answers carry one (it names the process that answered);
    // else the supervisor's main PID or start time; with nothing to compare, any answer counts.
    bool answered_by_new_instance(int replica, const instance& before, const ready_answer& now) {
        if (!before.connector_id.empty() && !now.connector_id.empty()) return now.connector_id != before.connector_id;
        if (!before.pid && !before.since_ms) return true;
        instance sup = supervised_instance(replica);
        if (before.pid && sup.pid) return *sup.pid != *before.pid;
        // since_ms may be computed from a monotonic clock at each call: 1 ms of rounding is no restart.
        if (before.since_ms && sup.since_ms) return *sup.since_ms > *before.since_ms + 1;
        return false;  // the supervisor cannot say (yet) which process runs: keep waiting
    }

    result<std::string> wait_for_new_instance(int replica, ready_probe* probe, const instance& before) {
        auto waited = std::chrono::milliseconds(0);
        std::string last = "no answer yet";
        bool saw_new = false;
        while (waited <= timing_.ready_timeout) {
            auto now = probe->ready();
            if (!now) {
                last = now.error().message;
            } else if (!answered_by_new_instance(replica, before, *now)) {
                last = "the old instance" + connector_text(now->connector_id) + " was still answering /ready";
            } else if (now->connections > 0) {
                return "cloudflared restarted and the new instance" + connector_text(now->connector_id) +
                       " is ready (" + std::to_string(now->connections) + " connections) after " +
                       std::to_string(waited.count()) + " ms";
            } else {
                saw_new = true;
                last = "the new instance" + connector_text(now->connector_id) + " has 0 ready connections";
            }
            timing_.sleep(timing_.poll_every);
            waited += timing_.poll_every;
        }
        return fail(errc::timeout, std::string("cloudflared was restarted but ") +
                                       (saw_new ? "the new instance did not report ready"
                                                : "no new instance answered /ready") +
                                       " within " + std::to_string(timing_.ready_timeout.count() / 1000) + " s (" +
                                       last + "): check `journalctl -u cloudflared` or its container logs");
    }

    static std::string connector_text(const std::string& id) {
        return id.empty() ? std::string() : " (connector " + id + ")";
    }

    ingress_file file_;
    tunnel_supervisor* supervisor_;
    ready_probe* probe_;
    apply_timing timing_;
    std::string backup_error_;
    std::map<std::string, std::unique_ptr<ready_probe>> replica_probes_;
};

// The remote strategy edits the tunnel's configuration document; only rules with our hostnames
// are touched, the rest (and originRequest) go back as they came.
//
// Cloudflare has no conditional PUT, so two read-modify-PUTs can lose one of the changes. Every
// tunnelmgr writer of this machine therefore holds one lock file for its whole read-modify-PUT-read,
// which is what keeps them from losing each other's rules. Writers that take no lock (the dashboard,
// a script) are met as well as the API allows: each PUT names the version it was read at, so the
// plugin reports a write that landed in between (its change may be lost: logged, it cannot be
// recovered), and the read after each PUT checks ours, written again when someone overwrote it, a
// bounded number of times.
class remote_ingress final : public ingress_strategy {
public:
    remote_ingress(dns_provider& dns, std::string tunnel, std::string lock_path)
        : dns_(dns), tunnel_(std::move(tunnel)), lock_path_(std::move(lock_path)) {}

    using ingress_strategy::add;
    result<bool> add(const std::string& hostname, const rule_target& to, const std::string&) override {
        const std::string host = sdk::fold_hostname(hostname);
        const std::string& service = to.service;
        auto changed = update("add " + host, [&](rapidjson::Document& doc) -> result<bool> {
            auto& ingress = doc["config"]["ingress"];
            auto& a = doc.GetAllocator();
            for (auto& r : ingress.GetArray()) {
                if (sdk::fold_hostname(json::str(r, "hostname")) == host && json::str(r, "path").empty()) {
                    if (json::str(r, "service") == service && same_origin(r, to.origin_request)) return false;
                    return fail(errc::conflict, "the tunnel's remote configuration already routes " + hostname + " to " +
                                                    json::str(r, "service") + "; that rule is not tunnelmgr's to change");
                }
            }
            auto rules = rules_of(doc);
            if (auto caught = first_rule_catching(rules, hostname)) {
                return tl::unexpected(shadowed_by(rules[*caught], *caught, host));
            }
            rapidjson::Value rule(rapidjson::kObjectType);
            rule.AddMember("hostname", rapidjson::Value(host.c_str(), a), a);
            rule.AddMember("service", rapidjson::Value(service.c_str(), a), a);
            set_origin(rule, to.origin_request, a);
            if (ingress.Empty()) {
                rapidjson::Value catch_all(rapidjson::kObjectType);
                catch_all.AddMember("service", "http_status:404", a);
                ingress.PushBack(catch_all, a);
            }
            // Insert before the catch-all: append, then rotate it into place.
            ingress.PushBack(rule, a);
            auto arr = ingress.GetArray();
            std::swap(arr[arr.Size() - 1], arr[arr.Size() - 2]);
            return true;
        });
        if (!changed) return tl::unexpected(changed.error());
        return changed->wrote;
    }

    result<rule_target> replace(const std::string& hostname, const rule_target& to, const std::string&) override {
        const std::string host = sdk::fold_hostname(hostname);
        std::optional<rule_target> had;  // from the first read
        auto changed = update("retarget " + host, [&](rapidjson::Document& doc) -> result<bool> {
            auto& a = doc.GetAllocator();
            for (auto& r : doc["config"]["ingress"].GetArray()) {
                if (sdk::fold_hostname(json::str(r, "hostname")) != host || !json::str(r, "path").empty()) continue;
                if (!had) {
                    auto o = r.FindMember("originRequest");
                    bool has = o != r.MemberEnd() && o->value.IsObject() && !o->value.ObjectEmpty();
                    had = rule_target{json::str(r, "service"), has ? json::to_string(o->value) : std::string()};
                }
                if (json::str(r, "service") == to.service && same_origin(r, to.origin_request)) return false;
                r.RemoveMember("service");
                r.AddMember("service", rapidjson::Value(to.service.c_str(), a), a);
                set_origin(r, to.origin_request, a);
                return true;
            }
            return fail(errc::not_found, "the tunnel's remote configuration has no rule for " + host +
                                             " to change (run `tunnelmgr reconcile` to restore it)");
        });
        if (!changed) return tl::unexpected(changed.error());
        return had.value_or(to);
    }

    result<std::optional<std::string>> remove(const std::string& hostname, const std::string&) override {
        const std::string host = sdk::fold_hostname(hostname);
        std::optional<std::string> had;  // from the first read that still had the rule
        auto changed = update("remove " + host, [&](rapidjson::Document& doc) -> result<bool> {
            auto& ingress = doc["config"]["ingress"];
            for (auto it = ingress.Begin(); it != ingress.End(); ++it) {
                if (sdk::fold_hostname(json::str(*it, "hostname")) == host && json::str(*it, "path").empty()) {
                    if (!had) had = json::str(*it, "service");
                    ingress.Erase(it);
                    return true;
                }
            }
            return false;
        });
        if (!changed) return tl::unexpected(changed.error());
        if (!changed->wrote) return std::optional<std::string>{};
        return had;
    }

    result<std::string> apply() override {
        return std::string("the tunnel's remote configuration is updated; cloudflared applies it live");
    }

    result<std::vector<ingress_rule>> list_rules() override {
        auto cfg = load();
        if (!cfg) return tl::unexpected(cfg.error());
        return rules_of(cfg->doc);
    }

    result<std::map<std::string, std::string>> list_rule_origins() override {
        auto cfg = load();
        if (!cfg) return tl::unexpected(cfg.error());
        std::map<std::string, std::string> out;
        for (const auto& r : (*cfg).doc["config"]["ingress"].GetArray()) {
            const std::string host = sdk::fold_hostname(json::str(r, "hostname"));
            if (host.empty() || !json::str(r, "path").empty()) continue;
            std::string origin;
            if (auto o = r.FindMember("originRequest"); o != r.MemberEnd() && !(o->value.IsObject() && o->value.ObjectEmpty())) {
                auto settings = origin_settings_from_json_text(json::to_string(o->value));
                origin = !settings ? "unmanaged: " + settings.error().message : settings->empty() ? "" : settings->to_json();
            }
            out.emplace(host, std::move(origin));
        }
        return out;
    }

private:
    static constexpr int max_writes = 5;

    struct remote_config {
        rapidjson::Document doc;        // {"config":{"ingress":[...],...}}
        std::optional<int64_t> version;  // absent when the plugin does not report versions
    };
    struct update_result {
        bool wrote = false;  // whether this call changed the stored configuration
    };

    // Read, let `edit` change the document (it returns false when the change is in effect already),
    // PUT, and read again until a read shows the change in effect: the read after a PUT is its check.
    template <class Edit>
    result<update_result> update(const std::string& what, Edit edit) {
        std::optional<sys::file_lock> lock;
        if (!lock_path_.empty()) {
            auto l = sys::file_lock::acquire(lock_path_);
            if (!l) {
                return fail(l.error().code, "cannot take the lock that serialises writes to the tunnel's remote "
                                            "configuration: " + l.error().message);
            }
            lock.emplace(std::move(*l));
        }
        update_result out;
        std::string last_problem;
        for (int writes = 0;; ++writes) {
            auto cfg = load();
            if (!cfg) return tl::unexpected(cfg.error());
            auto edited = edit(cfg->doc);
            if (!edited) return tl::unexpected(edited.error());
            if (!*edited) return out;
            if (out.wrote) {
                log::warn("ingress", "tunnel " + tunnel_ + ": " + what + ": the change is not in the remote configuration" +
                                         version_text(cfg->version) + " after it was stored (" + last_problem +
                                         "); writing it again");
            }
            if (writes == max_writes) {
                return fail(errc::retry, "the tunnel's remote configuration kept changing while tunnelmgr wrote it (" +
                                             std::to_string(max_writes) + " writes of `" + what + "` were each " +
                                             "undone by another writer): something else (the dashboard, a script, "
                                             "another machine) is rewriting it; stop that, then run the command again");
            }
            if (auto v = validate_ingress(rules_of(cfg->doc)); !v) return tl::unexpected(v.error());
            auto put = dns_.put_tunnel_config(tunnel_, put_body(cfg->doc, cfg->version));
            if (!put && put.error().code != errc::conflict) return tl::unexpected(put.error());
            out.wrote = true;
            // conflict: stored, but a write came between our read and our PUT and may now be lost; the
            // next read checks ours either way.
            last_problem = put ? "overwritten by another writer" : put.error().message;
            if (!put) log::warn("ingress", "tunnel " + tunnel_ + ": " + what + ": " + put.error().message);
        }
    }

    // Whether rule `r`'s own originRequest is `origin` (a JSON object text, "" for none).
    static bool same_origin(const rapidjson::Value& r, const std::string& origin) {
        auto o = r.FindMember("originRequest");
        const bool has = o != r.MemberEnd() && o->value.IsObject() && !o->value.ObjectEmpty();
        if (origin.empty() || origin == "{}") return !has;
        auto want = json::parse(origin);
        return has && want && o->value == *want;
    }

    // Sets rule `r`'s originRequest to `origin` ("" or "{}": none).
    static void set_origin(rapidjson::Value& r, const std::string& origin, rapidjson::Document::AllocatorType& a) {
        r.RemoveMember("originRequest");
        if (origin.empty() || origin == "{}") return;
        auto want = json::parse(origin);
        if (!want || !want->IsObject()) return;
        rapidjson::Value v;
        v.CopyFrom(*want, a);
        r.AddMember("originRequest", v, a);
    }

    static std::string version_text(const std::optional<int64_t>& v) {
        return v ? " (version " + std::to_string(*v) + ")" : std::string();
    }

    result<remote_config> load() {
        auto text = dns_.get_tunnel_config(tunnel_);
        if (!text) return tl::unexpected(text.error());
        auto doc = json::parse(*text);
        if (!doc || !doc->IsObject()) return fail(errc::error, "the tunnel configuration from the DNS provider is not JSON");
        remote_config out;
        if (auto v = doc->FindMember("version"); v != doc->MemberEnd() && v->value.IsInt64() && v->value.GetInt64() >= 0) {
            out.version = v->value.GetInt64();
        }
        auto& a = doc->GetAllocator();
        if (!doc->HasMember("config") || !(*doc)["config"].IsObject()) {
            doc->RemoveMember("config");
            doc->AddMember("config", rapidjson::Value(rapidjson::kObjectType), a);
        }
        auto& cfg = (*doc)["config"];
        if (!cfg.HasMember("ingress") || !cfg["ingress"].IsArray()) {
            cfg.RemoveMember("ingress");
            cfg.AddMember("ingress", rapidjson::Value(rapidjson::kArrayType), a);
        }
        out.doc = std::move(*doc);
        return out;
    }

    static std::vector<ingress_rule> rules_of(const rapidjson::Document& doc) {
        std::vector<ingress_rule> rules;
        for (const auto& r : doc["config"]["ingress"].GetArray()) {
            rules.push_back({json::str(r, "hostname"), json::str(r, "path"), json::str(r, "service")});
        }
        return rules;
    }

    // {"config":...,"version":N}: the version read, sent only to a plugin that reported one (so it
    // knows the field).
    static std::string put_body(const rapidjson::Document& doc, const std::optional<int64_t>& version) {
        rapidjson::Document body;
        body.SetObject();
        rapidjson::Value cfg;
        cfg.CopyFrom(doc["config"], body.GetAllocator());
        body.AddMember("config", cfg, body.GetAllocator());
        if (version) body.AddMember("version", rapidjson::Value(*version), body.GetAllocator());
        return json::to_string(body);
    }

    dns_provider& dns_;
    std::string tunnel_;
    std::string lock_path_;
};

}  // namespace

std::unique_ptr<ingress_strategy> make_local_ingress(std::string config_file, std::string backup_dir,
                                                     tunnel_supervisor* supervisor, ready_probe* probe,
                                                     apply_timing timing, int history_keep, cloudflared_check judge) {
    return std::make_unique<local_ingress>(std::move(config_file), std::move(backup_dir), history_keep, supervisor,
                                           probe, std::move(timing), std::move(judge));
}

std::unique_ptr<ingress_strategy> make_remote_ingress(dns_provider& dns, std::string tunnel_id, std::string lock_path) {
    return std::make_unique<remote_ingress>(dns, std::move(tunnel_id), std::move(lock_path));
}

}  // namespace tunnelmgr::core
