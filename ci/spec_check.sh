#!/usr/bin/env bash
# The spec's verification (shared/spec/w05-quest.md), in this project's
# protocol, step by step as the README writes it. Exits non-zero at the
# first step that does not behave.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${SPEC_PORT:-19090}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "--- $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

wait_port() { # wait until something accepts on $1, for at most $2 seconds
  local deadline=$((SECONDS + $2))
  until nc -z 127.0.0.1 "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "nothing listens on port $1 after $2 s"
    sleep 0.05
  done
}

# exit_within PID SECONDS: wait for PID, fail if it takes longer or exits non-zero
exit_within() {
  local pid=$1 limit_ms=$(($2 * 1000)) start end rc
  start=$(date +%s%N)
  while kill -0 "$pid" 2>/dev/null; do
    end=$(date +%s%N)
    [ $(((end - start) / 1000000)) -le "$limit_ms" ] || fail "pid $pid still running after $2 s"
    sleep 0.02
  done
  rc=0; wait "$pid" || rc=$?
  end=$(date +%s%N)
  echo "exit status $rc after $(((end - start) / 1000000)) ms"
  [ "$rc" -eq 0 ] || fail "exit status $rc"
}

step "build (plain gcc line)"
gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -O2 -I. \
  -o "$work/pool_server" server/*.c offload/*.c net/*.c pool/*.c base/*.c -lcrypto -lm
bazel build --color=no --curses=no --noshow_progress //tests/harness:harness_test >/dev/null 2>&1 \
  || bazel build //tests/harness:harness_test
harness=bazel-bin/tests/harness/harness_test

step "R2: start with --workers 4; ps -T shows 5 threads (+ header line)"
"$work/pool_server" "$port" --workers 4 2>"$work/server.log" &
pid=$!; pids+=("$pid")
wait_port "$port" 10
lines=$(ps -T -p "$pid" | wc -l)
echo "ps -T -p $pid | wc -l -> $lines"
[ "$lines" -eq 6 ] || fail "expected 6 lines (header + main + 4 workers)"

step "R4/R5: a good and a bad request"
got=$(echo "HASH good data" | nc -q1 127.0.0.1 "$port")
want="result: $(printf 'good data' | sha256sum | cut -d' ' -f1)"
echo "$got"
[ "$got" = "$want" ] || fail "expected '$want'"
got=$(echo "bad" | nc -q1 127.0.0.1 "$port")
echo "$got"
[[ "$got" == "ERROR: invalid input: "* ]] || fail "expected ERROR: invalid input: ..."

step "R6: the 30-client harness against the plain build"
"$harness" "$work/pool_server" | tail -1 | tee "$work/harness.out"
grep -qx "PASS (30/30 clients)" "$work/harness.out" || fail "harness did not pass"

step "R3: kill -TERM exits 0 within 2 s"
kill -TERM "$pid"
exit_within "$pid" 2

step "R7: strace shows epoll_wait"
strace -f -e trace=epoll_wait -o "$work/strace.out" "$work/pool_server" "$port" 2>/dev/null &
pid=$!; pids+=("$pid")
wait_port "$port" 10
echo PING | nc -q1 127.0.0.1 "$port" >/dev/null
# strace -o blocks fatal signals for itself: signal the server, its child.
kill -TERM "$(pgrep -P "$pid")"
wait "$pid" || fail "server under strace exited non-zero"
n=$(grep -c 'epoll_wait(' "$work/strace.out" || true)
echo "epoll_wait calls: $n; poll/select calls: $(grep -cE '^[0-9]+ +(poll|select|ppoll|pselect6)\(' "$work/strace.out" || true)"
[ "$n" -gt 0 ] || fail "no epoll_wait in strace output"

step "R8: Helgrind through a request: 0 errors (the harness under Helgrind is the helgrind cell)"
valgrind --tool=helgrind --log-file="$work/helgrind.log" "$work/pool_server" "$port" 2>/dev/null &
pid=$!; pids+=("$pid")
wait_port "$port" 60
echo "test" | nc -q1 127.0.0.1 "$port"
kill -TERM "$pid"
wait "$pid" || fail "server under helgrind exited non-zero"
grep "ERROR SUMMARY" "$work/helgrind.log"
grep -q "ERROR SUMMARY: 0 errors from 0 contexts" "$work/helgrind.log" || { cat "$work/helgrind.log"; fail "Helgrind reported errors"; }
echo "spec check: all steps passed"
