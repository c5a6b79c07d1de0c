#!/usr/bin/env python3
"""CLI start-up to the command's first call (issue 13 goal 4: <= 10 ms), printed, never asserted.

Runs real commands of the real binary against a small state, the Cloudflare API fake on loopback
(tests/support/cloudflare-fake) and a scratch cloudflared config, each RUNS times, interleaved (so a
busy moment of the machine falls on every command alike):
  --help                      the process floor: the dynamic linker loading the host's libraries
  cname ls --json / status / audit --json   commands that read the state
  cname check                               a dry run of a known zone: no DNS plugin is started for it
  domains --refresh (token checked every start)   a command that starts the DNS plugin and asks the fake
  domains --refresh (token check remembered)      the same with dns.token_memo_seconds: 600
For each: the wall time (median, p90), the CPU time (user + sys: less disturbed by a busy machine than
the wall) and, from the debug log line `ms_to_command=`, the time from the
binary's statics to the command's first call (median). "to first call" = floor (--help less a bare
process) + that time: what the issue's goal measures.
Usage: startup_bench.py BUILD_DIR [--runs 30] [--compare OTHER_TUNNELMGR]
  --compare: a second tunnelmgr binary (e.g. built from the previous commit), run interleaved with the
  first on the same config, so before/after are measured side by side.
Talks only to loopback; stops what it started by PID.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TUNNEL_ID = "6ff42ae2-765d-4adf-8112-31c55c1551ef"
TOKEN = "fake-token-for-startup-bench"


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, round(p * (len(s) - 1)))]


def start_fake(build, d):
    fake = os.path.join(build, "tests/support/cloudflare-fake/cloudflare-api-fake")
    port_file = os.path.join(d, "fake.port")
    proc = subprocess.Popen([fake, "--listen", "127.0.0.1:0", "--port-file", port_file, "--token", TOKEN,
                             "--zone", "example.com", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        if os.path.exists(port_file):
            return proc, int(open(port_file).read())
        time.sleep(0.01)
    proc.kill()
    sys.exit("the Cloudflare fake did not start")


def write_config(path, d, port, plugins, memo):
    with open(path, "w") as f:
        f.write(f"state: {{ plugin: sqlite-state, path: {d}/state.db }}\n"
                f"dns: {{ plugin: cloudflare-dns, api_base: \"http://127.0.0.1:{port}/client/v4\", "
                f"api_token_file: {d}/token, token_memo_seconds: {memo} }}\n"
                f"tunnel: {{ id: {TUNNEL_ID}, config_file: {d}/cloudflared.yml, metrics: \"127.0.0.1:1\", "
                f"default_domain: example.com }}\n"
                "projects:\n  p1: { ports: \"1-65535\" }\n"
                f"plugin_dir: {plugins}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--compare", help="a second tunnelmgr binary, measured interleaved with the first")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    binaries = {"this": os.path.join(build, "tunnelmgr")}
    if a.compare:
        binaries["compare"] = os.path.abspath(a.compare)
    d = tempfile.mkdtemp(prefix="tm-startup-")
    env = {**os.environ, "XDG_RUNTIME_DIR": os.path.join(d, "run")}  # the token memo lands here
    env.pop("TUNNELMGR_API_SOCKET", None)
    os.mkdir(env["XDG_RUNTIME_DIR"], 0o700)
    fake, port = start_fake(build, d)
    try:
        with open(os.path.join(d, "token"), "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(os.path.join(d, "token"), 0o600)
        with open(os.path.join(d, "cloudflared.yml"), "w") as f:
            f.write(f"tunnel: {TUNNEL_ID}\ningress:\n  - service: http_status:404\n")
        plain, memo = os.path.join(d, "plain.yml"), os.path.join(d, "memo.yml")
        write_config(plain, d, port, os.path.join(build, "plugins"), 0)
        write_config(memo, d, port, os.path.join(build, "plugins"), 600)
        subprocess.run([binaries["this"], "--config", plain, "--log-level", "error", "domains", "--refresh"],
                       check=True, capture_output=True, env=env)  # zones known, as on a machine in use
        check = ["cname", "check", "app", "--port", "3100", "--project", "p1"]
        cases = [
            ("--help (process floor)", None, ["--help"]),
            ("cname ls --json", plain, ["cname", "ls", "--json"]),
            ("status --json", plain, ["status", "--json"]),
            ("audit --json", plain, ["audit", "--json"]),
            ("cname check (known zone, no DNS plugin)", plain, check),
            ("domains --refresh, token checked", plain, ["domains", "--refresh", "--json"]),
            ("domains --refresh, token remembered", memo, ["domains", "--refresh", "--json"]),
        ]
        bare = []
        wall = {(b, c[0]): [] for b in binaries for c in cases}
        cpu = {(b, c[0]): [] for b in binaries for c in cases}
        steps = {(b, c[0]): [] for b in binaries for c in cases}
        for _ in range(a.runs):
            t0 = time.perf_counter()
            subprocess.run(["/bin/true"])
            bare.append((time.perf_counter() - t0) * 1000)
            for b, binary in binaries.items():
                for label, cfg, args in cases:
                    argv = [binary] + (["--config", cfg, "--log-level", "debug"] if cfg else []) + args
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t0 = time.perf_counter()
                    r = subprocess.run(argv, capture_output=True, text=True, env=env)
                    wall[(b, label)].append((time.perf_counter() - t0) * 1000)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu[(b, label)].append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
                    if r.returncode != 0:
                        sys.exit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr[-500:]}")
                    m = re.search(r"ms_to_command=([0-9.]+)", r.stderr)
                    if m:
                        steps[(b, label)].append(float(m.group(1)))
        floor = {b: statistics.median(wall[(b, cases[0][0])]) - statistics.median(bare) for b in binaries}
        print(f"CLI start-up, {a.runs} runs each, interleaved (a bare process costs {statistics.median(bare):.1f} ms here):")
        for b, binary in binaries.items():
            print(f"  {binary}: process floor (--help less a bare process) {floor[b]:.1f} ms")
            for label, cfg, args in cases:
                w = wall[(b, label)]
                line = (f"    {label:<40} wall p50 {statistics.median(w):6.1f} ms  p90 {pct(w, 0.9):6.1f} ms  "
                        f"cpu p50 {statistics.median(cpu[(b, label)]):6.1f} ms")
                if steps[(b, label)]:
                    s = statistics.median(steps[(b, label)])
                    to_call = floor[b] + s
                    line += (f"   in-process to the command {s:5.1f} ms, to first call ~{to_call:5.1f} ms "
                             f"({to_call / 10:.2f}x the 10 ms goal)")
                elif label.startswith("--help"):
                    line += "   (no command runs)"
                else:
                    line += "   (this binary logs no ms_to_command)"
                print(line)
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
