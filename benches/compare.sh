#!/usr/bin/env bash
# benches/compare.sh: fetchpool against curl, aria2c and wget2 on a loopback nginx.
#
#   benches/compare.sh [small|mid|large|paced-one|paced-large|paced|all ...]  (default: small mid)
#
# small, mid and large run on an unthrottled nginx (loopback limits). paced-one (one 256 MiB
# file) and paced-large (4 x 256 MiB) run on a second nginx whose every accepted TCP
# connection the kernel paces at PACE (SO_MAX_PACING_RATE, set by an LD_PRELOAD shim around
# accept/accept4 that the script compiles): a far-away server or a CDN edge that caps each
# connection, not each request, so range requests on one connection cannot escape the cap
# (nginx's limit_rate is per request and lets the first second through at full speed).
# Before timing, the script shows that one connection stays at the cap. `paced` is both;
# `all` is every workload. `pace-check` only starts the paced server, shows the cap holds
# and exits (seconds, no timing).
#
# Environment:
#   FETCHPOOL=PATH   fetchpool binary (default target/release/fetchpool, built with
#                    `cargo build --release` if missing); FETCHPOOL=none skips fetchpool.
#   BASELINE=PATH    a second fetchpool binary (an older build) timed beside the first
#                    in the unthrottled download and download + verify sections, as
#                    "fetchpool (baseline)": before/after in one run (default: none)
#   RUNS=N           hyperfine --runs (default 5; 2 with QUICK=1)
#   WARMUP=N         hyperfine --warmup (default 1; 0 with QUICK=1)
#   QUICK=1          tiny trees (a smoke run of the whole script in well under a minute)
#   JOBS=N           parallelism given to every tool (default 8)
#   PACED_JOBS=N     parallelism on the paced workloads: fetchpool -j, aria2c -x/-s, curl
#                    --parallel-max, wget2 --max-threads (default 16)
#   PACE=RATE        the paced server's cap per TCP connection, bytes/s with an optional
#                    K/M suffix (binary; default 32M)
#   RESULTS_DIR=DIR  where the hyperfine JSON, time -v logs and summary go
#                    (default benches/results/<UTC timestamp>)
#   BENCH_TMPDIR=DIR parent of the scratch dir for trees and outputs (default $TMPDIR or /tmp)
#   SYNC=0           don't `sync` in hyperfine's --prepare (default 1: each timed run starts
#                    with no writeback of the previous run's files in flight)
#   KEEP=1           keep the scratch dir (default: removed on exit)
#   SECTIONS="..."   which of download, dlverify, verify to run (default all three)
#   INTERLEAVE=1     RUNS rounds of `hyperfine --runs 1` over all of a section's commands
#                    instead of one hyperfine with --runs RUNS: a burst of outside load on a
#                    shared machine then hits every tool, not all the runs of one
#   WAIT_IDLE=SECS   before each section, wait up to SECS for the machine to be idle (under
#                    25% CPU busy over 2 s); for shared machines (default 0: don't wait)
#
# stdout gets the markdown report (machine, versions, tables); hyperfine's own output and
# progress go to stderr. Only 127.0.0.1 is ever contacted.
set -euo pipefail
umask 022

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=benches/nginx.sh
source "$BENCH_DIR/nginx.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then RUNS=${RUNS:-2}; WARMUP=${WARMUP:-0}; fi
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
JOBS=${JOBS:-8}
SYNC=${SYNC:-1}
KEEP=${KEEP:-0}
FETCHPOOL=${FETCHPOOL:-$REPO/target/release/fetchpool}
BASELINE=${BASELINE:-}
RESULTS_DIR=${RESULTS_DIR:-$REPO/benches/results/$(date -u +%Y%m%dT%H%M%SZ)}
TOOL_TIMEOUT=${TOOL_TIMEOUT:-900}
WAIT_IDLE=${WAIT_IDLE:-0}
INTERLEAVE=${INTERLEAVE:-0}
SECTIONS=${SECTIONS:-download dlverify verify}

log() { printf 'compare.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- arguments
workloads=()
PACE_CHECK_ONLY=0
for arg in "${@:-small mid}"; do
  for w in $arg; do
    case $w in
      small | mid | large | paced-one | paced-large) workloads+=("$w") ;;
      paced) workloads+=(paced-one paced-large) ;;
      pace-check) PACE_CHECK_ONLY=1 ;;
      all) workloads+=(small mid large paced-one paced-large) ;;
      -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; exit 0 ;;
      *) die "unknown workload '$w' (expected small, mid, large, paced-one, paced-large, paced or all)" ;;
    esac
  done
done
if ((PACE_CHECK_ONLY)); then
  workloads=()
else
  mapfile -t workloads < <(printf '%s\n' "${workloads[@]}" | awk '!seen[$0]++')
fi
for sec in $SECTIONS; do
  case $sec in download | dlverify | verify) ;; *) die "unknown section '$sec' in SECTIONS" ;; esac
done

# Workload shapes: files and bytes per file.
declare -A COUNT SIZE
if [[ $QUICK == 1 ]]; then
  COUNT=([small]=40 [mid]=8 [large]=2 [paced-one]=1 [paced-large]=2)
  SIZE=([small]=16384 [mid]=1048576 [large]=8388608 [paced-one]=33554432 [paced-large]=16777216)
else
  COUNT=([small]=2000 [mid]=200 [large]=4 [paced-one]=1 [paced-large]=4)
  SIZE=([small]=16384 [mid]=1048576 [large]=268435456 [paced-one]=268435456 [paced-large]=268435456)
fi
is_paced() { [[ $1 == paced-* ]]; }
PACED_JOBS=${PACED_JOBS:-16}
PACE=${PACE:-32M}
case $PACE in
  *[kK]) PACE_BPS=$((${PACE%[kK]} * 1024)) ;;
  *[mM]) PACE_BPS=$((${PACE%[mM]} * 1048576)) ;;
  *) PACE_BPS=$PACE ;;
esac
[[ $PACE_BPS =~ ^[0-9]+$ ]] && ((PACE_BPS > 0 && PACE_BPS < 1 << 32)) ||
  die "PACE='$PACE' is not a rate under 4G (expected e.g. 32M)"
ANY_PACED=$PACE_CHECK_ONLY
for wl in "${workloads[@]}"; do is_paced "$wl" && ANY_PACED=1; done

# ---------------------------------------------------------------- tools
# command -> Debian package. Installed only when missing; `apt-get update` once first.
declare -A PKG=(
  [nginx]=nginx [aria2c]=aria2 [wget2]=wget2 [curl]=curl [hyperfine]=hyperfine
  [/usr/bin/time]=time [python3]=python3 [chattr]=e2fsprogs [sha256sum]=coreutils
  [timeout]=coreutils [split]=coreutils [cc]=gcc
)
missing=()
for cmd in "${!PKG[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG[$cmd]}")
done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  ((EUID == 0)) || die "missing ${missing[*]}; run as root or install them"
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# ---------------------------------------------------------------- scratch dir
TMP_PARENT=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
# Fixtures, plus one output dir at a time, plus 10%.
need_kib=0
for wl in "${workloads[@]}"; do need_kib=$((need_kib + COUNT[$wl] * SIZE[$wl] * 2 / 1024)); done
need_kib=$((need_kib + need_kib / 10))
have_kib=$(df -Pk "$TMP_PARENT" | awk 'NR==2{print $4}')
((have_kib > need_kib)) ||
  die "$TMP_PARENT has $((have_kib / 1024)) MiB free; these workloads need about $((need_kib / 1024)) MiB (set BENCH_TMPDIR)"
W=$(mktemp -d "$TMP_PARENT/fetchpool-bench.XXXXXXXX")
chmod 755 "$W" # nginx workers run as nobody when the master is root
NGX=$W/nginx
NGX_PACED=$W/nginx-paced
cleanup() {
  local rc=$?
  local dir pid
  for dir in "$NGX" "$NGX_PACED"; do
    [[ -s $dir/nginx.pid ]] || continue
    pid=$(<"$dir/nginx.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [[ $KEEP == 1 ]]; then log "kept $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W/www" "$W/lists" "$W/bin" "$W/probe" "$NGX/tmp" "$NGX_PACED/tmp"
((PACE_CHECK_ONLY)) || mkdir -p "$RESULTS_DIR"
OUT=$W/out # parent of the per-run output dirs
mkdir -p "$OUT"
# Orlov "top directory" hint for ext2/3/4: spread the run dirs over block groups.
chattr +T "$OUT" 2>/dev/null || log "chattr +T not supported on $OUT; ignored"

# ---------------------------------------------------------------- fixtures
# One tree per workload: random files, a SHA256SUMS, and the URL lists each tool wants.
gen_tree() {
  local wl=$1 n=${COUNT[$1]} size=${SIZE[$1]}
  local dir=$W/www/$wl lists=$W/lists/$wl
  mkdir -p "$dir" "$lists"
  log "fixtures: $wl = $n x $size bytes"
  head -c $((n * size)) /dev/urandom |
    split -b "$size" -a 5 -d --additional-suffix=.bin - "$dir/f"
  (cd "$dir" && find . -maxdepth 1 -name 'f*.bin' -printf '%f\n' | sort | xargs sha256sum >SHA256SUMS)
  # The same manifest cut into one part per CPU, for the parallel sha256sum baseline.
  mkdir -p "$lists/sums-parts"
  split -n "l/$(nproc)" -d "$dir/SHA256SUMS" "$lists/sums-parts/part"
}

write_lists() {
  local wl=$1 base=$2
  local dir=$W/www/$wl lists=$W/lists/$wl
  awk -v b="$base/$wl/" '{print b $2}' "$dir/SHA256SUMS" >"$lists/urls.txt"
  awk -v b="$base/$wl/" '{printf "url = \"%s%s\"\noutput = \"%s\"\n", b, $2, $2}' \
    "$dir/SHA256SUMS" >"$lists/curl.cfg"
  awk -v b="$base/$wl/" '{printf "%s%s\n  out=%s\n", b, $2, $2}' \
    "$dir/SHA256SUMS" >"$lists/aria2.txt"
  awk -v b="$base/$wl/" '{printf "%s%s\n  out=%s\n  checksum=sha-256=%s\n", b, $2, $2, $1}' \
    "$dir/SHA256SUMS" >"$lists/aria2-sum.txt"
}

for wl in "${workloads[@]}"; do gen_tree "$wl"; done
# Three 64 KiB files for probing fetchpool, whatever the workloads.
mkdir -p "$W/www/probe"
head -c $((3 * 65536)) /dev/urandom | split -b 65536 -a 1 -d --additional-suffix=.bin - "$W/www/probe/p"
(cd "$W/www/probe" && sha256sum p0.bin p1.bin p2.bin >SHA256SUMS)

# ---------------------------------------------------------------- nginx
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_nginx DIR PORT [PRELOAD]: an nginx whose prefix, pid and logs are in DIR, serving
# $W/www; with PRELOAD, started under LD_PRELOAD=PRELOAD (the pacing shim below).
start_nginx() {
  local dir=$1 port=$2 preload=${3:-}
  nginx_conf "$dir" "$port" "$W/www"
  if [[ -n $preload ]]; then
    PACE_BYTES_PER_SEC=$PACE_BPS LD_PRELOAD=$preload nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  else
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  fi
}

# serve DIR [PRELOAD]: starts an nginx on a free port and prints its base URL once it answers.
serve() {
  local dir=$1 preload=${2:-} port=
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if start_nginx "$dir" "$port" "$preload" 2>"$dir/start.err"; then break; fi
    port=
  done
  [[ -n $port ]] || { cat "$dir/start.err" >&2; die "nginx ($dir) did not start"; }
  local base=http://127.0.0.1:$port
  for _ in $(seq 50); do
    curl -sf -o /dev/null "$base/probe/SHA256SUMS" && break
    sleep 0.1
  done
  curl -sf -o /dev/null "$base/probe/SHA256SUMS" || die "nginx on $base does not answer"
  log "nginx on $base (pid $(<"$dir/nginx.pid"))${preload:+, every connection paced at $PACE_BPS bytes/s}"
  echo "$base"
}

# The pacing shim (benches/nginx.sh): SO_MAX_PACING_RATE on every socket nginx accepts.
build_pace_shim() {
  pace_shim "$W" || die "could not build the pacing shim"
}

# check_pacing BASE: shows the cap holds per connection, and only per connection.
#  1. One connection (curl reuses it) carries two range requests for a file of one second at
#     the cap: together they must not beat the cap (+10% for measurement slack), whereas
#     nginx's limit_rate would let each request's first second through at full speed.
#  2. Two connections at once: together they should get about twice the cap (logged only;
#     a busy machine may not deliver it).
# Sets PACE_NOTE for the report.
check_pacing() {
  local base=$1 url=$1/pacecheck/one.bin half=$((PACE_BPS / 2))
  local out secs bytes conns rate2 one
  out=$(curl -sS --fail -r "0-$((half - 1))" -o /dev/null -o /dev/null \
    -w '%{time_total} %{size_download} %{num_connects}\n' "$url" "$url") ||
    die "pacing check: curl failed on $url"
  read -r secs bytes conns < <(awk '{t += $1; b += $2; c += $3} END {print t, b, c}' <<<"$out")
  ((conns == 1)) || die "pacing check: curl used $conns connections for two requests, expected 1"
  ((bytes == 2 * half)) || die "pacing check: got $bytes bytes, expected $((2 * half))"
  one=$(awk -v b="$bytes" -v t="$secs" 'BEGIN {printf "%.1f", b / t / 1048576}')
  awk -v b="$bytes" -v t="$secs" -v cap="$PACE_BPS" 'BEGIN {exit !(b / t <= cap * 1.10)}' ||
    die "pacing check: one connection moved $one MiB/s, above the cap of $((PACE_BPS / 1048576)) MiB/s: pacing does not work here"
  local start end
  start=$(date +%s.%N)
  curl -sS --fail -o /dev/null "$url" & local p1=$!
  curl -sS --fail -o /dev/null "$url" & local p2=$!
  wait "$p1" && wait "$p2" || die "pacing check: parallel curl failed"
  end=$(date +%s.%N)
  rate2=$(awk -v s="$start" -v e="$end" -v b="$((2 * PACE_BPS))" 'BEGIN {printf "%.1f", b / (e - s) / 1048576}')
  log "pacing check: one connection, two range requests: $one MiB/s (cap $PACE); two connections at once: $rate2 MiB/s together"
  awk -v r="$rate2" -v cap="$PACE_BPS" 'BEGIN {exit !(r * 1048576 < cap * 1.5)}' &&
    log "pacing check: two connections got less than 1.5x the cap: a busy machine, or the cap is not per connection"
  PACE_NOTE="paced server: every TCP connection capped at $PACE ($PACE_BPS bytes/s, SO_MAX_PACING_RATE via an LD_PRELOAD shim on accept/accept4); checked before timing: one connection carrying two range requests moved $one MiB/s, two connections at once $rate2 MiB/s together"
}

PACE_NOTE=
BASE=$(serve "$NGX") || exit 2
BASE_PACED=
if ((ANY_PACED)); then
  build_pace_shim
  mkdir -p "$W/www/pacecheck"
  head -c "$PACE_BPS" /dev/urandom >"$W/www/pacecheck/one.bin"
  BASE_PACED=$(serve "$NGX_PACED" "$W/pace.so") || exit 2
  check_pacing "$BASE_PACED"
  if ((PACE_CHECK_ONLY)); then
    echo "- $PACE_NOTE"
    exit 0
  fi
fi
for wl in "${workloads[@]}"; do
  if is_paced "$wl"; then write_lists "$wl" "$BASE_PACED"; else write_lists "$wl" "$BASE"; fi
done

# ---------------------------------------------------------------- fetchpool
# Each part (get, get -c, verify) is probed on a few files, including a wrong digest that
# must be refused, and benchmarked only when it works: the script runs today for the peers
# and picks fetchpool up as soon as it does its job.
FP_GET=0 FP_CHECK=0 FP_VERIFY=0 FP_NOTE=
probe() { # probe NAME CMD... : run with a timeout, keep the output
  local name=$1; shift
  timeout 120 "$@" >"$W/probe/$name.out" 2>&1
}
probe_fail() { # probe_fail PART WHY
  FP_NOTE+="fetchpool $1: not measured ($2). "
  log "fetchpool $1 not measured: $2"
  sed 's/^/    /' "$W/probe/$1.out" 2>/dev/null | tail -5 >&2 || true
}
if [[ $FETCHPOOL == none ]]; then
  FP_NOTE="fetchpool: skipped (FETCHPOOL=none). "
else
  if [[ ! -x $FETCHPOOL && $FETCHPOOL == "$REPO/target/release/fetchpool" ]]; then
    log "building fetchpool (cargo build --release)"
    (cd "$REPO" && cargo build --release >&2) || log "cargo build --release failed"
  fi
  if [[ ! -x $FETCHPOOL ]]; then
    FP_NOTE="fetchpool: not measured (no binary at $FETCHPOOL). "
  else
    ln -s "$(realpath "$FETCHPOOL")" "$W/bin/fetchpool"
    if [[ -n $BASELINE ]]; then
      [[ -x $BASELINE ]] || die "BASELINE=$BASELINE is not an executable"
      ln -s "$(realpath "$BASELINE")" "$W/bin/fetchpool-baseline"
    fi
    P=$W/probe
    awk -v b="$BASE/probe/" '{print b $2}' "$W/www/probe/SHA256SUMS" >"$P/urls.txt"
    cp "$W/www/probe/SHA256SUMS" "$P/SHA256SUMS"
    # The same manifest with the first digest's first hex digit changed.
    awk 'NR==1{c=substr($0,1,1); $0=(c=="0"?"1":"0") substr($0,2)} {print}' \
      "$P/SHA256SUMS" >"$P/BAD.SUMS"
    rc=0; probe get "$W/bin/fetchpool" get -j "$JOBS" -q -i "$P/urls.txt" -d "$P/get" || rc=$?
    if ((rc != 0)); then
      probe_fail get "exit $rc"
    elif ! (cd "$P/get" && sha256sum -c --quiet "$P/SHA256SUMS") >>"$P/get.out" 2>&1; then
      probe_fail get "wrong bytes on disk"
    else
      FP_GET=1
    fi
    rc=0; probe get-c "$W/bin/fetchpool" get -j "$JOBS" -q -i "$P/urls.txt" -c "$P/SHA256SUMS" -d "$P/check" || rc=$?
    if ((rc != 0)); then
      probe_fail get-c "exit $rc"
    elif ! (cd "$P/check" && sha256sum -c --quiet "$P/SHA256SUMS") >>"$P/get-c.out" 2>&1; then
      probe_fail get-c "wrong bytes on disk"
    elif probe get-c-bad "$W/bin/fetchpool" get -j "$JOBS" -q -i "$P/urls.txt" -c "$P/BAD.SUMS" -d "$P/check-bad"; then
      probe_fail get-c "accepted a wrong digest"
    else
      FP_CHECK=1
    fi
    cp "$P/SHA256SUMS" "$P/BAD.SUMS" "$P/get/" 2>/dev/null || true
    # Names in a manifest are relative to the current directory, as for sha256sum -c;
    # -C names the directory the files are in.
    rc=0; probe verify "$W/bin/fetchpool" verify --quiet -C "$P/get" "$P/get/SHA256SUMS" || rc=$?
    if ((rc != 0)); then
      probe_fail verify "exit $rc"
    elif probe verify-bad "$W/bin/fetchpool" verify --quiet -C "$P/get" "$P/get/BAD.SUMS"; then
      probe_fail verify "accepted a wrong digest"
    else
      FP_VERIFY=1
    fi
  fi
fi

# ---------------------------------------------------------------- report header
FP_DESC="-"
if [[ -x $W/bin/fetchpool ]]; then
  FP_DESC="$("$W/bin/fetchpool" --version 2>/dev/null | head -1 || true) ($FETCHPOOL"
  fp_dir=$(dirname "$(realpath "$FETCHPOOL")")
  # The last commit that touched the sources, in the tree the binary sits in (the binary
  # may be older than that: its build time is printed too).
  fp_rev=$(cd "$fp_dir" && top=$(git rev-parse --show-toplevel 2>/dev/null) &&
    git log -1 --format=%h -- "$top"/{src,Cargo.toml,Cargo.lock} 2>/dev/null) || fp_rev=
  [[ -n $fp_rev ]] || fp_rev="? (not in a git tree)"
  FP_DESC+=", built $(date -u -r "$FETCHPOOL" +%Y-%m-%dT%H:%MZ) in a tree whose sources were last changed at $fp_rev)"
fi
{
  echo "## Run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- command: \`QUICK=$QUICK RUNS=$RUNS WARMUP=$WARMUP JOBS=$JOBS PACED_JOBS=$PACED_JOBS PACE=$PACE WAIT_IDLE=$WAIT_IDLE INTERLEAVE=$INTERLEAVE SYNC=$SYNC SECTIONS='$SECTIONS' benches/compare.sh ${workloads[*]}\`"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, kernel $(uname -r)"
  echo "- output fs: $(df -T "$OUT" | awk 'NR==2{print $2" on "$1" ("$7")"}'), scratch dir $W"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
  echo "- fetchpool: $FP_DESC"
  [[ -n $BASELINE ]] && echo "- fetchpool (baseline): $("$W/bin/fetchpool-baseline" --version 2>/dev/null | head -1) ($BASELINE)"
  echo "- peers: $(curl --version | head -1 | cut -d' ' -f1-2), $(aria2c --version | head -1), $(wget2 --version | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | cut -d' ' -f3), $(hyperfine --version)"
  [[ -n $PACE_NOTE ]] && echo "- $PACE_NOTE"
  [[ -n $FP_NOTE ]] && echo "- note: ${FP_NOTE% }"
  echo
} | tee "$RESULTS_DIR/header.md"

# ---------------------------------------------------------------- timing
# hyperfine's --prepare: drop the previous run's output, optionally sync, and make a fresh,
# randomly named output dir; its path goes to $W/cur, which each timed command reads with
# the shell builtin `read` (no extra process in the timed part).
q() { printf '%q' "$1"; }
PREP="rm -rf $(q "$OUT")/run.*"
[[ $SYNC == 1 ]] && PREP+=" && sync"
PREP+=" && mktemp -d $(q "$OUT")/run.XXXXXXXXXX > $(q "$W/cur")"
RD="read -r d < $(q "$W/cur") &&"

printf 'workload\tfiles\tbytes\n' >"$RESULTS_DIR/workloads.tsv"
: >"$RESULTS_DIR/failures.tsv"
: >"$RESULTS_DIR/load.tsv"
: >"$RESULTS_DIR/paced.tsv"

# cpu_busy: percent of all CPUs busy over the next 2 seconds (from /proc/stat).
cpu_busy() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  sleep 2
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  echo "$a $b" | awk '{t = $4 - $2; print (t > 0) ? int(100 * ($3 - $1) / t) : 0}'
}

# wait_idle: up to WAIT_IDLE seconds for other work on the machine to calm down; leaves the
# last measurement in BUSY (measured once even when not waiting: it goes in the report).
BUSY="?"
wait_idle() {
  local until=$((SECONDS + WAIT_IDLE))
  BUSY=$(cpu_busy)
  while ((BUSY >= 25 && SECONDS < until)); do
    log "machine ${BUSY}% busy; waiting (WAIT_IDLE=$WAIT_IDLE)"
    sleep 8
    BUSY=$(cpu_busy)
  done
}

# checked_run CHECK TREE N CMD LOG TIMEFILE: one run of CMD under `/usr/bin/time -v` (after
# the same --prepare as the timed runs); prints why it failed, or nothing.
# CHECK=tree: the output dir must then hold exactly the N files of TREE, all matching.
checked_run() {
  local check=$1 tree=$2 n=$3 cmd=$4 out=$5 timefile=$6
  sh -c "$PREP"
  local rc=0
  timeout "$TOOL_TIMEOUT" /usr/bin/time -v -o "$timefile" sh -c "$cmd" >"$out" 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "exit $rc"
  elif [[ $check == tree ]]; then
    local d got
    read -r d <"$W/cur"
    got=$(find "$d" -type f | wc -l)
    if ((got != n)); then
      echo "$got files in the output dir, expected $n"
    elif ! (cd "$d" && sha256sum -c --quiet "$tree/SHA256SUMS") >>"$out" 2>&1; then
      echo "wrong bytes on disk"
    fi
  fi
}

# run_section WORKLOAD SECTION CHECK NAME CMD [NAME CMD ...]
# Per command: a checked run first (a command that fails it is reported and left out), then
# all commands side by side in one hyperfine, then one more checked run under
# `/usr/bin/time -v`, warm like the timed runs, whose CPU s and max RSS are reported.
run_section() {
  local wl=$1 sec=$2 check=$3; shift 3
  local tree=$W/www/$wl n=${COUNT[$wl]}
  local -a hf=() ok_names=() ok_cmds=() ok_tags=()
  local i=0
  while (($#)); do
    local name=$1 cmd=$2; shift 2
    i=$((i + 1))
    local tag=$wl-$sec-$i
    printf '%s\t%s\t%s\n' "$name" "$cmd" "$tag" >>"$RESULTS_DIR/commands.tsv"
    local why
    why=$(checked_run "$check" "$tree" "$n" "$cmd" "$RESULTS_DIR/out-$tag.txt" "$RESULTS_DIR/time-$tag.first.txt")
    if [[ -n $why ]]; then
      log "$wl/$sec: '$name' FAILED ($why); left out. Output: $RESULTS_DIR/out-$tag.txt"
      tail -5 "$RESULTS_DIR/out-$tag.txt" | sed 's/^/    /' >&2
      printf '%s\t%s\t%s\t%s\n' "$wl" "$sec" "$name" "$why" >>"$RESULTS_DIR/failures.tsv"
    else
      hf+=(-n "$name" "$cmd")
      ok_names+=("$name") ok_cmds+=("$cmd") ok_tags+=("$tag")
    fi
  done
  ((${#ok_names[@]})) || { log "$wl/$sec: nothing to time"; return 0; }
  wait_idle
  log "$wl/$sec: hyperfine --runs $RUNS --warmup $WARMUP (INTERLEAVE=$INTERLEAVE): ${ok_names[*]}"
  printf '%s\t%s\t%s\t%s\n' "$wl" "$sec" "$(cut -d' ' -f1-3 /proc/loadavg)" "$BUSY" >>"$RESULTS_DIR/load.tsv"
  local -a prep=()
  [[ $check == tree ]] && prep=(--prepare "$PREP")
  if [[ $INTERLEAVE == 1 ]]; then
    local k
    for ((k = 1; k <= RUNS; k++)); do
      hyperfine --runs 1 --warmup "$((k == 1 ? WARMUP : 0))" --style basic "${prep[@]}" \
        --export-json "$RESULTS_DIR/$wl-$sec.round$k.json" "${hf[@]}" >&2
    done
  else
    hyperfine --runs "$RUNS" --warmup "$WARMUP" --style basic "${prep[@]}" \
      --export-json "$RESULTS_DIR/$wl-$sec.json" "${hf[@]}" >&2
  fi
  for i in "${!ok_tags[@]}"; do
    local tag=${ok_tags[$i]} why
    why=$(checked_run "$check" "$tree" "$n" "${ok_cmds[$i]}" "$RESULTS_DIR/out-$tag.txt" "$RESULTS_DIR/time-$tag.txt")
    [[ -z $why ]] || {
      log "$wl/$sec: '${ok_names[$i]}' FAILED its time -v run after hyperfine ($why)"
      printf '%s\t%s\t%s\t%s\n' "$wl" "$sec" "${ok_names[$i]}" "time -v run: $why" >>"$RESULTS_DIR/failures.tsv"
    }
  done
}

: >"$RESULTS_DIR/commands.tsv"
for wl in "${workloads[@]}"; do
  L=$W/lists/$wl T=$W/www/$wl
  printf '%s\t%s\t%s\n' "$wl" "${COUNT[$wl]}" "$((COUNT[$wl] * SIZE[$wl]))" >>"$RESULTS_DIR/workloads.tsv"
  FP=$(q "$W/bin/fetchpool")
  FPB=$(q "$W/bin/fetchpool-baseline")
  SUMS=$(q "$T/SHA256SUMS")
  CURL="curl --parallel --parallel-max $JOBS -s -S --fail --config $(q "$L/curl.cfg") --output-dir \"\$d\""
  # --auto-save-interval=0: aria2c otherwise writes and fsyncs a .aria2 control file per
  # download (strace: 3 fsyncs a file, 2.6x slower on 2000 x 16 KiB); it still fsyncs each
  # finished file, which no other tool here does. See BENCHMARKS.md.
  ARIA="aria2c -j $JOBS -x1 --file-allocation=none --auto-save-interval=0 --console-log-level=warn --summary-interval=0 --download-result=hide --auto-file-renaming=false -d \"\$d\""
  WGET="wget2 --max-threads=$JOBS -q --no-config --no-hsts --no-hpkp -P \"\$d\" -i $(q "$L/urls.txt")"
  CHECK="cd \"\$d\" && sha256sum -c --quiet $SUMS"

  if is_paced "$wl"; then
    # The paced server: one big file (or a few) against per-connection caps. aria2c as its
    # users tune it for that (-x16 -s16 -k1M) and as it comes; curl and wget2 as they come.
    J=$PACED_JOBS
    printf '%s\t%s\t%s\n' "$wl" "$PACE_BPS" "$J" >>"$RESULTS_DIR/paced.tsv"
    CURL="curl --parallel --parallel-max $J -s -S --fail --config $(q "$L/curl.cfg") --output-dir \"\$d\""
    ARIA="aria2c -j $J --file-allocation=none --auto-save-interval=0 --console-log-level=warn --summary-interval=0 --download-result=hide --auto-file-renaming=false -d \"\$d\""
    WGET="wget2 --max-threads=$J -q --no-config --no-hsts --no-hpkp -P \"\$d\" -i $(q "$L/urls.txt")"
    args=()
    ((FP_GET)) && args+=("fetchpool get" "$RD $FP get -j $J -q -i $(q "$L/urls.txt") -d \"\$d\"")
    args+=("aria2c -x$J -s$J -k1M" "$RD $ARIA -x$J -s$J -k1M -i $(q "$L/aria2.txt")")
    args+=("aria2c" "$RD $ARIA -i $(q "$L/aria2.txt")")
    args+=("curl" "$RD $CURL")
    args+=("wget2" "$RD $WGET")
    if [[ " $SECTIONS " == *" download "* ]]; then run_section "$wl" download tree "${args[@]}"; fi
    args=()
    ((FP_CHECK)) && args+=("fetchpool get -c" "$RD $FP get -j $J -q -i $(q "$L/urls.txt") -c $SUMS -d \"\$d\"")
    args+=("aria2c -x$J -s$J -k1M checksum=" "$RD $ARIA -x$J -s$J -k1M -i $(q "$L/aria2-sum.txt")")
    if [[ " $SECTIONS " == *" dlverify "* ]]; then run_section "$wl" dlverify tree "${args[@]}"; fi
    # Verifying a tree on disk does not depend on the server: see the large workload.
    continue
  fi

  # 1. Download only.
  args=()
  ((FP_GET)) && args+=("fetchpool get" "$RD $FP get -j $JOBS -q -i $(q "$L/urls.txt") -d \"\$d\"")
  ((FP_GET)) && [[ -n $BASELINE ]] &&
    args+=("fetchpool (baseline) get" "$RD $FPB get -j $JOBS -q -i $(q "$L/urls.txt") -d \"\$d\"")
  args+=("curl --parallel" "$RD $CURL")
  args+=("aria2c" "$RD $ARIA -i $(q "$L/aria2.txt")")
  args+=("wget2" "$RD $WGET")
  if [[ " $SECTIONS " == *" download "* ]]; then run_section "$wl" download tree "${args[@]}"; fi

  # 2. Download and verify.
  args=()
  ((FP_CHECK)) && args+=("fetchpool get -c" "$RD $FP get -j $JOBS -q -i $(q "$L/urls.txt") -c $SUMS -d \"\$d\"")
  ((FP_CHECK)) && [[ -n $BASELINE ]] &&
    args+=("fetchpool (baseline) get -c" "$RD $FPB get -j $JOBS -q -i $(q "$L/urls.txt") -c $SUMS -d \"\$d\"")
  args+=("curl + sha256sum -c" "$RD $CURL && $CHECK")
  args+=("aria2c + sha256sum -c" "$RD $ARIA -i $(q "$L/aria2.txt") && $CHECK")
  args+=("wget2 + sha256sum -c" "$RD $WGET && $CHECK")
  args+=("aria2c checksum=" "$RD $ARIA -i $(q "$L/aria2-sum.txt")")
  if [[ " $SECTIONS " == *" dlverify "* ]]; then run_section "$wl" dlverify tree "${args[@]}"; fi

  # 3. Verify a tree already on disk (the served tree: warm in the page cache).
  args=()
  ((FP_VERIFY)) && args+=("fetchpool verify" "cd $(q "$T") && $FP verify --quiet SHA256SUMS")
  args+=("sha256sum -c" "cd $(q "$T") && sha256sum -c --quiet SHA256SUMS")
  args+=("sha256sum -c x$(nproc) (xargs -P)" "cd $(q "$T") && ls $(q "$L/sums-parts")/part* | xargs -P $(nproc) -n 1 sha256sum -c --quiet")
  if [[ " $SECTIONS " == *" verify "* ]]; then run_section "$wl" verify none "${args[@]}"; fi
done

echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS_DIR/header.md"
echo
python3 "$BENCH_DIR/summarize.py" "$RESULTS_DIR" "$FP_NOTE" | tee "$RESULTS_DIR/summary.md"
{ cat "$RESULTS_DIR/header.md"; echo; cat "$RESULTS_DIR/summary.md"; } >"$RESULTS_DIR/report.md"
log "results in $RESULTS_DIR"
