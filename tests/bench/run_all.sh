#!/bin/sh
# Every figure of issue 13 in one run, each beside its anchor (the reference server, the smaller data,
# the floor, the goal) and the ratio. A driver, not a test: nothing is asserted; keep the printout and
# compare it with the next one to see a regression. Figures from a busy machine are noisy: run it when
# nothing else is building, and read the ratios (measured side by side) before the absolute times.
#   tests/bench/run_all.sh BUILD_DIR [--quick]
#     --quick: 10,000 names only, fewer calls and runs (a few minutes); without it 100,000 names too.
# Needs: the build's tunnelmgr, plugins, tm_seed_state, bench_pipeline and the Cloudflare fake; node and
# npm (the MCP SDK and the reference server are installed beside their bench on first use); python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [--quick]" >&2; exit 2; }
build=$(cd "$1" && pwd)
quick=false
[ "${2:-}" = "--quick" ] && quick=true
if $quick; then sizes="10000"; calls=150; runs=15; else sizes="10000 100000"; calls=300; runs=30; fi

section() { printf '\n== %s\n' "$*"; }
section "tunnelmgr benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, build $build"
if pgrep -f "cmake --build" >/dev/null 2>&1; then echo "(a build is running on this machine: expect noise)"; fi

section "1. MCP tools/call vs the reference server's echo (goal 1: raw <= 0.5x, SDK <= 1.0x, at 10k and 100k names)"
for n in $sizes; do "$here/mcp/run_bench.sh" "$build" "$n" "$calls"; done

section "2. /metrics scrape as the data grows (goal 2: 10x the names <= 1.5x the time; 100k: <= 20 ms, <= 30 MB)"
if $quick; then python3 "$here/metrics/scrape_bench.py" "$build" 1000 10000
else python3 "$here/metrics/scrape_bench.py" "$build" 10000 100000; fi

section "3. CNAME pipeline inside a running process (goal 3: add/rm <= 3x the floor at 1,000 rules; 3,000 rules <= 1.5x 10)"
echo "  issue 13's anchor, through the CLI process: add 65 ms at 10 rules, 142 ms at 1,000, 347 ms at 3,000; floor 3.3-5.6 ms"
summaries=""
for k in 10 1000 3000; do
  out=$("$build/tests/bench/pipeline/bench_pipeline" 20 --rules "$k")
  line=$(printf '%s\n' "$out" | grep '^SUMMARY')
  summaries="$summaries$line
"
done
printf '%s' "$summaries" | awk '
  { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    r = v["rules"]; add[r] = v["add_p50"]; rm[r] = v["rm_p50"]; fl[r] = v["floor_p50"]; rt[r] = v["retarget_p50"]
    printf "  at %5d rules: add p50 %7.2f ms (p99 %7.2f), rm p50 %7.2f ms (p99 %7.2f), retarget p50 %7.2f ms, floor %5.2f ms: add %5.1fx, rm %5.1fx the floor\n",
           r, add[r], v["add_p99"], rm[r], v["rm_p99"], rt[r], fl[r], add[r] / fl[r], rm[r] / fl[r] }
  END {
    if ((1000 in add) && (3000 in add) && (10 in add)) {
      printf "  at 1,000 rules: add %.1fx, rm %.1fx the floor (goal <= 3x); 3,000 vs 10 rules: add %.2fx, rm %.2fx (goal <= 1.5x), retarget %.2fx\n",
             add[1000] / fl[1000], rm[1000] / fl[1000], add[3000] / add[10], rm[3000] / rm[10], rt[3000] / rt[10] } }'

echo "  with the ingress file's git history (history_keep 100) at 1,000 rules: in the change (CLI) vs after the reply (daemon)"
for h in now after; do
  out=$("$build/tests/bench/pipeline/bench_pipeline" 20 --rules 1000 --history "$h")
  printf '%s\n' "$out" | grep '^SUMMARY' | awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "  history %-5s: add p50 %7.2f ms, rm p50 %7.2f ms, floor %5.2f ms: add %5.1fx the floor\n",
           v["history"], v["add_p50"], v["rm_p50"], v["floor_p50"], v["add_p50"] / v["floor_p50"] }'
  printf '%s\n' "$out" | grep 'git history' || true
done

section "4. CLI start-up to the command's first call (goal 4: <= 10 ms)"
python3 "$here/cli/startup_bench.py" "$build" --runs "$runs"

section "5. the daemon's event-driven loops (not an issue 13 goal; Docker parts need root)"
if $quick; then python3 "$here/daemon/run_bench.py" "$build" --runs 5 --idle-seconds 10 --skip-docker
else python3 "$here/daemon/run_bench.py" "$build"; fi

section "6. three machines adding names at once: one PostgreSQL vs a SQLite file each (not an issue 13 goal)"
if $quick; then "$here/multi-machine/bench_three_machines.sh" --build "$build" --quick
else "$here/multi-machine/bench_three_machines.sh" --build "$build"; fi

section "7. the last page of a hostname listing, by offset vs by after (goal 2: any page; the store alone, SQLite)"
if [ -x "$build/tests/bench/sqlite-state/bench_sqlite_reads" ]; then
  for n in $sizes; do
    echo "  at $n names (all of them, and project7's twentieth):"
    "$build/tests/bench/sqlite-state/bench_sqlite_reads" --rows "$n" --benchmark_filter=last_page \
      --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null | grep '_median' | sed 's/^/    /'
  done
else
  echo "  (bench_sqlite_reads is not built: it needs Google Benchmark, libbenchmark-dev)"
fi

section "8. audit filters as the log grows 10x (goal 2: <= 1.5x the time; the store alone, SQLite; a page of 20, newest first)"
if [ -x "$build/tests/bench/sqlite-state/bench_sqlite_reads" ]; then
  if $quick; then audit_sizes="10000 100000"; else audit_sizes="100000 1000000"; fi
  for n in $audit_sizes; do
    echo "  at $n audit rows:"
    "$build/tests/bench/sqlite-state/bench_sqlite_reads" --rows 10000 --audit-rows "$n" --benchmark_filter=audit_filter \
      --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null | grep '_median' | sed 's/^/    /'
  done
else
  echo "  (bench_sqlite_reads is not built: it needs Google Benchmark, libbenchmark-dev)"
fi
