#!/usr/bin/env bash
# Installs the real container clients that crates/runtime-cli/tests/clients.rs drives
# through berth-runtime: Podman, containerd (ctr) and Docker (dockerd), all from Debian's
# archive, plus what they need to run as root on a machine without systemd. Idempotent:
# installs only what is missing, then prints the versions.
#
#   ./scripts/clients/install.sh
#
# The docker.io and containerd packages try to start their services on install; without
# systemd or a runlevel, invoke-rc.d just skips that. The tests start their own daemons
# with private root/state dirs and sockets. No uidmap, slirp4netns or fuse-overlayfs: the
# tests run Podman as root with --network none on the kernel's overlayfs.
set -euo pipefail

PKGS=(
  podman conmon golang-github-containers-common  # podman + its monitor and config
  containerd runc                                # containerd, ctr, containerd-shim-runc-v2
  docker.io tini                                 # dockerd + docker CLI (docker-init)
  iptables busybox-static                        # docker.io dep; the test image's only binary
)

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 2; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # quietly from the package lists there are; on failure refresh them and retry loudly
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
else
  echo "all client packages present"
fi

echo "--- versions"
podman --version || true
containerd --version || true
ctr --version || true
dockerd --version || true
/usr/bin/docker --version || true
runc --version | head -1 || true
conmon --version | head -1 || true
