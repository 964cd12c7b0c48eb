"""Section: overload. The server's capacity C first (closed loop), then
open-loop offered load from 0.5 x C to 3 x C against three overload
policies side by side: reject (the default: a full queue answers "server
busy"), hold (the connection is not read until there is room), and reject
with --queue-timeout-ms (a task that waited longer is answered "timeout"
and never runs). Each point is several consecutive windows of one
continuous load, so that a p99 that grows with time shows.

How a point runs: WINDOWS stress_test processes, the k-th started at
k x window seconds after the first, each sending for `window` seconds at
the point's rate (--rate, coordinated omission corrected: latency counts
from each request's intended send time). Process k+1 starts sending as
process k stops (a few ms apart: the time to open 50 connections), while
k still awaits its last replies, so the server sees one load without a
pause; each window's percentiles are those of the requests it sent.
"""

import dataclasses
import math
import time

from .. import plot, procfs
from ..loadgen import stress
from ..proc import log
from ..report import table
from ..servers import PoolServer
from ..stats import fmt, median, ratio
from . import Section
from .stressjobs import StressJob, sleep_until

WORKERS = 2
CLIENTS = 50
QUEUE_CAPACITY = 256       # the server's default
CMD = "PRIMES 1000000"     # CPU-bound, about 0.5 ms on one core (measured in the run)
QUEUE_TIMEOUT_MS = 5       # why this value: see render() and bench/README.md
MULTIPLES = (0.5, 1.0, 1.5, 2.0, 3.0)
WINDOWS = 4
TARGET_MULTIPLE = 2.0
GOODPUT_FLOOR = 0.9        # target: goodput >= 90% of C ...
P99_TIMEOUTS = 3           # ... and served p99 <= 3 x the queue timeout + the run time
DRIFT = 0.2                # C after the ladder this far from C before it: said in the report


@dataclasses.dataclass(frozen=True)
class Policy:
    key: str        # file names, TSV rows
    title: str      # tables and plots
    args: tuple     # pool_server flags
    colour: str


POLICIES = (
    Policy("reject", "reject (default)", (), "#1f5fa8"),
    Policy("hold", "hold (--on-full hold)", ("--on-full", "hold"), "#c0392b"),
    Policy("timeout", f"reject + --queue-timeout-ms {QUEUE_TIMEOUT_MS}",
           ("--queue-timeout-ms", str(QUEUE_TIMEOUT_MS)), "#008837"),
)


def timing(quick):
    """(warm-up seconds, capacity run seconds, window seconds)."""
    return (0.5, 1.0, 0.5) if quick else (1.0, 3.0, 1.5)


# ---- pure functions (unit-tested) ---------------------------------------------

def rate_ladder(capacity_rps, multiples=MULTIPLES):
    """The offered rates at each multiple of the capacity, as stress_test
    --rate takes them: whole requests/s, at least 1. ValueError when the
    capacity is not a positive number."""
    if not (isinstance(capacity_rps, (int, float)) and capacity_rps > 0 and math.isfinite(capacity_rps)):
        raise ValueError(f"capacity must be a positive number, not {capacity_rps!r}")
    return [max(1, int(round(m * capacity_rps))) for m in multiples]


def window_offsets(n, window_s):
    """Start times of n consecutive windows of window_s seconds, relative
    to the first."""
    if n < 1 or window_s <= 0:
        raise ValueError("need at least one window of positive length")
    return [k * window_s for k in range(n)]


def stress_timeout(multiple, n, window_s):
    """stress_test's --timeout for one window of a point: far above what a
    working server needs. Under hold the backlog grows by (multiple - 1) x
    C requests a second, so the last window's last request waits at most
    about (multiple - 1) x n x window_s; this allows multiple x n x
    window_s + 60 s."""
    return multiple * n * window_s + 60.0


def _p(js, key):
    """A latency percentile of a window, NaN when it had no ok reply (its
    percentiles are then not figures)."""
    v = js.get(key)
    if not js.get("ok") or v is None:
        return math.nan
    return float(v)


def p99_growth(p99s):
    """Last window's p99 over the first's: > 1 when the tail grows with
    time. NaN when either is missing or the first is 0."""
    if len(p99s) < 2:
        return math.nan
    return ratio(p99s[-1], p99s[0])


def combine_windows(windows, span_s):
    """A point's figures from its windows (stress_test JSON dicts, in
    order) and span_s, the wall time from the first window's start to the
    last one's exit. Rates per second are over span_s, so a backlog
    answered after the sending stopped counts at the rate it was really
    answered. p50 is the median of the windows' p50; p99 the largest of
    their p99, which bounds the p99 of all of them pooled (each window
    has at most 1% of its replies above its own p99)."""
    if not windows or span_s <= 0:
        raise ValueError("no windows")
    tot = {k: sum(int(w.get(k) or 0) for w in windows)
           for k in ("requests", "ok", "busy", "timeouts", "delayed", "wrong", "lost")}
    send_s = sum(float(w.get("duration_s") or 0) for w in windows)
    sent = sum(float(w.get("achieved_rps") or 0) * float(w.get("duration_s") or 0) for w in windows)
    p50s = [_p(w, "p50_us") for w in windows]
    p99s = [_p(w, "p99_us") for w in windows]
    have = [p for p in p99s if not math.isnan(p)]
    return dict(
        tot,
        span_s=span_s,
        offered_rps=float(windows[0].get("offered_rps") or math.nan),
        achieved_rps=sent / send_s if send_s > 0 else math.nan,
        goodput_rps=tot["ok"] / span_s,
        rejected_rps=tot["busy"] / span_s,
        timeouts_rps=tot["timeouts"] / span_s,
        p50_us=median([p for p in p50s if not math.isnan(p)]),
        p99_us=max(have) if have else math.nan,
        p99_windows_us=p99s,
        p99_growth=p99_growth(p99s),
    )


def evaluate_target(capacity_rps, goodput_rps, p99_windows_us, timeout_ms, run_us):
    """The overload target at 2 x C with the queue timeout: goodput >=
    GOODPUT_FLOOR x C, and every window's served p99 <= P99_TIMEOUTS x
    timeout + the task's own run time. A window without a served request
    has no p99 and fails the latency half."""
    bound_us = P99_TIMEOUTS * timeout_ms * 1000.0 + run_us
    share = ratio(goodput_rps, capacity_rps)
    worst = math.nan
    if p99_windows_us and not any(math.isnan(p) for p in p99_windows_us):
        worst = max(p99_windows_us)
    goodput_met = not math.isnan(share) and share >= GOODPUT_FLOOR
    latency_met = not math.isnan(worst) and worst <= bound_us
    return dict(goodput_share=share, goodput_met=goodput_met, bound_us=bound_us,
                worst_p99_us=worst, latency_met=latency_met, met=goodput_met and latency_met)


def fmt_ms(us):
    """Microseconds as milliseconds with about three significant digits."""
    if us is None or math.isnan(us):
        return "nan"
    v = us / 1000.0
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def met(flag):
    return "met" if flag else "not met"


# ---- the section ----------------------------------------------------------------

class Overload(Section):
    key = "overload"
    title = "Overload: goodput and latency past capacity, per policy"

    def measure(self, b):
        warm_s, cap_s, self.window_s = timing(b.cfg.quick)
        log(f"overload: {CMD}, {WORKERS} workers, {CLIENTS} clients; capacity ({cap_s:g} s closed loop)")
        with PoolServer(b, WORKERS, QUEUE_CAPACITY) as s_rej, \
                PoolServer(b, WORKERS, QUEUE_CAPACITY, POLICIES[1].args) as s_hold, \
                PoolServer(b, WORKERS, QUEUE_CAPACITY, POLICIES[2].args) as s_to:
            servers = {"reject": s_rej, "hold": s_hold, "timeout": s_to}
            # Capacity on the default server, after a warm-up run that is not
            # counted (a fresh process can measure lower than the same one a
            # moment later); its STATS then hold only these two runs, so
            # run_us is the task's own run time at C.
            stress(b, s_rej, CLIENTS, CMD, duration=warm_s)
            js = stress(b, s_rej, CLIENTS, CMD, duration=cap_s)
            st = s_rej.stats()
            self.capacity = float(js["goodput_rps"])
            self.capacity_js = js
            self.run_us_p50, self.run_us_p99 = st["run_us_p50"], st["run_us_p99"]
            self.rates = rate_ladder(self.capacity, MULTIPLES)
            log(f"overload: capacity {self.capacity:.0f}/s, run time p50 {self.run_us_p50} us; "
                f"rates {self.rates}")
            self.points = {}   # (policy key, multiple) -> combined figures + windows + server deltas
            for i, (m, rate) in enumerate(zip(MULTIPLES, self.rates)):
                order = POLICIES if i % 2 == 0 else POLICIES[::-1]
                for pol in order:
                    log(f"overload: {pol.key} at {m:g} x C = {rate}/s, {WINDOWS} x {self.window_s:g} s")
                    self.points[(pol.key, m)] = self._point(b, servers[pol.key], m, rate)
            # Again at the end: how far the machine drifted during the ladder.
            self.capacity_end = float(stress(b, s_rej, CLIENTS, CMD, duration=cap_s)["goodput_rps"])
        t = self.points[("timeout", TARGET_MULTIPLE)]
        self.target = evaluate_target(self.capacity, t["goodput_rps"], t["p99_windows_us"],
                                      QUEUE_TIMEOUT_MS, self.run_us_p50)

    def _point(self, b, srv, multiple, rate):
        timeout_s = stress_timeout(multiple, WINDOWS, self.window_s)
        s0, m0, k0 = srv.stats(), procfs.machine_ticks(), srv.cpu_ticks()
        t0 = time.monotonic()
        jobs = []
        for off in window_offsets(WINDOWS, self.window_s):
            sleep_until(t0 + off)
            jobs.append(StressJob(b, srv, ["--clients", CLIENTS, "--duration", f"{self.window_s:g}",
                                           "--rate", rate, "--cmd", CMD], timeout_s))
        windows = [j.result() for j in jobs]
        span = time.monotonic() - t0
        k1, m1, s1 = srv.cpu_ticks(), procfs.machine_ticks(), srv.stats()
        p = combine_windows(windows, span)
        p["windows"] = windows
        p["machine_cpu_pct"] = procfs.machine_cpu_pct(m0, m1, b.ncpu)
        p["server_cpu_pct"] = 100.0 * (k1 - k0) / procfs.CLK_TCK / span
        for k in ("rejected", "expired", "held", "completed"):
            p["srv_" + k] = s1[k] - s0[k]
        return p

    # ---- report -------------------------------------------------------------

    def headline(self, b):
        t = self.target
        rej, hold = (self.points[(k, TARGET_MULTIPLE)] for k in ("reject", "hold"))
        return [
            (f"overload at {TARGET_MULTIPLE:g} x capacity, reject + --queue-timeout-ms "
             f"{QUEUE_TIMEOUT_MS}: goodput / capacity; worst window's served p99",
             f"{fmt(t['goodput_share'], 2)}x (target >= {GOODPUT_FLOOR:g}: {met(t['goodput_met'])}); "
             f"{fmt_ms(t['worst_p99_us'])} ms (target <= {fmt_ms(t['bound_us'])} ms: "
             f"{met(t['latency_met'])})"),
            (f"overload at {TARGET_MULTIPLE:g} x capacity, served p99 first -> last window: "
             "reject; hold",
             f"{fmt_ms(rej['p99_windows_us'][0])} -> {fmt_ms(rej['p99_windows_us'][-1])} ms; "
             f"{fmt_ms(hold['p99_windows_us'][0])} -> {fmt_ms(hold['p99_windows_us'][-1])} ms"),
        ]

    def render(self, b):
        self._write_data(b)
        self._plots(b)
        t = self.target
        rows = []
        for pol in POLICIES:
            for m, rate in zip(MULTIPLES, self.rates):
                p = self.points[(pol.key, m)]
                rows.append([pol.title, f"{m:g}", rate, fmt(p["achieved_rps"], 0),
                             fmt(p["goodput_rps"], 0), fmt(ratio(p["goodput_rps"], self.capacity), 2),
                             fmt(p["rejected_rps"], 0), fmt(p["timeouts_rps"], 0),
                             fmt_ms(p["p50_us"]), fmt_ms(p["p99_us"]),
                             " / ".join(fmt_ms(x) for x in p["p99_windows_us"]),
                             fmt(p["p99_growth"], 2), p["delayed"],
                             f"{p['srv_rejected']} / {p['srv_expired']} / {p['srv_held']}",
                             fmt(p["server_cpu_pct"], 0) + "%", fmt(p["machine_cpu_pct"], 0) + "%"])
        tp = self.points[("timeout", TARGET_MULTIPLE)]
        rej, hold = (self.points[(k, TARGET_MULTIPLE)] for k in ("reject", "hold"))
        cap_js = self.capacity_js
        rel = b.name
        return "\n".join([
            f"Workload `{CMD}` (CPU-bound), pool_server --workers {WORKERS} --queue-capacity "
            f"{QUEUE_CAPACITY} (the default), {CLIENTS} connections.",
            "",
            f"**Capacity C = {fmt(self.capacity, 0)} requests/s**: closed loop, {CLIENTS} clients, one "
            f"request each at a time, {fmt(float(cap_js['elapsed_s']), 1)} s, on the default server "
            "after a warm-up run of the same that is not counted (p50 "
            f"{fmt_ms(float(cap_js['p50_us']))} ms, p99 {fmt_ms(float(cap_js['p99_us']))} ms, "
            f"{cap_js['busy']} busy). The server's own run time of the task in those two runs (STATS): "
            f"p50 {self.run_us_p50} us, p99 {self.run_us_p99} us. Measured again after the "
            f"ladder: {fmt(self.capacity_end, 0)} requests/s ({fmt(ratio(self.capacity_end, self.capacity), 2)}x "
            "of C; how much the machine drifted meanwhile).",
            "",
            f"**Queue timeout {QUEUE_TIMEOUT_MS} ms**, {fmt(ratio(QUEUE_TIMEOUT_MS * 1000, self.run_us_p50), 0)} x "
            "the task's p50 run time here. It is the queue wait the server may add to a "
            "request, so at overload a served request waits at most about that long. "
            f"Small enough that 3 x {QUEUE_TIMEOUT_MS} ms stays well under what the default "
            f"policy's full queue costs ({QUEUE_CAPACITY} tasks / C = "
            f"{fmt(1000 * QUEUE_CAPACITY / self.capacity, 0)} ms); large enough that a wait "
            f"of a few tasks ({WORKERS} workers) and one preemption of a worker by the kernel "
            "(a scheduling slice is a few ms on a busy 2-core machine) do not expire tasks below "
            "capacity. A literal few run times (1 to 2 ms) would expire tasks whenever a worker "
            "is preempted once, and would measure the scheduler rather than the policy.",
            "",
            f"Offered load: open loop (`--rate`) at {', '.join(f'{m:g}' for m in MULTIPLES)} x C, "
            f"each point {WINDOWS} consecutive windows of {self.window_s:g} s of one continuous "
            "load (a stress_test per window, the next one starting as the previous one stops "
            "sending; latency from each request's intended send time). The policies run side by "
            "side on three servers, alternating which goes first at each step. Per point: "
            "achieved = the rate stress_test really sent; goodput, rejected and timeouts per "
            "second over the point's whole span (first send to last reply, so a backlog "
            "answered late counts when it was answered); p50 = median of the windows' p50, p99 "
            "= the largest window p99 (at least the pooled p99), then each window's p99; growth "
            "= last window's p99 / first's; delayed = requests stress_test could not send on "
            "time because 1000 were already unanswered on their connection (still timed from "
            "their intended time); server = STATS deltas rejected / expired / held over the "
            f"point ({self._crosscheck()}); server CPU = the server process's CPU time over "
            "the span (100% = one core): on a shared machine goodput follows the CPU the "
            "server was given, so goodput / server CPU tells the server's efficiency from the "
            "machine's share; machine CPU of the whole machine.",
            "",
            table(["policy", "x C", "offered/s", "achieved/s", "goodput/s", "goodput / C",
                   "rejected/s", "timeouts/s", "p50 (ms)", "p99 (ms)", "p99 per window (ms)",
                   "growth", "delayed", "server rej / exp / held", "server CPU", "machine CPU"],
                  rows, "l" + "r" * 15),
            "",
            f"**Target** (reject + --queue-timeout-ms {QUEUE_TIMEOUT_MS} at {TARGET_MULTIPLE:g} x C = "
            f"{self.rates[MULTIPLES.index(TARGET_MULTIPLE)]}/s offered): goodput "
            f"{fmt(tp['goodput_rps'], 0)}/s = **{fmt(t['goodput_share'], 2)} x C** (>= "
            f"{GOODPUT_FLOOR:g}: **{met(t['goodput_met'])}**); served p99 in each window "
            f"{' / '.join(fmt_ms(x) for x in tp['p99_windows_us'])} ms, worst "
            f"**{fmt_ms(t['worst_p99_us'])} ms** against {P99_TIMEOUTS} x {QUEUE_TIMEOUT_MS} ms + "
            f"run time p50 {fmt_ms(self.run_us_p50)} ms = {fmt_ms(t['bound_us'])} ms: "
            f"**{met(t['latency_met'])}**. Overall: **{met(t['met'])}**.{self._drift_note()}",
            "",
            f"Without the timeout, at {TARGET_MULTIPLE:g} x C: reject's served p99 runs "
            f"{' / '.join(fmt_ms(x) for x in rej['p99_windows_us'])} ms over the windows "
            f"(growth {fmt(rej['p99_growth'], 2)}; bounded by the full queue, {QUEUE_CAPACITY} "
            f"tasks ahead); hold's runs {' / '.join(fmt_ms(x) for x in hold['p99_windows_us'])} ms "
            f"(growth {fmt(hold['p99_growth'], 2)}; p50 {fmt_ms(hold['p50_us'])} ms against "
            f"reject's {fmt_ms(rej['p50_us'])} ms): nothing is refused, so what the server cannot "
            "serve waits, in its queue, its hold list or the socket buffers, and the backlog "
            "builds for as long as the overload lasts. How it shares out across windows depends "
            "on which connections the server reads first (each window opens new ones), so "
            "compare the windows and the ladder, not one number.",
            "",
            f"![goodput vs offered load]({rel}/overload-goodput.png) "
            f"![p99 vs offered load]({rel}/overload-p99.png)",
            "",
            f"![p99 per window at {TARGET_MULTIPLE:g} x C]({rel}/overload-windows.png)",
            "",
            f"Raw data: [{rel}/overload-raw.tsv]({rel}/overload-raw.tsv) (every window).",
        ])

    def _drift_note(self):
        """A warning when C measured after the ladder is off by more than
        DRIFT from C before it: the multiples, and goodput / C, then rest
        on a capacity the machine did not keep."""
        d = ratio(self.capacity_end, self.capacity)
        if math.isnan(d) or abs(d - 1) <= DRIFT:
            return ""
        return (f" Note: C measured after the ladder was {fmt(d, 2)}x C measured before it: the "
                "machine's capacity moved during the section (other work on it), so the "
                "multiples and goodput / C are only as good as that.")

    def _crosscheck(self):
        """Whether the server's counts match stress_test's replies, point by
        point: rejected = busy replies, expired = timeout replies."""
        bad = [f"{pol} at {m:g} x C: rejected {p['srv_rejected']} vs busy {p['busy']}, "
               f"expired {p['srv_expired']} vs timeouts {p['timeouts']}"
               for (pol, m), p in self.points.items()
               if (p["srv_rejected"], p["srv_expired"]) != (p["busy"], p["timeouts"])]
        if not bad:
            return "at every point rejected = busy replies and expired = timeout replies"
        return "they differ from the replies seen: " + "; ".join(bad)

    def _write_data(self, b):
        with open(b.assets / "overload-raw.tsv", "w") as f:
            keys = ("requests", "ok", "busy", "timeouts", "delayed", "offered_rps", "achieved_rps",
                    "duration_s", "elapsed_s", "goodput_rps", "p50_us", "p90_us", "p99_us", "p999_us",
                    "max_us")
            f.write("\t".join(("policy", "multiple", "rate", "window") + keys) + "\n")
            for pol in POLICIES:
                for m, rate in zip(MULTIPLES, self.rates):
                    for k, w in enumerate(self.points[(pol.key, m)]["windows"], 1):
                        f.write("\t".join([pol.key, f"{m:g}", str(rate), str(k)]
                                          + [str(w.get(x)) for x in keys]) + "\n")
        with open(b.assets / "overload.dat", "w") as f:
            f.write("# multiple " + " ".join(f"goodput_{p.key} p99ms_{p.key}" for p in POLICIES) + "\n")
            for m in MULTIPLES:
                f.write(f"{m:g} " + " ".join(
                    f"{self.points[(p.key, m)]['goodput_rps']:.1f} {_dat_ms(self.points[(p.key, m)]['p99_us'])}"
                    for p in POLICIES) + "\n")
        with open(b.assets / "overload-windows.dat", "w") as f:
            f.write(f"# window p99ms per policy at {TARGET_MULTIPLE:g} x C: "
                    + " ".join(p.key for p in POLICIES) + "\n")
            for k in range(WINDOWS):
                f.write(f"{k + 1} " + " ".join(
                    _dat_ms(self.points[(p.key, TARGET_MULTIPLE)]["p99_windows_us"][k]) for p in POLICIES)
                    + "\n")

    def _plots(self, b):
        a = b.assets
        q = plot._q  # gnuplot quoting, shared with the other plots

        def lines(dat, col0, step):
            """One line per policy: column col0 + step x (policy index)."""
            return ", \\\n     ".join(
                f"{q(str(dat))} using 1:{col0 + step * i} with linespoints lw 2 pt {7 + i} ps 1.2 "
                f"lc rgb {q(p.colour)} title {q(p.title)}" for i, p in enumerate(POLICIES))
        xt = ", ".join(f"{m:g}" for m in MULTIPLES)
        cap, bound_ms = self.capacity, self.target["bound_us"] / 1000.0
        dat, wdat = a / "overload.dat", a / "overload-windows.dat"
        script = f"""{plot.TERMINAL.format(w=800, h=480)}
set grid
set key top left opaque
set xlabel "offered load (x capacity C = {cap:.0f} requests/s, open loop)"
set xtics ({xt})
set xrange [0.3:3.2]
set output {q(str(a / 'overload-goodput.png'))}
set title {q(f'{CMD}, {WORKERS} workers: goodput (correct replies/s) vs offered load')}
set ylabel "goodput (requests/s)"
set yrange [0:*]
plot {lines(dat, 2, 2)}, \\
     x * {cap:.1f} with lines dt 2 lc rgb "#888888" title "offered", \\
     {cap:.1f} with lines lc rgb "#888888" title "capacity C", \\
     {GOODPUT_FLOOR * cap:.1f} with lines dt 3 lc rgb "#444444" title "target with the timeout at {TARGET_MULTIPLE:g} x C: {GOODPUT_FLOOR:g} x C"
set key below horizontal
set bmargin 7
set output {q(str(a / 'overload-p99.png'))}
set title {q(f'{CMD}, {WORKERS} workers: served p99 (largest window) vs offered load')}
set ylabel "p99 of ok replies (ms, log scale)"
set logscale y
set yrange [*:*]
plot {lines(dat, 3, 2)}, \\
     {bound_ms:.3f} with lines dt 3 lc rgb "#444444" title {q(f'target with the timeout: {bound_ms:.1f} ms')}
set output {q(str(a / 'overload-windows.png'))}
set title {q(f'served p99 per window at {TARGET_MULTIPLE:g} x C ({self.window_s:g} s windows of one load)')}
set xlabel {q(f'window ({self.window_s:g} s each, one after the other)')}
set xtics 1
set xrange [0.7:{WINDOWS + 0.3}]
plot {lines(wdat, 2, 1)}, \\
     {bound_ms:.3f} with lines dt 3 lc rgb "#444444" title {q(f'target with the timeout: {bound_ms:.1f} ms')}
"""
        plot.gnuplot(b, script)


def _dat_ms(us):
    """A latency for gnuplot's data files: ms, or NaN (gnuplot skips it)."""
    return "NaN" if us is None or math.isnan(us) else f"{us / 1000.0:.3f}"
