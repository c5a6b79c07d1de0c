#!/usr/bin/env bash
# A throw-away PostgreSQL for tests and benchmarks: one cluster in a folder, reachable on a unix socket
# only (no TCP), with a role that logs in by password and a database for it.
#
# Usage: throwaway_pg.sh start DIR     create the cluster in DIR when it has none, then start it (waits
#                                      until it accepts connections); prints DIR/dsn
#        throwaway_pg.sh stop DIR      stop it (pg_ctl stop -m fast); the data stays for a later start
#        throwaway_pg.sh destroy DIR   stop it and remove DIR
#        throwaway_pg.sh status DIR    exit 0 when it runs
#
# What DIR holds once started:
#   DIR/dsn            libpq connection string of role "tm" with its password, database "tunnelmgr",
#                      host=DIR/sock: what postgres-state's dsn_file wants (the file is 0600)
#   DIR/superuser.dsn  the cluster's superuser "postgres", no password (trusted on the socket only)
#   DIR/data DIR/sock DIR/log   the cluster, its socket folder, the server's log
# Environment: PG_BIN (default: the newest /usr/lib/postgresql/*/bin), PGPORT_FOR_SOCKET (default
# 5432: only names the socket file, DIR/sock/.s.PGSQL.<port>), TM_PG_DB (default tunnelmgr).
# Run as root, the server runs as the "postgres" system user, which then owns DIR.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  sed -n '2,20p' "$0" >&2
  exit 2
fi

if [[ -z "${PG_BIN:-}" ]]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]]; then
  echo "throwaway_pg.sh: no PostgreSQL server binaries (initdb) found; install postgresql-15 or set PG_BIN" >&2
  exit 3
fi
port=${PGPORT_FOR_SOCKET:-5432}
db=${TM_PG_DB:-tunnelmgr}

# As root, everything that touches the cluster runs as the postgres user (the server refuses root).
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() { [[ -f "$dir/data/postmaster.pid" ]] && as_owner "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

start_server() {
  as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-k $dir/sock -c listen_addresses='' -p $port -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
}

create_cluster() {
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    # The server must reach DIR through every folder above it.
    local up
    up=$(dirname "$dir")
    while [[ "$up" != "/" ]]; do
      chmod o+x "$up" 2>/dev/null || true
      up=$(dirname "$up")
    done
  fi
  as_owner mkdir -p "$dir/sock"
  as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # The superuser is trusted on the socket; every other role must give its password (SCRAM).
  as_owner tee "$dir/data/pg_hba.conf" >/dev/null <<HBA
local all postgres trust
local all all scram-sha-256
HBA
  start_server
  local password
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres -d postgres <<SQL
SET password_encryption = 'scram-sha-256';
CREATE ROLE tm LOGIN PASSWORD '$password';
CREATE DATABASE $db OWNER tm;
SQL
  umask 077
  echo "host=$dir/sock port=$port dbname=$db user=tm password=$password" >"$dir/dsn"
  echo "host=$dir/sock port=$port dbname=$db user=postgres" >"$dir/superuser.dsn"
}

case "$cmd" in
  start)
    dir=$(realpath -m "$dir")
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      create_cluster
    elif ! running; then
      start_server
    fi
    echo "$dir/dsn"
    ;;
  stop)
    if running; then as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; fi
    ;;
  destroy)
    if running; then as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
  status)
    running
    ;;
  *)
    echo "throwaway_pg.sh: unknown command '$cmd' (start, stop, destroy, status)" >&2
    exit 2
    ;;
esac
