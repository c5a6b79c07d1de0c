// Classification goes by HTTP status first and documented codes second, because the codes Cloudflare
// sends are not all documented, while the status classes are stable.
#include "api_envelope.hpp"

#include <algorithm>

namespace tunnelmgr::plugins::cloudflare_dns {

bool api_answer::has_code(long code) const {
    return std::any_of(errors.begin(), errors.end(), [&](const api_error_item& e) { return e.code == code; });
}

const rapidjson::Value* api_answer::result() const {
    if (!parsed) return nullptr;
    auto it = doc.FindMember("result");
    return it == doc.MemberEnd() ? nullptr : &it->value;
}

api_answer parse_answer(long status, const std::string& body) {
    api_answer answer;
    answer.status = status;
    answer.doc.Parse(body.c_str(), body.size());
    answer.parsed = !answer.doc.HasParseError() && answer.doc.IsObject();
    if (!answer.parsed) return answer;
    auto success = answer.doc.FindMember("success");
    answer.success = success != answer.doc.MemberEnd() && success->value.IsBool() && success->value.GetBool();
    auto errors = answer.doc.FindMember("errors");
    if (errors != answer.doc.MemberEnd() && errors->value.IsArray()) {
        for (const auto& e : errors->value.GetArray()) {
            if (!e.IsObject()) continue;
            api_error_item item;
            if (auto c = e.FindMember("code"); c != e.MemberEnd() && c->value.IsInt64()) item.code = static_cast<long>(c->value.GetInt64());
            if (auto m = e.FindMember("message"); m != e.MemberEnd() && m->value.IsString()) item.message = m->value.GetString();
            answer.errors.push_back(std::move(item));
        }
    }
    return answer;
}

std::string describe(const api_answer& answer) {
    std::string text = "HTTP " + std::to_string(answer.status);
    if (!answer.parsed) return text + ", not a Cloudflare API answer";
    for (const auto& e : answer.errors) {
        text += ", code " + std::to_string(e.code);
        if (!e.message.empty()) text += ": " + e.message;
    }
    return text;
}

bool is_auth_failure(const api_answer& answer) {
    if (answer.status == 401 || answer.status == 403) return true;
    for (long code : {1000L, 6003L, 6111L, 9106L, 9107L, 9109L, 10000L}) {
        if (answer.has_code(code)) return true;
    }
    return false;
}

bool is_record_conflict(const api_answer& answer) {
    for (long code : {81053L, 81054L, 81057L, 81058L}) {
        if (answer.has_code(code)) return true;
    }
    return false;
}

bool is_retryable(const api_answer& answer) { return answer.status == 429 || answer.status >= 500; }

cf_errc classify(const api_answer& answer) {
    if (is_retryable(answer)) return cf_errc::retry;
    if (is_auth_failure(answer)) return cf_errc::denied;
    if (is_record_conflict(answer)) return cf_errc::conflict;
    if (answer.status == 404 || answer.has_code(81044) || answer.has_code(7003)) return cf_errc::not_found;
    if (answer.status >= 400 && answer.status < 500) return cf_errc::invalid;
    return cf_errc::error;
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
