// Recorded-style Engine API answers (fixtures/*.json, written from the API 1.41 reference) and a
// parser for the JSON the units produce.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace tunnelmgr::plugins::docker_runtime::test {

inline std::string fixture(const std::string& name) {
    std::ifstream in(std::string(TM_TEST_SOURCE_DIR) + "/tests/plugins/docker-runtime/fixtures/" + name);
    EXPECT_TRUE(in.good()) << name;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline rapidjson::Document parse_json(const std::string& json) {
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    EXPECT_FALSE(doc.HasParseError()) << json;
    return doc;
}

// The element of `array` whose `key` equals `value`, or nullptr.
inline const rapidjson::Value* find_by(const rapidjson::Value& array, const char* key, const std::string& value) {
    if (!array.IsArray()) return nullptr;
    for (const auto& v : array.GetArray()) {
        auto it = v.FindMember(key);
        if (it != v.MemberEnd() && it->value.IsString() && value == it->value.GetString()) return &v;
    }
    return nullptr;
}

}  // namespace tunnelmgr::plugins::docker_runtime::test
