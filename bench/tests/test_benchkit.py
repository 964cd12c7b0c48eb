"""Unit tests of bench/benchkit's pure parts: statistics, the /proc, STATS,
stress_test, redis-benchmark, strace and pool_bench parsers, the command
log, the report helpers, and the process registry (with `sleep`). No
build, no server.

    python3 -m unittest discover -s bench/tests
"""

import math
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchkit import procfs, report, stats  # noqa: E402
from benchkit.loadgen import parse_redis_csv, parse_stress_json  # noqa: E402
from benchkit.proc import CommandLog, Processes  # noqa: E402
from benchkit.sections.pool_bench import parse_pool_bench_figures  # noqa: E402
from benchkit.sections.sweep import COLUMNS, combine  # noqa: E402
from benchkit.proc import ToolError  # noqa: E402
from benchkit.servers import PoolServer, parse_stats_line  # noqa: E402
from benchkit.strace import parse_strace_summary  # noqa: E402
from fakes import FakeBench  # noqa: E402


class StatsTest(unittest.TestCase):
    def test_median_odd_even_empty(self):
        self.assertEqual(stats.median([3, 1, 2]), 2)
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(stats.median(["10.5"]), 10.5)
        self.assertTrue(math.isnan(stats.median([])))

    def test_median_is_numeric_not_lexical(self):
        self.assertEqual(stats.median([9, 10, 100]), 10)

    def test_ratio_and_pct(self):
        self.assertEqual(stats.ratio(3, 2), 1.5)
        self.assertTrue(math.isnan(stats.ratio(1, 0)))
        self.assertTrue(math.isnan(stats.ratio(math.nan, 1)))
        self.assertEqual(stats.pct(1, 4), 25.0)
        self.assertEqual(stats.pct(5, 0), 0.0)

    def test_fmt(self):
        self.assertEqual(stats.fmt(9.6500001), "9.7")
        self.assertEqual(stats.fmt(2.0, 2), "2.00")
        self.assertEqual(stats.fmt(math.nan), "nan")


class ProcfsTest(unittest.TestCase):
    def test_pid_stat_with_awkward_name(self):
        text = "1234 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 17 25 0 0 20 0 5 0\n"
        self.assertEqual(procfs.parse_pid_stat_ticks(text), 42)

    def test_machine_ticks(self):
        text = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
        self.assertEqual(procfs.parse_machine_ticks(text), (161, 1181))

    def test_machine_cpu_pct(self):
        self.assertEqual(procfs.machine_cpu_pct((100, 1000), (150, 1100), 2), 100.0)
        self.assertEqual(procfs.machine_cpu_pct((100, 1000), (100, 1000), 2), 0.0)

    def test_ctxt_switches(self):
        text = "Name:\tpool_server\nvoluntary_ctxt_switches:\t17\nnonvoluntary_ctxt_switches:\t3\n"
        self.assertEqual(procfs.parse_ctxt_switches(text), (17, 3))
        with self.assertRaises(ValueError):
            procfs.parse_ctxt_switches("Name:\tx\n")

    def test_own_process(self):
        self.assertGreaterEqual(procfs.context_switches(os.getpid()), 0)
        self.assertGreaterEqual(procfs.process_cpu_ticks(os.getpid()), 0)
        busy, total = procfs.machine_ticks()
        self.assertLessEqual(busy, total)


class ParsersTest(unittest.TestCase):
    def test_stats_line(self):
        s = parse_stats_line("result: workers=4 busy_workers=1 lock_wait_us=41 worker_us=9123456\n")
        self.assertEqual(s["lock_wait_us"], 41)
        self.assertEqual(s["worker_us"], 9123456)
        for bad in ("ERROR: server busy", "result: workers", "result: a=b"):
            with self.assertRaises(ValueError):
                parse_stats_line(bad)

    def test_stress_json(self):
        line = ('{"clients": 10, "frames": 0, "pipeline": 1, "cmd": "HASH \\"x\\"", "requests": 1230, '
                '"ok": 1230, "busy": 0, "errors": 0, "elapsed_s": 0.504, "rps": 2438.2, '
                '"p50_us": 4194.3, "p90_us": 5570.6, "p99_us": 6881.3, "p999_us": 7733.2, '
                '"max_us": 7777.5}')
        js = parse_stress_json("\n" + line + "\n\n")
        self.assertEqual(js["cmd"], 'HASH "x"')
        self.assertEqual(js["rps"], 2438.2)
        self.assertEqual(js["requests"], 1230)
        with self.assertRaises(ValueError):
            parse_stress_json('{"rps": 1}')
        with self.assertRaises(ValueError):
            parse_stress_json("")

    def test_redis_csv(self):
        out = ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
               '"p99_latency_ms","max_latency_ms"\n'
               '"PING_MBULK","107296.14","0.241","0.064","0.231","0.343","0.455","1.103"\n')
        self.assertEqual(parse_redis_csv(out), ("PING_MBULK", 107296.14))
        with self.assertRaises(ValueError):
            parse_redis_csv("Could not connect to Redis\n")

    def test_strace_summary(self):
        text = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 87.30    0.392045          63      6163       210 futex
  6.18    0.027765          22      1230           sendto
  0.02    0.000112           5        11         1 accept4
------ ----------- ----------- --------- --------- ----------------
100.00    0.449089          48      7404       211 total
"""
        c = parse_strace_summary(text)
        self.assertEqual(c, {"futex": 6163, "sendto": 1230, "accept4": 11, "total": 7404})
        with self.assertRaises(ValueError):
            parse_strace_summary("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n")

    def test_pool_bench_figures(self):
        out = "| a |\n\n<!-- pool_bench: task_ns=281 ratio_w1=0.93 tput_w1_ours+loop=2028415 -->\n"
        f = parse_pool_bench_figures(out)
        self.assertEqual(f["ratio_w1"], "0.93")
        self.assertEqual(f["tput_w1_ours+loop"], "2028415")
        with self.assertRaises(ValueError):
            parse_pool_bench_figures("no comment")


class CommandLogTest(unittest.TestCase):
    def setUp(self):
        self.log = CommandLog()
        self.log.abbreviate("ARG64", "x" * 64)
        self.log.abbreviate("ARG4K", "x" * 4096)
        self.log.bin_dir = "/b/bin"

    def test_placeholders_ports_and_quoting(self):
        line = self.log.line(["/b/bin/tools/stress_test", "--port", "4242", "--cmd", "HASH " + "x" * 64])
        self.assertEqual(line, 'tools/stress_test --port $PORT --cmd "HASH $ARG64"')
        self.assertEqual(self.log.line(["x", "HASH " + "x" * 4096]), 'x "HASH $ARG4K"')
        self.assertEqual(self.log.line(["redis-benchmark", "-p", "7", "HASH", "x" * 64]),
                         "redis-benchmark -p $PORT HASH $ARG64")
        self.assertEqual(self.log.line(["s", "--port", "0", "--save", "", "--cmd", "SLEEP 20"]),
                         "s --port 0 --save '' --cmd 'SLEEP 20'")
        self.assertEqual(self.log.line(["e", "it's $HOME"]), "e 'it'\\''s $HOME'")

    def test_distinct_in_order(self):
        for args in (["b"], ["a"], ["b"]):
            self.log.record(args)
        self.assertEqual(self.log.lines(), ["b", "a"])


class ReportTest(unittest.TestCase):
    def test_table(self):
        self.assertEqual(report.table(["a", "b"], [[1, 2]]), "| a | b |\n|---|---:|\n| 1 | 2 |")

    def test_headline_block(self):
        text = f"intro\n{report.BEGIN}\nold\nlines\n{report.END}\ntail\n"
        self.assertEqual(report.replace_headline_block(text, "new\n"),
                         f"intro\n{report.BEGIN}\nnew\n{report.END}\ntail\n")
        with self.assertRaises(ValueError):
            report.replace_headline_block("no markers", "x")

    def test_sweep_combine(self):
        run = {name: 0 for name, _, _ in COLUMNS}
        runs = [dict(run, rps=r, requests=n, busy=bz) for r, n, bz in ((10, 5, 1), (30, 7, 0), (20, 9, 2))]
        p = combine(runs)
        self.assertEqual((p["rps"], p["requests"], p["busy"]), (20, 21, 3))


class ProcessesTest(unittest.TestCase):
    def test_stop_all_reaps_everything(self):
        procs = Processes(CommandLog())
        ps = [procs.spawn(["sleep", "60"]) for _ in range(2)]
        procs.stop_all()
        self.assertEqual(procs.live, [])
        self.assertTrue(all(p.returncode is not None for p in ps))

    def test_run_captures_and_logs(self):
        procs = Processes(CommandLog())
        rc, out, _ = procs.run(["sh", "-c", "cat; exit 3"], input="hi")
        self.assertEqual((rc, out), (3, "hi"))
        self.assertEqual(procs.cmdlog.lines(), ["sh -c 'cat; exit 3'"])

    def test_stop_escalates_to_kill(self):
        procs = Processes(CommandLog())
        p = procs.spawn(["sh", "-c", "trap '' TERM; exec sleep 30"], stdout=subprocess.DEVNULL)
        time.sleep(0.2)  # let sh install its trap
        rc, killed = procs.stop(p, grace=0.3)
        self.assertTrue(killed)
        self.assertEqual(procs.live, [])


class ServerControlTest(unittest.TestCase):
    """The guarantees of the server context manager, on fake servers."""

    # Writes 4242 to the path after --port-file, as the server does once listening.
    LISTEN = ('prev=; for a in "$@"; do [ "$prev" = --port-file ] && pf=$a; prev=$a; done\n'
              'echo 4242 > "$pf.tmp" && mv "$pf.tmp" "$pf"\n')

    def fake(self, script):
        b = FakeBench("server/pool_server", script)
        self.addCleanup(shutil.rmtree, b.tmp, True)
        return b

    def test_clean_exit(self):
        b = self.fake("trap 'exit 0' TERM\n" + self.LISTEN + "while :; do sleep 0.05; done\n")
        with PoolServer(b, 1) as srv:
            self.assertEqual(srv.port, 4242)
        self.assertEqual(b.procs.live, [])

    def test_nonzero_exit_on_sigterm_is_a_failure(self):
        b = self.fake("trap 'exit 3' TERM\n" + self.LISTEN + "while :; do sleep 0.05; done\n")
        with self.assertRaisesRegex(ToolError, "exited with status 3"):
            with PoolServer(b, 1):
                pass
        self.assertEqual(b.procs.live, [])

    def test_not_listening_is_a_failure(self):
        b = self.fake("echo 'bind: address in use' >&2\nexit 1\n")
        with self.assertRaisesRegex(ToolError, "did not start(.|\n)*address in use"):
            PoolServer(b, 1).start()
        self.assertEqual(b.procs.live, [])

    def test_stopped_when_the_block_fails(self):
        b = self.fake("trap 'exit 3' TERM\n" + self.LISTEN + "while :; do sleep 0.05; done\n")
        with self.assertRaises(KeyboardInterrupt):
            with PoolServer(b, 1) as srv:
                raise KeyboardInterrupt
        self.assertEqual(b.procs.live, [])
        self.assertIsNotNone(srv.proc.returncode)


if __name__ == "__main__":
    unittest.main()
