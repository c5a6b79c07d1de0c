// Structured stderr logging with secret redaction; see logger.hpp.
#include "log/logger.hpp"

#include "common/terminal_text.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace tunnelmgr::log {

bool parse_level(std::string_view name, level& out) {
    static constexpr std::pair<std::string_view, level> names[] = {
        {"trace", level::trace}, {"debug", level::debug}, {"info", level::info},
        {"warn", level::warn},   {"warning", level::warn}, {"error", level::error}, {"off", level::off}};
    for (const auto& [n, l] : names) {
        if (n == name) {
            out = l;
            return true;
        }
    }
    return false;
}

std::string_view level_name(level l) {
    switch (l) {
        case level::trace: return "trace";
        case level::debug: return "debug";
        case level::info: return "info";
        case level::warn: return "warn";
        case level::error: return "error";
        case level::off: return "off";
    }
    return "info";
}

logger& logger::instance() {
    static logger l;
    return l;
}

void logger::set_level(level l) {
    std::lock_guard<std::mutex> lock(mutex_);
    level_ = l;
}

level logger::current_level() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return level_;
}

void logger::add_secret(std::string secret) {
    if (secret.size() < 4) return;
    std::lock_guard<std::mutex> lock(mutex_);
    secrets_.push_back(std::move(secret));
}

void logger::set_sink(void (*sink)(const std::string&)) {
    std::lock_guard<std::mutex> lock(mutex_);
    sink_ = sink;
}

std::string logger::redact(std::string text) const {
    for (const auto& s : secrets_) {
        for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos)) {
            text.replace(pos, s.size(), "[REDACTED]");
            pos += 10;
        }
    }
    return text;
}

namespace {
// A value goes in quotes when it has spaces, quotes or '='; newlines never reach the output.
std::string quote(std::string_view v) {
    bool plain = !v.empty();
    for (char ch : v) {
        if (ch == ' ' || ch == '"' || ch == '=' || ch == '\\') plain = false;
    }
    std::string safe = printable(v);  // control characters (newlines too) never reach the terminal
    if (plain && safe == v) return safe;
    std::string out = "\"";
    for (char ch : safe) {
        if (ch == '"') out += '\\';
        out += ch;
    }
    return out + "\"";
}
}  // namespace

void logger::write(level l, std::string_view component, std::string_view msg) {
    if (l < level_) return;
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[64];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    std::string line = "ts=";
    line += ts;
    line += " level=";
    line += level_name(l);
    line += " pid=" + std::to_string(::getpid());
    line += " component=" + quote(component);
    line += " msg=" + quote(msg);
    std::lock_guard<std::mutex> lock(mutex_);
    line = redact(std::move(line));
    if (sink_ != nullptr) {
        sink_(line);
        return;
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace tunnelmgr::log
