// Structured logging to stderr (stdout belongs to MCP): one `key=value` line per event.
// Secrets registered with add_secret() are redacted from every line, whoever wrote it.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tunnelmgr::log {

enum class level { trace = 0, debug = 1, info = 2, warn = 3, error = 4, off = 5 };

// "info" → level::info; unknown names give nullopt-like false.
bool parse_level(std::string_view name, level& out);
std::string_view level_name(level l);

class logger {
public:
    static logger& instance();

    void set_level(level l);
    level current_level() const;
    bool enabled(level l) const { return l >= level_; }
    // Any later line containing `secret` prints "[REDACTED]" in its place. Ignores strings shorter than 4.
    void add_secret(std::string secret);
    // Routes lines to a callback instead of stderr (tests).
    void set_sink(void (*sink)(const std::string& line));

    void write(level l, std::string_view component, std::string_view msg);
    std::string redact(std::string text) const;

private:
    logger() = default;
    mutable std::mutex mutex_;
    level level_ = level::info;
    std::vector<std::string> secrets_;
    void (*sink_)(const std::string&) = nullptr;
};

inline void trace(std::string_view c, std::string_view m) { logger::instance().write(level::trace, c, m); }
inline void debug(std::string_view c, std::string_view m) { logger::instance().write(level::debug, c, m); }
inline void info(std::string_view c, std::string_view m) { logger::instance().write(level::info, c, m); }
inline void warn(std::string_view c, std::string_view m) { logger::instance().write(level::warn, c, m); }
inline void error(std::string_view c, std::string_view m) { logger::instance().write(level::error, c, m); }

}  // namespace tunnelmgr::log
