// Duplicate keys in a YAML document. yaml-cpp keeps every pair of a map and answers a lookup with the
// first, while cloudflared (and any strict reader) refuses the file: tunnelmgr refuses it too.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace tunnelmgr {

struct duplicate_key {
    std::string key;  // dotted path from the top, e.g. "tunnel.id" or "ingress"
    int line = 0;     // 1-based line of the repeated key
    int first_line = 0;  // 1-based line where it was first written
};

// The first key (in document order, depth first) written twice in the same map; nullopt when none.
inline std::optional<duplicate_key> find_duplicate_key(const YAML::Node& node, const std::string& where = "") {
    if (node.IsSequence()) {
        for (size_t i = 0; i < node.size(); ++i) {
            if (auto d = find_duplicate_key(node[i], where + "[" + std::to_string(i) + "]")) return d;
        }
        return std::nullopt;
    }
    if (!node.IsMap()) return std::nullopt;
    std::vector<std::pair<std::string, int>> seen;  // maps are small: a list beats a set here
    for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) continue;
        const std::string& k = it->first.Scalar();
        const int line = it->first.Mark().line + 1;
        for (const auto& [s, first] : seen) {
            if (s == k) return duplicate_key{where.empty() ? k : where + "." + k, line, first};
        }
        seen.emplace_back(k, line);
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
        std::string k = it->first.IsScalar() ? it->first.Scalar() : std::string("?");
        if (auto d = find_duplicate_key(it->second, where.empty() ? k : where + "." + k)) return d;
    }
    return std::nullopt;
}

}  // namespace tunnelmgr
