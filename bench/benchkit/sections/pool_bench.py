"""Section: the pool micro-benchmark, bench/pool_bench: ours vs libuv vs
GLib on tiny tasks, and the loop -> worker -> loop round trip. pool_bench
prints its own Markdown; its last line is an HTML comment with the same
figures as key=value pairs, which the headline reads."""

import re

from ..proc import ToolError, log
from . import Section

KEYS = ("ratio_w1", "ratio_w2", "rtt50_w1_ours_us", "rtt50_w1_libuv_us",
        "rtt50_w2_ours_us", "rtt50_w2_libuv_us")


def parse_pool_bench_figures(text):
    """{key: value string} from the '<!-- pool_bench: k=v ... -->' line."""
    m = re.search(r"<!-- pool_bench: (.*?) -->", text)
    if not m:
        raise ValueError("no '<!-- pool_bench: ... -->' line")
    out = {}
    for item in m.group(1).split():
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


class PoolBench(Section):
    key = "pool_bench"
    title = "Pool micro-benchmark (bench/pool_bench)"

    def measure(self, b):
        args = list(b.cfg.pool_bench_args)
        log("pool_bench " + " ".join(args))
        rc, out, err = b.procs.run([b.binary("bench/pool_bench"), *args])
        if rc != 0:
            raise ToolError(f"pool_bench failed (exit {rc}):\n{err[-2000:]}")
        try:
            self.figures = parse_pool_bench_figures(out)
        except ValueError as e:
            raise ToolError(f"pool_bench output: {e}") from e
        missing = [k for k in KEYS if k not in self.figures]
        if missing:
            raise ToolError("pool_bench output lacks " + ", ".join(missing))
        self.markdown = out.strip()

    def headline(self, b):
        f = self.figures
        return [
            ("pool micro-benchmark, ours / best of libuv, GLib (1; 2 workers)",
             f"{f['ratio_w1']}x; {f['ratio_w2']}x"),
            ("pool round trip p50, ours vs libuv (1 worker; 2 workers)",
             f"{f['rtt50_w1_ours_us']} vs {f['rtt50_w1_libuv_us']} us; "
             f"{f['rtt50_w2_ours_us']} vs {f['rtt50_w2_libuv_us']} us"),
        ]

    def render(self, b):
        return self.markdown
