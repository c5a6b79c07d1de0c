// A stateful stand-in for the Cloudflare API v4 (tokens, zones, DNS records, tunnel configurations)
// served over real HTTP(S) on loopback, with fault injection, for tests and the local demo.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace tunnelmgr::testing {

struct fake_zone {
  std::string id;  // 32 lower-case hex digits, derived from the name (stable across runs)
  std::string name;
  std::string status = "active";
};

struct fake_dns_record {
  std::string id;  // 32 lower-case hex digits
  std::string zone_id;
  std::string zone_name;
  std::string type;     // upper-case: A, AAAA, CNAME, TXT, MX, NS, PTR
  std::string name;     // fully qualified, lower-case, no trailing dot
  std::string content;  // lower-cased for CNAME/NS/MX/PTR targets
  bool proxied = false;
  int ttl = 1;  // 1 = automatic
  std::optional<std::string> comment;
  std::string created_on;  // RFC 3339, e.g. 2024-05-01T12:00:00.000000Z
  std::string modified_on;
};

struct fake_tunnel_configuration {
  std::string tunnel_id;
  long version = 0;         // 0 = never configured; every PUT adds one
  std::string config_json;  // the "config" object as last PUT (compact JSON), "{}" before any PUT
  std::string created_at;
};

enum class token_access { read_write, read_only };

// What a faulted request gets instead of (or before) its normal answer.
enum class fault_kind {
  http_status,      // answer `status` (429, 500, 502, 503, ...) with an error envelope
  delay,            // wait `delay` then answer normally
  drop_connection,  // close the connection without writing a single byte of response
};

struct fault_rule {
  std::string method;       // "GET", "POST", ...; empty or "*" = any method
  std::string path_prefix;  // relative to /client/v4 ("/zones/", "/accounts/"); empty = every API path
  int count = 1;            // how many matching requests it applies to; then it is gone
  fault_kind kind = fault_kind::http_status;
  int status = 429;
  int retry_after_seconds = 1;  // Retry-After header on 429 (0 = no header)
  int error_code = 0;           // envelope code; 0 = 10429 for 429, 10000 + status for 5xx... see error_code_for()
  std::string body;             // when set, sent verbatim (e.g. an HTML 502 page from the edge)
  std::string content_type = "application/json";
  std::chrono::milliseconds delay{0};
};

// Another writer of a tunnel's configuration (the dashboard, a script, a second machine) racing a
// read-modify-PUT: its own PUT of `config_json` lands just before or just after each of the next
// `count` API PUTs to that tunnel's configuration, each making a version of its own as a real PUT does.
struct tunnel_race {
  enum class at { before_put, after_put };
  std::string tunnel_id;
  std::string config_json;  // the "config" object the other writer stores
  int count = 1;
  at when = at::after_put;
};

// Global budget: at most `max_requests` API requests in any sliding `window`; beyond it, 429.
struct rate_limit_rule {
  int max_requests = 1200;
  std::chrono::milliseconds window = std::chrono::minutes(5);
};

struct request_record {
  std::string method;
  std::string path;  // relative to /client/v4, without the query string ("/zones/<id>/dns_records")
  std::string query;
  int status = 0;     // 0 = connection dropped
  bool authorized = false;
};

class cloudflare_fake {
 public:
  struct options {
    std::string host = "127.0.0.1";  // loopback only: anything else is refused
    int port = 0;                    // 0 = let the kernel pick a free port
    std::vector<std::string> tokens{"fake-token-for-tests"};
    std::vector<std::string> read_only_tokens;
    std::string account_id = "0123456789abcdef0123456789abcdef";
    std::vector<std::string> zones;  // zone names to create at start
    int generated_zones = 0;         // plus zone-001.example ... zone-NNN.example
    std::string tls_cert_file;       // both set = serve HTTPS
    std::string tls_key_file;
    bool clamp_zone_per_page = false;  // false: per_page outside 5..50 on /zones is a 400 error
    bool control_endpoints = false;    // serve /__fake/... (the executable turns this on)
    bool log_requests = false;         // one line per request on stderr, token redacted
  };

  // Binds, starts the server thread and returns once the port accepts connections.
  static tl::expected<std::unique_ptr<cloudflare_fake>, std::string> start(options opts);

  ~cloudflare_fake();  // stops the server
  cloudflare_fake(const cloudflare_fake&) = delete;
  cloudflare_fake& operator=(const cloudflare_fake&) = delete;

  void stop();
  [[nodiscard]] int port() const;
  [[nodiscard]] bool tls() const;
  [[nodiscard]] std::string root_url() const;  // http://127.0.0.1:PORT
  [[nodiscard]] std::string base_url() const;  // http://127.0.0.1:PORT/client/v4
  [[nodiscard]] std::string account_id() const;

  // --- state set-up ---
  fake_zone add_zone(const std::string& name, const std::string& status = "active");
  void add_token(const std::string& token, token_access access = token_access::read_write);
  void revoke_token(const std::string& token);
  // A record someone else made (no auth, no faults, not counted). Same validation as POST.
  tl::expected<fake_dns_record, std::string> add_foreign_record(const std::string& zone_name_or_id,
                                                                fake_dns_record record);

  // --- inspection (thread-safe copies) ---
  [[nodiscard]] std::vector<fake_zone> zones() const;
  [[nodiscard]] std::optional<fake_zone> find_zone(const std::string& name) const;
  [[nodiscard]] std::vector<fake_dns_record> records(const std::string& zone_name_or_id = {}) const;
  [[nodiscard]] std::optional<fake_dns_record> record(const std::string& record_id) const;
  [[nodiscard]] std::optional<fake_tunnel_configuration> tunnel_configuration(
      const std::string& tunnel_id) const;
  [[nodiscard]] std::size_t request_count(const std::string& method, const std::string& path) const;
  [[nodiscard]] std::size_t request_count_prefix(const std::string& method,
                                                 const std::string& path_prefix) const;
  [[nodiscard]] std::size_t total_requests() const;
  [[nodiscard]] std::vector<request_record> requests() const;
  [[nodiscard]] std::string last_authorization() const;  // raw header value, "" if none seen yet
  [[nodiscard]] std::size_t rate_limited_count() const;  // 429s sent by the global limiter
  [[nodiscard]] std::size_t peak_requests_in_window() const;
  [[nodiscard]] std::string state_json() const;  // what GET /__fake/state answers

  // --- faults ---
  void inject_fault(fault_rule rule);
  void clear_faults();
  [[nodiscard]] std::size_t pending_faults() const;  // sum of remaining counts
  void set_rate_limit(std::optional<rate_limit_rule> rule);
  void race_tunnel_puts(tunnel_race race);
  [[nodiscard]] std::size_t pending_races() const;  // sum of remaining counts

  // Back to the start state: start zones and tokens, no records, no tunnel configurations, no
  // faults, no races, no rate limit, counters at zero.
  void reset();

  struct impl;

 private:
  explicit cloudflare_fake(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// The envelope code a fault_rule answers with when error_code is 0.
int error_code_for(int http_status);

}  // namespace tunnelmgr::testing
