// The journal's vocabulary: the state strings existing databases hold, and the transition table
// the pipeline checks every move against (legal moves accepted, every other one refused, no crash).
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "core/operation.hpp"

using namespace tunnelmgr::core;

namespace {

using move = std::tuple<op_kind, op_state, op_state>;

// Written out by hand rather than read from the table: this is what the pipeline may journal.
const std::set<move>& legal_moves() {
    using s = op_state;
    static const std::set<move> legal{
        {op_kind::create, s::validated, s::dns_created},     {op_kind::create, s::dns_created, s::ingress_written},
        {op_kind::create, s::ingress_written, s::applied},   {op_kind::create, s::applied, s::committed},
        {op_kind::create, s::validated, s::rolled_back},     {op_kind::create, s::dns_created, s::rolled_back},
        {op_kind::create, s::ingress_written, s::rolled_back}, {op_kind::create, s::applied, s::rolled_back},
        {op_kind::del, s::validated, s::ingress_removed},    {op_kind::del, s::ingress_removed, s::applied},
        {op_kind::del, s::applied, s::dns_deleted},          {op_kind::del, s::dns_deleted, s::committed},
        {op_kind::del, s::validated, s::rolled_back},
    };
    return legal;
}

}  // namespace

TEST(operation, state_strings_are_the_ones_existing_databases_hold) {
    const std::pair<op_state, const char*> stored[] = {
        {op_state::validated, "validated"},       {op_state::dns_created, "dns_created"},
        {op_state::ingress_written, "ingress_written"}, {op_state::applied, "applied"},
        {op_state::committed, "committed"},       {op_state::ingress_removed, "ingress_removed"},
        {op_state::dns_deleted, "dns_deleted"},   {op_state::rolled_back, "rolled_back"},
    };
    EXPECT_EQ(std::size(stored), all_op_states.size());
    for (const auto& [state, text] : stored) {
        EXPECT_EQ(to_string(state), text);
        EXPECT_EQ(op_state_from(text), state) << text;
    }
    EXPECT_EQ(to_string(op_kind::create), "create");
    EXPECT_EQ(to_string(op_kind::del), "delete");
}

TEST(operation, every_state_and_kind_round_trips_and_strangers_are_refused) {
    for (auto s : all_op_states) EXPECT_EQ(op_state_from(to_string(s)), s) << to_string(s);
    for (auto k : {op_kind::create, op_kind::del}) EXPECT_EQ(op_kind_from(to_string(k)), k);
    EXPECT_EQ(op_state_from(""), std::nullopt);
    EXPECT_EQ(op_state_from("Committed"), std::nullopt);
    EXPECT_EQ(op_state_from("unknown"), std::nullopt);
    EXPECT_EQ(op_kind_from("del"), std::nullopt);
    EXPECT_EQ(op_kind_from("Create"), std::nullopt);
}

TEST(operation, every_legal_transition_is_accepted) {
    for (const auto& [kind, from, to] : legal_moves()) {
        EXPECT_TRUE(transition_allowed(kind, from, to)) << to_string(kind) << " " << to_string(from) << " -> " << to_string(to);
        EXPECT_TRUE(check_transition(kind, from, to).has_value());
    }
}

TEST(operation, every_other_transition_is_refused_with_a_sentence) {
    int refused = 0;
    for (auto kind : {op_kind::create, op_kind::del}) {
        for (auto from : all_op_states) {
            for (auto to : all_op_states) {
                if (legal_moves().count({kind, from, to}) != 0) continue;
                EXPECT_FALSE(transition_allowed(kind, from, to))
                    << to_string(kind) << " " << to_string(from) << " -> " << to_string(to);
                ++refused;
            }
        }
    }
    EXPECT_EQ(refused, 2 * 8 * 8 - 13);
}

TEST(operation, a_sample_of_illegal_moves_names_the_move) {
    const move illegal[] = {
        {op_kind::create, op_state::validated, op_state::committed},         // skips every step
        {op_kind::create, op_state::dns_created, op_state::validated},       // backwards
        {op_kind::create, op_state::committed, op_state::rolled_back},       // done is done
        {op_kind::create, op_state::rolled_back, op_state::dns_created},     // so is undone
        {op_kind::create, op_state::validated, op_state::ingress_removed},   // a delete's state
        {op_kind::del, op_state::validated, op_state::dns_created},          // a create's state
        {op_kind::del, op_state::ingress_removed, op_state::rolled_back},    // a delete under way is finished, not undone
        {op_kind::del, op_state::applied, op_state::applied},                // standing still is not a move
    };
    for (const auto& [kind, from, to] : illegal) {
        auto r = check_transition(kind, from, to);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, errc::error);
        const auto& m = r.error().message;
        EXPECT_NE(m.find(std::string(to_string(kind))), std::string::npos) << m;
        EXPECT_NE(m.find("'" + std::string(to_string(from)) + "'"), std::string::npos) << m;
        EXPECT_NE(m.find("'" + std::string(to_string(to)) + "'"), std::string::npos) << m;
    }
}

TEST(operation, each_way_forward_is_a_chain_of_legal_moves) {
    for (auto kind : {op_kind::create, op_kind::del, op_kind::retarget}) {
        const auto path = forward_path(kind);
        EXPECT_EQ(path.front(), op_state::validated);
        EXPECT_EQ(path.back(), op_state::committed);
        for (size_t i = 0; i + 1 < path.size(); ++i) {
            EXPECT_TRUE(transition_allowed(kind, path[i], path[i + 1])) << to_string(kind) << " step " << i;
        }
    }
}
