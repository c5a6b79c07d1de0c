// Cuts a byte stream into lines (one JSON-RPC message each) with a hard cap on line length.
// An over-long line is reported once and its bytes are dropped, so it can never exhaust memory.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace tunnelmgr::plugins::mcp_stdio {

class line_splitter {
public:
    using line_fn = std::function<void(std::string_view line)>;
    // Called once per over-long line, when its end (or EOF) is reached; `bytes` is its full length.
    using oversize_fn = std::function<void(std::size_t bytes)>;

    line_splitter(std::size_t max_line_bytes, line_fn on_line, oversize_fn on_oversize);

    void feed(std::string_view bytes);
    // End of input: a last line without '\n' still counts.
    void finish();

private:
    void emit(std::string_view line);

    std::size_t max_;
    line_fn on_line_;
    oversize_fn on_oversize_;
    std::string pending_;
    bool skipping_ = false;
    std::size_t skipped_bytes_ = 0;
};

}  // namespace tunnelmgr::plugins::mcp_stdio
