"""Servers as context managers: `with PoolServer(b, workers=2) as srv:`
starts the server, waits until it listens, and on leaving the block sends
SIGTERM and requires exit status 0 (a ToolError otherwise). When the block
is left by an exception (a failure, Ctrl-C) the server is still stopped,
quietly, and the exception goes on. New kinds of server (a second
pool_server with SO_REUSEPORT, HAProxy in front of two) subclass Service.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from . import procfs
from .proc import ToolError

START_TIMEOUT_S = 5.0   # to listen; a server that takes longer did not start
STOP_TIMEOUT_S = 10.0   # after SIGTERM; pool_server promises 2 s


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A long-running child process with a readiness check."""

    name = "service"

    def __init__(self, b):
        self.b = b
        self.proc = None
        self.port = None
        self.log_path = None

    # subclasses: the command line, and whether it is ready (sets self.port)
    def argv(self):
        raise NotImplementedError

    def ready(self):
        raise NotImplementedError

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        fd, self.log_path = tempfile.mkstemp(prefix=self.name + "-", suffix=".log", dir=self.b.tmp)
        with os.fdopen(fd, "w") as logf:
            self.proc = self.b.procs.spawn(self.argv(), stdin=subprocess.DEVNULL, stdout=logf,
                                           stderr=logf)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.ready():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.b.procs.stop(self.proc, grace=2.0)
        raise ToolError(f"{self.describe()} did not start; its log:\n{self.log_tail(20)}")

    def stop(self):
        """SIGTERM; the server must exit 0 (in STOP_TIMEOUT_S)."""
        rc, killed = self.b.procs.stop(self.proc, grace=STOP_TIMEOUT_S)
        if killed:
            raise ToolError(f"{self.describe()} did not exit within {STOP_TIMEOUT_S:.0f} s "
                            f"of SIGTERM (killed); log:\n{self.log_tail(10)}")
        if rc != 0:
            raise ToolError(f"{self.describe()} exited with status {rc} after SIGTERM; "
                            f"log:\n{self.log_tail(10)}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def keep_log(self, dest):
        """Copies the log into the assets (used when something failed)."""
        try:
            shutil.copyfile(self.log_path, dest)
        except OSError:
            pass

    def describe(self):
        return self.name

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        elif self.proc is not None:
            self.b.procs.stop(self.proc, grace=STOP_TIMEOUT_S)
        return False


class PoolServer(Service):
    """pool_server --port 0 --port-file F: it picks a free port and writes it
    to F (atomically) once it listens."""

    name = "pool_server"

    def __init__(self, b, workers, queue_capacity=1024, extra_args=()):
        super().__init__(b)
        self.workers = workers
        self.queue_capacity = queue_capacity
        self.extra_args = list(extra_args)
        fd, self.port_file = tempfile.mkstemp(prefix="pool_server-", suffix=".port")
        os.close(fd)
        os.unlink(self.port_file)  # the server creates it once listening

    def argv(self):
        return [self.b.binary("server/pool_server"), "--port", "0", "--port-file", self.port_file,
                "--workers", str(self.workers), "--queue-capacity", str(self.queue_capacity),
                *self.extra_args]

    def ready(self):
        try:
            with open(self.port_file) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return False
        if not text.isdigit():
            raise ToolError(f"malformed --port-file {self.port_file}: {text!r}")
        self.port = int(text)
        os.unlink(self.port_file)
        return True

    def describe(self):
        return f"pool_server --workers {self.workers} (pid {self.proc.pid if self.proc else '-'})"

    def stats(self):
        """One STATS reply as a dict of integers."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(b"STATS\n")
                line = _read_line(s)
        except OSError as e:
            raise ToolError(f"STATS from {self.describe()} failed: {e}") from e
        try:
            return parse_stats_line(line)
        except ValueError as e:
            raise ToolError(f"bad STATS reply from {self.describe()}: {line!r}") from e

    def cpu_ticks(self):
        return procfs.process_cpu_ticks(self.pid)

    def context_switches(self):
        return procfs.context_switches(self.pid)


class RedisServer(Service):
    """redis-server on a free port, no persistence."""

    name = "redis-server"

    def __init__(self, b):
        super().__init__(b)
        self.port = free_port()

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no"]

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return _read_line(s).strip() == "+PONG"
        except OSError:
            return False

    def describe(self):
        return f"redis-server on port {self.port}"


def parse_stats_line(line):
    """'result: workers=4 busy_workers=1 ...' -> {'workers': 4, ...}."""
    line = line.strip()
    if not line.startswith("result: "):
        raise ValueError(line)
    out = {}
    for item in line[len("result: "):].split():
        k, sep, v = item.partition("=")
        if not sep:
            raise ValueError(item)
        out[k] = int(v)
    return out


def _read_line(sock):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace")

