// See ingress_scan.hpp.
#include "core/ingress_scan.hpp"

#include <yaml.h>

namespace tunnelmgr::core {
namespace {

// A plain document as a small tree: enough to find the rules, nothing yaml-cpp's tree would add.
struct node {
    enum class kind { scalar, sequence, map };
    kind type = kind::scalar;
    int line = 0;
    bool null = false;   // a plain scalar yaml-cpp reads as null: empty, ~, null, Null, NULL
    bool block = false;  // a sequence or map in block style
    std::string value;
    std::vector<node> children;  // a sequence's items; a map's key, value, key, value, ...
};

constexpr int max_depth = 64;  // deeper documents are left to yaml-cpp

class event_reader {
public:
    explicit event_reader(const std::string& text) {
        ok_ = yaml_parser_initialize(&parser_) != 0;
        if (ok_) {
            yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()), text.size());
        }
    }
    ~event_reader() {
        if (has_event_) yaml_event_delete(&event_);
        if (ok_) yaml_parser_delete(&parser_);
    }
    event_reader(const event_reader&) = delete;
    event_reader& operator=(const event_reader&) = delete;

    // The next event, or false on a syntax error.
    bool next() {
        if (has_event_) yaml_event_delete(&event_);
        has_event_ = ok_ && yaml_parser_parse(&parser_, &event_) != 0;
        return has_event_;
    }
    const yaml_event_t& event() const { return event_; }

    // The node that starts at the current event; false when it is not plain.
    bool read_node(node& out, int depth) {
        if (depth > max_depth) return false;
        const yaml_event_t& e = event_;
        out.line = static_cast<int>(e.start_mark.line);
        switch (e.type) {
            case YAML_SCALAR_EVENT: {
                if (e.data.scalar.anchor != nullptr || e.data.scalar.tag != nullptr) return false;
                out.type = node::kind::scalar;
                out.value.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
                out.null = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                           (out.value.empty() || out.value == "~" || out.value == "null" || out.value == "Null" ||
                            out.value == "NULL");
                return true;
            }
            case YAML_SEQUENCE_START_EVENT: {
                if (e.data.sequence_start.anchor != nullptr || e.data.sequence_start.tag != nullptr) return false;
                out.type = node::kind::sequence;
                out.block = e.data.sequence_start.style == YAML_BLOCK_SEQUENCE_STYLE;
                for (;;) {
                    if (!next()) return false;
                    if (event_.type == YAML_SEQUENCE_END_EVENT) return true;
                    out.children.emplace_back();
                    if (!read_node(out.children.back(), depth + 1)) return false;
                }
            }
            case YAML_MAPPING_START_EVENT: {
                if (e.data.mapping_start.anchor != nullptr || e.data.mapping_start.tag != nullptr) return false;
                out.type = node::kind::map;
                out.block = e.data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE;
                for (;;) {
                    if (!next()) return false;
                    if (event_.type == YAML_MAPPING_END_EVENT) return true;
                    node key;
                    if (!read_node(key, depth + 1)) return false;
                    if (key.type == node::kind::scalar && !key.null) {
                        // A key written twice: yaml-cpp's reading reports it, with both lines.
                        for (size_t i = 0; i < out.children.size(); i += 2) {
                            const node& k = out.children[i];
                            if (k.type == node::kind::scalar && !k.null && k.value == key.value) return false;
                        }
                    }
                    out.children.push_back(std::move(key));
                    if (!next()) return false;
                    out.children.emplace_back();
                    if (!read_node(out.children.back(), depth + 1)) return false;
                }
            }
            default:
                return false;  // an alias, or anything else a plain document does not hold
        }
    }

private:
    yaml_parser_t parser_{};
    yaml_event_t event_{};
    bool ok_ = false;
    bool has_event_ = false;
};

bool is_string(const node& n) { return n.type == node::kind::scalar && !n.null; }

const node* value_of(const node& map, const std::string& key) {
    for (size_t i = 0; i + 1 < map.children.size(); i += 2) {
        if (is_string(map.children[i]) && map.children[i].value == key) return &map.children[i + 1];
    }
    return nullptr;
}

std::string string_or_empty(const node* n) { return n != nullptr && is_string(*n) ? n->value : std::string(); }

std::string scalar_or_empty(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

}  // namespace

bool same_scan(const ingress_scan& a, const ingress_scan& b) {
    if (a.has_ingress != b.has_ingress || a.block != b.block || a.items != b.items || a.rules.size() != b.rules.size()) {
        return false;
    }
    for (size_t i = 0; i < a.rules.size(); ++i) {
        const auto& x = a.rules[i];
        const auto& y = b.rules[i];
        if (x.hostname != y.hostname || x.path != y.path || x.service != y.service) return false;
    }
    return true;
}

std::optional<ingress_scan> scan_plain(const std::string& text) {
    event_reader in(text);
    if (!in.next() || in.event().type != YAML_STREAM_START_EVENT) return std::nullopt;
    if (!in.next()) return std::nullopt;
    ingress_scan out;
    out.plain = true;
    if (in.event().type == YAML_STREAM_END_EVENT) return out;  // an empty file: no settings at all
    if (in.event().type != YAML_DOCUMENT_START_EVENT) return std::nullopt;
    if (!in.next()) return std::nullopt;
    node root;
    if (!in.read_node(root, 0)) return std::nullopt;
    if (!in.next() || in.event().type != YAML_DOCUMENT_END_EVENT) return std::nullopt;
    if (!in.next() || in.event().type != YAML_STREAM_END_EVENT) return std::nullopt;  // a second document
    if (root.type == node::kind::scalar && root.null) return out;
    if (root.type != node::kind::map) return std::nullopt;
    const node* ingress = value_of(root, "ingress");
    if (ingress == nullptr) return out;
    if (ingress->type != node::kind::sequence) return std::nullopt;
    out.has_ingress = true;
    out.block = ingress->block;
    for (const node& rule : ingress->children) {
        if (rule.type != node::kind::map) return std::nullopt;
        ingress_item item;
        item.line = rule.line;
        for (size_t i = 0; i + 1 < rule.children.size(); i += 2) {
            item.keys.push_back(is_string(rule.children[i]) ? rule.children[i].value : std::string());
        }
        if (const node* o = value_of(rule, "originRequest"); o != nullptr && !(o->type == node::kind::scalar && o->null)) {
            if (o->type != node::kind::map) {
                item.origin = ingress_item::origin_kind::not_map;
            } else {
                item.origin = ingress_item::origin_kind::map;
                for (size_t i = 0; i + 1 < o->children.size(); i += 2) {
                    const node& k = o->children[i];
                    const node& v = o->children[i + 1];
                    if (!is_string(k) || !is_string(v)) {
                        item.origin = ingress_item::origin_kind::nested;
                        item.origin_words.clear();
                        break;
                    }
                    item.origin_words.push_back(k.value + "=" + v.value);
                }
            }
        }
        out.rules.push_back({string_or_empty(value_of(rule, "hostname")), string_or_empty(value_of(rule, "path")),
                             string_or_empty(value_of(rule, "service"))});
        out.items.push_back(std::move(item));
    }
    return out;
}

ingress_scan scan_tree(const YAML::Node& root) {
    ingress_scan out;
    if (!root.IsMap()) return out;
    const YAML::Node ingress = root["ingress"];
    if (!ingress || !ingress.IsSequence()) return out;
    out.has_ingress = true;
    out.block = ingress.Style() == YAML::EmitterStyle::Block;
    for (size_t i = 0; i < ingress.size(); ++i) {
        const YAML::Node r = ingress[i];
        ingress_item item;
        item.line = r.Mark().line;
        for (const auto& kv : r) item.keys.push_back(kv.first.IsScalar() ? kv.first.Scalar() : std::string());
        const YAML::Node o = r["originRequest"];
        if (o && !o.IsNull()) {
            if (!o.IsMap()) {
                item.origin = ingress_item::origin_kind::not_map;
            } else {
                item.origin = ingress_item::origin_kind::map;
                for (const auto& kv : o) {
                    if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
                        item.origin = ingress_item::origin_kind::nested;
                        item.origin_words.clear();
                        break;
                    }
                    item.origin_words.push_back(kv.first.Scalar() + "=" + kv.second.Scalar());
                }
            }
        }
        out.rules.push_back({scalar_or_empty(r["hostname"]), scalar_or_empty(r["path"]), scalar_or_empty(r["service"])});
        out.items.push_back(std::move(item));
    }
    return out;
}

}  // namespace tunnelmgr::core
