// cloudflared's locally-managed config.yml, edited the way an operator would by hand: our rule is
// inserted before the catch-all as two lines, everything else (keys, rules, comments) left as it
// was; every change validated, written atomically under a lock, and committed to a git backup.
// The file keeps its identity: a symlink's target is edited, owner, group and mode are kept.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/cloudflared_check.hpp"
#include "core/ingress_history.hpp"
#include "core/ingress_rules.hpp"
#include "core/result.hpp"

namespace tunnelmgr::core {

struct ingress_change {
    bool changed = false;       // false: the file already said so (a retried step)
    std::string backup_error;   // non-empty: the file changed but the git backup failed (not fatal)
    std::string removed_service;  // remove_rule, replace_rule: the service the rule had
    std::string removed_origin_request;  // replace_rule: its originRequest before (JSON; "" for none)
};

class ingress_file {
public:
    // backup_dir: a git repository (created when missing) that keeps a copy of each version, with
    // the file's mode; empty: no backups. history_keep: how many versions it keeps (0: all); older
    // ones are dropped in batches, so it holds at most history_keep + history_keep/10. judge: the
    // cloudflared binary that must accept every version before it is written (default: none).
    ingress_file(std::string path, std::string backup_dir, int history_keep = 100,
                 cloudflared_check judge = cloudflared_check());

    // Everything an edit needs, checked without changing anything: the file exists, parses, passes
    // cloudflared's rules (and the judge, when there is one), and can be replaced keeping its owner,
    // group and mode.
    result<void> check_editable() const;

    // Removes what a killed edit left beside the file (our temp files, older than this process),
    // unless another process is editing right now; each edit does the same under its lock.
    int remove_leftovers() const;

    // The current rules, after checking the file parses and passes cloudflared's validation.
    result<std::vector<ingress_rule>> read_rules() const;

    // Each exact rule's (no path) originRequest by folded hostname, as ingress_strategy::list_rule_origins.
    result<std::map<std::string, std::string>> read_rule_origins() const;

    // Adds `hostname → service` just before the catch-all, with `origin_request` (origin_settings'
    // JSON; "" for none) as the rule's own originRequest. Already there with the same service and
    // settings: no change. There with another service or a path: conflict (it is not ours to change).
    result<ingress_change> add_rule(const std::string& hostname, const std::string& service, const std::string& why) {
        return add_rule(hostname, service, "", why);
    }
    result<ingress_change> add_rule(const std::string& hostname, const std::string& service,
                                    const std::string& origin_request, const std::string& why);

    // Points the rule of `hostname` (exact, without path) at `service` with `origin_request`, where
    // it stands; removed_service/removed_origin_request say what it had. not_found when there is no
    // such rule; invalid when its originRequest holds settings tunnelmgr does not manage.
    result<ingress_change> replace_rule(const std::string& hostname, const std::string& service,
                                        const std::string& origin_request, const std::string& why);

    // Removes the rule of `hostname` (exact, without path). Not there: no change.
    result<ingress_change> remove_rule(const std::string& hostname, const std::string& why);

    // Replaces the whole text under the file's lock, for edits that are not one rule (an ingress
    // migration): `edit` gets the current text (it parses and its ingress passes cloudflared's rules)
    // and returns the text to write, the same text for no change, or an error (nothing written). The
    // new text must parse and pass cloudflared's rules and the judge; then it is written as every
    // edit is (atomic, owner, group and mode kept) and committed to the history.
    result<ingress_change> rewrite(const std::function<result<std::string>(const std::string&)>& edit,
                                   const std::string& why);

    const std::string& path() const { return path_; }

    // The daemon: versions reach the git history after each edit returns (ingress_history.hpp).
    void write_history_after_reply();
    // Waits for the history to catch up; the last failure, "" for none (tests, benchmarks).
    std::string flush_history();

    // For tests: "" when what this editor keeps of the file (the scan of the text it last read or
    // wrote, spliced after its own edits) is what yaml-cpp reads in the file now; else the difference.
    std::string kept_scan_disagreement() const;

    // The last text read or written with its parse (ingress_file.cpp); public only for the file's helpers.
    struct parse_cache;

private:
    result<ingress_change> write_and_backup(const std::string& text, const std::string& why);
    std::string path_;
    std::string backup_dir_;
    cloudflared_check judge_;
    std::shared_ptr<parse_cache> cache_;  // shared: copies of this editor edit the same file
    std::shared_ptr<ingress_history> history_;  // null without a backup_dir; shared like cache_
};

}  // namespace tunnelmgr::core
