// /__fake/... : what an out-of-process test uses to look at and steer the fake (no auth, loopback only).
#include <string>

#include <rapidjson/document.h>

#include "fake_impl.hpp"
#include "fake_json.hpp"

namespace tunnelmgr::testing::detail {
namespace {

void reply(httplib::Response& res, int status, const std::string& json) {
  res.status = status;
  res.set_content(json, "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, compact_json([&](json_writer& w) {
          w.StartObject();
          w.Key("error");
          write_string(w, message);
          w.EndObject();
        }));
}

std::string pending_json(std::size_t pending) {
  return compact_json([&](json_writer& w) {
    w.StartObject();
    w.Key("pending_faults");
    w.Uint64(pending);
    w.EndObject();
  });
}

std::string get_string(const rapidjson::Value& v, const char* key, const std::string& fallback = {}) {
  if (v.HasMember(key) && v[key].IsString()) return std::string(v[key].GetString(), v[key].GetStringLength());
  return fallback;
}

int get_int(const rapidjson::Value& v, const char* key, int fallback) {
  if (v.HasMember(key) && v[key].IsInt()) return v[key].GetInt();
  return fallback;
}

tl::expected<fault_rule, std::string> parse_fault(const rapidjson::Value& v) {
  if (!v.IsObject()) return tl::unexpected(std::string("a fault is a JSON object"));
  fault_rule f;
  f.method = get_string(v, "method");
  f.path_prefix = get_string(v, "path_prefix");
  f.count = get_int(v, "count", 1);
  const std::string kind = get_string(v, "kind", "status");
  if (kind == "status") {
    f.kind = fault_kind::http_status;
  } else if (kind == "delay") {
    f.kind = fault_kind::delay;
  } else if (kind == "drop") {
    f.kind = fault_kind::drop_connection;
  } else {
    return tl::unexpected("unknown fault kind '" + kind + "' (status, delay, drop)");
  }
  f.status = get_int(v, "status", 429);
  if (f.kind == fault_kind::http_status && (f.status < 100 || f.status > 599)) {
    return tl::unexpected(std::string("status must be an HTTP status code"));
  }
  f.retry_after_seconds = get_int(v, "retry_after", 1);
  f.error_code = get_int(v, "code", 0);
  f.body = get_string(v, "body");
  f.content_type = get_string(v, "content_type", "application/json");
  f.delay = std::chrono::milliseconds(get_int(v, "delay_ms", 0));
  if (f.count < 1) return tl::unexpected(std::string("count must be at least 1"));
  return f;
}

void add_faults(cloudflare_fake::impl& fake, const rapidjson::Document& doc, httplib::Response& res) {
  const rapidjson::Value* list = &doc;
  if (doc.IsObject() && doc.HasMember("faults")) list = &doc["faults"];
  std::vector<fault_rule> parsed;
  if (list->IsArray()) {
    for (const auto& v : list->GetArray()) {
      auto f = parse_fault(v);
      if (!f) return reply_error(res, 400, f.error());
      parsed.push_back(*f);
    }
  } else {
    auto f = parse_fault(*list);
    if (!f) return reply_error(res, 400, f.error());
    parsed.push_back(*f);
  }
  std::lock_guard lock(fake.mu);
  for (auto& f : parsed) fake.faults.add(std::move(f));
  reply(res, 200, pending_json(fake.faults.pending()));
}

void add_record(cloudflare_fake::impl& fake, const rapidjson::Document& doc, httplib::Response& res) {
  if (!doc.IsObject()) return reply_error(res, 400, "body must be a JSON object");
  const std::string zone_key = get_string(doc, "zone", get_string(doc, "zone_id"));
  record_input in;
  in.type = get_string(doc, "type");
  in.name = get_string(doc, "name");
  in.content = get_string(doc, "content");
  if (doc.HasMember("proxied") && doc["proxied"].IsBool()) in.proxied = doc["proxied"].GetBool();
  if (doc.HasMember("ttl") && doc["ttl"].IsInt()) in.ttl = doc["ttl"].GetInt();
  if (doc.HasMember("comment") && doc["comment"].IsString()) in.comment = std::optional<std::string>(get_string(doc, "comment"));
  std::lock_guard lock(fake.mu);
  const fake_zone* zone = fake.store.zone_by_name_or_id(zone_key);
  if (zone == nullptr) return reply_error(res, 404, "no zone '" + zone_key + "'");
  auto created = fake.store.create_record(zone->id, in);
  if (!created) {
    return reply_error(res, 400, std::to_string(created.error().code) + " " + created.error().message);
  }
  reply(res, 201, compact_json([&](json_writer& w) { write_record(w, *created); }));
}

}  // namespace

void route_control(cloudflare_fake::impl& fake, const httplib::Request& req, httplib::Response& res) {
  const std::string& path = req.path;
  const std::string& method = req.method;
  rapidjson::Document doc;
  const bool needs_body = method == "POST" && path != "/__fake/reset";
  if (needs_body) {
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError()) return reply_error(res, 400, "body is not valid JSON");
  }

  if (path == "/__fake/state" && method == "GET") {
    std::lock_guard lock(fake.mu);
    return reply(res, 200, fake.state_json_locked());
  }
  if (path == "/__fake/requests" && method == "GET") {
    std::lock_guard lock(fake.mu);
    return reply(res, 200, compact_json([&](json_writer& w) {
                   w.StartObject();
                   w.Key("requests");
                   w.StartArray();
                   for (const auto& r : fake.log) {
                     w.StartObject();
                     w.Key("method");
                     write_string(w, r.method);
                     w.Key("path");
                     write_string(w, r.path);
                     w.Key("query");
                     write_string(w, r.query);
                     w.Key("status");
                     w.Int(r.status);
                     w.Key("authorized");
                     w.Bool(r.authorized);
                     w.EndObject();
                   }
                   w.EndArray();
                   w.EndObject();
                 }));
  }
  if (path == "/__fake/faults" && method == "POST") return add_faults(fake, doc, res);
  if (path == "/__fake/faults" && method == "DELETE") {
    std::lock_guard lock(fake.mu);
    fake.faults.clear();
    return reply(res, 200, pending_json(0));
  }
  if (path == "/__fake/rate_limit" && method == "POST") {
    if (!doc.IsObject()) return reply_error(res, 400, "body must be a JSON object");
    rate_limit_rule rule;
    rule.max_requests = get_int(doc, "max_requests", 1200);
    rule.window = std::chrono::milliseconds(get_int(doc, "window_ms", 300000));
    if (rule.max_requests < 0 || rule.window.count() <= 0) {
      return reply_error(res, 400, "max_requests must be ≥ 0 and window_ms > 0");
    }
    std::lock_guard lock(fake.mu);
    fake.budget.set(rule);
    return reply(res, 200, R"({"rate_limit":"set"})");
  }
  if (path == "/__fake/rate_limit" && method == "DELETE") {
    std::lock_guard lock(fake.mu);
    fake.budget.set(std::nullopt);
    return reply(res, 200, R"({"rate_limit":null})");
  }
  if (path == "/__fake/records" && method == "POST") return add_record(fake, doc, res);
  if (path == "/__fake/zones" && method == "POST") {
    if (!doc.IsObject() || get_string(doc, "name").empty()) return reply_error(res, 400, "body needs a \"name\"");
    std::lock_guard lock(fake.mu);
    const auto zone = fake.store.add_zone(get_string(doc, "name"), get_string(doc, "status", "active"));
    return reply(res, 201, compact_json([&](json_writer& w) { write_zone(w, zone, fake.store.account_id()); }));
  }
  if (path == "/__fake/tokens" && (method == "POST" || method == "DELETE")) {
    if (method == "DELETE") {
      doc.Parse(req.body.c_str(), req.body.size());
      if (doc.HasParseError()) return reply_error(res, 400, "body is not valid JSON");
    }
    if (!doc.IsObject() || get_string(doc, "token").empty()) return reply_error(res, 400, "body needs a \"token\"");
    const std::string token = get_string(doc, "token");
    std::lock_guard lock(fake.mu);
    if (method == "DELETE") {
      fake.tokens.erase(token);
    } else {
      fake.tokens[token] =
          get_string(doc, "access", "read_write") == "read_only" ? token_access::read_only : token_access::read_write;
    }
    return reply(res, 200, R"({"tokens":"updated"})");
  }
  if (path == "/__fake/reset" && method == "POST") {
    std::lock_guard lock(fake.mu);
    fake.reset_locked();
    return reply(res, 200, R"({"reset":true})");
  }
  reply_error(res, 404, "no control endpoint " + method + " " + path);
}

}  // namespace tunnelmgr::testing::detail
