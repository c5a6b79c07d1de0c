// Reads the YAML config into config::config; see config.hpp. yaml-cpp exceptions stop here.
#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include "common/yaml_duplicate_keys.hpp"
#include "sys/listen_address.hpp"

namespace tunnelmgr::config {
namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

bool all_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
    }
    return true;
}

// Thrown inside this file only, turned into an error value by load_string.
struct config_error {
    std::string message;
};

class reader {
public:
    explicit reader(std::string source) : source_(std::move(source)) {}

    [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& problem) const {
        std::ostringstream out;
        out << source_;
        if (node.IsDefined() && node.Mark().line >= 0) out << ":" << node.Mark().line + 1;
        out << ": " << key << ": " << problem;
        throw config_error{out.str()};
    }

    std::string scalar(const YAML::Node& node, const std::string& key) const {
        if (!node.IsScalar()) fail(node, key, "must be a single value, not a list or a map");
        return node.Scalar();
    }

    void only_keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& allowed) const {
        for (auto it = map.begin(); it != map.end(); ++it) {
            std::string k = it->first.Scalar();
            if (allowed.count(k) == 0) {
                std::string list;
                for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
                fail(it->first, where.empty() ? k : where + "." + k,
                     "unknown key; the keys allowed here are: " + list);
            }
        }
    }

    const std::string& source() const { return source_; }

private:
    std::string source_;
};

// RFC 6901: '~' and '/' inside a key are escaped, as RapidJSON's pointers write them.
std::string pointer_token(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

// Writes `node` as JSON and records the YAML line of every value under `pointer`, so a complaint
// about the JSON (a schema mismatch) can name the line the operator wrote.
void to_json(const YAML::Node& node, rapidjson::Writer<rapidjson::StringBuffer>& w, const std::string& pointer,
             std::map<std::string, int>& lines) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined: w.Null(); return;
        case YAML::NodeType::Sequence: {
            w.StartArray();
            size_t i = 0;
            for (const auto& item : node) {
                std::string at = pointer + "/" + std::to_string(i++);
                if (item.Mark().line >= 0) lines[at] = item.Mark().line + 1;
                to_json(item, w, at, lines);
            }
            w.EndArray();
            return;
        }
        case YAML::NodeType::Map:
            w.StartObject();
            for (auto it = node.begin(); it != node.end(); ++it) {
                const std::string& k = it->first.Scalar();
                std::string at = pointer + "/" + pointer_token(k);
                if (it->first.Mark().line >= 0) lines[at] = it->first.Mark().line + 1;
                w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
                to_json(it->second, w, at, lines);
            }
            w.EndObject();
            return;
        case YAML::NodeType::Scalar: {
            const std::string& s = node.Scalar();
            // Quoted scalars ("!" tag) stay strings; plain ones become numbers, booleans or null.
            if (node.Tag() != "!") {
                if (s == "true" || s == "True" || s == "yes") return void(w.Bool(true));
                if (s == "false" || s == "False" || s == "no") return void(w.Bool(false));
                if (s == "~" || s == "null") return void(w.Null());
                bool neg = !s.empty() && s[0] == '-';
                std::string digits = neg ? s.substr(1) : s;
                if (all_digits(digits) && digits.size() < 18 && (digits.size() == 1 || digits[0] != '0')) {
                    return void(w.Int64(std::stoll(s)));
                }
            }
            w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
            return;
        }
    }
}

std::string section_json(const YAML::Node& node, std::map<std::string, int>& lines) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string& k = it->first.Scalar();
        if (k == "plugin") continue;
        std::string at = "/" + pointer_token(k);
        if (it->first.Mark().line >= 0) lines[at] = it->first.Mark().line + 1;
        w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
        to_json(it->second, w, at, lines);
    }
    w.EndObject();
    return buf.GetString();
}

bool is_hex64(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s) {
        if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return false;
    }
    return true;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// `key_line`: the line of the `dns:` key itself, where a missing key is reported.
void read_slot(const reader& r, const YAML::Node& node, const std::string& name, int key_line, config& cfg) {
    if (node.IsNull()) return;  // "runtime:" with nothing: slot left empty on purpose
    if (!node.IsMap()) r.fail(node, name, "must be a map with at least `plugin: NAME`");
    const YAML::Node plugin = node["plugin"];
    if (!plugin) r.fail(node, name + ".plugin", "is missing: name the plugin that fills this slot (for example sqlite-state)");
    slot s;
    s.plugin = r.scalar(plugin, name + ".plugin");
    for (char c : s.plugin) {
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
            r.fail(plugin, name + ".plugin", "'" + s.plugin + "' is not a plugin name (lower-case letters, digits and '-')");
        }
    }
    if (s.plugin.empty()) r.fail(plugin, name + ".plugin", "is empty: name a plugin or remove the section");
    s.config_json = section_json(node, s.key_lines);
    s.line = node.Mark().line + 1;
    s.source = r.source();
    s.key_lines[""] = key_line > 0 ? key_line : s.line;
    cfg.slots[name] = std::move(s);
}

void read_tunnel(const reader& r, const YAML::Node& node, config& cfg) {
    if (!node.IsMap()) r.fail(node, "tunnel", "must be a map (id, ingress, config_file, metrics)");
    r.only_keys(node, "tunnel",
                {"id", "default_domain", "ingress", "config_file", "metrics", "backup_dir", "history_keep",
                 "ready_timeout", "cloudflared_bin", "apply_delay"});
    if (node["default_domain"]) cfg.tunnel.default_domain = r.scalar(node["default_domain"], "tunnel.default_domain");
    if (node["backup_dir"]) cfg.tunnel.backup_dir = r.scalar(node["backup_dir"], "tunnel.backup_dir");
    if (node["history_keep"]) {
        std::string keep = r.scalar(node["history_keep"], "tunnel.history_keep");
        if (!all_digits(keep) || keep.size() > 7) {
            r.fail(node["history_keep"], "tunnel.history_keep",
                   "'" + keep + "' is not a number of versions: write a whole number, e.g. 100 (0 keeps every version)");
        }
        cfg.tunnel.history_keep = std::stoi(keep);
    }
    if (node["id"]) cfg.tunnel.id = r.scalar(node["id"], "tunnel.id");
    if (node["ingress"]) {
        cfg.tunnel.ingress = r.scalar(node["ingress"], "tunnel.ingress");
        if (cfg.tunnel.ingress != "local" && cfg.tunnel.ingress != "remote") {
            r.fail(node["ingress"], "tunnel.ingress",
                   "'" + cfg.tunnel.ingress + "' is not a strategy: use `local` (cloudflared's config.yml) or `remote` (the Cloudflare API)");
        }
    }
    if (node["apply_delay"]) {
        // 0 (the default): each change is applied at once. Else changes within it share one apply.
        const std::string v = r.scalar(node["apply_delay"], "tunnel.apply_delay");
        if (v == "0" || v == "off") {
            cfg.tunnel.apply_delay = std::chrono::milliseconds(0);
        } else {
            auto d = parse_duration(v);
            if (!d) r.fail(node["apply_delay"], "tunnel.apply_delay", d.error());
            if (*d > std::chrono::seconds(60)) {
                r.fail(node["apply_delay"], "tunnel.apply_delay", "must be at most 60s: every change waits this long");
            }
            cfg.tunnel.apply_delay = *d;
        }
    }
    if (node["ready_timeout"]) {
        auto d = parse_duration(r.scalar(node["ready_timeout"], "tunnel.ready_timeout"));
        if (!d) r.fail(node["ready_timeout"], "tunnel.ready_timeout", d.error());
        cfg.tunnel.ready_timeout = *d;
    }
    if (node["config_file"]) cfg.tunnel.config_file = r.scalar(node["config_file"], "tunnel.config_file");
    if (node["cloudflared_bin"]) cfg.tunnel.cloudflared_bin = r.scalar(node["cloudflared_bin"], "tunnel.cloudflared_bin");
    if (node["metrics"]) {
        cfg.tunnel.metrics = r.scalar(node["metrics"], "tunnel.metrics");
        auto colon = cfg.tunnel.metrics.rfind(':');
        if (colon == std::string::npos || !all_digits(cfg.tunnel.metrics.substr(colon + 1))) {
            r.fail(node["metrics"], "tunnel.metrics",
                   "'" + cfg.tunnel.metrics + "' is not HOST:PORT; pin cloudflared's metrics address, e.g. 127.0.0.1:20241");
        }
    }
}

std::chrono::milliseconds duration_at(const reader& r, const YAML::Node& node, const std::string& key) {
    auto d = parse_duration(r.scalar(node, key));
    if (!d) r.fail(node, key, d.error());
    return *d;
}

void read_health(const reader& r, const YAML::Node& node, config& cfg) {
    if (!node.IsMap()) r.fail(node, "health", "must be a map (interval, strikes, backoff)");
    r.only_keys(node, "health", {"interval", "strikes", "backoff"});
    if (node["interval"]) {
        cfg.health.interval = duration_at(r, node["interval"], "health.interval");
        if (cfg.health.interval < std::chrono::seconds(1)) {
            r.fail(node["interval"], "health.interval", "must be at least 1s");
        }
    }
    if (node["strikes"]) {
        std::string s = r.scalar(node["strikes"], "health.strikes");
        if (!all_digits(s) || s.size() > 3 || std::stoi(s) < 1) {
            r.fail(node["strikes"], "health.strikes", "'" + s + "' must be a whole number from 1 to 999");
        }
        cfg.health.strikes = std::stoi(s);
    }
    if (node["backoff"]) {
        const YAML::Node b = node["backoff"];
        if (!b.IsSequence() || b.size() == 0) {
            r.fail(b, "health.backoff", "must be a non-empty list of durations, e.g. [5s, 15s, 30s, 1m, 5m]");
        }
        cfg.health.backoff.clear();
        for (size_t i = 0; i < b.size(); ++i) {
            cfg.health.backoff.push_back(duration_at(r, b[i], "health.backoff[" + std::to_string(i) + "]"));
        }
    }
}

void read_reconcile(const reader& r, const YAML::Node& node, config& cfg) {
    if (!node.IsMap()) r.fail(node, "reconcile", "must be a map, e.g. { interval: 10m, repair: report }");
    r.only_keys(node, "reconcile", {"interval", "repair"});
    if (node["interval"]) {
        // 0 or off: the daemon does not reconcile by itself (`tunnelmgr reconcile` still does).
        if (node["interval"].IsScalar() && (node["interval"].Scalar() == "0" || node["interval"].Scalar() == "off")) {
            cfg.reconcile.interval = std::chrono::milliseconds(0);
        } else {
            cfg.reconcile.interval = duration_at(r, node["interval"], "reconcile.interval");
            if (cfg.reconcile.interval < std::chrono::seconds(1)) {
                r.fail(node["interval"], "reconcile.interval", "must be at least 1s (or 0 / off: only on demand)");
            }
        }
    }
    if (node["repair"]) {
        std::string v = r.scalar(node["repair"], "reconcile.repair");
        if (v != "report" && v != "repair") {
            r.fail(node["repair"], "reconcile.repair",
                   "'" + v + "' is neither `report` (list drift only) nor `repair` (also restore missing or changed "
                   "records and missing rules)");
        }
        cfg.reconcile.repair = v;
    }
}

// A whole number from `min` to `max`, e.g. a rate or a quota.
int64_t whole_number(const reader& r, const YAML::Node& node, const std::string& key, int64_t min, int64_t max) {
    std::string s = r.scalar(node, key);
    if (!all_digits(s) || s.size() > 9 || std::stoll(s) < min || std::stoll(s) > max) {
        r.fail(node, key, "'" + s + "' must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    }
    return std::stoll(s);
}

// Why `s` cannot be (part of) a DNS label — a–z, 0–9 and '-' only — or "" when it can.
std::string label_chars_problem(const std::string& s) {
    for (char c : s) {
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
            return "'" + s + "' has the character '" + std::string(1, c) + "': use a–z, 0–9 and '-' only";
        }
    }
    return "";
}

// One whole DNS label, folded to lower case: 1–63 of a–z, 0–9, '-', no '-' at either end.
std::string dns_label(const reader& r, const YAML::Node& node, const std::string& key) {
    std::string s = lower(r.scalar(node, key));
    std::string problem = label_chars_problem(s);
    if (problem.empty() && (s.empty() || s.size() > 63)) problem = "'" + s + "' must be 1 to 63 characters long";
    if (problem.empty() && (s.front() == '-' || s.back() == '-')) problem = "'" + s + "' starts or ends with '-'";
    if (!problem.empty()) r.fail(node, key, problem + " (one DNS label, e.g. www)");
    return s;
}

// projects.P.domains: a zone or a list of zones ("*": any zone of the account), folded to lower case.
std::vector<std::string> read_project_domains(const reader& r, const YAML::Node& node, const std::string& key) {
    std::vector<YAML::Node> items;
    if (node.IsSequence()) {
        for (const auto& item : node) items.push_back(item);
    } else if (node.IsScalar()) {
        items.push_back(node);
    } else {
        r.fail(node, key, "must be a list of zones, e.g. [example.com, example.org] (or [\"*\"] for every zone of the account)");
    }
    if (items.empty()) {
        r.fail(node, key, "is empty: list at least one zone, e.g. [example.com]; to stop the project publishing, "
                          "set max_hostnames: 0");
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < items.size(); ++i) {
        const std::string at = key + "[" + std::to_string(i) + "]";
        std::string zone = lower(r.scalar(items[i], at));
        while (!zone.empty() && zone.back() == '.') zone.pop_back();
        if (zone != "*") {
            std::string label, problem;
            size_t labels = 0;
            for (size_t j = 0; j <= zone.size() && problem.empty(); ++j) {
                if (j < zone.size() && zone[j] != '.') {
                    label += zone[j];
                    continue;
                }
                problem = label_chars_problem(label);
                if (problem.empty() && (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')) {
                    problem = "'" + label + "' is not a DNS label";
                }
                ++labels;
                label.clear();
            }
            if (problem.empty() && labels < 2) problem = "is not a zone";
            if (!problem.empty()) {
                r.fail(items[i], at, "'" + zone + "': " + problem + "; give a zone such as example.com, or \"*\" for any");
            }
        }
        if (std::find(out.begin(), out.end(), zone) == out.end()) out.push_back(zone);
    }
    return out;
}

// projects.P.names: { prefix: "shop-", suffix: "-shop" }, either or both.
// projects.P.machines: a list of machine names (each machine's state.machine, or its host name).
std::vector<std::string> read_project_machines(const reader& r, const YAML::Node& node, const std::string& key) {
    if (!node.IsSequence() || node.size() == 0) {
        r.fail(node, key, "must be a list of machine names, e.g. [web-1, web-2] (each machine's state.machine, or its "
                          "host name)");
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) {
        const std::string at = key + "[" + std::to_string(i) + "]";
        std::string name = r.scalar(node[i], at);
        if (name.empty() || name.size() > 253 || name.find_first_of(" \t\n\"'") != std::string::npos) {
            r.fail(node[i], at, "must be a machine name (1 to 253 characters, no spaces or quotes), e.g. web-1");
        }
        out.push_back(std::move(name));
    }
    return out;
}

void read_name_rule(const reader& r, const YAML::Node& node, const std::string& key, project& p) {
    if (!node.IsMap()) r.fail(node, key, "must be a map, e.g. { prefix: \"shop-\" } or { suffix: \"-shop\" }");
    r.only_keys(node, key, {"prefix", "suffix"});
    if (const YAML::Node pre = node["prefix"]) {
        p.name_prefix = lower(r.scalar(pre, key + ".prefix"));
        std::string problem = label_chars_problem(p.name_prefix);
        if (problem.empty() && !p.name_prefix.empty() && p.name_prefix.front() == '-') {
            problem = "'" + p.name_prefix + "' starts with '-', which no DNS label may";
        }
        if (!problem.empty()) r.fail(pre, key + ".prefix", problem);
    }
    if (const YAML::Node suf = node["suffix"]) {
        p.name_suffix = lower(r.scalar(suf, key + ".suffix"));
        std::string problem = label_chars_problem(p.name_suffix);
        if (problem.empty() && !p.name_suffix.empty() && p.name_suffix.back() == '-') {
            problem = "'" + p.name_suffix + "' ends with '-', which no DNS label may";
        }
        if (!problem.empty()) r.fail(suf, key + ".suffix", problem);
    }
    if (p.name_prefix.size() + p.name_suffix.size() > 62) {
        r.fail(node, key, "the prefix and suffix together are longer than 62 characters: a DNS label holds at most 63");
    }
}

void read_projects(const reader& r, const YAML::Node& node, config& cfg) {
    if (node.IsNull()) return;
    if (!node.IsMap()) r.fail(node, "projects", "must be a map of project name → {ports, token_sha256}");
    for (auto it = node.begin(); it != node.end(); ++it) {
        project p;
        p.name = it->first.Scalar();
        std::string key = "projects." + p.name;
        for (char c : p.name) {
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
                r.fail(it->first, key, "a project name may hold letters, digits, '-' and '_' only");
            }
        }
        const YAML::Node body = it->second;
        if (!body.IsMap()) r.fail(body, key, "must be a map with `ports` and `token_sha256`");
        r.only_keys(body, key, {"ports", "token_sha256", "rate", "max_hostnames", "domains", "names", "machines"});
        if (!body["ports"]) r.fail(body, key + ".ports", "is missing: give the ports this project may publish, e.g. \"3100-3199\"");
        auto ranges = parse_port_ranges(r.scalar(body["ports"], key + ".ports"));
        if (!ranges) r.fail(body["ports"], key + ".ports", ranges.error());
        p.ports = *ranges;
        if (body["token_sha256"]) {
            p.token_sha256 = lower(r.scalar(body["token_sha256"], key + ".token_sha256"));
            if (!is_hex64(p.token_sha256)) {
                r.fail(body["token_sha256"], key + ".token_sha256",
                       "must be the 64 hex digits of the token's SHA-256 (`printf %s TOKEN | sha256sum`), never the token itself");
            }
        }
        if (const YAML::Node rate = body["rate"]) {
            if (!rate.IsMap()) {
                r.fail(rate, key + ".rate", "must be a map, e.g. { changes_per_minute: 10, checks_per_minute: 60 }");
            }
            r.only_keys(rate, key + ".rate", {"changes_per_minute", "checks_per_minute"});
            if (rate["changes_per_minute"]) {
                p.rate.changes_per_minute = static_cast<int>(
                    whole_number(r, rate["changes_per_minute"], key + ".rate.changes_per_minute", 1, 10000));
            }
            if (rate["checks_per_minute"]) {
                p.rate.checks_per_minute = static_cast<int>(
                    whole_number(r, rate["checks_per_minute"], key + ".rate.checks_per_minute", 1, 10000));
            }
        }
        if (body["max_hostnames"]) {
            p.max_hostnames = whole_number(r, body["max_hostnames"], key + ".max_hostnames", 0, 1000000);
        }
        if (const YAML::Node domains = body["domains"]) p.domains = read_project_domains(r, domains, key + ".domains");
        if (const YAML::Node names = body["names"]) read_name_rule(r, names, key + ".names", p);
        if (const YAML::Node machines = body["machines"]) p.machines = read_project_machines(r, machines, key + ".machines");
        cfg.projects[p.name] = std::move(p);
    }
}

// reserved_labels: [www, mail, ...] replaces the default list; [] reserves none.
void read_reserved_labels(const reader& r, const YAML::Node& node, config& cfg) {
    if (!node.IsSequence()) {
        r.fail(node, "reserved_labels", "must be a list of labels, e.g. [www, mail, login] (or [] to reserve none)");
    }
    cfg.reserved_labels.clear();
    for (size_t i = 0; i < node.size(); ++i) {
        std::string label = dns_label(r, node[i], "reserved_labels[" + std::to_string(i) + "]");
        if (std::find(cfg.reserved_labels.begin(), cfg.reserved_labels.end(), label) == cfg.reserved_labels.end()) {
            cfg.reserved_labels.push_back(label);
        }
    }
}

// dns.default_domain was read by the host although it sits in the dns plugin's section; the host's
// key is tunnel.default_domain now. The old key still works (tunnel.default_domain wins), with a warning.
void read_deprecated_default_domain(const reader& r, const YAML::Node& dns, config& cfg) {
    if (!dns || !dns.IsMap() || !dns["default_domain"]) return;
    const YAML::Node old = dns["default_domain"];
    std::string where = r.source();
    if (old.Mark().line >= 0) where += ":" + std::to_string(old.Mark().line + 1);
    if (cfg.tunnel.default_domain.empty()) {
        cfg.tunnel.default_domain = r.scalar(old, "dns.default_domain");
        cfg.warnings.push_back(where + ": dns.default_domain is deprecated: move it to tunnel.default_domain");
    } else {
        cfg.warnings.push_back(where + ": dns.default_domain is deprecated and ignored: tunnel.default_domain is set; "
                                       "remove dns.default_domain");
    }
}

}  // namespace

tl::expected<std::vector<port_range>, std::string> parse_port_ranges(const std::string& text) {
    std::vector<port_range> out;
    std::stringstream in(text);
    std::string piece;
    while (std::getline(in, piece, ',')) {
        piece = trim(piece);
        if (piece.empty()) continue;
        auto dash = piece.find('-');
        std::string a = trim(piece.substr(0, dash));
        std::string b = dash == std::string::npos ? a : trim(piece.substr(dash + 1));
        auto bad = [&] {
            return "'" + piece + "' is not a port or a range: write ports 1-65535 like \"3100-3199, 8080\"";
        };
        if (!all_digits(a) || !all_digits(b) || a.size() > 5 || b.size() > 5) return tl::unexpected(bad());
        long first = std::stol(a), last = std::stol(b);
        if (first < 1 || last > 65535 || first > last) return tl::unexpected(bad());
        out.push_back({static_cast<uint16_t>(first), static_cast<uint16_t>(last)});
    }
    if (out.empty()) return tl::unexpected(std::string("no ports given: write ports like \"3100-3199, 8080\""));
    return out;
}

tl::expected<std::chrono::milliseconds, std::string> parse_duration(const std::string& raw) {
    std::string text = trim(raw);
    size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) ++i;
    std::string number = text.substr(0, i), unit = text.substr(i);
    auto bad = [&] {
        return "'" + raw + "' is not a duration: write a whole number with a unit, e.g. 250ms, 30s, 1m, 2h";
    };
    if (number.empty() || number.size() > 9) return tl::unexpected(bad());
    long long n = std::stoll(number);
    if (unit == "ms") return std::chrono::milliseconds(n);
    if (unit == "s" || unit.empty()) return std::chrono::milliseconds(n * 1000);
    if (unit == "m") return std::chrono::milliseconds(n * 60'000);
    if (unit == "h") return std::chrono::milliseconds(n * 3'600'000);
    return tl::unexpected(bad());
}

const std::vector<std::string>& default_reserved_labels() {
    static const std::vector<std::string> labels{
        "www",  "mail",   "smtp",  "imap",   "pop",   "pop3",    "webmail", "mx",     "ns",
        "ns1",  "ns2",    "autodiscover",    "autoconfig",       "wpad",    "isatap", "login",
        "signin", "sso",  "auth",  "oauth",  "account", "accounts", "admin", "cpanel", "webdisk"};
    return labels;
}

std::string default_plugin_dir() {
#ifdef TM_DEFAULT_PLUGIN_DIR
    return TM_DEFAULT_PLUGIN_DIR;
#else
    return "/usr/lib/tunnelmgr/plugins";
#endif
}

std::string default_state_path() {
    if (const char* p = std::getenv("TUNNELMGR_STATE_DB"); p != nullptr && *p != '\0') return p;
    if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && *x != '\0') {
        return std::string(x) + "/tunnelmgr/state.db";
    }
    if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
        return std::string(h) + "/.local/state/tunnelmgr/state.db";
    }
    return "/var/lib/tunnelmgr/state.db";
}

config embedded_default() {
    config cfg;
    cfg.source = "<embedded default>";
    cfg.plugin_dirs = {default_plugin_dir()};
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("path");
    std::string path = default_state_path();
    w.String(path.c_str(), static_cast<rapidjson::SizeType>(path.size()));
    w.EndObject();
    slot state;
    state.plugin = "sqlite-state";
    state.config_json = buf.GetString();
    state.source = cfg.source;
    cfg.slots["state"] = std::move(state);
    cfg.machine = machine_of(cfg.slots);
    return cfg;
}

tl::expected<config, std::string> load_string(const std::string& yaml, const std::string& source_name) {
    reader r(source_name);
    try {
        YAML::Node root = YAML::Load(yaml);
        if (auto dup = find_duplicate_key(root)) {
            return tl::unexpected(source_name + ":" + std::to_string(dup->line) + ": " + dup->key +
                                  ": written twice (first on line " + std::to_string(dup->first_line) +
                                  "); only the first would count: keep one");
        }
        config cfg;
        cfg.source = source_name;
        if (root.IsNull()) return tl::unexpected(source_name + ": the file is empty; start from packaging/examples/config.yml");
        if (!root.IsMap()) r.fail(root, "(top level)", "must be a map of sections (state, dns, tunnel, ...)");
        r.only_keys(root, "", {"state", "dns", "runtime", "supervisor", "transport", "tunnel", "health", "projects",
                               "admin", "plugin_dir", "log", "metrics", "api", "reserved_labels", "reconcile"});
        for (const auto& name : slot_names()) {
            if (!root[name]) continue;
            int key_line = 0;
            for (auto it = root.begin(); it != root.end(); ++it) {
                if (it->first.Scalar() == name) key_line = it->first.Mark().line + 1;
            }
            read_slot(r, root[name], name, key_line, cfg);
        }
        if (root["tunnel"]) read_tunnel(r, root["tunnel"], cfg);
        read_deprecated_default_domain(r, root["dns"], cfg);
        if (root["health"]) read_health(r, root["health"], cfg);
        if (root["reconcile"]) read_reconcile(r, root["reconcile"], cfg);
        if (root["projects"]) read_projects(r, root["projects"], cfg);
        if (root["reserved_labels"]) read_reserved_labels(r, root["reserved_labels"], cfg);
        for (const auto& [name, p] : cfg.projects) {
            if (p.domains.empty() && cfg.tunnel.default_domain.empty()) {
                cfg.warnings.push_back(source_name + ": project '" + name + "' may publish in no zone: set projects." +
                                       name + ".domains (or tunnel.default_domain)");
            }
        }
        if (const YAML::Node m = root["metrics"]) {
            if (!m.IsMap()) r.fail(m, "metrics", "must be a map with `listen`, e.g. { listen: 127.0.0.1:9464 }");
            r.only_keys(m, "metrics", {"listen"});
            if (m["listen"]) {
                cfg.metrics.listen = r.scalar(m["listen"], "metrics.listen");
                auto where = sys::parse_listen_address(cfg.metrics.listen);
                if (!where) r.fail(m["listen"], "metrics.listen", where.error());
            }
        }
        if (const YAML::Node api = root["api"]) {
            if (!api.IsMap()) r.fail(api, "api", "must be a map, e.g. { socket: /run/tunnelmgr/api.sock, group: tunnelmgr-clients }");
            r.only_keys(api, "api", {"socket", "group"});
            if (api["socket"]) {
                cfg.api.socket = r.scalar(api["socket"], "api.socket");
                if (!cfg.api.socket.empty() && cfg.api.socket.front() != '/') {
                    r.fail(api["socket"], "api.socket", "must be an absolute path, e.g. /run/tunnelmgr/api.sock (or empty for no socket)");
                }
                if (cfg.api.socket.size() > 100) {
                    r.fail(api["socket"], "api.socket", "is longer than a unix socket path may be (100 bytes); choose a shorter path");
                }
            }
            if (api["group"]) cfg.api.group = r.scalar(api["group"], "api.group");
        }
        if (const YAML::Node admin = root["admin"]) {
            if (!admin.IsMap()) r.fail(admin, "admin", "must be a map with `token_sha256`");
            r.only_keys(admin, "admin", {"token_sha256"});
            if (admin["token_sha256"]) {
                cfg.admin_token_sha256 = lower(r.scalar(admin["token_sha256"], "admin.token_sha256"));
                if (!is_hex64(cfg.admin_token_sha256)) {
                    r.fail(admin["token_sha256"], "admin.token_sha256",
                           "must be the 64 hex digits of the token's SHA-256 (`printf %s TOKEN | sha256sum`), never the token itself");
                }
            }
        }
        if (const YAML::Node dir = root["plugin_dir"]) {
            if (dir.IsSequence()) {
                for (size_t i = 0; i < dir.size(); ++i) cfg.plugin_dirs.push_back(r.scalar(dir[i], "plugin_dir"));
            } else {
                cfg.plugin_dirs.push_back(r.scalar(dir, "plugin_dir"));
            }
        }
        if (cfg.plugin_dirs.empty()) cfg.plugin_dirs.push_back(default_plugin_dir());
        cfg.machine = machine_of(cfg.slots);
        if (const YAML::Node lg = root["log"]) {
            if (!lg.IsMap()) r.fail(lg, "log", "must be a map with `level`");
            r.only_keys(lg, "log", {"level"});
            if (lg["level"]) cfg.log_level = r.scalar(lg["level"], "log.level");
        }
        return cfg;
    } catch (const config_error& e) {
        return tl::unexpected(e.message);
    } catch (const YAML::Exception& e) {
        std::string where = source_name;
        if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1);
        return tl::unexpected(where + ": not valid YAML: " + e.msg);
    }
}

std::string machine_of(const std::map<std::string, slot>& slots) {
    if (auto it = slots.find("state"); it != slots.end()) {
        rapidjson::Document d;
        d.Parse(it->second.config_json.c_str());
        if (!d.HasParseError() && d.IsObject()) {
            auto m = d.FindMember("machine");
            if (m != d.MemberEnd() && m->value.IsString() && m->value.GetStringLength() > 0) return m->value.GetString();
        }
    }
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

tl::expected<config, std::string> load_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return tl::unexpected(path + ": cannot read the config file (does it exist, and may this user read it?)");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return load_string(ss.str(), path);
}

}  // namespace tunnelmgr::config
