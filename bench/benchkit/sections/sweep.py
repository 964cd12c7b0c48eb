"""Section: the sweep, workloads x workers x clients, one request at a
time per client. Per run: stress_test's requests/s and latency, the lock
share from STATS, the server's CPU and context switches from /proc, and the
machine's CPU from /proc/stat."""

import dataclasses
import time

from .. import plot, procfs
from ..bench import ARG4K, ARG64
from ..loadgen import stress
from ..proc import log
from ..report import table
from ..servers import PoolServer
from ..stats import fmt, median, pct
from . import Section


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str     # file names and TSV rows
    cmd: str     # the request line
    title: str   # headings and plots


def workloads(cfg):
    """The sweep's workloads, in report order. A new one (e.g. VERIFY) is
    one more line here."""
    return [
        Workload("PING", "PING", "PING (loop only)"),
        Workload("HASH64", f"HASH {ARG64}", "HASH, 64-byte argument"),
        Workload("HASH4K", f"HASH {ARG4K}", "HASH, 4 KiB argument"),
        Workload("PRIMES", f"PRIMES {cfg.primes_n}", f"PRIMES {cfg.primes_n} (CPU-bound)"),
        Workload("SLEEP", "SLEEP 20", "SLEEP 20 (pool saturation)"),
        Workload("VERIFY", VERIFY_RFC8032_T2, "VERIFY, Ed25519 (tens of us of real CPU)"),
    ]


# VERIFY of RFC 8032's TEST 2 (the one-byte message "r"): a valid signature,
# so every reply is "result: ok" (stress_test checks it with its own
# libcrypto call).
VERIFY_RFC8032_T2 = (
    "VERIFY 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c "
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00 r")


# Columns of sweep-raw.tsv after `rep` and of sweep.tsv: (name, format,
# how runs of a point combine). The first three identify the point.
POINT = ("workload", "workers", "clients")
COLUMNS = (
    ("rps", "{:.1f}", "median"),
    ("p50_us", "{:.1f}", "median"),
    ("p99_us", "{:.1f}", "median"),
    ("lock_share_pct", "{:.2f}", "median"),
    ("server_cpu_pct", "{:.0f}", "median"),
    ("machine_cpu_pct", "{:.0f}", "median"),
    ("requests", "{:d}", "sum"),
    ("busy", "{:d}", "sum"),
    ("ctx_switches", "{:d}", "sum"),        # server, all threads (/proc/PID/task/*/status)
    ("ctx_per_req", "{:.3f}", "median"),
)


class Sweep(Section):
    key = "sweep"
    title = "Sweep: workloads x workers x clients"

    def measure(self, b):
        cfg = b.cfg
        self.workloads = workloads(cfg)
        self.runs = []  # dicts: rep, POINT, COLUMNS
        # The whole sweep is repeated: a point's runs are minutes apart, so
        # a burst of other load on the machine hits one of them, not all.
        for rep in range(1, cfg.sweep_reps + 1):
            for w in cfg.workers:
                with PoolServer(b, w) as srv:
                    for wl in self.workloads:
                        for c in cfg.clients:
                            log(f"sweep {rep}/{cfg.sweep_reps}: workers={w} {wl.key} clients={c}")
                            self.runs.append(dict(rep=rep, workload=wl.key, workers=w, clients=c,
                                                  **measure_point(b, srv, c, wl.cmd)))
        self.points = {}
        for wl in self.workloads:
            for w in cfg.workers:
                for c in cfg.clients:
                    runs = [r for r in self.runs if (r["workload"], r["workers"], r["clients"]) == (wl.key, w, c)]
                    self.points[(wl.key, w, c)] = combine(runs)
        self.machine_cpu = median(r["machine_cpu_pct"] for r in self.runs)

    def point(self, workload, workers, clients):
        return self.points[(workload, workers, clients)]

    def render(self, b):
        cfg = b.cfg
        self._write_tsvs(b)
        rel = b.name
        n = cfg.sweep_reps
        out = [
            f"Each figure is the median of the point's {n} run(s) (each column on its own; busy",
            "replies summed). Throughput and latency from stress_test (send to reply line,",
            "log-linear histogram).",
            "Lock share = delta lock_wait_us / delta worker_us (STATS before and after the point):",
            "the share of worker wall time spent blocked on the queue lock (any thread's wait",
            "counts, the loop's included). Server CPU = delta utime+stime of the server process",
            f"over the point's wall time; 100% = one core of {b.ncpu}. Machine CPU = all busy time",
            f"of the machine (/proc/stat) over the same interval, out of {b.ncpu * 100}%: server +",
            f"stress_test + anything else running; when it is near {b.ncpu * 100}% and well above",
            "server CPU plus one core for the load generator, other work was competing.",
            "Ctx sw/req = the server's context switches (voluntary + involuntary, summed over",
            "its threads from /proc/PID/task/*/status) during the run, per request.",
        ]
        for wl in self.workloads:
            rows = []
            for w in cfg.workers:
                for c in cfg.clients:
                    p = self.point(wl.key, w, c)
                    rows.append([w, c, fmt(p["rps"], 0), fmt(p["p50_us"]), fmt(p["p99_us"]),
                                 fmt(p["lock_share_pct"], 2) + "%", fmt(p["server_cpu_pct"], 0) + "%",
                                 fmt(p["machine_cpu_pct"], 0) + "%", fmt(p["ctx_per_req"], 2),
                                 p["busy"]])
            out += ["", f"### {wl.title}", "",
                    table(["workers", "clients", "requests/s", "p50 (us)", "p99 (us)", "lock share",
                           "server CPU", "machine CPU", "ctx sw/req", "busy replies"], rows, "r" * 10),
                    "", f"![{wl.title} throughput]({rel}/{wl.key}-throughput.png) "
                        f"![{wl.title} p99]({rel}/{wl.key}-p99.png)"]
            self._plot(b, wl)
        return "\n".join(out)

    def _write_tsvs(self, b):
        names = [c[0] for c in COLUMNS]
        with open(b.assets / "sweep-raw.tsv", "w") as f:
            f.write("\t".join(("rep",) + POINT + tuple(names)) + "\n")
            for r in self.runs:
                f.write("\t".join([str(r["rep"]), r["workload"], str(r["workers"]), str(r["clients"])]
                                  + [fmt_col(name, spec, r[name]) for name, spec, _ in COLUMNS]) + "\n")
        with open(b.assets / "sweep.tsv", "w") as f:
            f.write("\t".join(POINT + tuple(names)) + "\n")
            for (wl, w, c), p in self.points.items():
                f.write("\t".join([wl, str(w), str(c)]
                                  + [fmt_col(name, spec, p[name]) for name, spec, _ in COLUMNS]) + "\n")

    def _plot(self, b, wl):
        cfg = b.cfg
        dat = b.assets / f"{wl.key}.dat"
        with open(dat, "w") as f:
            f.write("# clients " + " ".join(f"rps_w{w} p99_w{w}" for w in cfg.workers)
                    + " (from sweep.tsv)\n")
            for c in cfg.clients:
                f.write(" ".join([str(c)] + [f"{self.point(wl.key, w, c)['rps']:.1f} "
                                             f"{self.point(wl.key, w, c)['p99_us']:.1f}"
                                             for w in cfg.workers]) + "\n")
        plot.sweep_plots(b, dat, wl.title,
                         [f"{w} worker{'s' if w > 1 else ''}" for w in cfg.workers], cfg.clients,
                         b.assets / f"{wl.key}-throughput.png", b.assets / f"{wl.key}-p99.png")


def measure_point(b, srv, clients, cmd):
    """One stress_test run with the server-side figures around it."""
    s0 = srv.stats()
    k0, x0, m0, t0 = srv.cpu_ticks(), srv.context_switches(), procfs.machine_ticks(), time.monotonic()
    js = stress(b, srv, clients, cmd)
    t1, m1, x1, k1 = time.monotonic(), procfs.machine_ticks(), srv.context_switches(), srv.cpu_ticks()
    s1 = srv.stats()
    requests = int(js["requests"])
    ctx = x1 - x0
    return {
        "rps": float(js["rps"]),
        "p50_us": float(js["p50_us"]),
        "p99_us": float(js["p99_us"]),
        "lock_share_pct": pct(s1["lock_wait_us"] - s0["lock_wait_us"], s1["worker_us"] - s0["worker_us"]),
        "server_cpu_pct": 100.0 * (k1 - k0) / procfs.CLK_TCK / (t1 - t0),
        "machine_cpu_pct": procfs.machine_cpu_pct(m0, m1, b.ncpu),
        "requests": requests,
        "busy": int(js["busy"]),
        "ctx_switches": ctx,
        "ctx_per_req": ctx / requests if requests else float("nan"),
    }


def combine(runs):
    """A point's runs combined column by column (COLUMNS says how)."""
    out = {}
    for name, _, how in COLUMNS:
        values = [r[name] for r in runs]
        out[name] = sum(values) if how == "sum" else median(values)
    return out


def fmt_col(name, spec, value):
    if spec == "{:d}":
        return str(int(value))
    return "nan" if value != value else spec.format(value)
