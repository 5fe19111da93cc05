#!/usr/bin/env bash
# Release builds of berth's binaries as static, non-PIE executables:
#   target/x86_64-unknown-linux-gnu/release/{berth,berth-monitor,berth-runtime,berth-init,berth-check}
#
#   scripts/build-static.sh                  all five
#   scripts/build-static.sh -p berth-check   just one (any cargo build arguments)
#
# Why static: berth-check and berth-init (`berth run --init`) run inside busybox
# containers that have no libc, the cgroup v2 VM's initramfs has none either, berth-monitor
# (the relay `berth` execs beside every running container, found next to `berth`) stays
# small and needs no loader, and berth
# and berth-runtime start faster and smaller without the dynamic loader (no relocations, no libseccomp/libc/libm/libgcc_s to map: ~1.5 MB less
# peak RSS per call). Everything that builds these binaries goes through this script, so
# the flags, and with them cargo's cached artifacts, are always the same.
# libseccomp comes from its .a (libseccomp-dev ships one): a crt-static binary that still
# NEEDs libseccomp.so would crash at start.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- -p berth-cli -p berth-monitor -p berth-runtime-cli -p berth-init -p berth-check
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
  exec cargo build --release --target x86_64-unknown-linux-gnu "$@"
