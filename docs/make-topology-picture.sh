#!/bin/bash
# Makes docs/topology-demo.svg, the README's picture of `tunnelmgr topology --format svg`.
# demo.sh runs without Docker (every target is a host service there), so this sets up the demo's
# project on a private dockerd of its own instead — the tests' harness (tests/support/dockerd), no
# default bridge — with the Cloudflare API fake: cloudflared in a container on the network `demo-net`,
# app.example.com → demo-app by name, api.example.com → demo-api by name (then demo-api stops, so
# its path is broken), docs.example.com → a service on this host through the network's gateway, and
# demo-db on a network cloudflared is not on. Needs root (dockerd), a full build with the tests
# (packaging/scripts/test.sh makes one; demo.sh builds no docker-runtime) and graphviz (install-deps.sh --test).
# Usage: docs/make-topology-picture.sh [OUTPUT.svg]   (default docs/topology-demo.svg; the text view on stdout)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
out=${1:-$root/docs/topology-demo.svg}
for f in "$build/tunnelmgr" "$build/plugins/docker-runtime.so" "$build/tests/support/cloudflare-fake/cloudflare-api-fake"; do
  [ -e "$f" ] || { echo "make-topology-picture: $f is missing: build with packaging/scripts/build.sh -DTM_BUILD_TESTS=ON" >&2; exit 1; }
done
command -v dot >/dev/null || { echo "make-topology-picture: Graphviz's dot is missing: packaging/scripts/install-deps.sh --test" >&2; exit 1; }

work=$(mktemp -d /tmp/tmpic-XXXXXX)  # short: dockerd's socket path must fit in 107 bytes
dockerd_sh="$root/tests/support/dockerd/dockerd.sh"
fake_pid=
cleanup() {
  [ -n "$fake_pid" ] && { kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; }
  "$dockerd_sh" stop "$work/docker" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$dockerd_sh" start "$work/docker"
"$dockerd_sh" image "$work/docker"
docker=(docker -H "unix://$work/docker/docker.sock")

printf 'fake-token-for-the-picture\n' > "$work/token"
"$build/tests/support/cloudflare-fake/cloudflare-api-fake" --listen 127.0.0.1:0 --port-file "$work/fake.port" \
  --token-file "$work/token" --zone example.com --quiet 2> "$work/fake.log" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$work/fake.port" ] && break; sleep 0.1; done
[ -s "$work/fake.port" ] || { echo "make-topology-picture: the Cloudflare API fake did not start" >&2; cat "$work/fake.log" >&2; exit 1; }
printf 'tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\ningress:\n  - service: http_status:404\n' > "$work/cloudflared.yml"
cat > "$work/config.yml" <<YAML
state: { plugin: sqlite-state, path: $work/state.db }
dns: { plugin: cloudflare-dns, api_base: "http://127.0.0.1:$(cat "$work/fake.port")/client/v4", api_token_file: $work/token }
runtime: { plugin: docker-runtime, socket: $work/docker/docker.sock }
tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, default_domain: example.com, config_file: $work/cloudflared.yml }
projects:
  demo: { ports: "3000-3999" }
plugin_dir: $build/plugins
log: { level: warn }
YAML
tm=("$build/tunnelmgr" --config "$work/config.yml")

"${docker[@]}" network create demo-net >/dev/null
"${docker[@]}" network create demo-data >/dev/null
img=tm-busybox:latest
"${docker[@]}" run -d --name cloudflared --network demo-net "$img" sleep 3600 >/dev/null
"${docker[@]}" run -d --name demo-app --network demo-net --expose 3100 "$img" httpd -f -p 3100 >/dev/null
"${docker[@]}" run -d --name demo-api --network demo-net --expose 3200 "$img" httpd -f -p 3200 >/dev/null
"${docker[@]}" run -d --name demo-db --network demo-data -p 127.0.0.1:3500:3500 "$img" sleep 3600 >/dev/null
"${tm[@]}" cname add app --port 3100 --project demo
"${tm[@]}" cname add api --port 3200 --project demo
"${tm[@]}" cname add docs --port 3400 --project demo   # no container offers 3400: a service on this host
"${docker[@]}" stop -t 0 demo-api >/dev/null

"${tm[@]}" topology
"${tm[@]}" topology --format svg > "$out.tmp"
mv "$out.tmp" "$out"
echo "make-topology-picture: wrote $out"
