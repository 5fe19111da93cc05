#!/usr/bin/env bash
# Builds the test image for the client tests without any registry: a busybox-static
# rootfs (/bin/busybox plus one symlink per applet) as a plain tarball, and the same
# rootfs as a one-layer docker-archive (`docker save` format, v1.2) that `docker load`,
# `ctr image import` and `podman load` all read.
#
#   scripts/clients/make-image.sh OUTDIR [NAME:TAG]
#
# Writes OUTDIR/rootfs.tar and OUTDIR/image.tar; the image is tagged NAME:TAG
# (default localhost/berth-busybox:test). Deterministic: same busybox, same bytes.
set -euo pipefail

out=${1:?usage: make-image.sh OUTDIR [NAME:TAG]}
tag=${2:-localhost/berth-busybox:test}
bb=${BUSYBOX:-/bin/busybox}

[ -x "$bb" ] || { echo "make-image.sh: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
if command -v ldd >/dev/null && ldd "$bb" >/dev/null 2>&1; then
  echo "make-image.sh: $bb is dynamically linked; need busybox-static" >&2; exit 1
fi

case $(uname -m) in
  x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;;
esac

mkdir -p "$out"
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- rootfs -------------------------------------------------------------------------
r=$work/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/proc" "$r/sys" "$r/dev" "$r/root" "$r/run"
chmod 1777 "$r/tmp"
cp "$bb" "$r/bin/busybox"
for a in $("$r/bin/busybox" --list); do
  [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
done
ln -s bin "$r/sbin"
mkdir -p "$r/usr"
ln -s ../bin "$r/usr/bin"
ln -s ../bin "$r/usr/sbin"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
touch "$r/etc/hosts" "$r/etc/resolv.conf" "$r/etc/hostname"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$r" -cf "$out/rootfs.tar" .

# --- docker-archive ---------------------------------------------------------------------
a=$work/archive
layer_sha=$(sha256sum "$out/rootfs.tar" | cut -d' ' -f1)
mkdir -p "$a/$layer_sha"
cp "$out/rootfs.tar" "$a/$layer_sha/layer.tar"
printf '1.0' >"$a/$layer_sha/VERSION"

config='{"architecture":"'$arch'","os":"linux",'
config+='"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},'
config+='"created":"1970-01-01T00:00:00Z",'
config+='"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/clients/make-image.sh"}],'
config+='"rootfs":{"type":"layers","diff_ids":["sha256:'$layer_sha'"]}}'
printf '%s' "$config" >"$a/config.json"
config_sha=$(sha256sum "$a/config.json" | cut -d' ' -f1)
mv "$a/config.json" "$a/$config_sha.json"

printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
  "$config_sha" "$tag" "$layer_sha" >"$a/manifest.json"
repo=${tag%:*} t=${tag##*:}
printf '{"%s":{"%s":"%s"}}' "$repo" "$t" "$layer_sha" >"$a/repositories"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$a" -cf "$out/image.tar" .
echo "$out/rootfs.tar $out/image.tar ($tag, config sha256:$config_sha)"
