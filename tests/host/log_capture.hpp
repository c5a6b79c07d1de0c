// Captures the logger's lines for a test (the logger's sink is process-wide) and counts the lines
// that contain a text: how tests assert "said once, naming X".
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "log/logger.hpp"

namespace tunnelmgr::test_support {

class log_capture {
public:
    log_capture() {
        std::lock_guard<std::mutex> lock(mutex());
        lines().clear();
        log::logger::instance().set_sink(&add);
    }
    ~log_capture() { log::logger::instance().set_sink(nullptr); }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;

    size_t lines_with(const std::string& needle) const {
        std::lock_guard<std::mutex> lock(mutex());
        size_t n = 0;
        for (const auto& l : lines()) n += l.find(needle) != std::string::npos ? 1 : 0;
        return n;
    }

private:
    static std::mutex& mutex() {
        static std::mutex m;
        return m;
    }
    static std::vector<std::string>& lines() {
        static std::vector<std::string> v;
        return v;
    }
    static void add(const std::string& line) {
        std::lock_guard<std::mutex> lock(mutex());
        lines().push_back(line);
    }
};

}  // namespace tunnelmgr::test_support
