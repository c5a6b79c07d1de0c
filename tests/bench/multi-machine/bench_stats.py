#!/usr/bin/env python3
"""Statistics for bench_three_machines.sh (a benchmark driver, not a test: nothing is asserted).

  bench_stats.py RUN_DIR STORE [STORE...]

Reads, for each STORE, RUN_DIR/STORE/times.mK (one line per add: index, start, end, exit code; start and
end are bash $EPOCHREALTIME seconds with microseconds), RUN_DIR/STORE/startup.{help,status,domains}
(start end rc per run) and RUN_DIR/STORE/check (key=value lines the driver gathered after the run), and
prints a short table on stdout and one JSON line per store (prefixed `JSON `) for machines.
"""
import json
import os
import sys


def pct(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(1, -(-len(s) * p // 100))  # ceil(n * p / 100), at least 1
    return s[int(k) - 1]


def read_rows(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4:
                    rows.append((int(parts[0]), float(parts[1]), float(parts[2]), int(parts[3])))
                elif len(parts) == 3:
                    rows.append((len(rows), float(parts[0]), float(parts[1]), int(parts[2])))
    except OSError:
        pass
    return rows


def read_kv(path):
    kv = {}
    try:
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    kv[k] = v
    except OSError:
        pass
    return kv


def store_figures(run_dir, store):
    d = os.path.join(run_dir, store)
    per_machine = {}
    all_ok, starts, ends, failed = [], [], [], 0
    for k in (1, 2, 3):
        rows = read_rows(os.path.join(d, f"times.m{k}"))
        if not rows:
            continue
        ok = [(e - s) * 1000.0 for (_, s, e, rc) in rows if rc == 0]
        bad = sum(1 for r in rows if r[3] != 0)
        failed += bad
        starts.append(min(r[1] for r in rows))
        ends.append(max(r[2] for r in rows))
        span = max(r[2] for r in rows) - min(r[1] for r in rows)
        # The trend: the first and the last tenth of this machine's adds (the ingress file, the audit
        # and the names grow as the run goes on).
        tenth = max(1, len(rows) // 10)
        first = [(e - s) * 1000.0 for (_, s, e, rc) in rows[:tenth] if rc == 0]
        last = [(e - s) * 1000.0 for (_, s, e, rc) in rows[-tenth:] if rc == 0]
        per_machine[f"m{k}"] = {
            "adds": len(rows), "ok": len(ok), "failed": bad,
            "seconds": round(span, 3), "adds_per_s": round(len(ok) / span, 2) if span > 0 else None,
            "p50_ms": round(pct(ok, 50), 2) if ok else None, "p99_ms": round(pct(ok, 99), 2) if ok else None,
            "first_tenth_p50_ms": round(pct(first, 50), 2) if first else None,
            "last_tenth_p50_ms": round(pct(last, 50), 2) if last else None,
        }
        all_ok += ok
    wall = (max(ends) - min(starts)) if starts else 0.0
    startup = {}
    for what in ("help", "status", "domains"):
        xs = [(e - s) * 1000.0 for (_, s, e, rc) in read_rows(os.path.join(d, f"startup.{what}")) if rc == 0]
        startup[what] = round(pct(xs, 50), 2) if xs else None
    check = read_kv(os.path.join(d, "check"))
    firsts = [m["first_tenth_p50_ms"] for m in per_machine.values() if m["first_tenth_p50_ms"] is not None]
    lasts = [m["last_tenth_p50_ms"] for m in per_machine.values() if m["last_tenth_p50_ms"] is not None]
    return {
        "store": store,
        "machines": len(per_machine),
        "adds_per_machine": int(check.get("n", "0") or 0),
        "ok": len(all_ok), "failed": failed,
        "wall_s": round(wall, 3),
        "adds_per_s": round(len(all_ok) / wall, 2) if wall > 0 else None,
        "p50_ms": round(pct(all_ok, 50), 2) if all_ok else None,
        "p90_ms": round(pct(all_ok, 90), 2) if all_ok else None,
        "p99_ms": round(pct(all_ok, 99), 2) if all_ok else None,
        "max_ms": round(max(all_ok), 2) if all_ok else None,
        "mean_ms": round(sum(all_ok) / len(all_ok), 2) if all_ok else None,
        "first_tenth_p50_ms": round(sum(firsts) / len(firsts), 2) if firsts else None,
        "last_tenth_p50_ms": round(sum(lasts) / len(lasts), 2) if lasts else None,
        "cli_help_p50_ms": startup["help"],
        "cli_status_p50_ms": startup["status"],
        "cli_via_daemon_p50_ms": startup["domains"],
        "per_machine": per_machine,
        "check": check,
    }


def fmt(v, spec="8.1f"):
    return format(v, spec) if isinstance(v, (int, float)) else format("-", ">" + spec.split(".")[0].rstrip("f"))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    run_dir = sys.argv[1]
    figs = [store_figures(run_dir, s) for s in sys.argv[2:]]
    print()
    print("  store      adds ok/failed    wall s   adds/s   p50 ms   p90 ms   p99 ms   max ms | "
          "p50 first/last tenth ms | CLI: --help  status  via-daemon ms")
    for f in figs:
        print(f"  {f['store']:<9} {f['ok']:>6}/{f['failed']:<6} {fmt(f['wall_s'], '9.2f')} {fmt(f['adds_per_s'], '8.1f')} "
              f"{fmt(f['p50_ms'])} {fmt(f['p90_ms'])} {fmt(f['p99_ms'])} {fmt(f['max_ms'])} | "
              f"{fmt(f['first_tenth_p50_ms'], '10.1f')} {fmt(f['last_tenth_p50_ms'], '10.1f')}   | "
              f"{fmt(f['cli_help_p50_ms'], '10.1f')} {fmt(f['cli_status_p50_ms'], '7.1f')} {fmt(f['cli_via_daemon_p50_ms'], '10.1f')}")
    print()
    for f in figs:
        for name, m in f["per_machine"].items():
            print(f"  {f['store']:<9} {name}: {m['ok']} ok, {m['failed']} failed in {m['seconds']:.2f} s "
                  f"({fmt(m['adds_per_s'], '.1f')} adds/s), p50 {fmt(m['p50_ms'], '.1f')} ms, p99 {fmt(m['p99_ms'], '.1f')} ms")
        c = f["check"]
        if c:
            print(f"  {f['store']:<9} after the run: {', '.join(f'{k}={v}' for k, v in c.items() if k != 'n')}")
    print()
    for f in figs:
        print("JSON " + json.dumps(f, sort_keys=True))


if __name__ == "__main__":
    main()
