#!/bin/bash
# An offline apt repository for the packaging test: every package the given .debs Depend on
# (recursively) that the clean rootfs does not already hold, fetched with `apt-get download` from
# this machine's mirror and indexed with dpkg-scanpackages. Inside the container apt sees only
# this repository, so `apt-get install ./tunnelmgr_*.deb` succeeds only if Depends is complete.
# Cached: a second call with the same Depends returns at once.
# Usage: make_local_repo.sh OUT ROOTFS.tar DEB...     Env: TM_REPO_WITHOUT=PKG leaves PKG out.
set -euo pipefail
out="${1:?usage: make_local_repo.sh OUT ROOTFS.tar DEB...}"
rootfs="${2:?rootfs tarball}"
shift 2
[ $# -gt 0 ] || { echo "make_local_repo.sh: no .deb given" >&2; exit 2; }
for tool in dpkg-scanpackages apt-cache; do
  command -v "$tool" >/dev/null || { echo "make_local_repo.sh: $tool missing: apt-get install dpkg-dev" >&2; exit 1; }
done
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

# Depends and Pre-Depends of the packages under test: names only (the first of each alternative).
wanted=()
for deb in "$@"; do
  for field in Pre-Depends Depends; do
    while IFS= read -r dep; do
      dep="${dep%%|*}"; dep="${dep%%(*}"; dep="${dep// /}"
      [ -n "$dep" ] && wanted+=("$dep")
    done < <(dpkg-deb -f "$deb" "$field" | tr ',' '\n')
  done
done
key="$(printf '%s\n' "${wanted[@]}" | sort -u | tr '\n' ' ') without=${TM_REPO_WITHOUT:-} rootfs=$(stat -c %Y "$rootfs")"
if [ -s "$out/Packages" ] && [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ]; then exit 0; fi

# What the clean root already has (its dpkg status), so only the rest is fetched.
present="$(tar -xOf "$rootfs" ./var/lib/dpkg/status |
  awk '/^Package:/ { p = $2 } /^Status: install ok installed/ { print p }' | sort -u)"
closure="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${wanted[@]}" | grep -v '^ ' | grep -v '^<' | sed 's/:.*//' | sort -u)"
need="$(comm -23 <(printf '%s\n' "$closure") <(printf '%s\n' "$present"))"
if [ -n "${TM_REPO_WITHOUT:-}" ]; then need="$(printf '%s\n' "$need" | grep -vx -- "$TM_REPO_WITHOUT")"; fi

rm -f "$out"/*.deb "$out/Packages" "$out/.key"
if [ -n "$need" ]; then
  # shellcheck disable=SC2086  # one package name per word
  (cd "$out" && apt-get download -qq $need) >"$out/download.log" 2>&1 || {
    echo "make_local_repo.sh: apt-get download failed:" >&2; tail -n 20 "$out/download.log" >&2; exit 1; }
fi
(cd "$out" && dpkg-scanpackages -m . 2>/dev/null > Packages)
printf '%s' "$key" > "$out/.key"
echo "make_local_repo.sh: $(ls "$out"/*.deb 2>/dev/null | wc -l) packages in $out" >&2
