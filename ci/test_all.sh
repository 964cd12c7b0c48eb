#!/usr/bin/env bash
# Runs every test under every configuration: the README's test command, and
# all that .ci/run does. Installs what it needs first (ci/setup.sh).
# Ends with `bazel shutdown` so no Bazel server outlives the run; the exit
# status is 0 only if every cell passed.
set -uo pipefail
cd "$(dirname "$0")/.."

ci/setup.sh || exit 1

# fuzz follows clang: both build with clang, so the C toolchain is not
# configured again in between.
cells=(${POOL_SERVER_CELLS:-default clang fuzz asan tsan helgrind plain spec demo scaleout})
passed=0 failed=0 failed_cells=()
log=$(mktemp)
for cell in "${cells[@]}"; do
  [ -x "ci/test.sh" ] || break
  if [ "$cell" = demo ] && [ ! -x demo/run.sh ]; then continue; fi
  echo "=== ci/test.sh $cell  ($(date -u +%H:%M:%S))"
  start=$SECONDS
  ci/test.sh "$cell" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # Count Bazel's per-target verdicts (ci/fuzz.sh prints one in the same
  # form for each fuzz target), or one verdict for a script cell.
  p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
  f=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE)' "$log")
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    if [ "$rc" -eq 0 ]; then p=1; else f=1; fi
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1 # a build failure: no test verdict, but a failure all the same
  fi
  passed=$((passed + p)) failed=$((failed + f))
  [ "$rc" -eq 0 ] || failed_cells+=("$cell")
  echo "=== $cell: exit $rc, $((SECONDS - start)) s"
done
rm -f "$log"

bazel shutdown >/dev/null 2>&1 || true
[ ${#failed_cells[@]} -eq 0 ] || echo "failed cells: ${failed_cells[*]}"
echo "tests: $passed passed, $failed failed"
[ ${#failed_cells[@]} -eq 0 ]
