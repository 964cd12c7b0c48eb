"""Test doubles shared by the benchkit tests."""
import os
import pathlib
import tempfile

from benchkit.proc import CommandLog, Processes


class FakeBench:
    """Just what the code under test needs of a Bench, with a shell script
    standing in for one binary (rel: its path under bazel-bin, e.g.
    "server/pool_server")."""

    def __init__(self, rel, script):
        self.tmp = tempfile.mkdtemp(prefix="benchkit-test.")
        self.bin_dir = os.path.join(self.tmp, "bin")
        path = os.path.join(self.bin_dir, rel)
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script)
        os.chmod(path, 0o755)
        self.procs = Processes(CommandLog())
        self.assets = pathlib.Path(self.tmp)

    def binary(self, rel):
        return os.path.join(self.bin_dir, rel)
