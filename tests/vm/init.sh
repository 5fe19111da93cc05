#!/bin/busybox sh
# PID 1 of the test VM: make a cgroup v2 host, run /payload/cases.sh, report, power off.
#
# Stage 1 moves the initramfs onto a tmpfs and switch_roots to it: the initramfs root
# ("rootfs") has no parent mount, and pivot_root(2) refuses such a root (EINVAL), which
# would break every container start.
export PATH=/bin:/sbin
if [ ! -e /.stage2 ]; then
  mkdir -p /newroot
  mount -t tmpfs -o size=75% tmpfs /newroot
  for d in bin sbin etc payload; do cp -a /$d /newroot/; done
  cp -a /init /newroot/init
  mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run /newroot/mnt
  touch /newroot/.stage2
  exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "T-init $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)"
# Modules from the kernel's .deb (tests/vm/kernel.sh), dependencies first.
for m in $(cat /payload/modules/order 2>/dev/null); do
  insmod /payload/modules/$m.ko || echo "init: insmod $m failed"
done

PASS=0 FAIL=0
ok()  { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }

CG=/sys/fs/cgroup
ctl=""
for c in cpu cpuset memory pids io; do grep -qw $c $CG/cgroup.controllers && ctl="$ctl +$c"; done
echo "$ctl" > $CG/cgroup.subtree_control
echo "controllers: $(cat $CG/cgroup.subtree_control)"

MODE=full
grep -q 'berth.mode=checker' /proc/cmdline && MODE=checker
if [ -f /payload/cases.sh ]; then . /payload/cases.sh; else bad "no /payload/cases.sh"; fi

echo "T-done $(cut -d' ' -f1 /proc/uptime)s"
echo "VMTEST-RESULT: $PASS passed, $FAIL failed"
# isa-debug-exit on port 0xf4: QEMU exits with (code << 1) | 1, i.e. 1 = pass, 3 = fail.
code=$([ $FAIL = 0 ] && echo 0 || echo 1)
printf "\\$(printf %03o $code)" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
