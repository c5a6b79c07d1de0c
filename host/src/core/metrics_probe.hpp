// cloudflared's readiness as its metrics server reports it: GET http://ADDR/ready answers 200 with
// {"status":200,"readyConnections":N,"connectorId":"<uuid>"} when N > 0, 503 otherwise. The
// connectorId is drawn afresh by each cloudflared process, so it tells a restarted one from the old.
#pragma once

#include <string>

#include "core/ingress_strategy.hpp"

namespace tunnelmgr::core {

class metrics_probe final : public ready_probe {
public:
    explicit metrics_probe(std::string address) : address_(std::move(address)) {}
    result<int> ready_connections() override;
    result<ready_answer> ready() override;
    const std::string& address() const { return address_; }

private:
    std::string address_;
};

}  // namespace tunnelmgr::core
