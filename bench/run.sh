#!/bin/sh
# bench/run.sh: the benchmark is bench/run.py (same flags); this is kept for old habits.
exec python3 "$(dirname "$0")/run.py" "$@"
