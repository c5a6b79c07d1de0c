// Moving a tunnel's whole ingress between cloudflared's config.yml and its remote configuration at
// Cloudflare (`tunnelmgr ingress migrate`): read, checked, refused when the target already holds other
// rules, written the way the ingress strategies write, read back, audited.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cloudflared_check.hpp"
#include "core/dns_provider.hpp"
#include "core/ingress_document.hpp"
#include "core/ingress_file.hpp"
#include "core/result.hpp"
#include "core/session.hpp"
#include "core/state_store.hpp"

namespace tunnelmgr::core {

enum class ingress_side { local, remote };
inline const char* side_name(ingress_side s) { return s == ingress_side::local ? "local" : "remote"; }

struct migrate_settings {
    ingress_side to = ingress_side::remote;
    bool dry_run = false;
    // Replace what the target holds even when it holds other rules (they are in the report, and for
    // a file in its history).
    bool force = false;
    std::string tunnel_id;
    // The lock every writer of this tunnel's remote configuration holds (make_remote_ingress's).
    std::string remote_lock_path;
};

struct migrate_report {
    ingress_side to = ingress_side::remote;
    bool dry_run = false;
    bool force = false;
    // "migrated" (written and read back), "unchanged" (the target held exactly these already),
    // "would migrate" (a dry run), "refused" (nothing written; `refusal` says why and what to do).
    std::string outcome;
    std::string refusal;
    std::string source;  // for people: "the local file /etc/cloudflared/config.yml"
    std::string target;
    ingress_document rules;          // what was (or would be) written, in order
    ingress_document target_before;  // what the target held
    std::optional<int64_t> version_before;  // the remote configuration's, when the provider reports one
    std::optional<int64_t> version_after;
    bool verified = false;  // read back after writing (or found already so) and identical
    std::vector<std::string> notes;
    std::string backup_error;  // --to local: the file changed but its history commit failed

    bool refused() const { return outcome == "refused"; }
    std::string to_json() const;
};

// An error result: the source or the target could not be read (invalid when it is missing or not
// valid: the operator's to fix), or the write failed or did not read back (a step failed). A refusal
// is a report. Every run that is not a dry run is audited as `ingress.migrate` (when `audit` is given).
result<migrate_report> migrate_ingress(const migrate_settings& settings, dns_provider& dns, ingress_file& file,
                                       const cloudflared_check& judge, state_store* audit, const session& who);

}  // namespace tunnelmgr::core
