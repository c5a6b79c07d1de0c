#include "replica_status.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugins::replicas {
namespace {

std::string to_text(const rapidjson::Document& doc) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    doc.Accept(w);
    return std::string(buf.GetString(), buf.GetSize());
}

void set_string(rapidjson::Document& doc, const char* key, const std::string& value) {
    doc.RemoveMember(key);
    doc.AddMember(rapidjson::Value(key, doc.GetAllocator()),
                  rapidjson::Value(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), doc.GetAllocator()),
                  doc.GetAllocator());
}

}  // namespace

std::string with_replica_fields(std::string_view status_json, const replica_ref& replica) {
    rapidjson::Document doc;
    doc.Parse(status_json.data(), status_json.size());
    if (doc.HasParseError() || !doc.IsObject()) doc.SetObject();
    set_string(doc, "name", replica.name);
    set_string(doc, "metrics", replica.metrics);
    return to_text(doc);
}

std::optional<std::string> whole_status(const std::vector<replica_answer>& answers) {
    std::vector<rapidjson::Document> docs(answers.size());
    std::optional<std::size_t> chosen;
    bool chosen_runs = false;
    std::size_t running = 0;
    std::string details;
    for (std::size_t i = 0; i < answers.size(); ++i) {
        auto& doc = docs[i];
        const auto& a = answers[i];
        std::string said = a.error;
        if (a.status_json) {
            doc.Parse(a.status_json->c_str(), a.status_json->size());
            const bool readable = !doc.HasParseError() && doc.IsObject() && doc.HasMember("running") && doc["running"].IsBool();
            if (readable) {
                const bool runs = doc["running"].GetBool();
                running += runs ? 1 : 0;
                if (!chosen || (runs && !chosen_runs)) {
                    chosen = i;
                    chosen_runs = runs;
                }
                said = doc.HasMember("detail") && doc["detail"].IsString() ? doc["detail"].GetString() : "";
            } else {
                said = "its status could not be read";
            }
        }
        details += (details.empty() ? "" : "; ") + said;
    }
    if (!chosen) return std::nullopt;
    rapidjson::Document whole;
    whole.CopyFrom(docs[*chosen], whole.GetAllocator());
    whole.RemoveMember("name");
    whole.RemoveMember("metrics");
    whole["running"].SetBool(running > 0);
    set_string(whole, "detail", std::to_string(running) + " of " + std::to_string(answers.size()) +
                                    " replicas running: " + details);
    whole.RemoveMember("replicas");
    whole.RemoveMember("replicas_running");
    whole.AddMember("replicas", static_cast<int64_t>(answers.size()), whole.GetAllocator());
    whole.AddMember("replicas_running", static_cast<int64_t>(running), whole.GetAllocator());
    return to_text(whole);
}

}  // namespace tunnelmgr::plugins::replicas
