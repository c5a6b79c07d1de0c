// http_transport over one libcurl easy handle: TLS always verified (optionally against ca_file),
// no redirects, http/https only, connections reused except where the caller forbids it.
#pragma once

#include <memory>
#include <string>

#include "http_transport.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {

class curl_transport final : public http_transport {
public:
    // ca_file: a PEM bundle to verify servers against instead of the system's; empty = system.
    explicit curl_transport(std::string ca_file = {});
    ~curl_transport() override;
    curl_transport(const curl_transport&) = delete;
    curl_transport& operator=(const curl_transport&) = delete;

    tl::expected<http_response, transport_error> send(const http_request& request) override;

private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
