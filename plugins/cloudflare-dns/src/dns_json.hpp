// JSON in and out for the dns_provider_v1 shapes: {"zone_id","name","status"} zones,
// {"id","name","type","content","proxied","comment"} records, and the {"name","content","comment"} input.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cf_error.hpp"
#include "dns_types.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {

std::string to_json(const std::vector<zone_info>& zones);
std::string to_json(const dns_record& record);
// A JSON array of records, each as to_json(record) writes it.
std::string to_json(const std::vector<dns_record>& records);
// Accepts {"name","content","comment"?} (and "type":"CNAME"); anything else is refused (kind invalid).
cf_result<new_cname> new_cname_from_json(std::string_view json);

}  // namespace tunnelmgr::plugins::cloudflare_dns
