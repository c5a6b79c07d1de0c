// The statuses of cloudflared replicas, as both supervisors report them: one replica's status()
// with its name and metrics address (replica_status()), and the one rule for status() of the whole.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replica_list.hpp"

namespace tunnelmgr::plugins::replicas {

// A status object with "name" and "metrics" of `replica` added (replaced when present).
std::string with_replica_fields(std::string_view status_json, const replica_ref& replica);

// What one replica answered when asked for its status.
struct replica_answer {
    std::optional<std::string> status_json;  // its status object; nullopt when asking failed
    std::string error;                       // then: the sentence saying why
};

// status() of several replicas as one: the object of the first replica that runs (of the first
// that answered when none runs) with "running" true when any replica runs, "detail" saying how many
// run and each one's detail (or error), and "replicas"/"replicas_running" counts; without "name" and
// "metrics". nullopt when no replica answered: the caller returns the first one's error.
std::optional<std::string> whole_status(const std::vector<replica_answer>& answers);

}  // namespace tunnelmgr::plugins::replicas
