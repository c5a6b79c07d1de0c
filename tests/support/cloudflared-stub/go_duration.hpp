// Parses durations the way Go's time.ParseDuration does ("30s", "1m30s", "250ms", "0"),
// so the stub accepts exactly the --grace-period values cloudflared accepts.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace tunnelmgr::stubs::cloudflared {

// Negative durations are refused: nothing in the stub can use one.
tl::expected<std::chrono::nanoseconds, std::string> parse_go_duration(std::string_view text);

// "1.5s", "200ms": the inverse, for logs and /__stub/info.
std::string format_duration_ms(std::chrono::nanoseconds value);

}  // namespace tunnelmgr::stubs::cloudflared
