// Reads a file descriptor (stdin for the stdio transport) until EOF or stop(), feeding whole lines
// to a line_splitter. stop() works from any thread, even while the read is blocked.
#pragma once

#include <atomic>

#include "line_splitter.hpp"

namespace tunnelmgr::plugins::mcp_stdio {

class fd_line_reader {
public:
    enum class end { eof, stopped, error };

    explicit fd_line_reader(int fd);  // throws std::system_error when no wake-up pipe can be made
    ~fd_line_reader();
    fd_line_reader(const fd_line_reader&) = delete;
    fd_line_reader& operator=(const fd_line_reader&) = delete;

    // Blocks until EOF, stop() or a read error; calls splitter.finish() on EOF.
    end run(line_splitter& splitter);
    void stop();

private:
    int fd_;
    int wake_[2] = {-1, -1};
    std::atomic<bool> stopped_{false};
};

}  // namespace tunnelmgr::plugins::mcp_stdio
