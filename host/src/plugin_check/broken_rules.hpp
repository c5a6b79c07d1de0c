// Turns gtest failures into the list an author reads at the end: every failure message of a suite
// carries a "rule: ..." line, and this listener collects the distinct rules that failed.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tunnelmgr::plugin_check {

// "\n  rule: <text>", streamed after an assertion so its failure names the rule it checks.
std::string rule(const std::string& text);

class broken_rules_listener : public ::testing::EmptyTestEventListener {
public:
    void OnTestPartResult(const ::testing::TestPartResult& result) override;
    void OnTestEnd(const ::testing::TestInfo& info) override;
    const std::vector<std::string>& rules() const { return rules_; }

private:
    std::vector<std::string> rules_;
    std::vector<std::string> current_;
};

}  // namespace tunnelmgr::plugin_check
