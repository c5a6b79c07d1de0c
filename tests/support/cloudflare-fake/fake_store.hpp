// The fake's account state (zones, DNS records, tunnel configurations) and the rules the real API
// enforces on it (name/content validation, A/AAAA/CNAME conflicts, filters). No HTTP, no locking.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "cloudflare_fake.hpp"

namespace tunnelmgr::testing::detail {

struct api_error {
  int http_status = 400;
  int code = 0;
  std::string message;
};

// Fields of a create/replace/patch body; absent fields stay nullopt (PATCH keeps the old value).
struct record_input {
  std::optional<std::string> type;
  std::optional<std::string> name;
  std::optional<std::string> content;
  std::optional<bool> proxied;
  std::optional<int> ttl;
  std::optional<std::optional<std::string>> comment;  // outer: given; inner nullopt: JSON null
};

struct record_filter {
  std::optional<std::string> type;
  std::optional<std::string> name_exact, name_contains, name_startswith, name_endswith;
  std::optional<std::string> content_exact;
  std::optional<std::string> comment_exact, comment_contains, comment_startswith, comment_endswith;
  bool comment_present = false;
  bool comment_absent = false;
  std::optional<bool> proxied;
};

struct page_request {
  long page = 1;
  long per_page = 20;
};

struct page_info {
  long page = 1;
  long per_page = 20;
  long count = 0;
  long total_count = 0;
  long total_pages = 0;
};

template <class T>
struct page_of {
  std::vector<T> items;
  page_info info;
};

std::string to_lower(std::string s);
std::string rfc3339_now();
// 32 lower-case hex digits from a name: stable ids for zones created by name.
std::string stable_hex_id(const std::string& seed);

class fake_store {
 public:
  explicit fake_store(std::string account_id);

  const std::string& account_id() const { return account_id_; }

  fake_zone add_zone(const std::string& name, const std::string& status);
  std::vector<fake_zone> zones() const;
  const fake_zone* zone_by_id(const std::string& id) const;
  const fake_zone* zone_by_name(const std::string& name) const;
  const fake_zone* zone_by_name_or_id(const std::string& key) const;
  page_of<fake_zone> list_zones(const std::optional<std::string>& name,
                                const std::optional<std::string>& status, page_request page) const;

  page_of<fake_dns_record> list_records(const std::string& zone_id, const record_filter& filter,
                                        page_request page) const;
  std::vector<fake_dns_record> all_records() const;
  const fake_dns_record* record(const std::string& zone_id, const std::string& id) const;
  const fake_dns_record* record_anywhere(const std::string& id) const;
  tl::expected<fake_dns_record, api_error> create_record(const std::string& zone_id,
                                                         const record_input& in);
  tl::expected<fake_dns_record, api_error> replace_record(const std::string& zone_id,
                                                          const std::string& id,
                                                          const record_input& in);
  tl::expected<fake_dns_record, api_error> patch_record(const std::string& zone_id,
                                                        const std::string& id,
                                                        const record_input& in);
  tl::expected<std::string, api_error> delete_record(const std::string& zone_id,
                                                     const std::string& id);

  fake_tunnel_configuration tunnel_configuration(const std::string& tunnel_id) const;
  std::vector<fake_tunnel_configuration> tunnel_configurations() const;
  fake_tunnel_configuration put_tunnel_configuration(const std::string& tunnel_id,
                                                     std::string config_json);

  void clear_records_and_tunnels();
  void keep_only_zones(const std::vector<std::string>& zone_ids);

 private:
  // Validates `candidate` (already merged) and checks conflicts against every other record.
  tl::expected<void, api_error> check_record(const fake_dns_record& candidate,
                                             const fake_zone& zone) const;
  std::string next_record_id();

  std::string account_id_;
  std::vector<fake_zone> zones_;                  // kept sorted by name (the API's default order)
  std::vector<fake_dns_record> records_;          // creation order
  std::map<std::string, fake_tunnel_configuration> tunnels_;
  std::uint64_t id_counter_ = 0;
};

}  // namespace tunnelmgr::testing::detail
