#!/bin/bash
# Builds the two Debian packages (tunnelmgr, tunnelmgr-dev) into build/packages/ (or $TM_PACKAGE_DIR):
# configures for /usr (plugins in /usr/lib/tunnelmgr/plugins, the compiled-in default), builds the
# binary and the stock plugins only, then runs CPack (dpkg-shlibdeps fills in the Depends).
# Env: TM_BUILD_DIR (default build/), TM_PACKAGE_DIR, TM_BUILD_TYPE (default RelWithDebInfo).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
out=${TM_PACKAGE_DIR:-$build/packages}
command -v dpkg-shlibdeps >/dev/null || { echo "package.sh: dpkg-shlibdeps missing: apt-get install dpkg-dev" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${TM_BUILD_TYPE:-RelWithDebInfo}" \
  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib -DTM_PLUGIN_INSTALL_DIR=lib/tunnelmgr/plugins "$@" >/dev/null
# What the packages install: the host and every stock plugin this tree builds (not the tests).
targets=(--target tunnelmgr)
for p in sqlite-state cloudflare-dns docker-runtime systemd-supervisor container-supervisor mcp-stdio; do
  if cmake --build "$build" --target help | grep -q "^$p:"; then targets+=(--target "$p"); fi
done
cmake --build "$build" -j "${TM_JOBS:-$(nproc)}" "${targets[@]}"
mkdir -p "$out"
rm -f "$out"/tunnelmgr*.deb
(cd "$build" && cpack -G DEB -B "$out" --config CPackConfig.cmake >"$out/cpack.log" 2>&1) || {
  echo "package.sh: cpack failed; its log ($out/cpack.log):" >&2; tail -n 40 "$out/cpack.log" >&2; exit 1; }
rm -rf "$out/_CPack_Packages"
for deb in "$out"/tunnelmgr*.deb; do
  printf '%s\n  %s\n' "$deb" "$(dpkg-deb -f "$deb" Depends)"
done
