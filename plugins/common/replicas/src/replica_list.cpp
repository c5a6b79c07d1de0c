#include "replica_list.hpp"

#include <cctype>
#include <charconv>
#include <set>

namespace tunnelmgr::plugins::replicas {
namespace {

bool is_host_name(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    for (unsigned char c : host) {
        if (!std::isalnum(c) && c != '-' && c != '.' && c != '_') return false;
    }
    return host.front() != '-' && host.front() != '.';
}

bool is_bracketed_ipv6(std::string_view host) {
    if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
    std::string_view inner = host.substr(1, host.size() - 2);
    if (inner.find(':') == std::string_view::npos) return false;
    for (unsigned char c : inner) {
        if (!std::isxdigit(c) && c != ':' && c != '.') return false;
    }
    return true;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

bool is_metrics_address(std::string_view address) {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    std::string_view host = address.substr(0, colon);
    std::string_view port = address.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) return false;
    return host.front() == '[' ? is_bracketed_ipv6(host) : is_host_name(host);
}

tl::expected<std::vector<replica_ref>, std::string> parse_replica_list(const rapidjson::Value& list,
                                                                       const list_spec& spec) {
    const std::string example = "[{" + spec.name_key + ": NAME, metrics: \"127.0.0.1:20241\"}, ...]";
    if (!list.IsArray() || list.Empty()) {
        return tl::unexpected(spec.setting + " must be a list of one or more replicas, " + example);
    }
    std::vector<replica_ref> out;
    std::set<std::string, std::less<>> names, addresses;
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
        const std::string at = spec.setting + "[" + std::to_string(i) + "]";
        const auto& entry = list[i];
        if (!entry.IsObject()) {
            return tl::unexpected(at + " must be a mapping {" + spec.name_key + ": NAME, metrics: \"HOST:PORT\"}; the list is " +
                                  example);
        }
        replica_ref replica;
        bool named = false;
        for (const auto& m : entry.GetObject()) {
            const std::string_view key(m.name.GetString(), m.name.GetStringLength());
            if (key == spec.name_key) {
                if (!m.value.IsString() || !spec.valid_name(std::string_view(m.value.GetString(), m.value.GetStringLength()))) {
                    return tl::unexpected(at + "." + spec.name_key + " must be " + spec.name_rule);
                }
                replica.name.assign(m.value.GetString(), m.value.GetStringLength());
                named = true;
            } else if (key == "metrics") {
                if (!m.value.IsString() || !is_metrics_address(std::string_view(m.value.GetString(), m.value.GetStringLength()))) {
                    return tl::unexpected(at + ".metrics must be the replica's metrics address HOST:PORT, as its cloudflared "
                                               "runs with --metrics, e.g. \"127.0.0.1:20241\"");
                }
                replica.metrics.assign(m.value.GetString(), m.value.GetStringLength());
            } else {
                return tl::unexpected(at + "." + std::string(key) + " is not a setting of a replica (known: " + spec.name_key +
                                      ", metrics)");
            }
        }
        if (!named) return tl::unexpected(at + " names no " + spec.name_key + ": add " + spec.name_key + ": NAME");
        if (!names.insert(replica.name).second) {
            return tl::unexpected(at + " names " + quoted(replica.name) + " a second time: list each replica once");
        }
        if (!replica.metrics.empty() && !addresses.insert(replica.metrics).second) {
            return tl::unexpected(at + ".metrics " + quoted(replica.metrics) +
                                  " is another replica's too: each cloudflared needs a metrics address of its own");
        }
        out.push_back(std::move(replica));
    }
    if (out.size() > 1) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (out[i].metrics.empty()) {
                return tl::unexpected(spec.setting + "[" + std::to_string(i) + "] (" + out[i].name +
                                      ") has no metrics address: with several replicas each needs its own, as its "
                                      "cloudflared runs with --metrics (e.g. metrics: \"127.0.0.1:2024" +
                                      std::to_string(i + 1) + "\"), so tunnelmgr can tell when that one is ready");
            }
        }
    }
    return out;
}

}  // namespace tunnelmgr::plugins::replicas
