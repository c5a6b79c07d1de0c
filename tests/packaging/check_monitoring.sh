#!/bin/bash
# The alert rules and Grafana dashboards of packaging/monitoring/ against what tunnelmgr really serves:
# promtool check rules, promtool test rules (each alert firing and quiet), the dashboards as JSON with
# their PromQL parsed by promtool, every metric name they use declared in tunnelmgr_metrics.cpp, and
# `promtool check metrics` on a scrape of the built `tunnelmgr daemon`.
# Usage: check_monitoring.sh SOURCE_DIR TUNNELMGR_BINARY PLUGIN_DIR
# Exits 77 (skipped) when promtool or jq is missing, except under CI=true, where that is a failure.
set -euo pipefail

src=${1:?usage: check_monitoring.sh SOURCE_DIR TUNNELMGR_BINARY PLUGIN_DIR}
binary=${2:?usage: check_monitoring.sh SOURCE_DIR TUNNELMGR_BINARY PLUGIN_DIR}
plugin_dir=${3:?usage: check_monitoring.sh SOURCE_DIR TUNNELMGR_BINARY PLUGIN_DIR}
mon="$src/packaging/monitoring"
rules="$mon/tunnelmgr-alerts.yml"
metrics_cpp="$src/host/src/metrics/tunnelmgr_metrics.cpp"

fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in promtool jq curl; do
  if ! command -v "$tool" >/dev/null; then
    why="$tool is not installed (packaging/scripts/install-deps.sh --test installs it; promtool is in Debian's prometheus package)"
    [ "${CI:-}" = "true" ] && fail "$why"
    echo "SKIP: $why"
    exit 77
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tm-monitoring.XXXXXX")
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. the rules and their unit tests
promtool check rules "$rules"
tests=("$mon"/tests/*.yml)
[ -e "${tests[0]}" ] || fail "no promtool unit tests in $mon/tests"
promtool test rules "${tests[@]}"
# Each alert has a test that expects it firing and one that expects it quiet.
for alert in $(grep -oP '^\s*- alert:\s*\K\w+' "$rules"); do
  grep -A2 -P "alertname:\s*$alert\s*$" "${tests[@]}" | grep -q 'exp_labels' ||
    fail "$alert: no unit test expects it to fire"
  grep -A1 -P "alertname:\s*$alert\s*$" "${tests[@]}" | grep -q 'exp_alerts: \[\]' ||
    fail "$alert: no unit test expects it to stay quiet"
done
echo "rules: $(grep -c '^\s*- alert:' "$rules") alerts, each tested firing and quiet"

# --- 2. the dashboards: JSON, unique uids, every target a PromQL expression promtool can parse
dashboards=("$mon"/grafana/*.json)
[ -e "${dashboards[0]}" ] || fail "no dashboards in $mon/grafana"
uids=""
for d in "${dashboards[@]}"; do
  jq -e . "$d" >/dev/null || fail "$d is not JSON"
  jq -e '(.uid | type == "string" and length > 0) and (.title | length > 0) and (.panels | length > 0)' "$d" >/dev/null ||
    fail "$d: a dashboard needs uid, title and panels"
  jq -e '[.. | objects | select(has("targets")) | .targets[] | select((.expr // "") == "")] | length == 0' "$d" >/dev/null ||
    fail "$d: a panel target has no expr"
  uids+="$(jq -r .uid "$d")"$'\n'
done
[ -z "$(printf '%s' "$uids" | sort | uniq -d)" ] || fail "two dashboards share a uid: $(printf '%s' "$uids" | sort | uniq -d)"

# Every PromQL expression of the dashboards: panel targets and query variables (label_values(M, L) → M).
dashboard_exprs() {
  jq -r '.. | objects | ((.targets? // [])[] | .expr), (select(.type? == "query") | .query | if type == "object" then .query else . end)
         | select(type == "string" and length > 0) | gsub("\n"; " ")' "$@" |
    sed -E 's/label_values\(([^,()]*(\{[^}]*\})?)[[:space:]]*,[[:space:]]*[A-Za-z_]+[[:space:]]*\)/\1/'
}
# Grafana's variables as a query would see them, so promtool can parse what is left.
dashboard_exprs "${dashboards[@]}" |
  sed -e 's/\$__rate_interval/5m/g; s/\$__interval/1m/g; s/\$__range/1h/g' -e 's/\$[A-Za-z_]*/.+/g' |
  jq -R -s '{groups: [{name: "dashboards", rules: (split("\n") | map(select(length > 0))
            | to_entries | map({record: "dashboard:expr_\(.key)", expr: .value}))}]}' >"$work/dashboard-rules.json"
promtool check rules "$work/dashboard-rules.json" >/dev/null ||
  { promtool check rules "$work/dashboard-rules.json"; fail "a dashboard expression is not valid PromQL"; }
echo "dashboards: ${#dashboards[@]}, $(jq '.groups[0].rules | length' "$work/dashboard-rules.json") expressions parsed"

# --- 3. every metric name in the rules, their tests and the dashboards is one tunnelmgr declares
declared=$(grep -oP 'add_(counter|gauge|histogram)\(\s*"\K[a-z_:][a-z0-9_:]*' "$metrics_cpp" | sort -u)
histograms=$(grep -oP 'add_histogram\(\s*"\K[a-z_:][a-z0-9_:]*' "$metrics_cpp" | sort -u)
[ -n "$declared" ] || fail "no metric family found in $metrics_cpp"
known() {
  local name=$1 base
  [ "$name" = up ] && return 0  # Prometheus's own, per target
  grep -qx "$name" <<<"$declared" && return 0
  base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")
  [ "$base" != "$name" ] && grep -qx "$base" <<<"$histograms"
}
# The metric names of PromQL on stdin: string literals, label matchers, ranges and label lists
# dropped, then every identifier that is not a function call, keyword or number.
metric_names() {
  perl -ne '
    s/"(?:[^"\\]|\\.)*"//g; s/\{[^{}]*\}//g; s/\[[^\]]*\]//g;
    s/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)//g;
    while (/(?<![\w.:\$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g) {
      next if defined $2;
      next if $1 =~ /^(?:and|or|unless|bool|offset|inf|nan|by|without|on|ignoring|group_left|group_right)$/i;
      print "$1\n";
    }'
}
# The rules' expressions: `expr: ...` on one line or as a block scalar.
rule_exprs() {
  perl -ne '
    if (/^(\s*)expr:\s*(.*?)\s*$/) { $ind = length($1); if ($2 =~ /^[|>][-+]?$/) { $blk = 1 } else { $blk = 0; print "$2\n" } next }
    if ($blk) { if (/^(\s*)\S/ && length($1) > $ind) { print } elsif (/\S/) { $blk = 0 } }' "$@"
}
used=$( {
  rule_exprs "$rules" "${tests[@]}" | metric_names
  grep -hoP "^\s*- series:\s*['\"]\K[A-Za-z_:][A-Za-z0-9_:]*" "${tests[@]}"
  dashboard_exprs "${dashboards[@]}" | metric_names
} | sort -u)
[ -n "$used" ] || fail "no metric name found in the rules and dashboards"
unknown=""
for name in $used; do known "$name" || unknown+=" $name"; done
[ -z "$unknown" ] || fail "not declared in host/src/metrics/tunnelmgr_metrics.cpp:$unknown"
echo "metric names: $(wc -w <<<"$used") used, all declared ($(wc -w <<<"$declared") families declared)"

# --- 4. promtool check metrics on a real scrape of the built daemon
[ -x "$binary" ] || fail "$binary is not built"
[ -e "$plugin_dir/sqlite-state.so" ] || fail "no sqlite-state.so in $plugin_dir"
tunnel_id=6ff42ae2-765d-4adf-8112-31c55c1551ef
printf 'tunnel: %s\ncredentials-file: %s/creds.json\ningress:\n  - service: http_status:404\n' \
  "$tunnel_id" "$work" >"$work/cloudflared.yml"
# No cloudflared answers on 127.0.0.1:1: the health loop runs its checks and reports the tunnel down.
cat >"$work/config.yml" <<EOF
state: { plugin: sqlite-state, path: $work/state.db }
tunnel: { id: $tunnel_id, config_file: $work/cloudflared.yml, metrics: "127.0.0.1:1", cloudflared_bin: none }
health: { interval: 1s, strikes: 2 }
metrics: { listen: "127.0.0.1:0" }
plugin_dir: $plugin_dir
EOF
"$binary" --config "$work/config.yml" --log-level info daemon >"$work/daemon.log" 2>&1 &
daemon_pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(grep -oP 'metrics at http://127\.0\.0\.1:\K[0-9]+' "$work/daemon.log" || true)
  if [ -n "$port" ] && grep -q 'holding the background lease' "$work/daemon.log"; then break; fi
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; fail "the daemon ended before serving metrics"; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/daemon.log" >&2; fail "the daemon did not say where it serves metrics"; }
# A scrape after at least one health check, so the histogram has samples.
scrape="$work/scrape.txt"
for _ in $(seq 1 100); do
  curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" >"$scrape" || fail "GET /metrics failed"
  grep -qP '^tunnelmgr_health_check_duration_seconds_count [1-9]' "$scrape" && break
  sleep 0.1
done
promtool check metrics <"$scrape" || { cat "$scrape" >&2; fail "promtool check metrics found problems in the scrape"; }
for family in $declared; do
  grep -q "^# TYPE $family " "$scrape" || fail "$family is declared but not served"
done
grep -qx 'tunnelmgr_state_up 1' "$scrape" || { cat "$scrape" >&2; fail "tunnelmgr_state_up is not 1 with a working state store"; }
grep -qx 'tunnelmgr_lease_holder 1' "$scrape" || fail "the only daemon does not hold the lease"
grep -qx 'tunnelmgr_tunnel_up 0' "$scrape" || fail "no cloudflared runs, yet tunnelmgr_tunnel_up is not 0"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""
[ "$status" -eq 0 ] || { cat "$work/daemon.log" >&2; fail "the daemon exited $status on SIGTERM"; }
echo "scrape: $(grep -c '^# TYPE' "$scrape") families, $(grep -vc '^#' "$scrape") samples, promtool check metrics clean"
echo "monitoring: all checks passed"
