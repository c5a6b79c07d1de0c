// cloudflared's locally-managed config.yml, edited the way an operator would by hand: our rule is
// inserted before the catch-all as two lines, everything else (keys, rules, comments) left as it
// was; every change validated, written atomically under a lock, and committed to a git backup.
#pragma once

#include <string>
#include <vector>

#include "core/ingress_rules.hpp"
#include "core/result.hpp"

namespace tunnelmgr::core {

struct ingress_change {
    bool changed = false;       // false: the file already said so (a retried step)
    std::string backup_error;   // non-empty: the file changed but the git backup failed (not fatal)
    std::string removed_service;  // remove_rule: the service the removed rule had
};

class ingress_file {
public:
    // backup_dir: a git repository (created when missing) that keeps a copy of every version;
    // empty: no backups.
    ingress_file(std::string path, std::string backup_dir);

    // The current rules, after checking the file parses and passes cloudflared's validation.
    result<std::vector<ingress_rule>> read_rules() const;

    // Adds `hostname → service` just before the catch-all. Already there with the same service:
    // no change. There with another service or a path: conflict (it is not ours to change).
    result<ingress_change> add_rule(const std::string& hostname, const std::string& service, const std::string& why);

    // Removes the rule of `hostname` (exact, without path). Not there: no change.
    result<ingress_change> remove_rule(const std::string& hostname, const std::string& why);

    const std::string& path() const { return path_; }

private:
    result<ingress_change> write_and_backup(const std::string& text, const std::string& why);
    std::string path_;
    std::string backup_dir_;
};

}  // namespace tunnelmgr::core
