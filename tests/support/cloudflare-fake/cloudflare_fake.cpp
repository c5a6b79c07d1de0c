// Server lifecycle and the request pipeline: log → budget → faults → auth → route.
#include "cloudflare_fake.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "fake_impl.hpp"
#include "fake_json.hpp"

namespace tunnelmgr::testing {
namespace {

using detail::api_error;

constexpr std::string_view k_api_base = "/client/v4";

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 24U) == 127U;
}

int socket_port(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return -1;
}

// httplib does not hand the socket to handlers (except under TLS), so find it by its two ports.
int find_connection_socket(int local_port, int remote_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t len = sizeof(local);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    len = sizeof(peer);
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (socket_port(local) == local_port && socket_port(peer) == remote_port) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

// Nothing of the response may reach the client: shut the socket down before httplib writes.
void drop_connection(const httplib::Request& req) {
  int fd = -1;
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  if (req.ssl != nullptr) fd = SSL_get_fd(req.ssl);
#endif
  if (fd < 0) fd = find_connection_socket(req.local_port, req.remote_port);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

bool valid_token_syntax(const std::string& token) {
  if (token.empty()) return false;
  for (char c : token) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string rate_limit_message() { return "Rate limited. Please wait and consider throttling your request speed"; }

api_response fault_response(const fault_rule& f) {
  api_response r;
  r.status = f.status;
  if (!f.body.empty()) {
    r.body = f.body;
  } else {
    const int code = f.error_code != 0 ? f.error_code : error_code_for(f.status);
    const std::string message =
        f.status == 429 ? rate_limit_message() : "Injected failure: HTTP " + std::to_string(f.status);
    r.body = detail::error_envelope({api_error{f.status, code, message}});
  }
  if (f.status == 429 && f.retry_after_seconds > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(f.retry_after_seconds));
  }
  r.headers.emplace_back("Content-Type", f.content_type);
  return r;
}

void send(httplib::Response& res, const api_response& r) {
  res.status = r.status;
  std::string content_type = "application/json";
  for (const auto& [k, v] : r.headers) {
    if (k == "Content-Type") {
      content_type = v;
    } else {
      res.set_header(k, v);
    }
  }
  res.set_content(r.body, content_type.c_str());
}

const char* fault_kind_name(fault_kind k) {
  switch (k) {
    case fault_kind::http_status: return "status";
    case fault_kind::delay: return "delay";
    case fault_kind::drop_connection: return "drop";
  }
  return "status";
}

}  // namespace

int error_code_for(int http_status) {
  if (http_status == 429) return 10429;
  if (http_status >= 500) return 10000 + http_status;  // 10500, 10502, 10503: clearly server-side
  return 10000;
}

void cloudflare_fake::impl::handle(const httplib::Request& req, httplib::Response& res) {
  const std::string& path = req.path;
  if (path == "/__fake" || path.rfind("/__fake/", 0) == 0) {
    if (!opts.control_endpoints) {
      send(res, detail::error_response(404, {{404, 7000, "No route for that URI"}}));
      return;
    }
    if (!is_loopback_host(req.remote_addr)) {
      res.status = 403;
      res.set_content(R"({"error":"control endpoints answer loopback clients only"})", "application/json");
      return;
    }
    detail::route_control(*this, req, res);
    return;
  }

  const bool in_api = path == k_api_base || path.rfind(std::string(k_api_base) + "/", 0) == 0;
  const std::string api_path = in_api ? path.substr(k_api_base.size()) : path;
  const std::string authorization = req.get_header_value("Authorization");
  std::size_t log_index = 0;
  std::optional<int> retry_after;
  std::optional<fault_rule> fault;
  {
    std::lock_guard lock(mu);
    log_index = log.size();
    log.push_back(request_record{req.method, api_path, {}, 0, false});
    const auto q = req.target.find('?');
    if (q != std::string::npos) log.back().query = req.target.substr(q + 1);
    if (req.has_header("Authorization")) last_authorization = authorization;
    if (in_api) {
      retry_after = budget.admit(detail::request_budget::clock::now());
      if (!retry_after) fault = faults.take(req.method, api_path);
    }
  }

  // The token never reaches the log: only method, target and outcome.
  auto log_line = [&](int status) {
    if (opts.log_requests) {
      std::cerr << "cloudflare-api-fake: " << req.method << " " << req.target << " -> "
                << (status == 0 ? std::string("dropped") : std::to_string(status)) << "\n";
    }
  };
  auto finish = [&](const api_response& r, bool authorized) {
    send(res, r);
    log_line(r.status);
    std::lock_guard lock(mu);
    log[log_index].status = r.status;
    log[log_index].authorized = authorized;
  };

  if (!in_api) {
    finish(detail::error_response(404, {{404, 7000, "No route for that URI"}}), false);
    return;
  }
  if (retry_after) {
    auto r = detail::error_response(429, {{429, 10429, rate_limit_message()}});
    r.headers.emplace_back("Retry-After", std::to_string(*retry_after));
    finish(r, false);
    return;
  }
  if (fault) {
    switch (fault->kind) {
      case fault_kind::http_status:
        finish(fault_response(*fault), false);
        return;
      case fault_kind::drop_connection:
        drop_connection(req);
        res.status = 500;  // never reaches the client: the socket is already shut down
        log_line(0);
        return;
      case fault_kind::delay: {
        std::unique_lock lock(mu);
        stop_cv.wait_for(lock, fault->delay, [&] { return stopping; });
        break;
      }
    }
  }

  // Auth, like the API: malformed header → 400 6003/6111, unknown token → 403 10000 (401 1000 on verify).
  if (!req.has_header("Authorization")) {
    finish(detail::error_response(
               400, {{400, 9106, "Missing X-Auth-Email header"}, {400, 9107, "Missing X-Auth-Key header"}}),
           false);
    return;
  }
  constexpr std::string_view bearer = "Bearer ";
  const std::string token =
      authorization.rfind(bearer, 0) == 0 ? authorization.substr(bearer.size()) : std::string();
  if (!valid_token_syntax(token)) {
    finish(detail::error_response(400, {{400, 6003, "Invalid request headers"}},
                                  {{400, 6111, "Invalid format for Authorization header"}}),
           false);
    return;
  }
  std::optional<token_access> access;
  {
    std::lock_guard lock(mu);
    if (auto it = tokens.find(token); it != tokens.end()) access = it->second;
  }
  if (!access) {
    if (api_path == "/user/tokens/verify") {
      finish(detail::error_response(401, {{401, 1000, "Invalid API Token"}}), false);
    } else {
      finish(detail::error_response(403, {{403, 10000, "Authentication error"}}), false);
    }
    return;
  }
  finish(detail::route_api(*this, req, api_path, token, *access), true);
}

void cloudflare_fake::impl::reset_locked() {
  store.clear_records_and_tunnels();
  store.keep_only_zones(start_zone_ids);
  tokens.clear();
  for (const auto& t : opts.tokens) tokens[t] = token_access::read_write;
  for (const auto& t : opts.read_only_tokens) tokens[t] = token_access::read_only;
  faults.clear();
  races.clear();
  budget.set(std::nullopt);
  budget.reset_counters();
  log.clear();
  last_authorization.clear();
}

std::string cloudflare_fake::impl::state_json_locked() const {
  using detail::json_writer;
  using detail::write_string;
  return detail::compact_json([&](json_writer& w) {
    w.StartObject();
    w.Key("account_id");
    write_string(w, store.account_id());
    w.Key("port");
    w.Int(port);
    w.Key("tls");
    w.Bool(!opts.tls_cert_file.empty());
    w.Key("zones");
    w.StartArray();
    for (const auto& z : store.zones()) {
      w.StartObject();
      w.Key("id");
      write_string(w, z.id);
      w.Key("name");
      write_string(w, z.name);
      w.Key("status");
      write_string(w, z.status);
      w.EndObject();
    }
    w.EndArray();
    w.Key("records");
    w.StartArray();
    for (const auto& r : store.all_records()) detail::write_record(w, r);
    w.EndArray();
    w.Key("tunnels");
    w.StartArray();
    for (const auto& t : store.tunnel_configurations()) {
      detail::write_tunnel_configuration(w, t, store.account_id());
    }
    w.EndArray();
    w.Key("requests");
    w.StartObject();
    w.Key("total");
    w.Uint64(log.size());
    w.Key("rate_limited");
    w.Uint64(budget.refused());
    w.Key("peak_in_window");
    w.Uint64(budget.peak());
    w.Key("by_route");
    w.StartArray();
    std::map<std::pair<std::string, std::string>, std::size_t> counts;
    for (const auto& r : log) ++counts[{r.method, r.path}];
    for (const auto& [key, n] : counts) {
      w.StartObject();
      w.Key("method");
      write_string(w, key.first);
      w.Key("path");
      write_string(w, key.second);
      w.Key("count");
      w.Uint64(n);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.Key("last_authorization");
    write_string(w, last_authorization);
    w.Key("pending_faults");
    w.Uint64(faults.pending());
    w.Key("faults");
    w.StartArray();
    for (const auto& f : faults.rules()) {
      w.StartObject();
      w.Key("method");
      write_string(w, f.method.empty() ? "*" : f.method);
      w.Key("path_prefix");
      write_string(w, f.path_prefix);
      w.Key("count");
      w.Int(f.count);
      w.Key("kind");
      w.String(fault_kind_name(f.kind));
      w.Key("status");
      w.Int(f.status);
      w.Key("retry_after");
      w.Int(f.retry_after_seconds);
      w.Key("delay_ms");
      w.Int64(f.delay.count());
      w.EndObject();
    }
    w.EndArray();
    w.Key("rate_limit");
    if (const auto& rule = budget.rule()) {
      w.StartObject();
      w.Key("max_requests");
      w.Int(rule->max_requests);
      w.Key("window_ms");
      w.Int64(rule->window.count());
      w.EndObject();
    } else {
      w.Null();
    }
    w.EndObject();
  });
}

tl::expected<std::unique_ptr<cloudflare_fake>, std::string> cloudflare_fake::start(options opts) {
  if (!is_loopback_host(opts.host)) {
    return tl::unexpected("refusing to listen on " + opts.host + ": the fake serves loopback only");
  }
  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty()) {
    return tl::unexpected(std::string("TLS needs both a certificate and a key file"));
  }
  auto p = std::make_unique<impl>(std::move(opts));
  try {
    for (const auto& name : p->opts.zones) p->start_zone_ids.push_back(p->store.add_zone(name, "active").id);
    for (int i = 1; i <= p->opts.generated_zones; ++i) {
      char name[64];
      std::snprintf(name, sizeof(name), "zone-%03d.example", i);
      p->start_zone_ids.push_back(p->store.add_zone(name, "active").id);
    }
    p->reset_locked();

    if (p->opts.tls_cert_file.empty()) {
      p->server = std::make_unique<httplib::Server>();
    } else {
      auto ssl = std::make_unique<httplib::SSLServer>(p->opts.tls_cert_file.c_str(), p->opts.tls_key_file.c_str());
      if (!ssl->is_valid()) {
        return tl::unexpected("cannot load TLS certificate " + p->opts.tls_cert_file + " / key " + p->opts.tls_key_file);
      }
      p->server = std::move(ssl);
    }
    impl* raw = p.get();
    auto handler = [raw](const httplib::Request& req, httplib::Response& res) {
      try {
        raw->handle(req, res);
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(detail::error_envelope({{500, 10000, std::string("fake crashed: ") + e.what()}}),
                        "application/json");
      }
    };
    const std::string any = ".*";
    p->server->Get(any, handler).Post(any, handler).Put(any, handler).Patch(any, handler).Delete(any, handler);
    p->server->Options(any, handler);
    p->server->set_keep_alive_timeout(2);
    // cpp-httplib waits for the next request on a kept-alive connection by polling in 10 ms steps,
    // which would add up to 10 ms to every request a client sends over a reused connection and make
    // benchmarks measure the fake. One request per connection costs a loopback connect (~50 µs).
    p->server->set_keep_alive_max_count(1);

    if (p->opts.port == 0) {
      p->port = p->server->bind_to_any_port(p->opts.host);
    } else {
      p->port = p->server->bind_to_port(p->opts.host, p->opts.port) ? p->opts.port : -1;
    }
    if (p->port <= 0) return tl::unexpected("cannot bind " + p->opts.host + ":" + std::to_string(p->opts.port));
    p->thread = std::thread([raw] { raw->server->listen_after_bind(); });
    // The socket already accepts (bound and listening); wait only for the accept loop to be marked running.
    while (!p->server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } catch (const std::exception& e) {
    if (p->thread.joinable()) {
      p->server->stop();
      p->thread.join();
    }
    return tl::unexpected(std::string("cannot start the Cloudflare fake: ") + e.what());
  }
  return std::unique_ptr<cloudflare_fake>(new cloudflare_fake(std::move(p)));
}

cloudflare_fake::cloudflare_fake(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

cloudflare_fake::~cloudflare_fake() { stop(); }

void cloudflare_fake::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  impl_->server->stop();
  impl_->thread.join();
}

int cloudflare_fake::port() const { return impl_->port; }
bool cloudflare_fake::tls() const { return !impl_->opts.tls_cert_file.empty(); }
std::string cloudflare_fake::root_url() const {
  const std::string& host = impl_->opts.host;
  const std::string authority = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls() ? "https://" : "http://") + authority + ":" + std::to_string(impl_->port);
}
std::string cloudflare_fake::base_url() const { return root_url() + std::string(k_api_base); }
std::string cloudflare_fake::account_id() const { return impl_->opts.account_id; }

fake_zone cloudflare_fake::add_zone(const std::string& name, const std::string& status) {
  std::lock_guard lock(impl_->mu);
  return impl_->store.add_zone(name, status);
}

void cloudflare_fake::add_token(const std::string& token, token_access access) {
  std::lock_guard lock(impl_->mu);
  impl_->tokens[token] = access;
}

void cloudflare_fake::revoke_token(const std::string& token) {
  std::lock_guard lock(impl_->mu);
  impl_->tokens.erase(token);
}

tl::expected<fake_dns_record, std::string> cloudflare_fake::add_foreign_record(const std::string& zone_name_or_id,
                                                                               fake_dns_record record) {
  std::lock_guard lock(impl_->mu);
  const fake_zone* zone = impl_->store.zone_by_name_or_id(zone_name_or_id);
  if (zone == nullptr) return tl::unexpected("no zone " + zone_name_or_id);
  detail::record_input in;
  in.type = record.type;
  in.name = record.name;
  in.content = record.content;
  in.proxied = record.proxied;
  in.ttl = record.ttl;
  in.comment = record.comment;
  auto created = impl_->store.create_record(zone->id, in);
  if (!created) return tl::unexpected(std::to_string(created.error().code) + " " + created.error().message);
  return *created;
}

std::vector<fake_zone> cloudflare_fake::zones() const {
  std::lock_guard lock(impl_->mu);
  return impl_->store.zones();
}

std::optional<fake_zone> cloudflare_fake::find_zone(const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  const fake_zone* z = impl_->store.zone_by_name(name);
  return z != nullptr ? std::optional<fake_zone>(*z) : std::nullopt;
}

std::vector<fake_dns_record> cloudflare_fake::records(const std::string& zone_name_or_id) const {
  std::lock_guard lock(impl_->mu);
  auto all = impl_->store.all_records();
  if (zone_name_or_id.empty()) return all;
  const fake_zone* zone = impl_->store.zone_by_name_or_id(zone_name_or_id);
  std::vector<fake_dns_record> out;
  if (zone == nullptr) return out;
  for (auto& r : all) {
    if (r.zone_id == zone->id) out.push_back(std::move(r));
  }
  return out;
}

std::optional<fake_dns_record> cloudflare_fake::record(const std::string& record_id) const {
  std::lock_guard lock(impl_->mu);
  const fake_dns_record* r = impl_->store.record_anywhere(record_id);
  return r != nullptr ? std::optional<fake_dns_record>(*r) : std::nullopt;
}

std::optional<fake_tunnel_configuration> cloudflare_fake::tunnel_configuration(const std::string& tunnel_id) const {
  std::lock_guard lock(impl_->mu);
  auto cfg = impl_->store.tunnel_configuration(tunnel_id);
  if (cfg.version == 0) return std::nullopt;
  return cfg;
}

std::size_t cloudflare_fake::request_count(const std::string& method, const std::string& path) const {
  std::lock_guard lock(impl_->mu);
  const std::string wanted = detail::normalise_api_prefix(path);
  std::size_t n = 0;
  for (const auto& r : impl_->log) {
    if ((method.empty() || r.method == method) && r.path == wanted) ++n;
  }
  return n;
}

std::size_t cloudflare_fake::request_count_prefix(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard lock(impl_->mu);
  const std::string wanted = detail::normalise_api_prefix(path_prefix);
  std::size_t n = 0;
  for (const auto& r : impl_->log) {
    if ((method.empty() || r.method == method) && r.path.rfind(wanted, 0) == 0) ++n;
  }
  return n;
}

std::size_t cloudflare_fake::total_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->log.size();
}

std::vector<request_record> cloudflare_fake::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->log;
}

std::string cloudflare_fake::last_authorization() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_authorization;
}

std::size_t cloudflare_fake::rate_limited_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->budget.refused();
}

std::size_t cloudflare_fake::peak_requests_in_window() const {
  std::lock_guard lock(impl_->mu);
  return impl_->budget.peak();
}

std::string cloudflare_fake::state_json() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state_json_locked();
}

void cloudflare_fake::inject_fault(fault_rule rule) {
  std::lock_guard lock(impl_->mu);
  impl_->faults.add(std::move(rule));
}

void cloudflare_fake::clear_faults() {
  std::lock_guard lock(impl_->mu);
  impl_->faults.clear();
}

std::size_t cloudflare_fake::pending_faults() const {
  std::lock_guard lock(impl_->mu);
  return impl_->faults.pending();
}

void cloudflare_fake::set_rate_limit(std::optional<rate_limit_rule> rule) {
  std::lock_guard lock(impl_->mu);
  impl_->budget.set(rule);
}

void cloudflare_fake::race_tunnel_puts(tunnel_race race) {
  std::lock_guard lock(impl_->mu);
  if (race.count > 0) impl_->races.push_back(std::move(race));
}

std::size_t cloudflare_fake::pending_races() const {
  std::lock_guard lock(impl_->mu);
  std::size_t n = 0;
  for (const auto& r : impl_->races) n += static_cast<std::size_t>(r.count);
  return n;
}

void cloudflare_fake::reset() {
  std::lock_guard lock(impl_->mu);
  impl_->reset_locked();
}

}  // namespace tunnelmgr::testing
