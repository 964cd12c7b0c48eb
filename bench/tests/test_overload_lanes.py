"""Unit tests of the overload and lanes sections' pure parts (the rate
ladder, windows, their combination, the target, the INFO parser), the
section selector of run.py, and StressJob on a fake stress_test. No
build, no server.

    python3 -m unittest discover -s bench/tests
"""

import importlib.util
import math
import os
import shutil
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from benchkit.proc import ToolError  # noqa: E402
from benchkit.sections import lanes, overload  # noqa: E402
from benchkit.sections.stressjobs import StressJob, sleep_until  # noqa: E402
from fakes import FakeBench  # noqa: E402


def window(ok=100, busy=0, timeouts=0, requests=None, p50=1000.0, p99=5000.0, rate=200,
           achieved=200.0, duration=0.5, delayed=0):
    """One stress_test --json result, as a window of a point."""
    return {"requests": ok + busy + timeouts if requests is None else requests, "ok": ok,
            "busy": busy, "timeouts": timeouts, "delayed": delayed, "wrong": 0, "lost": 0,
            "offered_rps": rate, "achieved_rps": achieved, "duration_s": duration,
            "p50_us": p50, "p99_us": p99}


class RateLadderTest(unittest.TestCase):
    def test_multiples_of_capacity(self):
        self.assertEqual(overload.rate_ladder(1000.0), [500, 1000, 1500, 2000, 3000])
        self.assertEqual(overload.rate_ladder(333.3, (0.5, 1, 3)), [167, 333, 1000])

    def test_at_least_one_request_per_second(self):
        self.assertEqual(overload.rate_ladder(0.4, (0.5, 1)), [1, 1])

    def test_rates_are_integers_for_stress_test(self):
        self.assertTrue(all(isinstance(r, int) for r in overload.rate_ladder(1234.56)))

    def test_no_capacity_is_an_error(self):
        for bad in (0, -5, math.nan, math.inf, None, "100"):
            with self.assertRaises(ValueError):
                overload.rate_ladder(bad)


class WindowsTest(unittest.TestCase):
    def test_offsets(self):
        self.assertEqual(overload.window_offsets(4, 1.5), [0, 1.5, 3.0, 4.5])
        self.assertEqual(overload.window_offsets(1, 2), [0])
        for n, d in ((0, 1), (2, 0), (2, -1)):
            with self.assertRaises(ValueError):
                overload.window_offsets(n, d)

    def test_timeout_leaves_room_for_the_worst_backlog(self):
        # hold at 3 x C over 4 windows of 1.5 s: the last request waits at
        # most about (3 - 1) x 6 s = 12 s; the timeout allows 18 s + 60.
        t = overload.stress_timeout(3.0, 4, 1.5)
        self.assertEqual(t, 78.0)
        self.assertGreater(t, (3.0 - 1) * 4 * 1.5)

    def test_combine_sums_and_rates_over_the_span(self):
        ws = [window(ok=90, busy=10, p50=1000, p99=4000, achieved=200, duration=0.5),
              window(ok=80, busy=20, p50=3000, p99=9000, achieved=180, duration=0.5),
              window(ok=70, timeouts=30, p50=2000, p99=6000, achieved=190, duration=0.5, delayed=3)]
        p = overload.combine_windows(ws, span_s=2.0)
        self.assertEqual((p["requests"], p["ok"], p["busy"], p["timeouts"], p["delayed"]),
                         (300, 240, 30, 30, 3))
        self.assertEqual(p["goodput_rps"], 120.0)
        self.assertEqual(p["rejected_rps"], 15.0)
        self.assertEqual(p["timeouts_rps"], 15.0)
        self.assertAlmostEqual(p["achieved_rps"], 190.0)
        self.assertEqual(p["p50_us"], 2000)            # median of the windows' p50
        self.assertEqual(p["p99_us"], 9000)            # the largest window p99
        self.assertEqual(p["p99_windows_us"], [4000, 9000, 6000])
        self.assertEqual(p["p99_growth"], 1.5)         # last / first
        self.assertEqual(p["offered_rps"], 200)

    def test_achieved_rate_weighs_windows_by_their_send_time(self):
        ws = [window(achieved=100, duration=1.0), window(achieved=400, duration=3.0)]
        self.assertAlmostEqual(overload.combine_windows(ws, 5.0)["achieved_rps"], 325.0)

    def test_a_window_without_ok_replies_has_no_percentiles(self):
        ws = [window(ok=50, p99=3000), window(ok=0, busy=50, p50=0, p99=0)]
        p = overload.combine_windows(ws, 1.0)
        self.assertEqual(p["p99_us"], 3000)
        self.assertTrue(math.isnan(p["p99_windows_us"][1]))
        self.assertTrue(math.isnan(p["p99_growth"]))
        p = overload.combine_windows([window(ok=0, busy=5, p99=None)], 1.0)
        self.assertTrue(math.isnan(p["p99_us"]))
        self.assertTrue(math.isnan(p["p50_us"]))

    def test_combine_needs_windows_and_a_span(self):
        with self.assertRaises(ValueError):
            overload.combine_windows([], 1.0)
        with self.assertRaises(ValueError):
            overload.combine_windows([window()], 0)

    def test_growth(self):
        self.assertEqual(overload.p99_growth([10.0, 20.0, 40.0]), 4.0)
        self.assertTrue(math.isnan(overload.p99_growth([10.0])))
        self.assertTrue(math.isnan(overload.p99_growth([0.0, 5.0])))


class TargetTest(unittest.TestCase):
    # 5 ms queue timeout, 500 us run time: bound 3 x 5 ms + 0.5 ms = 15.5 ms.
    def evaluate(self, goodput, p99s):
        return overload.evaluate_target(1000.0, goodput, p99s, 5, 500)

    def test_met(self):
        t = self.evaluate(950.0, [9000.0, 12000.0, 15500.0, 11000.0])
        self.assertEqual(t["bound_us"], 15500.0)
        self.assertEqual(t["worst_p99_us"], 15500.0)
        self.assertAlmostEqual(t["goodput_share"], 0.95)
        self.assertTrue(t["goodput_met"] and t["latency_met"] and t["met"])

    def test_goodput_at_the_floor_is_met_below_is_not(self):
        self.assertTrue(self.evaluate(900.0, [1000.0])["goodput_met"])
        t = self.evaluate(899.0, [1000.0])
        self.assertFalse(t["goodput_met"])
        self.assertFalse(t["met"])

    def test_one_late_window_fails_the_latency_half(self):
        t = self.evaluate(1000.0, [9000.0, 9000.0, 9000.0, 15600.0])
        self.assertTrue(t["goodput_met"])
        self.assertFalse(t["latency_met"])
        self.assertFalse(t["met"])
        self.assertEqual(t["worst_p99_us"], 15600.0)

    def test_a_window_without_a_p99_is_not_met(self):
        t = self.evaluate(1000.0, [9000.0, math.nan])
        self.assertFalse(t["latency_met"])
        self.assertTrue(math.isnan(t["worst_p99_us"]))
        self.assertFalse(self.evaluate(1000.0, [])["latency_met"])

    def test_no_capacity_is_not_met(self):
        t = overload.evaluate_target(0.0, 100.0, [1.0], 5, 500)
        self.assertFalse(t["goodput_met"])

    def test_fmt_ms(self):
        self.assertEqual(overload.fmt_ms(540), "0.54")
        self.assertEqual(overload.fmt_ms(15500), "15.5")
        self.assertEqual(overload.fmt_ms(2159000), "2159")
        self.assertEqual(overload.fmt_ms(math.nan), "nan")


class LanesParsersTest(unittest.TestCase):
    def test_info_latency(self):
        line = ("result: # Latency latency_hash:calls=400,p50_us=27,p99_us=331,"
                "queue_wait_p50_us=14,queue_wait_p99_us=44 lane_latency_slow:queue_wait_p50_us=1509949,"
                "queue_wait_p99_us=3506529\r\n")
        info = lanes.parse_info_line(line)
        self.assertEqual(info["latency_hash"]["queue_wait_p99_us"], 44)
        self.assertEqual(info["latency_hash"]["calls"], 400)
        self.assertEqual(info["lane_latency_slow"]["queue_wait_p99_us"], 3506529)
        self.assertEqual(len(info), 2)

    def test_info_plain_values_and_several_sections(self):
        info = lanes.parse_info_line("result: # Pool workers:4 on_full:hold # Latency")
        self.assertEqual(info, {"workers": "4", "on_full": "hold"})
        self.assertEqual(lanes.parse_info_line("result: "), {})

    def test_info_errors(self):
        for bad in ("ERROR: invalid input: unknown command 'INFO'", "result: # Latency nocolon",
                    "result: latency_x:calls=1,p50"):
            with self.assertRaises(ValueError):
                lanes.parse_info_line(bad)

    def test_lane_figures(self):
        st = {"queue_wait_us_p99": 9, "lane_default_queue_wait_us_p99": 44,
              "lane_default_run_us_p99": 29, "lane_slow_queue_wait_us_p99": 2501776,
              "lane_slow_depth": 19}
        self.assertEqual(lanes.lane_figures(st), {"default": 44, "slow": 2501776})
        self.assertEqual(lanes.lane_figures({"queue_wait_us_p99": 9}), {})


def load_run_py():
    path = os.path.join(HERE, "..", "run.py")
    spec = importlib.util.spec_from_file_location("bench_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class SelectSectionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.runpy = load_run_py()

    def keys(self, spec):
        return [c.key for c in self.runpy.select_sections(self.runpy.SECTIONS, spec, self.runpy.NEEDS)]

    def test_all_by_default(self):
        self.assertEqual(self.keys(None), [c.key for c in self.runpy.SECTIONS])
        self.assertIn("overload", self.keys(None))
        self.assertIn("lanes", self.keys(None))

    def test_chosen_in_run_order(self):
        self.assertEqual(self.keys("lanes,overload"), ["overload", "lanes"])
        self.assertEqual(self.keys(" overload , "), ["overload"])

    def test_needs_are_added(self):
        self.assertEqual(self.keys("handoff_cost"), ["sweep", "handoff_cost"])

    def test_unknown_or_empty(self):
        with self.assertRaisesRegex(ValueError, "unknown section.*bogus"):
            self.keys("overload,bogus")
        with self.assertRaises(ValueError):
            self.keys(",")

    def test_keys_are_unique(self):
        keys = [c.key for c in self.runpy.SECTIONS]
        self.assertEqual(len(keys), len(set(keys)))


class FakeServer:
    port = 4242

    def __init__(self):
        self.kept = None

    def keep_log(self, dest):
        self.kept = dest

    def alive(self):
        return True

    def describe(self):
        return "fake server"

    def log_tail(self, n):
        return "(fake log)\n"


JSON = ('{"requests": 10, "ok": 10, "busy": 0, "errors": 0, "elapsed_s": 0.5, "rps": 20, '
        '"p50_us": 100, "p99_us": 200}')


class StressJobTest(unittest.TestCase):
    def fake(self, script):
        b = FakeBench("tools/stress_test", script)
        self.addCleanup(shutil.rmtree, b.tmp, True)
        return b

    def test_result_and_arguments(self):
        b = self.fake(f"echo \"$@\" >&2\necho '{JSON}'\n")
        job = StressJob(b, FakeServer(), ["--clients", 5, "--rate", 100], 70)
        self.assertEqual(job.result()["p99_us"], 200)
        self.assertEqual(b.procs.live, [])
        with open(job.err_path) as f:
            self.assertEqual(f.read().split(), ["--port", "4242", "--clients", "5", "--rate", "100",
                                                "--timeout", "70", "--json"])
        self.assertIsNotNone(job.t_end)

    def test_failure_is_a_tool_error_with_its_complaint(self):
        b = self.fake("echo 'client 3: wrong reply' >&2\nexit 1\n")
        srv = FakeServer()
        with self.assertRaisesRegex(ToolError, "exit 1(.|\n)*wrong reply(.|\n)*fake log"):
            StressJob(b, srv, ["--clients", 1], 10).result()
        self.assertEqual(srv.kept, b.assets / "failed-server.log")
        self.assertEqual(b.procs.live, [])

    def test_unreadable_output_is_a_tool_error(self):
        b = self.fake("echo 'not json'\n")
        with self.assertRaisesRegex(ToolError, "unreadable JSON"):
            StressJob(b, FakeServer(), [], 10).result()

    def test_stop_sending_is_sigterm_and_awaits_the_exit(self):
        # The fake stands for stress_test: on TERM it "drains" and reports.
        b = self.fake(f"trap 'echo \"{JSON.replace(chr(34), chr(92) + chr(34))}\"; exit 0' TERM\n"
                      "while :; do sleep 0.05; done\n")
        job = StressJob(b, FakeServer(), [], 10)
        time.sleep(0.2)  # let sh install its trap
        job.stop_sending()
        self.assertEqual(job.result()["ok"], 10)
        job.stop_sending()  # after the exit: nothing happens
        self.assertEqual(b.procs.live, [])

    def test_several_jobs_run_at_once(self):
        b = self.fake(f"sleep 0.3\necho '{JSON}'\n")
        t0 = time.monotonic()
        jobs = [StressJob(b, FakeServer(), [], 10) for _ in range(3)]
        self.assertEqual([j.result()["ok"] for j in jobs], [10, 10, 10])
        self.assertLess(time.monotonic() - t0, 0.85)  # not one after the other (0.9 s)

    def test_registry_stops_a_running_job(self):
        b = self.fake("exec sleep 30\n")
        job = StressJob(b, FakeServer(), [], 10)
        b.procs.stop_all()
        self.assertEqual(b.procs.live, [])
        self.assertIsNotNone(job.proc.returncode)

    def test_sleep_until(self):
        t = time.monotonic() + 0.05
        sleep_until(t)
        self.assertGreaterEqual(time.monotonic(), t)
        sleep_until(t - 10)  # in the past: at once


if __name__ == "__main__":
    unittest.main()
