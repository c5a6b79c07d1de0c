// See http.hpp.
#include "sys/http.hpp"

#include <curl/curl.h>

namespace tunnelmgr::sys {
namespace {

size_t collect(char* data, size_t size, size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    if (body->size() < (1u << 20)) body->append(data, size * n);
    return size * n;
}

struct curl_global {
    curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

}  // namespace

result<http_response> http_get(const std::string& url, std::chrono::milliseconds timeout) {
    static curl_global init;
    CURL* c = curl_easy_init();
    if (c == nullptr) return fail(errc::error, "cannot start an HTTP request (libcurl)");
    http_response r;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  // metrics are on loopback; never go through a proxy
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        return fail(rc == CURLE_OPERATION_TIMEDOUT ? errc::timeout : errc::retry,
                          "GET " + url + " failed: " + curl_easy_strerror(rc));
    }
    return r;
}

}  // namespace tunnelmgr::sys
