#!/usr/bin/env bash
# demo/run.sh: a narrated, self-checking tour of pool_server.
#
# Builds //server:pool_server and //tests/harness:harness_test, then shows
# every capability in turn, printing each command as it runs (with the real
# port) and what it printed, and checking that output against values it
# computes itself (sha256sum, a small prime counter, the request list):
#
#    1 build                 7 overload -> "ERROR: server busy"
#    2 N workers, N threads  8 task timeout -> "ERROR: timeout"
#    3 a good request        9 STATS
#    4 a bad request        10 the elastic pool growing and shrinking
#    5 a pipelined burst    11 redis-cli speaking RESP to it
#    6 the 30-client harness 12 SIGTERM: clean exit 0 within 2 s
#
# Each step ends in PASS or FAIL; the last line is "demo: N passed, N failed"
# and the exit status is 0 only if every step passed. Runs unattended (no
# input, no colours unless stdout is a terminal or NO_COLOR is set) in well
# under two minutes once built. A trap stops every server and client it
# started, on any exit.
#
# Usage (from anywhere; CI runs it from the repo root as ci/test.sh demo):
#   demo/run.sh
# Environment:
#   BAZEL              the bazel command, startup options included
#                      (default "bazel"; e.g. "bazel --output_base=/tmp/x")
#   BAZEL_BUILD_FLAGS  extra flags for "bazel build" (default none; e.g.
#                      "--symlink_prefix=/" to leave the bazel-* links alone)
#   NO_COLOR           set to anything to turn colours off
# Needs: bash 5, nc (netcat-openbsd), redis-cli (redis-tools), sha256sum,
# ps, timeout.
set -euo pipefail

cd "$(dirname "$0")/.."

BAZEL="${BAZEL:-bazel}"
BAZEL_BUILD_FLAGS="${BAZEL_BUILD_FLAGS:-}"
read -r -a bazel_cmd <<<"$BAZEL"
read -r -a bazel_build_flags <<<"$BAZEL_BUILD_FLAGS"

MAIN_WORKERS=4      # workers of the server used by steps 2-5, 9, 11, 12
CMD_LIMIT=20        # seconds any one shown command may take before it is killed

if [[ -t 1 && -z ${NO_COLOR:-} && ${TERM:-dumb} != dumb ]]; then
  C_HEAD=$'\e[1;36m' C_CMD=$'\e[1m' C_OK=$'\e[1;32m' C_BAD=$'\e[1;31m' C_DIM=$'\e[2m' C_OFF=$'\e[0m'
else
  C_HEAD='' C_CMD='' C_OK='' C_BAD='' C_DIM='' C_OFF=''
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pool_server_demo.XXXXXX")
SERVERS=()       # pids of servers started and not yet reaped
CLIENTS=()       # pids of background clients
PASSED=0
FAILED=0
STEP_BAD=0       # failed checks in the current step
RESULTS=()       # one "PASS/FAIL  title" line per step
BIN=''           # bazel-bin, absolute
SERVER=''        # the server binary
HARNESS=''       # the harness binary, empty if it did not build
HARNESS_BUILT=0
HARNESS_BUILD_ERR=''
MAIN_PID='' MAIN_PORT='' MAIN_LOG=''
MAIN_POOL_TASKS=0  # requests sent to the main server that go to the pool

# ---- cleanup ---------------------------------------------------------------

alive() { # PID: running (not a zombie)?
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

forget_server() {
  local keep=() p
  for p in "${SERVERS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  SERVERS=("${keep[@]}")
}

# reap PID LIMIT_MS: wait up to LIMIT_MS for PID to exit, SIGKILL it past
# that, then collect its status into REAP_RC. (A dead child stays a zombie
# until waited for, so "alive" polls /proc rather than kill -0.)
reap() {
  local pid=$1 deadline=$(($(now_ms) + $2))
  while alive "$pid" && (($(now_ms) < deadline)); do sleep 0.01; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  if wait "$pid" 2>/dev/null; then REAP_RC=0; else REAP_RC=$?; fi
  forget_server "$pid"
}

cleanup() {
  local p
  for p in "${CLIENTS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SERVERS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    reap "$p" 3000 || true
  done
  for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- narration -------------------------------------------------------------

now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }

say() { printf '%s\n' "$*"; }

# The path as a watcher would type it: bazel-bin/... when that link is ours.
disp() {
  local s=$1
  if [[ -n $BIN && -L bazel-bin && $(readlink -f bazel-bin) == "$(readlink -f "$BIN")" ]]; then
    s=${s//"$BIN"/bazel-bin}
  fi
  printf '%s' "$s"
}

show_cmd() { printf '%s$ %s%s\n' "$C_CMD" "$(disp "$1")" "$C_OFF"; }

show_out() { [[ -z $1 ]] || printf '%s\n' "$1"; }

# run CMD [LIMIT]: show CMD, run it with bash (pipefail, killed after LIMIT
# seconds), show its output. Sets OUT (stdout+stderr), RC and ELAPSED_MS.
run() {
  local cmd=$1 limit=${2:-$CMD_LIMIT} t0
  show_cmd "$cmd"
  t0=$(now_ms)
  if OUT=$(timeout -k 2 "$limit" bash -c "set -o pipefail; $cmd" 2>&1); then RC=0; else RC=$?; fi
  ELAPSED_MS=$(($(now_ms) - t0))
  show_out "$OUT"
  if ((RC == 124 || RC == 137)); then say "${C_BAD}(killed after ${limit} s)${C_OFF}"; fi
}

# Quiet request to a server (used by polls, not shown): REQ PORT -> stdout.
ask() { printf '%s\n' "$1" | timeout 5 nc -N 127.0.0.1 "$2" 2>/dev/null; }

ok() { printf '  %scheck%s %s: ok\n' "$C_OK" "$C_OFF" "$1"; }
bad() {
  printf '  %sCHECK FAILED%s %s%s\n' "$C_BAD" "$C_OFF" "$1" "${2:+: $2}"
  STEP_BAD=$((STEP_BAD + 1))
}
expect_eq() { # DESC GOT WANT
  if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi
}
expect_re() { # DESC GOT REGEX
  if [[ $2 =~ $3 ]]; then ok "$1"; else bad "$1" "got '$2', want a match for /$3/"; fi
}
expect() { # DESC COMMAND...
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else bad "$desc"; fi
}

# ---- servers -----------------------------------------------------------------

# start_server NAME ARGS...: start the server on a free port, wait (up to 5 s)
# for its "listening on" line. Sets SRV_PID, SRV_PORT, SRV_LOG.
start_server() {
  local name=$1 deadline line
  shift
  SRV_LOG="$WORK/$name.log"
  SRV_PID='' SRV_PORT=''
  show_cmd "$SERVER --port 0 $* 2>$SRV_LOG &"
  "$SERVER" --port 0 "$@" </dev/null 2>"$SRV_LOG" &
  SRV_PID=$!
  SERVERS+=("$SRV_PID")
  deadline=$(($(now_ms) + 5000))
  while :; do
    line=$(grep -m1 'listening on ' "$SRV_LOG" 2>/dev/null || true)
    if [[ $line =~ listening\ on\ [^\ ]*:([0-9]+) ]]; then
      SRV_PORT=${BASH_REMATCH[1]}
      break
    fi
    if ! alive "$SRV_PID" || (($(now_ms) > deadline)); then
      bad "server started" "no 'listening on' line in 5 s; its log:"
      sed 's/^/    | /' "$SRV_LOG"
      return 1
    fi
    sleep 0.02
  done
  say "${C_DIM}(pid $SRV_PID, its log says:)${C_OFF}"
  printf '%s\n' "$line"
}

# stop_server PID [LIMIT_MS]: SIGTERM, wait for the exit (SIGKILL after
# LIMIT_MS + 1 s). Sets STOP_RC and STOP_MS.
stop_server() {
  local pid=$1 limit=${2:-2000} t0
  show_cmd "kill -TERM $pid"
  t0=$(now_ms)
  kill -TERM "$pid" 2>/dev/null || true
  reap "$pid" $((limit + 1000))
  STOP_RC=$REAP_RC
  STOP_MS=$(($(now_ms) - t0))
  say "${C_DIM}(exited with status $STOP_RC after $STOP_MS ms)${C_OFF}"
}

stop_quietly_checked() { # PID: stop a step's own server, check it exits 0 in 2 s
  stop_server "$1"
  if ((STOP_RC == 0 && STOP_MS < 2000)); then
    ok "server exited 0 on SIGTERM"
  else
    bad "server exited 0 on SIGTERM within 2 s" "status $STOP_RC after $STOP_MS ms"
  fi
}

task_count() { # PID -> number of threads, from /proc/PID/task
  local t=("/proc/$1/task/"*)
  [[ -e ${t[0]} ]] && echo "${#t[@]}" || echo 0
}

# poll_tasks PID WANT DEADLINE_MS T0: sample the thread count every 20 ms,
# print each change with its time since T0, until it equals WANT or the
# deadline passes. Returns 0 if reached.
poll_tasks() {
  local pid=$1 want=$2 deadline=$(($(now_ms) + $3)) t0=$4 n last=-1
  while :; do
    n=$(task_count "$pid")
    if ((n != last)); then
      printf '  t=+%5d ms  threads=%s\n' $(($(now_ms) - t0)) "$n"
      last=$n
    fi
    ((n == want)) && return 0
    (($(now_ms) > deadline)) && return 1
    sleep 0.02
  done
}

stat_field() { # STATS_LINE FIELD -> value
  [[ $1 =~ (^|[ :])$2=([0-9]+) ]] && echo "${BASH_REMATCH[2]}"
}

count_primes() { # N -> number of primes <= N (trial division; small N only)
  local n=$1 k d c=0 prime
  for ((k = 2; k <= n; k++)); do
    prime=1
    for ((d = 2; d * d <= k; d++)); do
      if ((k % d == 0)); then prime=0; break; fi
    done
    c=$((c + prime))
  done
  echo "$c"
}

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# ---- steps -------------------------------------------------------------------

step_build() {
  say "Build the server and the 30-client test harness (Bazel, offline)."
  local log="$WORK/build.log" t bflags
  bflags=(--color=no --curses=no --noshow_progress "${bazel_build_flags[@]}")
  for t in //server:pool_server //tests/harness:harness_test; do
    show_cmd "$BAZEL build ${bflags[*]} $t"
    if "${bazel_cmd[@]}" build "${bflags[@]}" "$t" >"$log" 2>&1; then
      grep -E '^(INFO: (Found|Build completed|Elapsed))' "$log" || true
      if [[ $t == //server:* ]]; then ok "$t built"; else HARNESS_BUILT=1; fi
    else
      grep -E '^(ERROR|FAILED)|error:' "$log" | head -n 20 || true
      if [[ $t == //server:* ]]; then
        bad "$t built" "bazel build failed (above)"
        return 1
      fi
      HARNESS_BUILD_ERR=$(grep -E '^ERROR|error:' "$log" | head -n 1 || true)
      say "${C_BAD}NOTE: $t did not build; step 6 (harness) will fail.${C_OFF}"
    fi
  done
  BIN=$("${bazel_cmd[@]}" info "${bazel_build_flags[@]}" bazel-bin 2>>"$log")
  SERVER="$BIN/server/pool_server"
  expect "server binary is at $(disp "$SERVER")" test -x "$SERVER"
  if ((HARNESS_BUILT)) && [[ -x $BIN/tests/harness/harness_test ]]; then
    HARNESS="$BIN/tests/harness/harness_test"
  fi
}

step_start() {
  say "Start a server with a fixed pool of $MAIN_WORKERS workers on a free port (--port 0)."
  say "Expect $MAIN_WORKERS worker threads plus the main (event loop) thread."
  start_server main --workers "$MAIN_WORKERS" || return 1
  MAIN_PID=$SRV_PID MAIN_PORT=$SRV_PORT MAIN_LOG=$SRV_LOG
  # Workers may still be starting when the port is announced: poll briefly.
  local deadline=$(($(now_ms) + 2000))
  while (($(task_count "$MAIN_PID") != MAIN_WORKERS + 1 && $(now_ms) < deadline)); do sleep 0.02; done
  run "ps -T -p $MAIN_PID"
  local nworkers
  nworkers=$(grep -c ' worker-[0-9]' <<<"$OUT" || true)
  expect_eq "ps shows $MAIN_WORKERS worker threads" "$nworkers" "$MAIN_WORKERS"
  run "ls /proc/$MAIN_PID/task | wc -l"
  expect_eq "thread count = $MAIN_WORKERS workers + 1 main" "$(tr -d ' ' <<<"$OUT")" "$((MAIN_WORKERS + 1))"
}

step_good() {
  say "A good request: HASH hashes the rest of the line with SHA-256."
  say "(nc -q1 waits 1 s after its input ends, as the spec writes it.)"
  run "echo \"HASH good data\" | nc -q1 127.0.0.1 $MAIN_PORT"
  local got=$OUT
  MAIN_POOL_TASKS=$((MAIN_POOL_TASKS + 1))
  run "printf 'good data' | sha256sum"
  local want=${OUT%% *}
  expect_eq "reply is 'result: ' + sha256sum of 'good data'" "$got" "result: $want"
}

step_bad() {
  say "A bad request gets an error line, and the connection stays usable."
  say "(From here on nc -N: it shuts the socket down at end of input, so it"
  say " returns as soon as the server has answered every line.)"
  run "echo bad | nc -N 127.0.0.1 $MAIN_PORT"
  expect_re "reply is 'ERROR: invalid input: ...'" "$OUT" '^ERROR: invalid input: .+$'
  run "printf 'bad\nPING\n' | nc -N 127.0.0.1 $MAIN_PORT"
  expect_re "the next request on the same connection is still answered" "$OUT" \
    $'^ERROR: invalid input: [^\n]+\nresult: PONG$'
}

step_burst() {
  say "A pipelined burst: 24 requests written at once on one connection."
  say "SLEEPs (longest first), HASH and PRIMES run concurrently on $MAIN_WORKERS workers and"
  say "finish out of order; ECHO is answered by the event loop at once. The"
  say "replies must still come back one per line, in request order."
  local reqs=() want=() i ms n
  for ((i = 1; i <= 24; i++)); do
    case $((i % 4)) in
      1) ms=$(((25 - i) * 10)); reqs+=("SLEEP $ms"); want+=("result: slept $ms") ;;
      2) reqs+=("HASH burst-$i"); want+=("result: $(sha "burst-$i")") ;;
      3) reqs+=("ECHO burst-$i"); want+=("result: burst-$i") ;;
      0) n=$((i * 20)); reqs+=("PRIMES $n"); want+=("result: $(count_primes "$n")") ;;
    esac
    ((i % 4 == 3)) || MAIN_POOL_TASKS=$((MAIN_POOL_TASKS + 1))
  done
  local cmd="printf '%s\n'" r
  for r in "${reqs[@]}"; do cmd+=" '$r'"; done
  run "$cmd | nc -N 127.0.0.1 $MAIN_PORT"
  local lines=() wanted
  mapfile -t lines <<<"$OUT"
  expect_eq "24 replies" "${#lines[@]}" 24
  wanted=$(printf '%s\n' "${want[@]}")
  if [[ $OUT == "$wanted" ]]; then
    ok "every reply matches its request, in order (expected values computed locally)"
  else
    bad "replies in request order" "diff (expected vs got):"
    diff <(printf '%s\n' "$wanted") <(printf '%s\n' "$OUT") | sed 's/^/    /' || true
  fi
  say "${C_DIM}(SLEEP 240, the slowest, was sent first and is answered first: each reply"
  say " waits for the ones before it, while later work already runs on other workers)${C_OFF}"
}

step_harness() {
  say "The 30-client regression harness: it starts its own server, runs 30"
  say "concurrent scripted clients (pipelined bursts, bad input on purpose),"
  say "checks every reply, then requires a clean SIGTERM exit."
  if [[ -z $HARNESS ]]; then
    show_cmd "bazel-bin/tests/harness/harness_test $SERVER"
    bad "harness_test was built" "bazel build //tests/harness:harness_test failed${HARNESS_BUILD_ERR:+: $HARNESS_BUILD_ERR}"
    return 1
  fi
  local err="$WORK/harness.stderr"
  show_cmd "$HARNESS $SERVER"
  if OUT=$(timeout -k 2 60 "$HARNESS" "$SERVER" 2>"$err"); then RC=0; else RC=$?; fi
  show_out "$OUT"
  expect_eq "harness exit status" "$RC" 0
  expect_re "harness says PASS (30/30 clients)" "$OUT" '(^|'$'\n'')PASS \(30/30 clients\)'
  if ((STEP_BAD)); then
    say "harness stderr (last 30 lines):"
    tail -n 30 "$err" | sed 's/^/    | /'
  fi
}

step_overload() {
  say "Overload: 1 worker and a queue of 2. A burst of 8 SLEEP 300 fills the"
  say "worker and the queue; the rest are refused at once with 'server busy'."
  start_server overload --workers 1 --queue-capacity 2 || return 1
  local pid=$SRV_PID port=$SRV_PORT
  run "for i in \$(seq 8); do echo \"SLEEP 300\"; done | nc -N 127.0.0.1 $port"
  local slept busy total
  total=$(grep -c '' <<<"$OUT" || true)
  slept=$(grep -cx 'result: slept 300' <<<"$OUT" || true)
  busy=$(grep -cx 'ERROR: server busy' <<<"$OUT" || true)
  expect_eq "8 replies, each 'slept 300' or 'server busy'" "$total/$((slept + busy))" "8/8"
  expect "some refused with 'ERROR: server busy' ($busy)" test "$busy" -ge 1
  expect "the accepted ones ran ($slept, at most 1 running + 2 queued)" test "$slept" -ge 1 -a "$slept" -le 3
  run "echo STATS | nc -N 127.0.0.1 $port"
  expect_eq "STATS counts them as rejected" "$(stat_field "$OUT" rejected)" "$busy"
  stop_quietly_checked "$pid"
}

step_timeout() {
  say "Task timeout: with --task-timeout-ms 200 a SLEEP 5000 is answered"
  say "'ERROR: timeout' after about 200 ms, and its worker is told to stop."
  start_server timeout --workers 2 --task-timeout-ms 200 || return 1
  local pid=$SRV_PID port=$SRV_PORT
  run "echo \"SLEEP 5000\" | nc -N 127.0.0.1 $port"
  expect_eq "reply" "$OUT" "ERROR: timeout"
  expect "answered in under 1 s, not 5 (took $ELAPSED_MS ms)" test "$ELAPSED_MS" -lt 1000
  # The cancelled sleep should let its worker go; poll STATS for it.
  local deadline=$(($(now_ms) + 2000)) s
  while :; do
    s=$(ask STATS "$port" || true)
    [[ $(stat_field "$s" busy_workers) == 0 ]] && break
    (($(now_ms) > deadline)) && break
    sleep 0.05
  done
  run "echo STATS | nc -N 127.0.0.1 $port"
  expect_eq "STATS timeouts" "$(stat_field "$OUT" timeouts)" 1
  expect_eq "STATS busy_workers (the worker was freed)" "$(stat_field "$OUT" busy_workers)" 0
  stop_quietly_checked "$pid"
}

step_stats() {
  say "STATS on the first server: pool size and load, and request counters."
  run "echo STATS | nc -N 127.0.0.1 $MAIN_PORT"
  expect_re "reply is 'result: key=value ...'" "$OUT" '^result: [a-z_]+=[0-9]+( [a-z_]+=[0-9]+)*$'
  local k missing=''
  for k in workers busy_workers queue_depth queue_capacity submitted completed errors rejected timeouts connections; do
    [[ -n $(stat_field "$OUT" "$k") ]] || missing+=" $k"
  done
  expect_eq "fields present (workers busy_workers queue_depth queue_capacity submitted ...)" "${missing:-none missing}" "none missing"
  expect_eq "workers" "$(stat_field "$OUT" workers)" "$MAIN_WORKERS"
  expect_eq "busy_workers (idle now)" "$(stat_field "$OUT" busy_workers)" 0
  expect_eq "queue_depth (idle now)" "$(stat_field "$OUT" queue_depth)" 0
  expect_eq "submitted = the pool requests this demo sent it (HASH, SLEEP, PRIMES)" \
    "$(stat_field "$OUT" submitted)" "$MAIN_POOL_TASKS"
  expect_eq "completed = submitted" "$(stat_field "$OUT" completed)" "$MAIN_POOL_TASKS"
  expect_eq "connections (just this one)" "$(stat_field "$OUT" connections)" 1
}

step_elastic() {
  say "The elastic pool: --min-workers 2 --max-workers 8 --idle-ms 300."
  say "Idle it has 3 threads (main + 2 workers). 8 concurrent SLEEP 1000 clients"
  say "grow it to 9; 300 ms after they finish it shrinks back to 3."
  start_server elastic --min-workers 2 --max-workers 8 --idle-ms 300 || return 1
  local pid=$SRV_PID port=$SRV_PORT t0 i
  say "Thread count (/proc/$pid/task), sampled every 20 ms:"
  t0=$(now_ms)
  if poll_tasks "$pid" 3 2000 "$t0"; then ok "idle: 3 threads"; else bad "idle: 3 threads"; fi
  show_cmd "for i in \$(seq 8); do echo \"SLEEP 1000\" | nc -N 127.0.0.1 $port & done"
  local outs=()
  for ((i = 1; i <= 8; i++)); do
    outs+=("$WORK/elastic.$i.out")
    timeout -k 1 10 bash -c "echo 'SLEEP 1000' | nc -N 127.0.0.1 $port" >"$WORK/elastic.$i.out" 2>&1 &
    CLIENTS+=("$!")
  done
  t0=$(now_ms)
  if poll_tasks "$pid" 9 2000 "$t0"; then ok "grew to 9 threads (8 workers + main)"; else bad "grew to 9 threads within 2 s"; fi
  local p
  for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null || true; done
  CLIENTS=()
  say "${C_DIM}(all 8 clients answered after $(($(now_ms) - t0)) ms)${C_OFF}"
  local good
  good=$(cat "${outs[@]}" | grep -cx 'result: slept 1000' || true)
  expect_eq "each client got 'result: slept 1000'" "$good" 8
  if poll_tasks "$pid" 3 3000 "$t0"; then ok "shrank back to 3 threads when idle"; else bad "shrank back to 3 threads within 3 s of going idle"; fi
  run "echo STATS | nc -N 127.0.0.1 $port"
  expect_eq "STATS workers" "$(stat_field "$OUT" workers)" 2
  stop_quietly_checked "$pid"
}

step_redis() {
  say "redis-cli talks to the same port: the server also speaks RESP2."
  run "redis-cli -p $MAIN_PORT PING"
  expect_eq "PING" "$OUT" PONG
  run "redis-cli -p $MAIN_PORT HASH abc"
  local got=$OUT
  MAIN_POOL_TASKS=$((MAIN_POOL_TASKS + 1))
  run "printf abc | sha256sum"
  expect_eq "HASH abc = sha256sum of 'abc'" "$got" "${OUT%% *}"
  run "redis-cli -p $MAIN_PORT SLEEP forever"
  expect_re "a bad request is a RESP error" "$OUT" '^(\(error\) )?ERR'
}

step_sigterm() {
  say "Graceful shutdown: SIGTERM while a SLEEP 500 is in flight. The client"
  say "still gets its reply, and the server exits 0 within 2 s."
  local out="$WORK/inflight.out" client s deadline
  show_cmd "echo \"SLEEP 500\" | nc -N 127.0.0.1 $MAIN_PORT &"
  timeout -k 1 10 bash -c "echo 'SLEEP 500' | nc -N 127.0.0.1 $MAIN_PORT" >"$out" 2>&1 &
  client=$!
  CLIENTS+=("$client")
  deadline=$(($(now_ms) + 2000))
  while :; do # wait until the SLEEP is on a worker
    s=$(ask STATS "$MAIN_PORT" || true)
    [[ $(stat_field "$s" busy_workers) == 1 ]] && break
    (($(now_ms) > deadline)) && break
    sleep 0.02
  done
  stop_server "$MAIN_PID"
  wait "$client" 2>/dev/null || true
  CLIENTS=()
  say "client got:"
  cat "$out"
  say "server log:"
  cat "$MAIN_LOG"
  expect_eq "exit status" "$STOP_RC" 0
  expect "exited within 2 s (took $STOP_MS ms)" test "$STOP_MS" -lt 2000
  expect_eq "the in-flight request was answered" "$(cat "$out")" "result: slept 500"
  expect "no server left running" test "${#SERVERS[@]}" -eq 0
}

# ---- main ------------------------------------------------------------------

STEPS=(
  "step_build|build the server and the harness"
  "step_start|start with $MAIN_WORKERS workers; count the threads"
  "step_good|a good request (HASH)"
  "step_bad|a bad request"
  "step_burst|a pipelined burst, answered in order"
  "step_harness|the 30-client harness"
  "step_overload|overload: ERROR: server busy"
  "step_timeout|task timeout: ERROR: timeout"
  "step_stats|STATS"
  "step_elastic|the pool grows and shrinks"
  "step_redis|redis-cli"
  "step_sigterm|SIGTERM: clean exit 0 within 2 s"
)

main_server_up() { [[ -n $MAIN_PORT ]] && alive "$MAIN_PID"; }

main() {
  local t_start i fn title needs_main
  t_start=$(now_ms)
  say "pool_server demo ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), in $(pwd))"
  for ((i = 0; i < ${#STEPS[@]}; i++)); do
    fn=${STEPS[i]%%|*} title=${STEPS[i]#*|}
    printf '\n%s== Step %d/%d: %s ==%s\n' "$C_HEAD" $((i + 1)) ${#STEPS[@]} "$title" "$C_OFF"
    STEP_BAD=0
    needs_main=0
    case $fn in step_good | step_bad | step_burst | step_stats | step_redis | step_sigterm) needs_main=1 ;; esac
    if [[ $fn != step_build && -z $SERVER ]]; then
      bad "not run" "the server did not build"
    elif ((needs_main)) && ! main_server_up; then
      bad "not run" "the server from step 2 is not running"
    elif ! "$fn"; then
      ((STEP_BAD)) || bad "step ran to the end"
    fi
    if ((STEP_BAD == 0)); then
      PASSED=$((PASSED + 1))
      RESULTS+=("${C_OK}PASS${C_OFF}  $((i + 1)). $title")
      printf '%sPASS%s  step %d: %s\n' "$C_OK" "$C_OFF" $((i + 1)) "$title"
    else
      FAILED=$((FAILED + 1))
      RESULTS+=("${C_BAD}FAIL${C_OFF}  $((i + 1)). $title")
      printf '%sFAIL%s  step %d: %s\n' "$C_BAD" "$C_OFF" $((i + 1)) "$title"
    fi
  done
  printf '\n%s== Summary (%d.%d s) ==%s\n' "$C_HEAD" $((($(now_ms) - t_start) / 1000)) \
    $((($(now_ms) - t_start) % 1000 / 100)) "$C_OFF"
  printf '%s\n' "${RESULTS[@]}"
  printf 'demo: %d passed, %d failed\n' "$PASSED" "$FAILED"
  ((FAILED == 0))
}

main "$@"
