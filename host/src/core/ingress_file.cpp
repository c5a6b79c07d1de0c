// See ingress_file.hpp. yaml-cpp tells us where each rule sits (marks); the edit itself is done on
// the text so comments and formatting survive, then re-parsed and compared with what we meant.
#include "core/ingress_file.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <sys/stat.h>

#include <yaml-cpp/yaml.h>

#include "common/yaml_duplicate_keys.hpp"
#include "core/ingress_scan.hpp"
#include "core/origin_settings.hpp"
#include "sys/files.hpp"
#include "sys/process.hpp"

namespace tunnelmgr::core {
namespace {


// The file as an edit needs it (ingress_scan.hpp): read by libyaml when the document is plain, else
// by yaml-cpp, which also says what is wrong with a file that cannot be edited.
using parsed = ingress_scan;

std::string scalar_or_empty(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

result<parsed> parse(const std::string& text, const std::string& path) {
    if (auto plain = scan_plain(text)) return std::move(*plain);
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
    if (root.IsNull()) return parsed{};
    if (!root.IsMap()) {
        return fail(errc::invalid, path + " is not a YAML map of settings; fix it by hand — tunnelmgr leaves it untouched");
    }
    const YAML::Node ingress = root["ingress"];
    if (!ingress) return parsed{};
    if (!ingress.IsSequence()) {
        return fail(errc::invalid, path + ": `ingress` must be a list of rules; fix it by hand — tunnelmgr leaves it untouched");
    }
    for (size_t i = 0; i < ingress.size(); ++i) {
        if (!ingress[i].IsMap()) {
            return fail(errc::invalid, path + ": ingress rule #" + std::to_string(i + 1) +
                                           " is not a map; fix it by hand — tunnelmgr leaves it untouched");
        }
    }
    return scan_tree(root);
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string cur;
    for (char c : text) {
        cur += c;
        if (c == '\n') {
            lines.push_back(cur);
            cur.clear();
        }
    }
    if (!cur.empty()) lines.push_back(cur + "\n");
    return lines;
}

std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l;
    return out;
}

// The line holding the '-' that opens sequence item `item` (a block map whose mark is its first key).
int dash_line(const std::vector<std::string>& lines, const ingress_item& item) {
    int line = item.line;
    for (int l = std::min<int>(line, static_cast<int>(lines.size()) - 1); l >= 0; --l) {
        const std::string& s = lines[static_cast<size_t>(l)];
        size_t first = s.find_first_not_of(" \t");
        if (first != std::string::npos && s[first] == '-') return l;
    }
    return -1;
}

bool same_rules(const std::vector<ingress_rule>& a, const std::vector<ingress_rule>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].hostname != b[i].hostname || a[i].path != b[i].path || a[i].service != b[i].service) return false;
    }
    return true;
}

// The originRequest of rule node `rule` as origin_settings JSON ("" for none); an error when it holds
// anything tunnelmgr does not set per hostname (a hand edit: not ours to rewrite).
result<std::string> managed_origin(const ingress_item& rule) {
    switch (rule.origin) {
        case ingress_item::origin_kind::none:
            return std::string();
        case ingress_item::origin_kind::not_map:
            return fail(errc::invalid, "its originRequest is not a map of settings");
        case ingress_item::origin_kind::nested:
            return fail(errc::invalid, "its originRequest holds a nested value");
        case ingress_item::origin_kind::map:
            break;
    }
    auto settings = origin_settings_from_words(rule.origin_words);
    if (!settings) return tl::unexpected(settings.error());
    return settings->empty() ? std::string() : settings->to_json();
}

// "{}" and "" both mean no settings.
std::string no_empty_origin(const std::string& origin) { return origin == "{}" ? std::string() : origin; }

// The lines of a new rule: `- hostname`, `service`, and its originRequest map, under `indent`.
std::vector<std::string> rule_lines(const std::string& indent, const std::string& host, const std::string& service,
                                    const std::string& origin) {
    std::vector<std::string> out{indent + "- hostname: " + host + "\n", indent + "  service: " + service + "\n"};
    if (origin.empty()) return out;
    auto settings = origin_settings_from_json_text(origin);
    if (!settings || settings->empty()) return out;
    out.push_back(indent + "  originRequest:\n");
    for (const auto& line : settings->yaml_lines()) out.push_back(indent + "    " + line + "\n");
    return out;
}

// The same document with `ingress` replaced, emitted by yaml-cpp: used only when the text edit is not
// possible (flow-style lists, no ingress section); keeps every key, loses comments.
// `origins`: hostname → the originRequest (origin_settings JSON) of a rule this edit writes anew.
std::string reemit(YAML::Node root, const std::vector<ingress_rule>& rules,
                   const std::map<std::string, std::string>& origins = {}) {
    YAML::Node seq(YAML::NodeType::Sequence);
    YAML::Node old = root["ingress"];
    for (const auto& r : rules) {
        YAML::Node item(YAML::NodeType::Map);
        // Keep every key of an existing rule (originRequest, ...), matched by hostname+path.
        bool copied = false;
        const auto origin = r.path.empty() ? origins.find(r.hostname) : origins.end();
        if (origin == origins.end() && old && old.IsSequence()) {
            for (const auto& o : old) {
                if (scalar_or_empty(o["hostname"]) == r.hostname && scalar_or_empty(o["path"]) == r.path &&
                    scalar_or_empty(o["service"]) == r.service) {
                    item = YAML::Clone(o);
                    copied = true;
                    break;
                }
            }
        }
        if (!copied) {
            if (!r.hostname.empty()) item["hostname"] = r.hostname;
            if (!r.path.empty()) item["path"] = r.path;
            item["service"] = r.service;
            if (origin != origins.end() && !origin->second.empty()) {
                // Each line is "key: value" as YAML reads it; parsed back into a node of its own.
                auto settings = origin_settings_from_json_text(origin->second);
                if (settings && !settings->empty()) {
                    std::string body;
                    for (const auto& line : settings->yaml_lines()) body += line + "\n";
                    item["originRequest"] = YAML::Load(body);
                }
            }
        }
        seq.push_back(item);
    }
    root["ingress"] = seq;
    YAML::Emitter out;
    out << root;
    return std::string(out.c_str()) + "\n";
}

// The text edit when it re-parses to exactly `want`; else the re-emitted document, checked the same
// way. `out` holds the text to write afterwards.
// `origins` as for reemit: each such rule must read back with exactly that originRequest.
// Returns that parse of `out`, which the next edit can start from.
result<parsed> verified_edit(std::string& out, const std::string& before, const std::vector<ingress_rule>& want,
                             const std::string& path, const std::map<std::string, std::string>& origins = {}) {
    auto origins_hold = [&](const parsed& p) {
        for (const auto& [host, origin] : origins) {
            for (size_t i = 0; i < p.rules.size(); ++i) {
                if (p.rules[i].hostname != host || !p.rules[i].path.empty()) continue;
                auto has = managed_origin(p.items[i]);
                if (!has || *has != origin) return false;
            }
        }
        return true;
    };
    if (!out.empty()) {
        auto check = parse(out, path);
        if (check && same_rules(check->rules, want) && origins_hold(*check)) return check;
    }
    // The document as it was (it parsed before the edit), re-emitted: the rare path, so read again here.
    YAML::Node root = YAML::Load(before);
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    out = reemit(root, want, origins);
    auto verify = parse(out, path);
    if (!verify || !same_rules(verify->rules, want) || !origins_hold(*verify)) {
        return fail(errc::error, "could not produce a valid edit of " + path + "; it is left untouched (report this as a bug)");
    }
    return verify;
}

// An edit of a plain block list, verified without reading the whole new text again.
// Why that holds: the lines before the edit are the bytes the parser read before, and it stood there
// at the `-` of a list item, at the list's column; the edit puts whole items there (or takes whole
// items out), and the lines after it begin with the next item's `-` at that same column. So the new
// text reads as the old one with the items added or taken out, the later ones further down or up.
// What an edit adds is read on its own, and must be exactly the rule meant. Anything else (flow
// lists, anchors anywhere, a dash where the scan does not put an item) is left to verified_edit.

// `line` opens a list item at column indent.size(): indent, '-', then a blank or the line's end.
bool opens_item(const std::string& line, const std::string& indent) {
    if (line.size() <= indent.size() || line.compare(0, indent.size(), indent) != 0 || line[indent.size()] != '-') {
        return false;
    }
    if (line.size() == indent.size() + 1) return true;
    const char next = line[indent.size() + 1];
    return next == ' ' || next == '\t' || next == '\n' || next == '\r';
}

// `add` (the lines of one rule, each starting with `indent`) put before the last item, whose `-` is
// line `at` of the old text.
std::optional<parsed> spliced_add(const parsed& before, const std::vector<std::string>& old_lines, int at,
                                  const std::string& indent, const std::vector<std::string>& add,
                                  const ingress_rule& rule, const std::string& origin) {
    if (!before.plain || !before.has_ingress || !before.block || before.items.empty()) return std::nullopt;
    if (at < 0 || static_cast<size_t>(at) >= old_lines.size() || !opens_item(old_lines[static_cast<size_t>(at)], indent)) {
        return std::nullopt;
    }
    const size_t last = before.items.size() - 1;
    if (before.items[last].line < at || (last > 0 && before.items[last - 1].line >= at)) return std::nullopt;
    std::string alone = "ingress:\n";
    for (const auto& l : add) {
        if (l.compare(0, indent.size(), indent) != 0) return std::nullopt;
        alone += l.substr(indent.size());
    }
    auto read = scan_plain(alone);
    if (!read || read->rules.size() != 1 || read->rules[0].hostname != rule.hostname || !read->rules[0].path.empty() ||
        read->rules[0].service != rule.service) {
        return std::nullopt;
    }
    const std::vector<std::string> keys = origin.empty() ? std::vector<std::string>{"hostname", "service"}
                                                         : std::vector<std::string>{"hostname", "service", "originRequest"};
    auto has = managed_origin(read->items[0]);
    if (read->items[0].keys != keys || !has || *has != origin) return std::nullopt;
    parsed after = before;
    ingress_item item = read->items[0];
    item.line = at + item.line - 1;  // its first line was line 1 of `alone`
    after.items.insert(after.items.begin() + static_cast<std::ptrdiff_t>(last), std::move(item));
    after.rules.insert(after.rules.begin() + static_cast<std::ptrdiff_t>(last), read->rules[0]);
    after.items.back().line += static_cast<int>(add.size());
    return after;
}

// Item `index` taken out: the old text's lines [from, to), from its `-` to the next item's.
std::optional<parsed> spliced_remove(const parsed& before, const std::vector<std::string>& old_lines, size_t index,
                                     int from, int to) {
    if (!before.plain || !before.has_ingress || !before.block || index + 1 >= before.items.size()) return std::nullopt;
    if (from < 0 || to <= from || static_cast<size_t>(to) >= old_lines.size()) return std::nullopt;
    const std::string& dash = old_lines[static_cast<size_t>(from)];
    const std::string indent = dash.substr(0, dash.find('-'));
    if (!opens_item(dash, indent) || !opens_item(old_lines[static_cast<size_t>(to)], indent)) return std::nullopt;
    if (before.items[index].line < from || before.items[index].line >= to || before.items[index + 1].line < to ||
        (index > 0 && before.items[index - 1].line >= from)) {
        return std::nullopt;
    }
    parsed after = before;
    after.items.erase(after.items.begin() + static_cast<std::ptrdiff_t>(index));
    after.rules.erase(after.rules.begin() + static_cast<std::ptrdiff_t>(index));
    for (size_t i = index; i < after.items.size(); ++i) after.items[i].line -= to - from;
    return after;
}

// A missing file is said plainly (not as the lock file it would have needed); a symlink is followed
// so every editor locks, and replaces, the same real file.
result<std::string> existing_file(const std::string& path) {
    std::error_code ec;
    auto real = std::filesystem::canonical(path, ec);
    if (!ec) return real.string();
    if (ec == std::errc::no_such_file_or_directory) {
        std::error_code lec;
        bool dangling = std::filesystem::is_symlink(path, lec);
        return fail(errc::invalid, "the ingress file " + path + (dangling ? " is a symlink to a file that" : "") +
                                       " does not exist: point tunnel.config_file at the config.yml cloudflared "
                                       "runs with, or create it there (a `tunnel:` line and an `ingress:` list "
                                       "ending in a catch-all such as `- service: http_status:404`)");
    }
    return fail(errc::error, "cannot reach the ingress file " + path + ": " + ec.message());
}

// The file under its lock, parsed, and valid by cloudflared's rules if it has any ingress: what
// every edit starts from. The lock is held for as long as the result lives.
struct locked_file {
    sys::file_lock lock;
    std::string text;
    parsed doc;
};

}  // namespace

// The last text this editor read or wrote, with its parse: a file that still holds exactly that text
// (compared byte for byte, which costs far less than parsing it) is not parsed again, so an edit in
// a long-running process parses once, to verify its own result.
struct ingress_file::parse_cache {
    std::mutex m;
    std::string text;
    std::optional<parsed> doc;  // parsed, and valid by cloudflared's rules

    std::optional<parsed> find(const std::string& now) {
        std::lock_guard<std::mutex> l(m);
        if (!doc || now != text) return std::nullopt;
        return doc;
    }
    void keep(const std::string& t, const parsed& p) {
        std::lock_guard<std::mutex> l(m);
        text = t;
        doc = p;
    }
};

namespace {

result<locked_file> read_locked(const std::string& path, ingress_file::parse_cache* cache = nullptr) {
    auto real = existing_file(path);
    if (!real) return tl::unexpected(real.error());
    auto lock = sys::file_lock::acquire(*real + ".lock");
    if (!lock) return tl::unexpected(lock.error());
    sys::remove_stale_temp_files(*real);
    auto text = sys::read_file(*real);
    if (!text) return tl::unexpected(text.error());
    if (cache != nullptr) {
        if (auto known = cache->find(*text)) return locked_file{std::move(*lock), std::move(*text), std::move(*known)};
    }
    auto p = parse(*text, path);
    if (!p) return tl::unexpected(p.error());
    if (p->has_ingress) {
        if (auto v = validate_ingress(p->rules); !v) {
            return fail(errc::invalid, path + ": " + v.error().message + " — fix the file by hand; tunnelmgr leaves it untouched");
        }
    }
    if (cache != nullptr) cache->keep(*text, *p);
    return locked_file{std::move(*lock), std::move(*text), std::move(*p)};
}

}  // namespace

ingress_file::ingress_file(std::string path, std::string backup_dir, int history_keep, cloudflared_check judge)
    : path_(std::move(path)),
      backup_dir_(std::move(backup_dir)),
      judge_(std::move(judge)),
      cache_(std::make_shared<parse_cache>()) {
    if (backup_dir_.empty()) return;
    // What the history's worker copies: the file as it is, under the lock every editor takes.
    auto take = [path = path_]() -> result<ingress_history::snapshot> {
        auto real = existing_file(path);
        if (!real) return tl::unexpected(real.error());
        auto lock = sys::file_lock::acquire(*real + ".lock");
        if (!lock) return tl::unexpected(lock.error());
        auto text = sys::read_file(*real);
        if (!text) return tl::unexpected(text.error());
        struct stat st {};
        if (::stat(real->c_str(), &st) != 0) return fail(errc::error, "cannot stat " + *real + ": " + std::strerror(errno));
        return ingress_history::snapshot{std::move(*lock), std::move(*text), static_cast<unsigned>(st.st_mode & 07777u)};
    };
    history_ = std::make_shared<ingress_history>(backup_dir_, std::filesystem::path(path_).filename().string(),
                                                 history_keep, std::move(take));
}

result<void> ingress_file::check_editable() const {
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    auto id = sys::replaceable_file(path_);
    if (!id) return tl::unexpected(id.error());
    // A file cloudflared already refuses takes no edit: said now, before anything public is made.
    if (auto v = judge_.validate_file(path_); !v) {
        if (v.error().code != errc::invalid) return tl::unexpected(v.error());
        return fail(errc::invalid, path_ + ": cloudflared refuses it: " + v.error().message +
                                       " — fix the file by hand; tunnelmgr leaves it untouched");
    }
    return {};
}

int ingress_file::remove_leftovers() const {
    auto real = existing_file(path_);
    if (!real) return 0;
    auto lock = sys::file_lock::try_acquire(*real + ".lock");
    if (!lock) return 0;  // an edit is under way: it cleans up itself
    int removed = sys::remove_stale_temp_files(*real);
    if (!backup_dir_.empty()) {
        removed += sys::remove_stale_temp_files(backup_dir_ + "/" + std::filesystem::path(path_).filename().string());
    }
    return removed;
}

result<std::vector<ingress_rule>> ingress_file::read_rules() const {
    auto real = existing_file(path_);
    if (!real) return tl::unexpected(real.error());
    auto text = sys::read_file(*real);
    if (!text) return tl::unexpected(text.error());
    auto p = parse(*text, path_);
    if (!p) return tl::unexpected(p.error());
    if (auto v = validate_ingress(p->rules); !v) {
        return fail(errc::invalid, path_ + ": " + v.error().message + " — fix the file by hand; tunnelmgr leaves it untouched");
    }
    return p->rules;
}

result<ingress_change> ingress_file::add_rule(const std::string& hostname, const std::string& service,
                                              const std::string& origin_in, const std::string& why) {
    if (auto bad = check_service(service); !bad.empty()) return fail(errc::invalid, "the ingress target " + bad);
    const std::string origin = no_empty_origin(origin_in);
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    const std::string* text = &locked->text;
    parsed* p = &locked->doc;
    bool had_ingress = p->has_ingress;
    std::string host = sdk::fold_hostname(hostname);
    for (size_t i = 0; i < p->rules.size(); ++i) {
        const auto& r = p->rules[i];
        if (sdk::fold_hostname(r.hostname) != host) continue;
        if (r.path.empty() && r.service == service) {
            auto has = managed_origin(p->items[i]);
            if (has && *has == origin) return ingress_change{};
        }
        return fail(errc::conflict, path_ + " already routes " + hostname + " to " + r.service +
                                        (r.path.empty() ? "" : " (path " + r.path + ")") +
                                        "; that rule is not tunnelmgr's to change: remove it by hand or pick another name");
    }
    if (auto caught = first_rule_catching(p->rules, host)) return tl::unexpected(shadowed_by(p->rules[*caught], *caught, host));
    std::vector<ingress_rule> want = p->rules;
    if (!had_ingress) want.push_back({"", "", "http_status:404"});
    want.insert(want.end() - 1, ingress_rule{host, "", service});
    if (auto v = validate_ingress(want); !v) return fail(errc::invalid, v.error().message);

    std::string out;
    std::optional<parsed> spliced;
    if (had_ingress && p->block) {
        auto lines = split_lines(*text);
        int at = dash_line(lines, p->items.back());
        if (at >= 0) {
            const std::string& catch_all = lines[static_cast<size_t>(at)];
            std::string indent = catch_all.substr(0, catch_all.find('-'));
            auto add = rule_lines(indent, host, service, origin);
            spliced = spliced_add(*p, lines, at, indent, add, ingress_rule{host, "", service}, origin);
            lines.insert(lines.begin() + at, add.begin(), add.end());
            out = join(lines);
        }
    }
    std::map<std::string, std::string> origins;
    if (!origin.empty()) origins[host] = origin;
    auto verified = spliced ? result<parsed>(std::move(*spliced)) : verified_edit(out, *text, want, path_, origins);
    if (!verified) return tl::unexpected(verified.error());
    auto change = write_and_backup(out, why);
    if (change) cache_->keep(out, *verified);
    return change;
}

result<ingress_change> ingress_file::replace_rule(const std::string& hostname, const std::string& service,
                                                  const std::string& origin_in, const std::string& why) {
    if (auto bad = check_service(service); !bad.empty()) return fail(errc::invalid, "the ingress target " + bad);
    const std::string origin = no_empty_origin(origin_in);
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    parsed* p = &locked->doc;
    const std::string host = sdk::fold_hostname(hostname);
    size_t index = p->rules.size();
    for (size_t i = 0; i + 1 < p->rules.size(); ++i) {
        if (sdk::fold_hostname(p->rules[i].hostname) == host && p->rules[i].path.empty()) {
            index = i;
            break;
        }
    }
    if (index == p->rules.size()) {
        return fail(errc::not_found, path_ + " has no rule for " + host + " to change (run `tunnelmgr reconcile` to restore it)");
    }
    const ingress_item& node = p->items[index];
    for (const auto& key : node.keys) {
        if (key != "hostname" && key != "service" && key != "originRequest") {
            return fail(errc::invalid, path_ + ": the rule of " + host + " (#" + std::to_string(index + 1) + ") has `" + key +
                                           "`, which tunnelmgr does not manage: change that rule by hand");
        }
    }
    auto before = managed_origin(node);
    if (!before) {
        return fail(errc::invalid, path_ + ": the rule of " + host + " (#" + std::to_string(index + 1) + "): " +
                                       before.error().message + " — change that rule by hand");
    }
    ingress_change unchanged;
    unchanged.removed_service = p->rules[index].service;
    unchanged.removed_origin_request = *before;
    if (p->rules[index].service == service && *before == origin) return unchanged;
    std::vector<ingress_rule> want = p->rules;
    want[index].service = service;
    if (auto v = validate_ingress(want); !v) return fail(errc::invalid, v.error().message);

    std::string out;
    if (p->block) {
        auto lines = split_lines(locked->text);
        int from = dash_line(lines, p->items[index]);
        int to = dash_line(lines, p->items[index + 1]);
        // Comments and blank lines just before the next rule stay where they are.
        while (to > from + 1) {
            const std::string& l = lines[static_cast<size_t>(to - 1)];
            size_t first = l.find_first_not_of(" \t\r\n");
            if (first != std::string::npos && l[first] != '#') break;
            --to;
        }
        if (from >= 0 && to > from) {
            const std::string& dash = lines[static_cast<size_t>(from)];
            const std::string indent = dash.substr(0, dash.find('-'));
            auto rule = rule_lines(indent, host, service, origin);
            lines.erase(lines.begin() + from, lines.begin() + to);
            lines.insert(lines.begin() + from, rule.begin(), rule.end());
            out = join(lines);
        }
    }
    std::map<std::string, std::string> origins{{host, origin}};
    auto verified = verified_edit(out, locked->text, want, path_, origins);
    if (!verified) return tl::unexpected(verified.error());
    auto change = write_and_backup(out, why);
    if (change) {
        cache_->keep(out, *verified);
        change->removed_service = unchanged.removed_service;
        change->removed_origin_request = unchanged.removed_origin_request;
    }
    return change;
}

result<ingress_change> ingress_file::remove_rule(const std::string& hostname, const std::string& why) {
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    const std::string* text = &locked->text;
    parsed* p = &locked->doc;
    if (!p->has_ingress) return ingress_change{};  // no rules at all: nothing of ours to remove
    std::string host = sdk::fold_hostname(hostname);
    size_t index = p->rules.size();
    for (size_t i = 0; i + 1 < p->rules.size(); ++i) {
        if (sdk::fold_hostname(p->rules[i].hostname) == host && p->rules[i].path.empty()) {
            index = i;
            break;
        }
    }
    if (index == p->rules.size()) return ingress_change{};
    std::string removed_service = p->rules[index].service;
    std::vector<ingress_rule> want = p->rules;
    want.erase(want.begin() + static_cast<long>(index));

    std::string out;
    std::optional<parsed> spliced;
    if (p->block) {
        auto lines = split_lines(*text);
        int from = dash_line(lines, p->items[index]);
        int to = dash_line(lines, p->items[index + 1]);
        if (from >= 0 && to > from) {
            spliced = spliced_remove(*p, lines, index, from, to);
            lines.erase(lines.begin() + from, lines.begin() + to);
            out = join(lines);
        }
    }
    auto verified = spliced ? result<parsed>(std::move(*spliced)) : verified_edit(out, *text, want, path_);
    if (!verified) return tl::unexpected(verified.error());
    auto change = write_and_backup(out, why);
    if (change) {
        cache_->keep(out, *verified);
        change->removed_service = removed_service;
    }
    return change;
}

result<ingress_change> ingress_file::rewrite(const std::function<result<std::string>(const std::string&)>& edit,
                                            const std::string& why) {
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    auto out = edit(locked->text);
    if (!out) return tl::unexpected(out.error());
    if (*out == locked->text) return ingress_change{};
    auto p = parse(*out, path_);
    if (!p) return fail(errc::error, "the new text of " + path_ + " does not parse (" + p.error().message + "); the file is left untouched");
    if (auto v = validate_ingress(p->rules); !v) {
        return fail(errc::invalid, path_ + " would not pass cloudflared's rules: " + v.error().message +
                                       " — the file is left untouched");
    }
    auto change = write_and_backup(*out, why);
    if (change) cache_->keep(*out, *p);
    return change;
}

result<ingress_change> ingress_file::write_and_backup(const std::string& text, const std::string& why) {
    // Refused here (read-only, an owner this process cannot keep) nothing has changed yet.
    auto id = sys::replaceable_file(path_);
    if (!id) return tl::unexpected(id.error());
    if (auto v = judge_.validate_text(text, path_); !v) {
        if (v.error().code != errc::invalid) return tl::unexpected(v.error());
        if (auto now = judge_.validate_file(path_); !now && now.error().code == errc::invalid) {
            return fail(errc::invalid, path_ + ": cloudflared refuses it: " + now.error().message +
                                           " — fix the file by hand; tunnelmgr leaves it untouched");
        }
        return fail(errc::invalid, "cloudflared refuses " + path_ + " with this change: " + v.error().message +
                                       " — the file is left untouched");
    }
    if (auto w = sys::write_file_atomic(path_, text); !w) return tl::unexpected(w.error());
    ingress_change change;
    change.changed = true;
    if (history_) change.backup_error = history_->record(text, why, id->mode);
    return change;
}

std::string ingress_file::kept_scan_disagreement() const {
    auto text = sys::read_file(path_);
    if (!text) return text.error().message;
    auto kept = cache_->find(*text);
    if (!kept) return "nothing is kept for the text the file holds now";
    YAML::Node root = YAML::Load(*text);
    const auto fresh = scan_tree(root.IsNull() ? YAML::Node(YAML::NodeType::Map) : root);
    if (same_scan(*kept, fresh)) return "";
    auto show = [](const parsed& s) {
        std::string out;
        for (size_t i = 0; i < s.rules.size(); ++i) {
            out += " [" + s.rules[i].hostname + " -> " + s.rules[i].service + " @" + std::to_string(s.items[i].line) + "]";
        }
        return out;
    };
    return "kept:" + show(*kept) + "\nread:" + show(fresh);
}

void ingress_file::write_history_after_reply() {
    if (history_) history_->write_after_reply();
}

std::string ingress_file::flush_history() { return history_ ? history_->flush() : std::string(); }

}  // namespace tunnelmgr::core
