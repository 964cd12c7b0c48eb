#!/usr/bin/env bash
# demo/run.sh: a narrated tour of pool_server, for someone watching a terminal.
#
# Builds the server and the 30-client harness once (Bazel), starts one server
# and talks to it: its threads (ps -T), a good and a bad request (nc), a
# pipelined burst, redis-cli, STATS, /metrics, the harness, then SIGTERM.
# Every command is printed as it runs, with the real port. A few cheap checks
# (HASH equals sha256sum, the burst comes back in order, the harness passes,
# exit status 0) make CI (ci/test.sh demo) fail if the tour breaks; proving
# overload, timeouts, the elastic pool and shutdown timing is the job of
# tests/server_it, which the tour names at the end. Last line: "demo: N
# passed, N failed"; exit status 0 only if none failed. A trap stops the
# server on any exit.
#
# Usage: demo/run.sh (from anywhere)
# Environment:
#   BAZEL              the bazel command, startup options included (default
#                      "bazel"; e.g. "bazel --output_base=/tmp/x")
#   BAZEL_BUILD_FLAGS  extra flags for "bazel build" (e.g. "--symlink_prefix=/")
#   NO_COLOR           set: no colours (they are used only on a terminal)
# Needs: bash, nc (netcat-openbsd), redis-cli (redis-tools), ps, sha256sum,
# timeout; curl if installed (else /metrics is fetched with nc).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a bazel <<<"${BAZEL:-bazel}"
read -r -a build_flags <<<"${BAZEL_BUILD_FLAGS:-}"
if [[ -t 1 && -z ${NO_COLOR:-} && ${TERM:-dumb} != dumb ]]; then
  C_HEAD=$'\e[1;36m' C_CMD=$'\e[1m' C_OK=$'\e[32m' C_BAD=$'\e[1;31m' C_OFF=$'\e[0m'
else
  C_HEAD='' C_CMD='' C_OK='' C_BAD='' C_OFF=''
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pool_server_demo.XXXXXX")
PID=''      # the server, until reaped
BIN='' SHOWN_BIN=''
PASSED=0 FAILED=0
START=$SECONDS

alive() { # PID running, not a zombie? (kill -0 succeeds on a zombie)
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [[ ${st:0:1} != Z ]]
}

# stop: SIGTERM the server, wait for it (SIGKILL after 5 s: a safety net,
# not a check), set RC to its exit status.
stop() {
  local i
  kill -TERM "$PID" 2>/dev/null || true
  for ((i = 0; i < 500; i++)); do alive "$PID" || break; sleep 0.01; done
  alive "$PID" && kill -KILL "$PID" 2>/dev/null
  if wait "$PID" 2>/dev/null; then RC=0; else RC=$?; fi
  PID=''
}

# shellcheck disable=SC2317 # run by the trap
cleanup() {
  [[ -z $PID ]] || stop
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "$@"; }
section() { printf '\n%s== %s ==%s\n' "$C_HEAD" "$1" "$C_OFF"; }
show() { # CMD: print it as a watcher would type it
  local s=$1
  [[ -z $BIN ]] || s=${s//"$BIN"/$SHOWN_BIN}
  printf '%s$ %s%s\n' "$C_CMD" "$s" "$C_OFF"
}
# run CMD: show it, run it (killed after 30 s), show its output; sets OUT
# (stdout and stderr) and RC.
run() {
  show "$1"
  if OUT=$(timeout -k 2 30 bash -c "set -o pipefail; $1" 2>&1); then RC=0; else RC=$?; fi
  [[ -z $OUT ]] || printf '%s\n' "$OUT"
}
pass() { PASSED=$((PASSED + 1)); printf '  %sok%s    %s\n' "$C_OK" "$C_OFF" "$1"; }
fail() { FAILED=$((FAILED + 1)); printf '  %sFAIL%s  %s\n' "$C_BAD" "$C_OFF" "$1"; }
check() { # DESC COMMAND...: passes if COMMAND succeeds
  local d=$1
  shift
  if "$@"; then pass "$d"; else fail "$d"; fi
}
eq() { # DESC GOT WANT (lines shown joined by " | ")
  if [[ $2 == "$3" ]]; then pass "$1"; return; fi
  fail "$1"
  say "        got:  ${2//$'\n'/ | }" "        want: ${3//$'\n'/ | }"
}
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
finish() {
  printf '\n(%d s)\ndemo: %d passed, %d failed\n' $((SECONDS - START)) "$PASSED" "$FAILED"
  exit $((FAILED > 0))
}

say "pool_server: an epoll event loop on the main thread does all socket IO;" \
  "HASH, PRIMES and SLEEP run on a bounded pool of worker threads."

section "Build (Bazel, offline; quick once built)"
flags=(--color=no --curses=no --noshow_progress "${build_flags[@]}")
targets=(//server:pool_server //tests/harness:harness_test)
show "${bazel[*]} build ${flags[*]} ${targets[*]}"
if "${bazel[@]}" build "${flags[@]}" "${targets[@]}" >"$WORK/build.log" 2>&1; then
  grep -E '^INFO: (Elapsed|Build completed)' "$WORK/build.log" || true
  BIN=$("${bazel[@]}" info "${build_flags[@]}" bazel-bin 2>/dev/null) || true
fi
SERVER=$BIN/server/pool_server
if [[ -z $BIN || ! -x $SERVER ]]; then
  tail -n 20 "$WORK/build.log"
  fail "the build"
  finish
fi
SHOWN_BIN=$BIN # shown as bazel-bin/... when that link is ours
[[ -L bazel-bin && $(readlink -f bazel-bin) == "$(readlink -f "$BIN")" ]] && SHOWN_BIN='bazel-bin'

section "Start one server"
say "--port 0 takes a free port, which --port-file writes down once listening;" \
  "4 workers; SLEEP gets a lane of its own, at most 1 worker, so sleeps never" \
  "hold up HASH or PRIMES; --metrics-port 0 serves Prometheus /metrics on" \
  "another free port (the log names it)."
args=(--port 0 --port-file "$WORK/port" --workers 4 --lane slow=SLEEP:1 --metrics-port 0)
show "$SERVER ${args[*]} 2>$WORK/server.log &"
"$SERVER" "${args[@]}" </dev/null 2>"$WORK/server.log" &
PID=$!
for ((i = 0; i < 500; i++)); do
  [[ -s $WORK/port ]] && grep -q 'metrics on http://' "$WORK/server.log" && break
  alive "$PID" || break
  sleep 0.01
done
if [[ ! -s $WORK/port ]]; then
  cat "$WORK/server.log"
  fail "the server started"
  finish
fi
PORT=$(<"$WORK/port")
METRICS=$(grep -o 'metrics on http://[^ ]*' "$WORK/server.log" | sed 's/^metrics on //') || true
run "cat $WORK/port"
run "cat $WORK/server.log"

section "Threads: the event loop (main) and 4 workers"
run "ps -T -p $PID"
eq "ps -T: a header and 5 threads" "$(grep -c '' <<<"$OUT")" 6

section "One request per line, one reply line"
say "(nc -q1 quits 1 s after its input ends, as the spec's checks write it.)"
run "echo \"HASH good data\" | nc -q1 127.0.0.1 $PORT"
got=$OUT
run "printf 'good data' | sha256sum"
eq "the HASH reply is sha256sum's" "$got" "result: ${OUT%% *}"
run "echo bad | nc -q1 127.0.0.1 $PORT"
check "a bad request gets 'ERROR: invalid input: ...'" [ "${OUT#ERROR: invalid input: }" != "$OUT" ]

section "A pipelined burst: 8 requests in one write"
say "The SLEEPs wait their turn in their lane while HASH and PRIMES finish on" \
  "the other workers, and the loop answers ECHO and PING itself; yet the" \
  "replies come back one per request, in request order. (nc -N shuts down its" \
  "sending side at the end of its input: the server answers, then closes.)"
reqs=('SLEEP 300' 'HASH abc' 'ECHO hello' 'PRIMES 100' 'SLEEP 100' 'HASH xyz' 'PING' 'PRIMES 1000000')
run "printf '%s\n'$(printf " '%s'" "${reqs[@]}") | nc -N 127.0.0.1 $PORT"
# pi(100) = 25, pi(10^6) = 78498
want=("slept 300" "$(sha abc)" hello 25 "slept 100" "$(sha xyz)" PONG 78498)
eq "8 replies, in request order" "$OUT" "$(printf 'result: %s\n' "${want[@]}")"

section "redis-cli: the same port speaks RESP2"
run "redis-cli -p $PORT PING"
eq "PING" "$OUT" PONG
run "redis-cli -p $PORT HASH abc"
eq "HASH abc over RESP is sha256sum's" "$OUT" "$(sha abc)"
say "INFO pool: the pool and its two lanes (default, and slow with the 2 SLEEPs):"
run "redis-cli -p $PORT INFO pool"

section "STATS: the same figures on one line"
run "echo STATS | nc -N 127.0.0.1 $PORT"
check "STATS starts 'result: workers=4 '" [ "${OUT#result: workers=4 }" != "$OUT" ]

section "GET /metrics: Prometheus text format (a few of its lines)"
pick="grep -E '^pool_server_(requests_total\{command=\"(hash|sleep)\",outcome=\"ok\"|workers |queue_depth)'"
if command -v curl >/dev/null; then
  run "curl -s $METRICS | $pick"
else
  hostport=${METRICS#http://} hostport=${hostport%%/*}
  run "printf 'GET /metrics HTTP/1.0\r\n\r\n' | nc -N ${hostport%:*} ${hostport##*:} | $pick"
fi
check "/metrics counts the 4 HASH requests above" grep -qx 'pool_server_requests_total{command="hash",outcome="ok"} 4' <<<"$OUT"

section "The 30-client harness"
say "It starts a server of its own, runs 30 concurrent scripted clients" \
  "(pipelined bursts, bad input on purpose), checks every reply, then" \
  "requires a clean SIGTERM exit."
if [[ $SHOWN_BIN == bazel-bin ]]; then
  run "tests/harness/test_harness.sh $SERVER"
else
  run "$BIN/tests/harness/harness_test $SERVER"
fi
check "the harness passes (exit $RC)" grep -qx 'PASS (30/30 clients)' <<<"$OUT"

section "SIGTERM: drain, close every connection, join every worker, exit 0"
show "kill -TERM $PID; wait $PID; echo \"exit status: \$?\""
stop
say "exit status: $RC"
run "tail -n 2 $WORK/server.log"
eq "exit status 0 after SIGTERM" "$RC" 0

section "Proved elsewhere"
say "The tour shows; the integration tests prove, each against a real server" \
  "process (bazel test //tests/server_it:all):" \
  "  overload_test.cc        'server busy' at once, floods, every request answered once" \
  "  backpressure_test.cc    --max-inflight pauses, bounded output for slow readers" \
  "  policy_test.cc          --on-full hold, --queue-timeout-ms, a lane under a SLEEP flood" \
  "  sizing_timeout_test.cc  --workers N, the elastic pool growing and shrinking," \
  "                          --task-timeout-ms" \
  "  shutdown_test.cc        SIGTERM with work running and queued: all answered, exit 0" \
  "                          within the grace period" \
  "  conn_test.cc, resp_test.cc, cli_log_test.cc: STATS arithmetic, limits, RESP," \
  "                          the command line"
finish
