// SQLite result codes, grouped by what the operator or the caller can do about them.
#include "sqlite_errors.hpp"

#include <string>

#include <sqlite3.h>

namespace tunnelmgr::plugins::sqlite_state {

store_error from_sqlite(const SQLite::Exception& e, std::string_view doing, std::string_view path) {
    const std::string where = "the state database " + std::string(path);
    const std::string during = " while " + std::string(doing);
    const std::string detail = std::string(" (SQLite: ") + e.what() + ")";
    switch (e.getErrorCode()) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return {store_errc::busy, where + " stayed locked by another tunnelmgr process" + during +
                                          "; try again, or raise state.busy_timeout_ms if this keeps happening"};
        case SQLITE_CONSTRAINT:
            return {store_errc::conflict, "a row with the same key already exists" + during + detail};
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return {store_errc::error, where + " is read-only for this process" + during +
                                           "; give the tunnelmgr user write access to the file and its directory" +
                                           detail};
        case SQLITE_CANTOPEN:
            return {store_errc::error, "cannot open " + where + during +
                                           "; check that the directory exists and is writable, or set state.path "
                                           "to a writable place" +
                                           detail};
        case SQLITE_FULL:
            return {store_errc::error, "the disk holding " + where + " is full" + during + "; free some space" + detail};
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
            return {store_errc::error, where + " is damaged or is not a SQLite database" + during +
                                           ": move it away to start fresh (a new, empty state is then created), or restore your backup" +
                                           detail};
        case SQLITE_IOERR:
            return {store_errc::error,
                    "an I/O error hit " + where + during + "; check the disk and the filesystem" + detail};
        default:
            return {store_errc::error, "SQLite failed" + during + " on " + where + detail};
    }
}

}  // namespace tunnelmgr::plugins::sqlite_state
