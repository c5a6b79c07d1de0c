// A PostgreSQL server of a test's own: a cluster in a temp folder on a unix socket only, with a role
// that logs in by password; stop() and start() take it away and bring it back. Drives throwaway_pg.sh,
// the one place that knows how (the shell tests and benchmarks use the same script).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace tunnelmgr::testing {

class throwaway_postgres {
public:
    // Creates and starts the cluster; throws std::runtime_error saying why it could not.
    throwaway_postgres();
    // Stops the server and removes the folder.
    ~throwaway_postgres();
    throwaway_postgres(const throwaway_postgres&) = delete;
    throwaway_postgres& operator=(const throwaway_postgres&) = delete;

    // Why no server can be started here (no PostgreSQL binaries), for GTEST_SKIP; nullopt when one can.
    static std::optional<std::string> unavailable_reason();

    void stop();   // pg_ctl stop -m fast: clients see their connections broken
    void start();  // the same cluster again, same socket and password

    const std::filesystem::path& dir() const { return dir_; }
    // The file holding the libpq connection string of role "tm" (with its password): postgres-state's dsn_file.
    std::string dsn_file() const { return (dir_ / "dsn").string(); }
    std::string dsn() const;             // that string
    std::string password() const;        // its password, for tests that look for leaks
    std::string superuser_dsn() const;   // the cluster's superuser, trusted on the socket only
    std::string socket_dir() const { return (dir_ / "sock").string(); }

    // Runs `sql` with psql as the superuser in `database` (default: the role's database "tunnelmgr");
    // returns psql's output (unaligned, tuples only) or throws with psql's error.
    std::string psql(const std::string& sql, const std::string& database = "") const;

private:
    void run_script(const std::string& command) const;

    std::filesystem::path dir_;
};

}  // namespace tunnelmgr::testing
