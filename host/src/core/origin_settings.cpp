// See origin_settings.hpp.
#include "core/origin_settings.hpp"

#include <cmath>

#include "core/ingress_document.hpp"
#include "core/json.hpp"

namespace tunnelmgr::core {

namespace {

constexpr int64_t min_timeout_s = 1;
constexpr int64_t max_timeout_s = 600;

// The cloudflared originRequest keys tunnelmgr leaves to the operator (config.yml's top level).
const std::vector<std::string>& operator_keys() {
    static const std::vector<std::string> keys{"tlsTimeout",     "tcpKeepAlive",     "noHappyEyeballs", "keepAliveConnections",
                                               "keepAliveTimeout", "matchSNItoHost", "caPool",          "access",
                                               "proxyType",      "bastionMode",      "proxyAddress",    "proxyPort",
                                               "ipRules"};
    return keys;
}

std::string listed_keys() {
    std::string out;
    for (const auto& k : origin_setting_keys()) out += (out.empty() ? "" : ", ") + k;
    return out;
}

error unknown_key(const std::string& key) {
    for (const auto& k : operator_keys()) {
        if (k == key) {
            return {errc::invalid, "`originRequest." + key + "` is a cloudflared setting tunnelmgr does not set per "
                                   "hostname: it takes " + listed_keys() + "; ask the operator to set " + key +
                                   " in config.yml's top-level originRequest"};
        }
    }
    return {errc::invalid, "`originRequest." + key + "` is not a cloudflared origin setting tunnelmgr knows: use " +
                               listed_keys() + " (the names are case-sensitive)"};
}

// A host name (labels of letters, digits and hyphens), with an optional :port for the Host header.
bool host_name_like(const std::string& s, bool port_allowed) {
    if (s.empty() || s.size() > 253) return false;
    std::string host = s;
    if (port_allowed) {
        if (auto colon = s.rfind(':'); colon != std::string::npos) {
            const std::string port = s.substr(colon + 1);
            if (port.empty() || port.size() > 5) return false;
            for (char c : port) {
                if (c < '0' || c > '9') return false;
            }
            if (std::stol(port) < 1 || std::stol(port) > 65535) return false;
            host = s.substr(0, colon);
        }
    }
    if (host.empty() || host.front() == '.' || host.back() == '.' || host.find("..") != std::string::npos) return false;
    size_t label = 0;
    for (size_t i = 0; i < host.size(); ++i) {
        char c = host[i];
        if (c == '.') {
            if (host[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok || (c == '-' && label == 0) || ++label > 63) return false;
    }
    return host.back() != '-';
}

result<int64_t> timeout_from_duration(const std::string& text) {
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
        return fail(errc::invalid, "`originRequest.connectTimeout` is " + text + " without a unit: cloudflared reads a "
                                   "duration; write e.g. `" + text + "s`");
    }
    auto ns = parse_go_duration_ns(text);
    if (!ns) {
        return fail(errc::invalid, "`originRequest.connectTimeout` is `" + text + "`, which is not a duration cloudflared "
                                   "can read: write e.g. `10s` or `1m30s`");
    }
    const long double seconds = *ns / 1e9L;
    if (std::fabs(seconds - std::round(seconds)) > 1e-9L) {
        return fail(errc::invalid, "`originRequest.connectTimeout` is `" + text + "`: the tunnel's configuration holds "
                                   "whole seconds; round it (e.g. `" + std::to_string(std::llround(std::ceil(seconds))) + "s`)");
    }
    return static_cast<int64_t>(std::llround(seconds));
}

result<int64_t> timeout_in_range(int64_t s, const std::string& as_given) {
    if (s < min_timeout_s || s > max_timeout_s) {
        return fail(errc::invalid, "`originRequest.connectTimeout` is " + as_given + ": give from 1s to 10m (cloudflared "
                                   "waits 30s when it is not set)");
    }
    return s;
}

result<std::string> host_setting(const std::string& key, const std::string& value) {
    const bool port_allowed = key == "httpHostHeader";
    if (!host_name_like(value, port_allowed)) {
        return fail(errc::invalid, "`originRequest." + key + "` is \"" + value.substr(0, 80) + "\", which is not a host name" +
                                       (port_allowed ? " (optionally with :PORT)" : "") +
                                       ": give the name the origin expects, e.g. app.internal");
    }
    return value;
}

error not_a(const std::string& key, const char* what, const char* example) {
    return {errc::invalid, "`originRequest." + key + "` must be " + what + ", e.g. " + example};
}

// Sets one key from a text value (the command line's KEY=VALUE).
result<void> set_from_text(origin_settings& s, const std::string& key, const std::string& value) {
    auto flag = [&](std::optional<bool>& out) -> result<void> {
        if (value == "true") {
            out = true;
        } else if (value == "false") {
            out = false;
        } else {
            return tl::unexpected(not_a(key, "true or false", (key + "=true").c_str()));
        }
        return {};
    };
    if (key == "connectTimeout") {
        auto t = timeout_from_duration(value);
        if (!t) return tl::unexpected(t.error());
        auto r = timeout_in_range(*t, "`" + value + "`");
        if (!r) return tl::unexpected(r.error());
        s.connect_timeout_s = *r;
        return {};
    }
    if (key == "noTLSVerify") return flag(s.no_tls_verify);
    if (key == "http2Origin") return flag(s.http2_origin);
    if (key == "disableChunkedEncoding") return flag(s.disable_chunked_encoding);
    if (key == "httpHostHeader" || key == "originServerName") {
        auto v = host_setting(key, value);
        if (!v) return tl::unexpected(v.error());
        (key == "httpHostHeader" ? s.http_host_header : s.origin_server_name) = *v;
        return {};
    }
    return tl::unexpected(unknown_key(key));
}

}  // namespace

const std::vector<std::string>& origin_setting_keys() {
    static const std::vector<std::string> keys{"connectTimeout", "noTLSVerify", "httpHostHeader",
                                               "originServerName", "http2Origin", "disableChunkedEncoding"};
    return keys;
}

bool origin_settings::empty() const {
    return !connect_timeout_s && !no_tls_verify && !http_host_header && !origin_server_name && !http2_origin &&
           !disable_chunked_encoding;
}

std::string origin_settings::to_json() const {
    json::object o;
    if (connect_timeout_s) o.set("connectTimeout", *connect_timeout_s);
    if (no_tls_verify) o.set("noTLSVerify", *no_tls_verify);
    if (http_host_header) o.set("httpHostHeader", *http_host_header);
    if (origin_server_name) o.set("originServerName", *origin_server_name);
    if (http2_origin) o.set("http2Origin", *http2_origin);
    if (disable_chunked_encoding) o.set("disableChunkedEncoding", *disable_chunked_encoding);
    return o.str();
}

std::vector<std::string> origin_settings::yaml_lines() const {
    auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
    std::vector<std::string> out;
    // Every value is a host name, a flag or a number of seconds: nothing YAML could read another way
    // once names are quoted.
    if (connect_timeout_s) out.push_back("connectTimeout: " + std::to_string(*connect_timeout_s) + "s");
    if (no_tls_verify) out.push_back("noTLSVerify: " + flag(*no_tls_verify));
    if (http_host_header) out.push_back("httpHostHeader: \"" + *http_host_header + "\"");
    if (origin_server_name) out.push_back("originServerName: \"" + *origin_server_name + "\"");
    if (http2_origin) out.push_back("http2Origin: " + flag(*http2_origin));
    if (disable_chunked_encoding) out.push_back("disableChunkedEncoding: " + flag(*disable_chunked_encoding));
    return out;
}

result<origin_settings> origin_settings_from_json(const rapidjson::Value& v) {
    if (!v.IsObject()) return fail(errc::invalid, "`originRequest` must be an object of settings, e.g. {\"connectTimeout\":\"10s\"}");
    origin_settings s;
    for (const auto& m : v.GetObject()) {
        const std::string key(m.name.GetString(), m.name.GetStringLength());
        const auto& val = m.value;
        if (val.IsNull()) continue;  // not set, as cloudflared reads a null
        if (key == "connectTimeout") {
            if (val.IsString()) {
                if (auto r = set_from_text(s, key, val.GetString()); !r) return tl::unexpected(r.error());
            } else if (val.IsInt64()) {
                auto r = timeout_in_range(val.GetInt64(), std::to_string(val.GetInt64()) + " s");
                if (!r) return tl::unexpected(r.error());
                s.connect_timeout_s = *r;
            } else {
                return tl::unexpected(not_a(key, "a duration such as \"10s\" (or whole seconds)", "\"10s\""));
            }
        } else if (key == "noTLSVerify" || key == "http2Origin" || key == "disableChunkedEncoding") {
            if (!val.IsBool()) return tl::unexpected(not_a(key, "true or false (a JSON boolean, not a string)", "true"));
            (key == "noTLSVerify" ? s.no_tls_verify : key == "http2Origin" ? s.http2_origin : s.disable_chunked_encoding) =
                val.GetBool();
        } else if (key == "httpHostHeader" || key == "originServerName") {
            if (!val.IsString()) return tl::unexpected(not_a(key, "a host name as a string", "\"app.internal\""));
            if (auto r = set_from_text(s, key, val.GetString()); !r) return tl::unexpected(r.error());
        } else {
            return tl::unexpected(unknown_key(key));
        }
    }
    return s;
}

result<origin_settings> origin_settings_from_json_text(std::string_view text) {
    if (text.empty()) return origin_settings{};
    auto doc = json::parse(text);
    if (!doc) return fail(errc::invalid, "`originRequest` is not JSON");
    return origin_settings_from_json(*doc);
}

result<origin_settings> origin_settings_from_words(const std::vector<std::string>& words) {
    origin_settings s;
    for (const auto& w : words) {
        auto eq = w.find('=');
        if (eq == std::string::npos || eq == 0) {
            return fail(errc::invalid, "--origin takes KEY=VALUE, e.g. --origin connectTimeout=10s; got '" + w + "'");
        }
        if (auto r = set_from_text(s, w.substr(0, eq), w.substr(eq + 1)); !r) return tl::unexpected(r.error());
    }
    return s;
}

std::vector<std::string> origin_notes(const origin_settings& s, const std::string& service) {
    std::vector<std::string> out;
    if (service.rfind("https://", 0) == 0) return out;
    auto pointless = [&](const char* key) {
        out.push_back(std::string("originRequest.") + key + " does nothing for " + service +
                      ": it applies to TLS origins (https://)");
    };
    if (s.no_tls_verify.value_or(false)) pointless("noTLSVerify");
    if (s.origin_server_name) pointless("originServerName");
    if (s.http2_origin.value_or(false)) pointless("http2Origin");
    return out;
}

}  // namespace tunnelmgr::core
