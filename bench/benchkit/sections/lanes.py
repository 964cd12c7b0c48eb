"""Section: lanes. HASH latency (open loop at a modest rate) while 20
clients flood `SLEEP 500`, against pool_server --workers 4 without a lane
and with --lane slow=SLEEP:1 (at most one worker runs SLEEPs; HASH keeps
the other three), and, for reference, HASH alone. The server's own queue
wait per lane comes from STATS, per command from INFO latency.

A run: a fresh server; the flood (closed loop, each client one SLEEP at a
time) starts and is established once every flood client has a SLEEP in
the pool (STATS submitted); HASH is measured; then the flood is told to
stop sending (SIGTERM) and awaits the SLEEPs it has in flight. Each
configuration has a server of its own, so its STATS cover this scenario
only.
"""

import dataclasses
import socket
import time

from ..bench import ARG64
from ..loadgen import stress
from ..proc import ToolError, log
from ..report import table
from ..servers import PoolServer
from ..stats import fmt, ratio
from . import Section
from .stressjobs import StressJob

WORKERS = 4
FLOOD_CLIENTS = 20
SLEEP_MS = 500
FLOOD_CMD = f"SLEEP {SLEEP_MS}"
LANE = "slow=SLEEP:1"
HASH_CMD = f"HASH {ARG64}"
HASH_RATE = 200             # requests/s, open loop
HASH_CLIENTS = 10           # 20 per connection per second: under --max-inflight 64 even
                            # when each waits a couple of seconds behind the flood
ESTABLISH_S = 5.0           # how long the flood may take to fill the pool before HASH starts


@dataclasses.dataclass(frozen=True)
class Setup:
    key: str
    title: str
    args: tuple
    flood: bool


SETUPS = (
    Setup("alone", "HASH alone, no lane", (), False),
    Setup("nolane", "flood, no lane", (), True),
    Setup("lane", f"flood, --lane {LANE}", ("--lane", LANE), True),
)


def hash_seconds(quick):
    return 1.0 if quick else 3.0


# ---- pure functions (unit-tested) ---------------------------------------------

def parse_info_line(line):
    """The text-protocol reply to `INFO <section>`: 'result: # Latency
    latency_hash:calls=4,p50_us=27 lane_latency_slow:queue_wait_p50_us=1
    ...' -> {'latency_hash': {'calls': 4, 'p50_us': 27}, ...}. Section
    headers ('#' and the word after it) are skipped; plain key:value items
    map to their value (a string)."""
    line = line.strip()
    if not line.startswith("result:"):
        raise ValueError(line[:80])
    words = line[len("result:"):].split()
    out, i = {}, 0
    while i < len(words):
        w = words[i]
        if w == "#":
            i += 2
            continue
        name, sep, val = w.partition(":")
        if not sep:
            raise ValueError(w)
        if "=" in val:
            fields = {}
            for kv in val.split(","):
                k, eq, v = kv.partition("=")
                if not eq:
                    raise ValueError(w)
                fields[k] = int(v) if v.isdigit() else v
            out[name] = fields
        else:
            out[name] = val
        i += 1
    return out


def lane_figures(stats):
    """{lane name: queue wait p99 (us)} from a STATS dict: the
    lane_<name>_queue_wait_us_p99 keys. A server without lanes has none:
    its single queue is queue_wait_us_p99."""
    pre, suf = "lane_", "_queue_wait_us_p99"
    return {k[len(pre):-len(suf)]: v for k, v in stats.items() if k.startswith(pre) and k.endswith(suf)}


# ---- the section ----------------------------------------------------------------

class Lanes(Section):
    key = "lanes"
    title = "Lanes: HASH latency next to a SLEEP flood"

    def measure(self, b):
        self.hash_s = hash_seconds(b.cfg.quick)
        self.runs = {}
        for s in SETUPS:
            log(f"lanes: {s.title}: HASH at {HASH_RATE}/s for {self.hash_s:g} s")
            self.runs[s.key] = self._run(b, s)
        self.p99_nolane = float(self.runs["nolane"]["hash"]["p99_us"])
        self.p99_lane = float(self.runs["lane"]["hash"]["p99_us"])
        self.ratio = ratio(self.p99_nolane, self.p99_lane)

    def _run(self, b, setup):
        with PoolServer(b, WORKERS, extra_args=setup.args) as srv:
            flood, established_s = None, None
            if setup.flood:
                drain_s = FLOOD_CLIENTS * SLEEP_MS / 1000.0   # the in-flight SLEEPs on one worker
                send_s = ESTABLISH_S + self.hash_s + 30.0    # stopped well before, by stop_sending
                flood = StressJob(b, srv, ["--clients", FLOOD_CLIENTS, "--duration", f"{send_s:g}",
                                           "--cmd", FLOOD_CMD], send_s + drain_s + 60.0)
                established_s = self._establish(srv, flood)
            js = stress(b, srv, HASH_CLIENTS, HASH_CMD, duration=self.hash_s,
                        extra=["--rate", str(HASH_RATE)])
            st = srv.stats()
            reply = query(srv, "INFO latency")
            try:
                info = parse_info_line(reply)
            except ValueError as e:
                raise ToolError(f"bad INFO latency reply from {srv.describe()}: {reply[:200]!r}") from e
            fl = None
            if flood:
                flood.stop_sending()
                fl = flood.result()
        return dict(hash=js, stats=st, info=info, flood=fl, established_s=established_s)

    @staticmethod
    def _establish(srv, flood):
        """Waits until every flood client has a SLEEP in the pool (STATS
        submitted >= clients), at most ESTABLISH_S; returns the seconds it
        took, or None if it was not (then HASH runs anyway, and the report
        says so)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < ESTABLISH_S:
            if flood.proc.poll() is not None:
                flood.result()  # it ended early: a ToolError with its complaint
                raise ToolError("the SLEEP flood ended before HASH was measured")
            if srv.stats()["submitted"] >= FLOOD_CLIENTS:
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    def headline(self, b):
        return [(f"HASH p99 under a {FLOOD_CLIENTS}-client {FLOOD_CMD} flood, {WORKERS} workers: "
                 f"no lane / --lane {LANE}",
                 f"{fmt(self.p99_nolane / 1000, 1)} ms / {fmt(self.p99_lane / 1000, 2)} ms = "
                 f"{fmt(self.ratio, 0)}x")]

    def render(self, b):
        rows, srv_rows = [], []
        for s in SETUPS:
            r = self.runs[s.key]
            h, st, info, fl = r["hash"], r["stats"], r["info"], r["flood"]
            est = ("-" if not s.flood else
                   f"{fmt(r['established_s'], 2)} s" if r["established_s"] is not None
                   else f"not within {ESTABLISH_S:g} s")
            rows.append([s.title, h["ok"], h["busy"], fmt(float(h["achieved_rps"]), 0),
                         fmt(float(h["p50_us"]) / 1000, 2), fmt(float(h["p99_us"]) / 1000, 2),
                         fmt(float(h["max_us"]) / 1000, 2),
                         "-" if fl is None else f"{fl['ok']}",
                         "-" if fl is None else fmt(float(fl["p99_us"]) / 1000, 0), est])
            lanes = lane_figures(st)
            hi, si = info.get("latency_hash", {}), info.get("latency_sleep", {})
            srv_rows.append([s.title, st["queue_wait_us_p99"],
                             lanes.get("default", "-"), lanes.get("slow", "-"),
                             hi.get("queue_wait_p99_us", "-"), si.get("queue_wait_p99_us", "-"),
                             st["run_us_p99"]])
        return "\n".join([
            f"pool_server --workers {WORKERS} (queue capacity 1024 per lane), a fresh server per "
            f"row. Flood: {FLOOD_CLIENTS} clients, closed loop, `{FLOOD_CMD}` one at a time each; "
            "HASH is measured once every flood client has a SLEEP in the pool (established "
            f"after). HASH: `HASH <64 bytes>`, open loop at {HASH_RATE}/s over {HASH_CLIENTS} "
            f"connections for {self.hash_s:g} s, latency from each request's intended send "
            "time. SLEEP figures are the flood's, stopped once HASH is done (its in-flight "
            "SLEEPs answered).",
            "",
            table(["run", "HASH ok", "HASH busy", "HASH sent/s", "HASH p50 (ms)", "HASH p99 (ms)",
                   "HASH max (ms)", "SLEEP ok", "SLEEP p99 (ms)", "flood established"], rows,
                  "l" + "r" * 9),
            "",
            f"**HASH p99 without a lane {fmt(self.p99_nolane / 1000, 1)} ms, with --lane {LANE} "
            f"{fmt(self.p99_lane / 1000, 2)} ms: {fmt(self.ratio, 0)}x lower.** Without a lane a "
            f"HASH waits in the one FIFO queue behind the SLEEPs ({FLOOD_CLIENTS} in flight on "
            f"{WORKERS} workers: about {FLOOD_CLIENTS - WORKERS} x {SLEEP_MS} ms / {WORKERS}); "
            "with it the SLEEPs have one worker and their own queue, and HASH the other three. "
            "The price is the SLEEPs' own latency (one worker instead of four).",
            "",
            "The server's own figures (microseconds, STATS and INFO latency after the HASH run; "
            "histograms since the server started, so the flood's SLEEPs are in them):",
            "",
            table(["run", "queue wait p99, all", "lane default", "lane slow", "HASH queue wait p99",
                   "SLEEP queue wait p99", "run time p99, all"], srv_rows, "l" + "r" * 6),
            "",
            "queue wait p99, all = STATS queue_wait_us_p99; lane default / lane slow = STATS "
            "lane_<name>_queue_wait_us_p99 (only with lanes); HASH / SLEEP = INFO latency's "
            "per-command queue_wait_p99_us.",
        ])


def query(srv, line):
    """One request line to srv over a new connection; its reply line."""
    buf = b""
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as e:
        raise ToolError(f"{line} to {srv.describe()} failed: {e}") from e
    return buf.decode(errors="replace")
