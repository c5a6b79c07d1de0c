// The origin settings a hostname's rule may carry: what each input form (a client's JSON, the command
// line's KEY=VALUE) becomes, cloudflared's JSON form and YAML lines, and the sentence for each refusal.
#include <gtest/gtest.h>

#include "core/json.hpp"
#include "core/origin_settings.hpp"

using namespace tunnelmgr;
using core::origin_settings_from_json_text;
using core::origin_settings_from_words;

TEST(origin_settings, json_and_words_give_the_same_settings_in_cloudflareds_json_form) {
    auto from_json = origin_settings_from_json_text(
        R"({"http2Origin":true,"connectTimeout":"1m30s","httpHostHeader":"app.internal:8443","noTLSVerify":false,)"
        R"("originServerName":"app.internal","disableChunkedEncoding":true})");
    ASSERT_TRUE(from_json) << from_json.error().message;
    auto from_words = origin_settings_from_words({"connectTimeout=90s", "noTLSVerify=false", "httpHostHeader=app.internal:8443",
                                                  "originServerName=app.internal", "http2Origin=true",
                                                  "disableChunkedEncoding=true"});
    ASSERT_TRUE(from_words) << from_words.error().message;
    EXPECT_EQ(*from_json, *from_words);
    // Keys in one order whatever the input's, durations in whole seconds.
    EXPECT_EQ(from_json->to_json(), R"({"connectTimeout":90,"noTLSVerify":false,"httpHostHeader":"app.internal:8443",)"
                                    R"("originServerName":"app.internal","http2Origin":true,"disableChunkedEncoding":true})");
    EXPECT_EQ(from_json->yaml_lines(),
              (std::vector<std::string>{"connectTimeout: 90s", "noTLSVerify: false", "httpHostHeader: \"app.internal:8443\"",
                                        "originServerName: \"app.internal\"", "http2Origin: true",
                                        "disableChunkedEncoding: true"}));
    // The JSON form reads back as itself (a retarget's undo, the remote configuration).
    auto again = origin_settings_from_json_text(from_json->to_json());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *from_json);
    auto seconds = origin_settings_from_json_text(R"({"connectTimeout":15})");
    ASSERT_TRUE(seconds);
    EXPECT_EQ(seconds->connect_timeout_s, 15);
    auto empty = origin_settings_from_json_text("{}");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
    EXPECT_EQ(empty->to_json(), "{}");
    auto nulls = origin_settings_from_json_text(R"({"noTLSVerify":null})");
    ASSERT_TRUE(nulls);
    EXPECT_TRUE(nulls->empty()) << "null is cloudflared's 'not set'";
}

TEST(origin_settings, each_refusal_names_the_setting_and_the_fix) {
    struct bad {
        const char* json;
        const char* says;
    };
    for (const auto& b : std::vector<bad>{
             {R"({"connectTimeout":"ten"})", "`originRequest.connectTimeout` is `ten`, which is not a duration cloudflared can read"},
             {R"({"connectTimeout":"10"})", "without a unit"},
             {R"({"connectTimeout":"1.5s"})", "whole seconds; round it (e.g. `2s`)"},
             {R"({"connectTimeout":"0s"})", "give from 1s to 10m"},
             {R"({"connectTimeout":"-5s"})", "give from 1s to 10m"},
             {R"({"connectTimeout":601})", "give from 1s to 10m"},
             {R"({"connectTimeout":true})", "must be a duration"},
             {R"({"noTLSVerify":"true"})", "`originRequest.noTLSVerify` must be true or false (a JSON boolean, not a string)"},
             {R"({"http2Origin":1})", "must be true or false"},
             {R"({"httpHostHeader":"a b"})", "not a host name (optionally with :PORT)"},
             {R"({"httpHostHeader":"app:99999"})", "not a host name"},
             {R"({"originServerName":"app.internal:443"})", "not a host name: give the name"},
             {R"({"httpHostHeader":5})", "a host name as a string"},
             {R"({"tlsTimeout":"5s"})", "ask the operator to set tlsTimeout in config.yml's top-level originRequest"},
             {R"({"ConnectTimeout":"5s"})", "not a cloudflared origin setting tunnelmgr knows"},
             {R"([1])", "must be an object of settings"},
         }) {
        auto r = origin_settings_from_json_text(b.json);
        ASSERT_FALSE(r) << b.json;
        EXPECT_EQ(r.error().code, core::errc::invalid);
        EXPECT_NE(r.error().message.find(b.says), std::string::npos) << b.json << " → " << r.error().message;
    }
    for (const auto& [word, says] : std::vector<std::pair<std::string, std::string>>{
             {"connectTimeout", "--origin takes KEY=VALUE"},
             {"=5s", "--origin takes KEY=VALUE"},
             {"noTLSVerify=yes", "true or false"},
             {"noTLSVerify=True", "true or false"},
         }) {
        auto r = origin_settings_from_words({word});
        ASSERT_FALSE(r) << word;
        EXPECT_NE(r.error().message.find(says), std::string::npos) << word << " → " << r.error().message;
    }
}

TEST(origin_settings, settings_that_do_nothing_for_a_plain_http_origin_are_pointed_out) {
    auto s = origin_settings_from_words({"noTLSVerify=true", "originServerName=app.internal", "connectTimeout=5s"});
    ASSERT_TRUE(s);
    auto notes = core::origin_notes(*s, "http://app:3100");
    ASSERT_EQ(notes.size(), 2u);
    EXPECT_NE(notes[0].find("noTLSVerify does nothing for http://app:3100"), std::string::npos) << notes[0];
    EXPECT_TRUE(core::origin_notes(*s, "https://app:3100").empty());
}
