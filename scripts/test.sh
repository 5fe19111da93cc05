#!/usr/bin/env bash
# The test command: installs what the tests need, builds the static in-container
# checker, runs every unit and integration test of the workspace, then the cgroup v2
# suite inside a QEMU VM, and prints one summary.
#
#   ./scripts/test.sh              everything
#   ./scripts/test.sh --no-vm      skip the VM suite
#   ./scripts/test.sh --vm-only    only the VM suite
#   BERTH_TEST_RUNTIME=runc ./scripts/test.sh --no-vm
#                                  the black-box suite against runc instead of berth-runtime
#   extra args after `--` go to `cargo test` (e.g. `-- -p berth-runtime-cli --test mounts`)
#
# Runs as root (the integration tests make namespaces, cgroups and mounts). Every stage
# runs even if an earlier one failed; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

run_cargo=1 run_vm=1
cargo_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-vm) run_vm=0 ;;
    --vm-only) run_cargo=0 ;;
    --) shift; cargo_args=("$@"); break ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the tests create namespaces and cgroups)" >&2; exit 2; }

declare -a SUMMARY=()
FAILED=0
stage() { # stage NAME CMD... : run, time, record
  local name=$1; shift
  local t0=$SECONDS
  echo
  echo "=== $name"
  "$@"
  local rc=$?
  local dt=$((SECONDS - t0))
  if [ $rc = 0 ]; then SUMMARY+=("ok    $name (${dt}s)"); else SUMMARY+=("FAIL  $name (${dt}s, exit $rc)"); FAILED=1; fi
  return $rc
}

# --- packages -------------------------------------------------------------------
PKGS=(busybox-static runc crun libseccomp-dev pkg-config jq hyperfine qemu-system-x86
      iproute2 procps xz-utils cpio util-linux skopeo umoci docker-registry apache2-utils linux-libc-dev
      nftables libcap2-bin)
install_packages() {
  local missing
  missing=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null |
            awk '$2 != "installed" {print $1}')
  # dpkg-query prints nothing for packages it has never heard of
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"
  done
  missing=$(echo "$missing" | tr ' ' '\n' | sort -u | xargs)
  if [ -z "$missing" ]; then echo "all packages present"; return 0; fi
  echo "installing: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y --no-install-recommends $missing
  }
}
stage "packages" install_packages || { printf '%s\n' "${SUMMARY[@]}"; exit 1; }
# Podman, containerd and dockerd drive berth-runtime in tests/clients.
stage "client packages" "$ROOT/scripts/clients/install.sh" || { printf '%s\n' "${SUMMARY[@]}"; exit 1; }

# --- static checker -------------------------------------------------------------------
build_checker() {
  "$ROOT/scripts/build-static.sh" -p berth-check -p berth-init -p berth-monitor
}

# Summarise `cargo test` output: totals of the "test result:" lines.
count_tests() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1);
       if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) g += $(i-1) } }
       END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$1"
}

if [ $run_cargo = 1 ]; then
  stage "build static berth-check, berth-init, berth-monitor" build_checker
  log=$(mktemp)
  export BERTH_CHECK="$ROOT/target/x86_64-unknown-linux-gnu/release/berth-check"
  export BERTH_INIT="$ROOT/target/x86_64-unknown-linux-gnu/release/berth-init"
  # The relay every container's monitor execs into (tests run the debug `berth`, which has
  # no berth-monitor beside it).
  export BERTH_MONITOR="$ROOT/target/x86_64-unknown-linux-gnu/release/berth-monitor"
  echo "runtime under test: ${BERTH_TEST_RUNTIME:-berth-runtime}; differential tests compare it with runc and crun"
  echo "note: crun runs under \`unshare -m\` with /sys/fs/cgroup/unified/cgroup.controllers bind-mounted"
  echo "      from /dev/null in that private mount namespace (crun refuses this hybrid cgroup host otherwise)"
  stage "cargo test --workspace" bash -c 'cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$0"; exit ${PIPESTATUS[0]}' "$log" "${cargo_args[@]}"
  SUMMARY+=("      tests: $(count_tests "$log")")
  failed_tests=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed 's/^test /      FAILED: /; s/ \.\.\. FAILED$//')
  [ -n "$failed_tests" ] && SUMMARY+=("$failed_tests")
  rm -f "$log"
fi

if [ $run_vm = 1 ]; then
  stage "cgroup v2 VM suite (tests/vm/run.sh)" "$ROOT/tests/vm/run.sh"
fi

echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
if [ $FAILED = 0 ]; then echo "ALL OK"; else echo "SOME STAGES FAILED"; fi
exit $FAILED
