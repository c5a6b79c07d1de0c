// The Cloudflare v4 routes the fake serves, once a request has passed auth, budget and faults.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fake_impl.hpp"
#include "fake_json.hpp"

namespace tunnelmgr::testing::detail {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

api_response ok(std::string body, int status = 200) { return api_response{status, std::move(body), {}}; }

api_response no_route() { return error_response(404, {{404, 7000, "No route for that URI"}}); }

api_response method_not_allowed() {
  return error_response(405, {{405, 10405, "Method not allowed for this route"}});
}

api_response unknown_zone(const std::string& id) {
  return error_response(
      404, {{404, 7003, "Could not route to /zones/" + id + ", perhaps your object identifier is invalid?"}});
}

api_response from_error(const api_error& e) { return error_response(e.http_status, {e}); }

std::optional<std::string> param(const httplib::Request& req, const char* key) {
  if (!req.has_param(key)) return std::nullopt;
  return req.get_param_value(key);
}

std::optional<long> parse_long(const std::string& s) {
  long v = 0;
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return v;
}

// page ≥ 1; per_page within [min, max]: out of range is a 400 unless `clamp`.
tl::expected<page_request, api_error> parse_paging(const httplib::Request& req, long default_per_page,
                                                    long min_per_page, long max_per_page, bool clamp) {
  page_request p{1, default_per_page};
  if (auto s = param(req, "page")) {
    const auto v = parse_long(*s);
    if (!v || *v < 1) return tl::unexpected(api_error{400, 1004, "Invalid request: page must be an integer of at least 1."});
    p.page = *v;
  }
  if (auto s = param(req, "per_page")) {
    const auto v = parse_long(*s);
    if (!v) return tl::unexpected(api_error{400, 1004, "Invalid request: per_page must be an integer."});
    if (*v < min_per_page || *v > max_per_page) {
      if (!clamp) {
        return tl::unexpected(api_error{400, 1004,
                                        "Invalid request: per_page must be between " + std::to_string(min_per_page) +
                                            " and " + std::to_string(max_per_page) + "."});
      }
      p.per_page = std::clamp(*v, min_per_page, max_per_page);
    } else {
      p.per_page = *v;
    }
  }
  return p;
}

tl::expected<rapidjson::Document, api_error> parse_body(const httplib::Request& req) {
  rapidjson::Document doc;
  doc.Parse(req.body.c_str(), req.body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return tl::unexpected(api_error{400, 6007, "Malformed JSON in request body"});
  }
  return doc;
}

api_error wrong_field_type(const char* field, const char* expected) {
  return api_error{400, 9207, std::string("Request body is invalid: '") + field + "' must be " + expected + "."};
}

tl::expected<record_input, api_error> parse_record_input(const rapidjson::Value& body) {
  record_input in;
  auto str_field = [&](const char* key, std::optional<std::string>& out) -> tl::expected<void, api_error> {
    if (!body.HasMember(key)) return {};
    const auto& v = body[key];
    if (!v.IsString()) return tl::unexpected(wrong_field_type(key, "a string"));
    out = std::string(v.GetString(), v.GetStringLength());
    return {};
  };
  for (const auto& [key, out] : {std::pair{"type", &in.type}, std::pair{"name", &in.name},
                                 std::pair{"content", &in.content}}) {
    if (auto r = str_field(key, *out); !r) return tl::unexpected(r.error());
  }
  if (body.HasMember("proxied")) {
    if (!body["proxied"].IsBool()) return tl::unexpected(wrong_field_type("proxied", "a boolean"));
    in.proxied = body["proxied"].GetBool();
  }
  if (body.HasMember("ttl")) {
    if (!body["ttl"].IsInt()) return tl::unexpected(wrong_field_type("ttl", "an integer"));
    in.ttl = body["ttl"].GetInt();
  }
  if (body.HasMember("comment")) {
    const auto& c = body["comment"];
    if (c.IsNull()) {
      in.comment = std::optional<std::string>{};
    } else if (c.IsString()) {
      in.comment = std::optional<std::string>{std::string(c.GetString(), c.GetStringLength())};
    } else {
      return tl::unexpected(wrong_field_type("comment", "a string or null"));
    }
  }
  return in;
}

record_filter parse_record_filter(const httplib::Request& req) {
  record_filter f;
  f.type = param(req, "type");
  f.name_exact = param(req, "name.exact");
  if (!f.name_exact) f.name_exact = param(req, "name");
  f.name_contains = param(req, "name.contains");
  f.name_startswith = param(req, "name.startswith");
  f.name_endswith = param(req, "name.endswith");
  f.content_exact = param(req, "content.exact");
  if (!f.content_exact) f.content_exact = param(req, "content");
  f.comment_exact = param(req, "comment.exact");
  if (!f.comment_exact) f.comment_exact = param(req, "comment");
  f.comment_contains = param(req, "comment.contains");
  f.comment_startswith = param(req, "comment.startswith");
  f.comment_endswith = param(req, "comment.endswith");
  f.comment_present = req.has_param("comment.present");
  f.comment_absent = req.has_param("comment.absent");
  if (auto p = param(req, "proxied")) f.proxied = (*p == "true" || *p == "1");
  return f;
}

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && std::isxdigit(static_cast<unsigned char>(s[i])) == 0) return false;
  }
  return true;
}

// What cloudflared itself would refuse: the last rule must catch everything, and only the last.
std::optional<std::string> ingress_problem(const rapidjson::Value& config) {
  if (!config.HasMember("ingress")) return std::nullopt;
  const auto& ingress = config["ingress"];
  if (!ingress.IsArray()) return "config.ingress must be an array";
  if (ingress.Empty()) return "config.ingress must end with a catch-all rule";
  const auto n = ingress.Size();
  for (rapidjson::SizeType i = 0; i < n; ++i) {
    const auto& rule = ingress[i];
    if (!rule.IsObject() || !rule.HasMember("service") || !rule["service"].IsString()) {
      return "ingress rule " + std::to_string(i) + " needs a string 'service'";
    }
    const bool has_host = rule.HasMember("hostname") && rule["hostname"].IsString() &&
                          std::string(rule["hostname"].GetString()) != "" &&
                          std::string(rule["hostname"].GetString()) != "*";
    const bool has_path = rule.HasMember("path") && rule["path"].IsString() &&
                          std::string(rule["path"].GetString()) != "";
    const bool catch_all = !has_host && !has_path;
    if (i + 1 == n && !catch_all) return "The last ingress rule must match all URLs (no hostname or path)";
    if (i + 1 != n && catch_all) return "Only the last ingress rule may match all URLs (rule " + std::to_string(i) + ")";
  }
  return std::nullopt;
}

api_response verify_token(const std::string& token) {
  const std::string id = stable_hex_id("token:" + token);
  return ok(success_envelope(
      [&](json_writer& w) {
        w.StartObject();
        w.Key("id");
        write_string(w, id);
        w.Key("status");
        w.String("active");
        w.EndObject();
      },
      nullptr, {{10000, "This API Token is valid and active"}}));
}

api_response zones_routes(cloudflare_fake::impl& fake, const httplib::Request& req,
                          const std::vector<std::string>& parts, token_access access) {
  auto& store = fake.store;
  if (parts.size() == 1) {
    if (req.method != "GET") return method_not_allowed();
    auto paging = parse_paging(req, 20, 5, 50, fake.opts.clamp_zone_per_page);
    if (!paging) return from_error(paging.error());
    const auto page = store.list_zones(param(req, "name"), param(req, "status"), *paging);
    return ok(success_envelope(
        [&](json_writer& w) {
          w.StartArray();
          for (const auto& z : page.items) write_zone(w, z, store.account_id());
          w.EndArray();
        },
        &page.info));
  }
  const fake_zone* zone = store.zone_by_id(parts[1]);
  if (zone == nullptr) return unknown_zone(parts[1]);
  if (parts.size() == 2) {
    if (req.method != "GET") return method_not_allowed();
    return ok(success_envelope([&](json_writer& w) { write_zone(w, *zone, store.account_id()); }));
  }
  if (parts[2] != "dns_records" || parts.size() > 4) return no_route();
  const bool writes = req.method != "GET";
  if (writes && access == token_access::read_only) {
    return error_response(403, {{403, 9109, "Unauthorized to access requested resource"}});
  }
  const std::string zone_id = zone->id;
  if (parts.size() == 3) {
    if (req.method == "GET") {
      auto paging = parse_paging(req, 100, 5, 5000000, false);
      if (!paging) return from_error(paging.error());
      const auto page = store.list_records(zone_id, parse_record_filter(req), *paging);
      return ok(success_envelope(
          [&](json_writer& w) {
            w.StartArray();
            for (const auto& r : page.items) write_record(w, r);
            w.EndArray();
          },
          &page.info));
    }
    if (req.method != "POST") return method_not_allowed();
    auto body = parse_body(req);
    if (!body) return from_error(body.error());
    auto input = parse_record_input(*body);
    if (!input) return from_error(input.error());
    auto created = store.create_record(zone_id, *input);
    if (!created) return from_error(created.error());
    return ok(success_envelope([&](json_writer& w) { write_record(w, *created); }));
  }
  const std::string& record_id = parts[3];
  if (req.method == "GET") {
    const fake_dns_record* r = store.record(zone_id, record_id);
    if (r == nullptr) return error_response(404, {{404, 81044, "Record does not exist."}});
    return ok(success_envelope([&](json_writer& w) { write_record(w, *r); }));
  }
  if (req.method == "DELETE") {
    auto deleted = store.delete_record(zone_id, record_id);
    if (!deleted) return from_error(deleted.error());
    return ok(success_envelope([&](json_writer& w) {
      w.StartObject();
      w.Key("id");
      write_string(w, *deleted);
      w.EndObject();
    }));
  }
  if (req.method != "PUT" && req.method != "PATCH") return method_not_allowed();
  auto body = parse_body(req);
  if (!body) return from_error(body.error());
  auto input = parse_record_input(*body);
  if (!input) return from_error(input.error());
  auto updated = req.method == "PUT" ? store.replace_record(zone_id, record_id, *input)
                                     : store.patch_record(zone_id, record_id, *input);
  if (!updated) return from_error(updated.error());
  return ok(success_envelope([&](json_writer& w) { write_record(w, *updated); }));
}

api_response tunnel_routes(cloudflare_fake::impl& fake, const httplib::Request& req,
                           const std::vector<std::string>& parts, token_access access) {
  // accounts/{account}/cfd_tunnel/{tunnel}/configurations
  if (parts.size() != 5 || parts[2] != "cfd_tunnel" || parts[4] != "configurations") return no_route();
  if (parts[1] != fake.store.account_id()) {
    return error_response(403, {{403, 9109, "Unauthorized to access requested resource"}});
  }
  if (!is_uuid(parts[3])) {
    return error_response(404, {{404, 7003, "Could not route to /accounts/" + parts[1] + "/cfd_tunnel/" + parts[3] +
                                                 "/configurations, perhaps your object identifier is invalid?"}});
  }
  const std::string& account = fake.store.account_id();
  if (req.method == "GET") {
    const auto cfg = fake.store.tunnel_configuration(parts[3]);
    return ok(success_envelope([&](json_writer& w) { write_tunnel_configuration(w, cfg, account); }));
  }
  if (req.method != "PUT") return method_not_allowed();
  if (access == token_access::read_only) {
    return error_response(403, {{403, 9109, "Unauthorized to access requested resource"}});
  }
  auto body = parse_body(req);
  if (!body) return from_error(body.error());
  if (!body->HasMember("config") || !(*body)["config"].IsObject()) {
    return error_response(400, {{400, 1001, "Bad request: body must be {\"config\":{...}}"}});
  }
  const auto& config = (*body)["config"];
  if (auto problem = ingress_problem(config)) {
    return error_response(400, {{400, 1056, "Bad configuration: " + *problem}});
  }
  std::string config_json = compact_json([&](json_writer& w) { config.Accept(w); });
  // A racing writer's PUT, if one is set up for this tunnel, lands right before or right after this one.
  std::optional<tunnel_race> race;
  for (auto it = fake.races.begin(); it != fake.races.end(); ++it) {
    if (to_lower(it->tunnel_id) != to_lower(parts[3])) continue;
    race = *it;
    if (--it->count <= 0) fake.races.erase(it);
    break;
  }
  if (race && race->when == tunnel_race::at::before_put) fake.store.put_tunnel_configuration(parts[3], race->config_json);
  const auto cfg = fake.store.put_tunnel_configuration(parts[3], std::move(config_json));
  if (race && race->when == tunnel_race::at::after_put) fake.store.put_tunnel_configuration(parts[3], race->config_json);
  return ok(success_envelope([&](json_writer& w) { write_tunnel_configuration(w, cfg, account); }));
}

}  // namespace

api_response error_response(int http_status, const std::vector<api_error>& errors,
                            const std::vector<api_error>& chain) {
  return api_response{http_status, error_envelope(errors, chain), {}};
}

api_response route_api(cloudflare_fake::impl& fake, const httplib::Request& req, const std::string& api_path,
                       const std::string& token, token_access access) {
  const auto parts = split_path(api_path);
  std::lock_guard lock(fake.mu);
  if (parts.size() == 3 && parts[0] == "user" && parts[1] == "tokens" && parts[2] == "verify") {
    if (req.method != "GET") return method_not_allowed();
    return verify_token(token);
  }
  if (!parts.empty() && parts[0] == "zones") return zones_routes(fake, req, parts, access);
  if (!parts.empty() && parts[0] == "accounts") return tunnel_routes(fake, req, parts, access);
  return no_route();
}

}  // namespace tunnelmgr::testing::detail
