// The one seam between the Cloudflare client and the network: send one HTTP request, get one answer
// or a classified failure. libcurl in production (curl_transport); tests may substitute their own.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace tunnelmgr::plugins::cloudflare_dns {

struct http_request {
    std::string method;  // GET, POST, PUT, DELETE
    std::string url;     // absolute
    std::vector<std::string> headers;  // "Name: value"; may hold the Authorization header: never log them
    std::string body;    // sent when non-empty (and always for POST/PUT)
    std::chrono::milliseconds timeout{15000};
    // True for requests that must not be replayed by the transport on its own (POST): no connection
    // reuse, so a dropped connection is reported to the caller instead of being silently retried.
    bool fresh_connection = false;
};

struct http_response {
    long status = 0;
    std::string body;
    std::optional<long> retry_after_seconds;  // from a Retry-After header given in seconds
};

enum class transport_errc {
    timeout,     // no complete answer within the timeout
    connection,  // refused, reset, closed without an answer: the request may or may not have arrived
    tls,         // the server's certificate could not be verified, or the CA file is unusable
    other,       // anything else (bad URL, out of memory...)
};

struct transport_error {
    transport_errc kind = transport_errc::other;
    std::string detail;  // libcurl's description; never contains headers
};

class http_transport {
public:
    virtual ~http_transport() = default;
    virtual tl::expected<http_response, transport_error> send(const http_request& request) = 0;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
