#include "fake_json.hpp"

namespace tunnelmgr::testing::detail {

void write_string(json_writer& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string compact_json(const std::function<void(json_writer&)>& write) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  write(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string success_envelope(const std::function<void(json_writer&)>& write_result,
                             const page_info* info, const std::vector<api_message>& messages) {
  return compact_json([&](json_writer& w) {
    w.StartObject();
    w.Key("success");
    w.Bool(true);
    w.Key("errors");
    w.StartArray();
    w.EndArray();
    w.Key("messages");
    w.StartArray();
    for (const auto& m : messages) {
      w.StartObject();
      w.Key("code");
      w.Int(m.code);
      w.Key("message");
      write_string(w, m.message);
      w.Key("type");
      w.Null();
      w.EndObject();
    }
    w.EndArray();
    w.Key("result");
    write_result(w);
    if (info != nullptr) {
      w.Key("result_info");
      w.StartObject();
      w.Key("page");
      w.Int64(info->page);
      w.Key("per_page");
      w.Int64(info->per_page);
      w.Key("count");
      w.Int64(info->count);
      w.Key("total_count");
      w.Int64(info->total_count);
      w.Key("total_pages");
      w.Int64(info->total_pages);
      w.EndObject();
    }
    w.EndObject();
  });
}

std::string error_envelope(const std::vector<api_error>& errors, const std::vector<api_error>& chain) {
  return compact_json([&](json_writer& w) {
    w.StartObject();
    w.Key("success");
    w.Bool(false);
    w.Key("errors");
    w.StartArray();
    bool first = true;
    for (const auto& e : errors) {
      w.StartObject();
      w.Key("code");
      w.Int(e.code);
      w.Key("message");
      write_string(w, e.message);
      if (first && !chain.empty()) {
        w.Key("error_chain");
        w.StartArray();
        for (const auto& c : chain) {
          w.StartObject();
          w.Key("code");
          w.Int(c.code);
          w.Key("message");
          write_string(w, c.message);
          w.EndObject();
        }
        w.EndArray();
      }
      first = false;
      w.EndObject();
    }
    w.EndArray();
    w.Key("messages");
    w.StartArray();
    w.EndArray();
    w.Key("result");
    w.Null();
    w.EndObject();
  });
}

void write_zone(json_writer& w, const fake_zone& zone, const std::string& account_id) {
  w.StartObject();
  w.Key("id");
  write_string(w, zone.id);
  w.Key("name");
  write_string(w, zone.name);
  w.Key("status");
  write_string(w, zone.status);
  w.Key("paused");
  w.Bool(false);
  w.Key("type");
  w.String("full");
  w.Key("development_mode");
  w.Int(0);
  w.Key("name_servers");
  w.StartArray();
  w.String("ada.ns.cloudflare.com");
  w.String("bob.ns.cloudflare.com");
  w.EndArray();
  w.Key("account");
  w.StartObject();
  w.Key("id");
  write_string(w, account_id);
  w.Key("name");
  w.String("Fake account");
  w.EndObject();
  w.Key("permissions");
  w.StartArray();
  w.String("#dns_records:edit");
  w.String("#dns_records:read");
  w.String("#zone:read");
  w.EndArray();
  w.Key("plan");
  w.StartObject();
  w.Key("id");
  w.String("0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
  w.Key("name");
  w.String("Free Website");
  w.EndObject();
  w.EndObject();
}

void write_record(json_writer& w, const fake_dns_record& r) {
  w.StartObject();
  w.Key("id");
  write_string(w, r.id);
  w.Key("zone_id");
  write_string(w, r.zone_id);
  w.Key("zone_name");
  write_string(w, r.zone_name);
  w.Key("name");
  write_string(w, r.name);
  w.Key("type");
  write_string(w, r.type);
  w.Key("content");
  write_string(w, r.content);
  w.Key("proxiable");
  w.Bool(r.type == "A" || r.type == "AAAA" || r.type == "CNAME");
  w.Key("proxied");
  w.Bool(r.proxied);
  w.Key("ttl");
  w.Int(r.ttl);
  w.Key("locked");
  w.Bool(false);
  w.Key("comment");
  if (r.comment) {
    write_string(w, *r.comment);
  } else {
    w.Null();
  }
  w.Key("tags");
  w.StartArray();
  w.EndArray();
  w.Key("settings");
  w.StartObject();
  w.EndObject();
  w.Key("meta");
  w.StartObject();
  w.Key("auto_added");
  w.Bool(false);
  w.Key("managed_by_apps");
  w.Bool(false);
  w.Key("managed_by_argo_tunnel");
  w.Bool(false);
  w.Key("source");
  w.String("primary");
  w.EndObject();
  w.Key("created_on");
  write_string(w, r.created_on);
  w.Key("modified_on");
  write_string(w, r.modified_on);
  w.EndObject();
}

void write_tunnel_configuration(json_writer& w, const fake_tunnel_configuration& cfg,
                                const std::string& account_id) {
  w.StartObject();
  w.Key("account_id");
  write_string(w, account_id);
  w.Key("tunnel_id");
  write_string(w, cfg.tunnel_id);
  w.Key("version");
  w.Int64(cfg.version);
  w.Key("config");
  w.RawValue(cfg.config_json.c_str(), cfg.config_json.size(), rapidjson::kObjectType);
  w.Key("source");
  w.String("cloudflare");
  w.Key("created_at");
  if (cfg.created_at.empty()) {
    w.Null();
  } else {
    write_string(w, cfg.created_at);
  }
  w.EndObject();
}

}  // namespace tunnelmgr::testing::detail
