#!/usr/bin/env bash
# Fetch Debian's current amd64 kernel once and extract the uncompressed ELF vmlinux that
# QEMU boots through PVH (no BIOS real-mode setup, no in-guest decompression: both are
# slow under TCG), and the few modules the guest loads. Prints the vmlinux path; the
# modules are in `modules/` beside it, with `modules/order` listing them in load order.
# Cached in $BERTH_VM_CACHE (default /var/cache/berth-vm/<kernel ABI>/); a rerun costs
# nothing.
#
# Nothing is installed on the host: the .deb is downloaded, only boot/vmlinuz and the
# wanted modules are taken out of it, and the .deb is deleted. cgroup v2 with every
# controller, eBPF device filters and the freezer are built into Debian's kernel; the
# engine's container snapshots need overlayfs, which is a module.
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

# The modules the guest needs, by name; their dependencies are added from the .ko files.
MODULES=(overlay)

DIR=$CACHE/$KVER
if [ ! -s "$DIR/vmlinux" ] || [ ! -s "$DIR/modules/order" ]; then
  rm -rf "$DIR/dl" "$DIR/modules"
  mkdir -p "$DIR/dl"
  echo "kernel.sh: downloading linux-image-$KVER" >&2
  (cd "$DIR/dl" && apt-get download "linux-image-$KVER" >&2)
  deb=$(ls "$DIR"/dl/linux-image-"$KVER"_*.deb | head -1)
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$DIR/dl" "./boot/vmlinuz-$KVER" "./lib/modules/$KVER/kernel"
  # The .deb ships no modules.dep: walk each module's `depends=` (modinfo) instead, and
  # write dependencies before their users. Modules may be .ko or .ko.xz, and a file name
  # may spell with `-` what the module name spells with `_`.
  mkdir -p "$DIR/modules.tmp"
  : > "$DIR/modules.tmp/order"
  kmod_file() { find "$DIR/dl/lib/modules/$KVER/kernel" \( -name "$1.ko*" -o -name "${1//_/-}.ko*" \) | head -1; }
  add_module() {
    local f
    grep -qx "$1" "$DIR/modules.tmp/order" && return 0
    f=$(kmod_file "$1")
    [ -n "$f" ] || { echo "kernel.sh: module $1 not in linux-image-$KVER" >&2; exit 1; }
    case $f in *.xz) xz -dc "$f" > "$DIR/modules.tmp/$1.ko" ;; *) cp "$f" "$DIR/modules.tmp/$1.ko" ;; esac
    local deps
    deps=$(LC_ALL=C strings "$DIR/modules.tmp/$1.ko" | sed -n 's/^depends=//p' | head -1 | tr ',' ' ')
    for d in $deps; do add_module "$d"; done
    echo "$1" >> "$DIR/modules.tmp/order"
  }
  for m in "${MODULES[@]}"; do add_module "$m"; done
  vmlinuz=$DIR/dl/boot/vmlinuz-$KVER
  # vmlinuz = setup code + xz-compressed vmlinux; decompress from the xz magic.
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  tail -c +$((off + 1)) "$vmlinuz" | xz -dc > "$DIR/vmlinux.tmp" 2>/dev/null || true
  [ "$(head -c4 "$DIR/vmlinux.tmp" | od -An -c | tr -d ' ')" = 177ELF ] ||
    { echo "kernel.sh: vmlinux extraction failed" >&2; exit 1; }
  mv "$DIR/vmlinux.tmp" "$DIR/vmlinux"
  mv "$DIR/modules.tmp" "$DIR/modules"
  rm -rf "$DIR/dl"
fi
echo "$DIR/vmlinux"
