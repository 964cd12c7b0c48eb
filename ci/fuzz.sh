#!/usr/bin/env bash
# The fuzz cell (ci/test.sh fuzz): builds every fuzz_target (tag fuzz_target,
# tests/fuzz/fuzz.bzl) with --config=fuzz and runs each libFuzzer binary for
# POOL_SERVER_FUZZ_SECONDS seconds (default 45), starting from a copy of its
# checked-in corpus (tests/fuzz/corpus/<x>/, so the repo is never written
# to) and its dictionary (tests/fuzz/<x>.dict) if any.
#
# Logs and crash artifacts go to POOL_SERVER_FUZZ_LOGS (default: fuzz/ in the
# fuzz configuration's bazel-testlogs): <dir>/<target>/fuzz.log and
# crash-*, leak-*, timeout-*, oom-*. A crash, leak, timeout (10 s for one
# input) or out-of-memory fails the cell; the end of libFuzzer's log and each
# artifact, in hex, are printed. Each target ends with one line in the form
# of Bazel's verdicts ("//tests/fuzz:x_fuzz PASSED in 60s"), which is what
# ci/test_all.sh counts.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${POOL_SERVER_FUZZ_SECONDS:-45}
bazel_flags=(--color=no --curses=no --noshow_progress)

query=$(bazel query "${bazel_flags[@]}" 'attr(tags, "\bfuzz_target\b", //tests/fuzz/...)')
mapfile -t targets <<<"$query"
if [ -z "${targets[0]:-}" ]; then
  echo "ci/fuzz.sh: no fuzz_target under //tests/fuzz" >&2
  exit 1
fi
bazel build "${bazel_flags[@]}" --config=fuzz "${targets[@]}"
bin=$(bazel info "${bazel_flags[@]}" --config=fuzz bazel-bin)
logs=${POOL_SERVER_FUZZ_LOGS:-$(bazel info "${bazel_flags[@]}" --config=fuzz bazel-testlogs)/fuzz}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Stack traces with file:line (llvm-14, ci/setup.sh).
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
if [ -x "$symbolizer" ]; then
  export ASAN_SYMBOLIZER_PATH=$symbolizer UBSAN_SYMBOLIZER_PATH=$symbolizer
fi

failed=0
for t in "${targets[@]}"; do
  pkg=${t#//} && pkg=${pkg%%:*}
  name=${t##*:}
  x=${name%_fuzz}
  out=$logs/$name
  rm -rf "$out" && mkdir -p "$out"
  mkdir "$work/$name"
  cp -R "$pkg/corpus/$x/." "$work/$name/"
  ninputs=$(find "$work/$name" -type f | wc -l)
  flags=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096
         -print_final_stats=1 -artifact_prefix="$out/")
  [ ! -f "$pkg/$x.dict" ] || flags+=(-dict="$pkg/$x.dict")

  echo "fuzz: $t for ${secs} s from $ninputs inputs ($pkg/corpus/$x), log $out/fuzz.log"
  start=$SECONDS
  rc=0
  "$bin/$pkg/$name" "${flags[@]}" "$work/$name" >"$out/fuzz.log" 2>&1 || rc=$?
  elapsed=$((SECONDS - start))

  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::' "$out/fuzz.log" | sed 's/^/  /' || true
  mapfile -t artifacts < <(find "$out" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [ "$rc" -eq 0 ] && [ ${#artifacts[@]} -eq 0 ]; then
    echo "$t PASSED in ${elapsed}s"
    continue
  fi
  failed=1
  # The report: what follows libFuzzer's last progress line.
  echo "--- $t: libFuzzer exit $rc; from $out/fuzz.log:"
  awk '/^#[0-9]+[[:space:]]/ { n = NR } { line[NR] = $0 }
       END { for (i = n + 1; i <= NR && i <= n + 200; i++) print line[i] }' "$out/fuzz.log"
  for a in "${artifacts[@]}"; do
    echo "--- input $a ($(wc -c <"$a") bytes), hex:"
    od -A x -t x1z -v "$a"
    echo "--- reproduce: bazel run --config=fuzz $t -- $a"
  done
  echo "$t FAILED in ${elapsed}s"
done
exit "$failed"
