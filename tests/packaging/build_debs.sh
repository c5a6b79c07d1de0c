#!/bin/bash
# The .debs under test, made by CPack from an already-built tree (the test does not compile):
# remade only when the binary, a plugin or a packaging file is newer than the last ones.
# Usage: build_debs.sh BUILD_DIR SOURCE_DIR OUT
set -euo pipefail
build="${1:?usage: build_debs.sh BUILD_DIR SOURCE_DIR OUT}"
src="${2:?source dir}"
out="${3:?out dir}"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
stamp="$out/.stamp"
if [ -f "$stamp" ] && ls "$out"/tunnelmgr_*.deb >/dev/null 2>&1 &&
   [ -z "$(find "$build/tunnelmgr" "$build/plugins" "$src/packaging" "$src/plugin-api" -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
command -v dpkg-shlibdeps >/dev/null || { echo "build_debs.sh: dpkg-shlibdeps missing: apt-get install dpkg-dev" >&2; exit 1; }
rm -rf "$out"/*.deb "$out/_CPack_Packages"
touch "$stamp.new"
(cd "$build" && cpack -G DEB -B "$out" --config CPackConfig.cmake) >"$out/cpack.log" 2>&1 || {
  echo "build_debs.sh: cpack failed; its log ($out/cpack.log):" >&2; tail -n 40 "$out/cpack.log" >&2; exit 1; }
rm -rf "$out/_CPack_Packages"
mv "$stamp.new" "$stamp"
