#include "fake_store.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace tunnelmgr::testing::detail {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

std::string hex128(std::uint64_t hi, std::uint64_t lo) {
  std::array<char, 33> buf{};
  std::snprintf(buf.data(), buf.size(), "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return std::string(buf.data(), 32);
}

std::uint64_t fnv1a(const std::string& s, std::uint64_t basis) {
  std::uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool contains_ci(const std::string& haystack, const std::string& needle) {
  return to_lower(haystack).find(to_lower(needle)) != std::string::npos;
}
bool starts_with_ci(const std::string& s, const std::string& prefix) {
  return to_lower(s).rfind(to_lower(prefix), 0) == 0;
}
bool ends_with_ci(const std::string& s, const std::string& suffix) {
  const std::string a = to_lower(s);
  const std::string b = to_lower(suffix);
  return a.size() >= b.size() && a.compare(a.size() - b.size(), b.size(), b) == 0;
}

std::string strip_trailing_dot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// LDH labels plus '_' (Cloudflare accepts _dmarc, _acme-challenge), '*' only as the whole first label.
bool valid_hostname(const std::string& name, bool allow_wildcard) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  bool first = true;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string label =
        name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label == "*") {
      if (!first || !allow_wildcard) return false;
    } else {
      for (char c : label) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
        if (!ok) return false;
      }
      if (label.front() == '-' || label.back() == '-') return false;
    }
    first = false;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return true;
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0U) != 0x80U) ++n;
  }
  return n;
}

bool proxiable(const std::string& type) { return type == "A" || type == "AAAA" || type == "CNAME"; }

bool host_target_type(const std::string& type) {
  return type == "CNAME" || type == "NS" || type == "MX" || type == "PTR";
}

const std::array<const char*, 7> k_supported_types{"A", "AAAA", "CNAME", "TXT", "MX", "NS", "PTR"};

api_error validation(int code, std::string message) { return api_error{400, code, std::move(message)}; }

template <class T>
page_of<T> paginate(std::vector<T> all, page_request req) {
  page_of<T> out;
  out.info.page = req.page;
  out.info.per_page = req.per_page;
  out.info.total_count = static_cast<long>(all.size());
  out.info.total_pages = (out.info.total_count + req.per_page - 1) / req.per_page;
  const long first = (req.page - 1) * req.per_page;
  for (long i = first; i < first + req.per_page && i < out.info.total_count; ++i) {
    out.items.push_back(std::move(all[static_cast<std::size_t>(i)]));
  }
  out.info.count = static_cast<long>(out.items.size());
  return out;
}

}  // namespace

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now - secs).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long>(micros));
  return buf.data();
}

std::string stable_hex_id(const std::string& seed) {
  return hex128(splitmix64(fnv1a(seed, 0xcbf29ce484222325ULL)),
                splitmix64(fnv1a(seed, 0x84222325cbf29ce4ULL)));
}

fake_store::fake_store(std::string account_id) : account_id_(std::move(account_id)) {}

fake_zone fake_store::add_zone(const std::string& name, const std::string& status) {
  const std::string lower = strip_trailing_dot(to_lower(name));
  if (const fake_zone* existing = zone_by_name(lower)) return *existing;
  fake_zone zone{stable_hex_id("zone:" + lower), lower, status};
  const auto pos = std::lower_bound(zones_.begin(), zones_.end(), zone,
                                    [](const fake_zone& a, const fake_zone& b) { return a.name < b.name; });
  zones_.insert(pos, zone);
  return zone;
}

std::vector<fake_zone> fake_store::zones() const { return zones_; }

const fake_zone* fake_store::zone_by_id(const std::string& id) const {
  for (const auto& z : zones_) {
    if (z.id == id) return &z;
  }
  return nullptr;
}

const fake_zone* fake_store::zone_by_name(const std::string& name) const {
  const std::string lower = strip_trailing_dot(to_lower(name));
  for (const auto& z : zones_) {
    if (z.name == lower) return &z;
  }
  return nullptr;
}

const fake_zone* fake_store::zone_by_name_or_id(const std::string& key) const {
  if (const fake_zone* z = zone_by_id(key)) return z;
  return zone_by_name(key);
}

page_of<fake_zone> fake_store::list_zones(const std::optional<std::string>& name,
                                          const std::optional<std::string>& status,
                                          page_request page) const {
  std::vector<fake_zone> matching;
  for (const auto& z : zones_) {
    if (name && z.name != strip_trailing_dot(to_lower(*name))) continue;
    if (status && z.status != to_lower(*status)) continue;
    matching.push_back(z);
  }
  return paginate(std::move(matching), page);
}

page_of<fake_dns_record> fake_store::list_records(const std::string& zone_id,
                                                  const record_filter& f, page_request page) const {
  std::vector<fake_dns_record> matching;
  for (const auto& r : records_) {
    if (r.zone_id != zone_id) continue;
    if (f.type && to_lower(r.type) != to_lower(*f.type)) continue;
    if (f.name_exact && r.name != strip_trailing_dot(to_lower(*f.name_exact))) continue;
    if (f.name_contains && !contains_ci(r.name, *f.name_contains)) continue;
    if (f.name_startswith && !starts_with_ci(r.name, *f.name_startswith)) continue;
    if (f.name_endswith && !ends_with_ci(r.name, *f.name_endswith)) continue;
    if (f.content_exact && to_lower(r.content) != to_lower(*f.content_exact)) continue;
    const std::string comment = r.comment.value_or("");
    // Comment filters are case-insensitive on the real API.
    if (f.comment_exact && (!r.comment || to_lower(comment) != to_lower(*f.comment_exact))) continue;
    if (f.comment_contains && (!r.comment || !contains_ci(comment, *f.comment_contains))) continue;
    if (f.comment_startswith && (!r.comment || !starts_with_ci(comment, *f.comment_startswith))) {
      continue;
    }
    if (f.comment_endswith && (!r.comment || !ends_with_ci(comment, *f.comment_endswith))) continue;
    if (f.comment_present && !r.comment) continue;
    if (f.comment_absent && r.comment) continue;
    if (f.proxied && r.proxied != *f.proxied) continue;
    matching.push_back(r);
  }
  return paginate(std::move(matching), page);
}

std::vector<fake_dns_record> fake_store::all_records() const { return records_; }

const fake_dns_record* fake_store::record(const std::string& zone_id, const std::string& id) const {
  for (const auto& r : records_) {
    if (r.zone_id == zone_id && r.id == id) return &r;
  }
  return nullptr;
}

const fake_dns_record* fake_store::record_anywhere(const std::string& id) const {
  for (const auto& r : records_) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::string fake_store::next_record_id() {
  ++id_counter_;
  return hex128(splitmix64(id_counter_ * 2U), splitmix64(id_counter_ * 2U + 1U));
}

tl::expected<void, api_error> fake_store::check_record(const fake_dns_record& c,
                                                       const fake_zone& zone) const {
  if (std::find(k_supported_types.begin(), k_supported_types.end(), c.type) ==
      k_supported_types.end()) {
    return tl::unexpected(validation(9020, "Invalid DNS record type"));
  }
  if (!valid_hostname(c.name, true) ||
      !(c.name == zone.name || ends_with_ci(c.name, "." + zone.name))) {
    return tl::unexpected(validation(9000, "DNS name is invalid."));
  }
  if (c.type == "A") {
    in_addr a{};
    if (inet_pton(AF_INET, c.content.c_str(), &a) != 1) {
      return tl::unexpected(validation(9005, "Content for A record must be a valid IPv4 address."));
    }
  } else if (c.type == "AAAA") {
    in6_addr a{};
    if (inet_pton(AF_INET6, c.content.c_str(), &a) != 1) {
      return tl::unexpected(
          validation(9006, "Content for AAAA record must be a valid IPv6 address."));
    }
  } else if (host_target_type(c.type)) {
    if (!valid_hostname(c.content, false) || c.content == c.name) {
      return tl::unexpected(validation(9007, "Content for " + c.type + " record is invalid."));
    }
  } else if (c.type == "TXT") {
    if (c.content.empty() || c.content.size() > 2048) {
      return tl::unexpected(validation(9009, "Content for TXT record is invalid."));
    }
  }
  if (c.ttl != 1 && (c.ttl < 60 || c.ttl > 86400)) {
    return tl::unexpected(validation(
        9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."));
  }
  if (c.proxied && !proxiable(c.type)) {
    return tl::unexpected(validation(9004, "This record type cannot be proxied."));
  }
  if (c.comment) {
    if (utf8_length(*c.comment) > 100) {
      return tl::unexpected(
          validation(9102, "DNS record comment is too long: at most 100 characters."));
    }
    if (c.comment->find_first_of("\r\n") != std::string::npos) {
      return tl::unexpected(validation(9102, "DNS record comment must not contain newlines."));
    }
  }
  for (const auto& other : records_) {
    if (other.id == c.id || other.zone_id != c.zone_id || other.name != c.name) continue;
    if (other.type == c.type && to_lower(other.content) == to_lower(c.content)) {
      return tl::unexpected(validation(81057, "Record already exists."));
    }
  }
  for (const auto& other : records_) {
    if (other.id == c.id || other.zone_id != c.zone_id || other.name != c.name) continue;
    if (c.type == "CNAME" && (other.type == "A" || other.type == "AAAA" || other.type == "CNAME")) {
      return tl::unexpected(
          validation(81053, "An A, AAAA, or CNAME record with that host already exists."));
    }
    if ((c.type == "A" || c.type == "AAAA") && other.type == "CNAME") {
      return tl::unexpected(validation(81054, "A CNAME record with that host already exists."));
    }
  }
  return {};
}

namespace {

// Applies the given fields onto `r`, normalising names the way the API stores them.
void merge_input(fake_dns_record& r, const record_input& in, const fake_zone& zone) {
  if (in.type) r.type = [&] {
    std::string t = *in.type;
    std::transform(t.begin(), t.end(), t.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
    return t;
  }();
  if (in.name) {
    std::string n = strip_trailing_dot(to_lower(*in.name));
    // Like the real API: "@" is the apex, a relative name gets the zone appended.
    if (n == "@" || n.empty()) {
      n = zone.name;
    } else if (n != zone.name && !ends_with_ci(n, "." + zone.name)) {
      n += "." + zone.name;
    }
    r.name = n;
  }
  if (in.content) r.content = *in.content;
  if (host_target_type(r.type)) r.content = strip_trailing_dot(to_lower(r.content));
  if (in.proxied) r.proxied = *in.proxied;
  if (in.ttl) r.ttl = *in.ttl;
  if (in.comment) {
    r.comment = *in.comment;
    if (r.comment && r.comment->empty()) r.comment.reset();
  }
}

}  // namespace

tl::expected<fake_dns_record, api_error> fake_store::create_record(const std::string& zone_id,
                                                                   const record_input& in) {
  const fake_zone* zone = zone_by_id(zone_id);
  if (zone == nullptr) return tl::unexpected(api_error{404, 7003, "Could not route to zone"});
  if (!in.type) return tl::unexpected(validation(9020, "Invalid DNS record type"));
  if (!in.name) return tl::unexpected(validation(9000, "DNS name is invalid."));
  fake_dns_record r;
  r.zone_id = zone->id;
  r.zone_name = zone->name;
  merge_input(r, in, *zone);
  if (auto ok = check_record(r, *zone); !ok) return tl::unexpected(ok.error());
  r.id = next_record_id();
  r.created_on = rfc3339_now();
  r.modified_on = r.created_on;
  records_.push_back(r);
  return r;
}

tl::expected<fake_dns_record, api_error> fake_store::replace_record(const std::string& zone_id,
                                                                    const std::string& id,
                                                                    const record_input& in) {
  const fake_zone* zone = zone_by_id(zone_id);
  if (zone == nullptr) return tl::unexpected(api_error{404, 7003, "Could not route to zone"});
  auto it = std::find_if(records_.begin(), records_.end(),
                         [&](const fake_dns_record& r) { return r.zone_id == zone_id && r.id == id; });
  if (it == records_.end()) return tl::unexpected(api_error{404, 81044, "Record does not exist."});
  if (!in.type) return tl::unexpected(validation(9020, "Invalid DNS record type"));
  if (!in.name) return tl::unexpected(validation(9000, "DNS name is invalid."));
  // PUT overwrites: fields left out fall back to their defaults, not the old values.
  fake_dns_record r;
  r.id = it->id;
  r.zone_id = it->zone_id;
  r.zone_name = it->zone_name;
  r.created_on = it->created_on;
  merge_input(r, in, *zone);
  if (auto ok = check_record(r, *zone); !ok) return tl::unexpected(ok.error());
  r.modified_on = rfc3339_now();
  *it = r;
  return r;
}

tl::expected<fake_dns_record, api_error> fake_store::patch_record(const std::string& zone_id,
                                                                  const std::string& id,
                                                                  const record_input& in) {
  const fake_zone* zone = zone_by_id(zone_id);
  if (zone == nullptr) return tl::unexpected(api_error{404, 7003, "Could not route to zone"});
  auto it = std::find_if(records_.begin(), records_.end(),
                         [&](const fake_dns_record& r) { return r.zone_id == zone_id && r.id == id; });
  if (it == records_.end()) return tl::unexpected(api_error{404, 81044, "Record does not exist."});
  fake_dns_record r = *it;
  merge_input(r, in, *zone);
  if (auto ok = check_record(r, *zone); !ok) return tl::unexpected(ok.error());
  r.modified_on = rfc3339_now();
  *it = r;
  return r;
}

tl::expected<std::string, api_error> fake_store::delete_record(const std::string& zone_id,
                                                               const std::string& id) {
  if (zone_by_id(zone_id) == nullptr) {
    return tl::unexpected(api_error{404, 7003, "Could not route to zone"});
  }
  auto it = std::find_if(records_.begin(), records_.end(),
                         [&](const fake_dns_record& r) { return r.zone_id == zone_id && r.id == id; });
  if (it == records_.end()) return tl::unexpected(api_error{404, 81044, "Record does not exist."});
  records_.erase(it);
  return id;
}

fake_tunnel_configuration fake_store::tunnel_configuration(const std::string& tunnel_id) const {
  const auto it = tunnels_.find(to_lower(tunnel_id));
  if (it != tunnels_.end()) return it->second;
  return fake_tunnel_configuration{to_lower(tunnel_id), 0, "{}", ""};
}

std::vector<fake_tunnel_configuration> fake_store::tunnel_configurations() const {
  std::vector<fake_tunnel_configuration> out;
  for (const auto& [id, cfg] : tunnels_) out.push_back(cfg);
  return out;
}

fake_tunnel_configuration fake_store::put_tunnel_configuration(const std::string& tunnel_id,
                                                               std::string config_json) {
  auto& cfg = tunnels_[to_lower(tunnel_id)];
  cfg.tunnel_id = to_lower(tunnel_id);
  cfg.version += 1;
  cfg.config_json = std::move(config_json);
  cfg.created_at = rfc3339_now();
  return cfg;
}

void fake_store::clear_records_and_tunnels() {
  records_.clear();
  tunnels_.clear();
}

void fake_store::keep_only_zones(const std::vector<std::string>& zone_ids) {
  std::erase_if(zones_, [&](const fake_zone& z) {
    return std::find(zone_ids.begin(), zone_ids.end(), z.id) == zone_ids.end();
  });
}

}  // namespace tunnelmgr::testing::detail
