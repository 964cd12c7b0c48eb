#!/usr/bin/env bash
# bench/run.sh: the Month-1 benchmark of pool_server, in one command.
#
#   bench/run.sh [--quick] [--out DIR]
#
# Builds (-c opt, own Bazel output base) //server:pool_server,
# //tools:stress_test and //bench:pool_bench, then measures:
#   1. a sweep: workloads PING, HASH 64 B, HASH 4 KiB, PRIMES N, SLEEP 20
#      x workers 1, 2, 4 x clients 1, 10, 50 (stress_test --duration D, no
#      pipelining). Per point: requests/s, p50/p99 latency (stress_test's
#      histogram), lock-contention share (delta lock_wait_us / delta worker_us
#      from STATS around the run) and server CPU (delta utime+stime of the
#      server process over the wall time of the run; 100% = one core);
#   2. hand-off overhead: p50(HASH a) - p50(PING), one client, 2 workers,
#      runs alternated, medians: the cost of reactor -> worker -> eventfd ->
#      reactor;
#   3. scaling: PRIMES requests/s with 2 workers over 1 worker;
#   4. redis side by side: redis-benchmark PING_MBULK -c 50 without and with
#      -P 16 against a local redis-server and against pool_server --workers 2,
#      plus our HASH 64 B through redis-benchmark, runs alternated, medians,
#      each as a ratio to redis-server's PING with the same flags;
#   5. the pool micro-benchmark (bench/pool_bench) and its table.
# Writes <out>/<date>-<host>.md (default out: bench/results), its plots
# (gnuplot, PNG) and raw data in <out>/<date>-<host>/. --quick: shorter
# points and fewer repetitions (a smoke run of ~1-2 minutes), written as
# <date>-<host>-quick.md; a full run also refreshes the headline block of
# bench/README.md.
#
# Nothing here judges timing: the script fails only when a tool fails
# (build error, a wrong reply from stress_test, a server that does not start
# or exit cleanly). Every server it starts is stopped on exit, and its own
# Bazel server is shut down once the build is done.
#
# Environment: BAZEL (default: bazel), BENCH_OUTPUT_BASE (default
# /tmp/bazel-bench), PRIMES_N (default 2000000).
set -euo pipefail

usage() { echo "usage: bench/run.sh [--quick] [--out DIR]" >&2; exit 2; }

QUICK=0
OUT_ROOT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) [ $# -ge 2 ] || usage; OUT_ROOT=$2; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT_ROOT=${OUT_ROOT:-bench/results}
BAZEL=${BAZEL:-bazel}
OUTPUT_BASE=${BENCH_OUTPUT_BASE:-/tmp/bazel-bench}
PRIMES_N=${PRIMES_N:-2000000}
INVOCATION=bench/run.sh
[ "$QUICK" = 0 ] || INVOCATION+=" --quick"

for tool in "$BAZEL" gnuplot redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || {
    echo "run.sh: '$tool' not found (POOL_SERVER_SETUP_EXTRA=bench ci/setup.sh)" >&2
    exit 1
  }
done

if [ "$QUICK" = 1 ]; then
  DUR=0.5          # seconds per stress_test run
  SWEEP_REPS=1
  HANDOFF_REPS=2
  REDIS_REPS=1
  REDIS_N=30000    # requests per redis-benchmark run, no pipelining
  REDIS_NP=200000  # with -P 16
  POOL_BENCH_ARGS=(--tasks 50000 --reps 3 --rtt 5000)
  SUFFIX=-quick
else
  DUR=1.5
  SWEEP_REPS=3
  HANDOFF_REPS=5
  REDIS_REPS=3
  REDIS_N=150000
  REDIS_NP=1000000
  POOL_BENCH_ARGS=(--tasks 200000 --reps 9 --rtt 20000)
  SUFFIX=""
fi
WORKERS=(1 2 4)
CLIENTS=(1 10 50)

DATE=$(date +%F)
HOST=$(hostname -s 2>/dev/null || hostname)
NAME="$DATE-$HOST$SUFFIX"
REPORT="$OUT_ROOT/$NAME.md"
ASSETS="$OUT_ROOT/$NAME"   # plots and raw data, linked from the report
mkdir -p "$ASSETS"
rm -f "$ASSETS"/*.png "$ASSETS"/*.tsv "$ASSETS"/*.dat

TMP=$(mktemp -d /tmp/pool-bench.XXXXXX)
PIDS=()            # every server this script started and has not yet reaped
BAZEL_UP=0
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$BAZEL_UP" = 1 ]; then
    "$BAZEL" --output_base="$OUTPUT_BASE" shutdown >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
  [ "$rc" = 0 ] || echo "run.sh: FAILED (exit $rc); partial output in $ASSETS" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "[$(date +%T)] $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

# ---- helpers ----------------------------------------------------------------

# The long HASH arguments, and how the report spells them.
ARG64=$(printf '0123456789abcdef%.0s' 1 2 3 4)                     # 64 bytes
ARG4K=$(for _ in $(seq 256); do printf '0123456789abcdef'; done)  # 4096 bytes
if [ ${#ARG64} != 64 ] || [ ${#ARG4K} != 4096 ]; then die "bad argument lengths"; fi

# Records a command (long arguments abbreviated) for the report's list.
log_cmd() {
  local q
  q=$(printf '%q ' "$@")
  q=${q//$ARG4K/\$ARG4K}
  q=${q//$ARG64/\$ARG64}
  [ -z "${BIN:-}" ] || q=${q//$BIN\//}
  # ports differ from run to run: $PORT keeps the list short and readable
  # shellcheck disable=SC2016 # a literal $PORT
  sed -E 's/(--port|-p) [1-9][0-9]*/\1 $PORT/g' <<<"${q% }" >>"$TMP/commands.txt"
}
run_logged() { log_cmd "$@"; "$@"; }

# forget PID: drops a reaped process from PIDS.
forget() {
  local keep=() pid
  for pid in "${PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

now() { date +%s.%N; }

# Total CPU time (utime+stime, clock ticks) of a process.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
CLK_TCK=$(getconf CLK_TCK)
# Machine-wide "busy total" jiffies from /proc/stat (all CPUs).
sys_ticks() { awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat; }

# One STATS line from the server on port $1.
stats() {
  local line=""
  exec 3<>"/dev/tcp/127.0.0.1/$1" || die "cannot connect to port $1 for STATS"
  printf 'STATS\n' >&3
  IFS= read -r -t 5 line <&3 || true
  exec 3<&- 3>&-
  case "$line" in
    "result: "*) echo "$line" ;;
    *) die "bad STATS reply: '$line'" ;;
  esac
}
field() { sed -n "s/.*[ :]$1=\\([0-9][0-9]*\\).*/\\1/p" <<<"$2"; }  # field NAME LINE
jget() { sed -n "s/.*\"$1\": *\\([-0-9.eE+]*\\).*/\\1/p" <<<"$2"; }  # jget KEY JSON

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
  print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }  # calc FORMAT EXPR (parenthesised: a '>' in it is no redirection)

SRV_PID=""
SRV_PORT=""
SRV_LOG=/dev/null
# start_server WORKERS: sets SRV_PID and SRV_PORT.
start_server() {
  local log="$TMP/server-$1-$RANDOM.log"
  : >"$log"
  SRV_LOG=$log
  log_cmd "$BIN/server/pool_server" --port 0 --workers "$1" --queue-capacity 1024
  "$BIN/server/pool_server" --port 0 --workers "$1" --queue-capacity 1024 2>"$log" &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  SRV_PORT=""
  for _ in $(seq 100); do
    SRV_PORT=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$SRV_PORT" ] && return 0
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$log" >&2
  die "pool_server --workers $1 did not start"
}
# stop_server: SIGTERM drains; the server must exit 0.
stop_server() {
  local rc=0
  kill -TERM "$SRV_PID"
  wait "$SRV_PID" || rc=$?
  forget "$SRV_PID"
  [ "$rc" = 0 ] || die "pool_server exited with status $rc after SIGTERM"
  SRV_PID=""
}

# stress CLIENTS CMD: one stress_test run against $SRV_PORT; prints its JSON.
stress() {
  local out rc=0
  out=$(run_logged "$BIN/tools/stress_test" --port "$SRV_PORT" --clients "$1" \
    --duration "$DUR" --cmd "$2" --json 2>"$TMP/stress.err") || rc=$?
  if [ "$rc" != 0 ]; then
    head -c 2000 "$TMP/stress.err" >&2
    echo "${out:0:1000}" >&2
    if kill -0 "$SRV_PID" 2>/dev/null; then echo "(server $SRV_PID still running)" >&2
    else echo "(server $SRV_PID is gone)" >&2; fi
    echo "--- server log (last lines):" >&2
    tail -5 "$SRV_LOG" >&2
    cp "$SRV_LOG" "$ASSETS/failed-server.log" 2>/dev/null || true
    die "stress_test failed (exit $rc): clients=$1 cmd=${2:0:40}"
  fi
  echo "$out"
}

# ---- build --------------------------------------------------------------------

log "building (-c opt, output base $OUTPUT_BASE)"
BAZEL_UP=1
run_logged "$BAZEL" --output_base="$OUTPUT_BASE" build -c opt --symlink_prefix=/ \
  //server:pool_server //tools:stress_test //bench:pool_bench >"$TMP/build.log" 2>&1 || {
  tail -40 "$TMP/build.log" >&2
  die "build failed"
}
BIN=$("$BAZEL" --output_base="$OUTPUT_BASE" info -c opt bazel-bin 2>/dev/null)
"$BAZEL" --output_base="$OUTPUT_BASE" shutdown >/dev/null 2>&1 || true
BAZEL_UP=0
[ -x "$BIN/server/pool_server" ] || die "no pool_server binary under $BIN"

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  COMMIT="$COMMIT-dirty"
fi
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
MEM_GIB=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
NPROC=$(nproc)
KERNEL=$(uname -r)
REDIS_VERSION=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')

# ---- 1. sweep ---------------------------------------------------------------------

declare -A CMD=(
  [PING]="PING"
  [HASH64]="HASH $ARG64"
  [HASH4K]="HASH $ARG4K"
  [PRIMES]="PRIMES $PRIMES_N"
  [SLEEP]="SLEEP 20"
)
declare -A TITLE=(
  [PING]="PING (loop only)"
  [HASH64]="HASH, 64-byte argument"
  [HASH4K]="HASH, 4 KiB argument"
  [PRIMES]="PRIMES $PRIMES_N (CPU-bound)"
  [SLEEP]="SLEEP 20 (pool saturation)"
)
WORKLOADS=(PING HASH64 HASH4K PRIMES SLEEP)
DATA="$ASSETS/sweep.tsv"      # medians over the repetitions
RAW="$ASSETS/sweep-raw.tsv"   # every run
COLS=$'workload\tworkers\tclients\trps\tp50_us\tp99_us\tlock_share_pct\tserver_cpu_pct\tmachine_cpu_pct\trequests\tbusy'
printf 'rep\t%s\n' "$COLS" >"$RAW"

# The whole sweep is repeated SWEEP_REPS times (a point's runs are minutes
# apart, so a burst of other load on the machine hits one of them, not all).
for rep in $(seq "$SWEEP_REPS"); do
for w in "${WORKERS[@]}"; do
  start_server "$w"
  for wl in "${WORKLOADS[@]}"; do
    for c in "${CLIENTS[@]}"; do
      log "sweep $rep/$SWEEP_REPS: workers=$w $wl clients=$c"
      s0=$(stats "$SRV_PORT"); k0=$(cpu_ticks "$SRV_PID"); m0=$(sys_ticks); t0=$(now)
      js=$(stress "$c" "${CMD[$wl]}")
      t1=$(now); m1=$(sys_ticks); k1=$(cpu_ticks "$SRV_PID"); s1=$(stats "$SRV_PORT")
      read -r mb0 mt0 <<<"$m0"; read -r mb1 mt1 <<<"$m1"
      mcpu=$(calc '%.0f' "$mt1 > $mt0 ? 100 * $NPROC * ($mb1 - $mb0) / ($mt1 - $mt0) : 0")
      lw=$(( $(field lock_wait_us "$s1") - $(field lock_wait_us "$s0") ))
      wu=$(( $(field worker_us "$s1") - $(field worker_us "$s0") ))
      lock=$(calc '%.2f' "$wu > 0 ? 100 * $lw / $wu : 0")
      cpu=$(calc '%.0f' "100 * ($k1 - $k0) / $CLK_TCK / ($t1 - $t0)")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$wl" "$w" "$c" \
        "$(jget rps "$js")" "$(jget p50_us "$js")" "$(jget p99_us "$js")" \
        "$lock" "$cpu" "$mcpu" "$(jget requests "$js")" "$(jget busy "$js")" >>"$RAW"
    done
  done
  stop_server
done
done
# Per point, the median of each column on its own (busy, requests: the sum).
printf '%s\n' "$COLS" >"$DATA"
for wl in "${WORKLOADS[@]}"; do
  for w in "${WORKERS[@]}"; do
    for c in "${CLIENTS[@]}"; do
      row="$wl"$'\t'"$w"$'\t'"$c"
      for col in 5 6 7 8 9 10; do
        row+=$'\t'"$(awk -F'\t' -v wl="$wl" -v w="$w" -v c="$c" -v k="$col" \
          '$2 == wl && $3 == w && $4 == c { print $k }' "$RAW" | median)"
      done
      for col in 11 12; do
        row+=$'\t'"$(awk -F'\t' -v wl="$wl" -v w="$w" -v c="$c" -v k="$col" \
          '$2 == wl && $3 == w && $4 == c { s += $k } END { print s + 0 }' "$RAW")"
      done
      printf '%s\n' "$row" >>"$DATA"
    done
  done
done

# machine_cpu "BUSY TOTAL" (from sys_ticks before): busy % of the whole machine since.
machine_cpu() {
  local b0 t0 b1 t1
  read -r b0 t0 <<<"$1"
  read -r b1 t1 <<<"$(sys_ticks)"
  calc '%.0f' "$t1 > $t0 ? 100 * $NPROC * ($b1 - $b0) / ($t1 - $t0) : 0"
}

# ---- 2. hand-off overhead -----------------------------------------------------------

log "hand-off overhead: PING vs HASH a, 1 client, 2 workers, $HANDOFF_REPS runs each"
start_server 2
: >"$TMP/ping50"; : >"$TMP/hash50"
m0=$(sys_ticks)
for r in $(seq "$HANDOFF_REPS"); do
  if [ $((r % 2)) = 1 ]; then order=(PING "HASH a"); else order=("HASH a" PING); fi
  for cmd in "${order[@]}"; do
    js=$(stress 1 "$cmd")
    if [ "$cmd" = PING ]; then jget p50_us "$js" >>"$TMP/ping50"; else jget p50_us "$js" >>"$TMP/hash50"; fi
  done
done
HANDOFF_MCPU=$(machine_cpu "$m0")
stop_server
PING_P50=$(median <"$TMP/ping50")
HASH1_P50=$(median <"$TMP/hash50")
HANDOFF_US=$(calc '%.1f' "$HASH1_P50 - $PING_P50")

# ---- 3. scaling -------------------------------------------------------------------------

rps_of() {  # rps_of WORKLOAD WORKERS CLIENTS
  awk -F'\t' -v wl="$1" -v w="$2" -v c="$3" '$1 == wl && $2 == w && $3 == c { print $4 }' "$DATA"
}
# Dedicated runs: two servers (1 and 2 workers) side by side, PRIMES at 10
# clients against each in turn, medians. The sweep's single points agree
# only as well as the machine is quiet.
log "scaling: PRIMES $PRIMES_N, 10 clients, 1 vs 2 workers, $HANDOFF_REPS runs each"
start_server 1; S1_PID=$SRV_PID; S1_PORT=$SRV_PORT
start_server 2; S2_PID=$SRV_PID; S2_PORT=$SRV_PORT
: >"$TMP/scale1"; : >"$TMP/scale2"
m0=$(sys_ticks)
for r in $(seq "$HANDOFF_REPS"); do
  if [ $((r % 2)) = 1 ]; then order=(1 2); else order=(2 1); fi
  for w in "${order[@]}"; do
    if [ "$w" = 1 ]; then SRV_PORT=$S1_PORT; else SRV_PORT=$S2_PORT; fi
    js=$(stress 10 "PRIMES $PRIMES_N")
    jget rps "$js" >>"$TMP/scale$w"
  done
done
SCALE_MCPU=$(machine_cpu "$m0")
SRV_PID=$S1_PID; stop_server
SRV_PID=$S2_PID; stop_server
SCALE_RPS1=$(median <"$TMP/scale1")
SCALE_RPS2=$(median <"$TMP/scale2")
SCALE=$(calc '%.2f' "$SCALE_RPS2 / $SCALE_RPS1")
SCALE10=$(calc '%.2f' "$(rps_of PRIMES 2 10) / $(rps_of PRIMES 1 10)")
SCALE50=$(calc '%.2f' "$(rps_of PRIMES 2 50) / $(rps_of PRIMES 1 50)")

# ---- 4. redis side by side -----------------------------------------------------------------

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}
# rb PORT ARGS...: one redis-benchmark run; prints its requests/s.
rb() {
  local port=$1 out rc=0 rps
  shift
  out=$(run_logged redis-benchmark -p "$port" -c 50 --csv "$@" 2>"$TMP/rb.err") || rc=$?
  rps=$(awk -F'","' 'NR == 2 { print $2 }' <<<"$out")
  if [ "$rc" != 0 ] || [ -z "$rps" ] || grep -qi 'error' <<<"$out$(cat "$TMP/rb.err")"; then
    cat "$TMP/rb.err" >&2; echo "$out" >&2
    die "redis-benchmark failed (exit $rc) on port $port: $*"
  fi
  echo "$rps"
}

log "redis side by side: $REDIS_REPS alternated repetitions"
REDIS_PORT=$(free_port)
REDIS_ARGS=(--port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no)
log_cmd redis-server "${REDIS_ARGS[@]}"
redis-server "${REDIS_ARGS[@]}" >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do
  [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || true)" = PONG ] && break
  kill -0 "$REDIS_PID" 2>/dev/null || { cat "$TMP/redis.log" >&2; die "redis-server did not start"; }
  sleep 0.05
done
start_server 2
for f in redis_ping redis_pingP ours_ping ours_pingP ours_hash; do : >"$TMP/$f"; done
for r in $(seq "$REDIS_REPS"); do
  log "redis side by side: repetition $r/$REDIS_REPS"
  if [ $((r % 2)) = 1 ]; then first=$REDIS_PORT second=$SRV_PORT; else first=$SRV_PORT second=$REDIS_PORT; fi
  for port in "$first" "$second"; do
    who=ours; [ "$port" = "$REDIS_PORT" ] && who=redis
    rb "$port" -n "$REDIS_N" -t ping_mbulk >>"$TMP/${who}_ping"
    rb "$port" -n "$REDIS_NP" -P 16 -t ping_mbulk >>"$TMP/${who}_pingP"
  done
  rb "$SRV_PORT" -n "$REDIS_N" HASH "$ARG64" >>"$TMP/ours_hash"
done
stop_server
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" || true
forget "$REDIS_PID"
R_PING=$(median <"$TMP/redis_ping");  O_PING=$(median <"$TMP/ours_ping")
R_PINGP=$(median <"$TMP/redis_pingP"); O_PINGP=$(median <"$TMP/ours_pingP")
O_HASH=$(median <"$TMP/ours_hash")
RATIO_PING=$(calc '%.2f' "$O_PING / $R_PING")
RATIO_PINGP=$(calc '%.2f' "$O_PINGP / $R_PINGP")
RATIO_HASH=$(calc '%.2f' "$O_HASH / $R_PING")

# ---- 5. pool micro-benchmark ---------------------------------------------------------------

log "pool_bench ${POOL_BENCH_ARGS[*]}"
run_logged "$BIN/bench/pool_bench" "${POOL_BENCH_ARGS[@]}" >"$TMP/pool_bench.md" 2>"$TMP/pool_bench.err" || {
  cat "$TMP/pool_bench.err" >&2
  die "pool_bench failed"
}
pb() { grep -o " $1=[0-9.]*" "$TMP/pool_bench.md" | cut -d= -f2; }

# ---- plots ---------------------------------------------------------------------------------

log "plots"
for wl in "${WORKLOADS[@]}"; do
  dat="$ASSETS/$wl.dat"
  {
    echo "# clients rps_w1 p99_w1 rps_w2 p99_w2 rps_w4 p99_w4 (from sweep.tsv)"
    for c in "${CLIENTS[@]}"; do
      line="$c"
      for w in "${WORKERS[@]}"; do
        line+=" $(awk -F'\t' -v wl="$wl" -v w="$w" -v c="$c" \
          '$1 == wl && $2 == w && $3 == c { print $4, $6 }' "$DATA")"
      done
      echo "$line"
    done
  } >"$dat"
  gnuplot <<EOF
set terminal pngcairo noenhanced size 800,480 font ",10"
set key top left
set logscale x
set xtics (1, 10, 50)
set xrange [0.8:65]
set xlabel "clients (no pipelining)"
set grid
set output "$ASSETS/$wl-throughput.png"
set title "${TITLE[$wl]}: throughput"
set ylabel "requests/s"
set yrange [0:*]
plot "$dat" using 1:2 with linespoints lw 2 title "1 worker", \
     "$dat" using 1:4 with linespoints lw 2 title "2 workers", \
     "$dat" using 1:6 with linespoints lw 2 title "4 workers"
set output "$ASSETS/$wl-p99.png"
set title "${TITLE[$wl]}: p99 latency"
set ylabel "p99 latency (us)"
set logscale y
set yrange [*:*]
plot "$dat" using 1:3 with linespoints lw 2 title "1 worker", \
     "$dat" using 1:5 with linespoints lw 2 title "2 workers", \
     "$dat" using 1:7 with linespoints lw 2 title "4 workers"
EOF
done
cat >"$ASSETS/redis.dat" <<EOF
"redis PING" $R_PING
"ours PING" $O_PING
"redis PING -P16" $R_PINGP
"ours PING -P16" $O_PINGP
"ours HASH 64B" $O_HASH
EOF
gnuplot <<EOF
set terminal pngcairo noenhanced size 800,480 font ",10"
set output "$ASSETS/redis.png"
set title "redis-benchmark -c 50: redis-server vs pool_server --workers 2 (median of $REDIS_REPS)"
set ylabel "requests/s"
set style fill solid 0.7 border -1
set boxwidth 0.6
set yrange [0:*]
set xrange [-0.6:4.6]
set grid ytics
unset key
plot "$ASSETS/redis.dat" using 0:2:xtic(1) with boxes, \
     "$ASSETS/redis.dat" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.8
EOF

# ---- report ----------------------------------------------------------------------------------

T_END=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
MACHINE_CPU=$(awk -F'\t' 'NR > 1 { print $10 }' "$RAW" | median)
ELAPSED=$((T_END - T_START))
REL=$NAME   # assets directory, relative to the report
{
  echo "# pool_server benchmark, $DATE on $HOST${SUFFIX:+ (quick mode)}"
  echo
  echo "Produced by \`$INVOCATION\` in ${ELAPSED} s. Every figure below was measured in that run."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| commit | \`$COMMIT\` |"
  echo "| date | $(date '+%F %T %Z') |"
  echo "| machine | $NPROC CPUs, $CPU_MODEL, $MEM_GIB GiB RAM, Linux $KERNEL |"
  echo "| redis | redis-server / redis-benchmark $REDIS_VERSION |"
  echo "| load average (1, 5, 15 min) | $LOAD_START at the start, $LOAD_END at the end; median machine CPU during the sweep $MACHINE_CPU% of $((NPROC * 100))% (other work on the machine shows up as noise here) |"
  echo "| sweep | stress_test --duration $DUR per run, no pipelining, $SWEEP_REPS run(s) per point (whole sweep repeated); pool_server --queue-capacity 1024 |"
  echo
  echo "## Headline"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| hand-off overhead: p50(HASH a) - p50(PING), 1 client, 2 workers | $HANDOFF_US us ($HASH1_P50 - $PING_P50, medians of $HANDOFF_REPS) |"
  echo "| PRIMES $PRIMES_N scaling, 2 workers / 1 worker, 10 clients | ${SCALE}x (medians of $HANDOFF_REPS alternated runs; target >= 1.8x) |"
  echo "| redis-benchmark PING -c 50: pool_server / redis-server | ${RATIO_PING}x (target >= 0.9x) |"
  echo "| redis-benchmark PING -c 50 -P 16: pool_server / redis-server | ${RATIO_PINGP}x |"
  echo "| redis-benchmark HASH 64 B -c 50 (pool_server) / redis-server PING | ${RATIO_HASH}x |"
  echo "| pool micro-benchmark, ours / best of libuv, GLib (1; 2 workers) | $(pb ratio_w1)x; $(pb ratio_w2)x |"
  echo "| pool round trip p50, ours vs libuv (1 worker; 2 workers) | $(pb rtt50_w1_ours_us) vs $(pb rtt50_w1_libuv_us) us; $(pb rtt50_w2_ours_us) vs $(pb rtt50_w2_libuv_us) us |"
  echo
  echo "## 1. Sweep: workloads x workers x clients"
  echo
  echo "Each figure is the median of the point's $SWEEP_REPS run(s) (each column on its own; busy"
  echo "replies summed). Throughput and latency from stress_test (send to reply line,"
  echo "log-linear histogram)."
  echo "Lock share = delta lock_wait_us / delta worker_us (STATS before and after the point):"
  echo "the share of worker wall time spent blocked on the queue lock (any thread's wait"
  echo "counts, the loop's included). Server CPU = delta utime+stime of the server process"
  echo "over the point's wall time; 100% = one core of $NPROC. Machine CPU = all busy time"
  echo "of the machine (/proc/stat) over the same interval, out of $((NPROC * 100))%: server +"
  echo "stress_test + anything else running; when it is near $((NPROC * 100))% and well above"
  echo "server CPU plus one core for the load generator, other work was competing."
  for wl in "${WORKLOADS[@]}"; do
    echo
    echo "### ${TITLE[$wl]}"
    echo
    echo "| workers | clients | requests/s | p50 (us) | p99 (us) | lock share | server CPU | machine CPU | busy replies |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v wl="$wl" '$1 == wl { printf "| %s | %s | %.0f | %s | %s | %s%% | %s%% | %s%% | %s |\n",
      $2, $3, $4, $5, $6, $7, $8, $9, $11 }' "$DATA"
    echo
    echo "![${TITLE[$wl]} throughput]($REL/$wl-throughput.png) ![${TITLE[$wl]} p99]($REL/$wl-p99.png)"
  done
  echo
  echo "## 2. Hand-off overhead"
  echo
  echo "One client, pool_server --workers 2, PING and \`HASH a\` alternated, $HANDOFF_REPS runs of"
  echo "${DUR} s each. PING is answered on the loop; HASH goes loop -> pool -> done list +"
  echo "eventfd -> loop. p50 PING = $PING_P50 us, p50 HASH a = $HASH1_P50 us (medians): the"
  echo "hand-off (plus one SHA-256 of 1 byte, well under a microsecond) costs **$HANDOFF_US us**."
  echo "Machine CPU during these runs: $HANDOFF_MCPU% of $((NPROC * 100))%."
  echo
  echo "## 3. Scaling"
  echo
  echo "PRIMES $PRIMES_N at 10 clients against two servers, --workers 1 and --workers 2,"
  echo "alternated, $HANDOFF_REPS runs of ${DUR} s each, medians: $SCALE_RPS1 vs $SCALE_RPS2 requests/s,"
  echo "**${SCALE}x** (target >= 1.8x on 2 cores). From the sweep's single points: ${SCALE10}x at"
  echo "10 clients, ${SCALE50}x at 50 clients. The event loop and stress_test run on the same"
  echo "$NPROC cores as the workers and take part of the second core. Machine CPU during"
  echo "these runs: $SCALE_MCPU% of $((NPROC * 100))% (whatever the benchmark did not use was other work)."
  echo
  echo "## 4. Side by side with redis-server"
  echo
  echo "redis-benchmark -c 50 --csv, median of $REDIS_REPS alternated repetitions; redis-server"
  echo "$REDIS_VERSION (\`--save '' --appendonly no\`) vs pool_server --workers 2. PING runs"
  echo "as \`-t ping_mbulk\` (RESP multi-bulk): pool_server takes redis-benchmark's"
  echo "PING_INLINE (a bare \`PING\` line) for its text protocol and answers"
  echo "\`result: PONG\`, which redis-benchmark rejects."
  echo
  echo "| run | requests/s | ratio to redis-server (same flags) |"
  echo "|---|---:|---:|"
  echo "| redis-server PING (-n $REDIS_N) | $R_PING | 1.00x |"
  echo "| pool_server PING (-n $REDIS_N) | $O_PING | ${RATIO_PING}x |"
  echo "| redis-server PING -P 16 (-n $REDIS_NP) | $R_PINGP | 1.00x |"
  echo "| pool_server PING -P 16 (-n $REDIS_NP) | $O_PINGP | ${RATIO_PINGP}x |"
  echo "| pool_server HASH 64 B (-n $REDIS_N) | $O_HASH | ${RATIO_HASH}x (of redis PING) |"
  echo
  echo "![redis side by side]($REL/redis.png)"
  echo
  echo "## 5. Pool micro-benchmark (bench/pool_bench)"
  echo
  cat "$TMP/pool_bench.md"
  echo
  echo "## Commands"
  echo
  echo "\`$INVOCATION\` ran these commands, each distinct one listed once, in order of first"
  echo "use (\$ARG64 = \`0123456789abcdef\` x 4, \$ARG4K = the same 16 bytes x 256; \$PORT = the"
  echo "port of the server in question; binaries under \`$BIN\`). Around each"
  echo "sweep run the script also sends \`STATS\` (bash /dev/tcp) and reads"
  echo "\`/proc/<server pid>/stat\`."
  echo
  echo '```'
  awk '!seen[$0]++' "$TMP/commands.txt"
  echo '```'
  echo
  echo "Raw data: [$REL/sweep-raw.tsv]($REL/sweep-raw.tsv) (every run), [$REL/sweep.tsv]($REL/sweep.tsv) (medians)."
} >"$REPORT"

# A full run refreshes the headline block of bench/README.md.
if [ "$QUICK" = 0 ] && [ -f bench/README.md ] && grep -q '<!-- headline:begin -->' bench/README.md; then
  {
    echo "<!-- headline:begin -->"
    echo "Latest full run: [results/$NAME.md](results/$NAME.md) (commit \`$COMMIT\`, $NPROC x $CPU_MODEL, ${ELAPSED} s;"
    echo "load average $LOAD_START at the start, $LOAD_END at the end, median machine CPU"
    echo "during the sweep $MACHINE_CPU% of $((NPROC * 100))%)."
    echo
    sed -n '/^## Headline$/,/^## 1\./p' "$REPORT" | sed '1,2d;$d' | sed '$d'
    echo "<!-- headline:end -->"
  } >"$TMP/headline.md"
  awk -v f="$TMP/headline.md" '
    /<!-- headline:begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- headline:end -->/ { skip = 0; next }
    !skip { print }' bench/README.md >"$TMP/README.md"
  cat "$TMP/README.md" >bench/README.md
fi

log "done in ${ELAPSED} s: $REPORT"
