// JSON shapes of the fake's answers: the v4 envelope and the zone, DNS record and tunnel
// configuration objects, written with RapidJSON so strings are always escaped correctly.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fake_store.hpp"

namespace tunnelmgr::testing::detail {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct api_message {
  int code = 0;
  std::string message;
};

// {"success":true,"errors":[],"messages":[...],"result":<write_result>,"result_info":{...}?}
std::string success_envelope(const std::function<void(json_writer&)>& write_result,
                             const page_info* info = nullptr,
                             const std::vector<api_message>& messages = {});
// {"success":false,"errors":[{"code","message","error_chain"?}],"messages":[],"result":null}
// `chain` hangs under the first error, as the API does for 6003 → 6111.
std::string error_envelope(const std::vector<api_error>& errors,
                           const std::vector<api_error>& chain = {});

void write_zone(json_writer& w, const fake_zone& zone, const std::string& account_id);
void write_record(json_writer& w, const fake_dns_record& record);
void write_tunnel_configuration(json_writer& w, const fake_tunnel_configuration& cfg,
                                const std::string& account_id);
void write_string(json_writer& w, const std::string& s);

std::string compact_json(const std::function<void(json_writer&)>& write);

}  // namespace tunnelmgr::testing::detail
