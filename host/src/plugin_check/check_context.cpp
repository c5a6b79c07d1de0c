// See check_context.hpp.
#include "plugin_check/check_context.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <system_error>

#include <rapidjson/document.h>

namespace tunnelmgr::plugin_check {
namespace {

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

std::atomic<unsigned> counter{0};

}  // namespace

check_context& context() {
    static check_context c;
    return c;
}

std::string default_config(const host::loaded_library& lib) {
    if (!lib.has_state_store) return "{}";
    rapidjson::Document schema;
    schema.Parse(lib.config_schema.c_str());
    if (!schema.HasParseError() && schema.IsObject()) {
        auto props = schema.FindMember("properties");
        if (props != schema.MemberEnd() && props->value.IsObject() && props->value.HasMember("path")) {
            return std::string("{\"path\": \"") + tmpdir_placeholder + "/state.db\"}";
        }
    }
    return "{}";
}

std::string expand_config(const std::string& config_template, const std::filesystem::path& dir) {
    std::string out = config_template;
    const std::string placeholder = tmpdir_placeholder;
    const std::string value = json_escape(dir.string());
    for (size_t at = out.find(placeholder); at != std::string::npos; at = out.find(placeholder, at + value.size())) {
        out.replace(at, placeholder.size(), value);
    }
    return out;
}

scratch_dir::scratch_dir() {
    path_ = std::filesystem::temp_directory_path() /
            ("tunnelmgr-plugin-check-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
}

scratch_dir::~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

tl::expected<std::unique_ptr<host::plugin_instance>, std::string> start_instance(const std::string& config_json) {
    static host::host_services services;
    return host::create_instance(context().library, config_json, services);
}

std::string unique_tag() {
    static const auto start = static_cast<unsigned long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count() %
        100000);
    return std::to_string(::getpid()) + "x" + std::to_string(start) + "x" + std::to_string(counter++);
}

}  // namespace tunnelmgr::plugin_check
