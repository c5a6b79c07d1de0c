// See ingress_strategy.hpp.
#include "core/ingress_strategy.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <algorithm>
#include <thread>

#include "core/ingress_rules.hpp"
#include "core/json.hpp"

namespace tunnelmgr::core {
namespace {


class local_ingress final : public ingress_strategy {
public:
    local_ingress(std::string file, std::string backup, tunnel_supervisor* sup, ready_probe* probe, apply_timing t)
        : file_(std::move(file), std::move(backup)), supervisor_(sup), probe_(probe), timing_(std::move(t)) {
        if (!timing_.sleep) timing_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    }

    result<bool> add(const std::string& hostname, const std::string& service, const std::string& why) override {
        auto r = file_.add_rule(hostname, service, why);
        if (!r) return tl::unexpected(r.error());
        backup_error_ = r->backup_error;
        return r->changed;
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
        auto restarted = supervisor_->restart();
        if (!restarted) {
            return fail(restarted.error().code, "cloudflared could not be restarted: " + restarted.error().message);
        }
        if (probe_ == nullptr) return std::string("cloudflared restarted");
        auto waited = std::chrono::milliseconds(0);
        std::string last;
        while (waited <= timing_.ready_timeout) {
            auto n = probe_->ready_connections();
            if (n && *n > 0) {
                return "cloudflared restarted and ready (" + std::to_string(*n) + " connections) after " +
                       std::to_string(waited.count()) + " ms";
            }
            last = n ? "0 ready connections" : n.error().message;
            timing_.sleep(timing_.poll_every);
            waited += timing_.poll_every;
        }
        return fail(errc::timeout, "cloudflared was restarted but did not report ready within " +
                                       std::to_string(timing_.ready_timeout.count() / 1000) + " s (" + last +
                                       "): check `journalctl -u cloudflared` or its container logs");
    }

    std::string take_backup_error() override { return std::exchange(backup_error_, std::string()); }

private:
    ingress_file file_;
    tunnel_supervisor* supervisor_;
    ready_probe* probe_;
    apply_timing timing_;
    std::string backup_error_;
};

// The remote strategy edits the tunnel's configuration document; only rules with our hostnames
// are touched, the rest (and originRequest) go back as they came.
class remote_ingress final : public ingress_strategy {
public:
    remote_ingress(dns_provider& dns, std::string tunnel) : dns_(dns), tunnel_(std::move(tunnel)) {}

    result<bool> add(const std::string& hostname, const std::string& service, const std::string&) override {
        auto doc = load();
        if (!doc) return tl::unexpected(doc.error());
        auto& ingress = (*doc)["config"]["ingress"];
        auto& a = doc->GetAllocator();
        for (auto& r : ingress.GetArray()) {
            if (sdk::fold_hostname(json::str(r, "hostname")) == sdk::fold_hostname(hostname) && json::str(r, "path").empty()) {
                if (json::str(r, "service") == service) return false;
                return fail(errc::conflict, "the tunnel's remote configuration already routes " + hostname + " to " +
                                                json::str(r, "service") + "; that rule is not tunnelmgr's to change");
            }
        }
        std::vector<ingress_rule> rules;
        for (const auto& r : ingress.GetArray()) {
            rules.push_back({json::str(r, "hostname"), json::str(r, "path"), json::str(r, "service")});
        }
        if (auto caught = first_rule_catching(rules, hostname)) {
            return tl::unexpected(shadowed_by(rules[*caught], *caught, sdk::fold_hostname(hostname)));
        }
        rapidjson::Value rule(rapidjson::kObjectType);
        rule.AddMember("hostname", rapidjson::Value(sdk::fold_hostname(hostname).c_str(), a), a);
        rule.AddMember("service", rapidjson::Value(service.c_str(), a), a);
        if (ingress.Empty()) {
            rapidjson::Value catch_all(rapidjson::kObjectType);
            catch_all.AddMember("service", "http_status:404", a);
            ingress.PushBack(catch_all, a);
        }
        // Insert before the catch-all: append, then rotate it into place.
        ingress.PushBack(rule, a);
        auto arr = ingress.GetArray();
        std::swap(arr[arr.Size() - 1], arr[arr.Size() - 2]);
        if (auto v = check(*doc); !v) return tl::unexpected(v.error());
        if (auto put = dns_.put_tunnel_config(tunnel_, put_body(*doc)); !put) return tl::unexpected(put.error());
        return true;
    }

    result<std::optional<std::string>> remove(const std::string& hostname, const std::string&) override {
        auto doc = load();
        if (!doc) return tl::unexpected(doc.error());
        auto& ingress = (*doc)["config"]["ingress"];
        std::optional<std::string> had;
        for (auto it = ingress.Begin(); it != ingress.End(); ++it) {
            if (sdk::fold_hostname(json::str(*it, "hostname")) == sdk::fold_hostname(hostname) && json::str(*it, "path").empty()) {
                had = json::str(*it, "service");
                ingress.Erase(it);
                break;
            }
        }
        if (!had) return had;
        if (auto v = check(*doc); !v) return tl::unexpected(v.error());
        if (auto put = dns_.put_tunnel_config(tunnel_, put_body(*doc)); !put) return tl::unexpected(put.error());
        return had;
    }

    result<std::string> apply() override {
        return std::string("the tunnel's remote configuration is updated; cloudflared applies it live");
    }

private:
    result<rapidjson::Document> load() {
        auto text = dns_.get_tunnel_config(tunnel_);
        if (!text) return tl::unexpected(text.error());
        auto doc = json::parse(*text);
        if (!doc || !doc->IsObject()) return fail(errc::error, "the tunnel configuration from the DNS provider is not JSON");
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
        return std::move(*doc);
    }

    static result<void> check(const rapidjson::Document& doc) {
        std::vector<ingress_rule> rules;
        for (const auto& r : doc["config"]["ingress"].GetArray()) {
            rules.push_back({json::str(r, "hostname"), json::str(r, "path"), json::str(r, "service")});
        }
        return validate_ingress(rules);
    }

    static std::string put_body(const rapidjson::Document& doc) {
        rapidjson::Document body;
        body.SetObject();
        rapidjson::Value cfg;
        cfg.CopyFrom(doc["config"], body.GetAllocator());
        body.AddMember("config", cfg, body.GetAllocator());
        return json::to_string(body);
    }

    dns_provider& dns_;
    std::string tunnel_;
};

}  // namespace

std::unique_ptr<ingress_strategy> make_local_ingress(std::string config_file, std::string backup_dir,
                                                     tunnel_supervisor* supervisor, ready_probe* probe,
                                                     apply_timing timing) {
    return std::make_unique<local_ingress>(std::move(config_file), std::move(backup_dir), supervisor, probe,
                                           std::move(timing));
}

std::unique_ptr<ingress_strategy> make_remote_ingress(dns_provider& dns, std::string tunnel_id) {
    return std::make_unique<remote_ingress>(dns, std::move(tunnel_id));
}

}  // namespace tunnelmgr::core
