// Which process owns an in-flight operation, in a form that survives PID reuse: "PID:STARTTIME"
// (start time in clock ticks since boot, from /proc). tunnelmgr runs on one machine, so another
// process can tell whether the owner is still alive.
#pragma once

#include <string>

namespace tunnelmgr::sys {

// This process, e.g. "4242:1234567".
std::string self_identity();

// True when the process named by `identity` still runs (same PID and same start time).
// Unparseable identities count as dead.
bool identity_alive(const std::string& identity);

}  // namespace tunnelmgr::sys
