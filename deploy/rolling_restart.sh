#!/usr/bin/env bash
# deploy/rolling_restart.sh: the HAProxy recipe (deploy/haproxy.cfg) under
# load, on loopback. Three pool_server instances on free ports, HAProxy in
# front of them, stress_test through HAProxy with --reconnect (PING and a
# 64-byte HASH, open loop), and meanwhile:
#
#   (default)  a rolling restart: each instance in turn gets SIGTERM, must
#              exit 0 (within 5 s; it promises --shutdown-grace-ms + 300 ms),
#              is started again on the same port and is waited for until it
#              answers PING and HAProxy's health check has it UP again;
#   --kill     one instance is killed with SIGKILL, HAProxy must mark it DOWN,
#              then it is started again and waited for until UP.
#
# Prints one summary line
#   requests=N ok=N wrong=N lost=N reconnects=N busy=N resends=N redispatches=N wall_s=N
# and exits 0 only if every reply was right (wrong=0), none was lost
# (lost=0), clients did see the instances go (reconnects > 0; each instance
# had connections when it was stopped) and every instance stopped with
# SIGTERM exited 0. Busy replies are allowed (they are an answer).
#
# Everything it starts (servers, HAProxy, stress_test) is stopped and reaped
# on every path, failures and Ctrl-C included.
#
# usage: deploy/rolling_restart.sh [--kill] [--duration S] [--clients N] [--rate R]
# Environment: POOL_SERVER, STRESS_TEST (default: bazel-bin/...; build them
# with `bazel build //server:pool_server //tools:stress_test`), HAPROXY
# (default: haproxy).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
SERVER=${POOL_SERVER:-$root/bazel-bin/server/pool_server}
STRESS=${STRESS_TEST:-$root/bazel-bin/tools/stress_test}
HAPROXY=${HAPROXY:-haproxy}
CFG=$root/deploy/haproxy.cfg
ARG64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

mode=restart duration="" clients=30 rate=2000
usage() { echo "usage: $0 [--kill] [--duration S] [--clients N] [--rate R]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --kill) mode=kill ;;
    --duration) duration=${2:?}; shift ;;
    --clients) clients=${2:?}; shift ;;
    --rate) rate=${2:?}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
  esac
  shift
done
[ -n "$duration" ] || { [ $mode = restart ] && duration=20 || duration=8; }
[[ $duration =~ ^[0-9]+$ && $clients =~ ^[0-9]+$ && $rate =~ ^[0-9]+$ ]] || usage
for bin in "$SERVER" "$STRESS"; do
  [ -x "$bin" ] || { echo "$0: $bin not found (bazel build //server:pool_server //tools:stress_test)" >&2; exit 1; }
done
command -v "$HAPROXY" >/dev/null || { echo "$0: $HAPROXY not found (ci/setup.sh installs it)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rolling_restart.XXXXXX")
declare -a srv_pid=() srv_port=()
hx_pid="" st_pid="" front="" sock=$work/haproxy.sock
failed=0

now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }
t_start=$(now_ms)
say() { printf '[%6.1f s] %s\n' "$(( $(now_ms) - t_start ))e-3" "$*"; }
fail() { say "FAIL: $*" >&2; failed=1; exit 1; }

# poll_until TIMEOUT_MS CMD...: runs CMD every 20 ms until it succeeds;
# status 1 if it still fails at the deadline.
poll_until() {
  local deadline=$(( $(now_ms) + $1 )); shift
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}

alive() { kill -0 "$1" 2>/dev/null; }

# Stops a child: SIGTERM, up to 5 s, then SIGKILL; always reaped.
# Sets stop_rc to its exit status (128+N for a signal).
stop_child() {
  local pid=$1
  stop_rc=0
  kill -TERM "$pid" 2>/dev/null || true
  if ! poll_until 5000 eval "! alive $pid"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || stop_rc=$?
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [ -z "$st_pid" ] || { stop_child "$st_pid"; }
  [ -z "$hx_pid" ] || { stop_child "$hx_pid"; }
  for i in "${!srv_pid[@]}"; do
    [ -z "${srv_pid[$i]}" ] || stop_child "${srv_pid[$i]}"
  done
  if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log "$work"/stress.out; do
      [ -f "$f" ] || continue
      echo "---- $(basename "$f") (last lines) ----" >&2
      tail -n 15 "$f" >&2
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port below the kernel's ephemeral range (32768 and up), so that no
# outgoing connection can take it while its instance restarts.
random_port() { echo $(( 20000 + RANDOM % 12000 )); }

# start_server I [PORT]: instance I on PORT, or on a random free port (tried
# again elsewhere if taken); waits until it has written its port file, i.e.
# it listens.
start_server() {
  local i=$1 want=${2:-} port try rc
  for try in 1 2 3 4 5; do
    port=${want:-$(random_port)}
    rm -f "$work/s$i.port"
    "$SERVER" --port "$port" --workers 2 --port-file "$work/s$i.port" \
      >>"$work/s$i.log" 2>&1 &
    srv_pid[$i]=$!
    poll_until 5000 eval "[ -s '$work/s$i.port' ] || ! alive ${srv_pid[$i]}" || true
    if [ -s "$work/s$i.port" ]; then
      srv_port[$i]=$(<"$work/s$i.port")
      return 0
    fi
    if alive "${srv_pid[$i]}"; then
      stop_child "${srv_pid[$i]}"; rc=$stop_rc
    else
      rc=0; wait "${srv_pid[$i]}" || rc=$?
    fi
    srv_pid[$i]=""
    # Exit 1 with "in use": the random port was taken; any other failure,
    # or the port we must keep, is the end.
    [ -z "$want" ] && [ "$rc" -eq 1 ] && tail -n 1 "$work/s$i.log" | grep -q "in use" ||
      fail "instance s$i did not start on port $port"
  done
  fail "instance s$i found no free port in 5 tries"
}

# ping_ok PORT: one PING straight to an instance (not through HAProxy).
ping_ok() {
  local fd reply=""
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
  printf 'PING\n' >&"$fd" 2>/dev/null && IFS= read -r -t 1 -u "$fd" reply || true
  exec {fd}>&-
  [ "$reply" = "result: PONG" ]
}

# HAProxy's view of a server: `show stat` on the admin socket, CSV; field 5
# is scur (open connections), 17 wredis (redispatches), 18 status.
hx_field() {
  printf 'show stat\n' | nc -w 2 -U "$sock" 2>/dev/null |
    awk -F, -v s="$1" -v f="$2" '$1 == "pool" && $2 == s { print $f }'
}
hx_status_is() { [ "$(hx_field "$1" 18)" = "$2" ]; }

# ---------------------------------------------------------------------------
"$HAPROXY" -c -q -f "$CFG" || fail "haproxy -c -f $CFG"

for i in 1 2 3; do start_server "$i"; done
say "instances s1 s2 s3 on ports ${srv_port[1]} ${srv_port[2]} ${srv_port[3]}"

# HAProxy's front port: a random one below the ephemeral range, tried again
# elsewhere if it was taken (HAProxy then exits at start-up).
for try in 1 2 3 4 5; do
  front=$(random_port)
  POOL_FRONT=127.0.0.1:$front POOL_STATS=$sock POOL_MAXCONN=2000 \
    POOL_S1=127.0.0.1:${srv_port[1]} POOL_S2=127.0.0.1:${srv_port[2]} \
    POOL_S3=127.0.0.1:${srv_port[3]} "$HAPROXY" -db -f "$CFG" >"$work/haproxy.log" 2>&1 &
  hx_pid=$!
  if poll_until 5000 eval "! alive $hx_pid || { hx_status_is s1 UP && hx_status_is s2 UP && hx_status_is s3 UP; }" &&
     alive "$hx_pid"; then
    break
  fi
  stop_child "$hx_pid"; hx_pid=""
  grep -q "cannot bind\|Address already in use" "$work/haproxy.log" || fail "HAProxy did not start"
done
[ -n "$hx_pid" ] || fail "HAProxy found no free port in 5 tries"
say "haproxy on 127.0.0.1:$front, all three UP"

"$STRESS" --port "$front" --clients "$clients" --duration "$duration" --rate "$rate" \
  --mix "PING=1,HASH $ARG64=1" --reconnect >"$work/stress.out" 2>&1 &
st_pid=$!
t_load=$(now_ms)
say "stress_test: $clients clients, $rate requests/s, ${duration} s, PING and HASH (64 B), --reconnect"

# at_ms MS: waits (a schedule, not a settling pause) until MS after the
# load started; at once if that moment has passed. Short steps, so that a
# signal's trap runs without delay.
at_ms() {
  while [ "$(now_ms)" -lt $(( t_load + $1 )) ]; do sleep 0.1; done
}

# The instance must carry clients when it goes, or the run proves nothing.
require_connections() {
  local n
  poll_until 3000 eval "n=\$(hx_field s$1 5); [ \"\${n:-0}\" -gt 0 ]" ||
    fail "s$1 had no client connections to disrupt"
  say "s$1 carries $(hx_field "s$1" 5) client connections"
}

wait_healthy() {
  local i=$1
  poll_until 5000 ping_ok "${srv_port[$i]}" || fail "s$i does not answer PING after its restart"
  poll_until 10000 hx_status_is "s$i" UP || fail "HAProxy does not have s$i UP again"
  say "s$i answers PING and HAProxy has it UP"
}

if [ $mode = restart ]; then
  for i in 1 2 3; do
    at_ms $(( duration * 1000 * i / 4 ))
    require_connections "$i"
    t0=$(now_ms)
    kill -TERM "${srv_pid[$i]}"
    poll_until 5000 eval "! alive ${srv_pid[$i]}" || fail "s$i still running 5 s after SIGTERM"
    rc=0; wait "${srv_pid[$i]}" || rc=$?
    srv_pid[$i]=""
    [ "$rc" -eq 0 ] || fail "s$i exited with status $rc after SIGTERM"
    say "s$i: SIGTERM -> exit 0 in $(( $(now_ms) - t0 )) ms; starting it again on port ${srv_port[$i]}"
    start_server "$i" "${srv_port[$i]}"
    wait_healthy "$i"
  done
else
  at_ms $(( duration * 1000 / 3 ))
  require_connections 2
  kill -KILL "${srv_pid[2]}"
  rc=0; { wait "${srv_pid[2]}"; } 2>/dev/null || rc=$?
  srv_pid[2]=""
  [ "$rc" -eq 137 ] || fail "s2 ended with status $rc after SIGKILL (expected 137)"
  t0=$(now_ms)
  poll_until 5000 hx_status_is s2 DOWN || fail "HAProxy did not mark the killed s2 DOWN"
  say "s2 killed (SIGKILL); HAProxy marked it DOWN after $(( $(now_ms) - t0 )) ms; starting it again"
  start_server 2 "${srv_port[2]}"
  wait_healthy 2
fi

st_rc=0; wait "$st_pid" || st_rc=$?
st_pid=""
summary=$(grep -E '^requests=' "$work/stress.out" | tail -n 1)
[ -n "$summary" ] || fail "stress_test printed no summary line (exit $st_rc)"
get() { local v; v=$(sed -nE "s/.*(^| )$1=([0-9]+).*/\2/p" <<<"$summary"); echo "${v:-0}"; }
redispatches=$(hx_field BACKEND 17)

for i in 1 2 3; do
  stop_child "${srv_pid[$i]}"
  srv_pid[$i]=""
  [ "$stop_rc" -eq 0 ] || fail "s$i exited with status $stop_rc at the end"
done

echo "requests=$(get requests) ok=$(get ok) wrong=$(get wrong) lost=$(get lost)" \
  "reconnects=$(get reconnects) busy=$(get busy) resends=$(get resends)" \
  "redispatches=${redispatches:-0} wall_s=$(( ($(now_ms) - t_start) / 1000 ))"
[ "$(get wrong)" -eq 0 ] || fail "wrong replies"
[ "$(get lost)" -eq 0 ] || fail "lost requests"
[ "$(get reconnects)" -gt 0 ] || fail "no client reconnected: the instances' going was not seen"
[ "$st_rc" -eq 0 ] || fail "stress_test exited $st_rc"
say "PASS ($mode)"
