// The Cloudflare v4 answer envelope ({"success","errors":[{"code","message"}],"result","result_info"})
// and what an unsuccessful one means for us: which error kind, and a sentence that quotes Cloudflare.
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "cf_error.hpp"

namespace tunnelmgr::plugins::cloudflare_dns {

struct api_error_item {
    long code = 0;
    std::string message;
};

struct api_answer {
    long status = 0;
    bool success = false;
    bool parsed = false;  // the body was a JSON object
    std::vector<api_error_item> errors;
    rapidjson::Document doc;  // the whole body; doc["result"] when success

    [[nodiscard]] bool has_code(long code) const;
    [[nodiscard]] const rapidjson::Value* result() const;
};

api_answer parse_answer(long status, const std::string& body);

// "HTTP 403, code 10000: Authentication error" (codes and messages as Cloudflare sent them).
std::string describe(const api_answer& answer);

// Auth failures: 401/403 or one of the documented authentication codes.
bool is_auth_failure(const api_answer& answer);
// The conflict codes of a record create: 81053, 81054, 81057, 81058.
bool is_record_conflict(const api_answer& answer);
// Soft errors worth another try: 429 and 5xx.
bool is_retryable(const api_answer& answer);

// The kind an unsuccessful, non-retryable answer maps to.
cf_errc classify(const api_answer& answer);

}  // namespace tunnelmgr::plugins::cloudflare_dns
