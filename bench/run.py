#!/usr/bin/env python3
"""bench/run.py: the benchmark of pool_server, in one command.

  bench/run.py [--quick] [--out DIR]

Builds (-c opt, in its own Bazel output base) //server:pool_server,
//tools:stress_test and //bench:pool_bench, runs the sections listed in
SECTIONS below in order, and writes <out>/<date>-<host>.md (default out:
bench/results) with its plots (gnuplot, PNG) and raw data in
<out>/<date>-<host>/. --quick: shorter points and fewer repetitions (a
smoke run of about a minute), written as <date>-<host>-quick.md. A full run
written under bench/ also refreshes the headline block of bench/README.md.

Nothing here judges timing: it fails (exit 1) only when a tool fails (the
build, a wrong reply seen by stress_test, a redis-benchmark error, strace,
gnuplot, a server that does not start or does not exit 0 on SIGTERM).
Every process it starts is stopped on every path, also on Ctrl-C (exit 130)
and SIGTERM (exit 143), and its Bazel server is shut down once the build is
done.

Environment: BAZEL (default: bazel), BENCH_OUTPUT_BASE (default
/tmp/bazel-bench), PRIMES_N (default 2000000).

Python 3 standard library only; the pieces live in bench/benchkit/ (see
its __init__.py), each section in bench/benchkit/sections/. Self-check:
python3 -m unittest discover -s bench/tests
"""

import argparse
import os
import pathlib
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchkit import procfs  # noqa: E402
from benchkit.bench import Bench, Config, git_commit  # noqa: E402
from benchkit.build import Bazel  # noqa: E402
from benchkit.proc import ToolError, log  # noqa: E402
from benchkit.report import replace_headline_block, table  # noqa: E402
from benchkit.sections.handoff import HandoffOverhead  # noqa: E402
from benchkit.sections.handoff_cost import HandoffCost  # noqa: E402
from benchkit.sections.pool_bench import PoolBench  # noqa: E402
from benchkit.sections.redis import RedisSideBySide  # noqa: E402
from benchkit.sections.scaleout import Scaleout  # noqa: E402
from benchkit.sections.scaling import Scaling  # noqa: E402
from benchkit.sections.sweep import Sweep  # noqa: E402
from benchkit.stats import fmt  # noqa: E402

# The report's sections, in run (and report) order. A later section may
# read an earlier one's results from b.results[key] (the hand-off table and
# scaling read the sweep's).
SECTIONS = (Sweep, HandoffOverhead, HandoffCost, Scaling, RedisSideBySide, PoolBench, Scaleout)

TOOLS = ("gnuplot", "redis-server", "redis-benchmark", "strace")
PROG = "bench/run.py"


class Stopped(BaseException):
    """SIGTERM or SIGHUP: unwind (stopping every child) and exit 128+N."""

    def __init__(self, signum):
        super().__init__(signum)
        self.code = 128 + signum


def _on_signal(signum, frame):
    raise Stopped(signum)


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description="Benchmark pool_server and write a report.")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: short points, one repetition (report named *-quick.md)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: bench/results)")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    root = pathlib.Path(__file__).resolve().parent.parent
    commit = git_commit(root)  # before anything is written into the tree

    bazel_cmd = os.environ.get("BAZEL", "bazel")
    for tool in [shlex.split(bazel_cmd)[0], *TOOLS]:
        if shutil.which(tool) is None:
            print(f"run.py: '{tool}' not found (POOL_SERVER_SETUP_EXTRA=bench ci/setup.sh)",
                  file=sys.stderr)
            return 1
    primes_n = os.environ.get("PRIMES_N", "2000000")
    if not primes_n.isdigit():
        print(f"run.py: PRIMES_N must be a number, not '{primes_n}'", file=sys.stderr)
        return 2

    cfg = Config.make(args.quick, int(primes_n))
    out_dir = pathlib.Path(args.out).resolve() if args.out else root / "bench" / "results"
    host = socket.gethostname().split(".")[0]
    name = f"{time.strftime('%Y-%m-%d')}-{host}{'-quick' if args.quick else ''}"
    tmp = tempfile.mkdtemp(prefix="pool-bench.")
    b = Bench(cfg, root, out_dir, name, PROG + (" --quick" if args.quick else ""), tmp)
    prepare_assets(b.assets)
    bazel = Bazel(b.procs, bazel_cmd, os.environ.get("BENCH_OUTPUT_BASE", "/tmp/bazel-bench"),
                  os.path.join(tmp, "build.log"))
    rc = 0
    try:
        b.set_bin_dir(bazel.build())
        b.facts = dict(b.machine_facts(), commit=commit)
        sections = []
        for cls in SECTIONS:
            s = cls()
            s.measure(b)
            b.results[s.key] = s
            sections.append(s)
        log("plots and report")
        elapsed = write_report(b, sections)
        if not cfg.quick:
            refresh_headline(b, sections, elapsed)
        log(f"done in {elapsed} s: {b.report_path}")
    except ToolError as e:
        print(f"run.py: {e}", file=sys.stderr)
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    except Stopped as e:
        rc = e.code
    finally:
        # Nothing interrupts the cleanup: every child is stopped, our Bazel
        # server shut down, the scratch directory removed.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        b.procs.stop_all()
        bazel.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    if rc:
        print(f"run.py: FAILED (exit {rc}); partial output in {b.assets}", file=sys.stderr)
    return rc


def prepare_assets(assets):
    """The assets directory, emptied of an earlier run's files of the same name."""
    os.makedirs(assets, exist_ok=True)
    for p in assets.iterdir():
        if p.suffix in (".png", ".tsv", ".dat") or p.name == "failed-server.log":
            p.unlink()
    shutil.rmtree(assets / "strace", ignore_errors=True)


def headline_rows(b, sections):
    return [row for s in sections for row in s.headline(b)]


def write_report(b, sections):
    """Renders every section (plots and data files included) and writes the
    report. Returns the run's elapsed seconds."""
    f, cfg = b.facts, b.cfg
    bodies = [(s.title, s.render(b)) for s in sections]
    elapsed = int(time.time() - b.t_start)
    b.load_end = procfs.loadavg()
    sweep = b.results.get("sweep")
    machine = (f"; median machine CPU during the sweep {fmt(sweep.machine_cpu, 0)}% of "
               f"{b.ncpu * 100}% (other work on the machine shows up as noise here)") if sweep else ""
    date = time.strftime("%Y-%m-%d")
    host = b.name[len(date) + 1:].removesuffix("-quick")
    out = [
        f"# pool_server benchmark, {date} on {host}{' (quick mode)' if cfg.quick else ''}",
        "",
        f"Produced by `{b.invocation}` in {elapsed} s. Every figure below was measured in that run.",
        "",
        "| | |",
        "|---|---|",
        f"| commit | `{f['commit']}` |",
        f"| date | {f['date']} |",
        f"| machine | {b.ncpu} CPUs, {f['cpu_model']}, {f['mem_gib']:.1f} GiB RAM, Linux {f['kernel']} |",
        f"| redis | redis-server / redis-benchmark {f['redis_version']} |",
        f"| load average (1, 5, 15 min) | {b.load_start} at the start, {b.load_end} at the end{machine} |",
        f"| sweep | stress_test --duration {cfg.duration:g} per run, no pipelining, {cfg.sweep_reps} "
        "run(s) per point (whole sweep repeated); pool_server --queue-capacity 1024 |",
        "",
        "## Headline",
        "",
        table(["figure", "value"], headline_rows(b, sections), "ll"),
    ]
    for i, (title, body) in enumerate(bodies, 1):
        out += ["", f"## {i}. {title}", "", body]
    out += [
        "",
        "## Commands",
        "",
        f"`{b.invocation}` ran these commands, each distinct one listed once, in order of first",
        "use ($ARG64 = `0123456789abcdef` x 4, $ARG4K = the same 16 bytes x 256; $PORT = the",
        "port of the server in question, $SERVER_PID its process id; strace's files are under",
        f"`{b.name}/`, one per point; binaries under",
        f"`{b.bin_dir}`). Around each sweep run it also sends `STATS` over a TCP",
        "connection and reads `/proc/<server pid>/stat`, `/proc/<server pid>/task/*/status`",
        "and `/proc/stat`.",
        "",
        "```",
        *b.cmdlog.lines(),
        "```",
        "",
        f"Raw data: [{b.name}/sweep-raw.tsv]({b.name}/sweep-raw.tsv) (every run), "
        f"[{b.name}/sweep.tsv]({b.name}/sweep.tsv) (medians).",
    ]
    with open(b.report_path, "w") as fh:
        fh.write("\n".join(out) + "\n")
    return elapsed


def refresh_headline(b, sections, elapsed):
    """Rewrites the headline block of bench/README.md from this run, when
    the report lies under bench/ (so that the link in it works)."""
    readme = b.root / "bench" / "README.md"
    rel = os.path.relpath(b.report_path, readme.parent)
    if rel.startswith(".."):
        log(f"report outside bench/: headline block of {readme} left as it is")
        return
    f = b.facts
    sweep = b.results.get("sweep")
    machine = (f", median machine CPU\nduring the sweep {fmt(sweep.machine_cpu, 0)}% of "
               f"{b.ncpu * 100}%") if sweep else ""
    block = "\n".join([
        f"Latest full run: [{rel}]({rel}) (commit `{f['commit']}`, {b.ncpu} x {f['cpu_model']}, "
        f"{elapsed} s;",
        f"load average {b.load_start} at the start, {b.load_end} at the end{machine}).",
        "",
        table(["figure", "value"], headline_rows(b, sections), "ll"),
    ])
    try:
        text = readme.read_text()
        readme.write_text(replace_headline_block(text, block))
    except (OSError, ValueError) as e:
        log(f"headline block of {readme} not refreshed: {e}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
