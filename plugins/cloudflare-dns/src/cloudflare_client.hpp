// The Cloudflare API v4 as tunnelmgr needs it: token check, zones, tunnel CNAMEs (find, list by
// comment, create, delete-if-ours by id) and remote tunnel configuration, with retries, backoff and a
// request budget.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "api_envelope.hpp"
#include "cf_error.hpp"
#include "client_config.hpp"
#include "clock_source.hpp"
#include "dns_types.hpp"
#include "http_transport.hpp"
#include "request_budget.hpp"
#include "retry_policy.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {

enum class log_level { debug, info, warn };
// Receives log lines that are already redacted.
using log_sink = std::function<void(log_level, std::string_view)>;

// One instance is driven by one caller at a time (the ABI serialises calls per instance).
class cloudflare_client {
public:
    // transport and clock must outlive the client. unit_random: numbers in [0, 1) for jitter
    // (default: a seeded Mersenne twister).
    cloudflare_client(client_config config, http_transport& transport, clock_source& clock, log_sink log = {},
                      std::function<double()> unit_random = {});

    // GET /user/tokens/verify. denied when Cloudflare refuses the token or it is not active.
    cf_result<void> verify_token();

    cf_result<std::vector<zone_info>> list_zones();
    cf_result<dns_record> find_record(std::string_view zone_id, std::string_view hostname, std::string_view type);
    // Every record in the zone whose comment starts with comment_prefix (byte for byte; Cloudflare's
    // comment.startswith ignores case, so its answer is filtered again), all pages followed, each page
    // sent through the same retries and budget as any other request. A record listed on two pages
    // (the zone changed while paging) is listed once.
    cf_result<std::vector<dns_record>> list_records(std::string_view zone_id, std::string_view comment_prefix);
    cf_result<dns_record> create_record(std::string_view zone_id, const new_cname& record);
    cf_result<void> delete_record(std::string_view zone_id, std::string_view record_id,
                                  std::string_view expected_comment);
    // config_json: {"config":{"ingress":[...],"originRequest":{...}},"version":N}, "version" optional: the
    // version the caller read. Cloudflare's PUT takes no precondition, so it is checked afterwards:
    // when the PUT made a version other than N + 1, another write came in between and the answer is
    // conflict (the configuration IS stored; the caller re-reads).
    cf_result<void> put_tunnel_config(std::string_view tunnel_id, std::string_view config_json);
    // {"config":{...},"version":N} ("version" as Cloudflare gave it, left out when it gave none);
    // {"config":{"ingress":[]},...} for a tunnel never configured.
    cf_result<std::string> get_tunnel_config(std::string_view tunnel_id);

    // Replaces every occurrence of the API token with [redacted].
    [[nodiscard]] std::string redact(std::string text) const;

    [[nodiscard]] const retry_policy& policy() const { return policy_; }
    // Cap on waiting for the local budget; past it a call returns kind retry instead of blocking.
    static constexpr std::chrono::milliseconds max_budget_wait{60000};

private:
    struct call {
        std::string method;
        std::string path;   // relative to api_base, e.g. /zones/<id>/dns_records
        std::string query;  // already encoded, without '?'
        std::string body;
        bool replay_safe = true;  // false for POST: see perform()
    };
    struct failure {
        cf_error error;
        bool outcome_unknown = false;  // a non-replay-safe request may have been applied
        bool exhausted = false;        // no retries left: do not send it again
    };
    struct retry_state {
        int retries_used = 0;
        int max_retries = 0;
    };

    tl::expected<api_answer, failure> perform(const call& c, retry_state& state);
    cf_result<api_answer> perform_simple(const call& c);
    cf_result<void> take_budget(const call& c);
    cf_error unexpected_answer(const call& c, const api_answer& answer, std::string_view doing) const;
    cf_error fail_redacted(cf_errc kind, std::string message) const;
    std::string target(const call& c) const;
    void log(log_level level, std::string message) const;

    client_config config_;
    http_transport& transport_;
    clock_source& clock_;
    log_sink log_;
    std::function<double()> unit_random_;
    std::mt19937_64 rng_;
    retry_policy policy_;
    request_budget budget_;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
