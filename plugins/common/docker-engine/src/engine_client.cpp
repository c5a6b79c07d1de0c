// Version negotiation and the status-to-error mapping live here so that both plugins say the same
// sentences for the same daemon answers.
#include "engine_client.hpp"

#include <cctype>
#include <cstdio>

#include <rapidjson/document.h>

namespace tunnelmgr::plugins::docker_engine {
namespace {

bool parse_major_minor(std::string_view v, long& major, long& minor) {
    const auto dot = v.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 >= v.size()) return false;
    major = 0;
    minor = 0;
    for (size_t i = 0; i < dot; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(v[i]))) return false;
        major = major * 10 + (v[i] - '0');
    }
    for (size_t i = dot + 1; i < v.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(v[i]))) return false;
        minor = minor * 10 + (v[i] - '0');
    }
    return true;
}

std::string daemon_message(const std::string& body) {
    rapidjson::Document doc;
    doc.Parse(body.c_str(), body.size());
    if (!doc.HasParseError() && doc.IsObject()) {
        auto it = doc.FindMember("message");
        if (it != doc.MemberEnd() && it->value.IsString()) return it->value.GetString();
    }
    std::string trimmed = body.substr(0, 300);
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) trimmed.pop_back();
    return trimmed;
}

}  // namespace

int compare_api_versions(std::string_view a, std::string_view b) {
    long amaj = 0, amin = 0, bmaj = 0, bmin = 0;
    parse_major_minor(a, amaj, amin);
    parse_major_minor(b, bmaj, bmin);
    if (amaj != bmaj) return amaj < bmaj ? -1 : 1;
    if (amin != bmin) return amin < bmin ? -1 : 1;
    return 0;
}

docker_result<std::string> negotiate_api_version(std::string_view version_json) {
    rapidjson::Document doc;
    doc.Parse(version_json.data(), version_json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return docker_fail(docker_errc::error, "the Docker daemon's GET /version answer is not JSON: is the socket "
                                               "really dockerd's?");
    }
    auto it = doc.FindMember("ApiVersion");
    long major = 0, minor = 0;
    if (it == doc.MemberEnd() || !it->value.IsString() || !parse_major_minor(it->value.GetString(), major, minor)) {
        return docker_fail(docker_errc::error, "the Docker daemon's GET /version answer has no usable ApiVersion");
    }
    const std::string theirs = it->value.GetString();
    if (compare_api_versions(theirs, oldest_api_version) < 0) {
        return docker_fail(docker_errc::invalid, "the Docker daemon speaks Engine API " + theirs + ", older than " +
                                                     std::string(oldest_api_version) +
                                                     " which tunnelmgr needs: upgrade Docker");
    }
    return compare_api_versions(theirs, our_api_version) < 0 ? theirs : std::string(our_api_version);
}

std::string url_encode(std::string_view value) {
    std::string out;
    out.reserve(value.size() * 3);
    for (unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

bool valid_container_ref(std::string_view ref) {
    if (ref.empty() || ref.size() > 255 || !std::isalnum(static_cast<unsigned char>(ref[0]))) return false;
    for (unsigned char c : ref) {
        if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') return false;
    }
    return true;
}

docker_result<std::string> interpret_answer(const http_answer& answer, std::string_view what) {
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    const std::string sentence = "the Docker daemon refused " + std::string(what) + " (" +
                                 std::to_string(answer.status) + "): " + daemon_message(answer.body);
    switch (answer.status) {
        case 404: return docker_fail(docker_errc::not_found, sentence);
        case 409: return docker_fail(docker_errc::conflict, sentence);
        case 400: return docker_fail(docker_errc::invalid, sentence);
        default: return docker_fail(docker_errc::error, sentence);
    }
}

engine_client::engine_client(std::string socket_path, std::chrono::milliseconds timeout)
    : http_(std::move(socket_path)), timeout_(timeout) {}

docker_result<std::string> engine_client::api_version() {
    if (version_) return *version_;
    auto answer = http_.send("GET", "/version", timeout_);
    if (!answer) return tl::unexpected(answer.error());
    auto body = interpret_answer(*answer, "GET /version");
    if (!body) return tl::unexpected(body.error());
    auto version = negotiate_api_version(*body);
    if (!version) return version;
    version_ = *version;
    return *version_;
}

docker_result<std::string> engine_client::versioned(std::string_view path_and_query) {
    auto version = api_version();
    if (!version) return version;
    return "/v" + *version + std::string(path_and_query);
}

docker_result<std::string> engine_client::request(std::string_view method, std::string_view path_and_query,
                                                  std::chrono::milliseconds timeout) {
    auto target = versioned(path_and_query);
    if (!target) return target;
    auto answer = http_.send(method, *target, timeout);
    if (!answer) {
        if (answer.error().kind == docker_errc::unreachable) version_.reset();
        return tl::unexpected(answer.error());
    }
    return interpret_answer(*answer, std::string(method) + " " + std::string(path_and_query));
}

docker_result<std::string> engine_client::list_networks() { return request("GET", "/networks", timeout_); }

docker_result<std::string> engine_client::list_containers() {
    return request("GET", "/containers/json?all=1", timeout_);
}

docker_result<std::string> engine_client::inspect_container(std::string_view id_or_name) {
    if (!valid_container_ref(id_or_name)) {
        return docker_fail(docker_errc::invalid, "\"" + std::string(id_or_name) + "\" is not a Docker container name or id");
    }
    return request("GET", "/containers/" + std::string(id_or_name) + "/json", timeout_);
}

docker_result<void> engine_client::restart_container(std::string_view name, int grace_s) {
    if (!valid_container_ref(name)) {
        return docker_fail(docker_errc::invalid, "\"" + std::string(name) + "\" is not a Docker container name or id");
    }
    // The daemon answers only after the stop (up to grace_s) and the start, so wait for both.
    const auto wait = timeout_ + std::chrono::seconds(grace_s);
    auto body = request("POST", "/containers/" + std::string(name) + "/restart?t=" + std::to_string(grace_s), wait);
    if (!body) return tl::unexpected(body.error());
    return {};
}

}  // namespace tunnelmgr::plugins::docker_engine
