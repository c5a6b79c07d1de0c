// libcurl over CURLOPT_UNIX_SOCKET_PATH. Every failure without an HTTP answer becomes a docker_error
// here, so the layers above decide from a kind, never from curl codes.
#include "unix_http.hpp"

#include <curl/curl.h>

#include <cstring>
#include <mutex>

namespace tunnelmgr::plugins::docker_engine {
namespace {

void global_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

// The host part is ignored on a unix socket, but HTTP/1.1 needs one.
std::string url_for(const std::string& target) { return "http://docker" + target; }

// A readable reason: the OS error when there is one (ENOENT, ECONNREFUSED, EACCES), else libcurl's.
std::string failure_detail(CURL* h, CURLcode code, const char* error_buffer) {
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno != 0) return std::strerror(static_cast<int>(os_errno));
    std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(code);
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
    return detail;
}

docker_error classify(CURL* h, CURLcode code, const char* error_buffer, const std::string& socket_path,
                      std::string_view what, std::chrono::milliseconds timeout) {
    if (code == CURLE_OPERATION_TIMEDOUT) {
        return {docker_errc::timeout, "the Docker daemon at " + socket_path + " did not answer " + std::string(what) +
                                          " within " + std::to_string(timeout.count()) +
                                          " ms: is it overloaded or hung? (raise timeout_ms if it is only slow)"};
    }
    return {docker_errc::unreachable, unreachable_sentence(socket_path, failure_detail(h, code, error_buffer))};
}

}  // namespace

std::string unreachable_sentence(const std::string& socket_path, const std::string& detail) {
    return "cannot reach the Docker daemon at " + socket_path + " (" + detail +
           "): is dockerd running, and may this user use the socket?";
}

struct unix_http::state {
    CURL* handle = nullptr;
};

unix_http::unix_http(std::string socket_path) : socket_path_(std::move(socket_path)), state_(std::make_unique<state>()) {
    global_init_once();
    state_->handle = curl_easy_init();
}

unix_http::~unix_http() {
    if (state_ && state_->handle != nullptr) curl_easy_cleanup(state_->handle);
}

docker_result<http_answer> unix_http::send(std::string_view method, const std::string& target,
                                           std::chrono::milliseconds timeout) {
    CURL* h = state_->handle;
    if (h == nullptr) return docker_fail(docker_errc::error, "libcurl could not start");
    curl_easy_reset(h);

    http_answer answer;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    const std::string url = url_for(target);
    const std::string verb(method);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer.body);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tunnelmgr-docker/0.1");
    if (verb == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, verb.c_str());
        if (verb == "POST") {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        }
    }
    const CURLcode code = curl_easy_perform(h);
    if (code != CURLE_OK) {
        return tl::unexpected(classify(h, code, error_buffer, socket_path_, verb + " " + target, timeout));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer.status);
    return answer;
}

// --- http_stream -------------------------------------------------------------------------------

struct http_stream::state {
    CURLM* multi = nullptr;
};

http_stream::http_stream(std::string socket_path) : socket_path_(std::move(socket_path)), state_(std::make_unique<state>()) {
    global_init_once();
    state_->multi = curl_multi_init();
}

http_stream::~http_stream() {
    if (state_ && state_->multi != nullptr) curl_multi_cleanup(state_->multi);
}

void http_stream::interrupt() {
    interrupted_.store(true);
    if (state_->multi != nullptr) curl_multi_wakeup(state_->multi);
}

void http_stream::rearm() { interrupted_.store(false); }

namespace {

struct follow_context {
    CURL* easy = nullptr;
    const std::function<void()>* on_open = nullptr;
    const std::function<void(std::string_view)>* on_data = nullptr;
    bool opened = false;
    long status = 0;
    std::string error_body;
};

size_t stream_header(char* data, size_t size, size_t count, void* user) {
    auto* ctx = static_cast<follow_context*>(user);
    const size_t bytes = size * count;
    std::string_view line(data, bytes);
    if (line == "\r\n" || line == "\n") {
        curl_easy_getinfo(ctx->easy, CURLINFO_RESPONSE_CODE, &ctx->status);
        if (ctx->status == 200 && !ctx->opened) {
            ctx->opened = true;
            if (*ctx->on_open) (*ctx->on_open)();
        }
    }
    return bytes;
}

size_t stream_body(char* data, size_t size, size_t count, void* user) {
    auto* ctx = static_cast<follow_context*>(user);
    const size_t bytes = size * count;
    if (ctx->status == 200) {
        (*ctx->on_data)(std::string_view(data, bytes));
    } else if (ctx->error_body.size() < 4096) {
        ctx->error_body.append(data, bytes);
    }
    return bytes;
}

}  // namespace

docker_result<void> http_stream::follow(const std::string& target, std::chrono::milliseconds connect_timeout,
                                        const std::function<void()>& on_open,
                                        const std::function<void(std::string_view)>& on_data) {
    if (interrupted_.load()) return {};
    CURLM* multi = state_->multi;
    CURL* h = curl_easy_init();
    if (multi == nullptr || h == nullptr) {
        if (h != nullptr) curl_easy_cleanup(h);
        return docker_fail(docker_errc::error, "libcurl could not start");
    }
    follow_context ctx;
    ctx.easy = h;
    ctx.on_open = &on_open;
    ctx.on_data = &on_data;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    const std::string url = url_for(target);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, stream_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &ctx);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tunnelmgr-docker/0.1");
    curl_multi_add_handle(multi, h);

    const auto deadline = std::chrono::steady_clock::now() + connect_timeout;
    docker_result<void> outcome;
    bool done = false;
    while (!done && !interrupted_.load()) {
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            outcome = docker_fail(docker_errc::error, "libcurl failed while following " + target);
            break;
        }
        if (running == 0) {
            done = true;
            break;
        }
        if (!ctx.opened && std::chrono::steady_clock::now() > deadline) {
            outcome = docker_fail(docker_errc::timeout, "the Docker daemon at " + socket_path_ +
                                                            " did not answer GET " + target + " within " +
                                                            std::to_string(connect_timeout.count()) +
                                                            " ms: is it overloaded or hung?");
            break;
        }
        // Until the answer starts, wake often enough to notice the connect deadline; after that,
        // only for data, interrupt() (curl_multi_wakeup) or curl's own timers: an idle stream must
        // not wake its thread several times a second.
        const int wait_ms = ctx.opened ? 10 * 60 * 1000 : 500;
        curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
    }
    if (done) {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg != CURLMSG_DONE || msg->easy_handle != h) continue;
            const CURLcode code = msg->data.result;
            if (code != CURLE_OK && !ctx.opened) {
                outcome = tl::unexpected(classify(h, code, error_buffer, socket_path_, "GET " + target, connect_timeout));
            } else if (code != CURLE_OK) {
                outcome = docker_fail(docker_errc::unreachable,
                                      "the Docker daemon at " + socket_path_ + " closed the event stream (" +
                                          failure_detail(h, code, error_buffer) + ")");
            } else if (ctx.status != 200) {
                outcome = docker_fail(ctx.status == 400 ? docker_errc::invalid : docker_errc::error,
                                      "the Docker daemon answered " + std::to_string(ctx.status) + " to GET " + target +
                                          ": " + ctx.error_body);
            }
        }
    }
    curl_multi_remove_handle(multi, h);
    curl_easy_cleanup(h);
    return outcome;
}

}  // namespace tunnelmgr::plugins::docker_engine
