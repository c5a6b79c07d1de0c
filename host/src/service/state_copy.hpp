// `tunnelmgr state copy --to CONFIG`: everything one state store holds that outlives a process (the
// published names, the audit log, the health history, the zones) copied into another, empty store —
// SQLite into PostgreSQL when a second machine joins, or back — and then read back and compared row
// by row. Works through state_store_v1 alone, so any two stores will do.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"
#include "core/state_store.hpp"

namespace tunnelmgr::service {

struct copy_report {
    int64_t cnames = 0;
    int64_t audit = 0;
    int64_t health = 0;
    int64_t zones = 0;
    bool verified = false;
    // {"cnames":N,"audit":N,"health":N,"zones":N,"verified":bool}
    std::string to_json() const;
};

// Copies `from` into `to`. `machine` is given to rows that name none (a one-machine store's rows
// belong to the machine it ran on). Refused, changing nothing, while `from` has an unfinished
// operation (settle it first) or `to` already holds names or audit entries. A failure part-way
// removes the names it copied (audit and health rows cannot be removed through the API: the error
// says so). Verification compares every copied row, each by its fields; a store that does not keep
// a field (a one-machine store and "machine") is compared without it.
core::result<copy_report> copy_state(core::state_store& from, core::state_store& to, const std::string& machine);

}  // namespace tunnelmgr::service
