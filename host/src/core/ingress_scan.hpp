// What an edit of cloudflared's config.yml needs to know of it: the ingress rules, where each sits,
// its keys and its originRequest. Read two ways that must agree:
// - scan_plain: libyaml's event parser, for a plain document (no anchors, aliases, tags, duplicate
//   keys, second document, or syntax error). At 1,000 rules it takes about a fifth of what building
//   yaml-cpp's tree takes, and an edit reads the file it wrote once more to verify it (issue 13).
// - scan_tree: from yaml-cpp's tree, for everything else; it is also the reference the tests hold
//   scan_plain to.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/ingress_rules.hpp"

namespace tunnelmgr::core {

struct ingress_item {
    enum class origin_kind { none, map, not_map, nested };
    int line = 0;                    // 0-based line where the rule's map starts (its first key)
    std::vector<std::string> keys;   // the rule's keys in order; "" for one that is not a string
    origin_kind origin = origin_kind::none;
    std::vector<std::string> origin_words;  // originRequest as "key=value", in order (origin_kind::map)
    bool operator==(const ingress_item&) const = default;
};

struct ingress_scan {
    bool plain = false;        // read by scan_plain: no anchors, aliases, tags or duplicate keys anywhere
    bool has_ingress = false;  // the document has an `ingress` list
    bool block = false;        // written as a block list (one `- ` per rule), not [flow, style]
    std::vector<ingress_rule> rules;
    std::vector<ingress_item> items;  // one per rule
};

// The same rules, items and style (`plain` says only how it was read).
bool same_scan(const ingress_scan& a, const ingress_scan& b);

// nullopt: not a plain document, or not one with a map at the top and a list of maps as `ingress`
// (read it with yaml-cpp, which says what is wrong).
std::optional<ingress_scan> scan_plain(const std::string& text);

// From a parsed document whose root is a map and whose `ingress`, when there is one, is a list of maps.
ingress_scan scan_tree(const YAML::Node& root);

}  // namespace tunnelmgr::core
