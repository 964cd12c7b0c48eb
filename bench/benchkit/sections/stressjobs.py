"""stress_test in the background, for sections that need more than one
load at a time (consecutive open-loop windows that overlap while one
drains, a flood next to a measured load). Not a section itself.

    job = StressJob(b, srv, ["--clients", "50", "--rate", "900", ...])
    ...
    job.stop_sending()   # optional: SIGTERM, stress_test stops sending and
                         # awaits the replies still due (exit 0 if all correct)
    js = job.result()    # waits; stress_test's JSON as a dict, or ToolError

Every job is a child in b.procs, so it is stopped on every path like any
other. Its output goes to files in b.tmp, never to a pipe that could fill
while nobody reads it.
"""

import os
import signal
import subprocess
import tempfile
import time

from ..loadgen import stress_outcome
from ..proc import ToolError

# Past stress_test's own --timeout, by this much, the job is taken for hung
# (killed, ToolError). A guard against a hang, not a judgement of speed.
HANG_GUARD_S = 60.0


class StressJob:
    def __init__(self, b, srv, args, timeout_s):
        """Starts stress_test --port <srv> ARGS --timeout TIMEOUT_S --json.
        timeout_s is stress_test's own bound on the whole run (what is
        unanswered then counts as lost, which fails the run): callers
        choose it far above anything a working server needs."""
        self.b, self.srv = b, srv
        self.args = [str(a) for a in args]
        self.timeout_s = float(timeout_s)
        argv = [b.binary("tools/stress_test"), "--port", str(srv.port), *self.args,
                "--timeout", f"{self.timeout_s:g}", "--json"]
        fd_out, self.out_path = tempfile.mkstemp(prefix="stress-", suffix=".json", dir=b.tmp)
        fd_err, self.err_path = tempfile.mkstemp(prefix="stress-", suffix=".err", dir=b.tmp)
        with os.fdopen(fd_out, "w") as out, os.fdopen(fd_err, "w") as err:
            self.proc = b.procs.spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.t_start = time.monotonic()
        self.t_end = None
        self.rc = None

    def stop_sending(self):
        """SIGTERM: stress_test stops sending and awaits what is in flight.
        (SIGTERM rather than SIGINT: a shell that starts us in the
        background makes its children ignore SIGINT.)"""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self):
        if self.rc is None:
            try:
                self.rc = self.b.procs.wait(self.proc, timeout=self.timeout_s + HANG_GUARD_S)
            except subprocess.TimeoutExpired:
                self.b.procs.stop(self.proc, grace=2.0)
                raise ToolError(f"stress_test hung: no exit {self.timeout_s + HANG_GUARD_S:g} s "
                                f"after its start ({' '.join(self.args)[:120]})")
            self.t_end = time.monotonic()
        return self.rc

    def result(self):
        """Waits; stress_test's JSON as a dict. A non-zero exit (a wrong or
        lost reply, a connection that never opened) or unreadable output
        is a ToolError with stress_test's complaint and the server's last
        words."""
        rc = self.wait()
        out, err = _read(self.out_path), _read(self.err_path)
        return stress_outcome(self.b, self.srv, rc, out, " ".join(self.args)[:160],
                              err[-2000:])


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def sleep_until(t):
    """Sleeps until time.monotonic() >= t (at once if it is past)."""
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(left)
