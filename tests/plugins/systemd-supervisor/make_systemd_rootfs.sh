#!/bin/bash
# Builds (once) a minimal Debian bookworm root with systemd as a tarball for `docker import`:
# debootstrap from the Debian mirror this machine's apt already uses. Cached: a second call returns at once.
# Usage: make_systemd_rootfs.sh OUT.tar      Env: TM_DEBIAN_MIRROR overrides the mirror.
set -euo pipefail
out="${1:?usage: make_systemd_rootfs.sh OUT.tar}"
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9   # parallel test processes build it once
[ -s "$out" ] && exit 0

if ! command -v debootstrap >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "make_systemd_rootfs.sh: debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

mirror="${TM_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # deb822 (.sources: "URIs: ...") or one-line ("deb URL suite ..."): the first Debian main archive.
  mirror="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i } /^deb / { print ($2 ~ /^\[/ ? $3 : $2) }' |
    grep -v -e security -e nodesource -e google | grep '/debian/\?$' | head -n 1 || true)"
fi
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
root="$out.root.tmp"
rm -rf "$root"
echo "make_systemd_rootfs.sh: debootstrap bookworm from $mirror (once; cached in $out)" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$root" "$mirror" >"$out.log" 2>&1 || {
  echo "make_systemd_rootfs.sh: debootstrap failed; last lines of $out.log:" >&2; tail -n 30 "$out.log" >&2; exit 1; }
# Units that only make sense on a real machine would fail or wait in a container.
for u in systemd-udevd.service systemd-udev-trigger.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
         getty@.service console-getty.service systemd-logind.service systemd-timesyncd.service \
         systemd-networkd-wait-online.service systemd-remount-fs.service sys-kernel-config.mount \
         sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
tar -C "$root" --numeric-owner -cf "$out.tmp" .
rm -rf "$root"
mv "$out.tmp" "$out"
echo "make_systemd_rootfs.sh: $(du -h "$out" | cut -f1) rootfs in $out" >&2
