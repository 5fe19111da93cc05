#!/usr/bin/env bash
# Fetch Debian's current amd64 kernel once and extract the uncompressed ELF vmlinux that
# QEMU boots through PVH (no BIOS real-mode setup, no in-guest decompression: both are
# slow under TCG). Prints the vmlinux path. Cached in $BERTH_VM_CACHE
# (default /var/cache/berth-vm/<kernel ABI>/vmlinux); a rerun costs nothing.
#
# Nothing is installed on the host: the .deb is downloaded, only boot/vmlinuz is taken
# out of it, and the .deb is deleted. No modules are needed: cgroup v2 with every
# controller, eBPF device filters and the freezer are built into Debian's kernel.
set -euo pipefail
CACHE=${BERTH_VM_CACHE:-/var/cache/berth-vm}

# The newest ABI, e.g. 6.1.0-56-amd64; older linux-image-6.1.0-N packages vanish from
# the mirror, so never pin one.
kver() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{sub("linux-image-","",$2); print $2; exit}'; }
KVER=${KVER:-$(kver)}
if [ -z "$KVER" ]; then
  apt-get update -qq >&2
  KVER=$(kver)
fi
[ -n "$KVER" ] || { echo "kernel.sh: cannot resolve linux-image-amd64" >&2; exit 1; }

DIR=$CACHE/$KVER
if [ ! -s "$DIR/vmlinux" ]; then
  mkdir -p "$DIR/dl"
  echo "kernel.sh: downloading linux-image-$KVER" >&2
  (cd "$DIR/dl" && apt-get download "linux-image-$KVER" >&2)
  deb=$(ls "$DIR"/dl/linux-image-"$KVER"_*.deb | head -1)
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$DIR/dl" "./boot/vmlinuz-$KVER"
  vmlinuz=$DIR/dl/boot/vmlinuz-$KVER
  # vmlinuz = setup code + xz-compressed vmlinux; decompress from the xz magic.
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  tail -c +$((off + 1)) "$vmlinuz" | xz -dc > "$DIR/vmlinux.tmp" 2>/dev/null || true
  [ "$(head -c4 "$DIR/vmlinux.tmp" | od -An -c | tr -d ' ')" = 177ELF ] ||
    { echo "kernel.sh: vmlinux extraction failed" >&2; exit 1; }
  mv "$DIR/vmlinux.tmp" "$DIR/vmlinux"
  rm -rf "$DIR/dl"
fi
echo "$DIR/vmlinux"
