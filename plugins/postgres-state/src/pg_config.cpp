// Parses the postgres-state config section. Strict on purpose, as sqlite-state's: a misspelt key
// would otherwise be ignored silently. A connection string or password in the section itself is
// refused: config.yml is read by many and copied around; dsn_file can be readable by tunnelmgr only.
#include "pg_config.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <rapidjson/document.h>

#include "state_rows/config_reading.hpp"

namespace tunnelmgr::plugins::postgres_state {
namespace {

using config_result = tl::expected<pg_config, std::string>;

tl::unexpected<std::string> refuse(std::string message) { return tl::unexpected<std::string>(std::move(message)); }

const std::string& schema_text() {
    static const std::string text = std::string(R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "postgres-state",
  "description": "The PostgreSQL state store shared by the tunnelmgr processes of several machines.",
  "type": "object",
  "required": ["dsn_file"],
  "additionalProperties": false,
  "properties": {
    "plugin": {"type": "string", "const": "postgres-state"},
    "dsn_file": {"type": "string", "minLength": 1, "description": "A file holding the libpq connection string (host=... port=... dbname=... user=... password=...), readable by tunnelmgr only. The password lives there, never in this config.", "examples": ["/etc/tunnelmgr/postgres.dsn"]},
    "machine": {"type": "string", "minLength": 1, "maxLength": 255, "description": "This machine's name in the shared store: its rows, health, Docker snapshot, leases and unfinished operations are kept under it. Default: the system host name."},
    "pool_size": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4, "description": "How many connections this process keeps to the server."},
    "connect_timeout_ms": {"type": "integer", "minimum": 1000, "maximum": 600000, "default": 5000, "description": "How long opening a connection may take before the call answers retry (libpq counts whole seconds)."},
    "prepared_statements": {"type": "boolean", "default": true, "description": "Keep each SQL text prepared on its connection (about half the server's CPU per call). Set false behind a pooler in transaction mode that does not keep prepared statements: PgBouncer before 1.21, or without max_prepared_statements."},
    )json") + state_rows::retention_schema_property + R"json(
  }
})json";
    return text;
}

constexpr const char* known_keys = "dsn_file, machine, pool_size, connect_timeout_ms, prepared_statements, retention";

}  // namespace

const char* const pg_config_schema = schema_text().c_str();

std::string system_host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return {};
    return name;
}

config_result parse_pg_config(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return refuse("the postgres-state config section must be a JSON object such as "
                      "{\"dsn_file\": \"/etc/tunnelmgr/postgres.dsn\"}; check the state section of the config file");
    }
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        const std::string key(it->name.GetString(), it->name.GetStringLength());
        if (key == "dsn" || key == "password" || key == "url" || key == "connection_string") {
            return refuse("state." + key +
                          " is not accepted: tunnelmgr keeps the PostgreSQL connection string and its password out "
                          "of the config file. Put the connection string (host=... dbname=... user=... password=...) "
                          "in a file only tunnelmgr can read, and set state.dsn_file to that file's path");
        }
        if (key != "plugin" && key != "dsn_file" && key != "machine" && key != "pool_size" &&
            key != "connect_timeout_ms" && key != "prepared_statements" && key != "retention") {
            return refuse("state." + key + " is not a postgres-state setting; remove it (known keys: " + known_keys + ")");
        }
    }

    pg_config config;
    auto dsn_file = doc.FindMember("dsn_file");
    if (dsn_file == doc.MemberEnd() || !dsn_file->value.IsString() || dsn_file->value.GetStringLength() == 0) {
        return refuse("state.dsn_file is required: set it to a file holding the PostgreSQL connection string "
                      "(host=... dbname=... user=... password=...), readable by tunnelmgr only, for example "
                      "/etc/tunnelmgr/postgres.dsn");
    }
    config.dsn_file.assign(dsn_file->value.GetString(), dsn_file->value.GetStringLength());

    auto machine = doc.FindMember("machine");
    if (machine != doc.MemberEnd()) {
        if (!machine->value.IsString() || machine->value.GetStringLength() == 0 || machine->value.GetStringLength() > 255) {
            return refuse("state.machine must be this machine's name (1 to 255 characters), or left out for the "
                          "system host name");
        }
        config.machine.assign(machine->value.GetString(), machine->value.GetStringLength());
    } else {
        config.machine = system_host_name();
        if (config.machine.empty()) {
            return refuse("the system host name cannot be read (gethostname failed); set state.machine to this "
                          "machine's name");
        }
    }

    if (auto e = state_rows::read_config_int(doc, "pool_size", "state.pool_size", 1, 64, config.pool_size); !e.empty()) {
        return refuse(e);
    }
    if (auto e = state_rows::read_config_int(doc, "connect_timeout_ms", "state.connect_timeout_ms", 1000, 600000,
                                             config.connect_timeout_ms);
        !e.empty()) {
        return refuse(e);
    }
    if (auto prepared = doc.FindMember("prepared_statements"); prepared != doc.MemberEnd()) {
        if (!prepared->value.IsBool()) {
            return refuse("state.prepared_statements must be true or false (false behind PgBouncer in transaction "
                          "mode without prepared-statement support)");
        }
        config.prepared_statements = prepared->value.GetBool();
    }
    if (auto e = state_rows::read_retention(doc, config.health_days, config.audit_days); !e.empty()) return refuse(e);
    return config;
}

state_rows::store_result<std::string> read_dsn(const std::string& dsn_file) {
    using state_rows::store_errc;
    using state_rows::store_fail;
    std::ifstream in(dsn_file);
    if (!in) {
        return store_fail(store_errc::error, "cannot read the dsn_file " + dsn_file + " (" + std::strerror(errno) +
                                                 "); create it with the PostgreSQL connection string, readable by "
                                                 "the tunnelmgr user, or fix state.dsn_file");
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string dsn = text.str();
    // One line, or several: a trailing newline (or a comment-free multi-line file) is not part of it.
    for (char& c : dsn) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    const auto first = dsn.find_first_not_of(' ');
    if (first == std::string::npos) {
        return store_fail(store_errc::error, "the dsn_file " + dsn_file +
                                                 " is empty; put the PostgreSQL connection string in it, such as "
                                                 "host=/run/postgresql dbname=tunnelmgr user=tunnelmgr password=...");
    }
    dsn = dsn.substr(first, dsn.find_last_not_of(' ') - first + 1);
    return dsn;
}

}  // namespace tunnelmgr::plugins::postgres_state
