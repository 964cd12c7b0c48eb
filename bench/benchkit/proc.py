"""Child processes: every one is registered so that it is stopped on every
path (normal end, a failure, Ctrl-C, SIGTERM), and every command is logged
for the report's command list.

The rule of the benchmark: it fails only when a tool fails (ToolError),
never because something was slow.
"""

import re
import signal
import subprocess
import sys
import time


class ToolError(Exception):
    """A tool failed: a build error, a wrong reply, a server that did not
    start or did not exit 0. The message says which and why."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- the command log ------------------------------------------------------------

_SAFE = re.compile(r"^[A-Za-z0-9_./:=,+@%^-]+$")
_PORT_FLAGS = ("--port", "-p")


class CommandLog:
    """Commands as the report lists them: distinct, in order of first use,
    long arguments replaced by $NAME placeholders, the binaries directory
    dropped, and ports other than 0 spelled $PORT (they differ per run)."""

    def __init__(self):
        self._seen = {}
        self._names = []  # (value, NAME), longest value first
        self.bin_dir = None

    def abbreviate(self, name, value):
        self._names.append((value, name))
        self._names.sort(key=lambda nv: -len(nv[0]))

    def word(self, arg):
        """One argument, shell-quoted, with placeholders substituted."""
        if self.bin_dir and arg.startswith(self.bin_dir + "/"):
            arg = arg[len(self.bin_dir) + 1:]
        if not self._names:
            return arg if _SAFE.match(arg) else _squote(arg)
        pattern = "|".join(re.escape(v) for v, _ in self._names)
        names = dict(self._names)
        parts = re.split(f"({pattern})", arg)
        if len(parts) == 1:
            return arg if _SAFE.match(arg) else _squote(arg)
        out, quote = [], False
        for i, part in enumerate(parts):
            if i % 2:  # a placeholder
                nxt = parts[i + 1] if i + 1 < len(parts) else ""
                name = names[part]
                out.append("${%s}" % name if nxt[:1].isalnum() or nxt[:1] == "_" else "$" + name)
            else:
                if part and not _SAFE.match(part):
                    quote = True
                out.append(re.sub(r'([\\"$`])', r"\\\1", part))
        s = "".join(out)
        return f'"{s}"' if quote else s

    def line(self, args):
        words, prev = [], None
        for a in args:
            if prev in _PORT_FLAGS and a.isdigit() and a != "0":
                words.append("$PORT")
            else:
                words.append(self.word(a))
            prev = a
        return " ".join(words)

    def record(self, args):
        self._seen.setdefault(self.line(args), None)

    def record_text(self, text):
        """A line written by hand (for commands with other placeholders)."""
        self._seen.setdefault(text, None)

    def lines(self):
        return list(self._seen)


def _squote(s):
    return "'" + s.replace("'", "'\\''") + "'"


# ---- the process registry -----------------------------------------------------

class Processes:
    """Every child this program starts, until it has been reaped."""

    def __init__(self, cmdlog):
        self.live = []
        self.cmdlog = cmdlog

    def spawn(self, args, log_cmd=True, **popen_kw):
        if log_cmd:
            self.cmdlog.record(args)
        try:
            p = subprocess.Popen(args, **popen_kw)
        except OSError as e:
            raise ToolError(f"cannot start {args[0]}: {e}") from e
        self.live.append(p)
        return p

    def reaped(self, p):
        if p in self.live:
            self.live.remove(p)

    def wait(self, p, timeout=None):
        """Waits for p (raises subprocess.TimeoutExpired past timeout) and
        forgets it once reaped."""
        rc = p.wait(timeout)
        self.reaped(p)
        return rc

    def run(self, args, log_cmd=True, input=None, timeout=None):
        """Runs a tool to completion, capturing stdout and stderr (text),
        with `input` on its stdin (else /dev/null). Returns (returncode,
        stdout, stderr); the caller judges them. `timeout` (seconds) is
        only a guard against a tool that hangs (redis-benchmark waits
        forever for a server that died): past it the tool is killed and
        that is a ToolError."""
        p = self.spawn(args, log_cmd=log_cmd,
                       stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       errors="replace")
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.reaped(p)
            raise ToolError(f"{args[0]} did not finish within {timeout} s: {' '.join(args)[:200]}")
        self.reaped(p)
        return p.returncode, out, err

    def stop(self, p, sig=signal.SIGTERM, grace=10.0):
        """Signals p and reaps it; SIGKILL after `grace` seconds. Returns
        (returncode, killed)."""
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            rc = p.wait(grace)
            killed = False
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            killed = True
        self.reaped(p)
        return rc, killed

    def stop_all(self):
        """The last line of defence (a failure, Ctrl-C): SIGTERM to every
        live child, then SIGKILL to whatever is left after 5 s."""
        for p in list(self.live):
            if p.poll() is None:
                try:
                    p.terminate()
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5.0
        for p in list(self.live):
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            self.reaped(p)
