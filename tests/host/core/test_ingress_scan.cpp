// libyaml's quick reading of a plain ingress file must agree with yaml-cpp's tree in every field an
// edit uses (rules, where each starts, keys, originRequest), and step aside for anything that is
// not plain, so yaml-cpp reads it and says what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/ingress_file.hpp"
#include "core/ingress_scan.hpp"

using namespace tunnelmgr;

namespace {

std::string describe(const core::ingress_scan& s) {
    std::string out = std::string("has_ingress=") + (s.has_ingress ? "1" : "0") + " block=" + (s.block ? "1" : "0") + "\n";
    for (size_t i = 0; i < s.rules.size(); ++i) {
        out += "  [" + s.rules[i].hostname + "|" + s.rules[i].path + "|" + s.rules[i].service + "] line " +
               std::to_string(s.items[i].line) + " keys";
        for (const auto& k : s.items[i].keys) out += " " + k;
        out += " origin " + std::to_string(static_cast<int>(s.items[i].origin));
        for (const auto& w : s.items[i].origin_words) out += " " + w;
        out += "\n";
    }
    return out;
}

// Both readings of `text`, which must be plain.
void expect_agreement(const std::string& text) {
    auto fast = core::scan_plain(text);
    ASSERT_TRUE(fast.has_value()) << "read as not plain:\n" << text;
    YAML::Node root = YAML::Load(text);
    auto tree = core::scan_tree(root.IsNull() ? YAML::Node(YAML::NodeType::Map) : root);
    EXPECT_TRUE(core::same_scan(*fast, tree)) << text << "\nlibyaml:\n" << describe(*fast) << "yaml-cpp:\n" << describe(tree);
}

}  // namespace

TEST(ingress_scan, plain_layouts_read_the_same_by_libyaml_and_yaml_cpp) {
    const std::vector<std::string> docs = {
        "",
        "# only a comment\n",
        "---\n",
        "tunnel: abc\n",
        "tunnel: abc\ncredentials-file: /etc/c.json\nmetrics: 127.0.0.1:2000\n",
        "ingress:\n- hostname: w.example.com\n  service: http://w:1\n- service: http_status:404\n",
        "---\ntunnel: abc\ningress:   # routes\n  - hostname: w.example.com\n    service: http://w:1\n\n"
        "  # the catch-all\n  - service: http_status:404  # last\n...\n",
        "ingress:\n  -\n    hostname: w.example.com\n    service: http://w:1\n  -\n    service: http_status:404\n",
        "ingress:\n  - {hostname: w.example.com, service: 'http://w:1'}\n  - {service: 'http_status:404'}\n",
        "ingress: [{hostname: a.example.com, service: 'http://a:1'}, {service: 'http_status:404'}]\n",
        "ingress: []\n",
        "ingress:\n  - hostname: w.example.com\n    service: http://w:1\n  - service: http_status:404\n"
        "    originRequest:\n      noTLSVerify: true\n",
        "ingress:\n  - hostname: w.example.com\n    service: http://w:1\n  - hostname: \"*\"\n    service: http_status:404\n",
        "ingress:\n    - hostname: \"w.example.com\"\n      service: \"http://w:1\"\n    - service: \"http_status:404\"\n",
        "tunnel: abc\r\ningress:\r\n  - hostname: w.example.com\r\n    service: http://w:1\r\n  - service: http_status:404\r\n",
        // keys in another order, a path rule, settings of every shape, values yaml-cpp reads as null
        "originRequest:\n  connectTimeout: 30s\ningress:\n  - service: http://a:1\n    hostname: a.example.com\n"
        "    originRequest: {connectTimeout: 10s, noTLSVerify: true}\n"
        "  - hostname: b.example.com\n    path: ^/api/.*$\n    service: http://b:2\n    originRequest: ~\n"
        "  - hostname: c.example.com\n    service: http://c:3\n    originRequest: plain\n"
        "  - hostname: d.example.com\n    service: http://d:4\n    originRequest:\n      access:\n        required: true\n"
        "  - hostname: e.example.com\n    service: ~\n  - hostname: null\n    service: http://f:6\n"
        "  - hostname: g.example.com\n    service: http://g:7\n    originRequest:\n      connectTimeout:\n"
        "  - hostname: h.example.com\n    service: [a, b]\n  - hostname: 'single ''quoted'''\n    service: \"dq \\\" \\u00e9\"\n"
        "  - service: http_status:404\n",
        // block scalars, multi-line plain scalars, keys after ingress, odd spacing
        "ingress:\n  - hostname: a.example.com\n    service: |\n      http://a:1\n  - hostname: b.example.com\n"
        "    service: >-\n      http://b:2\n  - hostname: long\n      name.example.com\n    service: http://c:3\n"
        "  - service:    http_status:404   \nwarp-routing:\n  enabled: true\n",
        // items that are not rules yet (a sequence item with nothing in it is not a map: not plain)
        "ingress:\n  - hostname: a.example.com\n  - service: http_status:404\n",
        "\xef\xbb\xbftunnel: abc\ningress:\n  - hostname: bom.example.com\n    service: http://a:1\n  - service: http_status:404\n",
        "ingress:\n  - hostname: x.example.com\n    service: http://x:1\n    ? complex\n    : key\n  - service: http_status:404\n",
    };
    for (const auto& d : docs) expect_agreement(d);
}

TEST(ingress_scan, a_thousand_rules_read_the_same) {
    std::string text = "tunnel: t\ningress:\n";
    for (int i = 0; i < 1000; ++i) {
        text += "  # rule " + std::to_string(i) + "\n  - hostname: hand" + std::to_string(i) + ".example.com\n    service: http://localhost:" +
                std::to_string(2000 + i) + "\n";
        if (i % 7 == 0) text += "    originRequest:\n      connectTimeout: " + std::to_string(1 + i % 50) + "s\n";
    }
    text += "  - service: http_status:404\n";
    expect_agreement(text);
    auto fast = core::scan_plain(text);
    ASSERT_TRUE(fast);
    ASSERT_EQ(fast->rules.size(), 1001u);
    EXPECT_EQ(fast->rules[999].hostname, "hand999.example.com");
    EXPECT_EQ(fast->items[7].origin_words, std::vector<std::string>{"connectTimeout=8s"});
}

TEST(ingress_scan, what_is_not_plain_is_left_to_yaml_cpp) {
    const std::vector<std::string> docs = {
        "ingress:\n  - hostname: a.example.com\n    service: &svc http://a:1\n  - hostname: b.example.com\n    service: *svc\n",
        "ingress: !!seq\n  - service: http_status:404\n",
        "ingress:\n  - hostname: !!str a.example.com\n    service: http://a:1\n",
        "tunnel: a\ntunnel: b\n",
        "ingress:\n  - hostname: a.example.com\n    hostname: b.example.com\n    service: http://a:1\n",
        "ingress:\n  - hostname: a.example.com\n    service: http://a:1\n    originRequest:\n      noTLSVerify: true\n      noTLSVerify: false\n",
        "tunnel: a\n---\ntunnel: b\n",
        "ingress:\n  - hostname: a.example.com\n   service: bad indent\n",
        "ingress: [unclosed\n",
        "just a scalar\n",
        "- a\n- list\n",
        "ingress: not a list\n",
        "ingress:\n",
        "ingress:\n  - just a string\n  - service: http_status:404\n",
        "ingress:\n  -\n  - service: http_status:404\n",
        "ingress:\n  - hostname: \"\\xZZ bad escape\"\n",
    };
    for (const auto& d : docs) EXPECT_FALSE(core::scan_plain(d).has_value()) << d;
}

// An edit of a plain block list (add, remove, retarget) is verified by reading only what it adds, and the scan it keeps for
// the next edit is spliced, not read again: after every edit, on every layout, what is kept must be
// what yaml-cpp reads in the file.
TEST(ingress_scan, the_scan_kept_after_each_edit_is_what_the_file_says) {
    const auto dir = std::filesystem::temp_directory_path() / ("tm-scan-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "config.yml").string();
    const std::vector<std::string> layouts = {
        "tunnel: abc\ningress:\n  - hostname: w.example.com\n    service: http://w:1\n  - service: http_status:404\n",
        "ingress:\n- hostname: w.example.com\n  service: http://w:1\n- service: http_status:404\n",
        "---\ntunnel: abc\ningress:   # routes\n  - hostname: w.example.com\n    service: http://w:1\n\n"
        "  # the catch-all\n  - service: http_status:404  # last\n...\n",
        "ingress:\n  -\n    hostname: w.example.com\n    service: http://w:1\n  -\n    # nothing matched\n    service: http_status:404\n",
        "ingress:\n  - {hostname: w.example.com, service: 'http://w:1'}\n  - {service: 'http_status:404'}\n",
        "ingress: [{hostname: w.example.com, service: 'http://w:1'}, {service: 'http_status:404'}]\n",
        "tunnel: abc\r\ningress:\r\n  - hostname: w.example.com\r\n    service: http://w:1\r\n  - service: http_status:404\r\n",
        "ingress:\n    - hostname: w.example.com\n      service: http://w:1\n      originRequest:\n        noTLSVerify: true\n"
        "    # between\n\n    - hostname: x.example.com\n      path: ^/a\n      service: http://x:2\n"
        "    - service: http_status:404\n      originRequest: {connectTimeout: 5s}\nwarp-routing: {enabled: true}\n",
        "ingress:\n  - hostname: w.example.com\n    service: &s http://w:1\n  - hostname: v.example.com\n    service: *s\n"
        "  - service: http_status:404\n",
    };
    const std::string origin = R"({"connectTimeout":10,"noTLSVerify":true})";
    for (const auto& layout : layouts) {
        std::ofstream(path, std::ios::trunc) << layout;
        core::ingress_file f(path, "");
        auto step = [&](const char* what, bool ok) {
            EXPECT_TRUE(ok) << what << " on\n" << layout;
            EXPECT_EQ(f.kept_scan_disagreement(), "") << "after " << what << " on\n" << layout;
        };
        step("add a", f.add_rule("a.example.com", "http://a:3100", "").has_value());
        step("add b with settings", f.add_rule("b.example.com", "https://b:3101", origin, "").has_value());
        step("retarget b, its settings dropped", f.replace_rule("b.example.com", "http://b:4101", "", "").has_value());
        step("retarget w with settings", f.replace_rule("w.example.com", "http://w:9", origin, "").has_value());
        step("retarget b with settings", f.replace_rule("b.example.com", "https://b:3101", origin, "").has_value());
        step("retarget w back", f.replace_rule("w.example.com", "http://w:1", "", "").has_value());
        step("remove a", f.remove_rule("a.example.com", "").has_value());
        step("add c", f.add_rule("c.example.com", "http://c:3102", "").has_value());
        step("remove c", f.remove_rule("c.example.com", "").has_value());
        step("add a again", f.add_rule("a.example.com", "http://a:3100", "").has_value());
        step("remove b", f.remove_rule("b.example.com", "").has_value());
        step("remove a", f.remove_rule("a.example.com", "").has_value());
        auto rules = f.read_rules();
        ASSERT_TRUE(rules) << layout;
        EXPECT_EQ(rules->front().hostname, "w.example.com") << layout;
        // Each editor's edits, read back by another editor that keeps nothing: the same rules.
        core::ingress_file other(path, "");
        ASSERT_TRUE(other.add_rule("d.example.com", "http://d:3103", ""));
        EXPECT_EQ(f.kept_scan_disagreement(), "nothing is kept for the text the file holds now");
        ASSERT_TRUE(f.remove_rule("d.example.com", ""));
        EXPECT_EQ(f.kept_scan_disagreement(), "") << layout;
    }
    std::filesystem::remove_all(dir);
}
