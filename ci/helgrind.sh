#!/usr/bin/env bash
# Runs a test binary, and every program it starts, under Helgrind. Any
# Helgrind error makes the run exit 66, which fails the Bazel test.
# helgrind.supp may name only third-party frames, never this project's code.
set -euo pipefail
here=$(dirname "$0")
supp="$here/helgrind.supp"
[ -f "$supp" ] || supp="${RUNFILES_DIR:-$0.runfiles}/pool_server/ci/helgrind.supp"
# Programs that are not ours run natively: the shells and tools the tests
# drive, and the third-party clients and servers they talk to.
exec valgrind --tool=helgrind --error-exitcode=66 --trace-children=yes \
  --trace-children-skip='*/sh,*/bash,*/env,*/nc,*/redis-cli,*/redis-benchmark,*/promtool,*/prometheus,*/python3*' \
  --suppressions="$supp" --num-callers=30 -q "$@"
