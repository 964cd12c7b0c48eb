"""Load generators: stress_test (ours, checks every reply) and
redis-benchmark. Each runner returns parsed figures or raises ToolError;
the parsers are pure functions."""

import csv
import io
import json

from .proc import ToolError

# Not a judgement of speed: a run takes seconds; redis-benchmark never
# returns when its server dies, and this keeps that from hanging the bench.
REDIS_BENCHMARK_TIMEOUT_S = 600

STRESS_KEYS = ("requests", "ok", "busy", "errors", "elapsed_s", "rps", "p50_us", "p99_us")


def parse_stress_json(text):
    """The JSON object stress_test --json prints (its last non-empty line)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("no output")
    obj = json.loads(lines[-1])
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in STRESS_KEYS if k not in obj]
    if missing:
        raise ValueError("missing keys: " + ", ".join(missing))
    return obj


def stress(b, srv, clients, cmd, duration=None, extra=()):
    """One stress_test run against srv (a PoolServer); returns its JSON as
    a dict. Any wrong or missing reply makes stress_test exit 1: that is a
    ToolError, with stress_test's complaint and the server's last words."""
    duration = b.cfg.duration if duration is None else duration
    args = [b.binary("tools/stress_test"), "--port", str(srv.port), "--clients", str(clients),
            "--duration", f"{duration:g}", "--cmd", cmd, *extra, "--json"]
    rc, out, err = b.procs.run(args)
    return stress_outcome(b, srv, rc, out, f"clients={clients} cmd={cmd[:40]}", err[:2000])


def stress_outcome(b, srv, rc, out, what, err_shown):
    """stress_test's JSON as a dict if it exited 0 with readable output;
    else a ToolError naming the run (what), with stress_test's complaint
    and the server's last words (its log kept as failed-server.log)."""
    if rc == 0:
        try:
            return parse_stress_json(out)
        except ValueError as e:
            problem = f"unreadable JSON ({e})"
    else:
        problem = f"exit {rc}"
    srv.keep_log(b.assets / "failed-server.log")
    state = "still running" if srv.alive() else "gone"
    raise ToolError(
        f"stress_test failed ({problem}): {what}\n"
        f"--- stderr:\n{err_shown}\n--- stdout:\n{out[:1000]}\n"
        f"--- {srv.describe()} is {state}; its log (last lines, kept as failed-server.log):\n"
        f"{srv.log_tail(5)}")


def parse_redis_csv(text):
    """(test name, requests/s) from redis-benchmark --csv output: a header
    row, then one row per test; the first test is taken."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    if len(rows) < 2 or len(rows[1]) < 2 or rows[0][:2] != ["test", "rps"]:
        raise ValueError("no result row")
    return rows[1][0], float(rows[1][1])


def redis_benchmark(b, port, *args, clients=50):
    """One redis-benchmark -c 50 --csv run; returns requests/s. A non-zero
    exit, no result row, or the word 'error' anywhere in its output is a
    ToolError (redis-benchmark reports a rejected reply but exits 0)."""
    argv = ["redis-benchmark", "-p", str(port), "-c", str(clients), "--csv", *args]
    rc, out, err = b.procs.run(argv, timeout=REDIS_BENCHMARK_TIMEOUT_S)
    try:
        _, rps = parse_redis_csv(out)
    except ValueError:
        rps = None
    if rc != 0 or rps is None or "error" in (out + err).lower():
        raise ToolError(f"redis-benchmark failed (exit {rc}) on port {port}: "
                        f"{' '.join(args)[:80]}\n--- stderr:\n{err[:2000]}\n--- stdout:\n{out[:2000]}")
    return rps
