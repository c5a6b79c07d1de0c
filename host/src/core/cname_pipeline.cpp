// See cname_pipeline.hpp. Every path out of request_cname/delete_cname writes one audit row.
//
// Each kind of operation is a table of steps. A row names the state it journals, its `do` (the
// change outside: DNS, ingress, cloudflared) and its `undo` (the compensation), and what a failure
// there means. One loop (step_runner::run) runs a table from the journaled state on: do, journal,
// then announce (metric, progress, crash point). recover() uses the same tables to finish or undo.
#include "core/cname_pipeline.hpp"

#include "core/batched_ingress.hpp"

#include "core/audit.hpp"

#include <tunnelmgr/sdk/hostname.hpp>
#include <algorithm>
#include <cstddef>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <set>
#include <span>
#include <unistd.h>

#include <rapidjson/reader.h>

#include "core/hostname.hpp"
#include "core/json.hpp"
#include "log/logger.hpp"
#include "sys/process_identity.hpp"
#include "sys/tcp_probe.hpp"

namespace tunnelmgr::core {

namespace {

std::string with_error(const std::string& what, const error& e) { return what + ": " + e.message; }

// "12 s ago", for sentences that say when something last happened.
std::string ago(std::chrono::steady_clock::duration d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 1) return "less than a second ago";
    if (s < 120) return std::to_string(s) + " s ago";
    return std::to_string(s / 60) + " min ago";
}

// What the steps change, once the dns and ingress slots are known to be configured.
struct step_env {
    dns_provider& dns;
    ingress_strategy& ingress;
    std::string record_content;  // <tunnel_id>.cfargotunnel.com: what every CNAME of ours points at
};

// An answer's "origin_note": the settings that do nothing for `service`, in one sentence (none: no key).
void set_origin_note(json::object& out, const origin_settings& settings, const std::string& service) {
    std::string all;
    for (const auto& n : origin_notes(settings, service)) all += (all.empty() ? "" : "; ") + n;
    if (!all.empty()) out.set("origin_note", all);
}

// --- the create steps -----------------------------------------------------------------------------

// The DNS record, unless a record of ours for this name is already there (a retry).
result<std::string> create_dns_record(step_env& env, operation& o) {
    std::string zone = o.s("zone_id"), marker = cname_pipeline::ownership_marker(o.project);
    std::string record_id;
    o.put("dns_step_ran", true);  // in memory only: this process knows what it asked for
    auto found = env.dns.find_record(zone, o.hostname, "CNAME");
    if (found) {
        auto rec = json::parse(*found);
        if (!rec || json::str(*rec, "comment") != marker || json::str(*rec, "content") != env.record_content) {
            return fail(errc::conflict, "a DNS record for " + o.hostname + " already exists and tunnelmgr does not own it"
                                        " (it lacks the comment " + marker + "): remove it in the Cloudflare dashboard or pick another name");
        }
        record_id = json::str(*rec, "id");
    } else if (found.error().code != errc::not_found) {
        return fail(found.error().code, with_error("cannot look up " + o.hostname + " at the DNS provider", found.error()));
    } else {
        json::object rec;
        rec.set("name", o.hostname).set("content", env.record_content).set("comment", marker);
        o.put("create_sent", true);  // in memory only: from here on a failure may hide a record made
        auto created = env.dns.create_record(zone, rec.str());
        if (!created) {
            return fail(created.error().code, with_error("cannot create the DNS record for " + o.hostname, created.error()));
        }
        auto doc = json::parse(*created);
        record_id = doc ? json::str(*doc, "id") : "";
    }
    o.put("record_id", record_id);
    o.put("record_created", true);
    json::object patch;
    patch.set("record_id", record_id).set("record_created", true);
    return patch.str();
}

// Undo of create_dns_record. A crash may have come between creating the record and journaling its
// id: then look it up, and take it only if it is ours (our comment, our tunnel).
result<void> delete_created_record(step_env& env, operation& o, bool in_flight) {
    std::string zone = o.s("zone_id"), marker = cname_pipeline::ownership_marker(o.project);
    std::string record_id = o.s("record_id");
    // This very run failed before it asked for a record (the lookup failed, or the DNS plugin's own
    // request budget refused): nothing can have been made, and asking again would only fail the same way.
    // After a crash nobody knows what was asked for: look.
    if (record_id.empty() && in_flight && o.b("dns_step_ran") && !o.b("create_sent")) return {};
    if (record_id.empty()) {
        auto found = env.dns.find_record(zone, o.hostname, "CNAME");
        if (found) {
            auto rec = json::parse(*found);
            if (rec && json::str(*rec, "comment") == marker && json::str(*rec, "content") == env.record_content) {
                record_id = json::str(*rec, "id");
            }
        } else if (found.error().code != errc::not_found) {
            return tl::unexpected(found.error());
        }
    }
    if (!record_id.empty()) {
        auto del = env.dns.delete_record(zone, record_id, marker);
        if (!del && del.error().code != errc::not_found) return tl::unexpected(del.error());
    }
    return {};
}

result<std::string> add_ingress_rule(step_env& env, operation& o) {
    std::string service = o.s("service");
    auto added = env.ingress.add(o.hostname, rule_target{service, o.s("origin_request")},
                                 "add " + o.hostname + " -> " + service + " for " + o.project);
    if (!added) return tl::unexpected(added.error());
    o.put("ingress_changed", *added);
    o.backup_error = env.ingress.take_backup_error();
    json::object patch;
    patch.set("ingress_changed", *added);
    return patch.str();
}

// Undo of add_ingress_rule. `in_flight`: the add may or may not have written (the journal write
// after it failed, or a crash came): look. Once it is journaled, cloudflared may run with the rule.
result<void> remove_added_rule(step_env& env, operation& o, bool in_flight) {
    auto removed = env.ingress.remove(o.hostname, "roll back " + o.hostname);
    if (!removed && removed.error().code == errc::invalid && in_flight) {
        // The file is malformed (someone else's edit): our rule cannot be in it, since every
        // file tunnelmgr writes is valid. Leave the file alone and go on with the DNS record.
        log::warn("pipeline", "rolling back " + o.hostname + " without touching the ingress file: " + removed.error().message);
        removed = std::optional<std::string>{};
    }
    if (!removed) return tl::unexpected(removed.error());
    env.ingress.take_backup_error();
    if (removed->has_value() && (!in_flight || o.b("past_unknown"))) {
        // cloudflared may already run with the rule; let it drop it. Best effort.
        if (auto a = env.ingress.apply(); !a) log::warn("pipeline", "re-apply after roll back: " + a.error().message);
    }
    return {};
}

// Restart cloudflared and wait for /ready (local), or nothing (remote).
result<std::string> apply_ingress(step_env& env, operation& o) {
    auto applied = env.ingress.apply();
    if (!applied) return tl::unexpected(applied.error());
    o.apply_note = *applied;
    return std::string("{}");
}

// The cname row, written with the operation's end in one transaction. The store sets id and created_at.
result<sdk::model::cname_row> new_cname_row(step_env& /*env*/, operation& o) {
    sdk::model::cname_row row;
    row.hostname = o.hostname;
    row.subdomain = o.s("subdomain");
    row.domain = o.s("domain");
    row.project = o.project;
    row.port = json::i64(o.data, "port");
    row.target = o.s("service");
    row.target_type = o.s("target_type");
    row.container_name = o.s("container_name");
    row.docker_network = o.s("docker_network");
    row.dns_record_id = o.s("record_id");
    row.zone_id = o.s("zone_id");
    if (int64_t at = json::i64(o.data, "expires_at"); at > 0) row.expires_at = at;
    if (std::string origin = o.s("origin_request"); !origin.empty() && origin != "{}") row.origin_request = origin;
    return row;
}

// --- the delete steps -----------------------------------------------------------------------------

result<std::string> remove_ingress_rule(step_env& env, operation& o) {
    auto removed = env.ingress.remove(o.hostname, "remove " + o.hostname + " for " + o.project);
    if (!removed) return fail(removed.error().code, "cannot remove the ingress rule: " + removed.error().message);
    env.ingress.take_backup_error();
    json::object patch;
    patch.set("ingress_changed", removed->has_value());
    if (removed->has_value()) patch.set("removed_service", **removed);
    return patch.str();
}

result<std::string> apply_without_rule(step_env& env, operation& o) {
    auto applied = env.ingress.apply();
    if (!applied) {
        // The rule is gone from the file; cloudflared picks that up at its next start. The
        // operation stays open so the DNS record is still removed later.
        return fail(applied.error().code, applied.error().message + " — the deletion of " + o.hostname +
                                              " will be finished at tunnelmgr's next start");
    }
    o.apply_note = *applied;
    return std::string("{}");
}

result<std::string> delete_dns_record(step_env& env, operation& o) {
    std::string record_id = o.s("record_id");
    if (record_id.empty()) return std::string("{}");
    const std::string zone = o.s("zone_id"), marker = cname_pipeline::ownership_marker(o.project);
    auto del = env.dns.delete_record(zone, record_id, marker);
    if (!del && del.error().code == errc::not_found) {
        // The stored id is gone, but the name may carry a record of ours made since (reconcile restores
        // a deleted record under a new id): delete that one, never a record without our marker.
        auto found = env.dns.find_record(zone, o.hostname, "CNAME");
        if (found) {
            auto rec = json::parse(*found);
            if (rec && json::str(*rec, "comment") == marker) del = env.dns.delete_record(zone, json::str(*rec, "id"), marker);
        } else if (found.error().code != errc::not_found) {
            del = tl::unexpected(found.error());
        }
    }
    if (!del && del.error().code == errc::conflict) {
        // Someone re-labelled the record: it is no longer ours to delete. Say so and move on.
        log::warn("pipeline", "left DNS record " + record_id + " of " + o.hostname + " in place: " + del.error().message);
    } else if (!del && del.error().code != errc::not_found) {
        return fail(del.error().code, "the ingress rule is removed but the DNS record could not be deleted yet (" +
                                          del.error().message + "); tunnelmgr finishes this at its next start");
    }
    return std::string("{}");
}

// The cname row goes, with the operation's end, in one transaction: a row naming only the hostname.
result<sdk::model::cname_row> forget_cname(step_env& /*env*/, operation& o) {
    sdk::model::cname_row row;
    row.hostname = o.hostname;
    return row;
}

// --- the retarget steps ---------------------------------------------------------------------------

// The rule of the name, pointed at the new service where it stands. What it pointed at before is
// journaled (it may differ from the row when someone edited it), so an undo puts back exactly that.
result<std::string> retarget_rule(step_env& env, operation& o) {
    const rule_target to{o.s("service"), o.s("origin_request")};
    auto before = env.ingress.replace(o.hostname, to, "retarget " + o.hostname + " -> " + to.service + " for " + o.project);
    if (!before) return tl::unexpected(before.error());
    o.backup_error = env.ingress.take_backup_error();
    o.put("previous_service", before->service);
    o.put("previous_origin_request", before->origin_request);
    json::object patch;
    patch.set("previous_service", before->service).set("previous_origin_request", before->origin_request);
    return patch.str();
}

// Undo of retarget_rule: the rule back as it was; cloudflared told when it may run with the new one.
result<void> restore_rule(step_env& env, operation& o, bool in_flight) {
    const rule_target was{o.s("previous_service"), o.s("previous_origin_request")};
    auto back = env.ingress.replace(o.hostname, was, "roll back the retarget of " + o.hostname);
    if (!back && back.error().code == errc::not_found) {
        log::warn("pipeline", "rolling back the retarget of " + o.hostname + ": its rule is gone from the ingress (" +
                                  back.error().message + "); `tunnelmgr reconcile` restores it from the state");
        return {};
    }
    if (!back && back.error().code == errc::invalid && in_flight) {
        // The file is malformed (someone else's edit): tunnelmgr's own write never made it so.
        log::warn("pipeline", "rolling back the retarget of " + o.hostname + " without touching the ingress file: " +
                                  back.error().message);
        return {};
    }
    if (!back) return tl::unexpected(back.error());
    env.ingress.take_backup_error();
    if (!(*back == was) && (!in_flight || o.b("past_unknown"))) {
        if (auto a = env.ingress.apply(); !a) log::warn("pipeline", "re-apply after roll back: " + a.error().message);
    }
    return {};
}

// --- the tables -----------------------------------------------------------------------------------

using do_fn = result<std::string> (*)(step_env&, operation&);  // returns the patch journaled with the state
using commit_fn = result<sdk::model::cname_row> (*)(step_env&, operation&);  // returns the row operation_commit writes
using undo_fn = result<void> (*)(step_env&, operation&, bool in_flight);

// A row's work: a step that journals a patch, or the last one, which commits a cname row.
struct step_fn {
    do_fn patch = nullptr;
    commit_fn commit = nullptr;
    constexpr step_fn(std::nullptr_t) {}
    constexpr step_fn(do_fn f) : patch(f) {}
    constexpr step_fn(commit_fn f) : commit(f) {}
    constexpr bool empty() const { return patch == nullptr && commit == nullptr; }
};

// What a failing step does to its operation.
enum class on_failure {
    roll_back,  // undo the steps done (and this one, unless it changed nothing), end rolled_back
    abandon,    // nothing has changed yet: end rolled_back, no undo
    keep_open,  // past the point of no return: leave it for recover() to finish at the next start
};

struct pipeline_step {
    op_state reaches;            // journaled when `run` succeeds; the first row is operation_begin's
    const char* name;            // the step a failure names (an audit row's failed_step)
    step_fn run;                 // null on the first row
    undo_fn undo;                // null: nothing to undo
    bool failing_run_is_clean;   // a failing `run` changed nothing outside, so its own undo is skipped
    on_failure if_it_fails;
    bool after_crash_finish;     // recover(): an operation stopped just before this step is finished, not undone
};

// clang-format off
constexpr pipeline_step create_steps[] = {
    // reaches                   name       run                   undo                    clean  if it fails             after a crash: finish
    {op_state::validated,        "begin",   nullptr,              nullptr,                true,  on_failure::roll_back,  false},
    {op_state::dns_created,      "dns",     create_dns_record,    delete_created_record,  false, on_failure::roll_back,  false},
    {op_state::ingress_written,  "ingress", add_ingress_rule,     remove_added_rule,      true,  on_failure::roll_back,  false},
    {op_state::applied,          "apply",   apply_ingress,        nullptr,                false, on_failure::roll_back,  false},
    {op_state::committed,        "commit",  new_cname_row,        nullptr,                false, on_failure::roll_back,  true},
};
constexpr pipeline_step delete_steps[] = {
    {op_state::validated,        "begin",   nullptr,              nullptr,                true,  on_failure::abandon,    true},
    {op_state::ingress_removed,  "ingress", remove_ingress_rule,  nullptr,                true,  on_failure::abandon,    true},
    {op_state::applied,          "apply",   apply_without_rule,   nullptr,                false, on_failure::keep_open,  true},
    {op_state::dns_deleted,      "dns",     delete_dns_record,    nullptr,                false, on_failure::keep_open,  true},
    {op_state::committed,        "commit",  forget_cname,         nullptr,                false, on_failure::keep_open,  true},
};
// A retarget's commit writes the whole row as a create's does; the store keeps its id and created_at.
constexpr pipeline_step retarget_steps[] = {
    {op_state::validated,        "begin",   nullptr,              nullptr,                true,  on_failure::roll_back,  false},
    {op_state::ingress_written,  "ingress", retarget_rule,        restore_rule,           true,  on_failure::roll_back,  false},
    {op_state::applied,          "apply",   apply_ingress,        nullptr,                false, on_failure::roll_back,  false},
    {op_state::committed,        "commit",  new_cname_row,        nullptr,                false, on_failure::roll_back,  true},
};
// clang-format on

// The rows follow the kind's way forward (operation.hpp), one row per state.
template <size_t N>
constexpr bool follows(const pipeline_step (&steps)[N], std::span<const op_state> path) {
    if (path.size() != N) return false;
    for (size_t i = 0; i < N; ++i) {
        if (steps[i].reaches != path[i]) return false;
    }
    return true;
}
static_assert(follows(create_steps, create_path));
static_assert(follows(delete_steps, delete_path));
static_assert(follows(retarget_steps, retarget_path));

std::span<const pipeline_step> steps_of(op_kind k) {
    if (k == op_kind::create) return create_steps;
    if (k == op_kind::retarget) return retarget_steps;
    return delete_steps;
}

// Where `s` is on the kind's way forward; nullopt for rolled_back.
std::optional<size_t> position_of(op_kind k, op_state s) {
    const auto path = forward_path(k);
    for (size_t i = 0; i < path.size(); ++i) {
        if (path[i] == s) return i;
    }
    return std::nullopt;
}

// One flat view of a journal row: the request as begun, then every step's patch over it. The store
// keeps the request under data.request (older rows may carry it beside data).
result<operation> operation_from_journal(const rapidjson::Value& item) {
    operation o;
    o.id = json::i64(item, "id");
    o.hostname = json::str(item, "hostname");
    o.project = json::str(item, "project");
    auto kind = op_kind_from(json::str(item, "kind"));
    auto state = op_state_from(json::str(item, "state"));
    if (!kind || !state) {
        return fail(errc::invalid, "operation " + std::to_string(o.id) + " on " + o.hostname + " has an unknown kind '" +
                                       json::str(item, "kind") + "' or state '" + json::str(item, "state") +
                                       "' (written by a newer tunnelmgr?); left as it is");
    }
    o.kind = *kind;
    o.state = *state;
    auto merge = [&](const rapidjson::Value& from) {
        if (!from.IsObject()) return;
        for (const auto& m : from.GetObject()) {
            if (std::string(m.name.GetString()) == "request") continue;
            o.data.RemoveMember(m.name.GetString());
            rapidjson::Value k(m.name, o.data.GetAllocator()), v(m.value, o.data.GetAllocator());
            o.data.AddMember(k, v, o.data.GetAllocator());
        }
    };
    auto data_it = item.FindMember("data");
    auto req_it = item.FindMember("request");
    if (req_it != item.MemberEnd()) merge(req_it->value);
    if (data_it != item.MemberEnd() && data_it->value.IsObject()) {
        auto nested = data_it->value.FindMember("request");
        if (nested != data_it->value.MemberEnd()) merge(nested->value);
        merge(data_it->value);
    }
    return o;
}

}  // namespace

// --- the one loop -----------------------------------------------------------------------------------

struct cname_pipeline::step_failure {
    error cause;                      // as the step (or the journal) said it
    std::string step;                 // the row's name, or "journal" when writing the state failed
    std::optional<error> undo_error;  // the compensation ran and failed too
};

class cname_pipeline::step_runner {
public:
    step_runner(cname_pipeline& p, step_clock& clock, progress_fn progress)
        : p_(p), env_{*p.dns_, *p.ingress_, p.settings_.tunnel_id + ".cfargotunnel.com"}, clock_(clock),
          progress_(std::move(progress)) {}

    // Runs o's table from row `from` on (row 0: operation_begin has just journaled it). On a failure,
    // does what the row says; `may_undo` false (recovery) turns a roll back into keep_open, since
    // recovery finishes only what it has chosen to keep.
    tl::expected<void, step_failure> run(operation& o, size_t from, bool may_undo) {
        auto steps = steps_of(o.kind);
        for (size_t i = from; i < steps.size(); ++i) {
            const auto& row = steps[i];
            if (!row.run.empty()) {
                result<void> journaled;
                if (row.run.commit != nullptr) {
                    auto cname = row.run.commit(env_, o);
                    if (!cname) return stop(o, row, {cname.error(), row.name, {}}, row.failing_run_is_clean, may_undo);
                    journaled = commit(o, *cname);
                } else {
                    // A batched apply (tunnel.apply_delay) says the change waits for its batch.
                    apply_notice_scope waiting([this, i, n = steps.size()](const std::string& text) {
                        if (progress_) progress_(text, static_cast<int>(i), static_cast<int>(n));
                    });
                    auto patch = row.run.patch(env_, o);
                    if (!patch) return stop(o, row, {patch.error(), row.name, {}}, row.failing_run_is_clean, may_undo);
                    journaled = advance(o, row.reaches, *patch);
                }
                if (!journaled) {
                    // For the last row the journal write is the step itself (the commit).
                    std::string step = row.reaches == op_state::committed ? row.name : "journal";
                    return stop(o, row, {journaled.error(), step, {}}, false, may_undo);
                }
            }
            reached(o, i);
        }
        return {};
    }

    // Undoes, newest first, the step under way (unless `in_flight_clean`: it changed nothing) and
    // every step done, then journals rolled_back. `past_unknown` (recovery): the journal may lag the
    // world by more than one step, since a store may write operation_advance lazily and a machine
    // crash keeps only a prefix of the journal (plugin API 1.6): every later step is undone as one
    // that may or may not have run, each looking at the world.
    result<void> roll_back(operation& o, bool in_flight_clean, bool past_unknown = false) {
        auto steps = steps_of(o.kind);
        auto done = position_of(o.kind, o.state);
        if (!done) return check_transition(o.kind, o.state, op_state::rolled_back);
        if (past_unknown) o.put("past_unknown", true);
        const size_t newest = past_unknown ? steps.size() - 1 : std::min(*done + 1, steps.size() - 1);
        for (size_t i = newest; i > 0; --i) {
            bool in_flight = i > *done;
            if (steps[i].undo == nullptr || (in_flight && in_flight_clean)) continue;
            if (auto u = steps[i].undo(env_, o, in_flight); !u) return u;
        }
        return advance(o, op_state::rolled_back, "{}");
    }

private:
    // The one way an operation changes state: checked against the transition table, then journaled.
    result<void> advance(operation& o, op_state to, const std::string& payload) {
        if (auto legal = check_transition(o.kind, o.state, to); !legal) return legal;
        if (auto r = p_.state_.operation_advance(o.id, to_string(to), payload); !r) return r;
        o.state = to;
        return {};
    }

    // The same for the last state, which the store writes together with the cname row.
    result<void> commit(operation& o, const sdk::model::cname_row& cname) {
        if (auto legal = check_transition(o.kind, o.state, op_state::committed); !legal) return legal;
        if (auto r = p_.state_.operation_commit(o.id, cname); !r) return r;
        o.state = op_state::committed;
        return {};
    }

    // Step i is durable: time it, tell the caller, and (tests) die here if asked to.
    void reached(const operation& o, size_t i) {
        auto steps = steps_of(o.kind);
        std::string state(to_string(steps[i].reaches));
        clock_.done(state);
        if (progress_) progress_(state, static_cast<int>(i) + 1, static_cast<int>(steps.size()));
        // TUNNELMGR_TEST_CRASH_AFTER=<kind>:<state>: die as hard as a power cut right after it is durable.
        if (!p_.crash_after_.empty() && p_.crash_after_ == std::string(to_string(o.kind)) + ":" + state) {
            ::kill(::getpid(), SIGKILL);
        }
    }

    tl::unexpected<step_failure> stop(operation& o, const pipeline_step& row, step_failure f, bool in_flight_clean,
                                      bool may_undo) {
        clock_.failed(to_string(row.reaches));  // counted at the step it did not reach
        auto policy = row.if_it_fails;
        if (policy == on_failure::roll_back && !may_undo) policy = on_failure::keep_open;
        if (row.reaches == op_state::committed && (f.cause.code == errc::retry || f.cause.code == errc::timeout) &&
            policy == on_failure::roll_back) {
            // The store is away (or the commit's answer was lost): the journal cannot say the change
            // was undone, and the commit may even have been saved. Undoing the live rule and record
            // now would leave a journal that says `applied` over a world without them, which a later
            // start would commit. The change is live: it is kept, and recorded at the next start.
            policy = on_failure::keep_open;
            f.cause.message = o.hostname + " is live (DNS record and ingress rule in place) but recording it in the "
                              "state failed: " + f.cause.message + "; tunnelmgr records it at its next start (or the "
                              "daemon's next pass)";
        }
        result<void> undone;
        if (policy == on_failure::roll_back) undone = roll_back(o, in_flight_clean);
        if (policy == on_failure::abandon) undone = advance(o, op_state::rolled_back, "{}");
        if (!undone) f.undo_error = undone.error();
        return tl::unexpected(std::move(f));
    }

    cname_pipeline& p_;
    step_env env_;
    step_clock& clock_;
    progress_fn progress_;
};

cname_pipeline::cname_pipeline(state_store& state, dns_provider* dns, ingress_strategy* ingress,
                               target_selector& targets, pipeline_settings settings)
    : state_(state), dns_(dns), ingress_(ingress), targets_(targets), settings_(std::move(settings)) {
    if (const char* c = std::getenv("TUNNELMGR_TEST_CRASH_AFTER"); c != nullptr) crash_after_ = c;
}

void cname_pipeline::audit(const session& who, const std::string& action, const std::string& target,
                           const std::string& project, const std::string& outcome, const std::string& error_text,
                           const std::string& details_json) {
    auto details = json::parse(details_json.empty() ? "{}" : details_json);
    if (!details || !details->IsObject()) details = json::parse("{}");
    details->RemoveMember("origin");
    details->AddMember("origin", rapidjson::Value(who.origin.c_str(), details->GetAllocator()), details->GetAllocator());
    if (who.peer_uid >= 0) {
        // Who connected, as the kernel saw it (calls over the API socket).
        details->RemoveMember("peer_uid");
        details->RemoveMember("peer_pid");
        details->AddMember("peer_uid", rapidjson::Value(static_cast<int64_t>(who.peer_uid)), details->GetAllocator());
        details->AddMember("peer_pid", rapidjson::Value(static_cast<int64_t>(who.peer_pid)), details->GetAllocator());
    }
    record_audit(state_, {who.actor(), who.role_name(), action, target, project, outcome, error_text, json::to_string(*details)});
}

result<std::optional<std::string>> cname_pipeline::known_zone(const std::string& domain) {
    auto zones = state_.domains_list();
    if (!zones) return tl::unexpected(zones.error());
    for (const auto& z : *zones) {
        if (z.name == domain) return std::optional<std::string>(z.zone_id);
    }
    return std::optional<std::string>();
}

result<void> cname_pipeline::fetch_zones_locked() {
    zones_fetched_at_ = clock_();
    zones_fetch_error_.clear();
    auto listed = dns_->list_zones();
    if (!listed) {
        zones_fetch_error_ = listed.error().message;
        return tl::unexpected(error{listed.error().code, with_error("cannot list the zones", listed.error())});
    }
    auto zones = sdk::model::decode_zones(*listed);
    if (!zones) {
        zones_fetch_error_ = "malformed zones";
        return fail(errc::error, "the DNS provider listed malformed zones: " + zones.error());
    }
    return state_.domains_replace(*zones);
}

result<std::string> cname_pipeline::zone_of(const std::string& domain) {
    auto known = known_zone(domain);
    if (!known) return tl::unexpected(known.error());
    if (*known) return **known;
    // A miss: the zone may be new to the account. Refresh, but at most once per interval however many
    // requests miss (each refresh is Cloudflare requests), and one refresh at a time.
    std::unique_lock<std::mutex> lock(zones_mutex_);
    known = known_zone(domain);  // another request may have refreshed while this one waited
    if (!known) return tl::unexpected(known.error());
    if (*known) return **known;
    auto now = clock_();
    std::string when;
    if (zones_fetched_at_ && now - *zones_fetched_at_ < settings_.zone_refresh_interval) {
        if (!zones_fetch_error_.empty()) {
            auto wait = std::chrono::ceil<std::chrono::seconds>(*zones_fetched_at_ + settings_.zone_refresh_interval - now);
            return fail(errc::retry, "cannot tell whether '" + domain + "' is a zone of this Cloudflare account: the last "
                                     "attempt to fetch the zone list, " + ago(now - *zones_fetched_at_) + ", failed (" +
                                     zones_fetch_error_ + "); retry in " + std::to_string(wait.count()) + " s");
        }
        when = "the zone list was fetched from the account " + ago(now - *zones_fetched_at_);
    } else {
        if (dns_ == nullptr && settings_.dns_configured) {
            return fail(errc::retry, "'" + domain + "' is not among the zones tunnelmgr knows, and this command did not "
                                     "start the DNS plugin to ask the account: run it again");
        }
        if (dns_ == nullptr) return fail(errc::invalid, "no DNS provider is configured: add a `dns:` section to the config");
        if (auto fresh = fetch_zones_locked(); !fresh) return tl::unexpected(fresh.error());
        known = known_zone(domain);
        if (!known) return tl::unexpected(known.error());
        if (*known) return **known;
        when = "the zone list was fetched from the account just now";
    }
    return fail(errc::invalid, "'" + domain + "' is not a zone of this Cloudflare account (" + when +
                                   "; a miss fetches it again at most once a minute): use one of the zones " +
                                   "`tunnel_list_domains` shows; if the zone was just added to the account, the admin " +
                                   "may run `tunnelmgr domains --refresh`");
}

result<std::string> cname_pipeline::list_domains(bool refresh) {
    if (!refresh) {
        auto known = state_.domains_list();
        if (!known) return tl::unexpected(known.error());
        if (!known->empty() || dns_ == nullptr) return sdk::model::encode(*known);
        // Nothing known yet: ask the provider, as often as a miss may (an account with no zones
        // would otherwise cost a fetch per call).
    }
    if (dns_ == nullptr) return fail(errc::invalid, "no DNS provider is configured: add a `dns:` section to the config");
    {
        std::lock_guard<std::mutex> lock(zones_mutex_);
        bool recent = zones_fetched_at_ && clock_() - *zones_fetched_at_ < settings_.zone_refresh_interval;
        if (refresh || !recent) {
            if (auto fresh = fetch_zones_locked(); !fresh) return tl::unexpected(fresh.error());
        }
    }
    auto known = state_.domains_list();
    if (!known) return tl::unexpected(known.error());
    return sdk::model::encode(*known);
}

namespace {

// One row of a store's cname_list reply, found without building it: [begin, end) is its JSON text in
// the reply, and its hostname is all that paging reads of it.
struct listed_row {
    size_t begin = 0;
    size_t end = 0;
    std::string hostname;
};

// SAX over the reply: an array of objects, each row's bounds and "hostname" noted, nothing else kept.
// Any other shape stops the parse (a scalar or an array where a row belongs, or no array at all).
class listed_rows_reader : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, listed_rows_reader> {
public:
    listed_rows_reader(const rapidjson::StringStream& in, std::vector<listed_row>& rows) : in_(in), rows_(rows) {}

    bool StartArray() {
        hostname_next_ = false;
        if (depth_ == 1) return false;
        ++depth_;
        return true;
    }
    bool EndArray(rapidjson::SizeType) {
        --depth_;
        return true;
    }
    bool StartObject() {
        hostname_next_ = false;
        if (depth_ == 0) return false;
        if (depth_ == 1) rows_.push_back({in_.Tell() - 1, 0, {}});  // the reader has just taken the '{'
        ++depth_;
        return true;
    }
    bool EndObject(rapidjson::SizeType) {
        if (--depth_ == 1) rows_.back().end = in_.Tell();  // and here the '}'
        return true;
    }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        hostname_next_ = depth_ == 2 && std::string_view(s, n) == "hostname";
        return true;
    }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        if (hostname_next_) rows_.back().hostname.assign(s, n);
        return Default();
    }
    bool Default() {
        hostname_next_ = false;
        return depth_ >= 2;
    }

private:
    const rapidjson::StringStream& in_;
    std::vector<listed_row>& rows_;
    int depth_ = 0;
    bool hostname_next_ = false;
};

// The rows of a cname_list reply, for counting and cutting a page; an error for anything but an array
// of objects.
result<std::vector<listed_row>> listed_rows(const std::string& reply) {
    std::vector<listed_row> rows;
    rapidjson::StringStream in(reply.c_str());
    listed_rows_reader handler(in, rows);
    rapidjson::Reader reader;
    if (reader.Parse(in, handler).IsError()) {
        return fail(errc::error, "the state store listed malformed rows (not a JSON array of objects): the state "
                                 "plugin is broken; tell its author");
    }
    return rows;
}

// A row without a hostname cannot say where a keyset page starts or ends.
result<void> every_row_has_a_hostname(const std::vector<listed_row>& rows) {
    for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].hostname.empty()) {
            return fail(errc::error, "the state store listed malformed rows (row " + std::to_string(i + 1) +
                                         " has no hostname): the state plugin is broken; tell its author");
        }
    }
    return {};
}

// Rows [first, last) of `reply` as one JSON array, cut from its text: the rows between are printed
// once, by the store, with the commas between them.
std::string rows_text(const std::string& reply, const std::vector<listed_row>& rows, size_t first, size_t last) {
    if (first >= last) return "[]";
    std::string out;
    out.reserve(rows[last - 1].end - rows[first].begin + 2);
    out += '[';
    out.append(reply, rows[first].begin, rows[last - 1].end - rows[first].begin);
    out += ']';
    return out;
}

}  // namespace

result<std::string> cname_pipeline::list_cnames(const session& who, const std::string& project, int64_t limit,
                                                std::optional<int64_t> offset, const std::optional<std::string>& after) {
    if (!who.is_admin() && !project.empty() && project != who.project) {
        return fail(errc::denied, "this session belongs to project '" + who.project + "' and can list only its own hostnames");
    }
    if (limit < 1 || limit > 1000) return fail(errc::invalid, "`limit` must be from 1 to 1000");
    if (offset && *offset < 0) return fail(errc::invalid, "`offset` must be 0 or more");
    if (offset && after) {
        return fail(errc::invalid, "give `after` or `offset`, not both: they are two ways to say where a page starts; "
                                   "`after` (the next_after of the previous page) stays right when hostnames are added "
                                   "or removed between pages");
    }
    std::string filter_project = who.is_admin() ? project : who.project;
    json::object f;
    if (!filter_project.empty()) f.set("project", filter_project);
    auto total = state_.cname_count(f.str());
    if (!total) return tl::unexpected(total.error());

    // The page is the store's own text wherever it paged as asked; rows are found, counted and cut by
    // their bounds in that text, never decoded (the transport passes the page on as it is, too).
    std::string page_json;
    size_t count = 0;
    bool more = false;
    std::string last_hostname;
    const std::string start_after = after ? sdk::fold_hostname(*after) : std::string();
    if (after) {
        // One row more than the page says whether another page follows. An older store would ignore
        // "after" and list from the first row: it lists them all, and the rows after it are taken here.
        if (state_.pages_after()) f.set("after", start_after).set("limit", limit + 1);
        auto reply = state_.cname_list(f.str());
        if (!reply) return tl::unexpected(reply.error());
        auto rows = listed_rows(*reply);
        if (!rows) return tl::unexpected(rows.error());
        if (auto named = every_row_has_a_hostname(*rows); !named) return tl::unexpected(named.error());
        // Rows come ordered by hostname, so those after `after` are the tail (all of a 1.5 store's reply).
        size_t first = 0;
        while (first < rows->size() && sdk::fold_hostname((*rows)[first].hostname) <= start_after) ++first;
        const size_t last = std::min(rows->size(), first + static_cast<size_t>(limit));
        page_json = first == 0 && last == rows->size() ? std::move(*reply) : rows_text(*reply, *rows, first, last);
        count = last - first;
        more = last < rows->size();
        if (count > 0) last_hostname = (*rows)[last - 1].hostname;
    } else {
        const int64_t skip = offset.value_or(0);
        f.set("limit", limit).set("offset", skip);
        auto reply = state_.cname_list(f.str());
        if (!reply) return tl::unexpected(reply.error());
        auto rows = listed_rows(*reply);
        if (!rows) return tl::unexpected(rows.error());
        const auto n = static_cast<int64_t>(rows->size());
        size_t first = 0, last = rows->size();
        if (n <= limit && (skip == 0 || n != *total || n == 0)) {  // a 1.0 store ignores limit and offset
            page_json = std::move(*reply);
        } else {
            // A 1.0 store returned every row: the page is cut here.
            first = std::min<size_t>(static_cast<size_t>(skip), rows->size());
            last = std::min<size_t>(first + static_cast<size_t>(limit), rows->size());
            page_json = rows_text(*reply, *rows, first, last);
        }
        count = last - first;
        more = skip + static_cast<int64_t>(count) < *total;
        // (A row without a hostname, which only a broken store lists, leaves next_after null: by offset only.)
        if (count > 0) last_hostname = (*rows)[last - 1].hostname;
    }

    rapidjson::StringBuffer buf(nullptr, page_json.size() + 256);  // the page and the few members after it
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("cnames");
    w.RawValue(page_json.data(), page_json.size(), rapidjson::kArrayType);
    w.Key("count");
    w.Int64(static_cast<int64_t>(count));
    w.Key("total");
    w.Int64(*total);
    w.Key("limit");
    w.Int64(limit);
    w.Key("offset");
    if (after) {
        w.Null();
    } else {
        w.Int64(offset.value_or(0));
    }
    w.Key("next_offset");
    if (more && !after) {
        w.Int64(offset.value_or(0) + static_cast<int64_t>(count));
    } else {
        w.Null();
    }
    w.Key("next_after");
    if (more && !last_hostname.empty()) {
        w.String(last_hostname.c_str(), static_cast<rapidjson::SizeType>(last_hostname.size()));
    } else {
        w.Null();
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

result<int64_t> cname_pipeline::count_cnames(const session& who, const std::string& project) {
    std::string filter_project = who.is_admin() ? project : who.project;
    json::object f;
    if (!filter_project.empty()) f.set("project", filter_project);
    return state_.cname_count(f.str());
}

result<void> cname_pipeline::port_of_project(const std::string& project, int64_t port) {
    auto ports = settings_.project_ports.find(project);
    if (ports == settings_.project_ports.end()) {
        return fail(errc::invalid, "project '" + project + "' is not in the config's `projects:` section");
    }
    if (port < 1 || port > 65535) {
        return fail(errc::invalid, "port " + std::to_string(port) + " is not a TCP port: give one from 1 to 65535");
    }
    bool allowed = false;
    std::string ranges;
    for (const auto& r : ports->second) {
        allowed = allowed || r.contains(static_cast<uint32_t>(port));
        ranges += (ranges.empty() ? "" : ", ") + std::to_string(r.first) + (r.first == r.last ? "" : "-" + std::to_string(r.last));
    }
    if (!allowed) {
        return fail(errc::denied, "port " + std::to_string(port) + " is not among the ports of project '" + project + "' (" +
                                      ranges + "): publish a port in that range");
    }
    return {};
}

result<void> cname_pipeline::store_keeps(const char* what) {
    if (state_.keeps_row_extras()) return {};
    return fail(errc::invalid, std::string(what) + " need a state plugin built for plugin API 1.3 or newer, and the "
                               "configured one is older (it would drop them): upgrade the state plugin");
}

result<cname_pipeline::validated> cname_pipeline::validate(const session& who, const cname_request& req,
                                                            std::string& shown) {
    std::string project = req.project.empty() ? who.project : req.project;
    std::string domain_in = req.domain.empty() ? settings_.default_domain : req.domain;
    shown = req.subdomain + "." + domain_in;
    if (!who.is_admin() && !req.project.empty() && req.project != who.project) {
        return fail(errc::denied, "this session belongs to project '" + who.project + "'; it cannot act for project '" +
                                      req.project + "'");
    }
    if (project.empty()) return fail(errc::invalid, "name the project the hostname is for (--project NAME)");
    if (auto in_range = port_of_project(project, req.port); !in_range) return tl::unexpected(in_range.error());
    if (req.ttl.count() != 0 && (req.ttl < min_ttl || req.ttl > max_ttl)) {
        return fail(errc::invalid, "ttl " + std::to_string(req.ttl.count()) + " s is out of range: give from 1m to 365d "
                                   "(e.g. 2h), or none for a name that stays until deleted");
    }
    if (req.ttl.count() != 0) {
        if (auto keeps = store_keeps("expiring names (ttl)"); !keeps) return tl::unexpected(keeps.error());
    }
    if (!req.origin.empty()) {
        if (auto keeps = store_keeps("origin settings"); !keeps) return tl::unexpected(keeps.error());
    }
    auto label = normalize_label(req.subdomain);
    if (!label) return tl::unexpected(label.error());
    auto domain = normalize_domain(domain_in);
    if (!domain) return tl::unexpected(domain.error());
    auto host = join_hostname(*label, *domain);
    if (!host) return tl::unexpected(host.error());
    shown = *host;
    // The project's scope, whoever asks for it: the admin publishing for a project keeps to its zones
    // and name rule too (only the reserved labels are the admin's to use).
    auto scope = settings_.project_scopes.find(project);
    if (auto in_scope = check_scope(project, scope == settings_.project_scopes.end() ? project_scope{} : scope->second,
                                    {settings_.default_domain, settings_.reserved_labels}, who.is_admin(), *label, *domain);
        !in_scope) {
        return tl::unexpected(in_scope.error());
    }
    if (dns_ == nullptr && !settings_.dns_configured) {
        return fail(errc::invalid, "no DNS provider is configured: add a `dns:` section to the config");
    }
    if (ingress_ == nullptr) return fail(errc::invalid, "no ingress strategy is configured: set `tunnel.ingress`");
    if (settings_.tunnel_id.empty()) return fail(errc::invalid, "tunnel.id is not configured: set it to the tunnel's UUID");
    if (auto taken = already_published(who, *host, project); !taken) return tl::unexpected(taken.error());
    if (auto room = within_quota(project, std::nullopt); !room) return tl::unexpected(room.error());
    auto zone = zone_of(*domain);
    if (!zone) return tl::unexpected(zone.error());
    auto tgt = targets_.select(project, static_cast<uint32_t>(req.port));
    if (!tgt) return tl::unexpected(tgt.error());
    return validated{project, *label, *domain, *host, *zone, *tgt};
}

result<std::string> cname_pipeline::check_target(const session& who, const cname_request& req) {
    std::string shown;
    auto v = validate(who, req, shown);
    json::object out;
    out.set("hostname", shown);
    if (v) {
        if (auto routed = routed_elsewhere(v->host); !routed) v = tl::unexpected(routed.error());
    }
    if (!v) {
        out.set("available", false).set("problem", v.error().message).set("code", errc_name(v.error().code));
        return out.str();
    }
    out.set("hostname", v->host).set("available", true).set("project", v->project).set("port", req.port);
    out.set("ingress_target", v->tgt.service).set("target_type", v->tgt.type).set("container_name", v->tgt.container_name);
    out.set("docker_network", v->tgt.docker_network).set("reason", v->tgt.reason);
    // Does the target answer? Only a hint: the service may simply not be started yet.
    if (v->tgt.probe_address.empty()) {
        out.set_null("reachable");
    } else {
        std::string why = sys::tcp_probe(v->tgt.probe_address, std::chrono::milliseconds(1000));
        out.set("reachable", why.empty()).set("probe", v->tgt.probe_address + (why.empty() ? " accepts connections" : ": " + why));
    }
    return out.str();
}

// What the ingress edit of an add would refuse, said by a dry run: a rule of someone else's for the
// name, or an earlier rule that catches it (cloudflared's first match). Not readable: said at the add.
result<void> cname_pipeline::routed_elsewhere(const std::string& host) {
    if (ingress_ == nullptr) return {};
    auto rules = ingress_->list_rules();
    if (!rules) return {};
    for (const auto& r : *rules) {
        if (!same_folded_host(r.hostname, host)) continue;
        return fail(errc::conflict, "the ingress already routes " + host + " to " + r.service +
                                        (r.path.empty() ? "" : " (path " + r.path + ")") +
                                        "; that rule is not tunnelmgr's to change: remove it by hand or pick another name");
    }
    if (auto caught = first_rule_catching(*rules, host)) return tl::unexpected(shadowed_by((*rules)[*caught], *caught, host));
    return {};
}

result<void> cname_pipeline::already_published(const session& who, const std::string& host, const std::string& project) {
    auto existing = state_.cname_get(host);
    if (existing) {
        if (existing->project == project || who.is_admin()) {
            return fail(errc::conflict, host + " is already published (project '" + existing->project + "', port " +
                                            std::to_string(existing->port) + "): delete it first to point it elsewhere");
        }
        return fail(errc::conflict, host + " is taken by another project: pick another subdomain");
    }
    if (existing.error().code != errc::not_found) return tl::unexpected(existing.error());
    return {};
}

result<void> cname_pipeline::within_quota(const std::string& project, std::optional<int64_t> reserved_by) {
    auto quota = settings_.max_hostnames.find(project);
    if (quota == settings_.max_hostnames.end()) return {};
    const int64_t max = quota->second;
    if (max == 0) {
        return fail(errc::conflict, "project '" + project + "' may publish no hostnames (projects." + project +
                                        ".max_hostnames is 0): ask the operator to raise it");
    }
    auto over_quota = [&](int64_t used, const std::string& in_flight) {
        return fail(errc::conflict, "project '" + project + "' may hold at most " + std::to_string(max) + " hostname" +
                                        (max == 1 ? "" : "s") + " (projects." + project + ".max_hostnames) and holds " +
                                        std::to_string(used) + in_flight +
                                        ": delete one it no longer needs (tunnel_delete_cname), or ask the operator to "
                                        "raise the quota");
    };
    // Names being created for the project by operations begun before this one hold their place. A store
    // of API 1.4 counts them with the rows in one snapshot, every machine's (a shared store); else the
    // journal is read before the held rows, so a create that commits in between is in one list or in
    // both, never in neither.
    if (reserved_by && state_.counts_pending()) {
        json::object f;
        f.set("project", project).set("pending_before", *reserved_by);
        auto used = state_.cname_count(f.str());
        if (!used) return tl::unexpected(used.error());
        if (*used < max) return {};
        return over_quota(*used, " (names being created count)");
    }
    std::set<std::string> pending;
    if (reserved_by) {
        auto list = state_.operation_list_unfinished();
        if (!list) return tl::unexpected(list.error());
        auto doc = json::parse(*list);
        if (!doc || !doc->IsArray()) return fail(errc::error, "the state store returned a malformed operation list");
        for (const auto& item : doc->GetArray()) {
            if (json::str(item, "kind") == "create" && json::str(item, "project") == project &&
                json::i64(item, "id") < *reserved_by) {
                pending.insert(json::str(item, "hostname"));
            }
        }
    }
    json::object f;
    f.set("project", project);
    auto held = state_.cname_count(f.str());
    if (!held) return tl::unexpected(held.error());
    int64_t used = *held + static_cast<int64_t>(pending.size());
    if (used >= max && !pending.empty()) {
        // That sum counts twice a create that committed between the two reads: near the limit, count
        // the names themselves.
        std::set<std::string> names = pending;
        const int64_t page = 1000;
        for (int64_t offset = 0;; offset += page) {
            json::object q;
            q.set("project", project).set("limit", page).set("offset", offset);
            auto rows = state_.cname_list(q.str());
            if (!rows) return tl::unexpected(rows.error());
            auto listed = sdk::model::decode_cname_rows(*rows);
            if (!listed) return fail(errc::error, "the state store listed malformed rows: " + listed.error());
            const size_t before = names.size();
            for (const auto& row : *listed) names.insert(row.hostname);
            // The last page; or a 1.0 store, which ignores limit and offset and returns every row each time.
            if (static_cast<int64_t>(listed->size()) != page || names.size() == before) break;
            if (static_cast<int64_t>(names.size()) >= max) break;
        }
        used = static_cast<int64_t>(names.size());
    }
    if (used < max) return {};
    return over_quota(used, pending.empty() ? "" : " (counting " + std::to_string(pending.size()) + " being created)");
}

result<operation> cname_pipeline::begin_operation(op_kind kind, const std::string& host, const std::string& project,
                                                  const std::string& request_json) {
    json::object begin;
    begin.set("kind", std::string(to_string(kind))).set("hostname", host).set("project", project);
    begin.set_raw("request", request_json);
    // Begun and marked live in one step: the daemon's recovery pass (settle) lists the journal, then
    // asks whether an operation is live; between the two it must never find one of ours half-started
    // and roll it back under the thread running it.
    std::unique_lock<std::mutex> live_lock(live_mutex_);
    auto id = state_.operation_begin(begin.str());
    if (id) live_.insert(*id);  // live_operation, made by the caller next, takes it from here
    live_lock.unlock();
    if (!id) {
        if (id.error().code == errc::conflict) {
            return fail(errc::conflict, "another change to " + host + " is in progress: retry in a few seconds");
        }
        return tl::unexpected(id.error());
    }
    operation o;
    o.id = *id;
    o.kind = kind;
    o.state = op_state::validated;
    o.hostname = host;
    o.project = project;
    o.data.Parse(request_json.c_str());
    return o;
}

result<std::string> cname_pipeline::request_cname(const session& who, const cname_request& req,
                                                  const progress_fn& progress) {
    // --- validation: nothing outside the process is touched until it all passes -------------------
    std::string shown;
    core::step_clock step_clock(*observer_, "create");
    std::string project = req.project.empty() ? who.project : req.project;
    std::string domain_in = req.domain.empty() ? settings_.default_domain : req.domain;
    auto refuse = [&](error e) -> result<std::string> {
        json::object d;
        d.set("port", req.port).set("subdomain", req.subdomain).set("domain", domain_in);
        audit(who, "cname.create", shown, project, e.code == errc::denied ? "denied" : "refused", e.message, d.str());
        return tl::unexpected(std::move(e));
    };
    auto v = validate(who, req, shown);
    if (!v) return refuse(v.error());
    const target& tgt = v->tgt;
    // The ingress first: a file that cannot be edited (missing, broken, read-only, not ours to give
    // back) is refused before a public DNS record exists, not after one was made and removed.
    if (ingress_ != nullptr) {
        if (auto editable = ingress_->check_editable(); !editable) return refuse(editable.error());
    }

    // --- the journal starts: from here on every failure is compensated --------------------------------
    json::object request;
    request.set("subdomain", v->label).set("domain", v->domain).set("zone_id", v->zone).set("port", req.port);
    request.set("service", tgt.service).set("target_type", tgt.type).set("container_name", tgt.container_name);
    request.set("docker_network", tgt.docker_network).set("reason", tgt.reason).set("actor", who.actor());
    request.set("owner", sys::self_identity());
    const std::string origin = req.origin.empty() ? std::string() : req.origin.to_json();
    if (!origin.empty()) request.set("origin_request", origin);
    int64_t expires_at = 0;
    if (req.ttl.count() != 0) {
        // Counted from the request; a slow apply does not lengthen the name's life.
        expires_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                         (std::chrono::system_clock::now() + req.ttl).time_since_epoch()).count();
        request.set("expires_at", expires_at);
    }
    auto o = begin_operation(op_kind::create, v->host, project, request.str());
    if (!o) return refuse(o.error());
    live_operation live(*this, o->id);
    // The name is ours from operation_begin on, but another request may have committed it between
    // validate() and then (its operation was finished, so begin did not conflict): look again, or
    // this request would adopt that one's record and rule and, failing at commit, undo them.
    if (auto taken = already_published(who, v->host, project); !taken) {
        (void)state_.operation_advance(o->id, std::string(to_string(op_state::rolled_back)), "{}");
        return refuse(taken.error());
    }
    // validate() counted held names only; creates racing this one count from here, so a quota holds
    // however many requests arrive at once (and across processes: the count is the store's).
    if (auto room = within_quota(project, o->id); !room) {
        (void)state_.operation_advance(o->id, std::string(to_string(op_state::rolled_back)), "{}");
        return refuse(room.error());
    }
    step_runner steps(*this, step_clock, progress);
    if (auto r = steps.run(*o, 0, true); !r) return create_failed(who, req, *o, r.error());

    json::object out;
    out.set("hostname", v->host).set("url", "https://" + v->host).set("ingress_target", tgt.service);
    out.set("target_type", tgt.type).set("container_name", tgt.container_name).set("docker_network", tgt.docker_network);
    out.set("reason", tgt.reason).set("project", project).set("port", req.port).set("dns_record_id", o->s("record_id"));
    out.set("apply", o->apply_note).set("operation_id", o->id);
    if (expires_at > 0) out.set("expires_at", expires_at);
    if (!origin.empty()) out.set_raw("origin_request", origin);
    set_origin_note(out, req.origin, tgt.service);
    json::object d;
    d.set("port", req.port).set("target", tgt.service).set("target_type", tgt.type).set("operation_id", o->id);
    if (expires_at > 0) d.set("expires_at", expires_at);
    if (!origin.empty()) d.set_raw("origin_request", origin);
    if (!o->backup_error.empty()) d.set("backup_error", o->backup_error);
    audit(who, "cname.create", v->host, project, "ok", "", d.str());
    return out.str();
}

result<std::string> cname_pipeline::create_failed(const session& who, const cname_request& req, const operation& o,
                                                  const step_failure& f) {
    std::string msg = f.cause.message;
    if (f.undo_error) {
        msg += " (and undoing the earlier steps failed: " + f.undo_error->message + "; tunnelmgr retries at its next start)";
    }
    json::object d;
    d.set("port", req.port).set("failed_step", f.step).set("operation_id", o.id);
    audit(who, "cname.create", o.hostname, o.project, "error", msg, d.str());
    return tl::unexpected(error{f.cause.code, msg});
}

result<sdk::model::cname_row> cname_pipeline::cname_to_delete(const session& who, const std::string& hostname) {
    auto row = state_.cname_get(hostname);
    if (!row) {
        if (row.error().code == errc::not_found) {
            return fail(errc::not_found, who.is_admin() ? hostname + " is not managed by tunnelmgr"
                                                        : hostname + " is not among the hostnames of project '" + who.project + "'");
        }
        return tl::unexpected(row.error());
    }
    if (!who.is_admin() && row->project != who.project) {
        // Same answer as for a name that does not exist: a project learns nothing of others' names.
        return fail(errc::not_found, hostname + " is not among the hostnames of project '" + who.project + "'");
    }
    return std::move(*row);
}

result<std::string> cname_pipeline::delete_cname(const session& who, const std::string& hostname_in,
                                                 const progress_fn& progress, const std::string& reason) {
    std::string hostname = sdk::fold_hostname(hostname_in);
    auto refuse = [&](error e, const std::string& project) -> result<std::string> {
        // For a project, a name outside its own is denied whether or not it exists, so its own audit
        // rows tell it no more than the answer does.
        bool denied = e.code == errc::denied || (!who.is_admin() && e.code == errc::not_found);
        audit(who, "cname.delete", hostname, project, denied ? "denied" : "refused", e.message, "{}");
        return tl::unexpected(std::move(e));
    };
    auto row = cname_to_delete(who, hostname);
    if (!row) return refuse(row.error(), who.project);
    std::string project = row->project;
    if (!ours(*row)) {
        auto handed = hand_over_removal(who, *row);
        if (!handed) return refuse(handed.error(), project);
        return handed;
    }
    if (dns_ == nullptr || ingress_ == nullptr) {
        return refuse({errc::invalid, "the dns slot and tunnel.ingress must be configured to delete hostnames"}, project);
    }
    json::object request;
    request.set("zone_id", row->zone_id.value_or("")).set("record_id", row->dns_record_id.value_or(""));
    request.set("service", row->target).set("actor", who.actor()).set("owner", sys::self_identity());
    auto o = begin_operation(op_kind::del, hostname, project, request.str());
    if (!o) return refuse(o.error(), project);
    live_operation live(*this, o->id);
    core::step_clock step_clock(*observer_, "delete");
    step_runner steps(*this, step_clock, progress);
    auto r = steps.run(*o, 0, true);
    json::object d;
    d.set("operation_id", o->id).set("state", std::string(to_string(o->state)));
    if (!reason.empty()) d.set("reason", reason);
    if (!r) {
        audit(who, "cname.delete", hostname, project, "error", r.error().cause.message, d.str());
        return tl::unexpected(r.error().cause);
    }
    audit(who, "cname.delete", hostname, project, "ok", "", d.str());
    json::object out;
    out.set("hostname", o->hostname).set("deleted", true).set("apply", o->apply_note);
    return out.str();
}

result<std::string> cname_pipeline::hand_over_removal(const session& who, const sdk::model::cname_row& row) {
    const std::string& there = *row.machine;
    if (!who.is_admin()) {
        auto spans = settings_.project_machines.find(row.project);
        const bool both = spans != settings_.project_machines.end() && spans->second.count(there) != 0U &&
                          spans->second.count(settings_.machine) != 0U;
        if (!both) {
            return fail(errc::denied, row.hostname + " is served by machine '" + there + "', and project '" + row.project +
                                          "' may change only its names on this machine ('" + settings_.machine +
                                          "'): delete it on '" + there + "', or have the operator list both machines in "
                                          "projects." + row.project + ".machines");
        }
    }
    if (auto keeps = store_keeps("handing a name's removal to its machine"); !keeps) return tl::unexpected(keeps.error());
    // The row's own machine changes its ingress: here the name is only marked to expire now, and that
    // machine's daemon removes it (DNS record, rule, row) at its next expiry pass. A retarget operation
    // holds the name meanwhile; it touches neither DNS nor ingress, so a crash here leaves nothing to undo.
    json::object request;
    request.set("hand_over_to", there).set("actor", who.actor()).set("owner", sys::self_identity());
    auto o = begin_operation(op_kind::retarget, row.hostname, row.project, request.str());
    if (!o) return tl::unexpected(o.error());
    live_operation live(*this, o->id);
    sdk::model::cname_row marked = row;
    marked.expires_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    if (auto committed = state_.operation_commit(o->id, marked); !committed) {
        (void)state_.operation_advance(o->id, "rolled_back", "{}");
        return tl::unexpected(committed.error());
    }
    json::object d;
    d.set("operation_id", o->id).set("handed_to", there);
    audit(who, "cname.delete", row.hostname, row.project, "ok", "", d.str());
    json::object out;
    out.set("hostname", row.hostname).set("deleted", false).set("handed_to", there);
    out.set("apply", "machine '" + there + "' serves " + row.hostname + ": it is marked to go now, and that machine's "
                     "daemon removes its DNS record and rule at its next expiry pass (within 15 s while it runs)");
    return out.str();
}

result<std::chrono::seconds> parse_ttl(std::string_view text) {
    auto bad = [&] {
        return fail(errc::invalid, "ttl '" + std::string(text.substr(0, 40)) + "' is not a duration: write e.g. 30m, 2h, 7d or 1h30m");
    };
    if (text.empty() || text.size() > 32) return bad();
    int64_t total = 0;
    size_t i = 0;
    const bool bare = text.find_first_not_of("0123456789") == std::string_view::npos;
    while (i < text.size()) {
        int64_t n = 0;
        size_t digits = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            n = n * 10 + (text[i++] - '0');
            if (++digits > 9) return bad();
        }
        if (digits == 0) return bad();
        int64_t unit = 1;
        if (!bare) {
            if (i == text.size()) return bad();
            switch (text[i++]) {
                case 's': unit = 1; break;
                case 'm': unit = 60; break;
                case 'h': unit = 3600; break;
                case 'd': unit = 86400; break;
                default: return bad();
            }
        }
        total += n * unit;
        if (total > max_ttl.count() * 2) break;  // already out of range; no overflow
    }
    const std::chrono::seconds ttl(total);
    if (ttl < min_ttl || ttl > max_ttl) {
        return fail(errc::invalid, "ttl '" + std::string(text) + "' is out of range: give from 1m to 365d (e.g. 2h), or "
                                   "no ttl for a name that stays until deleted");
    }
    return ttl;
}

result<std::string> cname_pipeline::retarget_cname(const session& who, const retarget_request& req,
                                                   const progress_fn& progress) {
    const std::string hostname = sdk::fold_hostname(req.hostname);
    std::string project = who.project;
    auto refuse = [&](error e) -> result<std::string> {
        bool denied = e.code == errc::denied || (!who.is_admin() && e.code == errc::not_found);
        json::object d;
        if (req.port != 0) d.set("port", req.port);
        if (!req.target.empty()) d.set("target", req.target);
        audit(who, "cname.retarget", hostname, project, denied ? "denied" : "refused", e.message, d.str());
        return tl::unexpected(std::move(e));
    };
    auto row = cname_to_delete(who, hostname);
    if (!row) return refuse(row.error());
    project = row->project;
    if (!ours(*row)) {
        return refuse({errc::invalid, hostname + " is served by machine '" + *row->machine + "': its ports and rule are "
                                      "that machine's, so retarget it there (this is '" + settings_.machine + "')"});
    }
    if (req.port != 0 && !req.target.empty()) {
        return refuse({errc::invalid, "give either a port (--port) or a target URL (--target), not both"});
    }
    if (req.port == 0 && req.target.empty() && !req.origin) {
        return refuse({errc::invalid, "nothing to change: give a new port (--port N), a target URL (--target URL, admin "
                                      "only) or origin settings (--origin KEY=VALUE)"});
    }
    if (auto keeps = store_keeps("retargeting a name"); !keeps) return refuse(keeps.error());
    if (dns_ == nullptr || ingress_ == nullptr) {
        return refuse({errc::invalid, "the dns slot and tunnel.ingress must be configured to retarget hostnames"});
    }
    // The new target: a port of the project, chosen as for a new name; or the admin's own URL.
    target tgt{row->target, row->target_type.value_or(""), row->container_name.value_or(""),
               row->docker_network.value_or(""), "kept", ""};
    int64_t port = row->port;
    if (req.port != 0) {
        if (auto in_range = port_of_project(project, req.port); !in_range) return refuse(in_range.error());
        auto chosen = targets_.select(project, static_cast<uint32_t>(req.port));
        if (!chosen) return refuse(chosen.error());
        tgt = *chosen;
        port = req.port;
    } else if (!req.target.empty()) {
        if (!who.is_admin()) {
            return refuse({errc::denied, "only the admin may point a name at a target URL; a project retargets by port "
                                         "(--port N, one of its own)"});
        }
        if (auto bad = check_service(req.target); !bad.empty()) return refuse({errc::invalid, "the target " + bad});
        tgt = target{req.target, "url", "", "", "the admin's target", ""};
    }
    const std::string old_origin = row->origin_request.value_or("");
    const std::string origin = req.origin ? (req.origin->empty() ? std::string() : req.origin->to_json()) : old_origin;
    const bool same = tgt.service == row->target && origin == old_origin;

    json::object out;
    out.set("hostname", hostname).set("previous_target", row->target).set("ingress_target", tgt.service);
    out.set("target_type", tgt.type).set("container_name", tgt.container_name).set("docker_network", tgt.docker_network);
    out.set("port", port).set("project", project);
    if (!origin.empty()) {
        out.set_raw("origin_request", origin);
    } else {
        out.set_null("origin_request");
    }
    set_origin_note(out, req.origin.value_or(origin_settings{}), tgt.service);
    if (same) {
        out.set("changed", false).set("apply", "nothing to change: " + hostname + " already goes to " + tgt.service);
        return out.str();
    }

    json::object request;
    request.set("subdomain", row->subdomain).set("domain", row->domain).set("zone_id", row->zone_id.value_or(""));
    request.set("record_id", row->dns_record_id.value_or("")).set("port", port).set("service", tgt.service);
    request.set("target_type", tgt.type).set("container_name", tgt.container_name).set("docker_network", tgt.docker_network);
    request.set("origin_request", origin).set("previous_service", row->target).set("previous_origin_request", old_origin);
    if (row->expires_at) request.set("expires_at", *row->expires_at);
    request.set("actor", who.actor()).set("owner", sys::self_identity());
    auto o = begin_operation(op_kind::retarget, hostname, project, request.str());
    if (!o) return refuse(o.error());
    live_operation live(*this, o->id);
    core::step_clock step_clock(*observer_, "retarget");
    step_runner steps(*this, step_clock, progress);
    json::object d;
    d.set("from", row->target).set("to", tgt.service).set("port", port).set("operation_id", o->id);
    if (origin != old_origin) d.set("origin_request", origin.empty() ? std::string("none") : origin);
    if (auto r = steps.run(*o, 0, true); !r) {
        std::string msg = r.error().cause.message;
        if (r.error().undo_error) {
            msg += " (and putting back " + row->target + " failed: " + r.error().undo_error->message +
                   "; tunnelmgr retries at its next start)";
        } else {
            msg += " — " + hostname + " still goes to " + row->target;
        }
        d.set("failed_step", r.error().step);
        audit(who, "cname.retarget", hostname, project, "error", msg, d.str());
        return tl::unexpected(error{r.error().cause.code, msg});
    }
    if (!o->backup_error.empty()) d.set("backup_error", o->backup_error);
    audit(who, "cname.retarget", hostname, project, "ok", "", d.str());
    out.set("changed", true).set("apply", o->apply_note).set("operation_id", o->id);
    return out.str();
}

result<int> cname_pipeline::remove_expired(int64_t now_ms, int64_t limit) {
    if (!state_.keeps_row_extras()) return 0;
    // Due names of other machines (a shared state) are theirs to remove: page past them, so that many
    // of theirs (a machine whose daemon is down) never hide this machine's own.
    std::vector<sdk::model::cname_row> due;
    for (int64_t offset = 0; static_cast<int64_t>(due.size()) < limit && offset < 100 * limit; offset += limit) {
        json::object f;
        f.set("expires_before", now_ms).set("limit", limit).set("offset", offset);
        auto rows = state_.cname_list(f.str());
        if (!rows) return tl::unexpected(rows.error());
        auto listed = sdk::model::decode_cname_rows(*rows);
        if (!listed) return fail(errc::error, "the state store listed malformed rows: " + listed.error());
        for (auto& row : *listed) {
            if (ours(row)) due.push_back(std::move(row));
        }
        if (static_cast<int64_t>(listed->size()) != limit) break;  // the last page (or a store that does not page)
    }
    int removed = 0, failed = 0;
    const session expiry = session::admin_session("expiry");
    for (const auto& row : due) {
        if (!row.expires_at || *row.expires_at > now_ms) continue;  // a store that ignored the filter
        auto gone = delete_cname(expiry, row.hostname, {}, "expired");
        if (gone) {
            ++removed;
            log::info("expiry", row.hostname + " (project " + row.project + ") expired and was removed");
        } else {
            ++failed;
            log::warn("expiry", row.hostname + " expired but could not be removed yet: " + gone.error().message);
        }
    }
    observer_->expiry_pass(removed, failed);
    return removed;
}

namespace {
// The lease a recovery pass holds while it settles operations, and for how long each renewal.
constexpr const char* recovery_lease = "recovery";
constexpr int64_t recovery_lease_ms = 120000;
}  // namespace

result<int> cname_pipeline::recover() {
    // Two reads of the journal. The first finds the operations nobody runs any more: the owner is
    // dead, or it is this process and no thread of it holds the operation. The second, made after
    // that, gives their state: an owner that finished and exited (or a thread that finished) between
    // the first read and the check left the first read's state stale, and settling that would undo
    // a change its caller was told is done.
    auto read = [this]() -> result<std::vector<operation>> {
        auto list = state_.operation_list_unfinished();
        if (!list) return tl::unexpected(list.error());
        auto doc = json::parse(*list);
        if (!doc || !doc->IsArray()) return fail(errc::error, "the state store returned a malformed operation list");
        std::vector<operation> ops;
        for (const auto& item : doc->GetArray()) {
            auto o = operation_from_journal(item);
            if (!o) {
                log::error("recovery", o.error().message);
                continue;
            }
            ops.push_back(std::move(*o));
        }
        return ops;
    };
    // Two passes must not settle one operation: the later one, working from what it read, could undo
    // what a new change of the same name has done since. A thread of this process that finds a pass
    // running leaves it to that one; another process is kept out by the lease (renewed per operation).
    std::unique_lock<std::mutex> one_pass(recover_mutex_, std::try_to_lock);
    if (!one_pass.owns_lock()) return 0;
    auto first = read();
    if (!first) return tl::unexpected(first.error());
    std::set<int64_t> unowned;
    for (const auto& o : *first) {
        if (!running_elsewhere(o)) unowned.insert(o.id);
    }
    if (unowned.empty()) return 0;
    const std::string me = sys::self_identity();
    auto hold = [&]() -> result<bool> { return state_.lease_acquire(recovery_lease, me, recovery_lease_ms); };
    auto held = hold();
    if (!held) return tl::unexpected(held.error());
    if (!*held) {
        log::info("recovery", std::to_string(unowned.size()) +
                                  " unfinished operation(s) are being settled by another tunnelmgr process");
        return 0;
    }
    auto now = read();
    int settled = 0;
    if (now) {
        for (auto& o : *now) {
            if (unowned.count(o.id) == 0U) continue;
            if (held = hold(); !held || !*held) break;  // lost it (a settle outlasted the lease): stop here
            if (settle(o)) ++settled;
        }
    }
    (void)state_.lease_release(recovery_lease, me);
    if (!now) return tl::unexpected(now.error());
    return settled;
}

bool cname_pipeline::running_elsewhere(const operation& o) {
    // Another tunnelmgr process may be working on it right now: only a dead owner's work is ours.
    std::string owner = o.s("owner");
    if (!owner.empty() && owner != sys::self_identity() && sys::identity_alive(owner)) return true;
    std::lock_guard<std::mutex> l(live_mutex_);
    return live_.count(o.id) != 0U;  // ours, and running on another thread right now
}

// Whether what a create's or retarget's commit would record is live: the rule routes the name to the
// operation's service and (create) the DNS record is there, ours and pointing at this tunnel.
result<bool> cname_pipeline::still_in_place(const operation& o) {
    auto rules = ingress_->list_rules();
    if (!rules) return tl::unexpected(rules.error());
    bool routed = false;
    for (const auto& r : *rules) {
        if (r.path.empty() && sdk::fold_hostname(r.hostname) == o.hostname) {
            routed = r.service == o.s("service");
            break;
        }
    }
    if (!routed || o.kind != op_kind::create) return routed;
    auto found = dns_->find_record(o.s("zone_id"), o.hostname, "CNAME");
    if (!found) {
        if (found.error().code == errc::not_found) return false;
        return tl::unexpected(found.error());
    }
    auto rec = json::parse(*found);
    return rec && json::str(*rec, "comment") == ownership_marker(o.project) &&
           json::str(*rec, "content") == settings_.tunnel_id + ".cfargotunnel.com";
}

bool cname_pipeline::settle(operation& o) {
    if (running_elsewhere(o)) return false;  // recover() checked already; an owner cannot come back
    std::string id = std::to_string(o.id);
    if (dns_ == nullptr || ingress_ == nullptr) {
        log::warn("recovery", "operation " + id + " on " + o.hostname +
                                  " is unfinished but the dns slot or tunnel.ingress is not configured; left as it is");
        return false;
    }
    auto done = position_of(o.kind, o.state);
    if (!done || *done + 1 >= steps_of(o.kind).size()) return false;  // finished already
    op_state from = o.state;
    step_clock untimed(no_observer(), std::string(to_string(o.kind)));  // a recovery's steps are not timed
    step_runner steps(*this, untimed, {});
    bool finish = steps_of(o.kind)[*done + 1].after_crash_finish;
    if (finish && o.kind != op_kind::del) {
        // Commit only what is still live: a process that undid the rule and record but could not
        // journal `rolled_back` (the store went away) left a journal that says more than the world.
        auto live_now = still_in_place(o);
        if (!live_now) {
            log::error("recovery", "cannot check operation " + id + " on " + o.hostname + " before committing it: " +
                                       live_now.error().message + " (retried at the next start)");
            return false;
        }
        if (!*live_now) {
            log::warn("recovery", "operation " + id + " on " + o.hostname + " was " + std::string(to_string(o.state)) +
                                      " but its ingress rule or DNS record is gone (a roll back that could not be "
                                      "journaled): rolling it back instead of committing it");
            finish = false;
        }
    }
    if (finish) {
        if (auto r = steps.run(o, *done + 1, false); !r) {
            log::error("recovery", (o.kind != op_kind::del ? "cannot commit operation " + id
                                                           : "cannot finish deleting " + o.hostname) +
                                       ": " + r.error().cause.message);
            return false;
        }
    } else if (auto r = steps.roll_back(o, false, true); !r) {
        log::error("recovery", "cannot roll back operation " + id + " on " + o.hostname + ": " + r.error().message +
                                   " (retried at the next start)");
        return false;
    }
    std::string kind(to_string(o.kind)), from_s(to_string(from)), to_s(to_string(o.state));
    json::object d;
    d.set("operation_id", o.id).set("kind", kind).set("from_state", from_s).set("to_state", to_s);
    audit(session::admin_session("recovery"), "cname.recover", o.hostname, o.project, "ok", "", d.str());
    log::info("recovery", "operation " + id + " (" + kind + " " + o.hostname + ") " + from_s + " -> " + to_s);
    return true;
}

}  // namespace tunnelmgr::core
