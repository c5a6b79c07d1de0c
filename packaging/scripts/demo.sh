#!/bin/bash
# The README's first command: install what is missing, build, and run tunnelmgr on the embedded
# default (SQLite state) against local stand-ins — the Cloudflare API fake on loopback and a scratch
# cloudflared config file — walking a hostname's whole life: zones, add, list, delete, audit.
# Nothing leaves this machine; no Cloudflare account is needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
"$root/packaging/scripts/install-deps.sh" --test
TM_TARGETS="tunnelmgr sqlite-state cloudflare-dns cloudflare-api-fake" \
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
trap 'kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$demo/fake.port" ] && break; sleep 0.1; done
[ -s "$demo/fake.port" ] || { echo "demo: the Cloudflare API fake did not start:"; cat "$demo/fake.log"; exit 1; }
port=$(cat "$demo/fake.port")

cat > "$demo/cloudflared.yml" <<YAML
# cloudflared's config (a scratch copy for the demo)
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: /etc/cloudflared/6ff42ae2-765d-4adf-8112-31c55c1551ef.json
ingress:
  - service: http_status:404
YAML
cat > "$demo/config.yml" <<YAML
state: { plugin: sqlite-state, path: $demo/state.db }
dns:
  plugin: cloudflare-dns
  api_base: http://127.0.0.1:$port/client/v4     # the local fake, not Cloudflare
  api_token_file: $demo/token
  account_id: 0123456789abcdef0123456789abcdef
  default_domain: example.com
tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, ingress: local, config_file: $demo/cloudflared.yml }
projects:
  demo: { ports: "3000-3999" }
plugin_dir: $build/plugins
log: { level: warn }
YAML

tm=("$build/tunnelmgr" --config "$demo/config.yml")
step() { printf '\n\033[1m== %s\033[0m\n$ tunnelmgr %s\n' "$1" "$2"; }
step "Plugins found, and which slot each fills" "plugins"
"${tm[@]}" plugins
step "Start every configured plugin" "check"
"${tm[@]}" check
step "Zones of the (fake) Cloudflare account" "domains --refresh"
"${tm[@]}" domains --refresh
step "Publish app.example.com -> port 3100 of project demo" "cname add app --port 3100 --project demo"
"${tm[@]}" cname add app --port 3100 --project demo
step "What is published" "cname ls"
"${tm[@]}" cname ls
printf '\ncloudflared.yml now reads:\n'
sed 's/^/    /' "$demo/cloudflared.yml"
step "Remove it again" "cname rm app.example.com"
"${tm[@]}" cname rm app.example.com
step "The audit log" "audit --limit 5"
"${tm[@]}" audit --limit 5
step "What the state store holds" "state"
"${tm[@]}" state
printf '\nDone. Everything is in %s; run it again any time.\n' "$demo"
