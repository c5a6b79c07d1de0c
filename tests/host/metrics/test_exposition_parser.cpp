// The strict exposition parser the scrape test relies on: it must accept valid text and reject
// each kind of mistake, or the scrape test would prove nothing.
#include <gtest/gtest.h>

#include "exposition_parser.hpp"

using tunnelmgr::testing::parse_exposition;

namespace {

const std::string good =
    "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\na_total{x=\"2\"} 1e3 1700000000000\n"
    "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n"
    "# TYPE g gauge\ng -Inf\n";

}  // namespace

TEST(exposition_parser, accepts_valid_text) {
    auto r = parse_exposition(good);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ((*r)["a_total"].samples.size(), 2u);
    EXPECT_EQ((*r)["a_total"].samples[1].value, 1000);
    EXPECT_EQ((*r)["h"].samples.size(), 4u);
}

TEST(exposition_parser, rejects_each_kind_of_mistake) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"bad name", "# TYPE 1a gauge\n1a 1\n"},
        {"no TYPE", "x 1\n"},
        {"bad escape", "# TYPE g gauge\ng{a=\"\\t\"} 1\n"},
        {"unterminated value", "# TYPE g gauge\ng{a=\"x} 1\n"},
        {"bad float", "# TYPE g gauge\ng 1,5\n"},
        {"missing value", "# TYPE g gauge\ng\n"},
        {"duplicate series", "# TYPE g gauge\ng 1\ng 2\n"},
        {"TYPE after sample", "# TYPE g gauge\ng 1\n# TYPE g gauge\n"},
        {"split family", "# TYPE g gauge\ng{a=\"1\"} 1\n# TYPE h gauge\nh 1\ng{a=\"2\"} 1\n"},
        {"negative counter", "# TYPE c counter\nc -1\n"},
        {"no +Inf", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"},
        {"+Inf differs from count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"},
        {"not cumulative", "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n"},
        {"no _sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"},
        {"no final newline", "# TYPE g gauge\ng 1"},
        {"bad label name", "# TYPE g gauge\ng{a-b=\"1\"} 1\n"},
        {"unknown type", "# TYPE g gaugy\ng 1\n"},
    };
    for (const auto& [what, text] : cases) {
        EXPECT_FALSE(parse_exposition(text)) << what;
    }
}
