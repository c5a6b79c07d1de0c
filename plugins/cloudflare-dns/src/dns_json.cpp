// Kept apart from the client so the client deals in values and the adapter stays a few lines long.
#include "dns_json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <tunnelmgr/sdk/model_zone.hpp>

namespace tunnelmgr::plugins::cloudflare_dns {
namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(writer& w, const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

void write_record(writer& w, const dns_record& record) {
    w.StartObject();
    put(w, "id", record.id);
    put(w, "name", record.name);
    put(w, "type", record.type);
    put(w, "content", record.content);
    w.Key("proxied");
    w.Bool(record.proxied);
    w.Key("comment");
    if (record.comment) {
        w.String(record.comment->c_str(), static_cast<rapidjson::SizeType>(record.comment->size()));
    } else {
        w.Null();
    }
    w.EndObject();
}

}  // namespace

// Zones are the SDK's typed row, so the store and the host read exactly what is written here.
std::string to_json(const std::vector<zone_info>& zones) {
    std::vector<sdk::model::zone> rows;
    rows.reserve(zones.size());
    for (const auto& z : zones) rows.push_back(sdk::model::zone{z.zone_id, z.name, z.status});
    return sdk::model::encode(rows);
}

std::string to_json(const dns_record& record) {
    rapidjson::StringBuffer buffer;
    writer w(buffer);
    write_record(w, record);
    return buffer.GetString();
}

std::string to_json(const std::vector<dns_record>& records) {
    rapidjson::StringBuffer buffer;
    writer w(buffer);
    w.StartArray();
    for (const auto& r : records) write_record(w, r);
    w.EndArray();
    return buffer.GetString();
}

cf_result<new_cname> new_cname_from_json(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return cf_fail(cf_errc::invalid, "the record to create is not a JSON object: give {\"name\",\"content\",\"comment\"}");
    }
    new_cname record;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        const std::string key(it->name.GetString(), it->name.GetStringLength());
        const auto& v = it->value;
        if (key == "type") {
            if (!v.IsString() || std::string_view(v.GetString()) != "CNAME") {
                return cf_fail(cf_errc::invalid, "create_record makes proxied CNAME records only: drop \"type\" or set it to \"CNAME\"");
            }
        } else if (key == "name" || key == "content") {
            if (!v.IsString()) return cf_fail(cf_errc::invalid, "the record's \"" + key + "\" must be a string");
            (key == "name" ? record.name : record.content).assign(v.GetString(), v.GetStringLength());
        } else if (key == "comment") {
            if (v.IsNull()) continue;
            if (!v.IsString()) return cf_fail(cf_errc::invalid, "the record's \"comment\" must be a string");
            record.comment = std::string(v.GetString(), v.GetStringLength());
        } else {
            return cf_fail(cf_errc::invalid, "unknown field \"" + key +
                                                 "\" in the record to create: give only name, content and comment");
        }
    }
    if (record.name.empty()) return cf_fail(cf_errc::invalid, "the record to create needs a \"name\" (the hostname)");
    if (record.content.empty()) {
        return cf_fail(cf_errc::invalid, "the record to create needs a \"content\" (<tunnel-id>.cfargotunnel.com)");
    }
    return record;
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
