// Every request goes through perform(): budget, send, one redacted debug line, retries with backoff.
// POST is never replayed blindly: after an answer we did not get, create_record looks first.
#include "cloudflare_client.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <unordered_set>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

constexpr int zone_page_size = 50;     // the API's maximum for /zones
constexpr int max_zone_pages = 2000;   // 100,000 zones: a guard against an API that never ends
constexpr int verify_max_retries = 2;  // start-up should not hang for minutes when offline

constexpr int record_page_size = 100;    // the API's default page of DNS records
constexpr int max_record_pages = 10000;  // 1,000,000 records: the same guard for one zone's records

std::string percent_encode(std::string_view text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Ids end up in URL paths: only the characters Cloudflare's ids use, so no id can change the path.
bool is_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '-';
    });
}

bool is_hostname(std::string_view host) {
    return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '*';
    });
}

size_t utf8_length(std::string_view text) {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

std::string seconds_text(std::chrono::milliseconds ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
    return buf;
}

std::string string_member(const rapidjson::Value& v, const char* key) {
    if (!v.IsObject()) return {};
    auto it = v.FindMember(key);
    if (it == v.MemberEnd() || !it->value.IsString()) return {};
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<dns_record> record_from(const rapidjson::Value& v) {
    if (!v.IsObject()) return std::nullopt;
    dns_record r;
    r.id = string_member(v, "id");
    r.name = string_member(v, "name");
    r.type = string_member(v, "type");
    r.content = string_member(v, "content");
    if (auto p = v.FindMember("proxied"); p != v.MemberEnd() && p->value.IsBool()) r.proxied = p->value.GetBool();
    if (auto c = v.FindMember("comment"); c != v.MemberEnd() && c->value.IsString()) {
        r.comment = std::string(c->value.GetString(), c->value.GetStringLength());
    }
    if (r.id.empty()) return std::nullopt;
    return r;
}

// A tunnel configuration's "version" (it grows by one with every PUT), when the answer carries one.
std::optional<std::int64_t> version_of(const rapidjson::Value* result) {
    if (result == nullptr || !result->IsObject()) return std::nullopt;
    auto v = result->FindMember("version");
    if (v == result->MemberEnd() || !v->value.IsInt64()) return std::nullopt;
    return v->value.GetInt64();
}

std::string compact(const rapidjson::Value& v) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    v.Accept(w);
    return buffer.GetString();
}

std::string describe_comment(const std::optional<std::string>& comment) {
    return comment ? "its comment is '" + *comment + "'" : std::string("it has no comment");
}

}  // namespace

cloudflare_client::cloudflare_client(client_config config, http_transport& transport, clock_source& clock,
                                     log_sink log, std::function<double()> unit_random)
    : config_(std::move(config)),
      transport_(transport),
      clock_(clock),
      log_(std::move(log)),
      unit_random_(std::move(unit_random)),
      rng_(std::random_device{}()),
      budget_(config_.budget_per_5min) {
    if (!unit_random_) {
        unit_random_ = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); };
    }
}

std::string cloudflare_client::redact(std::string text) const {
    const std::string& token = config_.api_token;
    if (token.empty()) return text;
    for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
        text.replace(at, token.size(), "[redacted]");
        at += 10;
    }
    return text;
}

void cloudflare_client::log(log_level level, std::string message) const {
    if (log_) log_(level, redact(std::move(message)));
}

cf_error cloudflare_client::fail_redacted(cf_errc kind, std::string message) const {
    return cf_error{kind, redact(std::move(message))};
}

std::string cloudflare_client::target(const call& c) const { return c.method + " " + c.path; }

cf_result<void> cloudflare_client::take_budget(const call& c) {
    for (;;) {
        const auto wait = budget_.wait_needed(clock_.now());
        if (wait.count() == 0) return {};
        if (wait > max_budget_wait) {
            return tl::unexpected(fail_redacted(
                cf_errc::retry, "tunnelmgr's own budget of " + std::to_string(budget_.limit()) +
                                    " Cloudflare requests per 5 minutes (dns.budget_per_5min) is used up, so " +
                                    target(c) + " was not sent: try again in " + seconds_text(wait)));
        }
        log(log_level::warn, "request budget of " + std::to_string(budget_.limit()) +
                                 " per 5 minutes reached; waiting " + seconds_text(wait) + " before " + target(c));
        clock_.sleep_for(wait);
    }
}

tl::expected<api_answer, cloudflare_client::failure> cloudflare_client::perform(const call& c, retry_state& state) {
    http_request request;
    request.method = c.method;
    request.url = config_.api_base + c.path + (c.query.empty() ? "" : "?" + c.query);
    request.headers = {"Authorization: Bearer " + config_.api_token, "Accept: application/json"};
    if (!c.body.empty() || c.method == "POST" || c.method == "PUT") {
        request.headers.emplace_back("Content-Type: application/json");
    }
    request.body = c.body;
    request.timeout = config_.timeout;
    request.fresh_connection = !c.replay_safe;
    const std::string shown = c.method + " " + c.path + (c.query.empty() ? "" : "?" + c.query);

    for (;;) {
        if (auto budget = take_budget(c); !budget) return tl::unexpected(failure{budget.error()});
        budget_.record(clock_.now());
        auto sent = transport_.send(request);

        std::optional<long> retry_after;
        std::string what;          // what went wrong, for the retry and the final sentence
        bool timed_out = false;
        bool maybe_applied = true;  // could the server have acted on the request?
        if (!sent) {
            const auto& err = sent.error();
            log(log_level::debug, shown + " -> no answer (" + err.detail + ")");
            if (err.kind == transport_errc::tls) {
                return tl::unexpected(failure{fail_redacted(
                    cf_errc::error, "the TLS certificate of " + config_.api_base + " could not be verified (" +
                                        err.detail + "): set dns.ca_file to the CA bundle that signed it, or "
                                        "fix dns.api_base")});
            }
            if (err.kind == transport_errc::other) {
                return tl::unexpected(failure{fail_redacted(
                    cf_errc::error, "could not send " + target(c) + " to " + config_.api_base + " (" + err.detail +
                                        "): check dns.api_base")});
            }
            timed_out = err.kind == transport_errc::timeout;
            what = timed_out ? "no answer within " + std::to_string(config_.timeout.count()) + " ms (dns.timeout_ms)"
                             : "the connection failed (" + err.detail + ")";
        } else {
            api_answer answer = parse_answer(sent->status, sent->body);
            log(log_level::debug, shown + " -> " + std::to_string(sent->status));
            if (!is_retryable(answer)) return answer;
            retry_after = sent->retry_after_seconds;
            what = sent->status == 429 ? "rate limited (" + describe(answer) + ")" : describe(answer);
            // A 429 is refused before any work; a 5xx from the edge may come after the origin acted.
            maybe_applied = sent->status != 429;
        }

        if (state.retries_used >= state.max_retries) {
            const std::string attempts = std::to_string(state.retries_used + 1);
            const bool unknown = !c.replay_safe && maybe_applied;
            if (timed_out) {
                return tl::unexpected(failure{
                    fail_redacted(cf_errc::timeout, "Cloudflare did not answer " + target(c) + " after " + attempts +
                                                        " attempts (" + what + "): check the network path to " +
                                                        config_.api_base + ", or raise dns.timeout_ms"),
                    unknown, true});
            }
            return tl::unexpected(failure{
                fail_redacted(cf_errc::retry, "Cloudflare failed " + target(c) + " " + attempts + " times (last: " +
                                                  what + "); it is overloaded, rate-limiting or unreachable: try "
                                                  "again in a few minutes"),
                unknown, true});
        }
        ++state.retries_used;
        const auto wait = policy_.delay_before(state.retries_used, retry_after, unit_random_());
        log(log_level::warn, shown + ": " + what + "; retry " + std::to_string(state.retries_used) + " of " +
                                 std::to_string(state.max_retries) + " in " + seconds_text(wait));
        clock_.sleep_for(wait);
        if (!c.replay_safe && maybe_applied) {
            return tl::unexpected(failure{
                fail_redacted(cf_errc::retry, "the outcome of " + target(c) + " is unknown (" + what + ")"), true,
                false});
        }
    }
}

cf_result<api_answer> cloudflare_client::perform_simple(const call& c) {
    retry_state state{0, config_.max_retries};
    auto answer = perform(c, state);
    if (!answer) return tl::unexpected(answer.error().error);
    return std::move(*answer);
}

cf_error cloudflare_client::unexpected_answer(const call& c, const api_answer& answer, std::string_view doing) const {
    const cf_errc kind = answer.status >= 200 && answer.status < 300 ? cf_errc::error : classify(answer);
    std::string advice;
    switch (kind) {
        case cf_errc::denied:
            advice = "check that the token in " + config_.token_source +
                     " is valid and has the Zone:DNS:Edit (and, for remote ingress, Cloudflare Tunnel:Edit) "
                     "permissions";
            break;
        case cf_errc::not_found: advice = "check the id"; break;
        case cf_errc::invalid: advice = "fix the request as Cloudflare says"; break;
        default: advice = "try again later; if it persists, check Cloudflare's status page"; break;
    }
    return fail_redacted(kind, "Cloudflare refused to " + std::string(doing) + " (" + target(c) + ": " +
                                   describe(answer) + "): " + advice);
}

cf_result<void> cloudflare_client::verify_token() {
    call c{"GET", "/user/tokens/verify", "", "", true};
    retry_state state{0, std::min(config_.max_retries, verify_max_retries)};
    auto answer = perform(c, state);
    if (!answer) return tl::unexpected(answer.error().error);
    if (!answer->success) {
        if (is_auth_failure(*answer) || answer->status == 400) {
            std::string codes;
            for (const auto& e : answer->errors) {
                codes += (codes.empty() ? "code " : ", code ") + std::to_string(e.code);
                if (!e.message.empty()) codes += " " + e.message;
            }
            return tl::unexpected(fail_redacted(
                cf_errc::denied, "the Cloudflare API token was refused (HTTP " + std::to_string(answer->status) +
                                     (codes.empty() ? "" : ", " + codes) + "): check " + config_.token_source));
        }
        return tl::unexpected(unexpected_answer(c, *answer, "verify the API token"));
    }
    const std::string status = answer->result() ? string_member(*answer->result(), "status") : std::string();
    if (status != "active") {
        return tl::unexpected(fail_redacted(
            cf_errc::denied, "the Cloudflare API token in " + config_.token_source + " is " +
                                 (status.empty() ? std::string("of unknown status") : "'" + status + "'") +
                                 ", not active: create a new token in the Cloudflare dashboard"));
    }
    log(log_level::debug, "the Cloudflare API token is active");
    return {};
}

cf_result<std::vector<zone_info>> cloudflare_client::list_zones() {
    std::vector<zone_info> zones;
    for (int page = 1; page <= max_zone_pages; ++page) {
        call c{"GET", "/zones",
               "page=" + std::to_string(page) + "&per_page=" + std::to_string(zone_page_size), "", true};
        auto answer = perform_simple(c);
        if (!answer) return tl::unexpected(answer.error());
        if (!answer->success) return tl::unexpected(unexpected_answer(c, *answer, "list the zones"));
        const rapidjson::Value* result = answer->result();
        if (result == nullptr || !result->IsArray()) {
            return tl::unexpected(fail_redacted(cf_errc::error, "Cloudflare answered " + target(c) +
                                                                    " without a list of zones: try again later"));
        }
        for (const auto& z : result->GetArray()) {
            zones.push_back(zone_info{string_member(z, "id"), string_member(z, "name"), string_member(z, "status")});
        }
        long total_pages = 0;
        if (auto info = answer->doc.FindMember("result_info");
            info != answer->doc.MemberEnd() && info->value.IsObject()) {
            if (auto tp = info->value.FindMember("total_pages");
                tp != info->value.MemberEnd() && tp->value.IsInt64()) {
                total_pages = static_cast<long>(tp->value.GetInt64());
            }
        }
        // Without result_info, a short page is the last one.
        const bool last = total_pages > 0 ? page >= total_pages
                                          : result->Size() < static_cast<rapidjson::SizeType>(zone_page_size);
        if (last) return zones;
    }
    return tl::unexpected(fail_redacted(cf_errc::error, "Cloudflare listed more than " +
                                                            std::to_string(max_zone_pages) +
                                                            " pages of zones; stopped there: report this"));
}

cf_result<dns_record> cloudflare_client::find_record(std::string_view zone_id, std::string_view hostname,
                                                     std::string_view type) {
    if (!is_id(zone_id)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(zone_id) + "' is not a Cloudflare zone id (32 hex digits)");
    }
    if (!is_hostname(hostname)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(hostname) + "' is not a hostname");
    }
    const std::string record_type = type.empty() ? std::string("CNAME") : std::string(type);
    if (!std::all_of(record_type.begin(), record_type.end(), [](unsigned char c) { return std::isupper(c) != 0; })) {
        return cf_fail(cf_errc::invalid, "'" + record_type + "' is not a DNS record type such as CNAME");
    }
    const std::string host = sdk::fold_hostname(hostname);
    call c{"GET", "/zones/" + std::string(zone_id) + "/dns_records",
           "type=" + record_type + "&name.exact=" + percent_encode(host), "", true};
    auto answer = perform_simple(c);
    if (!answer) return tl::unexpected(answer.error());
    if (!answer->success) {
        if (classify(*answer) == cf_errc::not_found) {
            return tl::unexpected(fail_redacted(cf_errc::not_found, "zone " + std::string(zone_id) +
                                                                        " does not exist for this token: refresh "
                                                                        "the domain list"));
        }
        return tl::unexpected(unexpected_answer(c, *answer, "look up " + host));
    }
    const rapidjson::Value* result = answer->result();
    if (result != nullptr && result->IsArray()) {
        for (const auto& v : result->GetArray()) {
            auto r = record_from(v);
            if (r && sdk::fold_hostname(r->name) == host) return *r;
        }
    }
    return cf_fail(cf_errc::not_found, "there is no " + record_type + " record for " + host + " in zone " +
                                           std::string(zone_id));
}

cf_result<std::vector<dns_record>> cloudflare_client::list_records(std::string_view zone_id,
                                                                   std::string_view comment_prefix) {
    if (!is_id(zone_id)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(zone_id) + "' is not a Cloudflare zone id (32 hex digits)");
    }
    if (comment_prefix.empty()) {
        return cf_fail(cf_errc::invalid, "list_records needs a comment prefix (the ownership marker); refusing to "
                                         "list every record of zone " + std::string(zone_id));
    }
    if (utf8_length(comment_prefix) > 100 || comment_prefix.find_first_of("\r\n") != std::string_view::npos) {
        return cf_fail(cf_errc::invalid, "the comment prefix must be one line of at most 100 characters, as a "
                                         "Cloudflare record comment is");
    }
    std::vector<dns_record> records;
    std::unordered_set<std::string> seen;  // ids already listed
    for (int page = 1; page <= max_record_pages; ++page) {
        call c{"GET", "/zones/" + std::string(zone_id) + "/dns_records",
               "comment.startswith=" + percent_encode(comment_prefix) + "&per_page=" +
                   std::to_string(record_page_size) + "&page=" + std::to_string(page),
               "", true};
        auto answer = perform_simple(c);
        if (!answer) return tl::unexpected(answer.error());
        if (!answer->success) {
            if (classify(*answer) == cf_errc::not_found) {
                return tl::unexpected(fail_redacted(cf_errc::not_found, "zone " + std::string(zone_id) +
                                                                            " does not exist for this token: refresh "
                                                                            "the domain list"));
            }
            return tl::unexpected(unexpected_answer(c, *answer, "list the records of zone " + std::string(zone_id)));
        }
        const rapidjson::Value* result = answer->result();
        if (result == nullptr || !result->IsArray()) {
            return tl::unexpected(fail_redacted(cf_errc::error, "Cloudflare answered " + target(c) +
                                                                    " without a list of records: try again later"));
        }
        for (const auto& v : result->GetArray()) {
            auto r = record_from(v);
            if (!r || !r->comment || r->comment->compare(0, comment_prefix.size(), comment_prefix) != 0) continue;
            if (!seen.insert(r->id).second) continue;
            records.push_back(std::move(*r));
        }
        long total_pages = 0;
        if (auto info = answer->doc.FindMember("result_info");
            info != answer->doc.MemberEnd() && info->value.IsObject()) {
            if (auto tp = info->value.FindMember("total_pages");
                tp != info->value.MemberEnd() && tp->value.IsInt64()) {
                total_pages = static_cast<long>(tp->value.GetInt64());
            }
        }
        // Without result_info (or with total_pages 0 for an empty list), a short page is the last one.
        const bool last = total_pages > 0 ? page >= total_pages
                                          : result->Size() < static_cast<rapidjson::SizeType>(record_page_size);
        if (last) {
            log(log_level::debug, "listed " + std::to_string(records.size()) + " record(s) of zone " +
                                      std::string(zone_id) + " in " + std::to_string(page) + " page(s)");
            return records;
        }
    }
    return tl::unexpected(fail_redacted(cf_errc::error, "Cloudflare listed more than " +
                                                            std::to_string(max_record_pages) + " pages of records of zone " +
                                                            std::string(zone_id) + "; stopped there: report this"));
}

cf_result<dns_record> cloudflare_client::create_record(std::string_view zone_id, const new_cname& record) {
    if (!is_id(zone_id)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(zone_id) + "' is not a Cloudflare zone id (32 hex digits)");
    }
    if (!is_hostname(record.name)) return cf_fail(cf_errc::invalid, "'" + record.name + "' is not a hostname");
    if (!is_hostname(record.content)) {
        return cf_fail(cf_errc::invalid, "the CNAME target '" + record.content +
                                             "' is not a hostname: give <tunnel-id>.cfargotunnel.com");
    }
    if (record.comment) {
        if (utf8_length(*record.comment) > 100) {
            return cf_fail(cf_errc::invalid, "the record comment is " + std::to_string(utf8_length(*record.comment)) +
                                                 " characters long; Cloudflare allows at most 100: shorten it");
        }
        if (record.comment->find_first_of("\r\n") != std::string::npos) {
            return cf_fail(cf_errc::invalid, "the record comment holds a line break; Cloudflare allows one line only");
        }
    }
    const std::string host = sdk::fold_hostname(record.name);

    rapidjson::StringBuffer buffer;
    {
        rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
        w.StartObject();
        w.Key("type");
        w.String("CNAME");
        w.Key("name");
        w.String(host.c_str(), static_cast<rapidjson::SizeType>(host.size()));
        w.Key("content");
        w.String(record.content.c_str(), static_cast<rapidjson::SizeType>(record.content.size()));
        w.Key("proxied");
        w.Bool(true);  // a cfargotunnel.com target only works proxied
        w.Key("ttl");
        w.Int(1);  // automatic
        if (record.comment) {
            w.Key("comment");
            w.String(record.comment->c_str(), static_cast<rapidjson::SizeType>(record.comment->size()));
        }
        w.EndObject();
    }
    call c{"POST", "/zones/" + std::string(zone_id) + "/dns_records", "", buffer.GetString(), false};

    retry_state state{0, config_.max_retries};
    for (;;) {
        auto answer = perform(c, state);
        if (answer) {
            if (answer->success) {
                auto created = answer->result() ? record_from(*answer->result()) : std::nullopt;
                if (!created) {
                    return tl::unexpected(fail_redacted(cf_errc::error, "Cloudflare created " + host +
                                                                            " but did not return the record: "
                                                                            "look it up with find_record"));
                }
                log(log_level::info, "created CNAME " + host + " -> " + created->content + " (id " + created->id + ")");
                return *created;
            }
            if (is_record_conflict(*answer)) {
                return tl::unexpected(fail_redacted(
                    cf_errc::conflict, "a DNS record for " + host + " already exists in zone " + std::string(zone_id) +
                                           " (" + describe(*answer) +
                                           "): tunnelmgr leaves it alone; remove it in the Cloudflare dashboard "
                                           "or choose another hostname"));
            }
            if (classify(*answer) == cf_errc::not_found) {
                return tl::unexpected(fail_redacted(cf_errc::not_found, "zone " + std::string(zone_id) +
                                                                            " does not exist for this token: "
                                                                            "refresh the domain list"));
            }
            return tl::unexpected(unexpected_answer(c, *answer, "create the CNAME " + host));
        }
        if (!answer.error().outcome_unknown) return tl::unexpected(answer.error().error);

        // The POST may have created the record before the answer was lost: look before posting again,
        // so a retry never makes a second record or reports our own record as a conflict.
        auto existing = find_record(zone_id, host, "CNAME");
        if (existing) {
            if (sdk::fold_hostname(existing->content) == sdk::fold_hostname(record.content) && existing->comment == record.comment) {
                log(log_level::info, "CNAME " + host + " was created by an earlier attempt (id " + existing->id + ")");
                return *existing;
            }
            return tl::unexpected(fail_redacted(
                cf_errc::conflict, "a DNS record for " + host + " already exists in zone " + std::string(zone_id) +
                                       " (content " + existing->content + ", " + describe_comment(existing->comment) +
                                       "): tunnelmgr leaves it alone; remove it in the Cloudflare dashboard or "
                                       "choose another hostname"));
        }
        if (existing.error().kind != cf_errc::not_found) return tl::unexpected(existing.error());
        if (answer.error().exhausted) return tl::unexpected(answer.error().error);
        log(log_level::debug, "CNAME " + host + " was not created by the lost attempt; posting again");
    }
}

cf_result<void> cloudflare_client::delete_record(std::string_view zone_id, std::string_view record_id,
                                                 std::string_view expected_comment) {
    if (!is_id(zone_id)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(zone_id) + "' is not a Cloudflare zone id (32 hex digits)");
    }
    if (!is_id(record_id)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(record_id) + "' is not a Cloudflare record id");
    }
    if (expected_comment.empty()) {
        return cf_fail(cf_errc::invalid, "delete_record needs the ownership comment to compare with; refusing to "
                                         "delete record " + std::string(record_id) + " without one");
    }
    const std::string path = "/zones/" + std::string(zone_id) + "/dns_records/" + std::string(record_id);
    call look{"GET", path, "", "", true};
    auto answer = perform_simple(look);
    if (!answer) return tl::unexpected(answer.error());
    if (!answer->success) {
        if (classify(*answer) == cf_errc::not_found) {
            return cf_fail(cf_errc::not_found, "the DNS record " + std::string(record_id) + " in zone " +
                                                   std::string(zone_id) + " is already gone");
        }
        return tl::unexpected(unexpected_answer(look, *answer, "read record " + std::string(record_id)));
    }
    auto record = answer->result() ? record_from(*answer->result()) : std::nullopt;
    if (!record) {
        return tl::unexpected(fail_redacted(cf_errc::error, "Cloudflare answered " + target(look) +
                                                                " without the record: try again later"));
    }
    if (!record->comment || *record->comment != expected_comment) {
        return tl::unexpected(fail_redacted(
            cf_errc::conflict, "the DNS record " + record->name + " (id " + record->id + ") is not tunnelmgr's (" +
                                   describe_comment(record->comment) + "); left in place"));
    }

    call remove{"DELETE", path, "", "", true};
    retry_state state{0, config_.max_retries};
    auto deleted = perform(remove, state);
    if (!deleted) return tl::unexpected(deleted.error().error);
    if (!deleted->success) {
        if (classify(*deleted) == cf_errc::not_found) {
            // After a lost answer, a 404 on the retry means our first DELETE did the work.
            if (state.retries_used > 0) return {};
            return cf_fail(cf_errc::not_found, "the DNS record " + record->name + " (id " + record->id +
                                                   ") was deleted by someone else meanwhile");
        }
        return tl::unexpected(unexpected_answer(remove, *deleted, "delete " + record->name));
    }
    log(log_level::info, "deleted CNAME " + record->name + " (id " + record->id + ")");
    return {};
}

cf_result<void> cloudflare_client::put_tunnel_config(std::string_view tunnel_id, std::string_view config_json) {
    if (config_.account_id.empty()) {
        return cf_fail(cf_errc::invalid, "dns.account_id is not set: add the Cloudflare account id to the dns "
                                         "section to manage a remotely-managed tunnel's ingress");
    }
    if (!is_id(tunnel_id)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(tunnel_id) + "' is not a tunnel id (a UUID)");
    }
    rapidjson::Document doc;
    doc.Parse(config_json.data(), config_json.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("config") || !doc["config"].IsObject()) {
        return cf_fail(cf_errc::invalid, "the tunnel configuration must be {\"config\":{\"ingress\":[...]}}");
    }
    // "version": the version the caller read; Cloudflare's PUT has no precondition, so it is checked
    // against the version the PUT produced, and is not sent.
    std::optional<std::int64_t> read_at;
    if (auto v = doc.FindMember("version"); v != doc.MemberEnd()) {
        if (!v->value.IsInt64() || v->value.GetInt64() < 0) {
            return cf_fail(cf_errc::invalid, "the tunnel configuration's \"version\" must be the whole number "
                                             "get_tunnel_config returned");
        }
        read_at = v->value.GetInt64();
        doc.RemoveMember("version");
    }
    if (doc.MemberCount() != 1) {
        return cf_fail(cf_errc::invalid, "the tunnel configuration must be {\"config\":{\"ingress\":[...]}}");
    }
    call c{"PUT", "/accounts/" + config_.account_id + "/cfd_tunnel/" + std::string(tunnel_id) + "/configurations",
           "", compact(doc), true};
    retry_state state{0, config_.max_retries};
    auto sent = perform(c, state);
    if (!sent) return tl::unexpected(sent.error().error);
    const api_answer& answer = *sent;
    if (!answer.success) {
        if (classify(answer) == cf_errc::not_found) {
            return tl::unexpected(fail_redacted(cf_errc::not_found, "tunnel " + std::string(tunnel_id) +
                                                                        " is not in account " + config_.account_id +
                                                                        ": check tunnel.id and dns.account_id"));
        }
        return tl::unexpected(unexpected_answer(c, answer, "store the tunnel configuration"));
    }
    const auto stored = version_of(answer.result());
    log(log_level::info, "stored the configuration of tunnel " + std::string(tunnel_id) +
                             (stored ? " as version " + std::to_string(*stored) : std::string()));
    if (read_at && stored && *stored != *read_at + 1) {
        // Every PUT adds one: a gap means another write landed between the caller's read and this one,
        // and this PUT may have overwritten it.
        return cf_fail(cf_errc::conflict,
                       "the configuration of tunnel " + std::string(tunnel_id) + " was read at version " +
                           std::to_string(*read_at) + " but stored as version " + std::to_string(*stored) +
                           ": another writer changed it in between" +
                           (state.retries_used > 0 ? " (or an earlier attempt of this retried PUT landed)" : "") +
                           "; this configuration is stored, the other change may be lost: read it again and check");
    }
    return {};
}

cf_result<std::string> cloudflare_client::get_tunnel_config(std::string_view tunnel_id) {
    if (config_.account_id.empty()) {
        return cf_fail(cf_errc::invalid, "dns.account_id is not set: add the Cloudflare account id to the dns "
                                         "section to manage a remotely-managed tunnel's ingress");
    }
    if (!is_id(tunnel_id)) {
        return cf_fail(cf_errc::invalid, "'" + std::string(tunnel_id) + "' is not a tunnel id (a UUID)");
    }
    call c{"GET", "/accounts/" + config_.account_id + "/cfd_tunnel/" + std::string(tunnel_id) + "/configurations",
           "", "", true};
    auto answer = perform_simple(c);
    if (!answer) return tl::unexpected(answer.error());
    if (!answer->success) {
        if (classify(*answer) == cf_errc::not_found) {
            return tl::unexpected(fail_redacted(cf_errc::not_found, "tunnel " + std::string(tunnel_id) +
                                                                        " is not in account " + config_.account_id +
                                                                        ": check tunnel.id and dns.account_id"));
        }
        return tl::unexpected(unexpected_answer(c, *answer, "read the tunnel configuration"));
    }
    rapidjson::Document out;
    out.SetObject();
    auto& alloc = out.GetAllocator();
    rapidjson::Value config(rapidjson::kObjectType);
    const rapidjson::Value* result = answer->result();
    if (result != nullptr && result->IsObject()) {
        if (auto it = result->FindMember("config"); it != result->MemberEnd() && it->value.IsObject()) {
            config.CopyFrom(it->value, alloc);
        }
    }
    // A tunnel never configured has a null or empty config: present it as an empty ingress list.
    if (!config.HasMember("ingress")) config.AddMember("ingress", rapidjson::Value(rapidjson::kArrayType), alloc);
    out.AddMember("config", config, alloc);
    if (auto version = version_of(result)) out.AddMember("version", rapidjson::Value(*version), alloc);
    return compact(out);
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
