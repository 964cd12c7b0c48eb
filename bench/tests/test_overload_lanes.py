"""Unit tests of StressJob (stress_test in the background) on a fake
stress_test. No build, no server.

    python3 -m unittest discover -s bench/tests
"""

import os
import pathlib
import shutil
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from benchkit.proc import CommandLog, Processes, ToolError  # noqa: E402
from benchkit.sections.stressjobs import StressJob, sleep_until  # noqa: E402


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


class FakeBench:
    """What StressJob needs, with a shell script as stress_test."""

    def __init__(self, script):
        self.tmp = tempfile.mkdtemp(prefix="benchkit-test.")
        self.bin_dir = os.path.join(self.tmp, "bin")
        os.makedirs(os.path.join(self.bin_dir, "tools"))
        path = os.path.join(self.bin_dir, "tools", "stress_test")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script)
        os.chmod(path, 0o755)
        self.procs = Processes(CommandLog())
        self.assets = pathlib.Path(self.tmp)

    def binary(self, rel):
        return os.path.join(self.bin_dir, rel)


JSON = ('{"requests": 10, "ok": 10, "busy": 0, "errors": 0, "elapsed_s": 0.5, "rps": 20, '
        '"p50_us": 100, "p99_us": 200}')


class StressJobTest(unittest.TestCase):
    def fake(self, script):
        b = FakeBench(script)
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
