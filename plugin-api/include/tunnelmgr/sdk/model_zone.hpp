// A DNS zone of the account (dns_provider_v1.list_zones, state_store_v1.domains_replace/domains_list)
// as a typed row with one list decoder and one list encoder, shared by the DNS plugin, the store and the host.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tunnelmgr/sdk/model.hpp>

namespace tunnelmgr::sdk::model {

// As JSON, keys in this order: {"zone_id","name","status":string|null}; zones travel as an array of these.
struct zone {
    std::string zone_id;
    std::string name;                   // the domain, e.g. example.com
    std::optional<std::string> status;  // the provider's word ("active", "pending"); nullopt: the store keeps NULL
};

// An array of zones. Every key may be missing or null; a key of the wrong type is an error naming the
// element, e.g. "`zones[1].name` is a number, not a string". Unknown keys are ignored; meaning (ids and
// names present, no id twice) is the caller's to check.
inline decoded<std::vector<zone>> decode_zones(const rapidjson::Value& a) {
    if (!a.IsArray()) return tl::unexpected(std::string("the zone list is ") + detail::json_type_name(a) + ", not a JSON array");
    std::vector<zone> out;
    out.reserve(a.Size());
    for (const auto& v : a.GetArray()) {
        const std::string at = "zones[" + std::to_string(out.size()) + "]";
        if (!v.IsObject()) return tl::unexpected("`" + at + "` is " + detail::json_type_name(v) + ", not an object");
        zone z;
        for (auto [key, field] : {std::pair<const char*, std::string*>{"zone_id", &z.zone_id}, {"name", &z.name}}) {
            auto text = detail::optional_member<std::string>(v, key);
            if (!text) return tl::unexpected("`" + at + "." + text.error().substr(1));  // "`zones[1].name` is ..."
            *field = text->value_or("");
        }
        auto status = detail::optional_member<std::string>(v, "status");
        if (!status) return tl::unexpected("`" + at + "." + status.error().substr(1));
        z.status = std::move(*status);
        out.push_back(std::move(z));
    }
    return out;
}

inline decoded<std::vector<zone>> decode_zones(std::string_view text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError()) return tl::unexpected(decoded_error("the zone list is not JSON"));
    return decode_zones(static_cast<const rapidjson::Value&>(d));
}

inline std::string encode(const std::vector<zone>& zones) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto text = [&w](const std::string& v) { w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size())); };
    w.StartArray();
    for (const auto& z : zones) {
        w.StartObject();
        w.Key("zone_id");
        text(z.zone_id);
        w.Key("name");
        text(z.name);
        w.Key("status");
        if (z.status) text(*z.status); else w.Null();
        w.EndObject();
    }
    w.EndArray();
    return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace tunnelmgr::sdk::model
