// The postgres-state config section ({"dsn_file", "machine", "pool_size", "connect_timeout_ms",
// "prepared_statements", "retention"}), its JSON Schema and its parser; and reading the connection string from dsn_file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "state_rows/store_error.hpp"

namespace tunnelmgr::plugins::postgres_state {

struct pg_config {
    // A file holding a libpq connection string; the password lives there only, never in config.yml.
    std::string dsn_file;
    std::string machine;  // this machine's name in the shared store; default: gethostname()
    int64_t pool_size = 4;
    int64_t connect_timeout_ms = 5000;
    // Keep each SQL text prepared on its connection. Off for a pooler that lends a server connection
    // per transaction and does not track prepared statements (PgBouncer in transaction mode before
    // 1.21, or without max_prepared_statements).
    bool prepared_statements = true;
    int64_t health_days = 30;  // 0 keeps health rows forever
    int64_t audit_days = 365;  // 0 keeps audit rows forever
};

// The JSON Schema (draft 2020-12) of the section, as config_schema() publishes it.
extern const char* const pg_config_schema;

tl::expected<pg_config, std::string> parse_pg_config(std::string_view json);

// The system's host name, the default machine ("" when it cannot be read).
std::string system_host_name();

// The connection string in config.dsn_file, trimmed. Errors name the file, never what is in it.
state_rows::store_result<std::string> read_dsn(const std::string& dsn_file);

}  // namespace tunnelmgr::plugins::postgres_state
