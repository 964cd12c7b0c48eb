"""Section: hand-off overhead, p50(HASH a) - p50(PING) at one client
against --workers 2, runs alternated. PING never leaves the loop; HASH goes
loop -> pool queue -> worker -> done list + eventfd -> loop."""

from .. import procfs
from ..loadgen import stress
from ..proc import log
from ..servers import PoolServer
from ..stats import fmt, median
from . import Section

WORKERS = 2


class HandoffOverhead(Section):
    key = "handoff"
    title = "Hand-off overhead"

    def measure(self, b):
        reps = b.cfg.handoff_reps
        log(f"hand-off overhead: PING vs HASH a, 1 client, {WORKERS} workers, {reps} runs each")
        p50 = {"PING": [], "HASH a": []}
        with PoolServer(b, WORKERS) as srv:
            m0 = procfs.machine_ticks()
            for r in range(reps):
                for cmd in (("PING", "HASH a") if r % 2 == 0 else ("HASH a", "PING")):
                    p50[cmd].append(float(stress(b, srv, 1, cmd)["p50_us"]))
            self.machine_cpu = procfs.machine_cpu_pct(m0, procfs.machine_ticks(), b.ncpu)
        self.ping_p50 = median(p50["PING"])
        self.hash_p50 = median(p50["HASH a"])
        self.overhead_us = self.hash_p50 - self.ping_p50

    def headline(self, b):
        return [(f"hand-off overhead: p50(HASH a) - p50(PING), 1 client, {WORKERS} workers",
                 f"{fmt(self.overhead_us)} us ({fmt(self.hash_p50)} - {fmt(self.ping_p50)}, "
                 f"medians of {b.cfg.handoff_reps})")]

    def render(self, b):
        return "\n".join([
            f"One client, pool_server --workers {WORKERS}, PING and `HASH a` alternated, "
            f"{b.cfg.handoff_reps} runs of",
            f"{b.cfg.duration:g} s each. PING is answered on the loop; HASH goes loop -> pool -> "
            "done list +",
            f"eventfd -> loop. p50 PING = {fmt(self.ping_p50)} us, p50 HASH a = {fmt(self.hash_p50)} "
            "us (medians): the",
            "hand-off (plus one SHA-256 of 1 byte, well under a microsecond) costs "
            f"**{fmt(self.overhead_us)} us**.",
            f"Machine CPU during these runs: {fmt(self.machine_cpu, 0)}% of {b.ncpu * 100}%.",
        ])
