"""Section: scaling, PRIMES requests/s at 10 clients with --workers 2
over --workers 1: two servers side by side, runs alternated, medians."""

from .. import procfs
from ..loadgen import stress
from ..proc import log
from ..servers import PoolServer
from ..stats import fmt, median, ratio
from . import Section

CLIENTS = 10


class Scaling(Section):
    key = "scaling"
    title = "Scaling"

    def measure(self, b):
        reps, n = b.cfg.handoff_reps, b.cfg.primes_n
        log(f"scaling: PRIMES {n}, {CLIENTS} clients, 1 vs 2 workers, {reps} runs each")
        rps = {1: [], 2: []}
        with PoolServer(b, 1) as s1, PoolServer(b, 2) as s2:
            servers = {1: s1, 2: s2}
            m0 = procfs.machine_ticks()
            for r in range(reps):
                for w in ((1, 2) if r % 2 == 0 else (2, 1)):
                    rps[w].append(float(stress(b, servers[w], CLIENTS, f"PRIMES {n}")["rps"]))
            self.machine_cpu = procfs.machine_cpu_pct(m0, procfs.machine_ticks(), b.ncpu)
        self.rps1, self.rps2 = median(rps[1]), median(rps[2])
        self.scale = ratio(self.rps2, self.rps1)
        # The sweep's single points, when it ran, for comparison.
        sweep = b.results.get("sweep")
        self.sweep_scale = {}
        self.verify_scale = {}
        if sweep and 1 in b.cfg.workers and 2 in b.cfg.workers:
            for c in (10, 50):
                if c in b.cfg.clients:
                    self.sweep_scale[c] = ratio(sweep.point("PRIMES", 2, c)["rps"],
                                                sweep.point("PRIMES", 1, c)["rps"])
                    self.verify_scale[c] = ratio(sweep.point("VERIFY", 2, c)["rps"],
                                                 sweep.point("VERIFY", 1, c)["rps"])

    def headline(self, b):
        rows = [(f"PRIMES {b.cfg.primes_n} scaling, 2 workers / 1 worker, {CLIENTS} clients",
                 f"{fmt(self.scale, 2)}x (medians of {b.cfg.handoff_reps} alternated runs; "
                 "target >= 1.8x)")]
        if self.verify_scale:
            rows.append(("VERIFY (Ed25519) scaling, 2 workers / 1 worker (from the sweep)",
                         ", ".join(f"{fmt(v, 2)}x at {c} clients"
                                   for c, v in self.verify_scale.items())))
        return rows

    def render(self, b):
        from_sweep = ""
        if self.verify_scale:
            from_sweep += ("VERIFY from the sweep, 2 workers / 1: "
                           + ", ".join(f"{fmt(v, 2)}x at {c} clients"
                                       for c, v in self.verify_scale.items()) + ". ")
        if self.sweep_scale:
            from_sweep += ("From the sweep's single points: "
                          + ", ".join(f"{fmt(v, 2)}x at {c} clients" for c, v in self.sweep_scale.items())
                          + ". ")
        return "\n".join([
            f"PRIMES {b.cfg.primes_n} at {CLIENTS} clients against two servers, --workers 1 and "
            "--workers 2,",
            f"alternated, {b.cfg.handoff_reps} runs of {b.cfg.duration:g} s each, medians: "
            f"{fmt(self.rps1)} vs {fmt(self.rps2)} requests/s,",
            f"**{fmt(self.scale, 2)}x** (target >= 1.8x on 2 cores). {from_sweep}The event loop "
            "and stress_test run on the same",
            f"{b.ncpu} cores as the workers and take part of the second core. Machine CPU during",
            f"these runs: {fmt(self.machine_cpu, 0)}% of {b.ncpu * 100}% (whatever the benchmark "
            "did not use was other work).",
        ])
