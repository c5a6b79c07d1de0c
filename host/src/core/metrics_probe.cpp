// See metrics_probe.hpp.
#include "core/metrics_probe.hpp"

#include "core/json.hpp"
#include "sys/http.hpp"

namespace tunnelmgr::core {

result<ready_answer> metrics_probe::ready() {
    auto r = sys::http_get("http://" + address_ + "/ready", std::chrono::seconds(3));
    if (!r) return tl::unexpected(r.error());
    if (r->status != 200 && r->status != 503) {
        return fail(errc::error, "cloudflared's metrics server at " + address_ + " answered /ready with HTTP " +
                                     std::to_string(r->status) + ": is tunnel.metrics the address given to --metrics?");
    }
    ready_answer out;
    if (auto doc = json::parse(r->body); doc && doc->IsObject()) {
        if (r->status == 200) out.connections = static_cast<int>(json::i64(*doc, "readyConnections"));
        out.connector_id = json::str(*doc, "connectorId");
    }
    return out;
}

result<int> metrics_probe::ready_connections() {
    auto r = ready();
    if (!r) return tl::unexpected(r.error());
    return r->connections;
}

}  // namespace tunnelmgr::core
