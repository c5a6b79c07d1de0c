// Coalesced applies (tunnel.apply_delay): an ingress strategy whose apply() waits up to `delay` for
// the changes that arrive meanwhile and then applies them all at once — with a local ingress, one
// restart of cloudflared for the batch instead of one per change. Each caller returns when the batch
// its change is in has been applied, with that apply's answer (or error: then each rolls back its
// own change, as without batching). While waiting, a caller lets go of the one-writer lock so the
// next change can write its rule into the same batch. add/remove/list/check go straight through.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/ingress_strategy.hpp"
#include "core/one_writer.hpp"

namespace tunnelmgr::core {

// What a change waiting for its batch is told (the pipeline turns it into a progress step), set for
// the calling thread by apply_notice_scope.
using apply_notice_fn = std::function<void(const std::string&)>;
class apply_notice_scope {
public:
    explicit apply_notice_scope(apply_notice_fn fn);
    ~apply_notice_scope();
    apply_notice_scope(const apply_notice_scope&) = delete;
    apply_notice_scope& operator=(const apply_notice_scope&) = delete;
    static void notice(const std::string& text);  // to this thread's scope, if any

private:
    apply_notice_fn previous_;
};

class batched_ingress final : public ingress_strategy {
public:
    // writer may be null (nothing to release while waiting).
    batched_ingress(std::unique_ptr<ingress_strategy> inner, std::chrono::milliseconds delay, one_writer* writer);

    using ingress_strategy::add;
    result<bool> add(const std::string& hostname, const rule_target& to, const std::string& why) override {
        return inner_->add(hostname, to, why);
    }
    result<rule_target> replace(const std::string& hostname, const rule_target& to, const std::string& why) override {
        return inner_->replace(hostname, to, why);
    }
    result<std::optional<std::string>> remove(const std::string& hostname, const std::string& why) override {
        return inner_->remove(hostname, why);
    }
    result<std::string> apply() override;
    std::string take_backup_error() override { return inner_->take_backup_error(); }
    void write_history_after_reply() override { inner_->write_history_after_reply(); }
    std::string flush_history() override { return inner_->flush_history(); }
    result<void> check_editable() override { return inner_->check_editable(); }
    result<std::vector<ingress_rule>> list_rules() override { return inner_->list_rules(); }

    // Applies done and changes they carried, for tests and figures.
    int applies() const;
    int changes() const;

private:
    struct batch {
        std::chrono::steady_clock::time_point deadline;
        int members = 0;
        bool running = false, done = false;
        result<std::string> answer = std::string();
    };

    std::unique_ptr<ingress_strategy> inner_;
    std::chrono::milliseconds delay_;
    one_writer* writer_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::shared_ptr<batch> open_;  // the batch new changes join; null or running: start another
    int applies_ = 0, changes_ = 0;
};

}  // namespace tunnelmgr::core
