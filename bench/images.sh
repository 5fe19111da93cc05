#!/usr/bin/env bash
# bench/images.sh — pull + unpack of a 5-layer image (made here, a few hundred MB) from a
# Debian docker-registry on loopback: berth vs podman vs skopeo; berth's unpack vs tar -x
# of the same layers; disk used by 50 snapshots of one image.
#
#   bench/images.sh              measure and print the table
#   bench/images.sh --write      ... and put it in bench/RESULTS.md as the "Images" section
#   bench/images.sh --runs N     hyperfine runs per command (default 5)
#   bench/images.sh --mb N       MB of data per layer (default 60)
#   bench/images.sh --no-build   use target/release/berth as it is
#
# What is timed: `berth pull` into a fresh --root (pull unpacks the layers into the
# snapshotter, as Docker does); `podman pull` into a fresh --root/--runroot with the overlay
# driver (it also unpacks); `skopeo copy` to an OCI layout (no unpack: a floor for the
# transfer alone). "unpack" is `berth pull` again with every blob already in the store and
# no layer unpacked (so it fetches one manifest and unpacks), against `tar -xzf` of the five
# layer blobs one after another. Needs root, podman, skopeo, docker-registry, hyperfine, jq.
# Everything it makes lives in one temp dir and the registry it starts; both go on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

WRITE=0 RUNS=5 MB=60 BUILD=1 LAYERS=5
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --runs) RUNS=$2; shift ;;
    --mb) MB=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "images.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "images.sh: run as root" >&2; exit 2; }
log() { printf '>> %s\n' "$*" >&2; }

need=()
for t in podman skopeo docker-registry hyperfine jq; do
  command -v "$t" >/dev/null || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

BERTH=${CARGO_TARGET_DIR:-$REPO/target}/release/berth
if [ "$BUILD" = 1 ]; then
  log "cargo build --release -p berth-cli"
  cargo build -q --release -p berth-cli >&2
fi
[ -x "$BERTH" ] || { echo "images.sh: $BERTH missing" >&2; exit 1; }

W=$(mktemp -d /tmp/berth-images-bench.XXXXXX)
REG_PID=
cleanup() {
  set +e
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
  if [ -d "$W/snaproot" ]; then
    for i in $(seq 1 50); do "$BERTH" --root "$W/snaproot" rootfs --rm "c$i" 2>/dev/null; done
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the registry ------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/reg"
cat >"$W/reg/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/reg/data
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$W/reg/config.yml" >"$W/reg/log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
NAME=localhost:$PORT/bench/layers:1

# --- the image: 5 layers, each half random, half compressible text -------------------
log "making a $LAYERS-layer image, $MB MB per layer"
L=$W/layout
mkdir -p "$L/blobs/sha256"
diff_ids=() layer_descs=()
for i in $(seq 1 $LAYERS); do
  d=$W/src/l$i
  mkdir -p "$d/data$i"
  # Each pair of files is about 1 MB: 512 KiB random, 512 KiB of base64 text.
  for f in $(seq 1 "$MB"); do
    head -c 524288 /dev/urandom >"$d/data$i/r$f"
    head -c 393216 /dev/urandom | base64 -w 100 >"$d/data$i/t$f"
  done
  [ "$i" = 1 ] && mkdir -p "$d/bin" && cp /bin/busybox "$d/bin/busybox"
  tar -C "$d" --numeric-owner --owner=0 --group=0 -cf "$W/l$i.tar" .
  diff_ids+=("sha256:$(sha256sum "$W/l$i.tar" | cut -c1-64)")
  gzip -1 -c "$W/l$i.tar" >"$W/l$i.tar.gz"
  dg=$(sha256sum "$W/l$i.tar.gz" | cut -c1-64)
  cp "$W/l$i.tar.gz" "$L/blobs/sha256/$dg"
  layer_descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$(stat -c %s "$W/l$i.tar.gz")}")
done
rm -rf "$W/src"
config=$(jq -cn --args '{architecture:"amd64",os:"linux",config:{Cmd:["sh"]},rootfs:{type:"layers",diff_ids:$ARGS.positional}}' "${diff_ids[@]}")
printf '%s' "$config" >"$W/config.json"
cd_=$(sha256sum "$W/config.json" | cut -c1-64)
cp "$W/config.json" "$L/blobs/sha256/$cd_"
layers_json=$(printf '%s\n' "${layer_descs[@]}" | jq -cs .)
manifest=$(jq -cn --argjson layers "$layers_json" --arg cd "sha256:$cd_" --argjson cs "$(stat -c %s "$W/config.json")" \
  '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$cd,size:$cs},layers:$layers}')
printf '%s' "$manifest" >"$W/manifest.json"
md=$(sha256sum "$W/manifest.json" | cut -c1-64)
cp "$W/manifest.json" "$L/blobs/sha256/$md"
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
jq -cn --arg md "sha256:$md" --argjson ms "$(stat -c %s "$W/manifest.json")" \
  '{schemaVersion:2,manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$md,size:$ms,annotations:{"org.opencontainers.image.ref.name":"1"}}]}' >"$L/index.json"
skopeo copy -q --dest-tls-verify=false "oci:$L:1" "docker://$NAME" >&2
COMPRESSED=$(du -cb "$W"/l*.tar.gz | tail -1 | cut -f1)
UNCOMPRESSED=$(du -cb "$W"/l?.tar | tail -1 | cut -f1)
log "image: $((COMPRESSED / 1000000)) MB compressed, $((UNCOMPRESSED / 1000000)) MB of tar"

# --- 1. pull -------------------------------------------------------------------------
P=(podman --root "$W/podman" --runroot "$W/podman-run" --storage-driver overlay --events-backend file)
cat >"$W/clean-podman" <<SH
#!/bin/sh
${P[*]} rmi -a -f >/dev/null 2>&1; rm -rf $W/podman $W/podman-run
SH
chmod +x "$W/clean-podman"
log "hyperfine: pull, $RUNS runs each"
hyperfine --runs "$RUNS" --export-json "$W/pull.json" --style basic \
  -n berth --prepare "rm -rf $W/berth" "$BERTH --root $W/berth pull -q $NAME" \
  -n podman --prepare "$W/clean-podman" "${P[*]} pull -q --tls-verify=false $NAME" \
  -n skopeo --prepare "rm -rf $W/oci" "skopeo copy -q --src-tls-verify=false docker://$NAME oci:$W/oci:1" >&2
"$W/clean-podman"

# --- 2. unpack -----------------------------------------------------------------------
"$BERTH" --root "$W/blobs-only" pull -q "$NAME" >/dev/null
rm -rf "$W/blobs-only/overlay"
log "hyperfine: unpack, $RUNS runs each"
hyperfine --runs "$RUNS" --export-json "$W/unpack.json" --style basic \
  -n berth --prepare "rm -rf $W/up; cp -a $W/blobs-only $W/up" "$BERTH --root $W/up pull -q $NAME" \
  -n tar --prepare "rm -rf $W/tarx; mkdir $W/tarx" \
  "sh -c 'for i in \$(seq 1 $LAYERS); do tar -xzf $W/l\$i.tar.gz -C $W/tarx; done'" >&2
rm -rf "$W/up" "$W/tarx"

# --- 3. 50 snapshots -----------------------------------------------------------------
S=$W/snaproot
"$BERTH" --root "$S" pull -q "$NAME" >/dev/null
before=$(du -sb "$S" | cut -f1)
t0=$(date +%s.%N)
for i in $(seq 1 50); do "$BERTH" --root "$S" rootfs "c$i" "$NAME" >/dev/null; done
t1=$(date +%s.%N)
after=$(du -sb "$S" | cut -f1)
SNAP_GROWTH=$((after - before))
SNAP_MS=$(echo "($t1 - $t0) * 1000 / 50" | bc -l)

# --- the table -----------------------------------------------------------------------
mean() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .mean' "$W/$1.json"; }
sd() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .stddev' "$W/$1.json"; }
row() { printf '| %s | %.2f ± %.2f s | %s |\n' "$1" "$2" "$3" "$4"; }
pb=$(mean pull berth) pp=$(mean pull podman) ps=$(mean pull skopeo)
ub=$(mean unpack berth) ut=$(mean unpack tar)
ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
mbs() { echo "scale=0; $UNCOMPRESSED / $1 / 1000000" | bc -l; }
TABLE=$(
  echo "| what | time (mean ± sd, $RUNS runs) | ratio |"
  echo "|---|---|---|"
  row "berth pull (+ unpack)" "$pb" "$(sd pull berth)" "1.00"
  row "podman pull (overlay, + unpack)" "$pp" "$(sd pull podman)" "berth/podman = $(ratio "$pb" "$pp")"
  row "skopeo copy to OCI layout (no unpack)" "$ps" "$(sd pull skopeo)" "berth/skopeo = $(ratio "$pb" "$ps")"
  row "berth unpack (blobs present)" "$ub" "$(sd unpack berth)" "$(mbs "$ub") MB/s of tar"
  row "tar -xzf, layer after layer" "$ut" "$(sd unpack tar)" "berth/tar = $(ratio "$ub" "$ut")"
  echo
  echo "50 snapshots of the image: the store grew by $((SNAP_GROWTH / 1024)) KiB in all" \
    "($((SNAP_GROWTH / 50)) bytes each; the unpacked layers are $((UNCOMPRESSED / 1000000)) MB, shared)," \
    "$(printf '%.0f' "$SNAP_MS") ms per \`berth rootfs\` (a process each)."
)
echo "$TABLE"

if [ "$WRITE" = 1 ]; then
  R=$REPO/bench/RESULTS.md
  section=$(
    echo "## Images"
    echo
    echo "Generated by \`bench/images.sh --write\` on $(date -u '+%Y-%m-%d %H:%M UTC') (tree at $(git rev-parse --short HEAD)," \
      "$(podman --version), $(skopeo --version), $(nproc) cores shared with other work; load before: $(cut -d' ' -f1-3 /proc/loadavg))."
    echo "Image: $LAYERS layers, $((UNCOMPRESSED / 1000000)) MB of tar, $((COMPRESSED / 1000000)) MB gzip-compressed" \
      "(half random, half base64 text), served by Debian's docker-registry on 127.0.0.1. See the script's head for what each row includes."
    echo
    echo "$TABLE"
  )
  python3 - "$R" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2].rstrip() + "\n"
text = open(path).read()
m = re.search(r"^## Images\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + section + ("\n" if text[m.end():] else "") + text[m.end():] if m else text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
  log "wrote the Images section of $R"
fi
