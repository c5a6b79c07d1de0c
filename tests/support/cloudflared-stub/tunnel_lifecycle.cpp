#include "tunnel_lifecycle.hpp"

#include <cstdio>
#include <ctime>

namespace tunnelmgr::stubs::cloudflared {

void log_line(const char* level, const std::string& message) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  // One fprintf per line keeps lines whole when several threads log.
  std::fprintf(stderr, "%s %s %s\n", stamp, level, message.c_str());
  std::fflush(stderr);
}

tunnel_lifecycle::tunnel_lifecycle(int ha_connections, std::function<void()> on_first_connected)
    : ha_connections_(ha_connections), on_first_connected_(std::move(on_first_connected)) {}

void tunnel_lifecycle::apply_connected_locked(bool connected, const std::string& cause) {
  if (connected == connected_) return;
  connected_ = connected;
  for (int index = 0; index < ha_connections_; ++index) {
    log_line("INF", std::string(connected ? "Registered" : "Unregistered") + " tunnel connection connIndex=" +
                        std::to_string(index) + " location=stub protocol=quic cause=" + cause);
  }
  if (connected && !ever_connected_) {
    ever_connected_ = true;
    if (on_first_connected_) on_first_connected_();
  }
  changed_.notify_all();
}

bool tunnel_lifecycle::set_connected(bool connected, const std::string& cause) {
  std::lock_guard lock(mutex_);
  if (draining_) return false;
  auto_connect_pending_ = false;
  apply_connected_locked(connected, cause);
  return true;
}

void tunnel_lifecycle::request_shutdown(const std::string& cause) {
  std::lock_guard lock(mutex_);
  if (!shutdown_cause_) shutdown_cause_ = cause;
  changed_.notify_all();
}

std::string tunnel_lifecycle::run_until_shutdown(std::optional<clock::time_point> auto_connect_at) {
  std::unique_lock lock(mutex_);
  if (!auto_connect_at) auto_connect_pending_ = false;
  while (!shutdown_cause_) {
    if (auto_connect_pending_) {
      if (clock::now() >= *auto_connect_at) {
        auto_connect_pending_ = false;
        apply_connected_locked(true, "edge-connected");
        continue;
      }
      changed_.wait_until(lock, *auto_connect_at);
    } else {
      changed_.wait(lock);
    }
  }
  return *shutdown_cause_;
}

void tunnel_lifecycle::begin_drain() {
  std::lock_guard lock(mutex_);
  draining_ = true;
  auto_connect_pending_ = false;
  apply_connected_locked(false, "graceful-shutdown");
}

int tunnel_lifecycle::ready_connections() const {
  std::lock_guard lock(mutex_);
  return connected_ && !draining_ ? ha_connections_ : 0;
}

bool tunnel_lifecycle::draining() const {
  std::lock_guard lock(mutex_);
  return draining_;
}

}  // namespace tunnelmgr::stubs::cloudflared
