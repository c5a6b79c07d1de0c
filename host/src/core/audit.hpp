// Writing one audit entry from the core: the typed entry (encoded once, at the ABI edge); a store that cannot write it
// is logged (the audit must never make the action it records fail).
#pragma once

#include <tunnelmgr/sdk/model_audit.hpp>

#include "core/state_store.hpp"
#include "log/logger.hpp"

namespace tunnelmgr::core {

using sdk::model::audit_entry;

inline void record_audit(state_store& state, const audit_entry& e) {
    if (auto r = state.audit_append(e); !r) {
        log::error("audit", "cannot write the audit log (" + e.action + " " + e.target + "): " + r.error().message);
    }
}

}  // namespace tunnelmgr::core
