// Config parsing is strict (unknown keys are refused) because a typo in a key such as
// api_token_file would otherwise surface much later as a confusing authentication failure.
#include "client_config.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace tunnelmgr::plugins::cloudflare_dns {

const char* const client_config_schema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "cloudflare-dns",
  "description": "DNS records and remotely-managed tunnel configuration through the Cloudflare API v4.",
  "type": "object",
  "properties": {
    "plugin": {"const": "cloudflare-dns"},
    "api_base": {"type": "string", "default": "https://api.cloudflare.com/client/v4",
                 "pattern": "^(https://|http://(127\\.0\\.0\\.1|localhost|\\[::1\\])([:/]|$))",
                 "description": "API root; https:// (plain http only for 127.0.0.1/localhost, for tests)."},
    "api_token_file": {"type": "string", "description": "File holding the API token (trimmed). Exactly one of api_token_file and api_token_env."},
    "api_token_env": {"type": "string", "description": "Environment variable holding the API token."},
    "account_id": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$", "description": "Needed for remote tunnel configuration."},
    "default_domain": {"type": "string", "deprecated": true, "description": "Deprecated: the host reads tunnel.default_domain; ignored by the plugin."},
    "comment_prefix": {"type": "string", "description": "Accepted for older configs; ignored."},
    "ca_file": {"type": "string", "description": "PEM CA bundle to verify the API's certificate against (TLS is always verified)."},
    "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 600000, "default": 15000},
    "max_retries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 5},
    "budget_per_5min": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1000,
                        "description": "At most 1200 (Cloudflare's limit) against the real API; a loopback http api_base may allow up to 1000000."},
    "token_memo_seconds": {"type": "integer", "minimum": 0, "maximum": 3600,
                           "description": "How long a successful check of the API token is remembered across starts, in a file only this user can read (keyed by a hash of the token, never the token); 0: check at every start. Default 600; 0 for a loopback http api_base (a local stand-in changes its tokens between runs)."}
  },
  "oneOf": [{"required": ["api_token_file"]}, {"required": ["api_token_env"]}],
  "additionalProperties": false
})json";

namespace {

const std::set<std::string, std::less<>> known_keys = {
    "plugin",   "api_base",       "api_token_file", "api_token_env",  "account_id",      "default_domain",
    "ca_file",  "timeout_ms",     "max_retries",    "budget_per_5min", "comment_prefix",  "token_memo_seconds"};

std::string trim(std::string s) {
    const char* ws = " \t\r\n\f\v";
    const auto first = s.find_first_not_of(ws);
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(ws);
    return s.substr(first, last - first + 1);
}

cf_result<std::string> string_key(const rapidjson::Value& doc, const char* key) {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd()) return std::string();
    if (!it->value.IsString()) return cf_fail(cf_errc::invalid, std::string("dns.") + key + " must be a string");
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

cf_result<long long> integer_key(const rapidjson::Value& doc, const char* key, long long fallback, long long min,
                                 long long max) {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd()) return fallback;
    if (!it->value.IsInt64() || it->value.GetInt64() < min || it->value.GetInt64() > max) {
        return cf_fail(cf_errc::invalid, std::string("dns.") + key + " must be a whole number from " +
                                             std::to_string(min) + " to " + std::to_string(max));
    }
    return it->value.GetInt64();
}

bool is_loopback_http(std::string_view base) {
    for (std::string_view host : {"http://127.0.0.1", "http://localhost", "http://[::1]"}) {
        if (base.substr(0, host.size()) == host &&
            (base.size() == host.size() || base[host.size()] == ':' || base[host.size()] == '/')) {
            return true;
        }
    }
    return false;
}

// A token travels in an HTTP header: anything outside visible ASCII would corrupt the request.
bool header_safe(const std::string& token) {
    for (unsigned char c : token) {
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
}

cf_result<void> load_token(client_config& config, const std::string& file, const std::string& env) {
    if (file.empty() == env.empty()) {
        return cf_fail(cf_errc::invalid,
                       "set exactly one of dns.api_token_file and dns.api_token_env to give the Cloudflare API token");
    }
    if (!file.empty()) {
        config.token_source = "api_token_file (" + file + ")";
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            return cf_fail(cf_errc::invalid, "dns.api_token_file: cannot read " + file + " (" + std::strerror(errno) +
                                                 "): create it with the Cloudflare API token, readable by tunnelmgr");
        }
        std::ostringstream content;
        content << in.rdbuf();
        if (in.bad()) {
            return cf_fail(cf_errc::invalid, "dns.api_token_file: cannot read " + file +
                                                 ": check that it is a regular file readable by tunnelmgr");
        }
        config.api_token = trim(content.str());
        if (config.api_token.empty()) {
            return cf_fail(cf_errc::invalid,
                           "dns.api_token_file: " + file + " is empty: put the Cloudflare API token in it");
        }
    } else {
        config.token_source = "api_token_env (" + env + ")";
        const char* value = std::getenv(env.c_str());
        config.api_token = value != nullptr ? trim(value) : std::string();
        if (config.api_token.empty()) {
            return cf_fail(cf_errc::invalid, "dns.api_token_env: the environment variable " + env +
                                                 " is not set or empty: export the Cloudflare API token in it");
        }
    }
    if (!header_safe(config.api_token)) {
        config.api_token.clear();
        return cf_fail(cf_errc::invalid, "dns." + config.token_source.substr(0, config.token_source.find(' ')) +
                                             ": the token holds spaces or control characters inside it; "
                                             "it must be the bare API token on one line");
    }
    return {};
}

}  // namespace

cf_result<client_config> parse_client_config(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return cf_fail(cf_errc::invalid, "the dns section is not a JSON object: give the cloudflare-dns settings "
                                         "(api_token_file, account_id, ...) as a map");
    }
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        const std::string key(it->name.GetString(), it->name.GetStringLength());
        if (known_keys.find(key) == known_keys.end()) {
            return cf_fail(cf_errc::invalid, "unknown key dns." + key +
                                                 ": the cloudflare-dns plugin knows api_base, api_token_file, "
                                                 "api_token_env, account_id, default_domain, ca_file, timeout_ms, "
                                                 "max_retries, budget_per_5min, token_memo_seconds and comment_prefix");
        }
    }
    client_config config;

    auto base = string_key(doc, "api_base");
    if (!base) return tl::unexpected(base.error());
    if (!base->empty()) config.api_base = *base;
    while (!config.api_base.empty() && config.api_base.back() == '/') config.api_base.pop_back();
    if (config.api_base.rfind("https://", 0) != 0 && !is_loopback_http(config.api_base)) {
        return cf_fail(cf_errc::invalid, "dns.api_base must start with https:// (plain http is allowed only for "
                                         "127.0.0.1 or localhost, in tests): got " + config.api_base);
    }

    auto account = string_key(doc, "account_id");
    if (!account) return tl::unexpected(account.error());
    config.account_id = *account;
    for (char c : config.account_id) {
        if (std::isxdigit(static_cast<unsigned char>(c)) == 0 || config.account_id.size() != 32) {
            return cf_fail(cf_errc::invalid, "dns.account_id must be the 32 hexadecimal digits shown in the "
                                             "Cloudflare dashboard: got " + config.account_id);
        }
    }

    auto ca = string_key(doc, "ca_file");
    if (!ca) return tl::unexpected(ca.error());
    config.ca_file = *ca;
    if (!config.ca_file.empty() && !std::ifstream(config.ca_file)) {
        return cf_fail(cf_errc::invalid, "dns.ca_file: cannot read " + config.ca_file + " (" + std::strerror(errno) +
                                             "): give a readable PEM CA bundle, or remove the key to use the "
                                             "system's");
    }

    for (const char* key : {"default_domain", "comment_prefix", "plugin"}) {
        auto ignored = string_key(doc, key);
        if (!ignored) return tl::unexpected(ignored.error());
    }

    auto timeout = integer_key(doc, "timeout_ms", 15000, 100, 600000);
    if (!timeout) return tl::unexpected(timeout.error());
    config.timeout = std::chrono::milliseconds(*timeout);
    auto retries = integer_key(doc, "max_retries", 5, 0, 10);
    if (!retries) return tl::unexpected(retries.error());
    config.max_retries = static_cast<int>(*retries);
    // Cloudflare allows 1,200 requests per 5 minutes per token; a local stand-in (tests, benchmarks,
    // the demo) may allow more, so loopback http bases may raise the budget.
    const int64_t budget_max = is_loopback_http(config.api_base) ? 1'000'000 : 1200;
    auto budget = integer_key(doc, "budget_per_5min", 1000, 1, budget_max);
    if (!budget) return tl::unexpected(budget.error());
    config.budget_per_5min = static_cast<std::size_t>(*budget);
    // A stand-in on loopback (tests, the demo) hands out other tokens on every run: not remembered unless asked.
    auto memo = integer_key(doc, "token_memo_seconds", is_loopback_http(config.api_base) ? 0 : 600, 0, 3600);
    if (!memo) return tl::unexpected(memo.error());
    config.token_memo = std::chrono::seconds(*memo);

    auto file = string_key(doc, "api_token_file");
    if (!file) return tl::unexpected(file.error());
    auto env = string_key(doc, "api_token_env");
    if (!env) return tl::unexpected(env.error());
    if (auto loaded = load_token(config, *file, *env); !loaded) return tl::unexpected(loaded.error());
    return config;
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
