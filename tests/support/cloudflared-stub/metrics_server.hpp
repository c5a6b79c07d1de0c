// cloudflared's metrics server (/ready, /healthcheck, /metrics) plus the stub-only /__stub/*
// control endpoints that tests use to flip readiness and to see which config was loaded.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <tl/expected.hpp>

#include "tunnel_lifecycle.hpp"

namespace httplib {
class Server;
}

namespace tunnelmgr::stubs::cloudflared {

struct stub_identity {
  std::string connector_id;  // a UUID, fixed for the life of the process
  std::string version;
  std::string config_path;
  std::string tunnel;
  std::string config_json;  // the body of GET /__stub/config
  long long started_at_unix_ms = 0;
  long long grace_period_ms = 0;
  long long ready_delay_ms = 0;
};

class metrics_server {
 public:
  metrics_server(tunnel_lifecycle& lifecycle, stub_identity identity);
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  // "127.0.0.1:20241", "[::1]:20241", "localhost:0", ":20241". An empty address does what an
  // unpinned cloudflared does: the first free port of 20241-20245 on 127.0.0.1, else any port.
  // Returns the address actually bound.
  tl::expected<std::string, std::string> bind(const std::string& address);

  void start();  // serves on a background thread
  void stop();   // idempotent; joins the thread

 private:
  void install_routes();

  tunnel_lifecycle& lifecycle_;
  stub_identity identity_;
  std::string bound_address_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace tunnelmgr::stubs::cloudflared
