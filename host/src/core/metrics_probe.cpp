// See metrics_probe.hpp.
#include "core/metrics_probe.hpp"

#include "core/json.hpp"
#include "sys/http.hpp"

namespace tunnelmgr::core {

result<int> metrics_probe::ready_connections() {
    auto r = sys::http_get("http://" + address_ + "/ready", std::chrono::seconds(3));
    if (!r) return tl::unexpected(r.error());
    auto doc = json::parse(r->body);
    int n = doc ? static_cast<int>(json::i64(*doc, "readyConnections")) : 0;
    if (r->status == 200) return n;
    if (r->status == 503) return 0;
    return fail(errc::error, "cloudflared's metrics server at " + address_ + " answered /ready with HTTP " +
                                 std::to_string(r->status) + ": is tunnel.metrics the address given to --metrics?");
}

}  // namespace tunnelmgr::core
