// A plain HTTP GET over a socket, for cloudflared's metrics server on loopback. Not for the
// Cloudflare API: that lives in the cloudflare-dns plugin with its retries and budget.
#pragma once

#include <chrono>
#include <string>

#include "common/result.hpp"

namespace tunnelmgr::sys {

struct http_response {
    long status = 0;
    std::string body;
};

result<http_response> http_get(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace tunnelmgr::sys
