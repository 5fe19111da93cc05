#!/usr/bin/env bash
# First thing to try: build berth-runtime, make a busybox bundle, run one container.
#
#   sudo ./scripts/demo.sh            bundle in /var/lib/berth-demo/bundle
#   BUNDLE=/tmp/b ./scripts/demo.sh   elsewhere
#
# What it does, so you can do it by hand:
#   1. apt-get install busybox-static jq (if missing)
#   2. scripts/build-static.sh -p berth-runtime-cli (a static release build)
#   3. rootfs = /bin/busybox plus its applet symlinks; config.json = `berth-runtime spec`
#      with terminal off and a command that prints and exits
#   4. berth-runtime run --bundle $BUNDLE demo
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 2; }

BUNDLE=${BUNDLE:-/var/lib/berth-demo/bundle}
ID=${ID:-demo}

need=()
for p in busybox-static jq libseccomp-dev pkg-config; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "+ apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"; }
fi

echo "+ scripts/build-static.sh -p berth-runtime-cli"
./scripts/build-static.sh -p berth-runtime-cli
RT=$(pwd)/target/x86_64-unknown-linux-gnu/release/berth-runtime

echo "+ bundle in $BUNDLE"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/rootfs"/{bin,proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -s busybox "$BUNDLE/rootfs/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$BUNDLE/rootfs/etc/passwd"
echo 'root:x:0:' > "$BUNDLE/rootfs/etc/group"
"$RT" spec --bundle "$BUNDLE"
jq '.process.terminal = false
    | .hostname = "berth-demo"
    | .process.args = ["sh", "-c", "echo \"hello from $(hostname): pid $$, uid $(id -u), $(grep -c . /proc/self/mountinfo) mounts\""]' \
   "$BUNDLE/config.json" > "$BUNDLE/config.json.new"
mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"

"$RT" delete --force "$ID" >/dev/null 2>&1 || true
echo "+ berth-runtime run --bundle $BUNDLE $ID"
exec "$RT" run --bundle "$BUNDLE" "$ID"
