// A tunnel's whole ingress — every rule with all its keys, in order, and the top-level originRequest —
// in the shape Cloudflare's remote configuration holds it, so config.yml and the remote configuration
// can be compared and copied into each other (tunnelmgr ingress migrate) without losing a key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "core/ingress_rules.hpp"
#include "core/result.hpp"

namespace tunnelmgr::core {

// JSON as the API takes it: {"ingress":[{"hostname","path","service","originRequest":{...}},...],
// "originRequest":{...}}. Durations are whole seconds (cloudflared's JSON form); in config.yml they
// are Go durations ("30s"). Empty originRequest objects, null values and empty hostname/path are
// dropped, so both sides compare equal when cloudflared would run them the same way.
class ingress_document {
public:
    ingress_document();
    ingress_document(ingress_document&&) = default;
    ingress_document& operator=(ingress_document&&) = default;

    // The ingress list and the top-level originRequest of a config.yml's text (`path` names it in
    // messages). A file with no `ingress` has no rules (an empty list). A duration that is not a Go
    // duration, or not whole seconds (the remote configuration counts in seconds), is refused.
    static result<ingress_document> from_yaml(const std::string& text, const std::string& path);
    // The configuration as dns_provider::get_tunnel_config returns it ({"config":{...},"version":N}).
    static result<ingress_document> from_remote(const std::string& tunnel_config_json);

    // hostname, path and service of each rule, in order.
    std::vector<ingress_rule> rules() const;
    bool has_origin_request() const { return origin_request_.IsObject(); }
    // No rules, or only a catch-all with nothing but a service: what a tunnel holds before anyone
    // configured it.
    bool bare() const;
    bool same_as(const ingress_document& other) const;

    const rapidjson::Value& ingress() const { return doc_["ingress"]; }
    const rapidjson::Value& origin_request() const { return origin_request_; }
    // {"ingress":[...],"originRequest":{...}} (originRequest only when there is one).
    std::string to_json() const;
    // One line per rule for people: "#2  api.example.com  path ^/v1/  → http://localhost:81  originRequest {...}".
    std::vector<std::string> describe() const;

    // The YAML block of the `ingress:` key, and of `originRequest:` ("" when there is none), as
    // config.yml writes them (block style, two-space indent, durations as "30s").
    std::string ingress_yaml() const;
    std::string origin_request_yaml() const;

private:
    rapidjson::Document doc_;          // {"ingress":[...]}
    rapidjson::Document origin_request_;  // an object, or null
};

// Go's time.ParseDuration ("300ms", "1m30s", "-1.5h"), as cloudflared reads a duration, in
// nanoseconds; nullopt when it is not one.
std::optional<long double> parse_go_duration_ns(const std::string& text);

// `text` (a config.yml) with its `ingress` and top-level `originRequest` replaced by `doc`'s; every
// other key, and the comments outside those two sections, as they were. The result is checked: it
// must read back as `doc` with every other key unchanged; when the text edit cannot do that (a
// flow-style file), the document is re-emitted (comments lost) and `comments_lost` set.
result<std::string> with_ingress(const std::string& text, const std::string& path, const ingress_document& doc,
                                 bool* comments_lost = nullptr);

}  // namespace tunnelmgr::core
