// cloudflared's own ingress rules (ingress/ingress.go), checked before any file is written, so a
// change tunnelmgr makes can never stop cloudflared from starting.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tunnelmgr::core {

struct ingress_rule {
    std::string hostname;  // "" or "*" with no path: catch-all
    std::string path;      // a regular expression (RE2 in cloudflared)
    std::string service;
};

// Empty when `service` is a valid cloudflared origin; else the reason.
std::string check_service(const std::string& service);

// Checks a whole rule list as `cloudflared tunnel ingress validate` would. The error names the
// rule's number (1-based) and what to change.
result<void> validate_ingress(const std::vector<ingress_rule>& rules);

// The same checks for one rule standing at `index` (0-based), the list's last when `last`. A list that
// passed validate_ingress still passes with a rule added or changed before its catch-all exactly when
// that rule passes this; an edit of one rule checks only that rule (issue 13).
result<void> validate_rule(const ingress_rule& rule, size_t index, bool last);

// Whether `name` is `folded` (a name already folded as sdk::fold_hostname does) once folded itself;
// no copy is made.
bool same_folded_host(std::string_view name, std::string_view folded);

// cloudflared's host matching (matchHost in ingress/ingress.go): "" and "*" match every name, a rule
// "*.example.org" matches every name ending in ".example.org" (any depth, not example.org itself),
// any other rule only its own name. Names are compared folded.
bool rule_catches_host(const std::string& rule_host, const std::string& host);

// cloudflared sends a request to the first rule that matches it. A rule for `host` added just before
// the catch-all is reached only if no earlier rule catches `host`: the index of the first that does
// (a rule with a path counts too — it takes some of the name's requests), else nullopt.
std::optional<size_t> first_rule_catching(const std::vector<ingress_rule>& rules, const std::string& host);

// The refusal for a name that rule `index` (0-based, as cloudflared numbers them) would catch first.
error shadowed_by(const ingress_rule& rule, size_t index, const std::string& host);

}  // namespace tunnelmgr::core
