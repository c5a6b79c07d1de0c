#!/bin/sh
# Runs the MCP end-to-end tests with the official client against a build folder.
# Usage: run_e2e.sh --install | BUILD_DIR [TEST_FILE]   (default e2e.test.mjs; installs the pinned npm packages from package-lock.json when missing)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
if [ ! -d node_modules/@modelcontextprotocol/sdk ] || [ ! -d node_modules/@modelcontextprotocol/inspector-cli ]; then
  npm ci --no-audit --no-fund
fi
# --install: only the npm packages (ctest runs this once, before the test files that need them).
if [ "$1" = "--install" ]; then exit 0; fi
TM_BUILD_DIR="$1" exec node --test --test-concurrency=1 "${2:-e2e.test.mjs}"
