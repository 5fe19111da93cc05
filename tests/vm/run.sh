#!/usr/bin/env bash
# The cgroup v2 proof: boot Debian's kernel in QEMU with an initramfs holding busybox,
# static builds of berth, berth-runtime and berth-check, the overlay module, and
# tests/vm/cases.sh (+ engine.sh); PID 1 (tests/vm/init.sh) loads the modules, mounts
# cgroup2 and runs the cases. The host here is cgroup v1, so this is where berth's v2
# backend meets a real kernel.
#
#   tests/vm/run.sh                  all cases: runtime, then engine
#   tests/vm/run.sh --checker-only   boot and the checker cases (no berth-runtime needed)
#
# Env: BERTH_VM_CACHE (kernel cache, default /var/cache/berth-vm), VM_TIMEOUT (s, 300),
#      VM_ACCEL (tcg|kvm; default: tcg when /dev/kvm is missing or is kvm_pvm, which
#      cannot run a stock kernel), VM_MEM (MiB, 1024), VM_LOG (keep the serial log here).
# Exit 0 only if the guest printed `VMTEST-RESULT: N passed, 0 failed`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODE=full
[ "${1:-}" = --checker-only ] && MODE=checker

for tool in qemu-system-x86_64 busybox xz; do
  command -v $tool >/dev/null || { echo "run.sh: $tool missing (./scripts/test.sh installs it)" >&2; exit 2; }
done

VMLINUX=$("$HERE/kernel.sh")
MODULES=$(dirname "$VMLINUX")/modules

# Static binaries: the initramfs has no libc.
TARGET=x86_64-unknown-linux-gnu
REL=$ROOT/target/$TARGET/release
pkgs=(-p berth-check)
[ $MODE = full ] && pkgs+=(-p berth-runtime-cli -p berth-cli -p berth-monitor)
echo "run.sh: building static ${pkgs[*]}"
# The initramfs has no libc: scripts/build-static.sh makes static binaries.
"$ROOT/scripts/build-static.sh" -q "${pkgs[@]}"
bins=(berth-check)
[ $MODE = full ] && bins+=(berth-runtime berth berth-monitor)
for b in "${bins[@]}"; do
  if LC_ALL=C readelf -d "$REL/$b" 2>/dev/null | grep -q NEEDED; then
    echo "run.sh: $REL/$b is not static: $(LC_ALL=C readelf -d "$REL/$b" | grep NEEDED | tr -s ' ')" >&2
    exit 1
  fi
done

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
I=$W/root
mkdir -p "$I"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,payload/bin,payload/modules}
cp /bin/busybox "$I/bin/busybox"
# `busybox --list` includes busybox itself: linking that would replace the binary.
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$I/bin/$a"; done
cp "$HERE/init.sh" "$I/init"
chmod +x "$I/init"
cp "$HERE/cases.sh" "$I/payload/cases.sh"
cp "$HERE/engine.sh" "$I/payload/engine.sh"
cp "$MODULES"/* "$I/payload/modules/"
for b in "${bins[@]}"; do cp "$REL/$b" "$I/payload/bin/"; done
(cd "$I" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 > "$W/initrd.gz"

ACCEL=${VM_ACCEL:-}
if [ -z "$ACCEL" ]; then
  if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm; else ACCEL=tcg; fi
fi
accel=(-accel "$ACCEL")
[ "$ACCEL" = tcg ] && accel=(-accel tcg,thread=multi)

LOG=${VM_LOG:-$W/serial.log}
echo "run.sh: booting $(basename "$(dirname "$VMLINUX")") ($ACCEL, mode $MODE)"
t0=$(date +%s.%N)
set +e
timeout "${VM_TIMEOUT:-300}" qemu-system-x86_64 "${accel[@]}" -M pc -m "${VM_MEM:-1024}" -smp 2 \
  -nographic -no-reboot -kernel "$VMLINUX" -initrd "$W/initrd.gz" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -append "console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests berth.mode=$MODE" \
  </dev/null >"$LOG" 2>&1
rc=$?
set -e
t1=$(date +%s.%N)
tr -d '\r' < "$LOG" | sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g'
echo "run.sh: qemu exit $rc (isa-debug-exit: 1 pass, 3 fail; 124 timeout), $(awk "BEGIN{printf \"%.1f\", $t1-$t0}") s"

result=$(tr -d '\r' < "$LOG" | grep -o 'VMTEST-RESULT: [0-9]* passed, [0-9]* failed' | tail -1 || true)
if [ -z "$result" ]; then
  echo "run.sh: no VMTEST-RESULT line: the guest did not finish" >&2
  exit 1
fi
echo "run.sh: $result"
failed=$(echo "$result" | sed 's/.* \([0-9]*\) failed/\1/')
[ "$failed" = 0 ]
