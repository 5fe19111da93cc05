#!/usr/bin/env bash
# bench/seccomp.sh — what the built-in seccomp profile costs at start, with berth-runtime's
# compiled-program cache hit, with it cold, and the same bundle through runc (which
# compiles with libseccomp on every start) as the anchor.
#
#   bench/seccomp.sh              measure (hyperfine, 60 runs each)
#   bench/seccomp.sh --runs N
#
# The profile is the OCI `linux.seccomp` berth writes for a default container (read from
# the bundle of a container berth creates and starts here). Needs root, runc, hyperfine,
# jq, busybox-static and the static release build (scripts/build-static.sh). Everything
# it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=60
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "seccomp.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "seccomp.sh: run as root" >&2; exit 2; }
REL=$(pwd)/target/x86_64-unknown-linux-gnu/release
RT=$REL/berth-runtime BERTH=$REL/berth RUNC=$(command -v runc)
for b in "$RT" "$BERTH"; do
  [ -x "$b" ] || { echo "seccomp.sh: $b missing: run scripts/build-static.sh" >&2; exit 1; }
done

W=$(mktemp -d /tmp/berth-seccomp-bench.XXXXXX)
export BERTH_ROOT=$W/store BERTH_STATE=$W/state BERTH_CGROUP_PARENT=/berth-seccomp-bench-$$
cleanup() {
  set +e
  for id in $("$BERTH" ps -aq 2>/dev/null); do "$BERTH" rm -f "$id" >/dev/null 2>&1; done
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h${BERTH_CGROUP_PARENT#/}" ] && find "$h${BERTH_CGROUP_PARENT#/}" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/rootfs/bin"
cp /bin/busybox "$W/rootfs/bin/busybox"
ln -s busybox "$W/rootfs/bin/true"
tar -C "$W/rootfs" -c . | "$BERTH" import - bb >/dev/null
id=$("$BERTH" create bb true)
"$BERTH" start -a "$id"
jq '.linux.seccomp' "$BERTH_ROOT/containers/$id/bundle/config.json" >"$W/seccomp.json"
"$BERTH" rm "$id" >/dev/null

mkdir -p "$W/plain" "$W/builtin"
(cd "$W/plain" && "$RT" spec)
jq --arg r "$W/rootfs" '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = $r' \
  "$W/plain/config.json" >"$W/plain/c.json" && mv "$W/plain/c.json" "$W/plain/config.json"
jq --slurpfile s "$W/seccomp.json" '.linux.seccomp = $s[0]' "$W/plain/config.json" >"$W/builtin/config.json"
echo "profile: $(jq '.syscalls | length' "$W/seccomp.json") rules, sha256 $(ls "$BERTH_STATE/runtime/@seccomp")"

hyperfine -N --warmup 5 --runs "$RUNS" \
  --prepare true --prepare true --prepare "rm -rf $W/rt/@seccomp" --prepare true --prepare true \
  -n "berth-runtime, no seccomp" "$RT --root $W/rt run -b $W/plain a" \
  -n "berth-runtime, builtin profile, cache hit" "$RT --root $W/rt run -b $W/builtin b" \
  -n "berth-runtime, builtin profile, cold cache" "$RT --root $W/rt run -b $W/builtin c" \
  -n "runc, no seccomp" "$RUNC --root $W/runc run -b $W/plain d" \
  -n "runc, builtin profile" "$RUNC --root $W/runc run -b $W/builtin e"
