#!/usr/bin/env bash
# benches/signed.sh: what a signed manifest by URL costs. `get -c URL --signed-by KEY` (the
# manifest and its minisign signature fetched from the server, the signature checked, the
# release downloaded from the manifest's directory) against `get -c FILE` on the same tree
# (the manifest on disk: with --base-url, the same plan; with -i urls.txt, compare.sh's
# dlverify row), on a loopback nginx set up as compare.sh sets it up (unthrottled).
#
#   benches/signed.sh            W_mid: 200 x 1 MiB (COUNT=N SIZE=BYTES for another tree)
#
# Environment: FETCHPOOL=PATH (default target/release/fetchpool), JOBS=N (-j, default 8),
# RUNS=N (default 15), WARMUP=N (default 2), INTERLEAVE=1 (default: RUNS rounds of
# `hyperfine -N --runs 1` over all commands, so a burst of load on a shared machine hits
# each command alike; 0: one `hyperfine -N --runs RUNS`), KEEP=1 keeps the scratch dir.
# Needs nginx, hyperfine, minisign, python3. Only 127.0.0.1 is contacted. stdout gets a
# markdown table (mean ± σ, median, min, and each command's mean relative to the first).
set -euo pipefail
umask 022

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=benches/nginx.sh
source "$BENCH_DIR/nginx.sh"
FETCHPOOL=${FETCHPOOL:-$REPO/target/release/fetchpool}
COUNT=${COUNT:-200}
SIZE=${SIZE:-1048576}
JOBS=${JOBS:-8}
RUNS=${RUNS:-15}
WARMUP=${WARMUP:-2}
INTERLEAVE=${INTERLEAVE:-1}
KEEP=${KEEP:-0}

log() { printf 'signed.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
for cmd in nginx hyperfine minisign python3 sha256sum split; do
  command -v "$cmd" >/dev/null || die "$cmd is missing"
done
[[ -x $FETCHPOOL ]] || die "no fetchpool binary at $FETCHPOOL (cargo build --release)"

W=$(mktemp -d "${TMPDIR:-/tmp}/fetchpool-signed.XXXXXXXX")
chmod 755 "$W"
NGX=$W/nginx
cleanup() {
  local rc=$?
  if [[ -s $NGX/nginx.pid ]]; then kill "$(<"$NGX/nginx.pid")" 2>/dev/null || true; fi
  if [[ $KEEP == 1 ]]; then log "kept $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/www/mid" "$NGX/tmp" "$W/key" "$W/res"

# The tree, its manifest, and the manifest's minisign signature beside it.
T=$W/www/mid
log "fixtures: $COUNT x $SIZE bytes"
head -c $((COUNT * SIZE)) /dev/urandom | split -b "$SIZE" -a 5 -d --additional-suffix=.bin - "$T/f"
(cd "$T" && find . -maxdepth 1 -name 'f*.bin' -printf '%f\n' | sort | xargs sha256sum >SHA256SUMS)
minisign -G -W -p "$W/key/bench.pub" -s "$W/key/bench.key" >/dev/null
minisign -S -s "$W/key/bench.key" -m "$T/SHA256SUMS" -x "$T/SHA256SUMS.minisig" >/dev/null </dev/null
cp "$T/SHA256SUMS" "$W/SHA256SUMS"

# nginx as compare.sh's unthrottled one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nginx_conf "$NGX" "$port" "$W/www"
nginx -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf"
BASE=http://127.0.0.1:$port/mid
for _ in $(seq 50); do
  "$FETCHPOOL" get -q -d "$W/probe" "$BASE/SHA256SUMS" 2>/dev/null && break
  sleep 0.1
done
[[ -s $W/probe/SHA256SUMS ]] || die "nginx on $BASE does not answer"
awk -v b="$BASE/" '{print b $2}' "$W/SHA256SUMS" >"$W/urls.txt"

OUT=$W/out
FP=$FETCHPOOL
names=("get -c FILE --base-url" "get -c FILE -i urls.txt" "get -c URL --signed-by KEY")
cmds=(
  "$FP get -j $JOBS -q -c $W/SHA256SUMS --base-url $BASE/ -d $OUT"
  "$FP get -j $JOBS -q -c $W/SHA256SUMS -i $W/urls.txt -d $OUT"
  "$FP get -j $JOBS -q -c $BASE/SHA256SUMS --signed-by $W/key/bench.pub -d $OUT"
)
# Each command must download and verify the whole tree before it is timed.
for i in "${!cmds[@]}"; do
  rm -rf "$OUT"
  # shellcheck disable=SC2086
  ${cmds[$i]} || die "'${names[$i]}' failed"
  [[ $(find "$OUT" -type f | wc -l) == "$COUNT" ]] || die "'${names[$i]}' left the wrong files"
  (cd "$OUT" && sha256sum -c --quiet "$W/SHA256SUMS") || die "'${names[$i]}': wrong bytes"
done

hf=()
for i in "${!cmds[@]}"; do hf+=(-n "${names[$i]}" "${cmds[$i]}"); done
PREP="sh -c 'rm -rf $OUT && sync'"
log "load before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $INTERLEAVE == 1 ]]; then
  for ((k = 1; k <= RUNS; k++)); do
    hyperfine -N --runs 1 --warmup "$((k == 1 ? WARMUP : 0))" --style basic --prepare "$PREP" \
      --export-json "$W/res/round$k.json" "${hf[@]}" >&2
  done
else
  hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --style basic --prepare "$PREP" \
    --export-json "$W/res/round1.json" "${hf[@]}" >&2
fi
log "load after timing: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$W/res" "$COUNT" "$SIZE" "$RUNS" "$INTERLEAVE" <<'EOF'
import glob, json, statistics, sys
res, count, size, runs, interleave = sys.argv[1:]
times, cpu = {}, {}
for path in sorted(glob.glob(f"{res}/round*.json")):
    for r in json.load(open(path))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
        # hyperfine gives each command's mean user and system time.
        cpu.setdefault(r["command"], []).extend([r["user"] + r["system"]] * len(r["times"]))
how = f"{runs} interleaved rounds of hyperfine -N --runs 1" if interleave == "1" else f"hyperfine -N --runs {runs}"
print(f"W_mid-like tree: {count} x {size} bytes on a loopback nginx; {how}")
print()
print("| command | mean ± σ (s) | median (s) | min (s) | mean vs first | median vs first | CPU user+sys (s) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
first = None
for name, t in times.items():
    mean, median = statistics.mean(t), statistics.median(t)
    first = first or (mean, median)
    sd = statistics.stdev(t) if len(t) > 1 else 0.0
    print(f"| fetchpool {name} | {mean:.3f} ± {sd:.3f} | {median:.3f} | {min(t):.3f} "
          f"| {mean / first[0]:.3f} | {median / first[1]:.3f} | {statistics.mean(cpu[name]):.3f} |")
EOF
