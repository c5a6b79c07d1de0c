#!/bin/sh
# Runs bench_mcp.mjs with the MCP SDK that the e2e tests install and the reference server it compares
# with (reference/, pinned in its package-lock.json).   run_bench.sh BUILD_DIR [N] [CALLS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mcp="$here/../../integration/mcp"
[ -d "$mcp/node_modules/@modelcontextprotocol/sdk" ] || (cd "$mcp" && npm ci --no-audit --no-fund >/dev/null)
[ -d "$here/reference/node_modules/@modelcontextprotocol/server-everything" ] ||
  (cd "$here/reference" && npm ci --no-audit --no-fund >/dev/null)
ln -sfn "$mcp/node_modules" "$here/node_modules"   # ESM resolves packages beside the script (gitignored)
exec node "$here/bench_mcp.mjs" "$@"
