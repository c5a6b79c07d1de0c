#!/bin/bash
# A private dockerd for tests: its own data root, exec root, pidfile and unix socket under DIR,
# no iptables and no default bridge (the flags of FACTS.md), ended by the PID in its pidfile only.
#
# Usage:
#   dockerd.sh start DIR   start dockerd, wait until `docker version` answers (fails with its log)
#   dockerd.sh image DIR   make tm-busybox:latest by `docker import` of a busybox-static rootfs
#   dockerd.sh stop DIR    remove its containers and networks, SIGTERM, wait, SIGKILL; by PID only
#   dockerd.sh host DIR    print the -H argument (unix://DIR/docker.sock)
# Env: TM_DOCKER (docker CLI, default /usr/bin/docker, Debian's, which matches the daemon),
#      TM_DOCKERD_START_TIMEOUT (seconds, default 60).
set -euo pipefail

die() { echo "dockerd.sh: $*" >&2; exit 1; }

cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: dockerd.sh start|image|stop|host DIR"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
sock="$dir/docker.sock"
pidfile="$dir/docker.pid"
log="$dir/dockerd.log"
# A unix socket path holds at most 107 bytes plus the NUL.
[ "${#sock}" -le 107 ] || die "socket path $sock is ${#sock} bytes; unix sockets allow 107: use a shorter DIR"

if [ -n "${TM_DOCKER:-}" ]; then docker_bin="$TM_DOCKER"
elif [ -x /usr/bin/docker ]; then docker_bin=/usr/bin/docker
else docker_bin="$(command -v docker || true)"; fi

docker_cli() { "$docker_bin" -H "unix://$sock" "$@"; }

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  [ -x /bin/busybox ] && dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" ||
    missing+=(busybox-static)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run packaging/scripts/install-deps.sh --test as root"
    echo "dockerd.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      die "apt-get install ${missing[*]} failed"
  fi
  if [ -z "$docker_bin" ] || [ ! -x "$docker_bin" ]; then docker_bin=/usr/bin/docker; fi
}

pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
read_pid() { [ -s "$pidfile" ] && tr -dc '0-9' < "$pidfile" || true; }

start() {
  ensure_packages
  [ "$(id -u)" -eq 0 ] || die "dockerd needs root (network namespaces, overlay mounts)"
  local old; old="$(read_pid)"
  if pid_alive "$old"; then die "a dockerd (pid $old) already runs for $dir: stop it first"; fi
  rm -f "$pidfile" "$sock"
  mkdir -p "$dir/data" "$dir/exec"
  # setsid: the daemon must not die with the test's process group or terminal.
  setsid dockerd --iptables=false --ip-masq=false --ip-forward=false --bridge=none \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" -H "unix://$sock" \
    </dev/null >"$log" 2>&1 &
  local launcher=$!
  local timeout="${TM_DOCKERD_START_TIMEOUT:-60}"
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    if docker_cli version >/dev/null 2>&1; then
      echo "dockerd.sh: dockerd pid $(read_pid) answers on unix://$sock" >&2
      return 0
    fi
    if ! pid_alive "$launcher" && ! pid_alive "$(read_pid)"; then
      echo "dockerd.sh: dockerd exited before answering; its log ($log):" >&2
      tail -n 40 "$log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "dockerd.sh: dockerd did not answer on unix://$sock within ${timeout}s; its log ($log):" >&2
  tail -n 40 "$log" >&2 || true
  local pid; pid="$(read_pid)"
  [ -n "$pid" ] || pid="$launcher"
  kill -TERM "$pid" 2>/dev/null || true
  exit 1
}

image() {
  ensure_packages
  docker_cli version >/dev/null 2>&1 || die "no dockerd answers on unix://$sock: run 'dockerd.sh start $dir' first"
  if docker_cli image inspect tm-busybox:latest >/dev/null 2>&1; then return 0; fi
  local root="$dir/busybox-rootfs"
  rm -rf "$root"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/var/www"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
  echo "root:x:0:" > "$root/etc/group"
  tar -C "$root" -cf "$dir/busybox-rootfs.tar" .
  docker_cli import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' "$dir/busybox-rootfs.tar" tm-busybox:latest >/dev/null
  rm -rf "$root" "$dir/busybox-rootfs.tar"
  docker_cli image inspect tm-busybox:latest >/dev/null || die "docker import did not produce tm-busybox:latest"
  echo "dockerd.sh: image tm-busybox:latest ready" >&2
}

stop() {
  local pid; pid="$(read_pid)"
  if ! pid_alive "$pid"; then
    echo "dockerd.sh: no dockerd runs for $dir" >&2
  else
    # Containers and user-defined networks first: a network left behind keeps its host bridge
    # (br-XXXX) and subnet after dockerd exits, and later daemons would have to avoid it.
    local ids
    ids="$(docker_cli ps -aq 2>/dev/null || true)"
    [ -z "$ids" ] || docker_cli rm -f $ids >/dev/null 2>&1 || true
    docker_cli network prune -f >/dev/null 2>&1 || true
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
      echo "dockerd.sh: dockerd $pid ignored SIGTERM for 10 s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    fi
  fi
  # dockerd leaves bind mounts (exec/netns/default) behind; unmount what lies under DIR only.
  local m
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -f "$pidfile" "$sock"
}

case "$cmd" in
  start) start ;;
  image) image ;;
  stop) stop ;;
  host) echo "unix://$sock" ;;
  *) die "unknown command '$cmd': use start, image, stop or host" ;;
esac
