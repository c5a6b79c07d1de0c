#include "fault_plan.hpp"

#include <algorithm>

namespace tunnelmgr::testing::detail {

std::string normalise_api_prefix(std::string prefix) {
  constexpr std::string_view base = "/client/v4";
  if (prefix.rfind(base, 0) == 0) prefix.erase(0, base.size());
  if (!prefix.empty() && prefix.front() != '/') prefix.insert(prefix.begin(), '/');
  return prefix;
}

void fault_plan::add(fault_rule rule) {
  if (rule.count <= 0) return;
  std::transform(rule.method.begin(), rule.method.end(), rule.method.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (rule.method == "*") rule.method.clear();
  rule.path_prefix = normalise_api_prefix(rule.path_prefix);
  rules_.push_back(std::move(rule));
}

std::size_t fault_plan::pending() const {
  std::size_t n = 0;
  for (const auto& r : rules_) n += static_cast<std::size_t>(r.count);
  return n;
}

std::optional<fault_rule> fault_plan::take(const std::string& method, const std::string& api_path) {
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!it->method.empty() && it->method != method) continue;
    if (api_path.rfind(it->path_prefix, 0) != 0) continue;
    fault_rule taken = *it;
    if (--it->count <= 0) rules_.erase(it);
    return taken;
  }
  return std::nullopt;
}

void request_budget::set(std::optional<rate_limit_rule> rule) {
  rule_ = rule;
  admitted_.clear();
}

std::optional<int> request_budget::admit(clock::time_point now) {
  if (!rule_) return std::nullopt;
  while (!admitted_.empty() && now - admitted_.front() >= rule_->window) admitted_.pop_front();
  if (admitted_.size() >= static_cast<std::size_t>(std::max(rule_->max_requests, 0))) {
    ++refused_;
    if (admitted_.empty()) return static_cast<int>(std::max<long long>(
        1, std::chrono::ceil<std::chrono::seconds>(rule_->window).count()));
    const auto wait = admitted_.front() + rule_->window - now;
    return static_cast<int>(
        std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(wait).count()));
  }
  admitted_.push_back(now);
  peak_ = std::max(peak_, admitted_.size());
  return std::nullopt;
}

void request_budget::reset_counters() {
  admitted_.clear();
  peak_ = 0;
  refused_ = 0;
}

}  // namespace tunnelmgr::testing::detail
