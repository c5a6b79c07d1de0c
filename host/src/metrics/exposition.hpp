// The pieces of Prometheus' text format 0.0.4 that need care: names, escapes and numbers.
// Kept apart from the registry so each rule is unit-tested on its own.
#pragma once

#include <string>
#include <string_view>

namespace tunnelmgr::metrics {

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved for Prometheus itself).
bool valid_label_name(std::string_view name);
// Label values: backslash, double quote and line feed escaped as \\, \" and \n.
std::string escape_label_value(std::string_view value);
// HELP text: backslash and line feed escaped as \\ and \n.
std::string escape_help(std::string_view text);
// Shortest text that reads back as the same double; +Inf, -Inf and NaN as the format spells them.
std::string format_value(double v);

}  // namespace tunnelmgr::metrics
