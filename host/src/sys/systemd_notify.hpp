// systemd's service notification protocol (sd_notify(3)), spoken directly: a datagram to the socket
// in $NOTIFY_SOCKET. libsystemd did this before, and cost every tunnelmgr start its six libraries.
#pragma once

#include <chrono>
#include <string>

namespace tunnelmgr::sys {

// Sends `state` ("READY=1", "WATCHDOG=1", ...) when systemd asked for notifications; false when it
// did not ($NOTIFY_SOCKET unset) or the datagram could not be sent.
bool notify_systemd(const std::string& state);

// The unit's watchdog interval ($WATCHDOG_USEC, when $WATCHDOG_PID is unset or names this process);
// zero when there is no watchdog.
std::chrono::microseconds systemd_watchdog_interval();

}  // namespace tunnelmgr::sys
