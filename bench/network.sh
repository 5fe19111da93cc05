#!/usr/bin/env bash
# bench/network.sh — what a bridge network costs: the time it adds to `run --rm IMG true`
# over `--network none`, and TCP throughput (iperf3) container -> container on one
# network, host -> the container's bridge address, and host -> a published port
# (127.0.0.1:PORT, DNAT), for berth, podman (CNI bridge, runc) and docker (dockerd from
# Debian, started here with its own data root), all on one busybox image that also
# carries iperf3 and its libraries.
#
#   bench/network.sh                 measure and print the tables
#   bench/network.sh --write         ... and put them in bench/RESULTS.md ("Network" section)
#   bench/network.sh --runs N        interleaved rounds of the run --rm commands (default 30)
#   bench/network.sh --time S        seconds per iperf3 measurement (default 5)
#   bench/network.sh --reps N        iperf3 rounds, interleaved over engines (default 5; medians)
#   bench/network.sh --no-docker     leave docker out
#   bench/network.sh --no-build      use the static release build as it is
#
# Needs root, podman, docker.io, runc, jq, iperf3, busybox-static, nftables,
# iptables. Everything runs in a network namespace of the bench's own (`ip netns add`,
# entered with `nsenter --net`), so every bridge, veth, address and firewall rule that
# berth, podman's CNI plugins and dockerd make lives there and goes with it; the host's
# firewall is never touched, and all traffic stays on loopback and the bench's bridges.
# Stores, daemons, containers and cgroups (/berth-bench-net-<pid>) are removed on exit.
# Run --rm times are medians of rounds that run `none` and `bridge` back to back per
# engine; throughput rounds go over every engine and path in turn (5 by default) and the
# published/bridge ratio is the median of each round's own ratio, so load from elsewhere
# on the machine (2 shared cores here) falls on both sides of every comparison alike.
# No test asserts a number: this only measures.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
ARGS=("$@")

WRITE=0 RUNS=30 SECS=5 REPS=5 DOCKER_ON=1 BUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --runs) RUNS=$2; shift ;;
    --time) SECS=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --no-docker) DOCKER_ON=0 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "network.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "network.sh: run as root" >&2; exit 2; }
log() { printf '>> %s\n' "$*" >&2; }

# --- a network namespace of our own ---------------------------------------------------
if [ -z "${BERTH_BENCH_NETNS:-}" ]; then
  for t in podman runc jq iperf3 nft iptables nsenter; do
    command -v $t >/dev/null || { echo "network.sh: $t missing (apt-get install podman docker.io runc jq iperf3 nftables iptables)" >&2; exit 1; }
  done
  if [ "$BUILD" = 1 ]; then
    log "scripts/build-static.sh"
    "$REPO/scripts/build-static.sh" -q >&2
  fi
  NS=bnb$$
  ip netns add "$NS"
  trap 'ip netns del "$NS"' EXIT
  ip -n "$NS" link set lo up
  rc=0
  BERTH_BENCH_NETNS=$NS nsenter --net="/run/netns/$NS" "$0" "${ARGS[@]}" --no-build || rc=$?
  exit $rc
fi

LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
DOCKER=/usr/bin/docker; [ -x $DOCKER ] || DOCKER=$(command -v docker || true)
[ -n "$DOCKER" ] && command -v dockerd >/dev/null || DOCKER_ON=0
REL=$REPO/target/x86_64-unknown-linux-gnu/release
BERTH=$REL/berth
IMG=bench/netbox:latest

W=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
CG=/berth-bench-net-$$
PNET=benchpnet$$
export BERTH_ROOT=$W/root BERTH_STATE=$W/run BERTH_CGROUP_PARENT=$CG \
  BERTH_NFT_TABLE=berth_bench BERTH_DEFAULT_BRIDGE=bbench0
P=(podman --root "$W/podman" --runroot "$W/podman-run" --storage-driver overlay
   --events-backend file --cgroup-manager cgroupfs --runtime runc
   --network-config-dir "$W/cni")
PRUN=(run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
D=($DOCKER -H "unix://$W/docker.sock")
DOCKERD_PID=
cleanup() {
  set +e
  log "cleaning up"
  $BERTH ps -aq --no-trunc 2>/dev/null | xargs -r -n 50 $BERTH rm -f >/dev/null 2>&1
  $BERTH network rm bnet >/dev/null 2>&1
  "${P[@]}" rm -af >/dev/null 2>&1
  "${P[@]}" network rm -f "$PNET" >/dev/null 2>&1
  rm -rf "/var/lib/cni/networks/$PNET"
  if [ -n "$DOCKERD_PID" ]; then
    "${D[@]}" rm -f $("${D[@]}" ps -aq) >/dev/null 2>&1
    "${D[@]}" network rm dnet >/dev/null 2>&1
    kill "$DOCKERD_PID"; wait "$DOCKERD_PID" 2>/dev/null
  fi
  for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    [ -d "$h$CG" ] && find "$h$CG" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  grep -o " $W[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- one image for everyone: busybox, iperf3 and its libraries ---------------------------
log "busybox + iperf3 image"
R=$W/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$R/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"; echo 'root:x:0:' >"$R/etc/group"
for f in "$(command -v iperf3)" $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do
  mkdir -p "$R$(dirname "$f")" && cp -L "$f" "$R$f"
done
chmod 1777 "$R/tmp"  # iperf3 keeps its buffers in a temp file
tar -C "$R" -cf "$W/img.tar" .
$BERTH import --change 'CMD ["sh"]' "$W/img.tar" $IMG >/dev/null
$BERTH save -o "$W/img-archive.tar" $IMG
"${P[@]}" load -q -i "$W/img-archive.tar" >/dev/null

log "networks: berth 10.237.0.0/24, podman 10.238.0.0/24, docker 10.239.0.0/24"
$BERTH network create -o com.docker.network.bridge.name=bbnet --subnet 10.237.0.0/24 bnet >/dev/null
"${P[@]}" network create --subnet 10.238.0.0/24 "$PNET" >/dev/null
if [ "$DOCKER_ON" = 1 ]; then
  log "dockerd (in the bench's namespace, iptables on: its rules live there)"
  echo "{\"deprecated-key-path\": \"$W/key.json\"}" >"$W/daemon.json"
  dockerd --config-file "$W/daemon.json" --data-root "$W/docker" --exec-root "$W/docker-exec" \
    -H "unix://$W/docker.sock" --pidfile "$W/docker.pid" --bridge=none --iptables=true \
    --ip6tables=false --userland-proxy=false --storage-driver=overlay2 \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$CG/docker" >"$W/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 100); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${D[@]}" load -q -i "$W/img-archive.tar" >/dev/null
  "${D[@]}" network create --subnet 10.239.0.0/24 dnet >/dev/null
fi

# --- run --rm: none against a bridge network ------------------------------------------------
# Per engine, rounds of `none` then `bridge` back to back (timed with $EPOCHREALTIME), so
# load from elsewhere on the machine falls on both alike; medians are reported. berth's
# name responder stays up between rounds (it leaves a network after 3 s without
# containers); the "after the responder left" row pays for starting it again.
engines=(berth podman)
declare -A CMD TIMES
CMD[berth-none]="$BERTH run --rm --network none $IMG true"
CMD[berth-bridge]="$BERTH run --rm --network bnet $IMG true"
CMD[podman-none]="${P[*]} ${PRUN[*]} --rm --network none $IMG true"
CMD[podman-bridge]="${P[*]} ${PRUN[*]} --rm --network $PNET $IMG true"
if [ "$DOCKER_ON" = 1 ]; then
  engines+=(docker)
  CMD[docker-none]="${D[*]} run --rm --network none $IMG true"
  CMD[docker-bridge]="${D[*]} run --rm --network dnet $IMG true"
fi
timed() { # NAME [KEY]: runs CMD[NAME], appends its ms to TIMES[KEY or NAME]
  local s e
  s=$EPOCHREALTIME
  ${CMD[$1]} >/dev/null
  e=$EPOCHREALTIME
  TIMES[${2:-$1}]="${TIMES[${2:-$1}]:-} $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", (e - s) * 1000 }')"
}
for en in "${engines[@]}"; do
  log "$en run --rm true, --network none and bridge: $RUNS rounds (+2 warm-up)"
  for _ in 1 2; do ${CMD[$en-none]} >/dev/null; ${CMD[$en-bridge]} >/dev/null; done
  for r in $(seq "$RUNS"); do timed "$en-none"; timed "$en-bridge"; done
done
log "berth run --rm on the bridge network 5 times, 4 s apart (its responder has left)"
for r in 1 2 3 4 5; do sleep 4; timed berth-bridge berth-cold; done
# pairs A B: the per-round values of B - A (both lists in round order).
pairs() { paste <(tr ' ' '\n' <<<"${TIMES[$1]:-}" | grep .) <(tr ' ' '\n' <<<"${TIMES[$2]:-}" | grep .) |
  awk '{ printf " %.3f", $2 - $1 }'; }
# med LIST: the median of the numbers in LIST (empty when none).
med() { tr ' ' '\n' <<<"$1" | { grep -E '^-?[0-9.]+$' || true; } | sort -g |
  awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mean() { med "${TIMES[$1]:-}"; }
ms() { [ -n "$1" ] && printf '%.1f ms' "$1" || echo "n/a"; }
# added ENGINE: the median over rounds of (bridge - none) of one engine.
added() { local d; d=$(med "$(pairs "$1-none" "$1-bridge" 2>/dev/null || true)")
  [ -n "$d" ] && printf '%+.1f ms' "$d" || echo "n/a"; }

# --- iperf3 ---------------------------------------------------------------------------------
log "iperf3 servers (published on 127.0.0.1:5201 berth, :5202 podman, :5203 docker)"
$BERTH run -d --network bnet -p 127.0.0.1:5201:5201 --name bsrv $IMG iperf3 -s >/dev/null
B_IP=$($BERTH inspect -f '{{.NetworkSettings.IPAddress}}' bsrv)
$BERTH run -d --network bnet --name bcli $IMG sleep 100000 >/dev/null
"${P[@]}" "${PRUN[@]}" -d --network "$PNET" -p 127.0.0.1:5202:5201 --name psrv $IMG iperf3 -s >/dev/null
P_IP=$("${P[@]}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' psrv)
"${P[@]}" "${PRUN[@]}" -d --network "$PNET" --name pcli $IMG sleep 100000 >/dev/null
if [ "$DOCKER_ON" = 1 ]; then
  "${D[@]}" run -d --network dnet -p 127.0.0.1:5203:5201 --name dsrv $IMG iperf3 -s >/dev/null
  D_IP=$("${D[@]}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' dsrv)
  "${D[@]}" run -d --network dnet --name dcli $IMG sleep 100000 >/dev/null
fi
sleep 1

# gbps CMD...: iperf3's received Gbit/s of one -t $SECS run (empty on failure).
gbps() {
  local out
  out=$("$@" -t "$SECS" -J 2>/dev/null) || return 0
  jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$out" 2>/dev/null || true
}
declare -A RES
measure() { # engine path cmd...
  local k="$1 $2" v; shift 2
  v=$(gbps "$@")
  RES[$k]="${RES[$k]:-} ${v:-x}"
}
for r in $(seq "$REPS"); do
  log "iperf3 round $r of $REPS (${SECS}s each)"
  measure berth c2c $BERTH exec bcli iperf3 -c "$B_IP"
  measure berth bridge iperf3 -c "$B_IP"
  measure berth published iperf3 -c 127.0.0.1 -p 5201
  measure podman c2c "${P[@]}" exec pcli iperf3 -c "$P_IP"
  measure podman bridge iperf3 -c "$P_IP"
  measure podman published iperf3 -c 127.0.0.1 -p 5202
  if [ "$DOCKER_ON" = 1 ]; then
    measure docker c2c "${D[@]}" exec dcli iperf3 -c "$D_IP"
    measure docker bridge iperf3 -c "$D_IP"
    measure docker published iperf3 -c 127.0.0.1 -p 5203
  fi
done
median() { med "${RES[$1]:-}"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "n/a"; }
# pratio ENGINE: the median over rounds of published / bridge address, measured back to
# back in each round (so load from elsewhere hits both alike).
pratio() { local v
  v=$(med "$(paste <(tr ' ' '\n' <<<"${RES[$1 published]:-}" | grep .) <(tr ' ' '\n' <<<"${RES[$1 bridge]:-}" | grep .) |
    awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ && $2 > 0 { printf " %.4f", $1 / $2 }')")
  [ -n "$v" ] && echo "$v" || echo "n/a"; }
g() { local v; v=$(median "$1"); [ -n "$v" ] && echo "$v Gbit/s" || echo "n/a"; }
for e in berth podman docker; do
  for p in c2c bridge published; do eval "M_${e}_$p=\$(median '$e $p')"; done
done

# --- report ---------------------------------------------------------------------------------
T_BN=$(mean berth-none) T_BB=$(mean berth-bridge) T_PN=$(mean podman-none) T_PB=$(mean podman-bridge)
T_DN=$(mean docker-none) T_DB=$(mean docker-bridge)
DCOL() { [ "$DOCKER_ON" = 1 ] && echo " | $1" || echo " | (not run)"; }
table=$(cat <<EOF
| \`run --rm IMG true\`, median of $RUNS rounds | berth | podman (CNI, runc) | docker (runc) |
|---|---|---|---|
| \`--network none\` | $(ms "$T_BN") | $(ms "$T_PN")$(DCOL "$(ms "$T_DN")") |
| a user bridge network | $(ms "$T_BB") | $(ms "$T_PB")$(DCOL "$(ms "$T_DB")") |
| added by the bridge (median of the rounds' differences) | **$(added berth)** | $(added podman)$(DCOL "$(added docker)") |
| a user bridge network after its name responder left (5 runs, 4 s apart) | $(ms "$(mean berth-cold)") | | |

Target: the bridge adds ≤ 5 ms to \`berth run --rm\`.

| iperf3 TCP, median of $REPS × ${SECS}s | berth | podman | docker | berth/podman |
|---|---|---|---|---|
| container → container, one network | $(g "berth c2c") | $(g "podman c2c")$(DCOL "$(g "docker c2c")") | $(ratio "$M_berth_c2c" "$M_podman_c2c") |
| host → container's bridge address | $(g "berth bridge") | $(g "podman bridge")$(DCOL "$(g "docker bridge")") | $(ratio "$M_berth_bridge" "$M_podman_bridge") |
| host → 127.0.0.1:published port (DNAT) | $(g "berth published") | $(g "podman published")$(DCOL "$(g "docker published")") | $(ratio "$M_berth_published" "$M_podman_published") |
| published / bridge address (median of the rounds' ratios) | **$(pratio berth)** | $(pratio podman)$(DCOL "$(pratio docker)") | |

Target: published ≥ 0.95 of the bridge address for berth.
EOF
)
echo
echo "$table"
if [ "$WRITE" = 1 ]; then
  RES_MD=$REPO/bench/RESULTS.md
  section=$(printf '## Network\n\n`bench/network.sh --write` on %s (%s, %s CPUs shared with other work; load before: %s; tree at %s, %s), in a network namespace of its own; %s rounds of run --rm.\n\n%s\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -r)" "$(nproc)" "$LOAD0" \
    "$(git -C "$REPO" rev-parse --short HEAD)" "$(podman --version)" "$RUNS" "$table")
  python3 - "$RES_MD" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2].rstrip() + "\n"
text = open(path).read()
m = re.search(r"^## Network\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + section + ("\n" if text[m.end():] else "") + text[m.end():] if m else text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
  log "wrote the Network section of $RES_MD"
fi
