// libcurl behind http_transport. Every libcurl failure is classified here, so the client above
// decides about retries from a kind, not from curl codes.
#include "curl_transport.hpp"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string_view>

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

void global_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t write_body(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

// Keeps only Retry-After (in seconds; the HTTP-date form is ignored and the backoff applies).
size_t read_header(char* data, size_t size, size_t count, void* user) {
    const size_t bytes = size * count;
    std::string_view line(data, bytes);
    constexpr std::string_view name = "retry-after:";
    if (line.size() > name.size()) {
        bool match = true;
        for (size_t i = 0; i < name.size() && match; ++i) {
            match = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
        }
        if (match) {
            std::string value(line.substr(name.size()));
            const char* p = value.c_str();
            while (*p == ' ' || *p == '\t') ++p;
            char* end = nullptr;
            const long seconds = std::strtol(p, &end, 10);
            if (end != p && seconds >= 0) static_cast<http_response*>(user)->retry_after_seconds = seconds;
        }
    }
    return bytes;
}

transport_errc classify(CURLcode code) {
    switch (code) {
        case CURLE_OPERATION_TIMEDOUT: return transport_errc::timeout;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:  // a handshake cut short; a bad certificate is PEER_FAILED_VERIFICATION
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return transport_errc::connection;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_CRL_BADFILE:
            return transport_errc::tls;
        default: return transport_errc::other;
    }
}

}  // namespace

struct curl_transport::state {
    CURL* handle = nullptr;
    std::string ca_file;
};

curl_transport::curl_transport(std::string ca_file) : state_(std::make_unique<state>()) {
    global_init_once();
    state_->handle = curl_easy_init();
    state_->ca_file = std::move(ca_file);
}

curl_transport::~curl_transport() {
    if (state_ && state_->handle != nullptr) curl_easy_cleanup(state_->handle);
}

tl::expected<http_response, transport_error> curl_transport::send(const http_request& request) {
    CURL* h = state_->handle;
    if (h == nullptr) return tl::unexpected(transport_error{transport_errc::other, "libcurl could not start"});
    curl_easy_reset(h);

    http_response response;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    for (const auto& header : request.headers) headers = curl_slist_append(headers, header.c_str());

    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!state_->ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, state_->ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tunnelmgr-cloudflare-dns/0.1");
    if (request.fresh_connection) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    if (request.method == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        if (request.method == "POST" || request.method == "PUT" || !request.body.empty()) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
        }
    }

    const CURLcode code = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    if (code != CURLE_OK) {
        std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(code);
        while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
        return tl::unexpected(transport_error{classify(code), std::move(detail)});
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
