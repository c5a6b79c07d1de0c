#!/usr/bin/env python3
"""The cost of one /metrics scrape of `tunnelmgr daemon` as the state grows (issue 13).

For each size N: a fresh state (made by the real binary, then N names of 4 projects inserted straight
into its cnames table — the pipeline is not what is measured here), the daemon with metrics.listen on
loopback, 30 scrapes; prints the median and max scrape time and the daemon's peak RSS (VmHWM).
Then, against issue 13 goal 2, the largest size against the one 10x smaller (<= 1.5x the time) and the
largest's scrape time and peak RSS (at 100,000 names: <= 20 ms, <= 30 MB).
Usage: scrape_bench.py BUILD_DIR [N ...]   (default sizes 1000 10000 100000)
"""
import os, signal, socket, sqlite3, statistics, subprocess, sys, tempfile, time, urllib.request

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
sizes = [int(n) for n in sys.argv[2:]] or [1000, 10000, 100000]
binary = os.path.join(build, "tunnelmgr")
plugins = os.path.join(build, "plugins")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(n):
    d = tempfile.mkdtemp(prefix="tm-scrape-")
    port = free_port()
    cfg = os.path.join(d, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"state: {{ plugin: sqlite-state, path: {d}/state.db }}\n"
                f"tunnel: {{ id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, default_domain: example.com, metrics: \"127.0.0.1:1\" }}\n"
                f"metrics: {{ listen: \"127.0.0.1:{port}\" }}\n"
                "projects:\n" + "".join(f"  p{p}: {{ ports: \"{3000 + p * 100}-{3099 + p * 100}\" }}\n" for p in range(4)) +
                f"plugin_dir: {plugins}\n")
    subprocess.run([binary, "--config", cfg, "--log-level", "error", "state"], check=True, capture_output=True)
    db = sqlite3.connect(f"{d}/state.db")
    now = int(time.time() * 1000)
    db.executemany("INSERT INTO cnames (hostname, subdomain, domain, project, port, target, target_type, created_at) "
                   "VALUES (?, ?, 'example.com', ?, ?, ?, 'host', ?)",
                   ((f"n{i}.example.com", f"n{i}", f"p{i % 4}", 3000 + (i % 4) * 100, f"http://localhost:{3000 + i % 100}", now)
                    for i in range(n)))
    db.commit()
    db.close()
    log = open(os.path.join(d, "daemon.log"), "w")
    daemon = subprocess.Popen([binary, "--config", cfg, "--log-level", "error", "daemon"], stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                time.sleep(0.05)
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            body = urllib.request.urlopen(url, timeout=30).read()
            times.append((time.perf_counter() - t0) * 1000)
        want = f'tunnelmgr_cnames{{project="p0"}} {(n + 3) // 4}'.encode()
        assert want in body, "wrong count: " + [l for l in body.decode().splitlines() if "cnames{" in l].__repr__()
        with open(f"/proc/{daemon.pid}/status") as st:
            hwm = next(line.split()[1] for line in st if line.startswith("VmHWM"))
        print(f"{n:>7} names: scrape median {statistics.median(times):7.2f} ms, max {max(times):7.2f} ms, "
              f"daemon peak RSS {int(hwm) / 1024:6.1f} MB")
        return statistics.median(times), int(hwm) / 1024
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
        subprocess.run(["rm", "-rf", d])


results = {n: run(n) for n in sizes}
big = max(sizes)
if big // 10 in results:
    (t_big, mb_big), (t_small, _) = results[big], results[big // 10]
    print(f"  {big} vs {big // 10} names: scrape {t_big / t_small:.2f}x the time (goal <= 1.5x); at {big}: "
          f"{t_big:.2f} ms ({t_big / 20:.2f}x the 20 ms goal), peak RSS {mb_big:.1f} MB ({mb_big / 30:.2f}x the 30 MB goal)")
