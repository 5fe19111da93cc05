#!/usr/bin/env bash
# bench/engine.sh — what a user waits for: `berth run --rm IMG true` against
# `podman run --rm --network none` and `docker run --rm --network none` (dockerd from
# Debian, started here with its own data root), all on the same busybox image; berth run
# against berth-runtime run on a bundle of that image; `berth run -d` of many sleeping
# containers (start time per container and memory at N=1, 100, 1000); `berth ps -a` with
# them all; the monitor's resident memory against conmon's, idle and after a burst of
# output.
#
#   bench/engine.sh                 measure and print the tables
#   bench/engine.sh --write         ... and put them in bench/RESULTS.md ("Engine" section)
#   bench/engine.sh --runs N        hyperfine runs per command (default 30)
#   bench/engine.sh --max N         containers in the many-containers part (default 1000)
#   bench/engine.sh --no-build      use the static release build as it is
#   bench/engine.sh --monitor-only  only the monitor/conmon memory part (with --write, only
#                                   its tables in RESULTS.md change)
#
# Needs root, podman, docker.io (dockerd + docker), runc, hyperfine, jq, busybox-static.
# Podman and dockerd use runc: crun refuses this cgroup v1 hybrid host; podman runs with
# `--ulimit nofile=1024,nproc=1024` (its defaults, and even our own hard limits, exceed what runc under conmon may set on this host for a
# process without CAP_SYS_RESOURCE set). Everything made
# here (stores, daemons, containers, cgroups under /berth-bench-engine-<pid>) is removed
# on exit. No test asserts a time: this only measures.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

WRITE=0 RUNS=30 MAX=1000 BUILD=1 ONLY_MONITOR=0
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --runs) RUNS=$2; shift ;;
    --max) MAX=$2; shift ;;
    --no-build) BUILD=0 ;;
    --monitor-only) ONLY_MONITOR=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "engine.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "engine.sh: run as root" >&2; exit 2; }
log() { printf '>> %s\n' "$*" >&2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

for t in podman dockerd runc hyperfine jq; do
  command -v $t >/dev/null || { echo "engine.sh: $t missing (apt-get install podman docker.io runc hyperfine jq)" >&2; exit 1; }
done
DOCKER=/usr/bin/docker; [ -x $DOCKER ] || DOCKER=$(command -v docker)

REL=$REPO/target/x86_64-unknown-linux-gnu/release
if [ "$BUILD" = 1 ]; then
  log "scripts/build-static.sh"
  "$REPO/scripts/build-static.sh" -q >&2
fi
BERTH=$REL/berth RT=$REL/berth-runtime

W=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
CG=/berth-bench-engine-$$
export BERTH_ROOT=$W/root BERTH_STATE=$W/run BERTH_CGROUP_PARENT=$CG BERTH_NETWORK=none  # as the anchors: --network none
P=(podman --root "$W/podman" --runroot "$W/podman-run" --storage-driver overlay
   --events-backend file --cgroup-manager cgroupfs --runtime runc)
D=($DOCKER -H "unix://$W/docker.sock")
NOFILE=1024 NPROC=1024
DOCKERD_PID=
cleanup() {
  set +e
  log "cleaning up"
  $BERTH ps -aq --no-trunc 2>/dev/null | xargs -r -n 50 $BERTH rm -f >/dev/null 2>&1
  "${P[@]}" rm -af >/dev/null 2>&1
  if [ -n "$DOCKERD_PID" ]; then
    "${D[@]}" rm -f bench-sleep >/dev/null 2>&1
    kill "$DOCKERD_PID"; wait "$DOCKERD_PID" 2>/dev/null
  fi
  $RT --root "$W/rt" delete -f bench-rt >/dev/null 2>&1
  for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    [ -d "$h$CG" ] && find "$h$CG" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  grep -o " $W[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- one image for everyone ---------------------------------------------------------
log "busybox image"
mkdir -p "$W/rootfs"/{bin,proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$W/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$W/rootfs/etc/passwd"; echo 'root:x:0:' >"$W/rootfs/etc/group"
tar -C "$W/rootfs" -cf "$W/bb.tar" .
$BERTH import --change 'CMD ["sh"]' "$W/bb.tar" bench/busybox:latest >/dev/null
$BERTH save -o "$W/bb-archive.tar" bench/busybox:latest
"${P[@]}" load -q -i "$W/bb-archive.tar" >/dev/null

if [ "$ONLY_MONITOR" = 0 ]; then
log "dockerd"
echo "{\"deprecated-key-path\": \"$W/key.json\"}" >"$W/daemon.json"
dockerd --config-file "$W/daemon.json" --data-root "$W/docker" --exec-root "$W/docker-exec" \
  -H "unix://$W/docker.sock" --pidfile "$W/docker.pid" --bridge=none --iptables=false \
  --ip-masq=false --ip6tables=false --userland-proxy=false --storage-driver=overlay2 \
  --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$CG/docker" >"$W/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 100); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${D[@]}" load -q -i "$W/bb-archive.tar" >/dev/null

# The same rootfs as an OCI bundle for berth-runtime.
mkdir -p "$W/bundle" && cp -a "$W/rootfs" "$W/bundle/rootfs"
$RT spec --bundle "$W/bundle"
jq --arg cg "$CG/rt" '.process.terminal=false | .process.args=["true"] | .linux.cgroupsPath=$cg' \
  "$W/bundle/config.json" >"$W/c.json" && mv "$W/c.json" "$W/bundle/config.json"

# --- run --rm ------------------------------------------------------------------------
log "run --rm true (hyperfine, $RUNS runs each)"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$W/run.json" \
  -n berth "$BERTH run --rm bench/busybox true" \
  -n berth-runtime "$RT --root $W/rt run --bundle $W/bundle bench-rt" \
  -n podman "${P[*]} run --rm --network none --ulimit nofile=$NOFILE:$NOFILE --ulimit nproc=$NPROC:$NPROC bench/busybox true" \
  -n docker "${D[*]} run --rm --network none bench/busybox true" >&2
mean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .mean * 1000' "$W/run.json"; }
T_BERTH=$(mean berth) T_RT=$(mean berth-runtime) T_PODMAN=$(mean podman) T_DOCKER=$(mean docker)
fi

# --- monitor vs conmon ---------------------------------------------------------------
# VmRSS and PSS of the process that watches one container: idle (a `sleep`, 2 s after its
# start); the peak VmRSS, sampled every 20 ms, while it relays a burst of output (20 MB of
# `yes` lines, until it has read them all, /proc/PID/io rchar); VmRSS and PSS 2 s after
# that burst; and for a container that prints a line every 0.5 s, 5 s after its start.
# While the container runs, the berth monitor is the small `berth-monitor` relay (the
# `berth __monitor` that started the container execs it: same pid); it gives back the pages
# of its binary after start-up and whenever it has had nothing to do for 1 s: "idle" and
# "after" show that; the peak and the steady logger show what relaying keeps resident.
log "monitor and conmon resident memory"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
pss() { awk '/^Pss:/ { s += $2 } END { print s }' "/proc/$1/smaps_rollup"; }
BURST=20000000 LINE=$(printf '%080d' 0)
peak_until_read() { # PID: the peak VmRSS until PID has read $BURST bytes (at most 60 s)
  local peak=0 r
  for _ in $(seq 3000); do
    r=$(rss "$1"); [ "$r" -gt "$peak" ] && peak=$r
    [ "$(awk '/^rchar/ { print $2 }' "/proc/$1/io")" -ge $BURST ] && break
    sleep 0.02
  done
  echo "$peak"
}
berth_monitor() { jq .Berth.MonitorPid "$W/root/containers/$1/state.json"; }
conmon_of() { pgrep -f "conmon.*$1" | head -1; }
PODMAN_RUN=("${P[@]}" run -d --network none --ulimit nofile=$NOFILE:$NOFILE --ulimit nproc=$NPROC:$NPROC)

id=$($BERTH run -d bench/busybox sleep 1000)
sleep 2
mon=$(berth_monitor "$id")
MON_RSS=$(rss "$mon") MON_PSS=$(pss "$mon")
$BERTH rm -f "$id" >/dev/null
id=$($BERTH run -d bench/busybox sh -c "yes $LINE | head -c $BURST; sleep 1000")
mon=$(berth_monitor "$id")
MON_PEAK=$(peak_until_read "$mon")
sleep 2
MON_AFTER_RSS=$(rss "$mon") MON_AFTER_PSS=$(pss "$mon")
$BERTH rm -f "$id" >/dev/null
id=$($BERTH run -d bench/busybox sh -c "while true; do echo $LINE; sleep 0.5; done")
sleep 5
mon=$(berth_monitor "$id")
MON_TICK_RSS=$(rss "$mon") MON_TICK_PSS=$(pss "$mon")
$BERTH rm -f "$id" >/dev/null

pid=$("${PODMAN_RUN[@]}" bench/busybox sleep 1000)
sleep 2
cpid=$(conmon_of "$pid")
CONMON_RSS=$(rss "$cpid") CONMON_PSS=$(pss "$cpid")
"${P[@]}" rm -f -t 0 "$pid" >/dev/null
pid=$("${PODMAN_RUN[@]}" bench/busybox sh -c "yes $LINE | head -c $BURST; sleep 1000")
cpid=$(conmon_of "$pid")
CONMON_PEAK=$(peak_until_read "$cpid")
sleep 2
CONMON_AFTER_RSS=$(rss "$cpid") CONMON_AFTER_PSS=$(pss "$cpid")
"${P[@]}" rm -f -t 0 "$pid" >/dev/null
pid=$("${PODMAN_RUN[@]}" bench/busybox sh -c "while true; do echo $LINE; sleep 0.5; done")
sleep 5
cpid=$(conmon_of "$pid")
CONMON_TICK_RSS=$(rss "$cpid") CONMON_TICK_PSS=$(pss "$cpid")
"${P[@]}" rm -f -t 0 "$pid" >/dev/null

if [ "$ONLY_MONITOR" = 0 ]; then
# --- many containers -----------------------------------------------------------------
log "berth run -d of $MAX sleeping containers"
avail() { awk '/^MemAvailable/ { print $2 }' /proc/meminfo; }
M0=$(avail)
declare -A AT_MS
n=0 t0=$(date +%s%N)
for mark in 1 100 $MAX; do
  [ "$mark" -le "$MAX" ] || continue
  [ "$mark" -gt "$n" ] || continue
  s=$(date +%s%N)
  last_s=0
  while [ $n -lt "$mark" ]; do
    a=$(date +%s%N)
    $BERTH run -d bench/busybox sleep 100000 >/dev/null
    b=$(date +%s%N)
    n=$((n + 1))
    last_s=$((b - a))
  done
  AT_MS[$mark]=$(awk -v t="$last_s" 'BEGIN { printf "%.1f", t / 1e6 }')
  log "  $mark running; the last start took ${AT_MS[$mark]} ms"
done
TOTAL_S=$(awk -v t="$(( $(date +%s%N) - t0 ))" 'BEGIN { printf "%.1f", t / 1e9 }')
sleep 1
M1=$(avail)
MEM_PER=$(awk -v a="$M0" -v b="$M1" -v n="$n" 'BEGIN { printf "%.0f", (a - b) / n }')
log "berth ps -a with $n containers"
hyperfine -N --warmup 1 --runs 10 --export-json "$W/ps.json" "$BERTH ps -a" >&2
T_PS=$(jq -r '.results[0].mean * 1000' "$W/ps.json")
fi

# --- report --------------------------------------------------------------------------
monitor_table=$(cat <<EOF
| monitor of one container (busybox) | VmRSS | PSS |
|---|---|---|
| berth monitor, idle \`sleep\` | $MON_RSS KiB | $MON_PSS KiB |
| conmon (podman), idle \`sleep\` | $CONMON_RSS KiB | $CONMON_PSS KiB |
| berth monitor, peak while relaying 20 MB of \`yes\` lines | $MON_PEAK KiB | |
| conmon, peak while relaying 20 MB of \`yes\` lines | $CONMON_PEAK KiB | |
| berth monitor, 2 s after that burst | $MON_AFTER_RSS KiB | $MON_AFTER_PSS KiB |
| conmon, 2 s after that burst | $CONMON_AFTER_RSS KiB | $CONMON_AFTER_PSS KiB |
| berth monitor, a line every 0.5 s | $MON_TICK_RSS KiB | $MON_TICK_PSS KiB |
| conmon, a line every 0.5 s | $CONMON_TICK_RSS KiB | $CONMON_TICK_PSS KiB |

Target: idle monitor/conmon VmRSS = **$(ratio "$MON_RSS" "$CONMON_RSS")** (≤ 0.5); PSS $(ratio "$MON_PSS" "$CONMON_PSS"); after the burst $(ratio "$MON_AFTER_RSS" "$CONMON_AFTER_RSS"), at the peak $(ratio "$MON_PEAK" "$CONMON_PEAK"), a line every 0.5 s $(ratio "$MON_TICK_RSS" "$CONMON_TICK_RSS").
EOF
)
if [ "$ONLY_MONITOR" = 1 ]; then
  echo
  echo "$monitor_table"
  if [ "$WRITE" = 1 ]; then
    R=$REPO/bench/RESULTS.md
    block=$(printf 'Monitor rows: `bench/engine.sh --monitor-only --write` on %s.\n\n%s\n' \
      "$(date -u +%Y-%m-%d)" "$monitor_table")
    python3 - "$R" "$block" <<'PY'
import re, sys
path, block = sys.argv[1], sys.argv[2].rstrip() + "\n\n"
text = open(path).read()
sec = re.search(r"^## Engine\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
old = re.compile(r"^(Monitor rows: .*?\n\n)?\| monitor of one .*?\n\n(Target: idle monitor.*?\n\n)?", flags=re.S | re.M)
m = old.search(text, sec.start(), sec.end()) if sec else None
if not m:
    sys.exit("engine.sh: no monitor table in the Engine section of " + path + "; run without --monitor-only")
text = text[:m.start()] + block + text[m.end():]
open(path, "w").write(text)
PY
    log "wrote the monitor rows of the Engine section of $R"
  fi
  exit 0
fi
table=$(cat <<EOF
| command (busybox image, \`true\`) | mean | vs berth |
|---|---|---|
| \`berth run --rm\` | $(printf %.1f "$T_BERTH") ms | 1.00 |
| \`berth-runtime run\` (same rootfs as a bundle) | $(printf %.1f "$T_RT") ms | $(ratio "$T_RT" "$T_BERTH") |
| \`podman run --rm --network none\` (runc) | $(printf %.1f "$T_PODMAN") ms | $(ratio "$T_PODMAN" "$T_BERTH") |
| \`docker run --rm --network none\` (runc) | $(printf %.1f "$T_DOCKER") ms | $(ratio "$T_DOCKER" "$T_BERTH") |

Targets: berth/podman = **$(ratio "$T_BERTH" "$T_PODMAN")** (≤ 0.20), berth/berth-runtime = **$(ratio "$T_BERTH" "$T_RT")** (≤ 2.5), berth/docker = $(ratio "$T_BERTH" "$T_DOCKER").

$monitor_table

| \`berth run -d\` sleeping containers | |
|---|---|
| start of the 1st | ${AT_MS[1]:-} ms |
| start of the 100th | ${AT_MS[100]:-} ms |
| start of the ${MAX}th (when > 100) | ${AT_MS[$MAX]:-} ms |
| all $n, one after another | $TOTAL_S s |
| memory per container (MemAvailable drop / $n) | $MEM_PER KiB |
| \`berth ps -a\` with $n containers | $(printf %.1f "$T_PS") ms |
EOF
)
echo
echo "$table"
if [ "$WRITE" = 1 ]; then
  R=$REPO/bench/RESULTS.md
  section=$(printf '## Engine\n\n`bench/engine.sh --write` on %s (%s, %s CPUs), %s runs each.\n\n%s\n' \
    "$(date -u +%Y-%m-%d)" "$(uname -r)" "$(nproc)" "$RUNS" "$table")
  python3 - "$R" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2].rstrip() + "\n"
text = open(path).read()
m = re.search(r"^## Engine\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + section + ("\n" if text[m.end():] else "") + text[m.end():] if m else text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
  log "wrote the Engine section of $R"
fi
