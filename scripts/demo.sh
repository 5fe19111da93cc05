#!/usr/bin/env bash
# First thing to try: build berth, make a busybox image locally (no registry needed), and
# run a container from it that shows its own hostname, PID 1 and processes.
#
#   sudo ./scripts/demo.sh                 store in /var/lib/berth
#   BERTH_ROOT=/tmp/b ./scripts/demo.sh    elsewhere
#
# What it does, so you can do it by hand:
#   1. apt-get install busybox-static libseccomp-dev pkg-config nftables (if missing)
#   2. scripts/build-static.sh (static release builds of berth, berth-monitor, berth-runtime,
#      berth-init)
#   3. rootfs = /bin/busybox plus its applet symlinks, tarred and `berth import`ed as
#      busybox:latest (unless that image exists)
#   4. berth run --rm busybox sh -c 'hostname; echo PID $$; ps'
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 2; }

need=()
for p in busybox-static libseccomp-dev pkg-config nftables; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "+ apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"; }
fi

echo "+ scripts/build-static.sh"
./scripts/build-static.sh
BERTH=$(pwd)/target/x86_64-unknown-linux-gnu/release/berth

if ! "$BERTH" image inspect busybox:latest >/dev/null 2>&1; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/rootfs"/{bin,proc,sys,dev,tmp,etc,root}
  cp /bin/busybox "$work/rootfs/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
  echo 'root:x:0:' > "$work/rootfs/etc/group"
  chmod 1777 "$work/rootfs/tmp"
  tar -C "$work/rootfs" -cf "$work/busybox.tar" .
  echo "+ berth import --change 'CMD [\"sh\"]' busybox.tar busybox:latest"
  "$BERTH" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest
fi

echo "+ berth run --rm busybox sh -c 'echo hello from \$(hostname), PID \$\$; ps'"
exec "$BERTH" run --rm busybox sh -c 'echo "hello from $(hostname), PID $$"; ps'
