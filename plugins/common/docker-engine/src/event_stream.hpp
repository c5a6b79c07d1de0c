// The Engine API's event stream (GET /events: one JSON object per line) turned into events: a line
// splitter that survives arbitrary chunking, and a parser for one line.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tunnelmgr::plugins::docker_engine {

struct docker_event {
    std::string type;      // "container", "network", ...
    std::string action;    // "start", "die", "connect", "disconnect", ... ("exec_start: sh" kept whole)
    std::string actor_id;  // container id, or network id for network events
    std::map<std::string, std::string> attributes;  // name, image, exitCode, container, labels...
    int64_t time_nano = 0;

    int64_t time_ms() const { return time_nano / 1000000; }
    std::string attribute(const std::string& key) const {
        auto it = attributes.find(key);
        return it == attributes.end() ? std::string() : it->second;
    }
};

// nullopt for a line that is not an event object (blank, garbage, or missing Type/Action).
std::optional<docker_event> parse_event(std::string_view line);

// Cuts a byte stream into lines. A line longer than max_line is dropped whole (a runaway daemon
// answer must not grow memory without bound).
class line_splitter {
public:
    explicit line_splitter(size_t max_line = 1 << 20) : max_line_(max_line) {}
    void feed(std::string_view chunk, const std::function<void(std::string_view)>& on_line);
    size_t pending() const { return buffer_.size(); }

private:
    size_t max_line_;
    std::string buffer_;
    bool discarding_ = false;
};

}  // namespace tunnelmgr::plugins::docker_engine
