#!/usr/bin/env python3
"""Figures for the daemon's event-driven loops (printed, never asserted).

  run_bench.py BUILD_DIR [--runs 10] [--idle-seconds 60] [--skip-docker]

(a) cloudflared (the stub) killed under a supervisor whose own restart is off (a scripted
    systemctl for systemd-supervisor, no Restart=): time from the kill to tunnelmgr's
    `systemctl restart`, median of N. health.interval is 30 s, so without events it would be 0-30 s.
(b) `POST /networks/NET/connect` on a private dockerd (tests/support/dockerd/dockerd.sh) to the
    stored Docker snapshot showing it (read from the state DB), median of N.
(c) the idle daemon's context switches per second over --idle-seconds, summed over its threads
    (/proc/PID/task/*/status voluntary_ctxt_switches + nonvoluntary_ctxt_switches, sampled every
    50 ms so short-lived threads are counted too), with the supervisor and Docker watches running.
Needs root for (b) (and the Docker watch in (c)); skips them otherwise. Everything it starts it
stops by PID; it talks only to loopback and the unix sockets it created.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TUNNEL_ID = "6ff42ae2-765d-4adf-8112-31c55c1551ef"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=20.0, step=0.005):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if pred():
            return True
        time.sleep(step)
    return pred()


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


class Bench:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.tunnelmgr = os.path.join(self.build, "tunnelmgr")
        self.plugins = os.path.join(self.build, "plugins")
        self.stub = os.path.join(self.build, "tests", "support", "cloudflared-stub", "cloudflared-stub")
        for p in (self.tunnelmgr, self.stub, os.path.join(self.plugins, "systemd-supervisor.so")):
            if not os.path.exists(p):
                sys.exit(f"missing {p}: build tunnelmgr, cloudflared-stub and the plugins first")
        self.dir = tempfile.mkdtemp(prefix="tm-bench-daemon-")
        self.port = free_port()
        self.daemon = None
        self.dockerd_dir = None
        with open(os.path.join(self.dir, "creds.json"), "w") as f:
            f.write(json.dumps({"AccountTag": "a", "TunnelSecret": "c2VjcmV0", "TunnelID": TUNNEL_ID}))
        with open(os.path.join(self.dir, "cloudflared.yml"), "w") as f:
            f.write(f"tunnel: {TUNNEL_ID}\ncredentials-file: {self.dir}/creds.json\ningress:\n  - service: http_status:404\n")
        self.systemctl = os.path.join(self.dir, "systemctl")
        with open(self.systemctl, "w") as f:
            f.write(f"""#!/bin/sh
d='{self.dir}'
echo "$(date +%s%N) $*" >> "$d/calls"
alive() {{ [ -n "$1" ] && [ "$1" -gt 0 ] && [ -d /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }}
pid=$(cat "$d/main.pid" 2>/dev/null)
case "$1" in
show)
  if alive "$pid"; then
    printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=%s\\nActiveEnterTimestampMonotonic=1\\nNRestarts=0\\nResult=success\\n' "$pid"
  else
    printf 'LoadState=loaded\\nActiveState=failed\\nSubState=failed\\nMainPID=0\\nActiveEnterTimestampMonotonic=0\\nNRestarts=0\\nResult=signal\\n'
  fi ;;
start|restart)
  if alive "$pid"; then kill -TERM "$pid"; i=0; while alive "$pid" && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; fi
  TM_STUB_READY_DELAY_MS=100 setsid {self.stub} tunnel --config {self.dir}/cloudflared.yml --metrics 127.0.0.1:{self.port} --grace-period 0s run >> "$d/stub.log" 2>&1 < /dev/null &
  echo $! > "$d/main.pid" ;;
esac
exit 0
""")
        os.chmod(self.systemctl, 0o755)

    # --- the parts ---------------------------------------------------------------------------
    def write_config(self, interval="30s", runtime_socket=None):
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write(f"state: {{ plugin: sqlite-state, path: {self.dir}/state.db }}\n")
            f.write(f"tunnel: {{ id: {TUNNEL_ID}, config_file: {self.dir}/cloudflared.yml, metrics: 127.0.0.1:{self.port} }}\n")
            f.write(f"health: {{ interval: {interval}, strikes: 3 }}\n")
            f.write(f"supervisor: {{ plugin: systemd-supervisor, unit: cloudflared.service, systemctl: {self.systemctl} }}\n")
            if runtime_socket:
                f.write(f"runtime: {{ plugin: docker-runtime, socket: {runtime_socket} }}\n")
            f.write(f"plugin_dir: {self.plugins}\n")

    def start_daemon(self, level="info"):
        self.log_path = os.path.join(self.dir, "daemon.log")
        log = open(self.log_path, "a")
        self.daemon = subprocess.Popen([self.tunnelmgr, "--config", os.path.join(self.dir, "config.yml"), "--log-level", level,
                                        "daemon"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if not wait_for(lambda: "holding the background lease" in read(self.log_path)):
            sys.exit("the daemon did not start:\n" + read(self.log_path))

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def stub_pid(self):
        try:
            return int(read(os.path.join(self.dir, "main.pid")).strip() or 0)
        except ValueError:
            return 0

    def stub_ready(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            c.request("GET", "/ready")
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    def restarts(self):
        return [int(l.split(" ", 1)[0]) for l in read(os.path.join(self.dir, "calls")).splitlines() if " restart " in l]

    def ups(self):
        return read(self.log_path).count("-> up")

    def cleanup(self):
        self.stop_daemon()
        pid = self.stub_pid()
        if pid > 0:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.dockerd_dir:
            subprocess.run(["/bin/bash", os.path.join(SRC, "tests/support/dockerd/dockerd.sh"), "stop", self.dockerd_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(self.dockerd_dir, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- (a) --------------------------------------------------------------------------------------
    def bench_restart(self, runs):
        subprocess.run([self.systemctl, "start", "cloudflared.service"], check=True)
        if not wait_for(self.stub_ready):
            sys.exit("the stub did not become ready:\n" + read(os.path.join(self.dir, "stub.log")))
        self.write_config("30s")
        self.start_daemon()
        if not wait_for(lambda: "following the main process" in read(self.log_path)):
            sys.exit("no supervisor watch:\n" + read(self.log_path))
        if not wait_for(lambda: self.ups() >= 1):
            sys.exit("the tunnel never came up:\n" + read(self.log_path))
        took = []
        for _ in range(runs):
            ups, before, pid = self.ups(), len(self.restarts()), self.stub_pid()
            t0 = time.time_ns()
            os.kill(pid, signal.SIGKILL)
            if not wait_for(lambda: len(self.restarts()) > before, 40):
                sys.exit("no restart within 40 s:\n" + read(self.log_path))
            took.append((self.restarts()[before] - t0) / 1e6)
            # Up again (the backoff starts over only once the loop has seen it up).
            if not wait_for(lambda: self.ups() > ups, 40):
                sys.exit("not up again:\n" + read(self.log_path))
            time.sleep(0.3)
        self.stop_daemon()
        return took

    # --- (b) --------------------------------------------------------------------------------------
    def start_dockerd(self):
        if os.geteuid() != 0 or not (shutil.which("dockerd") or os.path.exists("/usr/sbin/dockerd")):
            return None
        self.dockerd_dir = tempfile.mkdtemp(prefix="tmdk-", dir="/tmp")
        sh = os.path.join(SRC, "tests/support/dockerd/dockerd.sh")
        for step in ("start", "image"):
            r = subprocess.run(["/bin/bash", sh, step, self.dockerd_dir], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"(dockerd {step} failed: {r.stderr.strip()[-300:]})")
                return None
        return os.path.join(self.dockerd_dir, "docker.sock")

    def docker_api(self, sock, method, path, body=None):
        c = UnixHTTP(sock)
        c.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def bench_docker(self, sock, runs):
        nets = [f"tmb-{os.getpid()}-{i}" for i in range(runs + 1)]
        for n in nets:
            self.docker_api(sock, "POST", "/networks/create", {"Name": n})
        ctr = f"tmb-web-{os.getpid()}"
        created = self.docker_api(sock, "POST", f"/containers/create?name={ctr}",
                                  {"Image": "tm-busybox:latest", "Cmd": ["sleep", "3600"],
                                   "HostConfig": {"NetworkMode": nets[0]}})
        self.docker_api(sock, "POST", f"/containers/{created['Id']}/start")
        self.write_config("30s", runtime_socket=sock)
        self.start_daemon()
        if not wait_for(lambda: "following Docker events" in read(self.log_path)):
            sys.exit("no Docker watch:\n" + read(self.log_path))
        db = sqlite3.connect(f"file:{self.dir}/state.db?mode=ro", uri=True, timeout=5)

        def attached(net):
            row = db.execute("SELECT count(*) FROM container_networks cn JOIN docker_containers c ON c.id = cn.container_id "
                             "WHERE c.name = ? AND cn.network_id = ?", (ctr, net)).fetchone()
            return row[0] == 1

        if not wait_for(lambda: attached(nets[0])):
            sys.exit("the first snapshot never showed the container:\n" + read(self.log_path))
        took = []
        for n in nets[1:]:
            t0 = time.monotonic()
            self.docker_api(sock, "POST", f"/networks/{n}/connect", {"Container": ctr})
            if not wait_for(lambda: attached(n), 30, 0.002):
                sys.exit(f"{n} never reached the snapshot:\n" + read(self.log_path))
            took.append((time.monotonic() - t0) * 1000)
            time.sleep(0.3)
        db.close()
        self.stop_daemon()
        return took

    # --- (c) --------------------------------------------------------------------------------------
    def bench_idle(self, seconds, interval, runtime_socket):
        self.write_config(interval, runtime_socket=runtime_socket)
        self.start_daemon(level="warn")
        time.sleep(3)  # past start-up: the first pass, the watches' first connections
        pid = self.daemon.pid
        seen = {}  # tid -> (name, first count, last count)

        def sample():
            for tid in os.listdir(f"/proc/{pid}/task"):
                text = read(f"/proc/{pid}/task/{tid}/status")
                vals = {}
                for line in text.splitlines():
                    k, _, v = line.partition(":")
                    vals[k] = v.strip()
                if "voluntary_ctxt_switches" not in vals:
                    continue
                n = int(vals["voluntary_ctxt_switches"]) + int(vals["nonvoluntary_ctxt_switches"])
                if tid in seen:
                    seen[tid] = (seen[tid][0], seen[tid][1], n)
                else:
                    # A thread born during the window counts from zero.
                    seen[tid] = (vals.get("Name", "?"), n if not started_window else 0, n)

        started_window = False
        sample()
        started_window = True
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(0.05)
            sample()
        elapsed = time.monotonic() - t0
        per_thread = {}
        for tid, (name, first, last) in seen.items():
            key = "main" if tid == str(pid) else name
            per_thread.setdefault(key, 0)
            per_thread[key] += last - first
        total = sum(per_thread.values())
        self.stop_daemon()
        return total / elapsed, total, elapsed, per_thread


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--skip-docker", action="store_true")
    args = ap.parse_args()
    b = Bench(args.build)
    try:
        took = b.bench_restart(args.runs)
        print(f"(a) cloudflared killed -> tunnelmgr's restart issued (health.interval 30 s): median {median(took):.0f} ms, "
              f"min {min(took):.0f}, max {max(took):.0f} over {len(took)}")
        sock = None if args.skip_docker else b.start_dockerd()
        if sock:
            took = b.bench_docker(sock, args.runs)
            print(f"(b) network connect -> stored snapshot shows it: median {median(took):.0f} ms, "
                  f"min {min(took):.0f}, max {max(took):.0f} over {len(took)}")
        else:
            print("(b) skipped: no private dockerd (needs root and docker.io)")
        for interval in ("30s", "1h"):
            rate, total, elapsed, per = b.bench_idle(args.idle_seconds, interval, sock)
            threads = ", ".join(f"{k}: {v}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
            print(f"(c) idle, health.interval {interval}, watches: supervisor{' + Docker' if sock else ''}: "
                  f"{rate:.3f} context switches/s ({total} in {elapsed:.0f} s; by thread: {threads})")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
