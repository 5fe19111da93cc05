#!/usr/bin/env bash
# bench/runtime.sh — start-up time, peak RSS and smallest workable memory limit of
# berth-runtime against crun and runc, all running the same busybox bundle whose
# process is /bin/true.
#
#   bench/runtime.sh                 measure and print the tables
#   bench/runtime.sh --write         ... and regenerate bench/RESULTS.md
#   bench/runtime.sh --runs N        hyperfine runs per command (default 100)
#   bench/runtime.sh --iters N       create/start/delete iterations (default 100)
#   bench/runtime.sh --no-build      use the static release build (scripts/build-static.sh) as it is
#
# Needs root, runc, crun, hyperfine, jq, busybox-static and GNU time (/usr/bin/time);
# missing Debian packages are installed with apt-get. No test asserts a time: this
# only measures. Everything it creates (bundle, state roots, containers, cgroups
# under /berth-bench-<pid> in every hierarchy) is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

WRITE=0 RUNS=100 ITERS=100 BUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --runs) RUNS=$2; shift ;;
    --iters) ITERS=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "runtime.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || { echo "runtime.sh: run as root" >&2; exit 2; }

log() { printf '>> %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------
need_pkgs=()
command -v runc >/dev/null || need_pkgs+=(runc)
command -v crun >/dev/null || need_pkgs+=(crun)
command -v hyperfine >/dev/null || need_pkgs+=(hyperfine)
command -v jq >/dev/null || need_pkgs+=(jq)
[ -x /usr/bin/time ] || need_pkgs+=(time)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q dynamic && need_pkgs+=(busybox-static)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

BERTH=$REPO/target/x86_64-unknown-linux-gnu/release/berth-runtime
if [ "$BUILD" = 1 ]; then
  log "scripts/build-static.sh -p berth-runtime-cli"
  "$REPO/scripts/build-static.sh" -q -p berth-runtime-cli >&2
fi
[ -x "$BERTH" ] || { echo "runtime.sh: $BERTH missing (build it, or drop --no-build)" >&2; exit 1; }
CRUN=$(command -v crun) RUNC=$(command -v runc)

# --- work area and cleanup ---------------------------------------------------------
W=$(mktemp -d /tmp/berth-bench.XXXXXX)
CG=/berth-bench-$$ # cgroupsPath parent, under every hierarchy's root
B=$W/bundle
RUNTIMES=(berth crun runc)
declare -A ROOT=([berth]=$W/root-berth [crun]=$W/root-crun [runc]=$W/root-runc)

cleanup() {
  set +e
  for rt in "${RUNTIMES[@]}"; do
    [ -d "${ROOT[$rt]}" ] || continue
    for id in $(rtcmd "$rt" list -q 2>/dev/null); do
      rtcmd "$rt" delete -f "$id" >/dev/null 2>&1
    done
  done
  # Only our own cgroup subtree: deepest directories first.
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h${CG#/}" ] || continue
    find "$h${CG#/}" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- crun on a cgroup v1 hybrid host -----------------------------------------------
# crun 1.8 decides "this is cgroup v2" when /sys/fs/cgroup/unified exists with a
# non-empty cgroup.controllers, then fails on the v1 layout. It is run through a
# wrapper that gives it a private mount namespace in which that file reads empty.
mkdir -p "$W/bin"
UNIFIED_CTRL=/sys/fs/cgroup/unified/cgroup.controllers
CRUN_WRAPPED=0
if [ -e "$UNIFIED_CTRL" ] && [ -s "$UNIFIED_CTRL" -o -n "$(cat "$UNIFIED_CTRL" 2>/dev/null)" ]; then
  CRUN_WRAPPED=1
  cat >"$W/bin/crun" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount --bind /dev/null $UNIFIED_CTRL && exec $CRUN "\$@"' sh "\$@"
EOF
  # The same wrapper with crun replaced by /bin/true: its own cost.
  cat >"$W/bin/crun-true" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount --bind /dev/null $UNIFIED_CTRL && exec /bin/true'
EOF
else
  printf '#!/bin/sh\nexec %s "$@"\n' "$CRUN" >"$W/bin/crun"
  printf '#!/bin/sh\nexec /bin/true\n' >"$W/bin/crun-true"
fi
# what hyperfine runs for the wrapper: the bench script exec'ing it, as for crun itself
printf '#!/bin/bash\nexec %s\n' "$W/bin/crun-true" >"$W/bin/wrap-true"
chmod +x "$W/bin/crun" "$W/bin/crun-true" "$W/bin/wrap-true"
declare -A BIN=([berth]=$BERTH [crun]=$W/bin/crun [runc]=$RUNC)
rtcmd() { local rt=$1; shift; "${BIN[$rt]}" --root "${ROOT[$rt]}" "$@"; }

# --- the bundle --------------------------------------------------------------------
log "bundle in $B"
mkdir -p "$B/rootfs"/{bin,proc,dev,sys,tmp,etc}
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox "$B/rootfs/bin/$a"
done
(cd "$B" && "$RUNC" spec)
jq --arg cg "$CG/c" '.process.terminal = false | .process.args = ["/bin/true"]
    | .root.readonly = true | .linux.cgroupsPath = $cg' "$B/config.json" >"$B/config.json.new"
mv "$B/config.json.new" "$B/config.json"
for rt in "${RUNTIMES[@]}"; do mkdir -p "${ROOT[$rt]}"; done

# One script per command under test: `<rt> --root R run --bundle B <unique id>`.
for rt in "${RUNTIMES[@]}"; do
  cat >"$W/bin/run-$rt" <<EOF
#!/bin/bash
exec ${BIN[$rt]} --root ${ROOT[$rt]} run --bundle $B $rt-\${EPOCHREALTIME/./}-\$RANDOM
EOF
  chmod +x "$W/bin/run-$rt"
done
printf '#!/bin/bash\nexec /bin/true\n' >"$W/bin/run-true" # the scripts' own cost
chmod +x "$W/bin/run-true"

# Sanity: every runtime runs the bundle once; a failing one is left out, not fatal.
declare -A OK
for rt in "${RUNTIMES[@]}"; do
  if out=$(timeout 20 "$W/bin/run-$rt" 2>&1); then OK[$rt]=1; else
    OK[$rt]=0; log "$rt: run failed: $out"
  fi
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. hyperfine: `run` of /bin/true ----------------------------------------------
log "hyperfine: run /bin/true, $RUNS runs each"
hf=(hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$W/run.json" --style basic)
for rt in "${RUNTIMES[@]}"; do [ "${OK[$rt]}" = 1 ] && hf+=(-n "$rt" "$W/bin/run-$rt"); done
hf+=(-n wrapper "$W/bin/wrap-true" -n script "$W/bin/run-true")
"${hf[@]}" >&2
hmean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .mean * 1000' "$W/run.json"; }
hsd() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .stddev * 1000' "$W/run.json"; }
hmed() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$W/run.json"; }
declare -A RUN_MS RUN_SD RUN_MED
for n in "${RUNTIMES[@]}" wrapper script; do
  RUN_MS[$n]=$(hmean "$n"); RUN_SD[$n]=$(hsd "$n"); RUN_MED[$n]=$(hmed "$n")
  [ -n "${RUN_MS[$n]}" ] || RUN_MS[$n]=nan RUN_SD[$n]=nan RUN_MED[$n]=nan
done
# Cost of the crun wrapper beyond the plain script: unshare + sh + bind mount.
WRAP_MS=$(awk -v a="${RUN_MS[wrapper]}" -v b="${RUN_MS[script]}" 'BEGIN{v = a - b; if (v < 0) v = 0; printf "%.3f", v}')
RUN_MS[crun_adj]=$(awk -v a="${RUN_MS[crun]}" -v w="$WRAP_MS" 'BEGIN{printf "%.3f", a-w}')
WRAP_MED=$(awk -v a="${RUN_MED[wrapper]}" -v b="${RUN_MED[script]}" 'BEGIN{v = a - b; if (v < 0) v = 0; printf "%.3f", v}')
RUN_MED[crun_adj]=$(awk -v a="${RUN_MED[crun]}" -v w="$WRAP_MED" 'BEGIN{printf "%.3f", a-w}')

# --- 2. create / start / delete, timed one by one ---------------------------------
log "create/start/delete: $ITERS rounds, runtimes interleaved within each round"
wait_stopped() { # the container's /bin/true has exited
  local i st
  for i in $(seq 1 500); do
    st=$(rtcmd "$1" state "$2" 2>/dev/null | jq -r .status) || true
    [ "$st" = stopped ] && return 0
    sleep 0.01
  done
  return 1
}
declare -A PH # PH[rt.phase] = "mean median" ms; PH[rt.fail] = failed rounds
for rt in "${RUNTIMES[@]}"; do PH[$rt.fail]=0; done
# One round = one create/start/delete cycle per runtime, then the crun wrapper alone, so a
# burst of load from elsewhere on the machine hits every runtime alike.
for i in $(seq 1 "$ITERS"); do
  for rt in "${RUNTIMES[@]}"; do
    [ "${OK[$rt]}" = 1 ] || continue
    id=ph-$rt-$$-$i
    t0=${EPOCHREALTIME/./}
    rtcmd "$rt" create --bundle "$B" "$id" </dev/null >/dev/null 2>&1 || { PH[$rt.fail]=$((PH[$rt.fail]+1)); rtcmd "$rt" delete -f "$id" >/dev/null 2>&1; continue; }
    t1=${EPOCHREALTIME/./}
    rtcmd "$rt" start "$id" </dev/null >/dev/null 2>&1 || { PH[$rt.fail]=$((PH[$rt.fail]+1)); rtcmd "$rt" delete -f "$id" >/dev/null 2>&1; continue; }
    t2=${EPOCHREALTIME/./}
    wait_stopped "$rt" "$id" || true
    # memory the container's cgroup was charged at its peak, set-up included (untimed)
    for f in "/sys/fs/cgroup/memory$CG/c/memory.max_usage_in_bytes" "/sys/fs/cgroup$CG/c/memory.peak"; do
      [ -r "$f" ] && { echo $(($(cat "$f") / 1024)) >>"$W/charge.$rt"; break; }
    done
    t3=${EPOCHREALTIME/./}
    rtcmd "$rt" delete "$id" </dev/null >/dev/null 2>&1 || { PH[$rt.fail]=$((PH[$rt.fail]+1)); rtcmd "$rt" delete -f "$id" >/dev/null 2>&1; continue; }
    t4=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$W/ph.$rt.create"
    echo $((t2 - t1)) >>"$W/ph.$rt.start"
    echo $((t4 - t3)) >>"$W/ph.$rt.delete"
  done
  # The crun wrapper with /bin/true, timed the same way, minus /bin/true timed the same way.
  t0=${EPOCHREALTIME/./}; "$W/bin/crun-true"; t1=${EPOCHREALTIME/./}
  /bin/true; t2=${EPOCHREALTIME/./}
  echo $(( (t1 - t0) - (t2 - t1) )) >>"$W/ph.wrap"
done
stats() { # file of µs values -> "mean median" in ms, or "nan nan"
  [ -s "$1" ] || { echo "nan nan"; return; }
  sort -n "$1" | awk '{v[NR]=$1; s+=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f %.2f", s/NR/1000, m/1000}'
}
for rt in "${RUNTIMES[@]}"; do
  for ph in create start delete; do PH[$rt.$ph]=$(stats "$W/ph.$rt.$ph"); done
  PH[$rt.charge]=$( [ -s "$W/charge.$rt" ] && sort -n "$W/charge.$rt" | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}' || echo n/a)
done
read -r PH_WRAP PH_WRAP_MED <<<"$(stats "$W/ph.wrap")"

# --- 3. peak RSS -------------------------------------------------------------------
log "peak RSS (/usr/bin/time -f %M), median of 5"
peak_rss() { # prints the median %M in KiB of 5 runs
  local rt=$1 i f=$W/rss.$rt vals=()
  for i in 1 2 3 4 5; do
    local id=rss-$rt-$$-$i
    if [ "$rt" = crun ] && [ "$CRUN_WRAPPED" = 1 ]; then
      # time inside the private mount namespace, so only crun (and its children) count
      unshare -m sh -c "mount --bind /dev/null $UNIFIED_CTRL && exec /usr/bin/time -f %M -o $f $CRUN \"\$@\"" \
        sh --root "${ROOT[$rt]}" run --bundle "$B" "$id" >/dev/null 2>&1 || { echo fail; return; }
    else
      /usr/bin/time -f %M -o "$f" "${BIN[$rt]}" --root "${ROOT[$rt]}" run --bundle "$B" "$id" >/dev/null 2>&1 \
        || { echo fail; return; }
    fi
    vals+=("$(tail -n1 "$f")")
  done
  printf '%s\n' "${vals[@]}" | sort -n | sed -n 3p
}
declare -A RSS
for rt in "${RUNTIMES[@]}"; do RSS[$rt]=$(peak_rss "$rt"); done

# --- 4. smallest memory limit that still runs /bin/true ------------------------------
SIZES=(256K 384K 512K 768K 1M 2M 4M 8M 16M 32M)
tobytes() { local v=${1%[KM]}; case $1 in *K) echo $((v * 1024)) ;; *M) echo $((v * 1048576)) ;; *) echo "$v" ;; esac; }
log "memory limits: ${SIZES[*]}"
MB=$W/bundle-mem # own config.json, same rootfs
mkdir -p "$MB"
MEM_TRIES=3
declare -A MEMMIN MEMROW
for rt in "${RUNTIMES[@]}"; do
  MEMMIN[$rt]=none MEMROW[$rt]=""
  for s in "${SIZES[@]}"; do
    by=$(tobytes "$s")
    jq --arg r "$B/rootfs" --argjson m "$by" '.root.path = $r
        | .linux.resources.memory = {limit: $m, swap: $m}' "$B/config.json" >"$MB/config.json"
    good=0
    for t in $(seq 1 $MEM_TRIES); do
      id=mem-$rt-$$-$s-$t rc=0
      timeout 20 "${BIN[$rt]}" --root "${ROOT[$rt]}" run --bundle "$MB" "$id" </dev/null >/dev/null 2>"$W/mem.err" || rc=$?
      if [ "$rc" = 0 ]; then good=$((good + 1)); else
        rtcmd "$rt" delete -f "$id" >/dev/null 2>&1 || true
        echo "$rt $s try $t: exit $rc: $(tr '\n' ' ' <"$W/mem.err" | cut -c1-300)" >>"$W/mem.log"
      fi
    done
    MEMROW[$rt]+=" $s:$good/$MEM_TRIES"
    [ "${MEMMIN[$rt]}" = none ] && [ "$good" = "$MEM_TRIES" ] && MEMMIN[$rt]=$s
  done
done

# --- report ------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "n/a" }'; }
f2() { awk -v a="$1" 'BEGIN{ if (a == "nan" || a == "") print "n/a"; else printf "%.2f", a }'; }
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
KERNEL=$(uname -r) DATE=$(date -u +'%Y-%m-%d %H:%M UTC') CORES=$(nproc)
CPU=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
CGMODE="cgroup v1 (hybrid: v1 controllers, plus a cgroup2 mount at /sys/fs/cgroup/unified)"
[ -e /sys/fs/cgroup/cgroup.controllers ] && CGMODE="cgroup v2 (unified)"
VERS="berth-runtime (binary of $(date -u -r "$BERTH" +'%Y-%m-%d %H:%M UTC'), tree at $(git -C "$REPO" rev-parse --short HEAD)), $("$CRUN" --version | head -1), $("$RUNC" --version | head -1), hyperfine $(hyperfine --version | awk '{print $2}')"

table() {
  local cadj=${RUN_MS[crun_adj]}
  echo "### \`run\` of /bin/true (hyperfine -N, warmup 5, $RUNS runs)"
  echo
  local cmed=${RUN_MED[crun_adj]}
  echo "| runtime | mean ms | ± sd ms | ratio to crun (adjusted) | ratio to crun (raw) | median ms | median ratio to crun (adjusted) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| berth-runtime | $(f2 "${RUN_MS[berth]}") | $(f2 "${RUN_SD[berth]}") | $(ratio "${RUN_MS[berth]}" "$cadj") | $(ratio "${RUN_MS[berth]}" "${RUN_MS[crun]}") | $(f2 "${RUN_MED[berth]}") | $(ratio "${RUN_MED[berth]}" "$cmed") |"
  echo "| crun, raw (through the wrapper) | $(f2 "${RUN_MS[crun]}") | $(f2 "${RUN_SD[crun]}") | | 1.00 | $(f2 "${RUN_MED[crun]}") | |"
  echo "| crun, minus wrapper (mean $WRAP_MS ms, median $WRAP_MED ms) | $(f2 "$cadj") | | 1.00 | | $(f2 "$cmed") | 1.00 |"
  echo "| runc | $(f2 "${RUN_MS[runc]}") | $(f2 "${RUN_SD[runc]}") | $(ratio "${RUN_MS[runc]}" "$cadj") | $(ratio "${RUN_MS[runc]}" "${RUN_MS[crun]}") | $(f2 "${RUN_MED[runc]}") | $(ratio "${RUN_MED[runc]}" "$cmed") |"
  echo "| (wrapper alone, running /bin/true) | $(f2 "${RUN_MS[wrapper]}") | $(f2 "${RUN_SD[wrapper]}") | | | $(f2 "${RUN_MED[wrapper]}") | |"
  echo "| (bench script alone, running /bin/true) | $(f2 "${RUN_MS[script]}") | $(f2 "${RUN_SD[script]}") | | | $(f2 "${RUN_MED[script]}") | |"
  echo
  echo "### create / start / delete: ms per call over $ITERS interleaved rounds, mean (median)"
  echo
  echo "crun's figures are minus the wrapper's cost measured in the same rounds: $PH_WRAP ms mean ($PH_WRAP_MED median) per call."
  echo
  echo "| runtime | create | start | delete | sum of means | ratio to crun (means) | sum of medians | ratio to crun (medians) | failed rounds |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  local rt ph mean med
  declare -A V SM SD
  for rt in "${RUNTIMES[@]}"; do
    SM[$rt]=0 SD[$rt]=0
    for ph in create start delete; do
      read -r mean med <<<"${PH[$rt.$ph]:-nan nan}"
      if [ "$rt" = crun ] && [ "$mean" != nan ]; then
        mean=$(awk -v a="$mean" -v w="$PH_WRAP" 'BEGIN{printf "%.2f", a-w}')
        med=$(awk -v a="$med" -v w="$PH_WRAP_MED" 'BEGIN{printf "%.2f", a-w}')
      fi
      V[$rt.$ph]="$mean ($med)"
      SM[$rt]=$(awk -v a="${SM[$rt]}" -v b="$mean" 'BEGIN{ if (a == "nan" || b == "nan") print "nan"; else printf "%.2f", a+b }')
      SD[$rt]=$(awk -v a="${SD[$rt]}" -v b="$med" 'BEGIN{ if (a == "nan" || b == "nan") print "nan"; else printf "%.2f", a+b }')
    done
  done
  for rt in "${RUNTIMES[@]}"; do
    echo "| $(name "$rt") | ${V[$rt.create]} | ${V[$rt.start]} | ${V[$rt.delete]} | $(f2 "${SM[$rt]}") | $(ratio "${SM[$rt]}" "${SM[crun]}") | $(f2 "${SD[$rt]}") | $(ratio "${SD[$rt]}" "${SD[crun]}") | ${PH[$rt.fail]} |"
  done
  echo
  echo "### peak RSS of \`run\` (/usr/bin/time -f %M, median of 5) and smallest memory limit that runs /bin/true"
  echo
  echo "| runtime | peak RSS KiB | ratio to crun | container cgroup peak charge KiB (no limit) | smallest limit that always worked | runs that worked per limit (limit = swap) |"
  echo "|---|---:|---:|---:|---:|---|"
  for rt in "${RUNTIMES[@]}"; do
    echo "| $(name "$rt") | ${RSS[$rt]} | $(ratio "${RSS[$rt]}" "${RSS[crun]}") | ${PH[$rt.charge]:-n/a} | ${MEMMIN[$rt]} |${MEMROW[$rt]} |"
  done
}
name() { case $1 in berth) echo berth-runtime ;; *) echo "$1" ;; esac; }

kib() { local s=$1; [ "$s" = none ] && { echo 999999999; return; }; echo $(($(tobytes "$s") / 1024)); }
met() { [ "$1" = 1 ] && echo "**met**" || echo "**not met**"; }
T1=0 T2=0 T3=0
awk -v a="${RUN_MS[berth]}" -v b="${RUN_MS[crun_adj]}" 'BEGIN{exit !(a+0 > 0 && b+0 > 0 && a <= 0.7*b)}' && T1=1
[ "${RSS[berth]}" != fail ] && [ "${RSS[crun]}" != fail ] && [ "${RSS[berth]}" -le "${RSS[crun]}" ] && T2=1
[ "$(kib "${MEMMIN[berth]}")" -le 512 ] && T3=1
targets() {
  echo "| target (from the issue) | measured | verdict |"
  echo "|---|---|---|"
  echo "| berth-runtime \`run\` time ≤ 0.7 × crun's | $(f2 "${RUN_MS[berth]}") ms vs 0.7 × $(f2 "${RUN_MS[crun_adj]}") = $(awk -v b="${RUN_MS[crun_adj]}" 'BEGIN{printf "%.2f", 0.7*b}') ms (ratio $(ratio "${RUN_MS[berth]}" "${RUN_MS[crun_adj]}"); $(ratio "${RUN_MS[berth]}" "${RUN_MS[crun]}") against raw crun) | $(met $T1) |"
  echo "| berth-runtime peak RSS ≤ crun's | ${RSS[berth]} KiB vs ${RSS[crun]} KiB | $(met $T2) |"
  echo "| berth-runtime starts under a 512 KiB memory limit | smallest limit at which all $MEM_TRIES runs worked: ${MEMMIN[berth]} | $(met $T3) |"
}

echo
echo "berth-runtime benchmark — $DATE — $CORES cores, $CGMODE, kernel $KERNEL"
echo "$VERS"
echo "load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
[ "$CRUN_WRAPPED" = 1 ] && echo "NOTE: crun runs through a wrapper (unshare -m + bind-mount /dev/null over $UNIFIED_CTRL); its time is given raw and minus the wrapper's own cost."
echo
table
echo
targets
if [ -s "$W/mem.log" ]; then echo; echo "memory-limit failures (first failure per runtime and size: exit status of the runtime, 124 = timed out; first 300 chars of stderr):"; awk '!seen[$1" "$2]++' "$W/mem.log" | sed 's/^/  /'; fi

if [ "$WRITE" = 1 ]; then
  out=$REPO/bench/RESULTS.md
  {
    cat <<EOF
# berth-runtime vs crun vs runc: start-up time, memory

Generated by \`bench/runtime.sh --write\` on $DATE. Re-run it to refresh; nothing in the
test suite asserts these numbers. Where berth-runtime's time and memory go, and what to fix,
is in [NOTES.md](NOTES.md) (hand-written, from strace and /proc on the same machine).

## Machine

- $CORES cores, $CPU, shared with other sessions' builds and VM tests while measuring: run times
  vary by 30–50 % (see the sd column), so treat differences under ~20 % as noise and prefer
  the interleaved create/start/delete rounds, which load hits evenly, over the hyperfine
  table, whose commands run one after another
- kernel \`$KERNEL\`, $CGMODE
- $VERS
- load average (1/5/15 min) before the run: $LOAD_BEFORE; after: $LOAD_AFTER

## Method

- **Bundle** (one, used by every runtime): rootfs = \`/bin/busybox\` (busybox-static) plus a
  symlink per applet; \`config.json\` from \`runc spec\` with \`terminal: false\`,
  \`args: ["/bin/true"]\`, \`root.readonly: true\` and \`linux.cgroupsPath\` set to a
  throw-away \`/berth-bench-<pid>/c\`, so that all three runtimes use the same cgroup path
  (cgroupfs driver) and nothing of anyone else's is touched. Each runtime has its own \`--root\`.
- **run**: \`hyperfine -N --warmup 5 --runs $RUNS\`, each command a tiny bash script that
  \`exec\`s \`<rt> --root R run --bundle B <unique id>\` (foreground \`run\` waits for
  /bin/true and deletes the container). The script's own cost is the "bench script alone" row
  and is in every runtime's number alike.
- **create / start / delete**: a bash loop of $ITERS rounds; each round does one
  create/start/delete cycle per runtime and one call of the crun wrapper alone, so load from
  elsewhere on the machine falls on all of them alike. Each call is timed with
  \`\$EPOCHREALTIME\` (no extra fork), so the numbers include bash's fork+exec of the runtime.
  After \`start\` the loop polls \`state\` until \`stopped\` (not timed), then times
  \`delete\` of the stopped container.
- **peak RSS**: \`/usr/bin/time -f %M <rt> run ...\`, median of 5. That is the \`ru_maxrss\`
  that \`wait4\` returns: the largest RSS of the runtime process **or any descendant it (or
  they) waited for**, not a sum. berth-runtime and runc fork intermediate/init children
  (runc re-executes its own binary as \`runc init\`), and the container's init keeps its
  pre-exec peak across \`execve\`, so the figure is the peak of the biggest single process in
  that tree, typically the runtime binary itself or its init child before it execs
  /bin/true. crun is timed inside the wrapper's namespace, so the wrapper does not count.
- **container cgroup peak charge**: \`memory.max_usage_in_bytes\` of the container's memory
  cgroup (no limit set) read after /bin/true has exited, median over the create/start/delete
  iterations: what the runtime's init side costs inside the container's cgroup before and
  including the exec of /bin/true. This is what a memory limit has to fit.
- **smallest memory limit**: \`linux.resources.memory.limit\` = \`swap\` (= no swap) set to
  each of ${SIZES[*]}, $MEM_TRIES runs per size; a size counts if all $MEM_TRIES \`run\`s of
  /bin/true exit 0 within 20 s (near the edge a run can fail or pass by chance). Everything
  the container's init does after it joins the cgroup (including the runtime's own code
  running in that process before \`execve\`) is charged to the limit, kernel memory included.

### The crun caveat

crun $("$CRUN" --version | awk 'NR==1{print $3}') refuses this cgroup v1 hybrid host: it sees a
non-empty \`$UNIFIED_CTRL\` and takes the host for cgroup v2. It is therefore always run as

    unshare -m sh -c 'mount --bind /dev/null $UNIFIED_CTRL && exec crun "\$@"' sh "\$@"

i.e. in a private mount namespace in which that file reads empty, so crun uses the v1
controllers like the others. The wrapper costs about $WRAP_MS ms per call under hyperfine
(wrapper running /bin/true minus the bench script running /bin/true) and $PH_WRAP ms per
call in the phase loop; crun's times are shown raw and minus that, and the ratios
("ratio to crun") use the adjusted figure unless marked raw.

## Results

EOF
    table
    echo
    echo "## Targets"
    echo
    targets
    if [ -s "$W/mem.log" ]; then
      echo
      echo "Memory-limit failures (the first per runtime and size: exit status of the runtime, 124 = timed out; first 300 characters of stderr):"
      echo
      awk '!seen[$1" "$2]++' "$W/mem.log" | sed 's/^/    /' 
    fi
  } >"$out"
  log "wrote $out"
fi
