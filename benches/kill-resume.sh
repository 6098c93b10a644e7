#!/usr/bin/env bash
# benches/kill-resume.sh: what a `kill -9` mid-file costs fetchpool in bytes served (issue 14:
# kill + rerun <= file size + 10 %), on a loopback nginx that paces each TCP connection.
#
#   benches/kill-resume.sh [SECONDS ...]   (default: 0.3 0.6 1.0 2.0 2.5)
#
# For each SECONDS: `fetchpool get -j JOBS` of one SIZE file from the paced nginx into a fresh
# dir, `kill -9` after SECONDS, the same command again to the end; then the bytes nginx sent
# for each run (`$body_bytes_sent` summed from its access log), their sum over the file size,
# and a sha256 check of the result. A time, not a byte count, picks the moment: this is a
# benchmark, not a test (tests/it/segments.rs has the bounded, counted version).
#
# Environment: FETCHPOOL (default target/release/fetchpool), JOBS (16), PACE (bytes/s per
# connection, default 33554432 = 32 MiB/s), SIZE (bytes, default 268435456), RUNS (repeats
# of each SECONDS, default 1), BENCH_TMPDIR (parent of the scratch dir, default /tmp).
# Needs nginx, cc, curl, python3. Only 127.0.0.1 is contacted.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/nginx.sh
source "$REPO/benches/nginx.sh"
FETCHPOOL=${FETCHPOOL:-$REPO/target/release/fetchpool}
JOBS=${JOBS:-16}
PACE=${PACE:-33554432}
SIZE=${SIZE:-268435456}
RUNS=${RUNS:-1}
KILLS=("${@:-0.3 0.6 1.0 2.0 2.5}")
read -r -a KILLS <<<"${KILLS[*]}"
[[ -x $FETCHPOOL ]] || { echo "kill-resume.sh: no $FETCHPOOL (cargo build --release)" >&2; exit 2; }

W=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/fetchpool-kill.XXXXXXXX")
chmod 755 "$W"
cleanup() {
  [[ -s $W/nginx.pid ]] && kill "$(<"$W/nginx.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/www" "$W/tmp"
head -c "$SIZE" /dev/urandom >"$W/www/big.bin"
want=$(sha256sum <"$W/www/big.bin" | cut -d' ' -f1)

# The pacing shim of compare.sh: SO_MAX_PACING_RATE on every accepted socket.
pace_shim "$W"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# compare.sh's nginx, with nginx's count of body bytes sent logged for every request.
nginx_conf "$W" "$port" "$W/www" "log_format sent '\$body_bytes_sent'; access_log $W/access.log sent;"
PACE_BYTES_PER_SEC=$PACE LD_PRELOAD=$W/pace.so nginx -p "$W" -e "$W/error.log" -c "$W/nginx.conf"
url=http://127.0.0.1:$port/big.bin
for _ in $(seq 50); do curl -sf -r 0-0 -o /dev/null "$url" && break; sleep 0.1; done

# Bytes nginx sent since the log was last emptied (it logs a request when it ends).
sent() { sleep 0.3; awk '{s += $1} END {print s + 0}' "$W/access.log"; }

echo "| kill after s | first run MB | rerun MB | sum MB | over the file | file |"
echo "|---:|---:|---:|---:|---:|---|"
for k in "${KILLS[@]}"; do
  for _ in $(seq "$RUNS"); do
    out=$W/out
    rm -rf "$out"
    : >"$W/access.log"
    "$FETCHPOOL" get -q -j "$JOBS" -d "$out" "$url" &
    pid=$!
    sleep "$k"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    first=$(sent)
    : >"$W/access.log"
    "$FETCHPOOL" get -q -j "$JOBS" -d "$out" "$url"
    rerun=$(sent)
    got=$(sha256sum <"$out/big.bin" | cut -d' ' -f1)
    ok=$([[ $got == "$want" ]] && echo "sha256 ok" || echo "MISMATCH")
    awk -v k="$k" -v a="$first" -v b="$rerun" -v n="$SIZE" -v ok="$ok" 'BEGIN {
      printf "| %s | %.1f | %.1f | %.1f | %+.1f %% | %s |\n", k, a / 1e6, b / 1e6, (a + b) / 1e6, ((a + b) / n - 1) * 100, ok }'
  done
done
