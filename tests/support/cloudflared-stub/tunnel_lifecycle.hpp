// The stub's one piece of state: how many edge connections it pretends to hold, whether it is
// draining, and the waits of `tunnel run` (connect after a delay, run until a stop signal).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace tunnelmgr::stubs::cloudflared {

class tunnel_lifecycle {
 public:
  using clock = std::chrono::steady_clock;

  // on_first_connected runs once, on the first connect, where cloudflared writes its pidfile
  // and sends READY=1 to systemd.
  tunnel_lifecycle(int ha_connections, std::function<void()> on_first_connected);

  // A manual switch (control endpoint, SIGUSR1/SIGUSR2) cancels the pending automatic connect.
  // Refused (false) once draining: a stopping cloudflared never reconnects.
  bool set_connected(bool connected, const std::string& cause);

  void request_shutdown(const std::string& cause);

  // Blocks until request_shutdown; connects on its own at auto_connect_at if given.
  // Returns the shutdown cause.
  std::string run_until_shutdown(std::optional<clock::time_point> auto_connect_at);

  // Drops every connection for good: /ready turns 503 for the rest of the process's life.
  void begin_drain();

  int ready_connections() const;
  bool draining() const;

 private:
  void apply_connected_locked(bool connected, const std::string& cause);

  const int ha_connections_;
  std::function<void()> on_first_connected_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool connected_ = false;
  bool ever_connected_ = false;
  bool auto_connect_pending_ = true;
  bool draining_ = false;
  std::optional<std::string> shutdown_cause_;
};

// One zerolog-style line on stderr ("2024-06-01T10:00:00Z INF message"), as cloudflared logs.
void log_line(const char* level, const std::string& message);

}  // namespace tunnelmgr::stubs::cloudflared
