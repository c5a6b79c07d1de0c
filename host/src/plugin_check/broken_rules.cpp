// See broken_rules.hpp.
#include "plugin_check/broken_rules.hpp"

#include <algorithm>

namespace tunnelmgr::plugin_check {

namespace {
constexpr const char* marker = "rule: ";
}

std::string rule(const std::string& text) { return std::string("\n  ") + marker + text; }

void broken_rules_listener::OnTestPartResult(const ::testing::TestPartResult& result) {
    if (!result.failed()) return;
    const std::string msg = result.message() != nullptr ? result.message() : "";
    size_t at = msg.find(marker);
    if (at == std::string::npos) {
        current_.push_back("(a check without a rule line: " + msg.substr(0, msg.find('\n')) + ")");
        return;
    }
    while (at != std::string::npos) {
        size_t start = at + std::string(marker).size();
        size_t end = msg.find('\n', start);
        current_.push_back(msg.substr(start, end == std::string::npos ? std::string::npos : end - start));
        at = msg.find(marker, start);
    }
}

void broken_rules_listener::OnTestEnd(const ::testing::TestInfo& info) {
    for (auto& r : current_) {
        std::string line = std::string(info.test_suite_name()) + "." + info.name() + ": " + r;
        if (std::find(rules_.begin(), rules_.end(), line) == rules_.end()) rules_.push_back(std::move(line));
    }
    current_.clear();
}

}  // namespace tunnelmgr::plugin_check
