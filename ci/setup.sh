#!/usr/bin/env bash
# Installs what building and testing pool_server needs, from Debian's
# packages only. Idempotent and quick when everything is already there.
# Run as root (or with sudo) on Debian 12.
set -euo pipefail

packages=(
  bazel-bootstrap bazel-rules-java   # the build (Bazel 4.2.3, offline)
  googletest                         # /usr/src/googletest, compiled by our build
  gcc g++ clang libclang-rt-14-dev   # both compilers and the sanitizer runtimes
  llvm-14                            # llvm-symbolizer: file:line in fuzz crash reports
  valgrind                           # Helgrind
  libssl-dev openssl                 # SHA-256 and Ed25519 (libcrypto); the openssl CLI makes test keys
  netcat-openbsd procps strace       # the spec's checks: nc, ps -T, strace
  redis-tools                        # redis-cli and redis-benchmark drive the RESP2 side
  haproxy                            # deploy/: the proxy in front of several instances
  python3                            # tests/netfuzz, bench/run.py
  curl                               # the demo's /metrics request
  prometheus                         # promtool checks /metrics; a real scrape (tests/server_it/ops_observe_test)
)
if [ "${POOL_SERVER_SETUP_EXTRA:-}" = bench ]; then
  packages+=(gnuplot-nox redis-server redis-tools libuv1-dev libglib2.0-dev python3)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Only prometheus's binaries are wanted: where systemd runs, its package
# also starts a service on *:9090, pool_server's default port. Stop it.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
