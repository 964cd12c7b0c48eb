"""Syscall counts of a running server: `strace -c -f -p PID` attached to
every thread for the span of a `with` block, detached with SIGINT, its
summary parsed. Kept out of the timed runs: a traced server is several
times slower, so these runs only count calls."""

import os
import signal
import subprocess
import time

from . import procfs
from .proc import ToolError

ATTACH_TIMEOUT_S = 10.0


def parse_strace_summary(text):
    """{syscall: calls} from the table `strace -c` writes, with the
    'total' row as key 'total'. The 'errors' column may be blank, so the
    calls column is found from the header."""
    counts, col = {}, None
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or set(tokens[0]) == {"-"}:
            continue
        if tokens[0] == "%":  # "% time  seconds  usecs/call  calls  errors  syscall"
            col = tokens.index("calls") - 1
            continue
        if col is None or len(tokens) <= col:
            continue
        counts[tokens[-1]] = int(tokens[col])
    if "total" not in counts:
        raise ValueError("no total row in the strace summary")
    return counts


class StraceCounts:
    """with StraceCounts(b, srv, path) as st: ...; then st.counts."""

    # How the report's command list spells these runs (one line for all).
    LOG_LINE = "strace -c -f -p $SERVER_PID -o strace/$WORKLOAD-w$WORKERS-c$CLIENTS.txt"

    def __init__(self, b, srv, out_path):
        self.b, self.srv, self.out_path = b, srv, out_path
        self.proc = None
        self.counts = None

    def __enter__(self):
        self.b.cmdlog.record_text(self.LOG_LINE)
        args = ["strace", "-c", "-f", "-p", str(self.srv.pid), "-o", str(self.out_path)]
        self.err_path = os.path.join(self.b.tmp, "strace.err")
        with open(self.err_path, "w") as errf:
            self.proc = self.b.procs.spawn(args, log_cmd=False, stdin=subprocess.DEVNULL,
                                           stdout=errf, stderr=errf)
        # Attached when every thread names strace as its tracer.
        deadline = time.monotonic() + ATTACH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            tids = procfs.thread_ids(self.srv.pid)
            if tids and all(procfs.tracer_pid(self.srv.pid, t) == self.proc.pid for t in tids):
                return self
            time.sleep(0.02)
        self.b.procs.stop(self.proc, grace=5.0)
        raise ToolError(f"strace did not attach to {self.srv.describe()}: {self._err()}")

    def __exit__(self, exc_type, exc, tb):
        rc, killed = self.b.procs.stop(self.proc, sig=signal.SIGINT, grace=10.0)  # SIGINT: detach, summarise
        if exc_type is not None:
            return False
        # strace summarises, then dies of the SIGINT it was sent (or exits 130)
        if killed or rc not in (0, -signal.SIGINT, 128 + signal.SIGINT):
            raise ToolError(f"strace exited with status {rc}{' (killed)' if killed else ''}: "
                            f"{self._err()}")
        try:
            with open(self.out_path) as f:
                self.counts = parse_strace_summary(f.read())
        except (OSError, ValueError) as e:
            raise ToolError(f"unreadable strace summary {self.out_path}: {e}") from e
        if not self.srv.alive():
            raise ToolError(f"{self.srv.describe()} died under strace; log:\n{self.srv.log_tail(10)}")
        return False

    def _err(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()[-1000:]
        except OSError:
            return ""
