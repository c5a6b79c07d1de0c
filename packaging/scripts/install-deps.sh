#!/bin/bash
# Installs what building (and, with --test, testing) tunnelmgr needs on Debian 12, and nothing
# that is already there. Idempotent: a second run installs nothing and takes a second.
# Usage: packaging/scripts/install-deps.sh [--test]
set -euo pipefail

build_pkgs=(cmake ninja-build g++ pkg-config git
  libboost-dev libboost-filesystem-dev libboost-program-options-dev
  rapidjson-dev libsqlitecpp-dev libsqlite3-dev libyaml-cpp-dev libyaml-dev libcurl4-openssl-dev libssl-dev
  libexpected-dev libcpp-httplib-dev libpqxx-dev)
test_pkgs=(libgtest-dev libgmock-dev libbenchmark-dev openssl sqlite3 docker.io busybox-static
  clang libclang-rt-14-dev debootstrap curl dpkg-dev prometheus jq graphviz postgresql-15)

# graphviz: `tunnelmgr topology --format svg` runs its `dot` (the tests draw with it, and the README's picture).
pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then pkgs+=("${test_pkgs[@]}"); fi

# The MCP end-to-end tests need Node.js and npm (Node 20 where the machine has it; Debian's
# nodejs otherwise). Only installed when no node is on PATH.
if [ "${1:-}" = "--test" ] && ! command -v node >/dev/null; then pkgs+=(nodejs npm); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything needed is installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo=(sudo); else
    echo "install-deps: missing ${missing[*]}; run this as root or install sudo" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
