// Reads the config keys every stock store shares. Strict on purpose: a misspelt key would otherwise
// be ignored silently and the store would run with a default the operator did not choose.
#include "state_rows/config_reading.hpp"

namespace tunnelmgr::plugins::state_rows {

std::string read_config_int(const rapidjson::Value& object, const char* key, const std::string& full_key, int64_t lo,
                            int64_t hi, int64_t& out) {
    auto it = object.FindMember(key);
    if (it == object.MemberEnd()) return {};
    if (!it->value.IsInt64() || it->value.GetInt64() < lo || it->value.GetInt64() > hi) {
        return full_key + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
               "; fix it in the state section of the config, or remove it to use the default (" +
               std::to_string(out) + ")";
    }
    out = it->value.GetInt64();
    return {};
}

std::string read_retention(const rapidjson::Value& section, int64_t& health_days, int64_t& audit_days) {
    auto retention = section.FindMember("retention");
    if (retention == section.MemberEnd()) return {};
    const rapidjson::Value& r = retention->value;
    if (!r.IsObject()) return "state.retention must be an object such as {\"health_days\": 30, \"audit_days\": 365}";
    for (auto it = r.MemberBegin(); it != r.MemberEnd(); ++it) {
        const std::string key(it->name.GetString(), it->name.GetStringLength());
        if (key != "health_days" && key != "audit_days") {
            return "state.retention." + key + " is not a retention setting; remove it (known keys: health_days, audit_days)";
        }
    }
    if (auto e = read_config_int(r, "health_days", "state.retention.health_days", 0, 36500, health_days); !e.empty()) {
        return e;
    }
    return read_config_int(r, "audit_days", "state.retention.audit_days", 0, 36500, audit_days);
}

}  // namespace tunnelmgr::plugins::state_rows
