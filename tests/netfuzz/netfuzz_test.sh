#!/usr/bin/env bash
# Bazel test driver: netfuzz_test.sh SERVER PROFILE SEED HELGRIND_WRAPPER
# Fuzzes SERVER with the given profile for NETFUZZ_DURATION seconds (15 by
# default), seed NETFUZZ_SEED (default SEED; "random" picks one, printed).
# Under UNDER_VALGRIND (the helgrind config) the server is started under
# the Helgrind wrapper with deadlines scaled and fewer clients; the checks
# stay the same. NETFUZZ_SKIP_KNOWN (e.g. "all", "1,3") avoids the known
# defects netfuzz.py --list-known names.
set -euo pipefail
server=$1 profile=$2 seed=${NETFUZZ_SEED:-$3} helgrind=$4
duration=${NETFUZZ_DURATION:-15}
args=(--server "$server" --profile "$profile" --duration "$duration")
[ "$seed" = random ] || args+=(--seed "$seed")
# e.g. --test_env=NETFUZZ_SKIP_KNOWN=all while the known defects are open.
[ -z "${NETFUZZ_SKIP_KNOWN:-}" ] || args+=(--skip-known "$NETFUZZ_SKIP_KNOWN")
if [ -n "${UNDER_VALGRIND:-}" ]; then
  args+=(--wrapper "$helgrind" --time-scale 20 --clients 3 --shutdown-clients 2)
fi
# Through env: ci/helgrind.sh skips */env, so Python itself is never traced.
here=$(dirname "$0")
[ -z "${TEST_SRCDIR:-}" ] || here=$TEST_SRCDIR/${TEST_WORKSPACE:-pool_server}/tests/netfuzz
exec /usr/bin/env python3 -B "$here/netfuzz.py" "${args[@]}"
