"""Readers of /proc: process CPU time, machine busy time, context switches.

Each reader is a thin wrapper around a pure parser (parse_*), which the
unit tests exercise on fixed text.
"""

import glob
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_pid_stat_ticks(text):
    """utime + stime (clock ticks) from the text of /proc/PID/stat. The
    command name may contain spaces and ')', so fields are counted after
    the last ')': state is then field 0, utime 11, stime 12."""
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])


def parse_machine_ticks(text):
    """(busy, total) jiffies of all CPUs from the text of /proc/stat:
    busy = user + nice + system + irq + softirq + steal, total = busy +
    idle + iowait (guest time is already inside user)."""
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "cpu":
            user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[1:9])
            busy = user + nice + system + irq + softirq + steal
            return busy, busy + idle + iowait
    raise ValueError("no 'cpu' line in /proc/stat")


def parse_ctxt_switches(text):
    """(voluntary, nonvoluntary) context switches from the text of a
    /proc/PID/status or /proc/PID/task/TID/status file."""
    vol = invol = None
    for line in text.splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            vol = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches:"):
            invol = int(line.split()[1])
    if vol is None or invol is None:
        raise ValueError("no *_ctxt_switches lines")
    return vol, invol


def _read(path):
    with open(path) as f:
        return f.read()


def process_cpu_ticks(pid):
    """Total CPU time of a process (all threads), in clock ticks."""
    return parse_pid_stat_ticks(_read(f"/proc/{pid}/stat"))


def machine_ticks():
    """(busy, total) jiffies of the whole machine so far."""
    return parse_machine_ticks(_read("/proc/stat"))


def machine_cpu_pct(before, after, ncpu):
    """Busy share of the machine between two machine_ticks() readings, in
    percent of one core (so ncpu x 100% is every core busy)."""
    db, dt = after[0] - before[0], after[1] - before[1]
    return 100.0 * ncpu * db / dt if dt > 0 else 0.0


def context_switches(pid):
    """Voluntary + nonvoluntary context switches of a process so far,
    summed over its live threads (/proc/PID/task/*/status). A thread that
    has exited is no longer counted, so compare readings only across a
    span in which the thread set is fixed (pool_server --workers N)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            vol, invol = parse_ctxt_switches(_read(path))
        except FileNotFoundError:  # the thread exited between glob and open
            continue
        total += vol + invol
    return total


def thread_ids(pid):
    return sorted(int(os.path.basename(p)) for p in glob.glob(f"/proc/{pid}/task/*"))


def tracer_pid(pid, tid):
    """TracerPid of one thread (0: not traced)."""
    for line in _read(f"/proc/{pid}/task/{tid}/status").splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    return 0


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg spells them."""
    return " ".join(_read("/proc/loadavg").split()[:3])


def cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def mem_gib():
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1048576
    return 0.0
