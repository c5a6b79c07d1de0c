// See ingress_document.hpp. cloudflared reads config.yml with typed Go structs (config/configuration.go:
// UnvalidatedIngressRule, OriginRequestConfig) and the remote configuration as JSON of the same structs,
// where a CustomDuration is a whole number of seconds. The known keys get their Go type here; any
// other key is carried with YAML's own reading of the value, so nothing is dropped on the way.
#include "core/ingress_document.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

#include <yaml-cpp/yaml.h>

#include "common/yaml_duplicate_keys.hpp"
#include "core/json.hpp"

namespace tunnelmgr::core {
namespace {

using rapidjson::Value;
using allocator = rapidjson::Document::AllocatorType;

// The Go type cloudflared gives a key (the same name means the same type wherever it appears);
// `any` is read the way YAML reads it.
enum class key_kind { any, string, boolean, duration, integer };

key_kind kind_of(const std::string& key) {
    static const std::set<std::string> strings{"hostname", "path",     "service",   "rewrite",
                                               "httpHostHeader", "originServerName", "caPool", "proxyAddress",
                                               "proxyType", "teamName", "prefix", "audTag"};
    static const std::set<std::string> bools{"noHappyEyeballs", "noTLSVerify", "disableChunkedEncoding", "bastionMode",
                                             "http2Origin",     "matchSNItoHost", "required", "allow"};
    static const std::set<std::string> durations{"connectTimeout", "tlsTimeout", "tcpKeepAlive", "keepAliveTimeout"};
    static const std::set<std::string> integers{"keepAliveConnections", "proxyPort", "ports"};
    if (strings.count(key) != 0) return key_kind::string;
    if (bools.count(key) != 0) return key_kind::boolean;
    if (durations.count(key) != 0) return key_kind::duration;
    if (integers.count(key) != 0) return key_kind::integer;
    return key_kind::any;
}

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

bool is_integer(const std::string& s) {
    size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (i == s.size()) return false;
    for (; i < s.size(); ++i) {
        if (!is_digit(s[i])) return false;
    }
    return true;
}

bool is_float(const std::string& s) {
    size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    bool digits = false, dot = false, exp = false;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (is_digit(c)) {
            digits = true;
        } else if (c == '.' && !dot && !exp) {
            dot = true;
        } else if ((c == 'e' || c == 'E') && digits && !exp) {
            exp = true;
            if (i + 1 < s.size() && (s[i + 1] == '-' || s[i + 1] == '+')) ++i;
            if (i + 1 == s.size()) return false;
        } else {
            return false;
        }
    }
    return digits && (dot || exp);
}

bool one_of(const std::string& s, std::initializer_list<const char*> words) {
    for (const char* w : words) {
        if (s == w) return true;
    }
    return false;
}

// Go's time.ParseDuration ("300ms", "1m30s", "-1.5h"), in nanoseconds; nullopt when it is not one.
std::optional<long double> go_duration_ns(const std::string& s) {
    size_t i = 0;
    bool negative = false;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
    if (s.compare(i, std::string::npos, "0") == 0) return 0.0L;
    if (i == s.size()) return std::nullopt;
    long double total = 0;
    while (i < s.size()) {
        long double v = 0;
        bool digits = false;
        while (i < s.size() && is_digit(s[i])) {
            v = v * 10 + (s[i++] - '0');
            digits = true;
        }
        if (i < s.size() && s[i] == '.') {
            ++i;
            long double scale = 0.1L;
            while (i < s.size() && is_digit(s[i])) {
                v += (s[i++] - '0') * scale;
                scale /= 10;
                digits = true;
            }
        }
        if (!digits) return std::nullopt;
        size_t unit_at = i;
        while (i < s.size() && !is_digit(s[i]) && s[i] != '.') ++i;
        const std::string unit = s.substr(unit_at, i - unit_at);
        long double ns = 0;
        if (unit == "ns") {
            ns = 1;
        } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
            ns = 1e3L;
        } else if (unit == "ms") {
            ns = 1e6L;
        } else if (unit == "s") {
            ns = 1e9L;
        } else if (unit == "m") {
            ns = 60e9L;
        } else if (unit == "h") {
            ns = 3600e9L;
        } else {
            return std::nullopt;
        }
        total += v * ns;
    }
    return negative ? -total : total;
}

// Nulls mean "not set" to cloudflared's Go structs; an empty originRequest sets nothing; an empty
// hostname or path is the same as none. Dropped, so equal configurations compare equal.
void normalize(Value& v) {
    if (v.IsArray()) {
        for (auto& item : v.GetArray()) normalize(item);
        return;
    }
    if (!v.IsObject()) return;
    for (auto it = v.MemberBegin(); it != v.MemberEnd();) {
        normalize(it->value);
        const std::string key(it->name.GetString(), it->name.GetStringLength());
        bool drop = it->value.IsNull() || (key == "originRequest" && it->value.IsObject() && it->value.ObjectEmpty()) ||
                    ((key == "hostname" || key == "path") && it->value.IsString() && it->value.GetStringLength() == 0);
        it = drop ? v.EraseMember(it) : it + 1;
    }
}

// config.yml → the API's JSON, one node at a time. `where` names the node in messages.
class yaml_reader {
public:
    yaml_reader(std::string path, allocator& a) : path_(std::move(path)), a_(a) {}

    result<Value> node(const YAML::Node& n, key_kind kind, const std::string& where) {
        if (n.IsNull()) return Value();
        if (n.IsScalar()) return scalar(n, kind, where);
        if (n.IsSequence()) {
            Value out(rapidjson::kArrayType);
            for (size_t i = 0; i < n.size(); ++i) {
                auto item = node(n[i], kind, where + "[" + std::to_string(i) + "]");
                if (!item) return item;
                out.PushBack(*item, a_);
            }
            return out;
        }
        if (n.IsMap()) {
            Value out(rapidjson::kObjectType);
            for (auto it = n.begin(); it != n.end(); ++it) {
                if (!it->first.IsScalar()) return fail(errc::invalid, path_ + ": " + where + " has a key that is not a plain name");
                const std::string key = it->first.Scalar();
                auto v = node(it->second, kind_of(key), where.empty() ? key : where + "." + key);
                if (!v) return v;
                out.AddMember(Value(key.c_str(), a_), *v, a_);
            }
            return out;
        }
        return Value();
    }

private:
    result<Value> scalar(const YAML::Node& n, key_kind kind, const std::string& where) {
        const std::string& s = n.Scalar();
        const std::string& tag = n.Tag();
        const bool plain = tag == "?";
        const bool str_tag = tag == "!" || tag == "tag:yaml.org,2002:str";
        if (kind == key_kind::string || (str_tag && kind != key_kind::duration)) return Value(s.c_str(), a_);
        if (kind == key_kind::duration) {
            if (plain && is_integer(s) && s != "0") {
                return fail(errc::invalid, path_ + ": " + where + " is " + s + " without a unit: cloudflared reads it as a "
                                                                           "duration; write e.g. `" + s + "s`");
            }
            auto ns = go_duration_ns(s);
            if (!ns) {
                return fail(errc::invalid, path_ + ": " + where + " is `" + s + "`, which is not a duration cloudflared "
                                                                              "can read (e.g. `30s`, `1m30s`)");
            }
            const long double seconds = *ns / 1e9L;
            if (std::fabs(seconds - std::round(seconds)) > 1e-9L) {
                return fail(errc::invalid, path_ + ": " + where + " is `" + s + "`: the remote configuration holds "
                                                                              "durations in whole seconds; round it to "
                                                                              "whole seconds (e.g. `" +
                                                   std::to_string(std::llround(std::ceil(seconds))) + "s`) first");
            }
            return Value(static_cast<int64_t>(std::llround(seconds)));
        }
        if (!plain && !tag.empty() && tag.rfind("tag:yaml.org,2002:", 0) != 0) return Value(s.c_str(), a_);
        if (one_of(s, {"~", "null", "Null", "NULL"}) || (plain && s.empty())) return Value();
        if (one_of(s, {"true", "True", "TRUE"})) return Value(true);
        if (one_of(s, {"false", "False", "FALSE"})) return Value(false);
        // yaml.v3 still takes YAML 1.1's words for a Go bool field.
        if (kind == key_kind::boolean && plain) {
            if (one_of(s, {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"})) return Value(true);
            if (one_of(s, {"n", "N", "no", "No", "NO", "off", "Off", "OFF"})) return Value(false);
        }
        if (is_integer(s)) {
            try {
                return Value(static_cast<int64_t>(std::stoll(s)));
            } catch (const std::exception&) {
                return Value(s.c_str(), a_);
            }
        }
        if (is_float(s)) return Value(std::strtod(s.c_str(), nullptr));
        return Value(s.c_str(), a_);
    }

    std::string path_;
    allocator& a_;
};

// ---- JSON → config.yml text ----

// Whether YAML (or cloudflared's yaml.v3) would read the plain scalar `s` as something other than a
// string: a number, a bool, null, a date.
bool reads_as_non_string(const std::string& s) {
    static const std::set<std::string> words{"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf",
                                             "-.inf", "+.inf", ".nan"};
    std::string lower = s;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (words.count(lower) != 0) return true;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i < s.size() && (is_digit(s[i]) || s[i] == '.')) {
        if (s.find_first_not_of("0123456789._:-+eE", i) == std::string::npos) return true;
        if (lower.compare(i, 2, "0x") == 0 || lower.compare(i, 2, "0o") == 0 || lower.compare(i, 2, "0b") == 0) return true;
    }
    return false;
}

bool plain_is_safe(const std::string& s) {
    if (s.empty()) return false;
    auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    if (!alnum(s[0]) && s[0] != '/' && s[0] != '_' && s[0] != '.') return false;
    for (char c : s) {
        if (!alnum(c) && std::strchr("-_./:@+~=", c) == nullptr) return false;
    }
    return s.back() != ':' && !reads_as_non_string(s);
}

std::string yaml_string(const std::string& s) {
    if (plain_is_safe(s)) return s;
    bool control = false;
    for (char c : s) control = control || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    if (!control) {
        std::string out = "'";
        for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
        return out + "'";
    }
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string yaml_scalar(const Value& v, key_kind kind) {
    if (kind == key_kind::duration && v.IsNumber()) {
        if (v.IsInt64()) return std::to_string(v.GetInt64()) + "s";
        char buf[64];
        std::snprintf(buf, sizeof buf, "%gs", v.GetDouble());
        return buf;
    }
    if (v.IsString()) return yaml_string(std::string(v.GetString(), v.GetStringLength()));
    if (v.IsNull()) return "null";
    if (v.IsObject()) return "{}";  // only ever empty here
    if (v.IsArray()) return "[]";
    return json::to_string(v);  // numbers and bools as JSON writes them, which YAML reads the same
}

void emit_map(std::string& out, const Value& obj, int indent);

void emit_seq(std::string& out, const Value& arr, int indent, key_kind kind) {
    const std::string pad(static_cast<size_t>(indent), ' ');
    for (const auto& item : arr.GetArray()) {
        if (item.IsObject() && !item.ObjectEmpty()) {
            std::string sub;
            emit_map(sub, item, indent + 2);
            out += pad + "- " + sub.substr(static_cast<size_t>(indent) + 2);
        } else if (item.IsArray() && !item.Empty()) {
            out += pad + "-\n";
            emit_seq(out, item, indent + 2, kind);
        } else {
            out += pad + "- " + yaml_scalar(item, kind) + "\n";
        }
    }
}

// Members in their order, except that a rule's hostname, path and service come first, as people write them.
void emit_map(std::string& out, const Value& obj, int indent) {
    const std::string pad(static_cast<size_t>(indent), ' ');
    std::vector<const Value::Member*> members;
    for (const char* first : {"hostname", "path", "service"}) {
        if (auto it = obj.FindMember(first); it != obj.MemberEnd()) members.push_back(&*it);
    }
    for (const auto& m : obj.GetObject()) {
        const std::string key(m.name.GetString(), m.name.GetStringLength());
        if (key != "hostname" && key != "path" && key != "service") members.push_back(&m);
    }
    for (const auto* m : members) {
        const std::string key(m->name.GetString(), m->name.GetStringLength());
        const key_kind kind = kind_of(key);
        if (m->value.IsObject() && !m->value.ObjectEmpty()) {
            out += pad + yaml_string(key) + ":\n";
            emit_map(out, m->value, indent + 2);
        } else if (m->value.IsArray() && !m->value.Empty()) {
            out += pad + yaml_string(key) + ":\n";
            emit_seq(out, m->value, indent + 2, kind);
        } else {
            out += pad + yaml_string(key) + ": " + yaml_scalar(m->value, kind) + "\n";
        }
    }
}

// ---- the text edit ----

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string cur;
    for (char c : text) {
        cur += c;
        if (c == '\n') {
            lines.push_back(std::move(cur));
            cur.clear();
        }
    }
    if (!cur.empty()) lines.push_back(cur + "\n");
    return lines;
}

bool blank_or_top_comment(const std::string& line) {
    if (!line.empty() && line[0] == '#') return true;
    return line.find_first_not_of(" \t\r\n") == std::string::npos;
}

result<YAML::Node> load(const std::string& text, const std::string& path) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        return fail(errc::invalid, path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML (" + e.msg +
                                       "); fix the file by hand — tunnelmgr leaves it untouched");
    }
    if (auto dup = find_duplicate_key(root)) {
        return fail(errc::invalid, path + ":" + std::to_string(dup->line) + ": the key `" + dup->key +
                                       "` is written twice (first on line " + std::to_string(dup->first_line) +
                                       "); cloudflared refuses such a file: keep one by hand — tunnelmgr leaves it untouched");
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) {
        return fail(errc::invalid, path + " is not a YAML map of settings; fix it by hand — tunnelmgr leaves it untouched");
    }
    return root;
}

bool replaced_key(const std::string& key) { return key == "ingress" || key == "originRequest"; }

// Whether `candidate` reads back as `doc` with every other top-level key of `before` unchanged.
bool reads_back(const std::string& candidate, const YAML::Node& before, const ingress_document& doc, const std::string& path) {
    auto again = ingress_document::from_yaml(candidate, path);
    if (!again || !again->same_as(doc)) return false;
    auto root = load(candidate, path);
    if (!root) return false;
    size_t others = 0;
    for (auto it = before.begin(); it != before.end(); ++it) {
        const std::string key = it->first.Scalar();
        if (replaced_key(key)) continue;
        ++others;
        const YAML::Node& now = static_cast<const YAML::Node&>(*root)[key];
        if (!now || YAML::Dump(now) != YAML::Dump(it->second)) return false;
    }
    return root->size() == others + 1 + (doc.has_origin_request() ? 1 : 0);
}

// The edit on the text: each of the two sections' lines replaced by the new block (trailing blank
// lines and comments at column 0 stay with what follows), a missing one added. "" when the file's
// layout does not allow it (a flow-style document, a key not at column 0).
std::string edit_text(const std::string& text, const YAML::Node& root, const ingress_document& doc) {
    if (root.size() > 0 && root.Style() != YAML::EmitterStyle::Block) return "";
    auto lines = split_lines(text);
    struct key_at {
        std::string name;
        int line;
        int column;
    };
    std::vector<key_at> keys;
    for (auto it = root.begin(); it != root.end(); ++it) {
        if (!it->first.IsScalar()) return "";
        keys.push_back({it->first.Scalar(), it->first.Mark().line, it->first.Mark().column});
    }
    std::sort(keys.begin(), keys.end(), [](const key_at& a, const key_at& b) { return a.line < b.line; });
    struct range {
        int from = -1, to = -1;
        bool found = false;
        bool possible = true;
    };
    auto range_of = [&](const std::string& name) {
        range r;
        for (size_t k = 0; k < keys.size(); ++k) {
            if (keys[k].name != name) continue;
            r.found = true;
            if (keys[k].column != 0 || keys[k].line < 0 || keys[k].line >= static_cast<int>(lines.size())) {
                r.possible = false;
                return r;
            }
            r.from = keys[k].line;
            r.to = k + 1 < keys.size() ? keys[k + 1].line : static_cast<int>(lines.size());
            for (int l = r.from + 1; l < r.to; ++l) {
                const auto& s = lines[static_cast<size_t>(l)];
                if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) {
                    r.to = l;
                    break;
                }
            }
            while (r.to - 1 > r.from && blank_or_top_comment(lines[static_cast<size_t>(r.to - 1)])) --r.to;
            return r;
        }
        return r;
    };
    range ingress = range_of("ingress"), origin = range_of("originRequest");
    if (!ingress.possible || !origin.possible) return "";
    const std::string ingress_block = doc.ingress_yaml(), origin_block = doc.origin_request_yaml();
    struct edit {
        int from, to;
        std::string text;
    };
    std::vector<edit> edits;
    std::string appended;
    if (origin.found) edits.push_back({origin.from, origin.to, origin_block});
    if (ingress.found) {
        edits.push_back({ingress.from, ingress.to, (origin.found ? "" : origin_block) + ingress_block});
    } else {
        appended = (origin.found ? "" : origin_block) + ingress_block;
    }
    std::sort(edits.begin(), edits.end(), [](const edit& a, const edit& b) { return a.from > b.from; });
    for (const auto& e : edits) {
        lines.erase(lines.begin() + e.from, lines.begin() + e.to);
        lines.insert(lines.begin() + e.from, e.text);
    }
    std::string out;
    for (const auto& l : lines) out += l;
    return out + appended;
}

}  // namespace

ingress_document::ingress_document() {
    doc_.SetObject();
    doc_.AddMember("ingress", Value(rapidjson::kArrayType), doc_.GetAllocator());
}

result<ingress_document> ingress_document::from_yaml(const std::string& text, const std::string& path) {
    auto root = load(text, path);
    if (!root) return tl::unexpected(root.error());
    ingress_document out;
    auto& a = out.doc_.GetAllocator();
    yaml_reader reader(path, a);
    const YAML::Node& r = *root;
    if (const YAML::Node ingress = r["ingress"]; ingress && !ingress.IsNull()) {
        if (!ingress.IsSequence()) {
            return fail(errc::invalid, path + ": `ingress` must be a list of rules; fix it by hand — tunnelmgr leaves it untouched");
        }
        for (size_t i = 0; i < ingress.size(); ++i) {
            const std::string where = "ingress rule #" + std::to_string(i + 1);
            if (!ingress[i].IsMap()) {
                return fail(errc::invalid, path + ": " + where + " is not a map; fix it by hand — tunnelmgr leaves it untouched");
            }
            auto rule = reader.node(ingress[i], key_kind::any, where);
            if (!rule) return tl::unexpected(rule.error());
            out.doc_["ingress"].PushBack(*rule, a);
        }
    }
    if (const YAML::Node origin = r["originRequest"]; origin && !origin.IsNull()) {
        if (!origin.IsMap()) {
            return fail(errc::invalid, path + ": the top-level `originRequest` must be a map of settings; fix it by hand");
        }
        auto v = reader.node(origin, key_kind::any, "originRequest");
        if (!v) return tl::unexpected(v.error());
        out.origin_request_.CopyFrom(*v, out.origin_request_.GetAllocator());
    }
    normalize(out.doc_["ingress"]);
    normalize(out.origin_request_);
    if (out.origin_request_.IsObject() && out.origin_request_.ObjectEmpty()) out.origin_request_.SetNull();
    return out;
}

result<ingress_document> ingress_document::from_remote(const std::string& tunnel_config_json) {
    auto doc = json::parse(tunnel_config_json);
    if (!doc || !doc->IsObject()) return fail(errc::error, "the tunnel configuration from the DNS provider is not JSON");
    ingress_document out;
    auto config = doc->FindMember("config");
    if (config == doc->MemberEnd() || !config->value.IsObject()) return out;
    if (auto ingress = config->value.FindMember("ingress"); ingress != config->value.MemberEnd() && !ingress->value.IsNull()) {
        if (!ingress->value.IsArray()) return fail(errc::error, "the tunnel's remote configuration has an `ingress` that is not a list");
        for (const auto& rule : ingress->value.GetArray()) {
            if (!rule.IsObject()) return fail(errc::error, "the tunnel's remote configuration has an ingress rule that is not an object");
        }
        out.doc_["ingress"].CopyFrom(ingress->value, out.doc_.GetAllocator());
    }
    if (auto origin = config->value.FindMember("originRequest");
        origin != config->value.MemberEnd() && origin->value.IsObject()) {
        out.origin_request_.CopyFrom(origin->value, out.origin_request_.GetAllocator());
    }
    normalize(out.doc_["ingress"]);
    normalize(out.origin_request_);
    if (out.origin_request_.IsObject() && out.origin_request_.ObjectEmpty()) out.origin_request_.SetNull();
    return out;
}

std::vector<ingress_rule> ingress_document::rules() const {
    std::vector<ingress_rule> out;
    for (const auto& r : ingress().GetArray()) {
        out.push_back({json::str(r, "hostname"), json::str(r, "path"), json::str(r, "service")});
    }
    return out;
}

bool ingress_document::bare() const {
    if (has_origin_request()) return false;
    const auto& list = ingress();
    if (list.Empty()) return true;
    if (list.Size() != 1) return false;
    const auto& only = list[0];
    const std::string host = json::str(only, "hostname");
    return (host.empty() || host == "*") && !only.HasMember("path") && !only.HasMember("originRequest");
}

bool ingress_document::same_as(const ingress_document& other) const {
    return ingress() == other.ingress() && origin_request_ == other.origin_request_;
}

std::string ingress_document::to_json() const {
    rapidjson::Document out;
    out.SetObject();
    Value ingress_copy;
    ingress_copy.CopyFrom(ingress(), out.GetAllocator());
    out.AddMember("ingress", ingress_copy, out.GetAllocator());
    if (has_origin_request()) {
        Value origin;
        origin.CopyFrom(origin_request_, out.GetAllocator());
        out.AddMember("originRequest", origin, out.GetAllocator());
    }
    return json::to_string(out);
}

std::vector<std::string> ingress_document::describe() const {
    std::vector<std::string> out;
    size_t n = 0;
    for (const auto& r : ingress().GetArray()) {
        ++n;
        const std::string host = json::str(r, "hostname"), path = json::str(r, "path");
        std::string line = "#" + std::to_string(n) + "  ";
        line += (host.empty() || host == "*") && path.empty() ? std::string("(every other request)") : host.empty() ? "*" : host;
        if (!path.empty()) line += "  path " + path;
        line += "  → " + json::str(r, "service");
        for (const auto& m : r.GetObject()) {
            const std::string key(m.name.GetString(), m.name.GetStringLength());
            if (key != "hostname" && key != "path" && key != "service") line += "  " + key + " " + json::to_string(m.value);
        }
        out.push_back(line);
    }
    if (has_origin_request()) out.push_back("originRequest (every rule)  " + json::to_string(origin_request_));
    return out;
}

std::string ingress_document::ingress_yaml() const {
    if (ingress().Empty()) return "ingress: []\n";
    std::string out = "ingress:\n";
    emit_seq(out, ingress(), 2, key_kind::any);
    return out;
}

std::string ingress_document::origin_request_yaml() const {
    if (!has_origin_request() || origin_request_.ObjectEmpty()) return "";
    std::string out = "originRequest:\n";
    emit_map(out, origin_request_, 2);
    return out;
}

result<std::string> with_ingress(const std::string& text, const std::string& path, const ingress_document& doc,
                                 bool* comments_lost) {
    if (comments_lost != nullptr) *comments_lost = false;
    auto root = load(text, path);
    if (!root) return tl::unexpected(root.error());
    if (auto now = ingress_document::from_yaml(text, path); now && now->same_as(doc)) return text;
    std::string candidate = edit_text(text, *root, doc);
    if (!candidate.empty() && reads_back(candidate, *root, doc, path)) return candidate;
    // The layout does not allow a text edit: the document re-emitted, every key kept, comments lost.
    YAML::Node copy = YAML::Clone(*root);
    copy["ingress"] = YAML::Load(doc.ingress_yaml())["ingress"];
    if (doc.has_origin_request()) {
        copy["originRequest"] = YAML::Load(doc.origin_request_yaml())["originRequest"];
    } else {
        copy.remove("originRequest");
    }
    YAML::Emitter e;
    e << copy;
    candidate = std::string(e.c_str()) + "\n";
    if (!reads_back(candidate, *root, doc, path)) {
        return fail(errc::error, "could not produce a valid edit of " + path + "; it is left untouched (report this as a bug)");
    }
    if (comments_lost != nullptr) *comments_lost = true;
    return candidate;
}

std::optional<long double> parse_go_duration_ns(const std::string& text) { return go_duration_ns(text); }

}  // namespace tunnelmgr::core
