// See batched_ingress.hpp. The first change of a batch leads it: it waits out the delay, runs the one
// apply() with no lock held, and hands the answer to every member. A change that arrives while an
// apply runs starts the next batch: its rule may not be in the file that apply read.
#include "core/batched_ingress.hpp"

#include "log/logger.hpp"

namespace tunnelmgr::core {
namespace {
thread_local apply_notice_fn current_notice;
}

apply_notice_scope::apply_notice_scope(apply_notice_fn fn) : previous_(std::move(current_notice)) {
    current_notice = std::move(fn);
}
apply_notice_scope::~apply_notice_scope() { current_notice = std::move(previous_); }
void apply_notice_scope::notice(const std::string& text) {
    if (current_notice) current_notice(text);
}

batched_ingress::batched_ingress(std::unique_ptr<ingress_strategy> inner, std::chrono::milliseconds delay,
                                 one_writer* writer)
    : inner_(std::move(inner)), delay_(delay), writer_(writer) {}

int batched_ingress::applies() const {
    std::lock_guard<std::mutex> lock(m_);
    return applies_;
}
int batched_ingress::changes() const {
    std::lock_guard<std::mutex> lock(m_);
    return changes_;
}

result<std::string> batched_ingress::apply() {
    if (delay_.count() <= 0) {
        auto r = inner_->apply();
        std::lock_guard<std::mutex> lock(m_);
        ++applies_;
        ++changes_;
        return r;
    }
    auto wait_for_batch = [this]() -> std::pair<result<std::string>, int> {
        std::unique_lock<std::mutex> lock(m_);
        bool leader = false;
        if (!open_ || open_->running) {
            open_ = std::make_shared<batch>();
            open_->deadline = std::chrono::steady_clock::now() + delay_;
            leader = true;
        }
        auto b = open_;
        ++b->members;
        ++changes_;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(b->deadline - std::chrono::steady_clock::now());
        lock.unlock();
        apply_notice_scope::notice("waiting for the batch: applied with the changes of the next " +
                                   std::to_string(std::max<int64_t>(left.count(), 0)) + " ms (tunnel.apply_delay)");
        lock.lock();
        if (leader) {
            cv_.wait_until(lock, b->deadline, [] { return false; });
            b->running = true;
            const int members = b->members;
            lock.unlock();
            auto answer = inner_->apply();
            lock.lock();
            ++applies_;
            b->answer = answer;
            b->done = true;
            cv_.notify_all();
            if (members > 1) log::info("ingress", std::to_string(members) + " changes applied together");
            return {answer, members};
        }
        cv_.wait(lock, [&b] { return b->done; });
        return {b->answer, b->members};
    };
    auto [answer, members] = writer_ != nullptr ? writer_->released_while(wait_for_batch) : wait_for_batch();
    if (!answer || members <= 1) return answer;
    return *answer + " (" + std::to_string(members) + " changes applied together)";
}

}  // namespace tunnelmgr::core
