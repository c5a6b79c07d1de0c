#include "metrics_server.hpp"

#include <httplib.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace tunnelmgr::stubs::cloudflared {
namespace {

// httplib's default sets SO_REUSEPORT, which would let two stubs share one port; cloudflared
// (Go) sets only SO_REUSEADDR, so a second process on a pinned port fails to start.
void reuse_address_only(socket_t sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

struct host_port {
  std::string host;
  int port = 0;
};

tl::expected<host_port, std::string> split_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return tl::unexpected("address " + address + ": missing port in address");
  host_port out;
  out.host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
    return tl::unexpected("address " + address + ": invalid port");
  }
  out.port = std::stoi(port);
  if (out.port > 65535) return tl::unexpected("address " + address + ": invalid port");
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) out.host = "0.0.0.0";
  return out;
}

std::string join_address(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

metrics_server::metrics_server(tunnel_lifecycle& lifecycle, stub_identity identity)
    : lifecycle_(lifecycle), identity_(std::move(identity)), server_(std::make_unique<httplib::Server>()) {
  server_->set_socket_options(reuse_address_only);
  install_routes();
}

metrics_server::~metrics_server() {
  stop();
}

tl::expected<std::string, std::string> metrics_server::bind(const std::string& address) {
  if (address.empty()) {
    for (int port = 20241; port <= 20245; ++port) {
      if (server_->bind_to_port("127.0.0.1", port)) return bound_address_ = join_address("127.0.0.1", port);
    }
    const int port = server_->bind_to_any_port("127.0.0.1");
    if (port <= 0) return tl::unexpected(std::string("could not bind any port on 127.0.0.1"));
    return bound_address_ = join_address("127.0.0.1", port);
  }
  auto parsed = split_address(address);
  if (!parsed) return tl::unexpected(parsed.error());
  if (parsed->port == 0) {
    const int port = server_->bind_to_any_port(parsed->host);
    if (port <= 0) return tl::unexpected("listen tcp " + address + ": bind failed");
    return bound_address_ = join_address(parsed->host, port);
  }
  if (!server_->bind_to_port(parsed->host, parsed->port)) {
    return tl::unexpected("listen tcp " + address + ": bind: address already in use or not available");
  }
  return bound_address_ = join_address(parsed->host, parsed->port);
}

void metrics_server::install_routes() {
  server_->Get("/ready", [this](const httplib::Request&, httplib::Response& response) {
    const int connections = lifecycle_.ready_connections();
    const int status = connections > 0 ? 200 : 503;
    response.status = status;
    // Go's encoding/json order and spelling; no Content-Type is set upstream, so it sniffs to
    // text/plain.
    response.set_content("{\"status\":" + std::to_string(status) +
                             ",\"readyConnections\":" + std::to_string(connections) + ",\"connectorId\":\"" +
                             identity_.connector_id + "\"}",
                         "text/plain; charset=utf-8");
  });

  server_->Get("/healthcheck", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("OK\n", "text/plain; charset=utf-8");
  });

  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    const int connections = lifecycle_.ready_connections();
    std::string body;
    body += "# HELP build_info Build and version information\n";
    body += "# TYPE build_info gauge\n";
    body += "build_info{goversion=\"stub\",revision=\"cloudflared-stub\",type=\"stub\",version=\"" +
            identity_.version + "\"} 1\n";
    body += "# HELP cloudflared_tunnel_ha_connections Number of active ha connections\n";
    body += "# TYPE cloudflared_tunnel_ha_connections gauge\n";
    body += "cloudflared_tunnel_ha_connections " + std::to_string(connections) + "\n";
    body += "# HELP cloudflared_tunnel_request_errors Count of error proxying to origin\n";
    body += "# TYPE cloudflared_tunnel_request_errors counter\n";
    body += "cloudflared_tunnel_request_errors 0\n";
    body += "# HELP cloudflared_tunnel_total_requests Amount of requests proxied through all the tunnels\n";
    body += "# TYPE cloudflared_tunnel_total_requests counter\n";
    body += "cloudflared_tunnel_total_requests 0\n";
    response.set_content(body, "text/plain; version=0.0.4; charset=utf-8");
  });

  // Stub only: body "1" connects (ready), "0" disconnects (503). 409 once draining.
  server_->Post("/__stub/ready", [this](const httplib::Request& request, httplib::Response& response) {
    std::string body = request.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' '))
      body.pop_back();
    if (body != "0" && body != "1") {
      response.status = 400;
      response.set_content("{\"error\":\"body must be 0 (unready) or 1 (ready)\"}", "application/json");
      return;
    }
    if (!lifecycle_.set_connected(body == "1", "control-endpoint")) {
      response.status = 409;
      response.set_content("{\"error\":\"draining: a stopping tunnel does not reconnect\"}",
                           "application/json");
      return;
    }
    response.set_content("{\"readyConnections\":" + std::to_string(lifecycle_.ready_connections()) + "}",
                         "application/json");
  });

  server_->Get("/__stub/config", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(identity_.config_json, "application/json");
  });

  server_->Get("/__stub/info", [this](const httplib::Request&, httplib::Response& response) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
    out.StartObject();
    out.Key("pid");
    out.Int64(static_cast<long long>(::getpid()));
    out.Key("startedAtUnixMs");
    out.Int64(identity_.started_at_unix_ms);
    out.Key("configPath");
    out.String(identity_.config_path.c_str());
    out.Key("tunnel");
    out.String(identity_.tunnel.c_str());
    out.Key("metricsAddress");
    out.String(bound_address_.c_str());
    out.Key("connectorId");
    out.String(identity_.connector_id.c_str());
    out.Key("version");
    out.String(identity_.version.c_str());
    out.Key("readyConnections");
    out.Int(lifecycle_.ready_connections());
    out.Key("draining");
    out.Bool(lifecycle_.draining());
    out.Key("gracePeriodMs");
    out.Int64(identity_.grace_period_ms);
    out.Key("readyDelayMs");
    out.Int64(identity_.ready_delay_ms);
    out.EndObject();
    response.set_content(buffer.GetString(), "application/json");
  });
}

void metrics_server::start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void metrics_server::stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() is a no-op until listen has begun; a stop right after start must wait.
  for (int attempt = 0; attempt < 500 && !server_->is_running(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  server_->stop();
  thread_.join();
}

}  // namespace tunnelmgr::stubs::cloudflared
