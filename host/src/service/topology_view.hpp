// The topology now, for `tunnelmgr topology` and the host call topology.get: the runtime's fresh
// Docker snapshot (the state's stored one, with a note saying so, when there is no runtime or it does
// not answer) and every published name from the state.
#pragma once

#include "core/result.hpp"
#include "core/state_store.hpp"
#include "core/topology.hpp"
#include "service/core_services.hpp"

namespace tunnelmgr::service {

// Fails only when the published names cannot be read; missing Docker information is a note.
core::result<core::topology> topology_now(core_services& core, core::state_store& state);

}  // namespace tunnelmgr::service
