"""The build: -c opt in the benchmark's own Bazel output base, leaving the
workspace's bazel-* symlinks alone (--symlink_prefix=/), and that Bazel
server shut down as soon as the binaries are there."""

import os
import shlex

from .proc import ToolError, log

TARGETS = ("//server:pool_server", "//tools:stress_test", "//bench:pool_bench")


class Bazel:
    def __init__(self, procs, command, output_base, log_path):
        self.procs = procs
        self.argv = shlex.split(command) + [f"--output_base={output_base}"]
        self.output_base = output_base
        self.log_path = log_path
        self.up = False  # a Bazel server of ours may be running

    def build(self, targets=TARGETS):
        """Builds the targets; returns the bazel-bin directory."""
        log(f"building (-c opt, output base {self.output_base})")
        self.up = True
        args = self.argv + ["build", "-c", "opt", "--symlink_prefix=/", *targets]
        with open(self.log_path, "w") as f:
            p = self.procs.spawn(args, stdout=f, stderr=f)
            rc = self.procs.wait(p)
        if rc != 0:
            with open(self.log_path) as f:
                tail = f.readlines()[-40:]
            raise ToolError("build failed (exit %d):\n%s" % (rc, "".join(tail)))
        rc, out, err = self.procs.run(self.argv + ["info", "-c", "opt", "bazel-bin"], log_cmd=False)
        if rc != 0 or not out.strip():
            raise ToolError(f"bazel info bazel-bin failed (exit {rc}): {err.strip()[-500:]}")
        self.shutdown()
        bin_dir = out.strip()
        for t in targets:
            pkg, name = t.lstrip("/").split(":")
            if not os.access(os.path.join(bin_dir, pkg, name), os.X_OK):
                raise ToolError(f"no {pkg}/{name} binary under {bin_dir}")
        return bin_dir

    def shutdown(self):
        """Stops our Bazel server (quietly: called on failure paths too)."""
        if self.up:
            self.procs.run(self.argv + ["shutdown"], log_cmd=False)
            self.up = False
