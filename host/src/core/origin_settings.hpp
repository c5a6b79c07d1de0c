// The originRequest settings one hostname's rule may carry: a checked subset of cloudflared's
// (connectTimeout, noTLSVerify, httpHostHeader, originServerName, http2Origin,
// disableChunkedEncoding). Held as cloudflared's JSON form (durations in whole seconds, as the remote
// configuration takes them), written to config.yml as cloudflared's YAML (`connectTimeout: 10s`).
//
// cloudflared's own rule is its decoder's: a duration must be a Go duration, a flag a boolean, a name a
// string. tunnelmgr also refuses what cloudflared would take but no origin can use: a key it does not
// know (cloudflared only warns and ignores it, so a typo silently does nothing), a timeout under 1 s or
// over 10 min, a fraction of a second (the remote configuration counts whole seconds), and a header or
// server name that is not a host name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "core/result.hpp"

namespace tunnelmgr::core {

struct origin_settings {
    std::optional<int64_t> connect_timeout_s;
    std::optional<bool> no_tls_verify;
    std::optional<std::string> http_host_header;
    std::optional<std::string> origin_server_name;
    std::optional<bool> http2_origin;
    std::optional<bool> disable_chunked_encoding;

    bool empty() const;
    bool operator==(const origin_settings&) const = default;
    // {"connectTimeout":10,"noTLSVerify":true,...}: keys in the order above, only those set; "{}" when empty.
    std::string to_json() const;
    // The lines of an `originRequest:` map's body, without indent: `connectTimeout: 10s`, `noTLSVerify: true`,
    // `httpHostHeader: "app.internal"`.
    std::vector<std::string> yaml_lines() const;
};

// The keys tunnelmgr sets per hostname, in their order: "connectTimeout, noTLSVerify, ...".
const std::vector<std::string>& origin_setting_keys();

// From a JSON object as a client sends it (MCP `originRequest`, the host call's `origin_request`):
// connectTimeout as a Go duration ("10s") or whole seconds (10); flags as booleans; names as strings.
// The error names the setting and the fix.
result<origin_settings> origin_settings_from_json(const rapidjson::Value& v);
result<origin_settings> origin_settings_from_json_text(std::string_view text);

// From the command line: KEY=VALUE words (`connectTimeout=10s`, `noTLSVerify=true`).
result<origin_settings> origin_settings_from_words(const std::vector<std::string>& words);

// Sentences about settings that do nothing for `service` (e.g. noTLSVerify on an http:// origin).
std::vector<std::string> origin_notes(const origin_settings& s, const std::string& service);

}  // namespace tunnelmgr::core
