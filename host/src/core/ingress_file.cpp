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
#include <string_view>
#include <utility>
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

// The lines of a text as views into it, each with its '\n'. An edit at 1,000 rules touches two or
// three of them, so none is copied (issue 13).
class text_lines {
public:
    explicit text_lines(const std::string& text) : text_(text) {
        for (size_t at = 0; at < text.size();) {
            start_.push_back(at);
            const void* nl = std::memchr(text.data() + at, '\n', text.size() - at);
            at = nl == nullptr ? text.size() : static_cast<size_t>(static_cast<const char*>(nl) - text.data()) + 1;
        }
    }
    size_t size() const { return start_.size(); }
    std::string_view operator[](size_t i) const {
        return std::string_view(text_).substr(start_[i], offset(i + 1) - start_[i]);
    }
    // The text with lines [from, to) replaced by `with`. A last line without a '\n' gets one.
    std::string edited(size_t from, size_t to, const std::string& with) const {
        std::string out;
        out.reserve(text_.size() + with.size() + 1);
        out.append(text_, 0, offset(from)).append(with).append(text_, offset(to), std::string::npos);
        if (!out.empty() && out.back() != '\n') out += '\n';
        return out;
    }

private:
    size_t offset(size_t i) const { return i < start_.size() ? start_[i] : text_.size(); }
    const std::string& text_;
    std::vector<size_t> start_;
};

std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l;
    return out;
}

// The line holding the '-' that opens sequence item `item` (a block map whose mark is its first key).
int dash_line(const text_lines& lines, const ingress_item& item) {
    int line = item.line;
    for (int l = std::min<int>(line, static_cast<int>(lines.size()) - 1); l >= 0; --l) {
        const std::string_view s = lines[static_cast<size_t>(l)];
        size_t first = s.find_first_not_of(" \t");
        if (first != std::string_view::npos && s[first] == '-') return l;
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
bool opens_item(std::string_view line, std::string_view indent) {
    if (line.size() <= indent.size() || line.compare(0, indent.size(), indent) != 0 || line[indent.size()] != '-') {
        return false;
    }
    if (line.size() == indent.size() + 1) return true;
    const char next = line[indent.size() + 1];
    return next == ' ' || next == '\t' || next == '\n' || next == '\r';
}

// `lines` (one rule, each line starting with `indent`) read on their own, as an item at the list's
// column: the item they make when it is exactly `rule` with `origin` and nothing else; its line is
// counted from the first of `lines`.
std::optional<ingress_item> read_alone(const std::string& indent, const std::vector<std::string>& lines,
                                       const ingress_rule& rule, const std::string& origin) {
    std::string alone = "ingress:\n";
    for (const auto& l : lines) {
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
    ingress_item item = std::move(read->items[0]);
    item.line -= 1;  // its first line was line 1 of `alone`
    return item;
}

// `add` (the lines of one rule, each starting with `indent`) put before the last item, whose `-` is
// line `at` of the old text: the item it makes (its line in the new text), when the splice holds.
std::optional<ingress_item> spliced_add(const parsed& before, const text_lines& old_lines, int at,
                                        const std::string& indent, const std::vector<std::string>& add,
                                        const ingress_rule& rule, const std::string& origin) {
    if (!before.plain || !before.has_ingress || !before.block || before.items.empty()) return std::nullopt;
    if (at < 0 || static_cast<size_t>(at) >= old_lines.size() || !opens_item(old_lines[static_cast<size_t>(at)], indent)) {
        return std::nullopt;
    }
    const size_t last = before.items.size() - 1;
    if (before.items[last].line < at || (last > 0 && before.items[last - 1].line >= at)) return std::nullopt;
    auto item = read_alone(indent, add, rule, origin);
    if (item) item->line += at;
    return item;
}

// Item `index`, whose `-` is line `from` of the old text, replaced by `with` (one rule's lines) up to
// line `to`; the lines from `to` to the next item's `-` (line `next`) are blank or comments, which the
// parser skips. The item `with` makes (its line in the new text), when the splice holds.
std::optional<ingress_item> spliced_replace(const parsed& before, const text_lines& old_lines, size_t index, int from,
                                            int to, int next, const std::string& indent,
                                            const std::vector<std::string>& with, const ingress_rule& rule,
                                            const std::string& origin) {
    if (!before.plain || !before.has_ingress || !before.block || index + 1 >= before.items.size()) return std::nullopt;
    if (from < 0 || to <= from || next < to || static_cast<size_t>(next) >= old_lines.size()) return std::nullopt;
    if (!opens_item(old_lines[static_cast<size_t>(from)], indent) || !opens_item(old_lines[static_cast<size_t>(next)], indent)) {
        return std::nullopt;
    }
    if (before.items[index].line < from || before.items[index].line >= to || before.items[index + 1].line < next ||
        (index > 0 && before.items[index - 1].line >= from)) {
        return std::nullopt;
    }
    for (int l = to; l < next; ++l) {
        const std::string_view line = old_lines[static_cast<size_t>(l)];
        const size_t first = line.find_first_not_of(" \t\r\n");
        if (first != std::string_view::npos && line[first] != '#') return std::nullopt;
    }
    auto item = read_alone(indent, with, rule, origin);
    if (item) item->line += from;
    return item;
}

// The scan of the text spliced_replace made: item `index` is `item` and `rule`, `moved` lines longer.
void apply_replace(parsed& p, size_t index, ingress_item item, ingress_rule rule, int moved) {
    p.items[index] = std::move(item);
    p.rules[index] = std::move(rule);
    for (size_t i = index + 1; i < p.items.size(); ++i) p.items[i].line += moved;
}

// The scan of the text spliced_add made: `item` and `rule` before the catch-all, which moved down.
void apply_add(parsed& p, ingress_item item, ingress_rule rule, int added_lines) {
    const auto last = static_cast<std::ptrdiff_t>(p.items.size() - 1);
    p.items.insert(p.items.begin() + last, std::move(item));
    p.rules.insert(p.rules.begin() + last, std::move(rule));
    p.items.back().line += added_lines;
}

// Whether item `index` can be taken out as the old text's lines [from, to), from its `-` to the next item's.
bool spliced_remove(const parsed& before, const text_lines& old_lines, size_t index, int from, int to) {
    if (!before.plain || !before.has_ingress || !before.block || index + 1 >= before.items.size()) return false;
    if (from < 0 || to <= from || static_cast<size_t>(to) >= old_lines.size()) return false;
    const std::string_view dash = old_lines[static_cast<size_t>(from)];
    const std::string_view indent = dash.substr(0, dash.find('-'));
    if (!opens_item(dash, indent) || !opens_item(old_lines[static_cast<size_t>(to)], indent)) return false;
    return !(before.items[index].line < from || before.items[index].line >= to || before.items[index + 1].line < to ||
             (index > 0 && before.items[index - 1].line >= from));
}

// The scan of the text without item `index`'s `removed_lines` lines.
void apply_remove(parsed& p, size_t index, int removed_lines) {
    p.items.erase(p.items.begin() + static_cast<std::ptrdiff_t>(index));
    p.rules.erase(p.rules.begin() + static_cast<std::ptrdiff_t>(index));
    for (size_t i = index; i < p.items.size(); ++i) p.items[i].line -= removed_lines;
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

}  // namespace

// The last text this editor read or wrote, with its parse: a file that still holds exactly that text
// (compared byte for byte, which costs far less than parsing it) is not parsed again, so an edit in
// a long-running process parses nothing but the lines it adds. An edit takes the parse out (no
// copy of 1,000 rules) and gives back what it leaves, under the file's lock.
struct ingress_file::parse_cache {
    std::mutex m;
    std::string text;
    std::optional<parsed> doc;  // parsed, and valid by cloudflared's rules

    std::optional<parsed> take(const std::string& now) {
        std::lock_guard<std::mutex> l(m);
        if (!doc || now != text) return std::nullopt;
        std::optional<parsed> out = std::move(doc);
        doc.reset();
        text.clear();
        return out;
    }
    std::optional<parsed> copy(const std::string& now) {
        std::lock_guard<std::mutex> l(m);
        if (!doc || now != text) return std::nullopt;
        return doc;
    }
    void keep(std::string t, parsed p) {
        std::lock_guard<std::mutex> l(m);
        text = std::move(t);
        doc = std::move(p);
    }
};

namespace {

// The file under its lock, parsed, and valid by cloudflared's rules if it has any ingress: what
// every edit starts from. The lock is held for as long as it lives; at its end the text and its
// parse go (back) to the cache, so an edit that wrote sets both to what it wrote.
struct locked_file {
    sys::file_lock lock;
    std::string text;
    parsed doc;
    ingress_file::parse_cache* give_back = nullptr;

    locked_file(sys::file_lock l, std::string t, parsed d, ingress_file::parse_cache* cache)
        : lock(std::move(l)), text(std::move(t)), doc(std::move(d)), give_back(cache) {}
    locked_file(locked_file&& o) noexcept
        : lock(std::move(o.lock)), text(std::move(o.text)), doc(std::move(o.doc)), give_back(std::exchange(o.give_back, nullptr)) {}
    locked_file& operator=(locked_file&&) = delete;
    ~locked_file() {
        if (give_back != nullptr) give_back->keep(std::move(text), std::move(doc));
    }
};

result<locked_file> read_locked(const std::string& path, ingress_file::parse_cache* cache = nullptr) {
    auto real = existing_file(path);
    if (!real) return tl::unexpected(real.error());
    auto lock = sys::file_lock::acquire(*real + ".lock");
    if (!lock) return tl::unexpected(lock.error());
    sys::remove_stale_temp_files(*real);
    auto text = sys::read_file(*real);
    if (!text) return tl::unexpected(text.error());
    if (cache != nullptr) {
        if (auto known = cache->take(*text)) return locked_file(std::move(*lock), std::move(*text), std::move(*known), cache);
    }
    auto p = parse(*text, path);
    if (!p) return tl::unexpected(p.error());
    if (p->has_ingress) {
        if (auto v = validate_ingress(p->rules); !v) {
            return fail(errc::invalid, path + ": " + v.error().message + " — fix the file by hand; tunnelmgr leaves it untouched");
        }
    }
    return locked_file(std::move(*lock), std::move(*text), std::move(*p), cache);
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

namespace {
// The file as it is now, parsed; no lock (a reader sees the old or the new file, never a mix).
result<parsed> read_parsed(const std::string& path) {
    auto real = existing_file(path);
    if (!real) return tl::unexpected(real.error());
    auto text = sys::read_file(*real);
    if (!text) return tl::unexpected(text.error());
    return parse(*text, path);
}
}  // namespace

result<std::vector<ingress_rule>> ingress_file::read_rules() const {
    auto p = read_parsed(path_);
    if (!p) return tl::unexpected(p.error());
    if (auto v = validate_ingress(p->rules); !v) {
        return fail(errc::invalid, path_ + ": " + v.error().message + " — fix the file by hand; tunnelmgr leaves it untouched");
    }
    return p->rules;
}

result<std::map<std::string, std::string>> ingress_file::read_rule_origins() const {
    auto p = read_parsed(path_);
    if (!p) return tl::unexpected(p.error());
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < p->rules.size(); ++i) {
        if (!p->rules[i].path.empty() || p->rules[i].hostname.empty()) continue;
        auto has = managed_origin(p->items[i]);
        out.emplace(sdk::fold_hostname(p->rules[i].hostname), has ? *has : "unmanaged: " + has.error().message);
    }
    return out;
}

result<ingress_change> ingress_file::add_rule(const std::string& hostname, const std::string& service,
                                              const std::string& origin_in, const std::string& why) {
    if (auto bad = check_service(service); !bad.empty()) return fail(errc::invalid, "the ingress target " + bad);
    const std::string origin = no_empty_origin(origin_in);
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    const std::string& text = locked->text;
    parsed& p = locked->doc;
    const bool had_ingress = p.has_ingress;
    const std::string host = sdk::fold_hostname(hostname);
    for (size_t i = 0; i < p.rules.size(); ++i) {
        const auto& r = p.rules[i];
        if (!same_folded_host(r.hostname, host)) continue;
        if (r.path.empty() && r.service == service) {
            auto has = managed_origin(p.items[i]);
            if (has && *has == origin) return ingress_change{};
        }
        return fail(errc::conflict, path_ + " already routes " + hostname + " to " + r.service +
                                        (r.path.empty() ? "" : " (path " + r.path + ")") +
                                        "; that rule is not tunnelmgr's to change: remove it by hand or pick another name");
    }
    if (auto caught = first_rule_catching(p.rules, host)) return tl::unexpected(shadowed_by(p.rules[*caught], *caught, host));
    const ingress_rule rule{host, "", service};
    // The rules read passed cloudflared's checks; the new one goes just before their catch-all.
    if (had_ingress) {
        if (auto v = validate_rule(rule, p.rules.size() - 1, false); !v) return fail(errc::invalid, v.error().message);
    }

    // A block list gets the rule's lines before its catch-all; a plain one is verified by reading
    // only those lines, anything else by reading the whole new text (verified_edit).
    std::string out;
    if (had_ingress && p.block) {
        const text_lines lines(text);
        const int at = dash_line(lines, p.items.back());
        if (at >= 0) {
            const std::string_view catch_all = lines[static_cast<size_t>(at)];
            const std::string indent(catch_all.substr(0, catch_all.find('-')));
            const auto add = rule_lines(indent, host, service, origin);
            out = lines.edited(static_cast<size_t>(at), static_cast<size_t>(at), join(add));
            if (auto item = spliced_add(p, lines, at, indent, add, rule, origin)) {
                auto change = write_and_backup(out, why);
                if (change) {
                    apply_add(p, std::move(*item), rule, static_cast<int>(add.size()));
                    locked->text = std::move(out);
                }
                return change;
            }
        }
    }
    std::vector<ingress_rule> want = p.rules;
    if (!had_ingress) want.push_back({"", "", "http_status:404"});
    want.insert(want.end() - 1, rule);
    if (auto v = validate_ingress(want); !v) return fail(errc::invalid, v.error().message);
    std::map<std::string, std::string> origins;
    if (!origin.empty()) origins[host] = origin;
    auto verified = verified_edit(out, text, want, path_, origins);
    if (!verified) return tl::unexpected(verified.error());
    auto change = write_and_backup(out, why);
    if (change) {
        locked->doc = std::move(*verified);
        locked->text = std::move(out);
    }
    return change;
}

result<ingress_change> ingress_file::replace_rule(const std::string& hostname, const std::string& service,
                                                  const std::string& origin_in, const std::string& why) {
    if (auto bad = check_service(service); !bad.empty()) return fail(errc::invalid, "the ingress target " + bad);
    const std::string origin = no_empty_origin(origin_in);
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    const parsed& p = locked->doc;
    const std::string host = sdk::fold_hostname(hostname);
    size_t index = p.rules.size();
    for (size_t i = 0; i + 1 < p.rules.size(); ++i) {
        if (same_folded_host(p.rules[i].hostname, host) && p.rules[i].path.empty()) {
            index = i;
            break;
        }
    }
    if (index == p.rules.size()) {
        return fail(errc::not_found, path_ + " has no rule for " + host + " to change (run `tunnelmgr reconcile` to restore it)");
    }
    const ingress_item& node = p.items[index];
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
    unchanged.removed_service = p.rules[index].service;
    unchanged.removed_origin_request = *before;
    if (p.rules[index].service == service && *before == origin) return unchanged;
    const ingress_rule written{host, "", service};  // as rule_lines writes it
    if (auto v = validate_rule(written, index, false); !v) return fail(errc::invalid, v.error().message);

    std::string out;
    if (p.block) {
        const text_lines lines(locked->text);
        const int from = dash_line(lines, p.items[index]);
        const int next = dash_line(lines, p.items[index + 1]);
        int to = next;
        // Comments and blank lines just before the next rule stay where they are.
        while (to > from + 1) {
            const std::string_view l = lines[static_cast<size_t>(to - 1)];
            size_t first = l.find_first_not_of(" \t\r\n");
            if (first != std::string_view::npos && l[first] != '#') break;
            --to;
        }
        if (from >= 0 && to > from) {
            const std::string_view dash = lines[static_cast<size_t>(from)];
            const std::string indent(dash.substr(0, dash.find('-')));
            const auto with = rule_lines(indent, host, service, origin);
            out = lines.edited(static_cast<size_t>(from), static_cast<size_t>(to), join(with));
            // A plain block list: the new rule is read on its own, not the whole new text (issue 13).
            if (auto item = spliced_replace(p, lines, index, from, to, next, indent, with, written, origin)) {
                auto change = write_and_backup(out, why);
                if (change) {
                    apply_replace(locked->doc, index, std::move(*item), written,
                                  static_cast<int>(with.size()) - (to - from));
                    locked->text = std::move(out);
                    change->removed_service = unchanged.removed_service;
                    change->removed_origin_request = unchanged.removed_origin_request;
                }
                return change;
            }
        }
    }
    // Not a plain block list: the edit is verified by reading the whole new text.
    std::vector<ingress_rule> want = p.rules;
    want[index].service = service;
    std::map<std::string, std::string> origins{{host, origin}};
    auto verified = verified_edit(out, locked->text, want, path_, origins);
    if (!verified) return tl::unexpected(verified.error());
    auto change = write_and_backup(out, why);
    if (change) {
        locked->doc = std::move(*verified);
        locked->text = std::move(out);
        change->removed_service = unchanged.removed_service;
        change->removed_origin_request = unchanged.removed_origin_request;
    }
    return change;
}

result<ingress_change> ingress_file::remove_rule(const std::string& hostname, const std::string& why) {
    auto locked = read_locked(path_, cache_.get());
    if (!locked) return tl::unexpected(locked.error());
    const std::string& text = locked->text;
    parsed& p = locked->doc;
    if (!p.has_ingress) return ingress_change{};  // no rules at all: nothing of ours to remove
    const std::string host = sdk::fold_hostname(hostname);
    size_t index = p.rules.size();
    for (size_t i = 0; i + 1 < p.rules.size(); ++i) {
        if (same_folded_host(p.rules[i].hostname, host) && p.rules[i].path.empty()) {
            index = i;
            break;
        }
    }
    if (index == p.rules.size()) return ingress_change{};
    const std::string removed_service = p.rules[index].service;

    std::string out;
    if (p.block) {
        const text_lines lines(text);
        const int from = dash_line(lines, p.items[index]);
        const int to = dash_line(lines, p.items[index + 1]);
        if (from >= 0 && to > from) {
            out = lines.edited(static_cast<size_t>(from), static_cast<size_t>(to), "");
            // Taking whole items out of a valid list before its catch-all leaves it valid.
            if (spliced_remove(p, lines, index, from, to)) {
                auto change = write_and_backup(out, why);
                if (change) {
                    apply_remove(p, index, to - from);
                    locked->text = std::move(out);
                    change->removed_service = removed_service;
                }
                return change;
            }
        }
    }
    std::vector<ingress_rule> want = p.rules;
    want.erase(want.begin() + static_cast<long>(index));
    auto verified = verified_edit(out, text, want, path_);
    if (!verified) return tl::unexpected(verified.error());
    auto change = write_and_backup(out, why);
    if (change) {
        locked->doc = std::move(*verified);
        locked->text = std::move(out);
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
    if (change) {
        locked->doc = std::move(*p);
        locked->text = std::move(*out);
    }
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
    auto kept = cache_->copy(*text);
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
