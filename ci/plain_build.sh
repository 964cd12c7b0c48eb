#!/usr/bin/env bash
# The README's one-line build without Bazel, under gcc and clang, in the
# spirit of the spec's `gcc -Wall -Wextra -Werror -pthread -o pool_server ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for cc in gcc clang; do
  echo "plain build with $cc"
  $cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -O2 -I. \
    -o "$out/pool_server" server/*.c offload/*.c net/*.c pool/*.c base/*.c -lcrypto -lm
  "$out/pool_server" --version
done
