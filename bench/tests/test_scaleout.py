"""Unit tests of the scale-out section's pure parts: the HAProxy config it
derives from deploy/haproxy.cfg, and the `show stat` parser. No server.

    python3 -m unittest discover -s bench/tests
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchkit.proc import ToolError  # noqa: E402
from benchkit.sections.scaleout import derive_config, parse_show_stat  # noqa: E402

RECIPE = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
VALUES = {"POOL_FRONT": "127.0.0.1:23456", "POOL_STATS": "/tmp/x.sock", "POOL_MAXCONN": "2000",
          "POOL_S1": "127.0.0.1:31001", "POOL_S2": "127.0.0.1:31002"}


class DeriveConfigTest(unittest.TestCase):
    def test_the_recipe_filled_in_with_two_servers(self):
        cfg = derive_config(RECIPE.read_text(), VALUES, ["s1", "s2"])
        self.assertIn("bind 127.0.0.1:23456", cfg)
        self.assertIn("stats socket /tmp/x.sock ", cfg)
        self.assertIn("maxconn 2000", cfg)
        servers = [ln.split() for ln in cfg.splitlines() if ln.split()[:1] == ["server"]]
        self.assertEqual(servers, [["server", "s1", "127.0.0.1:31001"],
                                   ["server", "s2", "127.0.0.1:31002"]])
        self.assertNotIn("${POOL_FRONT", cfg)
        self.assertIn("balance leastconn", cfg)  # the rest is the recipe's

    @unittest.skipIf(shutil.which("haproxy") is None, "haproxy not installed")
    def test_haproxy_accepts_the_derived_config(self):
        cfg = derive_config(RECIPE.read_text(), VALUES, ["s1", "s2"])
        with tempfile.NamedTemporaryFile("w", suffix=".cfg") as f:
            f.write(cfg)
            f.flush()
            r = subprocess.run(["haproxy", "-c", "-f", f.name], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_a_setting_the_recipe_lost_is_an_error(self):
        with self.assertRaises(ToolError):
            derive_config("frontend f\n    bind 127.0.0.1:9090\n", VALUES, ["s1"])


class ShowStatTest(unittest.TestCase):
    def test_statuses_of_one_backend(self):
        text = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,"
                "eresp,wretr,wredis,status,weight\n"
                "pool_server,FRONTEND,,,0,1,2000,1,0,0,0,0,0,,,,,OPEN,\n"
                "pool,s1,0,0,0,1,9000,1,0,0,,0,,0,0,0,0,UP,1\n"
                "pool,s2,0,0,0,0,9000,0,0,0,,0,,0,0,0,0,DOWN 1/2,1\n"
                "pool,BACKEND,0,0,0,1,200,1,0,0,0,0,,0,0,0,0,UP,2\n"
                "other,s1,0,0,0,0,9000,0,0,0,,0,,0,0,0,0,MAINT,1\n")
        self.assertEqual(parse_show_stat(text, "pool"), {"s1": "UP", "s2": "DOWN 1/2"})
        self.assertEqual(parse_show_stat("", "pool"), {})


if __name__ == "__main__":
    unittest.main()
