"""Section: side by side with redis-server. redis-benchmark -c 50 against
a local redis-server and against pool_server --workers 2, runs alternated,
medians: PING without pipelining and with -P 16, and our HASH 64 B, each as
a ratio to redis-server's PING with the same flags."""

from .. import plot
from ..bench import ARG64
from ..loadgen import redis_benchmark
from ..proc import log
from ..report import table
from ..servers import PoolServer, RedisServer
from ..stats import fmt, median, ratio
from . import Section

WORKERS = 2
PIPELINE = 16


class RedisSideBySide(Section):
    key = "redis"
    title = "Side by side with redis-server"

    def measure(self, b):
        cfg = b.cfg
        log(f"redis side by side: {cfg.redis_reps} alternated repetitions")
        runs = {k: [] for k in ("redis_ping", "redis_pingP", "ours_ping", "ours_pingP", "ours_hash")}
        with RedisServer(b) as redis, PoolServer(b, WORKERS) as ours:
            for r in range(cfg.redis_reps):
                log(f"redis side by side: repetition {r + 1}/{cfg.redis_reps}")
                order = (("redis", redis), ("ours", ours))
                for who, srv in (order if r % 2 == 0 else order[::-1]):
                    runs[f"{who}_ping"].append(
                        redis_benchmark(b, srv.port, "-n", str(cfg.redis_n), "-t", "ping_mbulk"))
                    runs[f"{who}_pingP"].append(
                        redis_benchmark(b, srv.port, "-n", str(cfg.redis_np), "-P", str(PIPELINE),
                                        "-t", "ping_mbulk"))
                runs["ours_hash"].append(
                    redis_benchmark(b, ours.port, "-n", str(cfg.redis_n), "HASH", ARG64))
        self.runs = runs
        self.m = {k: median(v) for k, v in runs.items()}
        self.ratio_ping = ratio(self.m["ours_ping"], self.m["redis_ping"])
        self.ratio_pingP = ratio(self.m["ours_pingP"], self.m["redis_pingP"])
        self.ratio_hash = ratio(self.m["ours_hash"], self.m["redis_ping"])
        self.version = b.facts["redis_version"]

    def headline(self, b):
        return [
            ("redis-benchmark PING -c 50: pool_server / redis-server",
             f"{fmt(self.ratio_ping, 2)}x (target >= 0.9x)"),
            (f"redis-benchmark PING -c 50 -P {PIPELINE}: pool_server / redis-server",
             f"{fmt(self.ratio_pingP, 2)}x"),
            ("redis-benchmark HASH 64 B -c 50 (pool_server) / redis-server PING",
             f"{fmt(self.ratio_hash, 2)}x"),
        ]

    def render(self, b):
        cfg, m = b.cfg, self.m
        self._write_data(b)
        self._plot(b)
        rows = [
            [f"redis-server PING (-n {cfg.redis_n})", fmt(m["redis_ping"], 0), "1.00x"],
            [f"pool_server PING (-n {cfg.redis_n})", fmt(m["ours_ping"], 0), f"{fmt(self.ratio_ping, 2)}x"],
            [f"redis-server PING -P {PIPELINE} (-n {cfg.redis_np})", fmt(m["redis_pingP"], 0), "1.00x"],
            [f"pool_server PING -P {PIPELINE} (-n {cfg.redis_np})", fmt(m["ours_pingP"], 0),
             f"{fmt(self.ratio_pingP, 2)}x"],
            [f"pool_server HASH 64 B (-n {cfg.redis_n})", fmt(m["ours_hash"], 0),
             f"{fmt(self.ratio_hash, 2)}x (of redis PING)"],
        ]
        return "\n".join([
            f"redis-benchmark -c 50 --csv, median of {cfg.redis_reps} alternated repetitions; "
            "redis-server",
            f"{self.version} (`--save '' --appendonly no`) vs pool_server --workers {WORKERS}. PING runs",
            "as `-t ping_mbulk` (RESP multi-bulk): pool_server takes redis-benchmark's",
            "PING_INLINE (a bare `PING` line) for its text protocol and answers",
            "`result: PONG`, which redis-benchmark rejects.",
            "",
            table(["run", "requests/s", "ratio to redis-server (same flags)"], rows),
            "",
            f"The plot has one panel per pipelining depth, each with its own axis from 0 (with "
            f"-P {PIPELINE}",
            "the rates are about ten times higher); red is redis-server, blue pool_server.",
            "",
            f"![redis side by side]({b.name}/redis.png)",
        ])

    def _write_data(self, b):
        with open(b.assets / "redis.dat", "w") as f:
            f.write("# run median_rps runs... (requests/s of each repetition)\n")
            for key, label in (("redis_ping", "redis PING"), ("ours_ping", "ours PING"),
                               ("redis_pingP", f"redis PING -P{PIPELINE}"),
                               ("ours_pingP", f"ours PING -P{PIPELINE}"), ("ours_hash", "ours HASH 64B")):
                f.write(f'"{label}" {self.m[key]:.2f} ' + " ".join(f"{v:.2f}" for v in self.runs[key]) + "\n")

    def _plot(self, b):
        m = self.m

        def label(v, r):
            return f"{v:,.0f}\n{fmt(r, 2)}x"

        panels = [
            (f"no pipelining (-n {b.cfg.redis_n})", [
                ("PING", m["redis_ping"], "redis", label(m["redis_ping"], 1.0)),
                ("PING", m["ours_ping"], "ours", label(m["ours_ping"], self.ratio_ping)),
                ("HASH 64 B", m["ours_hash"], "ours_hash", label(m["ours_hash"], self.ratio_hash)),
            ]),
            (f"-P {PIPELINE} (-n {b.cfg.redis_np})", [
                ("PING", m["redis_pingP"], "redis", label(m["redis_pingP"], 1.0)),
                ("PING", m["ours_pingP"], "ours", label(m["ours_pingP"], self.ratio_pingP)),
            ]),
        ]
        legend = [
            ("redis", f"redis-server {self.version}", plot.REDIS_COLOUR, "solid 0.85"),
            ("ours", f"pool_server --workers {WORKERS}", plot.OURS_COLOUR, "solid 0.85"),
            ("ours_hash", "pool_server, HASH (pool)", plot.OURS_COLOUR, "pattern 4"),
        ]
        plot.bar_panels(b, b.assets / "redis.png",
                        f"redis-benchmark -c 50, median of {b.cfg.redis_reps}; "
                        "ratios to redis-server PING with the same flags",
                        panels, legend)
