#include "config_json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cerrno>
#include <cstdlib>

namespace tunnelmgr::stubs::cloudflared {
namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(json_writer& out, const std::string& text) {
  out.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
}

// Plain YAML scalars become JSON booleans, numbers or null the way YAML 1.2 reads them; quoted
// scalars (tag "!") stay strings.
void write_scalar(json_writer& out, const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() != "!") {
    if (text == "true" || text == "True" || text == "TRUE") return void(out.Bool(true));
    if (text == "false" || text == "False" || text == "FALSE") return void(out.Bool(false));
    if (text == "null" || text == "~" || text.empty()) return void(out.Null());
    if (!text.empty()) {
      char* end = nullptr;
      errno = 0;
      const long long integer = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0 && end != nullptr && *end == '\0') return void(out.Int64(integer));
      errno = 0;
      const double real = std::strtod(text.c_str(), &end);
      const bool numeric_start = text.find_first_of("0123456789") != std::string::npos &&
                                 text.find_first_not_of("0123456789+-.eE") == std::string::npos;
      if (numeric_start && errno == 0 && end != nullptr && *end == '\0') return void(out.Double(real));
    }
  }
  write_string(out, text);
}

void write_node(json_writer& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out.StartObject();
      for (const auto& entry : node) {
        write_string(out, entry.first.Scalar());
        write_node(out, entry.second);
      }
      out.EndObject();
      return;
    case YAML::NodeType::Sequence:
      out.StartArray();
      for (const auto& item : node) write_node(out, item);
      out.EndArray();
      return;
    case YAML::NodeType::Scalar:
      write_scalar(out, node);
      return;
    default:
      out.Null();
  }
}

void write_optional(json_writer& out, const char* key, const std::optional<std::string>& value) {
  if (!value) return;
  out.Key(key);
  write_string(out, *value);
}

}  // namespace

std::string config_to_json(const tunnel_config& config) {
  rapidjson::StringBuffer buffer;
  json_writer out(buffer);
  out.StartObject();
  out.Key("configPath");
  write_string(out, config.source_path);
  write_optional(out, "tunnel", config.tunnel);
  write_optional(out, "credentials-file", config.credentials_file);
  write_optional(out, "metrics", config.metrics);
  out.Key("ingress");
  out.StartArray();
  for (const auto& rule : config.ingress) {
    out.StartObject();
    write_optional(out, "hostname", rule.hostname);
    write_optional(out, "path", rule.path);
    out.Key("service");
    write_string(out, rule.service);
    if (rule.origin_request.IsDefined() && rule.origin_request.IsMap()) {
      out.Key("originRequest");
      write_node(out, rule.origin_request);
    }
    out.EndObject();
  }
  out.EndArray();
  if (config.origin_request.IsDefined() && config.origin_request.IsMap()) {
    out.Key("originRequest");
    write_node(out, config.origin_request);
  }
  out.EndObject();
  return buffer.GetString();
}

}  // namespace tunnelmgr::stubs::cloudflared
