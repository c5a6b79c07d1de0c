#include "go_duration.hpp"

#include <cctype>
#include <cmath>
#include <utility>

namespace tunnelmgr::stubs::cloudflared {
namespace {

struct unit_scale {
  std::string_view name;
  double nanoseconds;
};

// Longest names first so "ms" is not read as "m" followed by garbage.
constexpr unit_scale units[] = {
    {"ns", 1.0}, {"us", 1e3}, {"\xC2\xB5s", 1e3}, {"\xCE\xBCs", 1e3},
    {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9},
};

tl::unexpected<std::string> invalid(std::string_view text, std::string_view why) {
  return tl::unexpected("time: " + std::string(why) + " in duration \"" + std::string(text) + "\"");
}

}  // namespace

tl::expected<std::chrono::nanoseconds, std::string> parse_go_duration(std::string_view text) {
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) {
    if (rest.front() == '-' && rest != "-0") {
      return tl::unexpected("negative duration \"" + std::string(text) + "\" is not allowed");
    }
    rest.remove_prefix(1);
  }
  if (rest == "0") return std::chrono::nanoseconds{0};
  if (rest.empty()) return invalid(text, "invalid duration");

  double total = 0.0;
  while (!rest.empty()) {
    std::size_t digits = 0;
    double value = 0.0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      value = value * 10.0 + (rest[digits] - '0');
      ++digits;
    }
    std::size_t used = digits;
    bool has_fraction_digits = false;
    if (used < rest.size() && rest[used] == '.') {
      ++used;
      double scale = 0.1;
      while (used < rest.size() && std::isdigit(static_cast<unsigned char>(rest[used]))) {
        value += (rest[used] - '0') * scale;
        scale /= 10.0;
        ++used;
        has_fraction_digits = true;
      }
    }
    if (digits == 0 && !has_fraction_digits) return invalid(text, "invalid duration");
    rest.remove_prefix(used);

    std::size_t unit_length = 0;
    while (unit_length < rest.size() && rest[unit_length] != '.' &&
           !std::isdigit(static_cast<unsigned char>(rest[unit_length]))) {
      ++unit_length;
    }
    if (unit_length == 0) return invalid(text, "missing unit");
    const std::string_view unit = rest.substr(0, unit_length);
    const unit_scale* found = nullptr;
    for (const auto& candidate : units) {
      if (candidate.name == unit) found = &candidate;
    }
    if (found == nullptr) {
      return tl::unexpected("time: unknown unit \"" + std::string(unit) + "\" in duration \"" +
                            std::string(text) + "\"");
    }
    total += value * found->nanoseconds;
    rest.remove_prefix(unit_length);
  }
  if (total > 9.2e18) return invalid(text, "invalid duration");
  return std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(total))};
}

std::string format_duration_ms(std::chrono::nanoseconds value) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(value).count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace tunnelmgr::stubs::cloudflared
