// Lines end at '\n'; a '\r' before it is dropped (CRLF clients). Empty lines are ignored.
#include "line_splitter.hpp"

#include <utility>

namespace tunnelmgr::plugins::mcp_stdio {

line_splitter::line_splitter(std::size_t max_line_bytes, line_fn on_line, oversize_fn on_oversize)
    : max_(max_line_bytes), on_line_(std::move(on_line)), on_oversize_(std::move(on_oversize)) {}

void line_splitter::emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;
    on_line_(line);
}

void line_splitter::feed(std::string_view bytes) {
    while (!bytes.empty()) {
        auto nl = bytes.find('\n');
        std::string_view chunk = nl == std::string_view::npos ? bytes : bytes.substr(0, nl);
        bool complete = nl != std::string_view::npos;
        bytes = complete ? bytes.substr(nl + 1) : std::string_view();

        if (skipping_) {
            skipped_bytes_ += chunk.size();
        } else if (pending_.size() + chunk.size() > max_) {
            // Stop buffering at once: the rest of this line is counted, never stored.
            skipping_ = true;
            skipped_bytes_ = pending_.size() + chunk.size();
            pending_.clear();
            pending_.shrink_to_fit();
        } else if (complete && pending_.empty()) {
            emit(chunk);  // the common case: a whole line inside one read, no copy
            continue;
        } else {
            pending_.append(chunk);
        }

        if (complete) {
            if (skipping_) {
                skipping_ = false;
                on_oversize_(skipped_bytes_);
                skipped_bytes_ = 0;
            } else {
                std::string line = std::move(pending_);
                pending_.clear();
                emit(line);
            }
        }
    }
}

void line_splitter::finish() {
    if (skipping_) {
        skipping_ = false;
        on_oversize_(skipped_bytes_);
        skipped_bytes_ = 0;
    } else if (!pending_.empty()) {
        std::string line = std::move(pending_);
        pending_.clear();
        emit(line);
    }
}

}  // namespace tunnelmgr::plugins::mcp_stdio
