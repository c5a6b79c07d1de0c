// throwaway_postgres: runs throwaway_pg.sh (path compiled in) for each step.
#include "throwaway_postgres.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "process/run_process.hpp"

namespace tunnelmgr::testing {
namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string newest_pg_bin() {
    std::string best;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
        const auto bin = e.path() / "bin";
        if (std::filesystem::exists(bin / "initdb") && bin.string() > best) best = bin.string();
    }
    return best;
}

}  // namespace

std::optional<std::string> throwaway_postgres::unavailable_reason() {
    if (const char* env = std::getenv("PG_BIN"); env != nullptr && std::filesystem::exists(std::string(env) + "/initdb")) {
        return std::nullopt;
    }
    if (!newest_pg_bin().empty()) return std::nullopt;
    return "no PostgreSQL server binaries (initdb) here; install postgresql-15 to run the postgres-state tests";
}

throwaway_postgres::throwaway_postgres() {
    std::string templ = (std::filesystem::temp_directory_path() / "tm-pg.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("cannot create a temp folder for PostgreSQL");
    dir_ = templ;
    try {
        run_script("start");
    } catch (...) {
        run_process({TM_THROWAWAY_PG_SCRIPT, "destroy", dir_.string()});
        throw;
    }
}

throwaway_postgres::~throwaway_postgres() {
    run_process({TM_THROWAWAY_PG_SCRIPT, "destroy", dir_.string()});
}

void throwaway_postgres::stop() { run_script("stop"); }
void throwaway_postgres::start() { run_script("start"); }

std::string throwaway_postgres::dsn() const { return read_file(dir_ / "dsn"); }

std::string throwaway_postgres::password() const {
    const std::string d = dsn();
    const auto at = d.find("password=");
    return at == std::string::npos ? std::string() : d.substr(at + 9, d.find(' ', at) - at - 9);
}

std::string throwaway_postgres::superuser_dsn() const { return read_file(dir_ / "superuser.dsn"); }

std::string throwaway_postgres::psql(const std::string& sql, const std::string& database) const {
    const std::string bin = std::getenv("PG_BIN") != nullptr ? std::getenv("PG_BIN") : newest_pg_bin();
    std::string dsn = superuser_dsn();
    if (!database.empty()) dsn.replace(dsn.find("dbname=") + 7, dsn.find(' ', dsn.find("dbname=")) - dsn.find("dbname=") - 7, database);
    auto r = run_process({bin + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql});
    if (r.exit_code != 0) throw std::runtime_error("psql failed: " + r.err);
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
}

void throwaway_postgres::run_script(const std::string& command) const {
    auto r = run_process({TM_THROWAWAY_PG_SCRIPT, command, dir_.string()});
    if (r.exit_code != 0) {
        throw std::runtime_error("throwaway_pg.sh " + command + " " + dir_.string() + " failed (exit " +
                                 std::to_string(r.exit_code) + "): " + r.err);
    }
}

}  // namespace tunnelmgr::testing
