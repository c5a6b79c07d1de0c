// The rules a requested name must pass before anything is asked of Cloudflare: one RFC 1123
// label (folded to lower case), a full name of at most 253 characters, inside the project's scope.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tunnelmgr::core {

// "App" → "app"; refuses empty, too long, bad characters, leading/trailing '-', dots and '*'.
result<std::string> normalize_label(const std::string& subdomain);

// "Example.COM." → "example.com"; refuses what cannot be a DNS name.
result<std::string> normalize_domain(const std::string& domain);

// subdomain + "." + domain, refusing names over 253 characters.
result<std::string> join_hostname(const std::string& label, const std::string& domain);

// What names a project may publish (projects.P.domains, projects.P.names); folded to lower case.
struct project_scope {
    std::vector<std::string> domains;  // the zones it may use; empty: the default domain only; "*": any zone
    std::string prefix;                // every label it publishes starts with this ("" : no rule)
    std::string suffix;                // ... and ends with this
};

// The machine's rules for names, beside each project's own.
struct name_rules {
    std::string default_domain;                   // tunnel.default_domain: a project's zone when it names none
    std::set<std::string> reserved_labels;        // reserved_labels: only the admin may publish these
};

// Whether `project` may publish LABEL.DOMAIN (both normalised): the zone against its domains, the
// label against its prefix/suffix and the reserved labels (which bind project sessions; the admin,
// who reserved them, may publish them for any project). A refusal (denied) names the config key.
result<void> check_scope(const std::string& project, const project_scope& scope, const name_rules& rules,
                         bool by_admin, const std::string& label, const std::string& domain);

}  // namespace tunnelmgr::core
