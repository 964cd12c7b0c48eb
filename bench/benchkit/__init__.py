"""benchkit: the pieces of bench/run.py, the pool_server benchmark.

Modules, from the bottom up:
  stats     median and ratios (pure functions)
  procfs    /proc readers: CPU ticks, machine busy time, context switches
  proc      the process registry (every child is stopped on every path),
            the command log, ToolError, running a tool and checking it
  build     the Bazel build in its own output base
  servers   pool_server and redis-server as context managers
  loadgen   stress_test and redis-benchmark runners with their parsers
  strace    `strace -c -f` attached to a running server, and its parser
  plot      gnuplot PNG plots
  report    Markdown helpers and the README headline block
  bench     the Bench context handed to every section
  sections  one module per report section
"""
