// Internals shared by the fake's server pipeline (cloudflare_fake.cpp), its v4 routes
// (api_routes.cpp) and its /__fake control routes (control_routes.cpp).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "cloudflare_fake.hpp"
#include "fake_store.hpp"
#include "fault_plan.hpp"

namespace tunnelmgr::testing {

struct api_response {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct cloudflare_fake::impl {
  explicit impl(options o) : opts(std::move(o)), store(opts.account_id) {}

  options opts;
  mutable std::mutex mu;  // guards everything below except the server objects
  detail::fake_store store;
  std::map<std::string, token_access> tokens;
  std::vector<std::string> start_zone_ids;
  detail::fault_plan faults;
  std::vector<tunnel_race> races;
  detail::request_budget budget;
  std::vector<request_record> log;
  std::string last_authorization;

  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;
  bool stopping = false;  // under mu; wakes delayed requests
  std::condition_variable stop_cv;

  void handle(const httplib::Request& req, httplib::Response& res);
  void reset_locked();
  std::string state_json_locked() const;
};

namespace detail {

// The v4 API behind auth, rate limit and faults; `token` is the caller's bearer token. Locks `mu`.
api_response route_api(cloudflare_fake::impl& fake, const httplib::Request& req,
                       const std::string& api_path, const std::string& token, token_access access);
// /__fake/... endpoints. Locks `mu`.
void route_control(cloudflare_fake::impl& fake, const httplib::Request& req, httplib::Response& res);

api_response error_response(int http_status, const std::vector<api_error>& errors,
                            const std::vector<api_error>& chain = {});

}  // namespace detail
}  // namespace tunnelmgr::testing
