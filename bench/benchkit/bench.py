"""The Bench context: configuration, paths, the process registry, the
command log, machine facts, and every section's results, handed to each
section in turn."""

import dataclasses
import os
import pathlib
import platform
import subprocess
import time

from . import procfs
from .proc import CommandLog, Processes


@dataclasses.dataclass
class Config:
    quick: bool
    duration: float          # seconds per stress_test run
    sweep_reps: int          # the whole sweep is repeated this many times
    handoff_reps: int        # alternated runs for hand-off and scaling
    redis_reps: int
    redis_n: int             # redis-benchmark requests, no pipelining
    redis_np: int            # with -P 16
    strace_duration: float   # seconds per traced stress_test run
    pool_bench_args: tuple
    primes_n: int
    workers: tuple = (1, 2, 4)
    clients: tuple = (1, 10, 50)

    @classmethod
    def make(cls, quick, primes_n):
        if quick:  # a smoke run: short points, one repetition
            return cls(True, 0.5, 1, 2, 1, 30000, 200000, 0.3,
                       ("--tasks", "50000", "--reps", "3", "--rtt", "5000"), primes_n)
        return cls(False, 1.5, 3, 5, 3, 150000, 1000000, 1.0,
                   ("--tasks", "200000", "--reps", "9", "--rtt", "20000"), primes_n)


# Long arguments, and how the report's command list spells them.
ARG64 = "0123456789abcdef" * 4
ARG4K = "0123456789abcdef" * 256


class Bench:
    def __init__(self, cfg, root, out_dir, name, invocation, tmp):
        self.cfg = cfg
        self.root = pathlib.Path(root)
        self.out_dir = pathlib.Path(out_dir)
        self.name = name                           # <date>-<host>[-quick]
        self.report_path = self.out_dir / f"{name}.md"
        self.assets = self.out_dir / name          # plots and raw data
        self.invocation = invocation
        self.tmp = tmp
        self.cmdlog = CommandLog()
        self.cmdlog.abbreviate("ARG4K", ARG4K)
        self.cmdlog.abbreviate("ARG64", ARG64)
        self.procs = Processes(self.cmdlog)
        self.bin_dir = None
        self.results = {}                          # section key -> its result object
        self.facts = {}                            # machine_facts() and the commit
        self.ncpu = len(os.sched_getaffinity(0))
        self.t_start = time.time()
        self.load_start = procfs.loadavg()
        self.load_end = None                       # set when the report is written

    def set_bin_dir(self, bin_dir):
        self.bin_dir = bin_dir
        self.cmdlog.bin_dir = bin_dir

    def binary(self, rel):
        return os.path.join(self.bin_dir, rel)

    def machine_facts(self):
        """What the report's header table says about the machine (the
        commit is read at the start, before the run writes anything)."""
        return {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "cpu_model": procfs.cpu_model(),
            "mem_gib": procfs.mem_gib(),
            "kernel": platform.release(),
            "redis_version": redis_version(),
        }


def git_commit(root):
    """Short HEAD, '-dirty' when the work tree has changes; 'unknown'
    outside git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def redis_version():
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    for word in out.split():
        if word.startswith("v="):
            return word[2:]
    return "unknown"
