#!/usr/bin/env bash
# One cell of the CI matrix: ci/test.sh default|clang|fuzz|asan|tsan|helgrind|plain|spec|demo|scaleout
# GitHub Actions runs one cell per job; ci/test_all.sh runs them all in turn.
set -euo pipefail
cd "$(dirname "$0")/.."

cell=${1:?usage: ci/test.sh default|clang|fuzz|asan|tsan|helgrind|plain|spec|demo|scaleout}
bazel_flags=(--color=no --curses=no --noshow_progress)
# Two cores: one test at a time keeps timing-sensitive tests (the harness's
# 2-second shutdown check) honest, and Helgrind is memory-hungry.
test_flags=(--local_test_jobs=1)
# Named, not //..., so Bazel's convenience symlinks never matter.
targets=(//base/... //pool/... //net/... //offload/... //server/... //tools/... //tests/...)

case "$cell" in
  default) exec bazel test "${bazel_flags[@]}" "${test_flags[@]}" "${targets[@]}" ;;
  clang | asan | tsan | helgrind)
    exec bazel test "${bazel_flags[@]}" "${test_flags[@]}" --config="$cell" "${targets[@]}" ;;
  fuzz) exec ci/fuzz.sh ;; # libFuzzer, POOL_SERVER_FUZZ_SECONDS per target
  # The one-line build, the layering probes, bench/'s self-check (no build).
  plain) ci/plain_build.sh && ci/layering_check.sh && exec python3 -m unittest discover -s bench/tests ;;
  spec) exec ci/spec_check.sh ;;
  demo) exec demo/run.sh ;;
  # The deployment recipe (deploy/): the files' static checks, then about
  # 30 s of load through HAProxy across a rolling restart and a SIGKILL.
  scaleout)
    bazel build "${bazel_flags[@]}" //server:pool_server //tools:stress_test
    bin=$(bazel info "${bazel_flags[@]}" bazel-bin)
    export POOL_SERVER=$bin/server/pool_server STRESS_TEST=$bin/tools/stress_test
    deploy/check.sh
    deploy/rolling_restart.sh
    exec deploy/rolling_restart.sh --kill ;;
  *) echo "ci/test.sh: unknown cell '$cell'" >&2; exit 2 ;;
esac
