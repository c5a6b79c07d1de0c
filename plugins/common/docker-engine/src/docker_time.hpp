// Docker's RFC 3339 timestamps ("2024-05-01T10:20:30.123456789Z") as Unix milliseconds, with its
// zero time ("0001-01-01T00:00:00Z", meaning "never") as no value.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tunnelmgr::plugins::docker_engine {

std::optional<int64_t> rfc3339_to_unix_ms(std::string_view text);

}  // namespace tunnelmgr::plugins::docker_engine
