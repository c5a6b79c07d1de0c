// The cloudflare-dns plugin: tm_dns_provider_v1 (with remote tunnel configuration and, since 1.2,
// records listed by comment) over cloudflare_client. A thin adapter: JSON in, a call on the client,
// JSON out, cf_errc → tm_rc.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tunnelmgr/sdk/plugin.hpp>

#include "client_config.hpp"
#include "clock_source.hpp"
#include "cloudflare_client.hpp"
#include "curl_transport.hpp"
#include "dns_json.hpp"
#include "token_memo.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

constexpr const char* component = "cloudflare-dns";

client_config config_or_throw(std::string_view json) {
    auto config = parse_client_config(json);
    if (!config) throw std::runtime_error(config.error().message);
    return std::move(*config);
}

}  // namespace

class cloudflare_dns_plugin final : public sdk::plugin,
                                    public sdk::dns_provider_v1,
                                    public sdk::dns_tunnel_config,
                                    public sdk::dns_record_listing {
public:
    cloudflare_dns_plugin(const sdk::host& host, std::string_view config_json)
        : host_(host),
          config_(config_or_throw(config_json)),
          memo_(config_.token_memo.count() > 0 ? token_memo::default_dir() : std::filesystem::path(), config_.token_memo),
          transport_(config_.ca_file) {
        client_ = std::make_unique<cloudflare_client>(config_, transport_, clock_, [this](log_level level, std::string_view msg) {
            switch (level) {
                case log_level::debug: host_.debug(component, msg); break;
                case log_level::info: host_.info(component, msg); break;
                case log_level::warn: host_.warn(component, msg); break;
            }
        });
        memo_key_ = token_memo::key_of(config_.api_base, config_.api_token);
        config_.api_token.clear();  // the client holds the only copy
        check_token();
    }

    sdk::result<std::string> list_zones() override {
        auto zones = answer(client_->list_zones());
        if (!zones) return sdk::fail(zones.error().code, std::move(zones.error().message));
        return to_json(*zones);
    }

    sdk::result<std::string> find_record(std::string_view zone_id, std::string_view hostname,
                                         std::string_view type) override {
        auto record = answer(client_->find_record(zone_id, hostname, type));
        if (!record) return sdk::fail(record.error().code, std::move(record.error().message));
        return to_json(*record);
    }

    sdk::result<std::string> list_records(std::string_view zone_id, std::string_view comment_prefix) override {
        auto records = answer(client_->list_records(zone_id, comment_prefix));
        if (!records) return sdk::fail(records.error().code, std::move(records.error().message));
        return to_json(*records);
    }

    sdk::result<std::string> create_record(std::string_view zone_id, std::string_view record_json) override {
        auto input = new_cname_from_json(record_json);
        if (!input) return sdk::fail(sdk::to_rc(input.error().kind), std::move(input.error().message));
        auto record = answer(client_->create_record(zone_id, *input));
        if (!record) return sdk::fail(record.error().code, std::move(record.error().message));
        return to_json(*record);
    }

    sdk::result<void> delete_record(std::string_view zone_id, std::string_view record_id,
                                    std::string_view expected_comment) override {
        return answer(client_->delete_record(zone_id, record_id, expected_comment));
    }

    sdk::result<void> put_tunnel_config(std::string_view tunnel_id, std::string_view config_json) override {
        return answer(client_->put_tunnel_config(tunnel_id, config_json));
    }

    sdk::result<std::string> get_tunnel_config(std::string_view tunnel_id) override {
        return answer(client_->get_tunnel_config(tunnel_id));
    }

private:
    // A CLI command starts the plugin anew each time: a check Cloudflare passed a little while ago
    // (token_memo) is not asked again. A refused token is never remembered, and fails init as before.
    void check_token() {
        if (memo_.remembers(memo_key_)) {
            host_.info(component, "the Cloudflare API token is valid (" + config_.token_source + "; checked less than " +
                                      std::to_string(config_.token_memo.count()) + " s ago, not asked again)");
            return;
        }
        auto verified = client_->verify_token();
        if (!verified) {
            // Cloudflare unreachable at boot should not stop tunnelmgr: calls fail (and retry) until it is back.
            if (verified.error().kind == cf_errc::retry || verified.error().kind == cf_errc::timeout) {
                host_.warn(component, "could not verify the Cloudflare API token at start-up (" +
                                          verified.error().message + "); continuing, DNS calls fail until "
                                          "Cloudflare is reachable");
            } else {
                throw std::runtime_error(verified.error().message);
            }
        } else {
            memo_.remember(memo_key_);
            host_.info(component, "the Cloudflare API token is valid (" + config_.token_source + ")");
        }
    }

    // cf_result -> sdk::result. Cloudflare refusing the token (or its permissions) also drops the
    // memo, so the next start checks the token again and says so at once.
    template <class T>
    sdk::result<T> answer(cf_result<T>&& r) {
        if (!r) {
            if (r.error().kind == cf_errc::denied) memo_.forget(memo_key_);
            return sdk::fail(sdk::to_rc(r.error().kind), std::move(r.error().message));
        }
        if constexpr (std::is_void_v<T>) {
            return {};
        } else {
            return std::move(*r);
        }
    }

    sdk::host host_;
    client_config config_;
    token_memo memo_;
    std::string memo_key_;
    curl_transport transport_;
    steady_clock_source clock_;
    std::unique_ptr<cloudflare_client> client_;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns

TM_PLUGIN(tunnelmgr::plugins::cloudflare_dns::cloudflare_dns_plugin, "cloudflare-dns", TM_PLUGIN_VERSION,
          tunnelmgr::plugins::cloudflare_dns::client_config_schema)
