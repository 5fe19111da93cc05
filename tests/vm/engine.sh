# Engine cases on cgroup v2, sourced by cases.sh (busybox sh; ok/bad from init, $CG and
# $BIN from cases.sh). The engine `berth` with its built-in runtime, an image imported
# from a busybox + berth-check rootfs, overlay snapshots (the overlay module is loaded by
# init), and no network (BERTH_NETWORK=none): the VM has no nftables.

export BERTH_ROOT=/var/lib/berth BERTH_STATE=/run/berth-engine BERTH_NETWORK=none
E="timeout 60 $BIN/berth"

# A container's cgroup directory, from its full id.
ecg() { echo "$CG/berth/$($E inspect -f '{{.Id}}' "$1" 2>/dev/null)"; }

if ! grep -qw overlay /proc/filesystems; then
  bad "engine: no overlay filesystem in the guest (overlay module not loaded)"
  return 0
fi

img=/tmp/img
rm -rf $img
mkdir -p $img/rootfs/bin $img/rootfs/proc $img/rootfs/sys $img/rootfs/dev $img/rootfs/tmp $img/rootfs/etc
cp /bin/busybox $BIN/berth-check $img/rootfs/bin/
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox $img/rootfs/bin/$a; done
echo 'root:x:0:0:root:/:/bin/sh' > $img/rootfs/etc/passwd
echo 'root:x:0:' > $img/rootfs/etc/group
chmod 1777 $img/rootfs/tmp
tar -C $img/rootfs -cf $img/bb.tar .
if out=$($E import --change 'CMD ["sh"]' $img/bb.tar bb 2>&1); then
  ok "engine: import a busybox rootfs as image bb"
else
  bad "engine: import: $out"
  return 0
fi
rm -rf $img

# OOM: a program that keeps allocating under --memory 100m is killed, and the engine says so.
out=$($E run --name hog --memory 100m --memory-swap 100m bb berth-check alloc 400 2>&1)
rc=$?
[ $rc = 137 ] && ok "engine: run --memory 100m of alloc 400 exits 137" || bad "engine: hog rc=$rc, want 137: $(echo "$out" | tail -2)"
v=$($E inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' hog 2>&1)
[ "$v" = "true 137" ] && ok "engine: inspect hog: OOMKilled true, ExitCode 137" || bad "engine: inspect hog: '$v', want 'true 137'"
# A run that stays under its limit is not marked.
out=$($E run --name fine --memory 100m bb berth-check alloc 10 2>&1)
rc=$?
v=$($E inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' fine 2>&1)
[ $rc = 0 ] && [ "$v" = "false 0" ] && ok "engine: alloc 10 under 100m: OOMKilled false, exit 0" ||
  bad "engine: fine: rc=$rc inspect '$v' out '$(echo "$out" | tail -1)'"
# The mark is the last run's: starting hog again ends in an OOM kill again.
$E start -a hog >/dev/null 2>&1
v=$($E inspect -f '{{.State.OOMKilled}}' hog 2>&1)
[ "$v" = true ] && ok "engine: start -a of hog: OOMKilled true again" || bad "engine: hog restarted: OOMKilled '$v'"
$E rm hog fine >/dev/null 2>&1

# --oom-kill-disable: cgroup v2 has no such switch; like Docker, warn and discard it.
out=$($E run --name nokill --oom-kill-disable --memory 100m bb true 2>&1)
rc=$?
v=$($E inspect -f '{{.HostConfig.OomKillDisable}}' nokill 2>&1)
case $out in *WARNING*OomKillDisable*discarded*) w=yes ;; *) w=no ;; esac
[ $rc = 0 ] && [ $w = yes ] && [ "$v" = false ] && ok "engine: --oom-kill-disable on v2: warned, discarded, runs" ||
  bad "engine: --oom-kill-disable: rc=$rc warning=$w OomKillDisable=$v: $(echo "$out" | tail -1)"
$E rm nokill >/dev/null 2>&1

# Limits land in the container's v2 files, seen from the host and from inside.
out=$($E run -d --name lim --memory 64m --cpus 0.5 --pids-limit 20 bb sleep 1000 2>&1)
d=$(ecg lim)
if [ -d "$d" ]; then
  v="$(cat $d/memory.max) $(cat $d/cpu.max) $(cat $d/pids.max)"
  [ "$v" = "67108864 50000 100000 20" ] && ok "engine: --memory 64m --cpus 0.5 --pids-limit 20 -> memory.max, cpu.max, pids.max" ||
    bad "engine: limits in $d: '$v'"
  v=$($E exec lim cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>&1 | tr '\n' ' ')
  [ "$v" = "67108864 20 " ] && ok "engine: exec sees the limits in its own (namespaced) cgroup" || bad "engine: exec cat: '$v'"
  $E update --memory 32m --pids-limit 10 lim >/dev/null 2>&1
  v="$(cat $d/memory.max) $(cat $d/pids.max)"
  [ "$v" = "33554432 10" ] && ok "engine: update changes memory.max and pids.max" || bad "engine: after update: '$v'"
  $E rm -f lim >/dev/null 2>&1
  [ ! -d "$d" ] && ok "engine: rm -f removes the container's cgroup" || bad "engine: rm -f left $d"
else
  bad "engine: no cgroup for lim at '$d': $(echo "$out" | tail -1)"
  $E rm -f lim >/dev/null 2>&1
fi

# A restart after an OOM kill (the monitor reads memory.events before the runtime's delete).
$E run -d --name again --restart on-failure:2 --memory 32m --memory-swap 32m bb berth-check alloc 128 >/dev/null 2>&1
i=0
while [ $i -lt 200 ] && [ "$($E inspect -f '{{.State.Status}}' again 2>/dev/null)" != exited ]; do sleep 0.1; i=$((i + 1)); done
v=$($E inspect -f '{{.State.Status}} {{.State.OOMKilled}} {{.State.ExitCode}} {{.RestartCount}}' again 2>&1)
[ "$v" = "exited true 137 2" ] && ok "engine: on-failure:2 after OOM kills: exited, OOMKilled true, 137, 2 restarts" ||
  bad "engine: restarted hog: '$v', want 'exited true 137 2'"
$E rm -f again >/dev/null 2>&1

left=$($E ps -aq 2>&1)
[ -z "$left" ] && ok "engine: no container left" || bad "engine: containers left: $left"
left=$(find $CG/berth -mindepth 1 -type d 2>/dev/null)
[ -z "$left" ] && ok "engine: no cgroup left under /berth" || bad "engine: left under /berth: $left"
