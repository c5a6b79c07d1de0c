#!/usr/bin/env bash
# Three machines adding names at once: one shared PostgreSQL vs a SQLite file per machine.
# A benchmark driver, NOT a test: it asserts nothing and is registered nowhere in ctest. It prints
# figures; keep the printout and compare it with the next one.
#
# What it measures. For each store (postgres, then sqlite) it starts, on loopback only, what three
# machines would run: per machine a cloudflared stub (the health loop's metrics endpoint) and a
# `tunnelmgr daemon` serving an API socket, all three on one Cloudflare account (the API fake, one zone
# example.com, shared). postgres: the three share one throw-away PostgreSQL (postgres-state, machine
# m1/m2/m3); sqlite: each has its own state.db (sqlite-state). Once every daemon answers on its socket,
# three client loops run in parallel, one per machine, each N sequential
#   tunnelmgr --config mK/config.yml cname add bN-mK-I --port 3100 --project alpha
# (the CLI acts as the admin and forwards to its machine's daemon; the script checks that it does). Each
# add is timed with the shell's clock around the CLI process, so a figure is everything an operator
# waits for: the CLI's start-up, the socket round trip, the daemon's pipeline (state rows and lease,
# the DNS record at the fake, cloudflared's config file rewritten and committed to the git history in
# backup_dir, the audit row) and the CLI's exit. The git history cannot be turned off (without
# backup_dir it is config_file's folder/ingress-history): each add runs `git add`, `git commit` and
# `git rev-list --count`, and from the 111th version on, about every 11th add also prunes the history
# (rev-list, reflog expire, `git gc`; history_keep 100, the default).
#
# What the figures mean.
#   adds/s      successful adds of all three machines / the wall time from the first add's start to
#               the last add's end (the aggregate throughput of the three machines)
#   p50/p90/p99/max ms   the latency of one add (successful ones), all machines pooled
#   first/last tenth     the p50 of each machine's first and last tenth of adds (mean of the three):
#               how an add slows down as the names, the ingress file and the audit grow
#   CLI --help / status / via-daemon    start-up cost alone, median of 10 runs on m1 before the adds:
#               `--help` is the bare process (dynamic linker, statics); `status --json` runs in-process
#               (opens the state itself); `domains --json` goes through the daemon's socket (connect,
#               session, one cheap call): subtract it from an add's latency to see the pipeline's share.
#   failed      adds whose CLI exited non-zero (their messages are printed, at most 5 per store)
# Then the count of names each store holds, the CNAMEs at the fake and the rules in the ingress files,
# and one line `JSON {...}` per store for machines. Figures from a busy machine are noisy: the script
# prints the load average before each store and says when a build is running.
#
# Run it (as root or not; PostgreSQL comes from tests/support/postgres/throwaway_pg.sh, which needs the
# server binaries, e.g. postgresql-15; without them only sqlite runs):
#   tests/bench/multi-machine/bench_three_machines.sh [--build DIR] [--n N] [--stores postgres,sqlite]
#                                                     [--keep]
#     --build DIR   the build folder (default: <source>/build): tunnelmgr, plugins/, the fake, the stub
#     --n N         adds per machine (default 1000); --quick is --n 50
#     --stores S    comma-separated, default postgres,sqlite
#     --keep        keep the temp folder (logs, timings) and print its path
# Settings that keep the figures about the adds: project alpha has max_hostnames: 100000 (its quota
# would stop it at 100); the CLI is the admin, whom the rates never limit; dns.budget_per_5min: 1000000
# (the default, 1000 Cloudflare requests per 5 minutes per daemon, is 2 per add: every add after the
# 500th within 5 minutes fails with exit 5); reconcile: { interval: off }
# (no background repair pass taking the one-writer lock mid-run); cloudflared_bin: none (no
# `ingress validate` per add; no real cloudflared here); no supervisor (nothing restarts the stub).
# Everything it starts it stops by PID, and it removes its temp folder, also on Ctrl-C.
set -uo pipefail
export LC_ALL=C  # $EPOCHREALTIME with a dot

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build="$src/build"
n=1000
stores="postgres,sqlite"
keep=false
usage() { sed -n '/^# Run it/,/^#     --keep/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=${2:?}; shift 2 ;;
    --n) n=${2:?}; shift 2 ;;
    --quick) n=50; shift ;;
    --stores) stores=${2:?}; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) usage ;;
    *) echo "bench_three_machines.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench_three_machines.sh: --n wants a positive whole number, got '$n'" >&2; exit 2; }
build=$(cd "$build" && pwd) || exit 2
tm="$build/tunnelmgr"
plugins="$build/plugins"
fake_bin="$build/tests/support/cloudflare-fake/cloudflare-api-fake"
stub_bin="$build/tests/support/cloudflared-stub/cloudflared-stub"
pg_sh="$src/tests/support/postgres/throwaway_pg.sh"
for f in "$tm" "$fake_bin" "$stub_bin" "$plugins/sqlite-state.so" "$plugins/cloudflare-dns.so"; do
  [[ -x "$f" || -f "$f" ]] || { echo "missing $f: build tunnelmgr, the plugins, cloudflare-api-fake and cloudflared-stub first" >&2; exit 2; }
done
for t in curl python3; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 2; }; done

token="fake-token-for-bench-3m"  # obviously fake; the fake accepts only this one
tunnel_ids=(11111111-1111-4111-8111-111111111111 22222222-2222-4222-8222-222222222222 33333333-3333-4333-8333-333333333333)

run=$(mktemp -d /tmp/tm-bench-3m.XXXXXX)
# A copy of the binaries: another build of the tree relinking them mid-run cannot change what is measured.
mkdir -p "$run/bin/plugins"
cp "$tm" "$fake_bin" "$stub_bin" "$run/bin/" && cp "$plugins"/*.so "$run/bin/plugins/" ||
  { echo "cannot copy the binaries into $run/bin" >&2; rm -rf "$run"; exit 1; }
tm="$run/bin/tunnelmgr" plugins="$run/bin/plugins" fake_bin="$run/bin/cloudflare-api-fake" stub_bin="$run/bin/cloudflared-stub"
declare -a daemons=() stubs=() loops=()
fake_pid=""
pg_started=false

stop_pid() {  # stop_pid PID [seconds]: SIGTERM, wait, then SIGKILL
  local pid=$1 wait_s=${2:-10} i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < wait_s * 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
stop_machines() {
  local p
  for p in "${loops[@]}"; do stop_pid "$p" 2; done
  for p in "${daemons[@]}"; do stop_pid "$p" 10; done
  for p in "${stubs[@]}"; do stop_pid "$p" 5; done
  loops=() daemons=() stubs=()
}
cleanup() {
  trap - EXIT INT TERM
  stop_machines
  stop_pid "$fake_pid" 5
  if $pg_started; then bash "$pg_sh" destroy "$run/pg" >/dev/null 2>&1; fi
  if $keep; then echo "kept $run" >&2; else rm -rf "$run"; fi
}
trap cleanup EXIT
trap 'echo "interrupted: stopping what was started" >&2; exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_until() {  # wait_until SECONDS CMD...: poll every 50 ms
  local until_s=$(( SECONDS + $1 )); shift
  while (( SECONDS < until_s )); do "$@" && return 0; sleep 0.05; done
  "$@"
}
load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores$(pgrep -f 'cmake --build' >/dev/null 2>&1 && echo ', a build is running: expect noise')"; }

# --- the Cloudflare account (one for both stores; reset between them) ---------------------------------
echo "$token" >"$run/token"
"$fake_bin" --listen 127.0.0.1:0 --port-file "$run/fake.port" --token "$token" --zone example.com --quiet \
  </dev/null >"$run/fake.log" 2>&1 &
fake_pid=$!
wait_until 10 test -s "$run/fake.port" || { echo "the Cloudflare fake did not start:" >&2; cat "$run/fake.log" >&2; exit 1; }
fake_url="http://127.0.0.1:$(cat "$run/fake.port")"
account=$(curl -sf "$fake_url/__fake/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')

# --- one machine -------------------------------------------------------------------------------------
write_config() {  # write_config STORE K DIR METRICS_PORT
  local store=$1 k=$2 d=$3 port=$4 state
  if [[ "$store" == postgres ]]; then
    state="state: { plugin: postgres-state, dsn_file: $run/pg/dsn, machine: m$k }"
  else
    state="state: { plugin: sqlite-state, path: $d/state.db }"
  fi
  cat >"$d/config.yml" <<YAML
$state
dns:
  plugin: cloudflare-dns
  api_base: $fake_url/client/v4
  api_token_file: $run/token
  account_id: "$account"
  max_retries: 3
  budget_per_5min: 1000000
tunnel: { id: ${tunnel_ids[k-1]}, default_domain: example.com, ingress: local, config_file: $d/cloudflared.yml, metrics: "127.0.0.1:$port", backup_dir: $d/history, cloudflared_bin: none }
health: { interval: 5s, strikes: 3 }
reconcile: { interval: "off" }
projects:
  alpha: { ports: "3100-3199", max_hostnames: 100000 }
api: { socket: $d/api.sock }
plugin_dir: $plugins
log: { level: info }
YAML
}

start_machine() {  # start_machine STORE K
  local store=$1 k=$2 d="$run/$1/m$2" port id=${tunnel_ids[$2-1]}
  mkdir -p "$d"
  port=$(free_port)
  printf '{"AccountTag":"a","TunnelSecret":"c2VjcmV0","TunnelID":"%s"}' "$id" >"$d/creds.json"
  printf 'tunnel: %s\ncredentials-file: %s\ningress:\n  - service: http_status:404\n' "$id" "$d/creds.json" >"$d/cloudflared.yml"
  TM_STUB_READY_DELAY_MS=50 "$stub_bin" tunnel --config "$d/cloudflared.yml" --metrics "127.0.0.1:$port" \
    --grace-period 0s run </dev/null >"$d/stub.log" 2>&1 &
  stubs+=($!)
  write_config "$store" "$k" "$d" "$port"
  "$tm" --config "$d/config.yml" --log-level info daemon </dev/null >"$d/daemon.log" 2>&1 &
  daemons+=($!)
}

# The daemon answers on its socket and the CLI uses it (not in-process).
served() { "$tm" --config "$1/config.yml" --log-level debug domains --json 2>&1 >/dev/null | grep -q "using the daemon on"; }

time_runs() {  # time_runs OUT RUNS CMD...: "start end rc" per run
  local out=$1 runs=$2 i t0 t1 rc; shift 2
  for ((i = 0; i < runs; i++)); do
    t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1; rc=$?; t1=$EPOCHREALTIME
    echo "$t0 $t1 $rc" >>"$out"
  done
}

client_loop() {  # client_loop STORE K: N sequential adds, each timed
  local d="$run/$1/m$2" k=$2 i t0 t1 rc out="$run/$1/times.m$2" errs="$run/$1/errors.m$2"
  for ((i = 1; i <= n; i++)); do
    t0=$EPOCHREALTIME
    "$tm" --config "$d/config.yml" --log-level warn cname add "b$n-m$k-$i" --port 3100 --project alpha \
      >/dev/null 2>"$d/last.err"
    rc=$?
    t1=$EPOCHREALTIME
    echo "$i $t0 $t1 $rc" >>"$out"
    if [[ $rc -ne 0 ]]; then echo "m$k add #$i (b$n-m$k-$i) exit $rc: $(tr -s '\n ' '  ' <"$d/last.err")" >>"$errs"; fi
  done
}

json_len() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "?"; }

bench_store() {
  local store=$1 k d p
  mkdir -p "$run/$store"
  echo
  echo "== $store: 3 machines x $n adds; $(load)"
  curl -sf -X POST -H "Content-Type: application/json" -d "{}" "$fake_url/__fake/reset" >/dev/null || { echo "cannot reset the fake" >&2; return 1; }
  for k in 1 2 3; do start_machine "$store" "$k"; done
  for k in 1 2 3; do
    d="$run/$store/m$k"
    if ! wait_until 30 served "$d"; then
      echo "m$k's daemon does not answer on $d/api.sock:" >&2; tail -20 "$d/daemon.log" >&2
      stop_machines; return 1
    fi
  done
  # Start-up cost, on m1, before any name exists.
  d="$run/$store/m1"
  time_runs "$run/$store/startup.help" 10 "$tm" --help
  time_runs "$run/$store/startup.status" 10 "$tm" --config "$d/config.yml" --log-level warn status --json
  time_runs "$run/$store/startup.domains" 10 "$tm" --config "$d/config.yml" --log-level warn domains --json

  local t0=$EPOCHREALTIME
  for k in 1 2 3; do client_loop "$store" "$k" & loops+=($!); done
  for p in "${loops[@]}"; do wait "$p"; done
  loops=()
  local t1=$EPOCHREALTIME

  # What the run left behind.
  {
    echo "n=$n"
    echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
    if [[ "$store" == postgres ]]; then
      echo "names_in_state=$("$tm" --config "$run/$store/m1/config.yml" --log-level warn cname ls --json | json_len)"
    else
      local sum=0 c
      for k in 1 2 3; do c=$("$tm" --config "$run/$store/m$k/config.yml" --log-level warn cname ls --json | json_len); sum=$((sum + ${c/\?/0})); done
      echo "names_in_state=$sum"
    fi
    echo "cnames_at_fake=$(curl -sf "$fake_url/__fake/state" | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)["records"] if r["type"]=="CNAME"))')"
    local rules=0
    for k in 1 2 3; do rules=$((rules + $(grep -c '^ *- hostname:' "$run/$store/m$k/cloudflared.yml"))); done
    echo "ingress_rules=$rules"
    # Served by the daemon: its audit rows say origin "api" (with the CLI's peer pid); in-process ones do not.
    local ms="1 2 3"
    [[ "$store" == postgres ]] && ms="1"  # one audit log for all three
    local api=0 rows=0 line
    for k in $ms; do
      line=$("$tm" --config "$run/$store/m$k/config.yml" --log-level warn audit --action cname.create --limit 10000 --json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), sum(1 for x in r if (x.get("details") or {}).get("origin")=="api"))' 2>/dev/null)
      rows=$((rows + ${line% *})); api=$((api + ${line#* }))
    done
    echo "audit_cname_create=$rows"
    echo "audit_served_by_daemon=$api"
    echo "daemon_warnings=$(cat "$run/$store"/m*/daemon.log | grep -ciE 'level=(warn|error)')"
  } >"$run/$store/check"
  stop_machines
  if ls "$run/$store"/errors.m* >/dev/null 2>&1; then
    echo "  failed adds ($(cat "$run/$store"/errors.m* | wc -l)), the first 5:"
    cat "$run/$store"/errors.m* | head -5 | cut -c1-400 | sed 's/^/    /'
  fi
  printf '  ran %.1f s\n' "$(python3 -c "print($t1 - $t0)")"
}

ran=()
IFS=, read -ra wanted <<<"$stores"
for store in "${wanted[@]}"; do
  case "$store" in
    postgres)
      if [[ ! -f "$plugins/postgres-state.so" ]]; then echo "(postgres skipped: no $plugins/postgres-state.so)"; continue; fi
      if ! bash "$pg_sh" start "$run/pg" >"$run/pg.out" 2>&1; then
        echo "(postgres skipped: the throw-away PostgreSQL did not start: $(tail -1 "$run/pg.out"))"
        continue
      fi
      pg_started=true
      bench_store postgres && ran+=(postgres)
      ;;
    sqlite) bench_store sqlite && ran+=(sqlite) ;;
    *) echo "bench_three_machines.sh: unknown store '$store' (postgres, sqlite)" >&2; exit 2 ;;
  esac
done
[[ ${#ran[@]} -gt 0 ]] || { echo "nothing ran" >&2; exit 1; }
python3 "$here/bench_stats.py" "$run" "${ran[@]}"
