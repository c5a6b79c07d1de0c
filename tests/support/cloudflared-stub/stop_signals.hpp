// Signals as cloudflared has them: SIGTERM/SIGINT start a graceful shutdown and a second one
// kills at once; SIGHUP is left alone, so it kills. SIGUSR1/SIGUSR2 are stub-only controls.
#pragma once

#include "tunnel_lifecycle.hpp"

namespace tunnelmgr::stubs::cloudflared {

// Must run before any thread starts, so that every thread inherits the blocked mask and only
// the signal thread ever sees SIGTERM, SIGINT, SIGUSR1 and SIGUSR2.
void block_stop_signals();

// Starts the (detached) thread that turns signals into lifecycle calls.
void watch_stop_signals(tunnel_lifecycle& lifecycle);

}  // namespace tunnelmgr::stubs::cloudflared
