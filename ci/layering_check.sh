#!/usr/bin/env bash
# The layering is enforced by Bazel visibility: pool/ may not depend on net/
# and net/ may not depend on pool/. Each package carries a manual probe
# target that does exactly that; both must fail to build with a visibility
# error (and the real targets must build).
set -uo pipefail
cd "$(dirname "$0")/.."
flags=(--color=no --curses=no --noshow_progress)
bazel build "${flags[@]}" //pool/... //net/... //offload/... //server/... >/dev/null 2>&1 ||
  { echo "layering: the product does not build"; exit 1; }
status=0
for probe in //pool:layering_probe //net:layering_probe; do
  out=$(bazel build "${flags[@]}" "$probe" 2>&1)
  if [ $? -eq 0 ]; then
    echo "layering: $probe built; a forbidden dependency was allowed"
    status=1
  elif ! grep -q "is not visible from target" <<<"$out"; then
    echo "layering: $probe failed, but not by visibility:"
    echo "$out" | tail -5
    status=1
  else
    echo "layering: $probe refused ($(grep -o "target '[^']*' is not visible from target '[^']*'" <<<"$out" | head -1))"
  fi
done
exit $status
