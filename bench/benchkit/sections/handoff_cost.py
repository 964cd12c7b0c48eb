"""Section: the hand-off table. Per worker count and client count: PING
(answered on the loop) and HASH 64 B (through the pool) side by side:
requests/s and their ratio, the server's context switches per request
(both from the sweep's runs: /proc/PID/task/*/status around each run),
and its syscalls per request from separate, short runs under
`strace -c -f` (a traced server is several times slower, so these runs
count calls and are never timed)."""

import os

from ..loadgen import stress
from ..proc import ToolError, log
from ..report import table
from ..stats import fmt, ratio
from ..strace import StraceCounts
from ..servers import PoolServer
from . import Section

PAIR = ("PING", "HASH64")        # sweep workload keys: loop only, through the pool
BREAKDOWN_POINT = (2, 10)        # workers, clients of the per-syscall table
BREAKDOWN_MIN = 0.01             # calls per request shown in it


class HandoffCost(Section):
    key = "handoff_cost"
    title = "Hand-off cost per request: PING vs HASH 64 B"

    def measure(self, b):
        sweep = b.results.get("sweep")
        if sweep is None:
            raise ToolError("the hand-off table needs the sweep's runs (section 'sweep')")
        cmds = {wl.key: wl.cmd for wl in sweep.workloads}
        os.makedirs(b.assets / "strace", exist_ok=True)
        self.syscalls = {}   # (workload, workers, clients) -> {syscall: calls per request}
        self.traced = {}     # (workload, workers, clients) -> (requests, rps under strace)
        for w in b.cfg.workers:
            with PoolServer(b, w) as srv:
                for c in b.cfg.clients:
                    for wl in PAIR:
                        log(f"hand-off table: strace -c -f, workers={w} {wl} clients={c}")
                        path = b.assets / "strace" / f"{wl}-w{w}-c{c}.txt"
                        with StraceCounts(b, srv, path) as st:
                            js = stress(b, srv, c, cmds[wl], duration=b.cfg.strace_duration)
                        n = int(js["requests"])
                        if n == 0:
                            raise ToolError(f"no request completed under strace ({wl}, w={w}, c={c})")
                        self.syscalls[(wl, w, c)] = {k: v / n for k, v in st.counts.items()}
                        self.traced[(wl, w, c)] = (n, float(js["rps"]))
        self.rows = []
        for w in b.cfg.workers:
            for c in b.cfg.clients:
                ping, hash_ = (sweep.point(wl, w, c) for wl in PAIR)
                self.rows.append(dict(
                    workers=w, clients=c, ping_rps=ping["rps"], hash_rps=hash_["rps"],
                    ratio=ratio(hash_["rps"], ping["rps"]),
                    ping_cs=ping["ctx_per_req"], hash_cs=hash_["ctx_per_req"],
                    ping_sc=self.syscalls[("PING", w, c)]["total"],
                    hash_sc=self.syscalls[("HASH64", w, c)]["total"]))

    def _row(self, w, c):
        return next(r for r in self.rows if (r["workers"], r["clients"]) == (w, c))

    def headline(self, b):
        w, c = BREAKDOWN_POINT
        if w not in b.cfg.workers or c not in b.cfg.clients:
            return []
        r = self._row(w, c)
        return [(f"hand-off cost, {w} workers, {c} clients: HASH 64 B / PING requests/s; "
                 "context switches and syscalls per request, PING vs HASH",
                 f"{fmt(r['ratio'], 2)}x; {fmt(r['ping_cs'], 2)} vs {fmt(r['hash_cs'], 2)} ctx sw; "
                 f"{fmt(r['ping_sc'], 2)} vs {fmt(r['hash_sc'], 2)} syscalls (strace)")]

    def render(self, b):
        self._write_tsv(b)
        rows = [[r["workers"], r["clients"], fmt(r["ping_rps"], 0), fmt(r["hash_rps"], 0),
                 f"{fmt(r['ratio'], 2)}x", fmt(r["ping_cs"], 2), fmt(r["hash_cs"], 2),
                 fmt(r["ping_sc"], 2), fmt(r["hash_sc"], 2)] for r in self.rows]
        out = [
            "PING is answered on the event loop; `HASH $ARG64` goes loop -> pool queue -> worker ->",
            "done list + eventfd -> loop. Requests/s and context switches come from the sweep",
            f"(medians of its {b.cfg.sweep_reps} run(s) per point): the server's voluntary + "
            "involuntary context",
            "switches summed over its threads (/proc/PID/task/*/status) during each run, per",
            "request. Syscalls per request come from separate runs of "
            f"{b.cfg.strace_duration:g} s with `strace -c -f`",
            "attached to every thread of a fresh server (all calls of all threads, divided by",
            "the requests stress_test completed meanwhile). Under strace the server runs several",
            "times slower, so more work piles up per epoll_wait and per wake-up than in the timed",
            "runs: read these counts as what each path costs, not as the counts at full speed.",
            "",
            table(["workers", "clients", "PING req/s", "HASH 64 B req/s", "HASH / PING",
                   "ctx sw/req PING", "ctx sw/req HASH", "syscalls/req PING", "syscalls/req HASH"],
                  rows, "r" * 9),
        ]
        w, c = BREAKDOWN_POINT
        if (("PING", w, c) in self.syscalls) and (("HASH64", w, c) in self.syscalls):
            ping, hash_ = self.syscalls[("PING", w, c)], self.syscalls[("HASH64", w, c)]
            names = sorted((k for k in set(ping) | set(hash_) if k != "total"
                            and max(ping.get(k, 0), hash_.get(k, 0)) >= BREAKDOWN_MIN),
                           key=lambda k: (-hash_.get(k, 0), k))
            brows = [[f"`{k}`", fmt(ping.get(k, 0), 2), fmt(hash_.get(k, 0), 2)] for k in names]
            brows.append(["all", fmt(ping["total"], 2), fmt(hash_["total"], 2)])
            (n_p, rps_p), (n_h, rps_h) = self.traced[("PING", w, c)], self.traced[("HASH64", w, c)]
            out += ["", f"Per syscall at {w} workers, {c} clients (calls per request, at least "
                    f"{BREAKDOWN_MIN} in one column; under strace: PING {n_p} requests at "
                    f"{rps_p:.0f}/s, HASH {n_h} at {rps_h:.0f}/s):", "",
                    table(["syscall", "PING", "HASH 64 B"], brows)]
        out += ["", f"Data: [{b.name}/handoff.tsv]({b.name}/handoff.tsv); strace's own summaries "
                f"in `{b.name}/strace/`."]
        return "\n".join(out)

    def _write_tsv(self, b):
        cols = ("workers", "clients", "ping_rps", "hash_rps", "ratio", "ping_cs", "hash_cs",
                "ping_sc", "hash_sc")
        heads = ("workers", "clients", "ping_rps", "hash64_rps", "hash64_over_ping",
                 "ping_ctx_per_req", "hash64_ctx_per_req", "ping_syscalls_per_req",
                 "hash64_syscalls_per_req")
        with open(b.assets / "handoff.tsv", "w") as f:
            f.write("\t".join(heads) + "\n")
            for r in self.rows:
                f.write("\t".join(str(r[k]) if isinstance(r[k], int) else f"{r[k]:.4g}"
                                  for k in cols) + "\n")
