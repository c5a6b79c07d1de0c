// Which requests misbehave: a queue of one-shot fault rules matched by method and path prefix, and a
// sliding-window request budget that answers 429 beyond it. Not thread-safe: the fake locks around it.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "cloudflare_fake.hpp"

namespace tunnelmgr::testing::detail {

class fault_plan {
 public:
  void add(fault_rule rule);
  void clear() { rules_.clear(); }
  [[nodiscard]] std::size_t pending() const;
  [[nodiscard]] const std::vector<fault_rule>& rules() const { return rules_; }
  // The first rule that matches, with one use taken from it (rules are tried in insertion order).
  std::optional<fault_rule> take(const std::string& method, const std::string& api_path);

 private:
  std::vector<fault_rule> rules_;
};

class request_budget {
 public:
  using clock = std::chrono::steady_clock;

  void set(std::optional<rate_limit_rule> rule);
  [[nodiscard]] const std::optional<rate_limit_rule>& rule() const { return rule_; }
  // Counts the request; nullopt when within budget, else the Retry-After seconds to send.
  std::optional<int> admit(clock::time_point now);
  [[nodiscard]] std::size_t peak() const { return peak_; }
  [[nodiscard]] std::size_t refused() const { return refused_; }
  void reset_counters();

 private:
  std::optional<rate_limit_rule> rule_;
  std::deque<clock::time_point> admitted_;
  std::size_t peak_ = 0;
  std::size_t refused_ = 0;
};

// "/client/v4/zones" and "zones" both become "/zones"; "" stays "" (= every path).
std::string normalise_api_prefix(std::string prefix);

}  // namespace tunnelmgr::testing::detail
