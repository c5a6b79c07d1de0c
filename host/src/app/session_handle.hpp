// The host's side of the opaque tm_session_t a transport hands back on every call: who is asking.
// Created by the host from how the process was started (token + --project/--admin), never from a
// message a client sent.
#pragma once

#include "core/session.hpp"

struct tm_session {
    tunnelmgr::core::session who;
};
