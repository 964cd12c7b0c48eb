#!/bin/sh
# Usage: test_harness.sh ./pool_server [extra server args]
# Runs the 30-client harness (build it first: bazel build //tests/harness:harness_test).
here=$(dirname "$0")
for h in "$here/harness_test" "$here/../../bazel-bin/tests/harness/harness_test"; do
  [ -x "$h" ] && exec "$h" "$@"
done
echo "test_harness.sh: harness_test not built; run: bazel build //tests/harness:harness_test" >&2
exit 2
