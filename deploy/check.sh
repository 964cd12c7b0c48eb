#!/usr/bin/env bash
# deploy/check.sh: static checks of the deployment files.
#   - haproxy -c on deploy/haproxy.cfg, exactly as committed;
#   - systemd-analyze verify on both units (the template as an instance),
#     with ExecStart pointed at a pool_server binary that exists here (verify
#     requires the program to exist; the committed path is where the units'
#     comments install it), and systemd-analyze security --offline, which
#     must rate both "OK" (exposure below 2.0). Skipped, saying so, when
#     systemd-analyze is not installed;
#   - the units' ExecStart lines, with their default settings, run as
#     Type=notify runs them (without systemd's sandbox, which needs systemd
#     as PID 1): READY=1 arrives on $NOTIFY_SOCKET (a datagram socket that
#     nc listens on), SIGTERM brings STOPPING=1 and exit 0; and two
#     instances of the template share one port (the second also READY).
# usage: deploy/check.sh   (POOL_SERVER: the binary, default bazel-bin/...)
set -euo pipefail
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
tmp=$(mktemp -d)
trap cleanup EXIT
root=$(cd "$(dirname "$0")/.." && pwd)
SERVER=${POOL_SERVER:-$root/bazel-bin/server/pool_server}

haproxy -c -f "$root/deploy/haproxy.cfg"

[ -x "$SERVER" ] || { echo "check.sh: $SERVER not found (bazel build //server:pool_server)" >&2; exit 1; }
bin=$(readlink -f "$SERVER")
for unit in pool_server.service pool_server@.service; do
  sed "s|/usr/local/bin/pool_server|$bin|" "$root/deploy/$unit" >"$tmp/$unit"
done
ln -s pool_server@.service "$tmp/pool_server@9101.service"

now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }
# poll_until TIMEOUT_MS CMD...: CMD every 20 ms until it succeeds, or status 1.
poll_until() {
  local deadline=$(( $(now_ms) + $1 )); shift
  until "$@"; do [ "$(now_ms)" -lt "$deadline" ] || return 1; sleep 0.02; done
}

# start_unit NAME UNIT PORT: runs UNIT's ExecStart with its Environment=
# defaults, POOL_SERVER_PORT=PORT, %i and the metrics port 0 (free ones),
# and $NOTIFY_SOCKET at a socket of its own; waits for READY=1. Sets
# unit_pid and unit_port (from the STATUS=listening on ... line).
start_unit() {
  local name=$1 unit=$2 port=$3 line
  line=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$tmp/$unit" | sed 's/^ExecStart=//; s/\\$//' | tr '\n' ' ')
  line=${line//%i/0}
  rm -f "$tmp/$name.sock"
  nc -lkUu "$tmp/$name.sock" >"$tmp/$name.notify" 2>&1 &
  pids+=($!)
  poll_until 3000 test -S "$tmp/$name.sock" || { echo "nc made no socket" >&2; exit 1; }
  (
    # The unit's Environment= lines, then what the test overrides.
    while read -r assignments; do eval "export $assignments"; done \
      < <(sed -n 's/^Environment=//p' "$tmp/$unit")
    export POOL_SERVER_PORT=$port POOL_SERVER_METRICS_PORT=0 POOL_SERVER_OPTS=
    export NOTIFY_SOCKET=$tmp/$name.sock
    eval "exec $line" 2>"$tmp/$name.log"
  ) &
  unit_pid=$!
  pids+=("$unit_pid")
  poll_until 5000 grep -q '^READY=1' "$tmp/$name.notify" ||
    { echo "$unit ($name): no READY=1; log:" >&2; cat "$tmp/$name.log" >&2; exit 1; }
  unit_port=$(sed -nE 's/^STATUS=listening on [^ ]*:([0-9]+),.*/\1/p' "$tmp/$name.notify")
}

# stop_unit NAME PID: SIGTERM; STOPPING=1 and exit 0 within 5 s.
stop_unit() {
  local name=$1 pid=$2 rc=0
  kill -TERM "$pid"
  poll_until 5000 eval "! kill -0 $pid 2>/dev/null" || { echo "$name: still running 5 s after SIGTERM" >&2; exit 1; }
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || { echo "$name: exit $rc after SIGTERM" >&2; exit 1; }
  grep -q '^STOPPING=1' "$tmp/$name.notify" || { echo "$name: no STOPPING=1" >&2; exit 1; }
}

start_unit single pool_server.service 0
stop_unit single "$unit_pid"
echo "pool_server.service ExecStart: READY=1 on port $unit_port, SIGTERM -> STOPPING=1, exit 0"
start_unit inst1 pool_server@9101.service 0
pid1=$unit_pid port1=$unit_port
start_unit inst2 pool_server@9101.service "$port1"
pid2=$unit_pid
[ "$unit_port" = "$port1" ] || { echo "the second instance listens on $unit_port, not $port1" >&2; exit 1; }
stop_unit inst1 "$pid1"
stop_unit inst2 "$pid2"
echo "pool_server@.service ExecStart: two instances READY=1 on one port ($port1), both exit 0 on SIGTERM"

if ! command -v systemd-analyze >/dev/null; then
  echo "check.sh: systemd-analyze not installed: units not verified"
  exit 0
fi
for unit in pool_server.service pool_server@9101.service; do
  # verify prints nothing when all is well; anything it says is a finding.
  out=$(cd "$tmp" && systemd-analyze verify "./$unit" 2>&1) || { echo "$out" >&2; exit 1; }
  [ -z "$out" ] || { echo "systemd-analyze verify $unit:" >&2; echo "$out" >&2; exit 1; }
  score=$(cd "$tmp" && systemd-analyze security --offline=true "./$unit" 2>&1 |
    sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+) .*/\1/p')
  [ -n "$score" ] || { echo "systemd-analyze security gave no score for $unit" >&2; exit 1; }
  awk -v s="$score" 'BEGIN { exit !(s < 2.0) }' ||
    { echo "systemd-analyze security: $unit exposure $score (want < 2.0)" >&2; exit 1; }
  echo "systemd-analyze verify $unit: OK; security exposure $score"
done
