"""Section: scale-out. The same client load (stress_test, 50 connections,
closed loop, PING and HASH $ARG64) against three set-ups, runs alternated,
medians:

  1 process     pool_server --workers 2
  2 reuseport   two pool_server --workers 1 --reuseport on one port (the
                kernel spreads the connections over the two listeners)
  2 + HAProxy   two pool_server --workers 1 on their own ports behind
                HAProxy, started from deploy/haproxy.cfg (the recipe, with
                its third server line dropped and its addresses filled in)

Each set-up has two worker threads in all, so the difference is the number
of event loops and the proxy hop. Besides requests/s and latency, the CPU
of the servers and of HAProxy (in % of one core) over the runs.
"""

import re
import shutil
import signal
import socket
import time

from .. import procfs
from ..bench import ARG64
from ..loadgen import stress
from ..proc import ToolError, log
from ..report import table
from ..servers import STOP_TIMEOUT_S, PoolServer, Service, free_port
from ..stats import fmt, median, ratio
from . import Section

CLIENTS = 50
SETUPS = ("1 process", "2 reuseport", "2 + HAProxy")
WORKLOADS = (("PING", "PING"), ("HASH 64 B", f"HASH {ARG64}"))


class ReusePortServer(PoolServer):
    """pool_server --reuseport, on `port` (0: a free one)."""

    def __init__(self, b, workers, port=0):
        super().__init__(b, workers, extra_args=["--reuseport"])
        self.want_port = port

    def argv(self):
        args = super().argv()
        args[args.index("--port") + 1] = str(self.want_port)
        return args


class HAProxy(Service):
    """HAProxy from deploy/haproxy.cfg in front of `backends` (PoolServers):
    the recipe's "${POOL_...-default}" settings are filled in, its server
    lines beyond len(backends) dropped. Ready when its admin socket shows
    every backend UP. Stopped with SIGUSR1 (HAProxy's graceful stop, which
    exits 0; SIGTERM is its hard stop)."""

    name = "haproxy"

    def __init__(self, b, backends):
        super().__init__(b)
        self.port = free_port()
        self.sock = f"{b.tmp}/haproxy-{self.port}.sock"
        # Kept with the report: the exact config the figures came from.
        self.cfg_path = str(b.assets / "haproxy-scaleout.cfg")
        self.names = [f"s{i + 1}" for i in range(len(backends))]
        values = {"POOL_FRONT": f"127.0.0.1:{self.port}", "POOL_STATS": self.sock,
                  "POOL_MAXCONN": "2000"}
        for name, srv in zip(self.names, backends):
            values[f"POOL_{name.upper()}"] = f"127.0.0.1:{srv.port}"
        recipe = (b.root / "deploy" / "haproxy.cfg").read_text()
        self.config = derive_config(recipe, values, self.names)

    def argv(self):
        with open(self.cfg_path, "w") as f:
            f.write(self.config)
        return ["haproxy", "-db", "-f", self.cfg_path]

    def ready(self):
        status = self.server_status()
        return all(status.get(n) == "UP" for n in self.names)

    def server_status(self):
        """{server name: status} from `show stat` on the admin socket."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.sock)
                s.sendall(b"show stat\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return {}
        return parse_show_stat(data.decode(errors="replace"), "pool")

    def stop(self):
        rc, killed = self.b.procs.stop(self.proc, sig=signal.SIGUSR1, grace=STOP_TIMEOUT_S)
        if killed or rc != 0:
            raise ToolError(f"haproxy did not stop cleanly on SIGUSR1 (exit {rc}, "
                            f"killed={killed}); log:\n{self.log_tail(10)}")

    def cpu_ticks(self):
        return procfs.process_cpu_ticks(self.pid)

    def describe(self):
        return f"haproxy on port {self.port} (pid {self.proc.pid if self.proc else '-'})"


def derive_config(recipe, values, keep_servers):
    """The recipe with each "${NAME-default}" whose NAME is in values
    replaced by that value (a name the recipe lacks is a ToolError: the
    recipe changed under the benchmark), and `server` lines not in
    keep_servers dropped."""
    missing = [n for n in values if "${" + n + "-" not in recipe]
    if missing:
        raise ToolError(f"deploy/haproxy.cfg no longer has {', '.join(missing)}")
    text = re.sub(r'"\$\{(\w+)-[^}]*\}"',
                  lambda m: values.get(m.group(1), m.group(0)), recipe)
    lines = [ln for ln in text.splitlines()
             if not (ln.split()[:1] == ["server"] and ln.split()[1] not in keep_servers)]
    return "\n".join(lines) + "\n"


def parse_show_stat(text, backend):
    """{server: status} of one backend from HAProxy's `show stat` CSV."""
    out = {}
    header = None
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split(",")
            continue
        f = line.split(",")
        if header and len(f) >= len(header) - 1 and f[0] == backend and f[1] not in (
                "FRONTEND", "BACKEND"):
            out[f[1]] = f[header.index("status")]
    return out


class Scaleout(Section):
    key = "scaleout"
    title = "Scale-out: one process, two with --reuseport, two behind HAProxy"

    def measure(self, b):
        if shutil.which("haproxy") is None:
            raise ToolError("haproxy not found (ci/setup.sh installs it)")
        reps, dur = b.cfg.handoff_reps, 2 * b.cfg.duration
        self.duration = dur
        log(f"scale-out: 1 process vs 2 --reuseport vs 2 behind HAProxy, {CLIENTS} clients, "
            f"PING and HASH 64 B, {reps} runs of {dur:g} s each")
        runs = {(s, w): [] for s in SETUPS for w, _ in WORKLOADS}
        cpu = {(s, w): {"servers": [], "haproxy": []} for s in SETUPS for w, _ in WORKLOADS}
        split = []  # the first reuseport process's share of the pair's CPU
        with PoolServer(b, 2) as one, ReusePortServer(b, 1) as ra, \
                PoolServer(b, 1) as ha, PoolServer(b, 1) as hb:
            # rb can be named only once ra listens: it shares ra's port.
            with ReusePortServer(b, 1, port=ra.port) as rb, HAProxy(b, [ha, hb]) as hx:
                setups = {
                    "1 process": (one, [one], None),
                    "2 reuseport": (ra, [ra, rb], None),
                    "2 + HAProxy": (hx, [ha, hb], hx),
                }
                m0 = procfs.machine_ticks()
                for r in range(reps):
                    for name in (SETUPS if r % 2 == 0 else tuple(reversed(SETUPS))):
                        target, servers, proxy = setups[name]
                        for w, cmd in WORKLOADS:
                            k0 = [s.cpu_ticks() for s in servers]
                            h0 = proxy.cpu_ticks() if proxy else 0
                            t0 = time.monotonic()
                            runs[(name, w)].append(stress(b, target, CLIENTS, cmd, duration=dur))
                            t1 = time.monotonic()
                            dk = [s.cpu_ticks() - k for s, k in zip(servers, k0)]
                            wall = procfs.CLK_TCK * (t1 - t0)
                            cpu[(name, w)]["servers"].append(100.0 * sum(dk) / wall)
                            if proxy:
                                cpu[(name, w)]["haproxy"].append(
                                    100.0 * (proxy.cpu_ticks() - h0) / wall)
                            if name == "2 reuseport" and sum(dk) > 0:
                                split.append(100.0 * dk[0] / sum(dk))
                self.machine_cpu = procfs.machine_cpu_pct(m0, procfs.machine_ticks(), b.ncpu)
        self.fig = {}
        for (name, w), rs in runs.items():
            self.fig[(name, w)] = {
                "rps": median(float(x["rps"]) for x in rs),
                "p50": median(float(x["p50_us"]) for x in rs),
                "p99": median(float(x["p99_us"]) for x in rs),
            }
        self.cpu = {key: {k: median(v) if v else None for k, v in c.items()}
                    for key, c in cpu.items()}
        self.split = median(split) if split else None

    def headline(self, b):
        rows = []
        for w, _ in WORKLOADS:
            base = self.fig[("1 process", w)]["rps"]
            rows.append((f"scale-out, {w}, {CLIENTS} clients: 2 reuseport; 2 + HAProxy / 1 process",
                         f"{fmt(ratio(self.fig[('2 reuseport', w)]['rps'], base), 2)}x; "
                         f"{fmt(ratio(self.fig[('2 + HAProxy', w)]['rps'], base), 2)}x "
                         f"(1 process: {fmt(base, 0)} requests/s)"))
        return rows

    def render(self, b):
        rows = []
        for w, _ in WORKLOADS:
            base = self.fig[("1 process", w)]["rps"]
            for name in SETUPS:
                f, c = self.fig[(name, w)], self.cpu[(name, w)]
                rows.append([w, name, fmt(f["rps"], 0), fmt(ratio(f["rps"], base), 2) + "x",
                             fmt(f["p50"]), fmt(f["p99"]),
                             fmt(c["servers"], 0) + "%",
                             fmt(c["haproxy"], 0) + "%" if c["haproxy"] is not None else "-"])
        split = (f" The two --reuseport processes shared the work {fmt(self.split, 0)}% / "
                 f"{fmt(100 - self.split, 0)}% (their CPU, median over the runs)."
                 if self.split is not None else "")
        # Per process (a pair's figure is two processes'), the busiest point.
        busiest = max(c["servers"] / (1 if name == "1 process" else 2)
                      for (name, _), c in self.cpu.items())
        pace = (f"No pool_server process used more than {fmt(busiest, 0)}% of a core at any "
                "point: the servers were\nnot saturated, and the load generator (one thread, "
                "checking every reply) set the pace." if busiest < 80 else
                f"The busiest pool_server process used {fmt(busiest, 0)}% of a core: at that "
                "point the server, not\nthe load generator, set the pace.")
        return "\n".join([
            f"stress_test, {CLIENTS} connections, closed loop (one request in flight each), "
            f"{b.cfg.handoff_reps} runs of {self.duration:g} s per point,",
            "set-ups alternated, medians. Every set-up has two worker threads in all: "
            "`1 process` is",
            "pool_server --workers 2; `2 reuseport` is two pool_server --workers 1 --reuseport on "
            "one port;",
            "`2 + HAProxy` is two pool_server --workers 1 behind HAProxy from "
            "`deploy/haproxy.cfg`",
            "(TCP mode, leastconn; HAProxy runs as many threads as there are CPUs). CPU columns "
            "are in % of",
            "one core over the run: all the set-up's pool_server processes, and HAProxy." + split,
            "",
            table(["workload", "set-up", "requests/s", "vs 1 process", "p50 us", "p99 us",
                   "server CPU", "haproxy CPU"],
                  rows, "llrrrrrr"),
            "",
            f"What {b.ncpu} cores can and cannot show. stress_test, the servers and HAProxy "
            "share the same",
            "cores (stress_test alone takes most of one), so no set-up here has a core to itself "
            "and the",
            "ratios measure scheduling as much as capacity. When other work competes for the "
            "machine, a",
            "set-up with more runnable threads gets more time slices: a higher `server CPU` next "
            "to a higher",
            "rate means the set-up was given more of the machine, not that it needs less per "
            "request. What",
            "these runs do show: the kernel spreads a --reuseport port evenly (the split above), "
            "every reply",
            "through every set-up is checked (stress_test fails the run on a wrong one), and the "
            "proxy hop",
            "costs CPU of its own (`haproxy CPU`, here taken from the same two cores) and latency "
            "(p50 next",
            "to the direct set-ups). What they cannot show: the gain of a second event loop on a "
            "core of its",
            "own (PING and small HASH are loop-bound, so on a host with idle cores a second "
            "process adds",
            "about one loop's worth), and HAProxy across hosts, where its CPU is not the "
            "servers' and the hop",
            "costs a network round trip. Both need more cores or more machines than this one. "
            f"The config",
            f"HAProxy ran is kept as `{b.name}/haproxy-scaleout.cfg`.",
            pace,
            f"Machine CPU during these runs: {fmt(self.machine_cpu, 0)}% of {b.ncpu * 100}%.",
        ])
