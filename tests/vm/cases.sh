# Cgroup v2 cases, sourced by /init inside the VM (busybox sh). Uses ok/bad from init,
# $CG (the cgroup2 mount) and $MODE (full, or checker: only the checker cases).
#
# Every container gets cgroupsPath /berth/<id>: a nested path, so the runtime must
# create /berth and enable the controllers in its subtree_control itself.

BIN=/payload/bin
R="timeout 30 $BIN/berth-runtime --root /run/berth"
B=/tmp/bundle
OUT=/tmp/ctr.out

# --- checker on a bare cgroup v2 host (needs no runtime) ------------------------------
if $BIN/berth-check report | grep -q '"version":2'; then
  ok "checker: report sees cgroup v2"
else
  bad "checker: report does not see cgroup v2"
fi
mkdir $CG/chk
echo 32M > $CG/chk/memory.max
echo 0 > $CG/chk/memory.swap.max
r=$(sh -c "echo \$\$ > $CG/chk/cgroup.procs; exec $BIN/berth-check report")
case $r in *'"memory.max":"33554432"'*) ok "checker: reads memory.max of its own cgroup" ;;
           *) bad "checker: memory.max not in report: $(echo "$r" | grep -o '"limits":{[^}]*}')" ;; esac
sh -c "echo \$\$ > $CG/chk/cgroup.procs; exec $BIN/berth-check alloc 128" >/dev/null 2>&1
rc=$?
[ $rc = 137 ] && ok "checker: alloc 128 MiB under memory.max=32M is OOM-killed" || bad "checker: alloc rc=$rc, want 137"
oomk=$(awk '/^oom_kill /{print $2}' $CG/chk/memory.events)
[ "${oomk:-0}" -ge 1 ] && ok "checker: memory.events oom_kill=$oomk" || bad "checker: memory.events oom_kill=${oomk:-none}"
rmdir $CG/chk

[ "$MODE" = checker ] && return 0

# --- bundle --------------------------------------------------------------------------
rm -rf $B
mkdir -p $B/rootfs/bin $B/rootfs/proc $B/rootfs/sys $B/rootfs/dev $B/rootfs/tmp $B/rootfs/etc
cp /bin/busybox $BIN/berth-check $B/rootfs/bin/
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox $B/rootfs/bin/$a; done
echo 'root:x:0:0:root:/:/bin/sh' > $B/rootfs/etc/passwd
echo 'root:x:0:' > $B/rootfs/etc/group

N=0
# config ARGS_JSON [RESOURCES_EXTRA] [DEVICE_ALLOW_EXTRA] [LINUX_EXTRA]: writes
# config.json for a fresh id in $ID. Extras are JSON fragments starting with a comma
# (LINUX_EXTRA: ending with one).
config() {
  N=$((N + 1)); ID=vm$N
  caps='["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"]'
  cat > $B/config.json <<EOF
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": $1,
   "env": ["PATH=/bin"], "cwd": "/", "noNewPrivileges": true,
   "capabilities": {"bounding": $caps, "effective": $caps, "permitted": $caps}},
 "root": {"path": "rootfs", "readonly": true},
 "hostname": "vm",
 "mounts": [
   {"destination": "/proc", "type": "proc", "source": "proc"},
   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
   {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
   {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
   {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}],
 "linux": {
   "cgroupsPath": "/berth/$ID",
   "resources": {"devices": [{"allow": false, "access": "rwm"}${3:-}]${2:-}},
   ${4:-}
   "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
   "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
   "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]}}
EOF
}

status() { $R state "$1" 2>/dev/null | tr -d ' \n' | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'; }
wait_status() { # ID WANT: poll up to 10 s
  i=0
  while [ $i -lt 100 ]; do [ "$(status "$1")" = "$2" ] && return 0; sleep 0.1; i=$((i + 1)); done
  return 1
}
wait_out() { # TEXT: poll the container output up to 10 s
  i=0
  while [ $i -lt 100 ]; do grep -q "$1" $OUT 2>/dev/null && return 0; sleep 0.1; i=$((i + 1)); done
  return 1
}
create_start() { # create + start $ID with output in $OUT
  : > $OUT
  $R create --bundle $B $ID </dev/null >$OUT 2>&1 && $R start $ID >>$OUT 2>&1
}
gone() { $R delete --force $1 >/dev/null 2>&1; [ ! -d $CG/berth/$1 ]; }
cgdir() { echo $CG/berth/$1; }

if $R features >/dev/null 2>&1 && $R features | grep -q ociVersion; then
  ok "runtime: berth-runtime features"
else
  bad "runtime: berth-runtime features does not answer (runtime not functional yet?)"
fi

# memory.max visible inside
config '["/bin/berth-check", "cat", "/sys/fs/cgroup/memory.max"]' ',"memory": {"limit": 33554432}'
out=$($R run --bundle $B $ID </dev/null 2>&1)
[ "$out" = 33554432 ] && ok "memory.limit -> memory.max inside" || bad "memory.max inside: '$out'"
gone $ID || bad "run left cgroup $(cgdir $ID)"

# OOM kill recorded
config '["/bin/berth-check", "alloc", "128"]' ',"memory": {"limit": 33554432, "swap": 33554432}'
create_start
if wait_status $ID stopped; then
  oomk=$(awk '/^oom_kill /{print $2}' $(cgdir $ID)/memory.events 2>/dev/null)
  [ "${oomk:-0}" -ge 1 ] && ok "OOM kill recorded in memory.events (oom_kill=$oomk)" || bad "memory.events oom_kill=${oomk:-none}"
  grep -q allocated $OUT && bad "alloc 128M under 32M completed"
else
  bad "OOM container did not stop: $(status $ID); $(head -c 300 $OUT)"
fi
gone $ID && ok "delete removes the cgroup" || bad "cgroup $(cgdir $ID) left after delete"

# pids.max
config '["/bin/sh", "-c", "cat /sys/fs/cgroup/pids.max; exec /bin/berth-check spawn 10"]' ',"pids": {"limit": 5}'
out=$($R run --bundle $B $ID </dev/null 2>&1 | tr '\n' ' ')
case $out in "5 spawned 4 EAGAIN"*) ok "pids.max=5 visible and enforced" ;; *) bad "pids: '$out'" ;; esac
gone $ID

# cpu.max
config '["/bin/sh", "-c", "cat /sys/fs/cgroup/cpu.max; exec /bin/berth-check spin 0.6"]' ',"cpu": {"quota": 10000, "period": 100000}'
create_start
if wait_status $ID stopped; then
  grep -q '^10000 100000' $OUT && ok "cpu quota -> cpu.max inside" || bad "cpu.max inside: $(head -c 200 $OUT)"
  thr=$(awk '/^nr_throttled /{print $2}' $(cgdir $ID)/cpu.stat 2>/dev/null)
  [ "${thr:-0}" -gt 0 ] && ok "cpu.max throttles (nr_throttled=$thr)" || bad "cpu.stat nr_throttled=${thr:-none}"
else
  bad "cpu container did not stop"
fi
gone $ID

# cpuset
config '["/bin/berth-check", "report"]' ',"cpu": {"cpus": "0", "mems": "0"}'
out=$($R run --bundle $B $ID </dev/null 2>&1)
case $out in *'"cpus_allowed":"0"'*) ok "cpuset.cpus=0 restricts affinity" ;; *) bad "cpuset: $(echo "$out" | head -c 200)" ;; esac
case $out in *'"cpuset.cpus":"0"'*) ok "cpuset.cpus visible inside" ;; *) bad "cpuset.cpus not visible inside" ;; esac
gone $ID

# freezer: pause / resume through cgroup.freeze
config '["/bin/berth-check", "wait-signal"]'
create_start
if wait_out ready; then
  $R pause $ID
  [ "$(cat $(cgdir $ID)/cgroup.freeze 2>/dev/null)" = 1 ] && grep -q '^frozen 1' $(cgdir $ID)/cgroup.events &&
    [ "$(status $ID)" = paused ] && ok "pause freezes the cgroup (cgroup.freeze=1, frozen 1)" || bad "pause: freeze=$(cat $(cgdir $ID)/cgroup.freeze 2>/dev/null) state=$(status $ID)"
  $R kill $ID USR1
  sleep 0.3
  grep -q signal $OUT && bad "a frozen container handled a signal"
  $R resume $ID
  grep -q '^frozen 0' $(cgdir $ID)/cgroup.events && ok "resume thaws the cgroup" || bad "resume: $(cat $(cgdir $ID)/cgroup.events 2>/dev/null)"
  wait_out "signal SIGUSR1" && ok "the signal sent while frozen arrives after resume" || bad "no signal after resume"
else
  bad "freezer container never became ready: $(head -c 300 $OUT)"
fi
gone $ID

# devices through the eBPF device program
dev='"devices": [{"path": "/dev/berth-dev", "type": "c", "major": 240, "minor": 7, "fileMode": 438}],'
config '["/bin/berth-check", "try", "open", "/dev/berth-dev", "r"]' '' '' "$dev"
out=$($R run --bundle $B $ID </dev/null 2>&1)
[ "$out" = EPERM ] && ok "devices: unlisted device denied (EPERM)" || bad "devices: unlisted device open gave '$out'"
gone $ID
config '["/bin/sh", "-c", "berth-check try open /dev/berth-dev r; berth-check try open /dev/berth-dev w; berth-check try open /dev/null rw"]' \
  '' ',{"allow": true, "type": "c", "major": 240, "minor": 7, "access": "r"}' "$dev"
out=$($R run --bundle $B $ID </dev/null 2>&1 | tr '\n' ' ')
[ "$out" = "ENXIO EPERM ok " ] && ok "devices: read-only rule lets reads through, not writes; /dev/null allowed" ||
  bad "devices with an allow rule: '$out' (want 'ENXIO EPERM ok')"
gone $ID

# update
config '["/bin/berth-check", "wait-signal"]' ',"memory": {"limit": 33554432}, "pids": {"limit": 10}'
create_start
if wait_out ready; then
  $R update --memory 67108864 --pids-limit 7 $ID
  [ "$(cat $(cgdir $ID)/memory.max)" = 67108864 ] && ok "update --memory changes memory.max" || bad "memory.max after update: $(cat $(cgdir $ID)/memory.max)"
  [ "$(cat $(cgdir $ID)/pids.max)" = 7 ] && ok "update --pids-limit changes pids.max" || bad "pids.max after update: $(cat $(cgdir $ID)/pids.max)"
  $R events --stats $ID 2>/dev/null | grep -q '"type": *"stats"' && ok "events --stats" || bad "events --stats"
else
  bad "update container never became ready: $(head -c 300 $OUT)"
fi
pid=$($R state $ID 2>/dev/null | tr -d ' \n' | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
gone $ID && ok "delete --force of a running container removes its cgroup" || bad "cgroup left: $(ls $(cgdir $ID) 2>&1 | head -3)"
[ -n "$pid" ] && [ -d /proc/$pid ] && bad "process $pid survived delete --force"
left=$(find $CG/berth -mindepth 1 -type d 2>/dev/null)
[ -z "$left" ] && ok "no container cgroup left under /berth" || bad "left under /berth: $left"

# --- the engine (berth) on the same host ----------------------------------------------
if [ -f /payload/engine.sh ]; then . /payload/engine.sh; else bad "no /payload/engine.sh"; fi
