#!/bin/bash
# The README's first command: install what is missing, build, and run tunnelmgr on the embedded
# default (SQLite state) against local stand-ins — the Cloudflare API fake on loopback, the
# cloudflared stub serving the real metrics endpoints, a scratch cloudflared config — walking a
# hostname's whole life from the CLI and then through the real MCP interface (the official SDK
# client): status, check target, request, list, delete, audit.
# Nothing leaves this machine; no Cloudflare account is needed. Docker is not needed either: with
# no runtime slot every target is a service on this host.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
"$root/packaging/scripts/install-deps.sh" --test
TM_TARGETS="tunnelmgr sqlite-state cloudflare-dns mcp-stdio cloudflare-api-fake cloudflared-stub" \
  "$root/packaging/scripts/build.sh" -DTM_BUILD_TESTS=ON

demo="$build/demo"
rm -rf "$demo"
mkdir -p "$demo"
token="demo-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$token" > "$demo/token"
chmod 600 "$demo/token"

"$build/tests/support/cloudflare-fake/cloudflare-api-fake" --listen 127.0.0.1:0 --port-file "$demo/fake.port" \
  --token-file "$demo/token" --zone example.com --zone example.org --quiet 2> "$demo/fake.log" &
fake_pid=$!
stub_pid=
cleanup() {
  for pid in $fake_pid $stub_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$demo/fake.port" ] && break; sleep 0.1; done
[ -s "$demo/fake.port" ] || { echo "demo: the Cloudflare API fake did not start:"; cat "$demo/fake.log"; exit 1; }
port=$(cat "$demo/fake.port")

cat > "$demo/cloudflared.yml" <<YAML
# cloudflared's config (a scratch copy for the demo)
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: $demo/tunnel-credentials.json
ingress:
  - service: http_status:404
YAML
printf '{"AccountTag":"demo","TunnelSecret":"ZGVtbw==","TunnelID":"6ff42ae2-765d-4adf-8112-31c55c1551ef"}\n' \
  > "$demo/tunnel-credentials.json"

# The cloudflared stand-in: reads the same config, serves /ready, /healthcheck and /metrics.
stub="$build/tests/support/cloudflared-stub/cloudflared-stub"
start_stub() {
  "$stub" tunnel --config "$demo/cloudflared.yml" --metrics "127.0.0.1:$metrics_port" --grace-period 1s run \
    >> "$demo/stub.log" 2>&1 &
  stub_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$metrics_port/ready" > /dev/null && return 0; sleep 0.1; done
  echo "demo: the cloudflared stub did not become ready:"; cat "$demo/stub.log"; exit 1
}
metrics_port=$(( 20300 + $$ % 600 ))
start_stub

# The demo project's session token (random, like a real one); the config holds only its SHA-256.
project_token="demo-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
project_hash=$(printf %s "$project_token" | sha256sum | cut -d' ' -f1)
cat > "$demo/config.yml" <<YAML
state: { plugin: sqlite-state, path: $demo/state.db }
dns:
  plugin: cloudflare-dns
  api_base: http://127.0.0.1:$port/client/v4     # the local fake, not Cloudflare
  api_token_file: $demo/token
  account_id: 0123456789abcdef0123456789abcdef
tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, default_domain: example.com, ingress: local, config_file: $demo/cloudflared.yml,
          metrics: 127.0.0.1:$metrics_port }
transport: { plugin: mcp-stdio }
projects:
  demo: { ports: "3000-3999", token_sha256: $project_hash }
plugin_dir: $build/plugins
log: { level: warn }
YAML

tm=("$build/tunnelmgr" --config "$demo/config.yml")
walk_started=$SECONDS
step() { printf '\n\033[1m== %s\033[0m\n$ tunnelmgr %s\n' "$1" "$2"; }
step "Plugins found, and which slot each fills" "plugins"
"${tm[@]}" plugins
step "Start every configured plugin" "check"
"${tm[@]}" check
step "Is the tunnel up? (the stub answers /ready)" "status"
"${tm[@]}" status
step "Zones of the (fake) Cloudflare account" "domains --refresh"
"${tm[@]}" domains --refresh
step "Dry run: what would app.example.com -> port 3100 use?" "cname check app --port 3100 --project demo"
"${tm[@]}" cname check app --port 3100 --project demo
step "Publish app.example.com -> port 3100 of project demo" "cname add app --port 3100 --project demo"
"${tm[@]}" cname add app --port 3100 --project demo
step "What is published" "cname ls"
"${tm[@]}" cname ls
printf '\ncloudflared.yml now reads (the comment and the catch-all kept):\n'
sed 's/^/    /' "$demo/cloudflared.yml"
printf '\nNo supervisor is configured in the demo, so restart the stub as an operator would; it loads:\n'
kill "$stub_pid"; wait "$stub_pid" 2>/dev/null || true
start_stub
curl -s "http://127.0.0.1:$metrics_port/__stub/config" | sed 's/^/    /'; echo
step "Remove it again" "cname rm app.example.com"
"${tm[@]}" cname rm app.example.com

printf '\n\033[1m== The same round trip through MCP, as a project'"'"'s agent does it\033[0m\n'
printf '$ TUNNELMGR_TOKEN=... tunnelmgr mcp --project demo   (driven by @modelcontextprotocol/sdk)\n\n'
mcp_dir="$root/tests/integration/mcp"
[ -d "$mcp_dir/node_modules/@modelcontextprotocol/sdk" ] || (cd "$mcp_dir" && npm ci --no-audit --no-fund --loglevel=error)
TUNNELMGR_TOKEN="$project_token" node "$mcp_dir/demo_round_trip.mjs" "$build/tunnelmgr" "$demo/config.yml" demo

step "The audit log: every attempt, who and what" "audit --limit 8"
"${tm[@]}" audit --limit 8
step "What the state store holds" "state"
"${tm[@]}" state
printf '\nDone in %d s after the build. Everything is in %s; run it again any time.\n' "$((SECONDS - walk_started))" "$demo"
