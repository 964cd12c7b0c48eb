#!/usr/bin/env python3
"""netfuzz: a stateful network fuzzer for pool_server (issue 9).

Many concurrent clients, driven from one selectors loop, send random mixes of
valid and invalid requests in both framings (text lines and RESP2, also mixed
on one connection), chunked at random with random pauses, pipelined from 1 to
well over --max-inflight deep. Some stop reading for a while, half-close,
QUIT, commit framing errors (overlong lines and bulks, malformed RESP) or
reset. For every request the fuzzer models the exact reply it must get (with
the allowed alternatives: busy, timeout, shutting down for pool commands) and
checks the replies of each connection in order. It fails on a missing, extra,
misordered or wrong reply, a connection closed early, a server that dies, a
server that does not exit 0 promptly on SIGTERM, or a sanitizer report.

The model (what the server must answer) follows README.md "Protocol" and
server/protocol.h; see tests/netfuzz/README.md for what is checked exactly.

Usage:
  netfuzz.py --server bazel-bin/server/pool_server --profile small --duration 600 --seed 1
  netfuzz.py --port 9090 --profile default --duration 30      # attach to a running server
Exit status: 0 pass, 1 a failure (reported on stdout), 2 bad usage.

Python 3 standard library only.
"""

import argparse
import collections
import errno
import hashlib
import heapq
import os
import random
import re
import selectors
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------
# Profiles and the server configuration the model needs.

PROFILES = {
    "small": ["--max-inflight", "2", "--queue-capacity", "2", "--max-line", "1024",
              "--min-workers", "1", "--max-workers", "3", "--idle-ms", "50",
              "--task-timeout-ms", "30"],
    "default": [],
}

KNOWN_DEFECTS = {
    1: "stranded replies: a pipeline deeper than --max-inflight sent in one go is "
       "answered only up to --max-inflight until more bytes arrive",
    2: "a text-protocol ECHO with a \\r inside the line is answered with a raw \\r "
       "in the reply line (intended: ERROR: invalid input)",
    3: "a connection paused at --max-inflight does not notice a reset until its "
       "work ends (its slot stays held)",
}


class ServerModel:
    """The server settings that decide replies, with the server's defaults."""

    def __init__(self):
        self.max_line = 65536
        self.max_inflight = 64
        self.queue_capacity = 256
        self.min_workers = 4
        self.max_workers = 4
        self.task_timeout_ms = 0
        self.resp_inline = False

    @classmethod
    def from_flags(cls, flags):
        m = cls()
        workers = minw = maxw = None
        i = 0
        while i < len(flags):
            a = flags[i]
            if a == "--resp-inline":
                m.resp_inline = True
                i += 1
                continue
            if not a.startswith("--"):
                i += 1
                continue
            if "=" in a:
                name, val = a.split("=", 1)
            else:
                name = a
                val = flags[i + 1] if i + 1 < len(flags) else ""
                i += 1
            i += 1
            if not val.isdigit():
                continue
            v = int(val)
            if name == "--max-line":
                m.max_line = v
            elif name == "--max-inflight":
                m.max_inflight = v
            elif name == "--queue-capacity":
                m.queue_capacity = v
            elif name == "--workers":
                workers = v
            elif name == "--min-workers":
                minw = v
            elif name == "--max-workers":
                maxw = v
            elif name == "--task-timeout-ms":
                m.task_timeout_ms = v
        # The same resolution as main.c.
        if workers:
            m.min_workers = m.max_workers = workers
        if minw:
            m.min_workers = minw
        if maxw:
            m.max_workers = maxw
        if minw and not maxw and m.max_workers < m.min_workers:
            m.max_workers = m.min_workers
        if maxw and not minw and m.min_workers > m.max_workers:
            m.min_workers = m.max_workers
        return m

    def describe(self):
        return ("max_line=%d max_inflight=%d queue_capacity=%d workers=%d..%d "
                "task_timeout_ms=%d resp_inline=%d" % (
                    self.max_line, self.max_inflight, self.queue_capacity, self.min_workers,
                    self.max_workers, self.task_timeout_ms, self.resp_inline))


# --------------------------------------------------------------------------
# Small helpers.

def esc(b, limit=240):
    """bytes -> a printable one-line string (Python-style escapes), shortened
    in the middle when longer than limit."""
    if not isinstance(b, (bytes, bytearray)):
        return str(b)

    def one(chunk):
        out = []
        for c in chunk:
            if c == 0x5C:
                out.append("\\\\")
            elif c == 0x0A:
                out.append("\\n")
            elif c == 0x0D:
                out.append("\\r")
            elif c == 0x09:
                out.append("\\t")
            elif 0x20 <= c < 0x7F:
                out.append(chr(c))
            else:
                out.append("\\x%02x" % c)
        return "".join(out)

    if len(b) <= limit:
        return '"' + one(b) + '"'
    head, tail = limit * 2 // 3, limit // 3
    return '"%s"...(%d bytes)..."%s"' % (one(b[:head]), len(b), one(b[-tail:]))


def quote_word(s):
    """The server's quoting of client bytes in error messages: at most 32
    bytes between single quotes, anything but printable ASCII (and ' and \\)
    as \\xHH, "..." after the quote when cut short."""
    out = ["'"]
    for c in s[:32]:
        if 0x20 <= c < 0x7F and c not in (0x27, 0x5C):
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    out.append("'")
    if len(s) > 32:
        out.append("...")
    return "".join(out).encode()


class Primes:
    """pi(n): a sieve for small n, published values for a few large ones."""
    LIMIT = 2_000_000
    KNOWN = {10_000_000: 664579, 100_000_000: 5761455, 1_000_000_000: 50847534,
             2147483647: 105097565}

    def __init__(self):
        s = bytearray([1]) * (self.LIMIT + 1)
        s[0] = s[1] = 0
        for i in range(2, int(self.LIMIT ** 0.5) + 1):
            if s[i]:
                s[i * i::i] = bytes(len(range(i * i, self.LIMIT + 1, i)))
        self.sieve = bytes(s)

    def count(self, n):
        if n <= self.LIMIT:
            return self.sieve.count(1, 0, n + 1)
        return self.KNOWN.get(n)


PRIMES = None  # built in main()


# --------------------------------------------------------------------------
# Expected replies.

class Alt:
    """One acceptable reply. kind: 'exact' (the unit equals data), 'prefix'
    (one reply line starting with data and holding no other \\r or \\n),
    'stats' (a STATS reply in the framing; data unused)."""
    __slots__ = ("kind", "data", "tag", "resp")

    def __init__(self, kind, data, tag, resp):
        self.kind, self.data, self.tag, self.resp = kind, data, tag, resp

    def maxlen(self):
        if self.kind == "exact":
            return len(self.data)
        if self.kind == "prefix":
            return len(self.data) + 400
        return 2048

    def describe(self):
        if self.kind == "exact":
            return esc(self.data)
        if self.kind == "prefix":
            return "one line starting with %s" % esc(self.data)
        return "a STATS reply (%s) whose figures add up" % ("RESP bulk" if self.resp else "text")


def line_reply(resp, text_body, resp_line):
    return text_body + b"\n" if not resp else resp_line + b"\r\n"


def err_alt(resp, code, msg, tag):
    if resp:
        return Alt("exact", b"-%s %s\r\n" % (code, msg), tag, True)
    return Alt("exact", b"ERROR: %s\n" % msg, tag, False)


BUSY = {False: err_alt(False, b"BUSY", b"server busy", "busy"),
        True: err_alt(True, b"BUSY", b"server busy", "busy")}
TIMEOUT = {False: err_alt(False, b"TIMEOUT", b"timeout", "timeout"),
           True: err_alt(True, b"TIMEOUT", b"timeout", "timeout")}
SHUTDOWN = {False: err_alt(False, b"SHUTDOWN", b"shutting down", "shutdown"),
            True: err_alt(True, b"SHUTDOWN", b"shutting down", "shutdown")}
TOO_LONG = {False: err_alt(False, b"ERR", b"line too long", "too_long"),
            True: err_alt(True, b"ERR", b"line too long", "too_long")}


def invalid_prefix(resp):
    return Alt("prefix", b"-ERR invalid input: " if resp else b"ERROR: invalid input: ",
               "invalid", resp)


class Req:
    """One request on a connection: its bytes and the replies it may get."""
    __slots__ = ("data", "resp", "alts", "terminal", "pool", "cost_ms", "label",
                 "index", "end_off", "sent_at", "sleep_ms", "depth")

    def __init__(self, data, resp, alts, label, terminal=False, pool=False, cost_ms=0,
                 sleep_ms=None):
        self.data = data
        self.resp = resp            # the framing of its reply
        self.alts = alts
        self.label = label
        self.terminal = terminal    # the server closes after answering it
        self.pool = pool            # HASH / PRIMES / SLEEP: busy, timeout allowed
        self.cost_ms = cost_ms      # rough worker time, for deadlines
        self.sleep_ms = sleep_ms
        self.index = -1             # position on its connection
        self.end_off = 0            # stream offset of its last byte + 1
        self.sent_at = None         # when its last byte was sent
        self.depth = 0              # requests sent and unanswered then, itself included


COMMANDS = {
    # name: (nargs or None for any, max for a number argument, text usage)
    b"ping": (0, 0, b"PING takes no argument"),
    b"echo": (1, 0, b"ECHO needs an argument"),
    b"hash": (1, 0, b"HASH needs an argument"),
    b"primes": (1, 2147483647, b"PRIMES needs an integer 0..2147483647"),
    b"sleep": (1, 60000, b"SLEEP needs milliseconds 0..60000"),
    b"stats": (0, 0, b"STATS takes no argument"),
    b"quit": (None, 0, None),
    b"command": (None, 0, None),
    b"config": (None, 0, None),
    b"hello": (None, 0, None),
    b"client": (None, 0, None),
}


class Model:
    """Computes the reply (alternatives) each request must get."""

    def __init__(self, m, opts):
        self.m = m
        self.exact_details = not opts.loose_details
        # A SLEEP this long with a task timeout must be answered timeout (or
        # busy): it has run far longer than the limit whatever the load.
        self.must_timeout_ms = None
        if m.task_timeout_ms:
            self.must_timeout_ms = int(4 * m.task_timeout_ms + 250 * opts.time_scale)

    def invalid(self, resp, detail):
        if not self.exact_details:
            return [invalid_prefix(resp)]
        if resp:
            return [Alt("exact", b"-ERR invalid input: " + detail + b"\r\n", "invalid", True)]
        return [Alt("exact", b"ERROR: invalid input: " + detail + b"\n", "invalid", False)]

    def classify(self, word, nargs, arg, resp_wording):
        """(name, n) for a valid command, or (None, detail) for invalid input."""
        name = word.lower()  # bytes.lower() is ASCII-only, like the server
        spec = COMMANDS.get(name)
        if spec is None:
            return None, b"unknown command " + quote_word(word)
        want, numax, usage = spec
        if want is not None and nargs != want:
            if resp_wording:
                return None, b"wrong number of arguments for '" + name + b"'"
            return None, usage
        n = None
        if numax:
            if not arg or not arg.isdigit() or int(arg) > numax:
                return None, usage
            n = int(arg)
        return name, n

    def valid_reply(self, name, arg, n, resp, label, data):
        """Req for a valid command."""
        m = self.m
        pool = name in (b"hash", b"primes", b"sleep")
        if name == b"ping":
            alts = [Alt("exact", b"+PONG\r\n" if resp else b"result: PONG\n", "ok", resp)]
        elif name == b"echo":
            alts = [self.ok(resp, arg)]
        elif name == b"hash":
            alts = [self.ok(resp, hashlib.sha256(arg).hexdigest().encode())]
        elif name == b"primes":
            c = PRIMES.count(n)
            alts = [] if c is None else [Alt("exact", b":%d\r\n" % c if resp else b"result: %d\n" % c,
                                              "ok", resp)]
        elif name == b"sleep":
            alts = [self.ok(resp, b"slept %d" % n)]
            if self.must_timeout_ms is not None and n >= self.must_timeout_ms:
                alts = []
        elif name == b"stats":
            alts = [Alt("stats", b"", "ok", resp)]
        elif name == b"quit":
            alts = [Alt("exact", b"+OK\r\n" if resp else b"result: OK\n", "ok", resp)]
        elif name in (b"command", b"config"):
            alts = [Alt("exact", b"*0\r\n" if resp else b"result: \n", "ok", resp)]
        elif name == b"hello":
            alts = [Alt("exact", b"-NOPROTO unsupported protocol version\r\n" if resp
                        else b"ERROR: unsupported protocol version\n", "ok", resp)]
        elif name == b"client":
            alts = [Alt("exact", b"+OK\r\n" if resp else b"result: OK\n", "ok", resp)]
        else:
            raise AssertionError(name)
        cost = 0
        sleep_ms = None
        if pool:
            alts.append(BUSY[resp])
            if m.task_timeout_ms:
                alts.append(TIMEOUT[resp])
            if name == b"sleep":
                sleep_ms = n
                cost = n if not m.task_timeout_ms else min(n, m.task_timeout_ms + 20)
            elif name == b"primes":
                cost = 2 + n // 50_000
                if m.task_timeout_ms:
                    cost = min(cost, m.task_timeout_ms + 20)
            else:
                cost = 1 + len(arg) // 100_000
        return Req(data, resp, alts, label, terminal=(name == b"quit"), pool=pool, cost_ms=cost,
                   sleep_ms=sleep_ms)

    @staticmethod
    def ok(resp, v):
        if resp:
            return Alt("exact", b"$%d\r\n%s\r\n" % (len(v), v), "ok", True)
        return Alt("exact", b"result: " + v + b"\n", "ok", False)

    def text(self, body, crlf, label):
        """A text request: body (no \\n) plus its line end."""
        data = body + (b"\r\n" if crlf else b"\n")
        assert b"\n" not in body and not data.startswith(b"*"), data
        content = data[:-1]
        had_cr = content.endswith(b"\r")
        if had_cr:
            content = content[:-1]
        resp = self.m.resp_inline and had_cr
        if len(content) > self.m.max_line:
            return Req(data, False, [TOO_LONG[False]], label + "/too-long", terminal=True)
        if not content:
            return Req(data, resp, self.invalid(resp, b"empty line"), label)
        sp = content.find(b" ")
        if sp < 0:
            word, nargs, arg = content, 0, b""
        else:
            word, nargs, arg = content[:sp], 1, content[sp + 1:]
        name, n_or_detail = self.classify(word, nargs, arg, resp_wording=False)
        if name is None:
            req = Req(data, resp, self.invalid(resp, n_or_detail), label)
        else:
            req = self.valid_reply(name, arg, n_or_detail, resp, label, data)
        if b"\r" in content:
            # A \r inside a text line. ECHO must be invalid input (known
            # defect 2: it is echoed raw today); for other commands either
            # their usual reply or invalid input is accepted, the detail
            # unchecked (the fix may word it as it likes).
            inv = invalid_prefix(resp)
            if name == b"echo":
                req.alts, req.pool, req.terminal = [inv], False, False
            else:
                req.alts = req.alts + [inv]
        return req

    def resp(self, bulks, label):
        """A RESP2 array of bulk strings."""
        data = b"*%d\r\n" % len(bulks) + b"".join(b"$%d\r\n%s\r\n" % (len(b), b) for b in bulks)
        assert 1 <= len(bulks) <= 1024
        if any(len(b) > self.m.max_line for b in bulks) or len(data) > self.m.max_line + 128:
            return Req(data, True, [TOO_LONG[True]], label + "/too-long", terminal=True)
        word, nargs = bulks[0], len(bulks) - 1
        arg = bulks[1] if nargs else b""
        name, n_or_detail = self.classify(word, nargs, arg, resp_wording=True)
        if name is None:
            return Req(data, True, self.invalid(True, n_or_detail), label)
        return self.valid_reply(name, arg, n_or_detail, True, label, data)

    def protocol_error(self, data, detail, label):
        if self.exact_details:
            alt = Alt("exact", b"-ERR Protocol error: " + detail + b"\r\n", "protocol", True)
        else:
            alt = Alt("prefix", b"-ERR Protocol error: ", "protocol", True)
        return Req(data, True, [alt], label, terminal=True)

    def raw_too_long(self, data, resp, label):
        return Req(data, resp, [TOO_LONG[resp]], label, terminal=True)


# --------------------------------------------------------------------------
# Reply framing on the client side.

class BadReply(Exception):
    pass


def resp_unit_end(buf, pos):
    """End offset of the RESP reply starting at pos, None if incomplete."""
    if pos >= len(buf):
        return None
    t = buf[pos]
    nl = buf.find(b"\r\n", pos)
    if t in b"+-:":
        if nl < 0:
            return None
        return nl + 2
    if t in b"$*":
        if nl < 0:
            if len(buf) - pos > 32:
                raise BadReply("a RESP header longer than 32 bytes")
            return None
        head = bytes(buf[pos + 1:nl])
        if not re.fullmatch(rb"-1|0|[1-9][0-9]{0,15}", head):
            raise BadReply("a malformed RESP length %s" % esc(head))
        n = int(head)
        if t == ord("$"):
            if n < 0:
                return nl + 2
            end = nl + 2 + n + 2
            if len(buf) < end:
                return None
            if buf[end - 2:end] != b"\r\n":
                raise BadReply("a RESP bulk not followed by \\r\\n")
            return end
        p = nl + 2
        for _ in range(max(n, 0)):
            p = resp_unit_end(buf, p)
            if p is None:
                return None
        return p
    raise BadReply("not a RESP reply (first byte %s)" % esc(bytes([t])))


STATS_KEYS = ("workers busy_workers queue_depth queue_capacity submitted completed errors "
              "rejected timeouts connections lock_wait_us cancelled in_flight worker_us").split()


def check_stats(body, m, known_config):
    """Why a STATS body is wrong, or None."""
    try:
        kv = dict(p.split(b"=", 1) for p in body.split(b" "))
        v = {k.decode(): int(x) for k, x in kv.items()}
    except ValueError:
        return "not key=value integers"
    missing = [k for k in STATS_KEYS if k not in v]
    if missing:
        return "missing keys %s" % " ".join(missing)
    if v["submitted"] != v["completed"] + v["errors"] + v["timeouts"] + v["cancelled"] + v["in_flight"]:
        return "submitted != completed + errors + timeouts + cancelled + in_flight"
    if v["queue_depth"] > v["queue_capacity"] or v["busy_workers"] > v["workers"]:
        return "queue_depth > queue_capacity or busy_workers > workers"
    if v["connections"] < 1:
        return "connections < 1 on a live connection"
    if known_config:
        if v["queue_capacity"] != m.queue_capacity:
            return "queue_capacity != %d" % m.queue_capacity
        if not m.min_workers <= v["workers"] <= m.max_workers:
            return "workers outside %d..%d" % (m.min_workers, m.max_workers)
    # No bound on in_flight beyond the identity above: tasks a worker has
    # finished but the loop has not yet taken off its done list count too.
    return None


def parse_stats(unit, resp):
    if resp:
        body = unit[unit.index(b"\r\n") + 2:-2]
    else:
        body = unit[len(b"result: "):-1]
    return dict((k.decode(), int(x)) for k, x in (p.split(b"=", 1) for p in body.split(b" ")))


# --------------------------------------------------------------------------
# Request generation.

def rcase(rng, word):
    r = rng.random()
    if r < 0.6:
        return word
    if r < 0.8:
        return word.lower()
    return bytes(c ^ 0x20 if 0x41 <= (c & ~0x20) <= 0x5A and rng.random() < 0.5 else c for c in word)


_NO_CRLF = bytes.maketrans(b"\r\n", b"RN")


def rbytes(rng, n, exclude_crlf=False):
    """n random bytes; without \r and \n if asked (they become R and N)."""
    b = rng.randbytes(n)
    return b.translate(_NO_CRLF) if exclude_crlf else b


def rtext(rng, n):
    return bytes(rng.randrange(0x21, 0x7F) for _ in range(n))


class Gen:
    """Random requests for one client. Everything it does comes from rng."""

    def __init__(self, rng, model, m, opts, long_sleeps=False):
        self.rng, self.model, self.m, self.opts = rng, model, m, opts
        self.skip = opts.skip_known
        self.long_sleeps = long_sleeps  # SLEEPs that outlast the shutdown grace period

    def arg(self, text):
        """An ECHO/HASH argument: text framing excludes \\n and \\r."""
        rng, ml = self.rng, self.m.max_line
        r = rng.random()
        if r < 0.35:
            return rtext(rng, rng.randrange(0, 24))
        if r < 0.45:
            return b""
        if r < 0.55:
            return b" " * rng.randrange(1, 4)
        if r < 0.75:
            return rbytes(rng, rng.randrange(1, 64), text)
        if r < 0.93:
            return rbytes(rng, rng.randrange(64, min(2048, ml)), text)
        # Close to --max-line (the caller's framing decides whether it fits).
        return rbytes(rng, max(0, ml - rng.randrange(0, 12)), text)

    def number(self, cmd):
        rng, m = self.rng, self.m
        r = rng.random()
        if r < 0.12:  # malformed
            return rng.choice([b"-1", b"+3", b"1.5", b"", b"abc", b"0x10", b" 5", b"5 ", b"1e3",
                               b"2147483648", b"60001", b"99999999999999999999", b"\t7", b"\xff"])
        if cmd == b"SLEEP":
            if self.long_sleeps and r < 0.3:
                v = rng.randrange(2000, 10001)
            elif m.task_timeout_ms:
                if r < 0.6:
                    v = rng.randrange(0, 25)
                elif r < 0.95:
                    v = rng.randrange(40, 401)
                else:
                    v = rng.choice([60000, 5000])  # cancelled after the timeout
            else:
                v = rng.randrange(0, 60) if r < 0.85 else rng.randrange(60, self.opts.max_sleep_ms + 1)
        else:
            if r < 0.25:
                v = rng.choice([0, 1, 2, 3, 4, 100, 1000])
            elif r < 0.9:
                v = rng.randrange(0, 200_000)
            elif r < 0.97 or not m.task_timeout_ms:
                v = rng.randrange(200_000, Primes.LIMIT + 1)
            else:
                v = rng.choice([10_000_000, 100_000_000, 1_000_000_000, 2147483647])
        s = b"%d" % v
        if rng.random() < 0.05:
            s = b"0" * rng.randrange(1, 4) + s  # leading zeros are fine
        return s

    def request(self, resp):
        """One random, non-terminal request (it may be invalid)."""
        rng = self.rng
        kind = rng.choices(
            ["ping", "echo", "hash", "primes", "sleep", "stats", "unknown", "arity", "empty",
             "courtesy", "edge", "cr"],
            weights=[8, 12, 10, 8, 8, 2, 4, 4, 2, 4, 1, 2 if 2 not in self.skip else 0])[0]
        return self.resp_req(kind) if resp else self.text_req(kind)

    def text_req(self, kind):
        rng, mdl = self.rng, self.model
        crlf = rng.random() < 0.15
        if kind == "ping":
            body = rcase(rng, b"PING")
        elif kind == "echo" or kind == "hash":
            body = rcase(rng, kind.upper().encode()) + b" " + self.arg(text=True)
        elif kind == "primes" or kind == "sleep":
            c = kind.upper().encode()
            body = rcase(rng, c) + b" " + self.number(c)
        elif kind == "stats":
            body = rcase(rng, b"STATS")
        elif kind == "unknown":
            body = rng.choice([b"FOO", b"PINGX", b"ECH", b"HASHX abc", b" PING", b"\tPING",
                               b"\x00", b"GET k", b"SET k v", rtext(rng, rng.randrange(1, 50)),
                               rbytes(rng, rng.randrange(1, 40), True)])
            if body.startswith(b"*"):
                body = b"X" + body
        elif kind == "arity":
            body = rng.choice([b"PING x", b"PING ", b"ECHO", b"HASH", b"PRIMES", b"SLEEP",
                               b"STATS now", b"STATS "])
        elif kind == "empty":
            body = b""
        elif kind == "courtesy":
            body = rng.choice([b"COMMAND", b"COMMAND DOCS", b"CONFIG GET save", b"HELLO 3",
                               b"CLIENT SETNAME fuzz", b"client setname x"])
        elif kind == "edge":  # a line of --max-line bytes, give or take one
            ml = self.m.max_line
            body = b"ECHO " + rtext(rng, 1) * max(0, ml - 5 + rng.choice([-1, 0, 0, 1]))
        elif kind == "cr":  # known defect 2
            body = b"ECHO " + rtext(rng, rng.randrange(0, 5)) + b"\r" + rtext(rng, rng.randrange(1, 5))
        else:
            raise AssertionError(kind)
        return mdl.text(body, crlf, "text/" + kind)

    def resp_req(self, kind):
        rng, mdl = self.rng, self.model
        if kind == "ping":
            bulks = [rcase(rng, b"PING")]
        elif kind == "echo" or kind == "hash":
            bulks = [rcase(rng, kind.upper().encode()), self.arg(text=False)]
        elif kind == "primes" or kind == "sleep":
            c = kind.upper().encode()
            bulks = [rcase(rng, c), self.number(c)]
        elif kind == "stats":
            bulks = [b"STATS"]
        elif kind == "unknown":
            bulks = [rng.choice([b"FOO", b"GET", b"", b"PING\r\n", rbytes(rng, rng.randrange(1, 40))])]
            bulks += [rtext(rng, 3) for _ in range(rng.randrange(0, 3))]
        elif kind == "arity":
            bulks = rng.choice([[b"PING", b"x"], [b"ECHO"], [b"ECHO", b"a", b"b"], [b"HASH"],
                                [b"PRIMES"], [b"SLEEP", b"1", b"2"], [b"STATS", b"x"]])
        elif kind == "empty":
            bulks = [b""]
        elif kind == "courtesy":
            bulks = rng.choice([[b"COMMAND"], [b"COMMAND", b"DOCS"], [b"CONFIG", b"GET", b"save"],
                                [b"HELLO", b"3"], [b"CLIENT", b"SETNAME", b"fuzz"]])
        elif kind == "edge":
            # Every bulk fits --max-line; the frame is --max-line + 128 bytes
            # (PR_FRAME_SLACK), give or take one: wrong arity, or too long.
            ml = self.m.max_line
            target = ml + 128 + rng.choice([-1, 0, 0, 1])
            x = ml // 2
            head = b"*3\r\n$4\r\nECHO\r\n$%d\r\n" % x
            for digits in range(1, 12):
                y = target - len(head) - x - 2 - (1 + digits + 2) - 2
                if len(b"%d" % y) == digits:
                    break
            if y < 0 or y > ml:
                bulks = [b"ECHO", b"x"]
            else:
                bulks = [b"ECHO", b"a" * x, b"b" * y]
        elif kind == "cr":  # a bulk may hold any bytes: echoed unchanged
            bulks = [b"ECHO", b"a\rb\r\nc\n"]
        else:
            raise AssertionError(kind)
        return mdl.resp(bulks, "resp/" + kind)

    def terminal(self, resp):
        """A request after which the server closes: QUIT or a framing error."""
        rng, mdl, ml = self.rng, self.model, self.m.max_line
        kind = rng.choices(["quit", "too_long", "protocol"], weights=[4, 3, 3 if resp else 0])[0]
        if kind == "quit":
            if resp:
                return mdl.resp([rcase(rng, b"QUIT")] + ([b"now"] if rng.random() < 0.2 else []),
                                "resp/quit")
            return mdl.text(rcase(rng, b"QUIT") + (b" bye" if rng.random() < 0.2 else b""),
                            rng.random() < 0.15, "text/quit")
        if kind == "too_long":
            over = rng.choice([1, 1, 2, 3, rng.randrange(4, 4096)])
            if not resp:
                body = b"ECHO " + rtext(rng, max(0, ml - 5 + over))
                r = rng.random()
                if r < 0.6:
                    return mdl.text(body, rng.random() < 0.3, "text/long-line")
                # No newline at all: the server must not wait for one.
                data = body + (b"\r" if r < 0.7 else b"")
                return mdl.raw_too_long(data, False, "text/long-line-no-newline")
            r = rng.random()
            if r < 0.5:
                return mdl.resp([b"ECHO", rbytes(rng, ml + over)], "resp/long-bulk")
            if r < 0.75:  # the header alone says it is too long
                n = rng.choice([ml + 1, 10 ** 12, 99999999999999999999])
                return mdl.raw_too_long(b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % n, True, "resp/long-bulk-header")
            # Every bulk fits but the frame does not (max_line + 128 bytes).
            half = ml // 2 + 70
            return mdl.resp([b"ECHO", b"a" * half, b"b" * half], "resp/long-frame")
        errs = [
            (b"*x\r\n", b"invalid multibulk length (not a number)"),
            (b"*-1\r\n", b"invalid multibulk length (not a number)"),
            (b"*\r\n", b"invalid multibulk length (not a number)"),
            (b"*0\r\n", b"invalid multibulk length (zero)"),
            (b"*01\r\n", b"invalid multibulk length (leading zero)"),
            (b"*1025\r\n", b"invalid multibulk length (too large)"),
            (b"*99999999999999999999\r\n", b"invalid multibulk length (too large)"),
            (b"*1x\r\n", b"invalid multibulk length (not a number)"),
            (b"*1\rx", b"expected \\r\\n after a length"),
            (b"*1\r\n+PING\r\n", b"expected '$', got '+'"),
            (b"*2\r\n$4\r\nECHO\r\n:5\r\n", b"expected '$', got ':'"),
            (b"*1\r\n\n", b"expected '$', got '\\x0a'"),
            (b"*1\r\n$4\r\nPINGxx", b"expected \\r\\n after bulk data"),
            (b"*1\r\n$x\r\n", b"invalid bulk length (not a number)"),
            (b"*1\r\n$-1\r\n", b"invalid bulk length (not a number)"),
            (b"*1\r\n$04\r\nPING\r\n", b"invalid bulk length (leading zero)"),
            (b"*1\r\n$4\rX", b"expected \\r\\n after a length"),
            (b"*hello\r\n", b"invalid multibulk length (not a number)"),
        ]
        data, detail = rng.choice(errs)
        return mdl.protocol_error(data, detail, "resp/protocol-error")

    def flood(self, resp, size):
        """A PING, or an ECHO of about size bytes (fits --max-line)."""
        if self.rng.random() < 0.1:
            return self.model.resp([b"PING"], "resp/ping") if resp else self.model.text(b"PING", False, "text/ping")
        arg = rbytes(self.rng, size - self.rng.randrange(0, 8), exclude_crlf=True)
        if resp:
            return self.model.resp([b"ECHO", arg], "resp/flood")
        return self.model.text(b"ECHO " + arg[:-5], False, "text/flood")

    def junk(self):
        """Bytes sent after a terminal request: nothing may answer them."""
        rng = self.rng
        parts = []
        for _ in range(rng.randrange(0, 4)):
            r = rng.random()
            if r < 0.4:
                parts.append(b"PING\n")
            elif r < 0.7:
                parts.append(b"*1\r\n$4\r\nPING\r\n")
            elif r < 0.85:
                parts.append(b"SLEEP 5\n")
            else:
                parts.append(rbytes(rng, rng.randrange(1, 2048)))
        return b"".join(parts)

    def partial(self, resp):
        """A strict prefix of a valid request: never answered at EOF."""
        rng = self.rng
        if resp:
            full = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n"
        else:
            full = b"ECHO hello\r\n"
        return full[:rng.randrange(1, len(full) - 1)]


# --------------------------------------------------------------------------
# A client's plan: what it will do, decided up front from its own seed.

class Plan:
    pass


# Replies a flooding client leaves unread for a while: past what loopback's
# socket buffers absorb (several MiB) and the server's 1 MiB output limit.
FLOOD_BYTES = 12 << 20


def make_flood_plan(rng, gen, m):
    """Stop reading, pipeline 2.5 MiB worth of big ECHOs, then read it all:
    the server must stop reading at its output limit and resume."""
    p = Plan()
    p.framing = rng.choice(["text", "resp", "mixed"])
    p.depth_mode, p.chunk, p.pause_p, p.stop_reading, p.p_wait = "flood", "large", 0.0, True, 0.0
    p.inline_only = True  # ECHO and PING only: never paused at --max-inflight
    p.end = rng.choice(["close", "half_close"])
    p.rcvbuf = rng.choice([4096, 16384, None])
    size = max(1, m.max_line - 16)
    steps = [("stopread", rng.randrange(300, 1500))]
    for _ in range(min(12000, FLOOD_BYTES // size + 1)):
        resp = p.framing == "resp" or (p.framing == "mixed" and rng.random() < 0.5)
        steps.append(("req", gen.flood(resp, size)))
    steps.append(("end", p.end))
    p.steps = steps
    return p


def make_plan(rng, gen, m, opts, busy_at_shutdown=False):
    if not busy_at_shutdown and rng.random() < 0.04:
        return make_flood_plan(rng, gen, m)
    p = Plan()
    p.inline_only = False
    p.framing = rng.choices(["text", "resp", "mixed"], weights=[35, 35, 30])[0]
    nreq = rng.choice([1, 2, 4, 8, 16, 40, 100, 250])
    nreq = rng.randrange(1, nreq + 1)
    if busy_at_shutdown:
        nreq = rng.randrange(50, 300)  # still going when SIGTERM comes
    deep_max = 3 * m.max_inflight + 8
    p.depth_mode = rng.choices(["lockstep", "shallow", "inflight", "deep"], weights=[2, 3, 3, 3])[0]
    depth = {"lockstep": 1, "shallow": rng.randrange(2, 5), "inflight": max(1, m.max_inflight),
             "deep": rng.randrange(m.max_inflight + 1, deep_max + 1)}[p.depth_mode]
    p.chunk = rng.choices(["tiny", "small", "medium", "large"], weights=[1, 3, 4, 3])[0]
    p.pause_p = rng.choice([0.0, 0.0, 0.05, 0.3])
    p.stop_reading = rng.random() < 0.2
    # A small receive buffer makes the server's own output limit matter.
    p.rcvbuf = rng.choice([4096, 65536]) if p.stop_reading and rng.random() < 0.5 else None
    p.p_wait = rng.choice([0.1, 0.5, 0.9])
    p.end = rng.choices(["close", "half_close", "half_close_partial", "quit", "framing", "reset"],
                        weights=[25, 20, 5, 15, 15, 20])[0]
    steps = []
    i = 0
    cut = False  # a request the server closes after (an overlong one)
    while i < nreq and not cut:
        k = min(rng.randrange(1, depth + 1), nreq - i)
        for _ in range(k):
            resp = p.framing == "resp" or (p.framing == "mixed" and rng.random() < 0.5)
            req = gen.request(resp)
            steps.append(("req", req))
            if req.terminal:
                cut = True
                break
        i += k
        if p.stop_reading and rng.random() < 0.25:
            steps.append(("stopread", rng.randrange(100, int(opts.max_stopread_ms) + 1)))
        if rng.random() < p.p_wait:
            steps.append(("wait",))
        if rng.random() < 0.1:
            steps.append(("think", rng.randrange(1, 60)))
    if p.stop_reading and not any(s[0] == "stopread" for s in steps):
        steps.insert(rng.randrange(0, len(steps) + 1),
                     ("stopread", rng.randrange(100, int(opts.max_stopread_ms) + 1)))
    resp_end = p.framing == "resp" or (p.framing == "mixed" and rng.random() < 0.5)
    if cut:
        # Everything after it goes unanswered: the plan ends there.
        p.end = "framing"
        steps.append(("junk", gen.junk()))
        steps.append(("end", "after_terminal", rng.random() < 0.4))
    elif p.end in ("quit", "framing"):
        t = gen.terminal(resp_end)
        while (p.end == "quit") != (t.label.endswith("quit")):
            t = gen.terminal(resp_end)
        steps.append(("req", t))
        steps.append(("junk", gen.junk()))
        steps.append(("end", "after_terminal", rng.random() < 0.4))  # half-close after the junk?
    elif p.end == "half_close_partial":
        steps.append(("junk", gen.partial(resp_end)))
        steps.append(("end", "half_close"))
    elif p.end == "reset":
        # Somewhere in the middle, maybe with work outstanding.
        at = rng.randrange(0, len(steps) + 1)
        steps.insert(at, ("end", "reset", rng.randrange(0, 300)))
    else:
        steps.append(("end", p.end))
    p.steps = steps
    return p


# --------------------------------------------------------------------------
# Failures.

class Failure(Exception):
    def __init__(self, what, **kw):
        super().__init__(what)
        self.what = what
        self.kw = kw


class StopFuzz(Exception):
    pass


# --------------------------------------------------------------------------
# One connection.

CHUNKS = {"tiny": (1, 8), "small": (1, 64), "medium": (1, 4096), "large": (1, 256 * 1024)}


class Client:
    def __init__(self, fz, cid, shutdown_phase=False):
        self.fz = fz
        self.cid = cid
        self.rng = random.Random("%d:%d" % (fz.seed, cid))
        self.gen = Gen(self.rng, fz.model, fz.m, fz.opts, long_sleeps=shutdown_phase)
        self.plan = make_plan(self.rng, self.gen, fz.m, fz.opts, busy_at_shutdown=shutdown_phase)
        self.step = 0
        self.shutdown_phase = shutdown_phase
        self.sock = None
        self.sendbuf = bytearray()
        self.send_off = 0            # bytes of sendbuf already sent
        self.stream_sent = 0         # total bytes sent on the connection
        self.stream_queued = 0       # total bytes queued
        self.reqs = collections.deque()  # requests not answered yet, in order
        self.unsent_due = collections.deque()  # reqs whose last byte is not sent yet
        self.rbuf = bytearray()
        self.nreq = 0
        self.nreplies = 0
        self.reading = True
        self.read_resumed = 0.0
        self.send_pause_until = 0.0
        self.think_until = 0.0
        self.waiting = False         # a ("wait",) step: nothing more until all answered
        self.terminal_sent = False
        self.terminal_answered = False
        self.write_shut = False
        self.eof_expected = False
        self.end_action = None       # 'close' / 'half_close' once reached
        self.done = False
        self.outcome = None
        self.last_recv = 0.0
        self.last_send = 0.0
        self.blocked_since = None    # sendbuf non-empty and the socket full
        self.send_error = None       # why sending stopped early, if it did
        self.history = collections.deque(maxlen=6)
        self.sent_log = bytearray()
        self.recv_log = bytearray()
        self.events = 0
        self.cost_out = 0            # pool cost of our requests sent, not answered

    # -- description ---------------------------------------------------------
    def persona(self):
        p = self.plan
        return ("framing=%s depth=%s chunks=%s pause_p=%s stop_reading=%s rcvbuf=%s end=%s steps=%d" % (
            p.framing, p.depth_mode, p.chunk, p.pause_p, p.stop_reading, p.rcvbuf, p.end, len(p.steps)))

    # -- life ----------------------------------------------------------------
    def connect(self):
        s = socket.socket(socket.AF_INET6 if ":" in self.fz.host else socket.AF_INET,
                          socket.SOCK_STREAM)
        s.settimeout(10 * self.fz.opts.time_scale)
        if self.plan.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.plan.rcvbuf)
        try:
            s.connect((self.fz.host, self.fz.port))
        except OSError as e:
            s.close()
            raise Failure("cannot connect", got=str(e), client=self)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        now = time.monotonic()
        self.last_recv = self.last_send = self.read_resumed = now
        self.fz.sel.register(s, selectors.EVENT_READ, self)
        self.events = selectors.EVENT_READ
        self.advance(now)

    def close(self, outcome, rst=False):
        if self.done:
            return
        self.done = True
        self.outcome = outcome
        self.fz.outstanding_cost -= self.cost_out
        self.cost_out = 0
        if self.sock is not None:
            try:
                self.fz.sel.unregister(self.sock)
            except (KeyError, ValueError):
                pass
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
            self.sock = None

    def queue(self, data):
        self.sendbuf += data
        self.stream_queued += len(data)

    def enqueue_req(self, req):
        req.index = self.nreq
        self.nreq += 1
        self.queue(req.data)
        req.end_off = self.stream_queued
        self.reqs.append(req)
        self.unsent_due.append(req)
        if req.terminal:
            self.terminal_sent = True
            self.eof_expected = True

    def window(self):
        if 1 in self.fz.opts.skip_known and not self.plan.inline_only:
            # Known defect 1 strands a pipeline deeper than --max-inflight:
            # never have more than that outstanding.
            return self.fz.m.max_inflight
        return None

    def advance(self, now):
        """Runs plan steps as far as they can go now."""
        steps = self.plan.steps
        while not self.done and self.step < len(steps):
            if now < self.think_until:
                return
            if self.waiting:
                if self.reqs or self.send_off < len(self.sendbuf):
                    return
                self.waiting = False
            if self.fz.draining and steps[self.step][0] in ("req", "stopread", "think", "wait"):
                # Wind down: skip to the end action (a terminal req counts as one).
                st = steps[self.step]
                if not (st[0] == "req" and st[1].terminal):
                    self.step += 1
                    continue
            st = steps[self.step]
            kind = st[0]
            if kind == "req":
                w = self.window()
                if w is not None and len(self.reqs) >= w:
                    return
                self.enqueue_req(st[1])
                self.step += 1
            elif kind == "wait":
                self.waiting = True
                self.step += 1
            elif kind == "think":
                self.think_until = now + st[1] / 1000.0
                self.fz.add_timer(self.think_until, self)
                self.step += 1
            elif kind == "stopread":
                if self.reading and not self.fz.sigterm_sent:
                    self.reading = False
                    self.fz.add_timer(now + st[1] / 1000.0 * self.fz.opts.time_scale, self, "resume")
                self.step += 1
            elif kind == "junk":
                self.queue(st[1])
                self.step += 1
            elif kind == "end":
                self.step += 1
                what = st[1]
                if what == "reset":
                    delay = st[2] / 1000.0
                    self.fz.add_timer(now + delay, self, "reset")
                    self.end_action = "reset"
                elif what == "after_terminal":
                    self.end_action = "half_close" if st[2] else "wait_eof"
                else:
                    self.end_action = what
                    if what == "half_close":
                        self.eof_expected = True
            else:
                raise AssertionError(kind)
        self.maybe_finish(now)

    def maybe_finish(self, now):
        if self.done or self.step < len(self.plan.steps):
            return
        all_sent = self.send_off >= len(self.sendbuf)
        if self.end_action == "close":
            if not self.reqs and all_sent:
                self.close("closed after all replies")
        elif self.end_action == "half_close":
            if all_sent and not self.write_shut:
                self.shut_write()

    def shut_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.write_shut = True

    def on_timer(self, now, what):
        if self.done:
            return
        if what == "resume":
            self.reading = True
            self.read_resumed = now
        elif what == "reset":
            self.fz.stats["resets"] += 1
            self.close("reset by the client", rst=True)
            return
        self.advance(now)

    def wanted_events(self, now):
        ev = 0
        if self.reading:
            ev |= selectors.EVENT_READ
        if (self.send_off < len(self.sendbuf) and not self.write_shut and
                now >= self.send_pause_until):
            ev |= selectors.EVENT_WRITE
        return ev

    # -- sending -------------------------------------------------------------
    def on_writable(self, now):
        lo, hi = CHUNKS[self.plan.chunk]
        n = self.rng.randint(lo, hi)
        if hi < 4096 and len(self.sendbuf) - self.send_off > 4096:
            n = self.rng.randint(1, 4096)  # keep big requests from taking forever
        chunk = memoryview(self.sendbuf)[self.send_off:self.send_off + n]
        try:
            k = self.sock.send(chunk)
        except BlockingIOError:
            k = 0
        except (BrokenPipeError, ConnectionResetError) as e:
            chunk.release()
            self.send_failed(now, e)
            return
        chunk.release()
        if k == 0:
            if self.blocked_since is None:
                self.blocked_since = now
            return
        if len(self.sent_log) < self.fz.opts.log_cap:
            self.sent_log += self.sendbuf[self.send_off:self.send_off + k]
        self.send_off += k
        self.stream_sent += k
        self.last_send = now
        self.blocked_since = None if k == n or self.send_off >= len(self.sendbuf) else now
        while self.unsent_due and self.unsent_due[0].end_off <= self.stream_sent:
            r = self.unsent_due.popleft()
            r.sent_at = now
            r.depth = len(self.reqs) - len(self.unsent_due)  # sent, unanswered, r included
            if r.pool:
                self.cost_out += r.cost_ms
                self.fz.outstanding_cost += r.cost_ms
        if self.send_off >= len(self.sendbuf):
            self.sendbuf = bytearray()
            self.send_off = 0
            self.blocked_since = None
        elif self.send_off > 1 << 20:
            del self.sendbuf[:self.send_off]
            self.send_off = 0
        if self.plan.pause_p and self.rng.random() < self.plan.pause_p and not self.fz.draining:
            self.send_pause_until = now + self.rng.randrange(1, 30) / 1000.0
            self.fz.add_timer(self.send_pause_until, self)
        self.advance(now)

    def send_failed(self, now, e):
        """The server closed or reset the connection while we were sending.
        That is no failure by itself: after QUIT or a framing error its
        lingering close may give up on a slow sender (Linux keeps the replies
        already received readable after a reset). Stop sending; what the
        reads bring (every expected reply, then EOF or a reset) decides."""
        self.send_error = e.__class__.__name__
        self.sendbuf = bytearray()
        self.send_off = 0
        self.write_shut = True
        self.blocked_since = None

    # -- receiving -----------------------------------------------------------
    def on_readable(self, now):
        try:
            data = self.sock.recv(256 * 1024)
        except BlockingIOError:
            return
        except ConnectionResetError:
            self.on_reset(now)
            return
        if not data:
            self.on_eof(now)
            return
        self.last_recv = now
        if len(self.recv_log) < self.fz.opts.log_cap:
            self.recv_log += data
        self.rbuf += data
        self.consume(now)

    def consume(self, now):
        pos = 0
        buf = self.rbuf
        while pos < len(buf):
            if not self.reqs:
                what = ("extra reply after the connection's last request (%s)" % (
                    "after QUIT / a framing error" if self.terminal_answered else "nothing outstanding"))
                last = self.history[-1][0] if self.history else None
                raise Failure(what, client=self, got=bytes(buf[pos:pos + 512]),
                              extra=("the last request answered: #%d %s" % (last.index, esc(last.data, 120))
                                     if last else "no request was answered before"))
            req = self.reqs[0]
            try:
                if req.resp:
                    end = resp_unit_end(buf, pos)
                else:
                    nl = buf.find(b"\n", pos)
                    end = None if nl < 0 else nl + 1
            except BadReply as e:
                raise Failure("wrong reply: %s" % e, client=self, req=req, got=bytes(buf[pos:pos + 512]))
            maxlen = max([a.maxlen() for a in req.alts] + [0])
            if end is None:
                if len(buf) - pos > maxlen + 64:
                    raise Failure("wrong reply: longer than any expected reply", client=self, req=req,
                                  got=bytes(buf[pos:pos + 1024]))
                break
            unit = bytes(buf[pos:end])
            alt = self.match(req, unit)
            if alt is None:
                raise Failure("wrong reply", client=self, req=req, got=unit)
            pos = end
            self.reqs.popleft()
            if req.sent_at is None:
                # Answered before its last byte went out: only a framing error
                # may be (the server needs no more to know). Its bytes now go
                # nowhere; stop counting them as due.
                if not req.terminal:
                    raise Failure("reply before the request was complete (%d of its bytes not sent)" % (
                        req.end_off - self.stream_sent), client=self, req=req, got=unit)
                if req in self.unsent_due:
                    self.unsent_due.remove(req)
            elif req.pool:
                self.cost_out -= req.cost_ms
                self.fz.outstanding_cost -= req.cost_ms
            self.nreplies += 1
            self.history.append((req, unit))
            self.fz.count_reply(req, alt)
            if req.terminal:
                self.terminal_answered = True
        if pos:
            del buf[:pos]
        self.advance(now)

    def match(self, req, unit):
        alts = req.alts
        if self.shutdown_phase and self.fz.sigterm_sent and req.pool:
            alts = alts + [SHUTDOWN[req.resp]]
        for a in alts:
            if a.kind == "exact":
                if unit == a.data:
                    return a
            elif a.kind == "prefix":
                end = b"\r\n" if a.resp else b"\n"
                body = unit[:-len(end)]
                if (unit.startswith(a.data) and unit.endswith(end) and b"\r" not in body
                        and b"\n" not in body):
                    return a
            else:  # stats
                if a.resp:
                    m = re.fullmatch(rb"\$(\d+)\r\n(.*)\r\n", unit, re.S)
                    if not m or int(m.group(1)) != len(m.group(2)):
                        continue
                    body = m.group(2)
                else:
                    if not unit.startswith(b"result: ") or not unit.endswith(b"\n"):
                        continue
                    body = unit[8:-1]
                why = check_stats(body, self.fz.m, self.fz.known_config)
                if why is None:
                    return a
                raise Failure("wrong STATS reply: %s" % why, client=self, req=req, got=unit)
        return None

    def on_eof(self, now):
        if self.reqs:
            if self.shutdown_phase and self.fz.sigterm_sent:
                self.close("EOF at shutdown after %d replies" % self.nreplies)
                return
            head = self.reqs[0]
            hint = None
            if head.depth > self.fz.m.max_inflight:
                hint = ("consistent with known defect 1 (stranded requests, here dropped at the "
                        "client's half-close): this request went out pipelined %d deep, more than "
                        "--max-inflight %d" % (head.depth, self.fz.m.max_inflight))
            raise Failure("connection closed early: EOF with %d replies missing" % len(self.reqs),
                          client=self, req=head, hint=hint, extra=self.how_closed())
        if not self.eof_expected and not (self.shutdown_phase and self.fz.sigterm_sent):
            raise Failure("connection closed early: unexpected EOF (no QUIT, framing error or "
                          "half-close)", client=self)
        self.close("EOF as expected")

    def on_reset(self, now):
        if self.shutdown_phase and self.fz.sigterm_sent:
            self.close("reset at shutdown after %d replies" % self.nreplies)
            return
        if self.terminal_answered and not self.reqs:
            # Lingering close gave up on us (we were still sending junk).
            self.close("reset after the terminal reply")
            return
        raise Failure("connection reset by the server", client=self,
                      req=self.reqs[0] if self.reqs else None, extra=self.how_closed())

    def how_closed(self):
        if self.send_error:
            return "sending had failed before (%s) with %d bytes unsent" % (
                self.send_error, self.stream_queued - self.stream_sent)
        return "the client had half-closed" if self.write_shut else "the client had not half-closed"

    # -- deadlines -----------------------------------------------------------
    def check_stall(self, now, limit):
        if self.done or not self.reading or (self.shutdown_phase and self.fz.sigterm_sent):
            return
        since_read = max(self.last_recv, self.read_resumed)
        if self.reqs:
            head = self.reqs[0]
            if head.sent_at is not None:
                t0 = max(since_read, head.sent_at)
                if now - t0 > limit:
                    self.missing(now, head, t0, limit)
                return
        if self.eof_expected and not self.reqs and (self.write_shut or self.send_off >= len(self.sendbuf)):
            t0 = max(since_read, self.last_send)
            if now - t0 > limit:
                raise Failure("missing EOF: the server did not close within %.1f s" % limit, client=self)
        if (self.blocked_since is not None and not self.write_shut and now >= self.send_pause_until
                and now - max(self.blocked_since, since_read) > limit):
            raise Failure("the server stopped reading: nothing could be sent for %.1f s while no "
                          "reply was due" % limit, client=self,
                          req=self.reqs[0] if self.reqs else None)

    def missing(self, now, head, t0, limit):
        sent_unanswered = sum(1 for r in self.reqs if r.sent_at is not None)
        hint = None
        if head.depth > self.fz.m.max_inflight:
            hint = ("consistent with known defect 1: this request went out pipelined %d deep "
                    "(itself included), more than --max-inflight %d" % (head.depth, self.fz.m.max_inflight))
        raise Failure("missing reply: nothing within %.1f s" % limit, client=self, req=head, hint=hint,
                      extra="%d requests sent and not answered; %d answered before" % (
                          sent_unanswered, self.nreplies))


# --------------------------------------------------------------------------
# The server process.

SANITIZER_RE = re.compile(rb"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          rb"WARNING: ThreadSanitizer|ERROR: ThreadSanitizer|"
                          rb"==\d+== (?:Possible data race|Thread #\d+|Lock at)|"
                          rb"ERROR SUMMARY: [1-9]")
ERROR_LOG_RE = re.compile(rb"^\S+Z error ", re.M)


def set_pdeathsig():
    """The server dies with us, even if we are killed (Linux prctl)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Server:
    def __init__(self, argv, workdir, time_scale):
        self.argv = argv
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "server.stderr")
        self.time_scale = time_scale
        self.proc = None
        self.status = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, preexec_fn=set_pdeathsig, close_fds=True)
        deadline = time.monotonic() + 15 * self.time_scale
        pat = re.compile(rb"listening on (\S+):(\d+)")
        while True:
            with open(self.log_path, "rb") as f:
                m = pat.search(f.read())
            if m:
                host = m.group(1).decode()
                return host, int(m.group(2))
            if self.proc.poll() is not None:
                self.status = self.proc.returncode
                raise Failure("server exited at start-up with status %d" % self.status)
            if time.monotonic() > deadline:
                raise Failure("server printed no 'listening on' line within %.0f s" % (15 * self.time_scale))
            time.sleep(0.02)  # polling for the log line, with a deadline

    def alive(self):
        if self.proc is None:
            return False
        if self.status is None and self.proc.poll() is not None:
            self.status = self.proc.returncode
        return self.status is None

    def instrumented(self):
        """Runs under a sanitizer or valgrind (whose memory use says nothing)."""
        try:
            with open("/proc/%d/maps" % self.proc.pid) as f:
                maps = f.read()
        except OSError:
            return True
        return bool(re.search(r"lib[at]san|libubsan|vgpreload|valgrind", maps))

    def peak_rss_kib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def terminate(self, limit):
        """SIGTERM; returns (status, seconds) or (None, seconds) on timeout."""
        t0 = time.monotonic()
        if not self.alive():
            return self.status, 0.0
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.status = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - t0
        return self.status, time.monotonic() - t0

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            if self.status is None:
                self.status = self.proc.returncode
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def stderr(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""


# --------------------------------------------------------------------------
# The fuzzer.

def status_text(st):
    if st is None:
        return "still running"
    if st < 0:
        return "killed by signal %d (%s)" % (-st, signal.Signals(-st).name)
    return "exit status %d" % st


class Fuzzer:
    def __init__(self, opts, m, host, port, server):
        self.opts = opts
        self.m = m
        self.model = Model(m, opts)
        self.seed = opts.seed
        self.host, self.port = host, port
        self.server = server
        self.known_config = server is not None or opts.assume_config
        self.sel = selectors.DefaultSelector()
        self.clients = {}
        self.timers = []
        self.timer_seq = 0
        self.next_cid = 0
        self.draining = False
        self.sigterm_sent = False
        self.outstanding_cost = 0
        self.failures = []
        self.stats = collections.Counter()
        self.only = opts.only_clients

    # -- bookkeeping ---------------------------------------------------------
    def add_timer(self, when, client, what="wake"):
        self.timer_seq += 1
        heapq.heappush(self.timers, (when, self.timer_seq, client, what))

    def count_reply(self, req, alt):
        self.stats["replies"] += 1
        self.stats["reply_" + alt.tag] += 1

    def stall_limit(self):
        m, o = self.m, self.opts
        max_task = o.max_sleep_ms if not m.task_timeout_ms else m.task_timeout_ms + 20
        cap = (m.queue_capacity + m.max_workers) * max(max_task, 50)
        backlog = min(max(self.outstanding_cost, 0), cap) / max(1, m.min_workers)
        return o.time_scale * (o.slack + max_task / 1000.0 + backlog / 1000.0)

    def new_client(self, shutdown_phase=False):
        if self.only is not None:
            if not self.only:
                return None
            cid = self.only.pop(0)
        else:
            cid = self.next_cid
            self.next_cid += 1
        c = Client(self, cid, shutdown_phase)
        self.clients[cid] = c
        self.stats["connections"] += 1
        self.stats["plan_end_" + c.plan.end] += 1
        c.connect()
        return c

    # -- the loop ------------------------------------------------------------
    def step(self, timeout):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, c, what = heapq.heappop(self.timers)
            if not c.done:
                self.guard(c, c.on_timer, now, what)
        for c in list(self.clients.values()):
            if c.done:
                continue
            ev = c.wanted_events(now)
            if ev != c.events:
                if ev:
                    if c.events:
                        self.sel.modify(c.sock, ev, c)
                    else:
                        self.sel.register(c.sock, ev, c)
                else:
                    self.sel.unregister(c.sock)
                c.events = ev
        if self.timers:
            timeout = max(0.0, min(timeout, self.timers[0][0] - now))
        for key, mask in self.sel.select(timeout):
            c = key.data
            now = time.monotonic()
            if c.done:
                continue
            if mask & selectors.EVENT_WRITE:
                self.guard(c, c.on_writable, now)
            if not c.done and mask & selectors.EVENT_READ:
                self.guard(c, c.on_readable, now)
        now = time.monotonic()
        limit = self.stall_limit()
        for c in list(self.clients.values()):
            if not c.done:
                self.guard(c, c.check_stall, now, limit)
        for cid in [cid for cid, c in self.clients.items() if c.done]:
            del self.clients[cid]
        if self.server is not None and not self.server.alive():
            raise Failure("the server died: %s" % status_text(self.server.status))

    def guard(self, c, fn, *args):
        try:
            fn(*args)
        except Failure as f:
            f.kw.setdefault("client", c)
            self.record(f)
            c.close("failed", rst=True)
            if not self.opts.keep_going:
                raise StopFuzz()

    def record(self, f):
        self.failures.append(f)
        self.report(f)

    def report(self, f):
        kw = f.kw
        c = kw.get("client")
        out = ["", "FAILURE #%d: %s" % (len(self.failures), f.what),
               "  seed %d, %.1f s into the run" % (self.seed, time.monotonic() - self.t_start)]
        if c is not None:
            out.append("  client #%d (%s)%s" % (c.cid, c.persona(),
                                                 " [shutdown phase]" if c.shutdown_phase else ""))
            out.append("  connection: %d requests queued, %d replies checked, %d bytes sent of %d" % (
                c.nreq, c.nreplies, c.stream_sent, c.stream_queued))
        req = kw.get("req")
        if req is not None:
            out.append("  request #%d (%s, %s framing): %s" % (
                req.index, req.label, "RESP" if req.resp else "text", esc(req.data)))
            out.append("  expected: " + " | ".join(a.describe() for a in req.alts))
        if "got" in kw:
            got = kw["got"]
            out.append("  got: " + (esc(got, 400) if isinstance(got, (bytes, bytearray)) else str(got)))
        if kw.get("extra"):
            out.append("  " + kw["extra"])
        if kw.get("repro"):
            out.append("  reproduction: " + kw["repro"])
        hint = kw.get("hint") or self.classify(f)
        if hint:
            out.append("  note: " + hint)
        if c is not None and c.history:
            out.append("  last replies on this connection:")
            for r, unit in list(c.history)[-4:]:
                out.append("    #%d %s -> %s" % (r.index, esc(r.data, 80), esc(unit, 80)))
        if c is not None:
            out.append("  reproduce: %s" % self.repro_cmd(c))
        print("\n".join(out), flush=True)
        if c is not None and self.opts.artifacts:
            base = os.path.join(self.opts.artifacts, "client-%d" % c.cid)
            with open(base + ".sent", "wb") as fp:
                fp.write(c.sent_log)
            with open(base + ".recv", "wb") as fp:
                fp.write(c.recv_log)
            print("  bytes sent/received: %s.sent / .recv" % base, flush=True)

    def classify(self, f):
        req = f.kw.get("req")
        if req is not None and req.label == "text/cr":
            return "known defect 2: " + KNOWN_DEFECTS[2]
        return None

    def repro_cmd(self, c):
        o = self.opts
        parts = ["python3", "tests/netfuzz/netfuzz.py"]
        parts += ["--server", o.server] if o.server else ["--port", str(o.port)]
        parts += ["--profile", o.profile, "--seed", str(self.seed)]
        if o.skip_known:
            parts += ["--skip-known", ",".join(str(d) for d in sorted(o.skip_known))]
        parts += ["--only-clients", str(c.cid)]
        extra = " --duration %s" % o.duration
        return " ".join(shlex.quote(p) for p in parts) + extra + \
            "   (client #%d's script depends only on the seed and its number)" % c.cid

    # -- phases --------------------------------------------------------------
    def run(self):
        self.t_start = time.monotonic()
        o = self.opts
        end = self.t_start + o.duration
        last_progress_print = self.t_start
        # Main phase: keep --clients connections busy until the duration ends.
        while time.monotonic() < end:
            live = sum(1 for c in self.clients.values() if not c.done)
            while live < o.clients and (self.only is None or self.only):
                if self.new_client() is None:
                    break
                live += 1
            if self.only is not None and not self.only and not self.clients:
                break
            self.step(0.05)
            now = time.monotonic()
            if o.progress and now - last_progress_print >= o.progress:
                last_progress_print = now
                print("netfuzz: %4.0f s  %d connections  %d replies  (%d busy, %d timeout)" % (
                    now - self.t_start, self.stats["connections"], self.stats["replies"],
                    self.stats["reply_busy"], self.stats["reply_timeout"]), flush=True)
        # Drain: no new connections, clients skip to their end.
        self.draining = True
        t_drain = time.monotonic()
        for c in list(self.clients.values()):
            self.guard(c, c.advance, time.monotonic())
        drain_deadline = time.monotonic() + 120 * o.time_scale
        while self.clients:
            self.step(0.05)
            if time.monotonic() > drain_deadline:
                for c in list(self.clients.values()):
                    self.record(Failure("the connection did not finish while draining", client=c,
                                        req=c.reqs[0] if c.reqs else None))
                    c.close("failed", rst=True)
                if not o.keep_going:
                    raise StopFuzz()
        print("netfuzz: fuzzed %.1f s, drained in %.1f s: %d connections, %d replies" % (
            t_drain - self.t_start, time.monotonic() - t_drain, self.stats["connections"],
            self.stats["replies"]), flush=True)

    # -- end-of-run probes (synchronous, one connection at a time) ----------
    def probe_conn(self):
        s = socket.create_connection((self.host, self.port), timeout=10 * self.opts.time_scale)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stats_now(self, s):
        s.sendall(b"STATS\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(4096)
            if not d:
                raise Failure("probe: STATS connection closed")
            buf += d
        if not buf.startswith(b"result: "):
            raise Failure("probe: bad STATS reply", got=buf)
        why = check_stats(buf[8:-1], self.m, self.known_config)
        if why:
            raise Failure("probe: wrong STATS reply: %s" % why, got=buf)
        return parse_stats(buf, False)

    def probe_baseline(self):
        """After every client is gone: one connection (ours), nothing in flight."""
        s = self.probe_conn()
        try:
            limit = self.opts.time_scale * (2.5 + self.opts.slack)  # lingering closes last 2 s
            deadline = time.monotonic() + limit
            while True:
                v = self.stats_now(s)
                if v["connections"] == 1 and v["in_flight"] == 0:
                    self.final_stats = v
                    return
                if time.monotonic() > deadline:
                    raise Failure("after all clients left, STATS still shows connections=%d "
                                  "in_flight=%d after %.1f s (expected 1 and 0)" % (
                                      v["connections"], v["in_flight"], limit))
                time.sleep(0.05)  # polling STATS, with a deadline
        finally:
            s.close()

    def probe_paused_reset(self):
        """Known defect 3: a connection paused at --max-inflight that is reset
        must be closed promptly, not when its work ends."""
        m = self.m
        if m.task_timeout_ms and m.task_timeout_ms < 5000:
            return "skipped (a task timeout below 5 s would end the work as soon)"
        if self.opts.time_scale > 2:
            return "skipped (deadlines scaled by %g: a 3 s SLEEP would not tell)" % self.opts.time_scale
        sleep_ms = 3000
        a = self.probe_conn()
        b = self.probe_conn()
        try:
            # One long SLEEP, then PINGs queued behind it until --max-inflight
            # is reached and the server stops reading; all in one write.
            a.sendall(b"SLEEP %d\n" % sleep_ms + b"PING\n" * (m.max_inflight + 4))
            deadline = time.monotonic() + 5 * self.opts.time_scale
            while self.stats_now(b)["in_flight"] < 1:
                if time.monotonic() > deadline:
                    return "skipped (the SLEEP never got into the pool)"
                time.sleep(0.01)  # polling STATS, with a deadline
            t0 = time.monotonic()
            a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            a.close()
            a = None
            limit = 1.0 * self.opts.time_scale
            while True:
                v = self.stats_now(b)
                if v["connections"] == 1:
                    break
                if time.monotonic() - t0 > limit:
                    raise Failure("a reset connection paused at --max-inflight was not closed within "
                                  "%.1f s (connections=%d; its SLEEP %d is still running)" % (
                                      limit, v["connections"], sleep_ms),
                                  hint="known defect 3: " + KNOWN_DEFECTS[3],
                                  repro="printf 'SLEEP %d\\n' + %d x 'PING\\n' in one write, then "
                                        "SO_LINGER 0 close; STATS on another connection" % (
                                            sleep_ms, m.max_inflight + 4))
                time.sleep(0.02)  # polling STATS, with a deadline
            # Let the orphaned SLEEP finish so shutdown is not held by it.
            deadline = time.monotonic() + (sleep_ms / 1000.0 + 5) * self.opts.time_scale
            while self.stats_now(b)["in_flight"] and time.monotonic() < deadline:
                time.sleep(0.05)  # polling STATS, with a deadline
            return "passed"
        finally:
            if a is not None:
                a.close()
            b.close()

    def shutdown_under_load(self):
        """Clients mid-pipeline at SIGTERM: each must get a correct prefix of
        its replies (pool commands may be 'shutting down'), then EOF; the
        server must exit 0 within the limit."""
        o = self.opts
        self.draining = False
        cs = [self.new_client(shutdown_phase=True) for _ in range(o.shutdown_clients)]
        cs = [c for c in cs if c is not None]
        t_end = time.monotonic() + 0.5 * o.time_scale
        while time.monotonic() < t_end:
            self.step(0.02)
        self.sigterm_sent = True
        t0 = time.monotonic()
        self.server.proc.send_signal(signal.SIGTERM)
        exit_deadline = t0 + o.exit_limit
        while time.monotonic() < exit_deadline:
            try:
                self.step(0.02)
            except Failure as f:
                if not f.what.startswith("the server died"):
                    raise
                break  # it exited: checked below
            if self.server.status is not None:
                break
        st, secs = self.server.terminate(max(0.0, exit_deadline - time.monotonic()))
        secs = time.monotonic() - t0
        # Whatever is still buffered on the client sockets is read now.
        for c in list(self.clients.values()):
            if not c.done:
                try:
                    c.sock.setblocking(True)
                    c.sock.settimeout(0.5)
                    while not c.done:
                        c.on_readable(time.monotonic())
                except (socket.timeout, OSError):
                    pass
                except Failure as f:
                    f.kw.setdefault("client", c)
                    self.record(f)
                c.close("shutdown over")
        self.clients.clear()
        return st, secs


# --------------------------------------------------------------------------
# main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    tgt = ap.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--server", help="path of pool_server to start (on a free port)")
    tgt.add_argument("--port", type=int, help="attach to a server already listening on this port")
    ap.add_argument("--host", default="127.0.0.1", help="with --port (default 127.0.0.1)")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="small",
                    help="server flags: small = %s; default = none" % " ".join(PROFILES["small"]))
    ap.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                    help="one more server flag (repeat; e.g. --server-arg=--resp-inline)")
    ap.add_argument("--wrapper", default="", help="command line to run the server under (e.g. valgrind)")
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock (printed)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of fuzzing (default 20)")
    ap.add_argument("--clients", type=int, default=12, help="concurrent connections (default 12)")
    ap.add_argument("--shutdown-clients", type=int, default=6,
                    help="connections busy when SIGTERM comes (default 6; 0: plain SIGTERM at the end)")
    ap.add_argument("--exit-limit", type=float, default=None,
                    help="seconds the server may take to exit after SIGTERM (default 2 x time-scale)")
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="multiplies every deadline (e.g. 20 under valgrind)")
    ap.add_argument("--slack", type=float, default=3.0,
                    help="seconds added to the longest task for a reply deadline (default 3)")
    ap.add_argument("--max-sleep-ms", type=int, default=200,
                    help="longest SLEEP without a task timeout (default 200)")
    ap.add_argument("--max-stopread-ms", type=int, default=1500,
                    help="longest time a client stops reading (default 1500)")
    ap.add_argument("--skip-known", default="",
                    help="avoid known defects: a comma list of 1,2,3 or 'all' (see --list-known)")
    ap.add_argument("--list-known", action="store_true", help="print the known defects and exit")
    ap.add_argument("--only-clients", default=None,
                    help="run only these client numbers (comma list), to replay a failure")
    ap.add_argument("--keep-going", action="store_true",
                    help="report every failure, not only the first (failed clients are reset)")
    ap.add_argument("--loose-details", action="store_true",
                    help="check only the prefix of invalid-input and protocol-error replies")
    ap.add_argument("--assume-config", action="store_true",
                    help="with --port: the server runs exactly the profile's flags (checks STATS config)")
    ap.add_argument("--artifacts", default=None,
                    help="directory for the server's stderr and failing clients' bytes "
                         "(default $TEST_UNDECLARED_OUTPUTS_DIR, else a temporary one kept on failure)")
    ap.add_argument("--progress", type=float, default=0.0, help="print a progress line every N s")
    ap.add_argument("--max-rss-mb", type=float, default=None,
                    help="fail if the server's peak RSS exceeds this; 0: report only (default: 256, "
                         "or 0 for a server under a sanitizer or valgrind)")
    ap.add_argument("--log-cap", type=int, default=4 << 20,
                    help="bytes of each connection's traffic kept for failure reports")
    o = ap.parse_args(argv)
    if o.list_known:
        for k, v in sorted(KNOWN_DEFECTS.items()):
            print("%d: %s" % (k, v))
        sys.exit(0)
    if o.skip_known == "all":
        o.skip_known = {1, 2, 3}
    else:
        try:
            o.skip_known = {int(x) for x in o.skip_known.split(",") if x.strip()}
        except ValueError:
            ap.error("--skip-known: a comma list of 1,2,3 or 'all'")
        if not o.skip_known <= {1, 2, 3}:
            ap.error("--skip-known: known defects are 1, 2 and 3")
    if o.only_clients is not None:
        try:
            o.only_clients = [int(x) for x in o.only_clients.split(",")]
        except ValueError:
            ap.error("--only-clients: a comma list of numbers")
    if o.clients < 1 or o.duration < 0 or o.time_scale <= 0:
        ap.error("--clients >= 1, --duration >= 0, --time-scale > 0")
    if o.seed is None:
        o.seed = int.from_bytes(os.urandom(4), "little")
    if o.exit_limit is None:
        o.exit_limit = 2.0 * o.time_scale
    return o


class Interrupted(BaseException):
    pass


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def main(argv):
    global PRIMES
    o = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    flags = PROFILES[o.profile] + o.server_arg
    m = ServerModel.from_flags(flags)
    print("netfuzz: seed %d" % o.seed, flush=True)
    print("netfuzz: profile %s (%s), %s; %.0f s, %d clients; skipping known defects: %s" % (
        o.profile, " ".join(flags) or "no flags", m.describe(), o.duration, o.clients,
        ",".join(str(d) for d in sorted(o.skip_known)) or "none"), flush=True)
    PRIMES = Primes()

    keep_dir = False
    artifacts = o.artifacts or os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
    own_tmp = artifacts is None
    if own_tmp:
        artifacts = tempfile.mkdtemp(prefix="netfuzz-")
    os.makedirs(artifacts, exist_ok=True)
    o.artifacts = artifacts

    server = None
    failed = False
    fz = None
    try:
        if o.server:
            argv_s = shlex.split(o.wrapper) + [o.server, "--port", "0"] + flags
            print("netfuzz: starting %s" % " ".join(shlex.quote(a) for a in argv_s), flush=True)
            server = Server(argv_s, artifacts, o.time_scale)
            try:
                host, port = server.start()
            except Failure as f:
                print("FAILURE: %s\n%s" % (f.what, server.stderr().decode(errors="replace")[-4000:]))
                failed = True
                return 1
            if o.max_rss_mb is None:
                o.max_rss_mb = 0.0 if o.wrapper or server.instrumented() else 256.0
        else:
            host, port = o.host, o.port
        fz = Fuzzer(o, m, host, port, server)
        fz.t_start = time.monotonic()
        try:
            fz.run()
            if server is not None or o.assume_config:
                try:
                    fz.probe_baseline()
                except Failure as f:
                    fz.record(f)
                    raise StopFuzz()
            d3 = "skipped (defect 3 excluded)" if 3 in o.skip_known else None
            if d3 is None:
                if server is None and not o.assume_config:
                    d3 = "skipped (attached)"
                else:
                    try:
                        d3 = fz.probe_paused_reset()
                    except Failure as f:
                        fz.record(f)
                        d3 = "FAILED"
                        if not o.keep_going:
                            raise StopFuzz()
            print("netfuzz: probe reset-while-paused: %s" % d3, flush=True)
            rss = server.peak_rss_kib() if server is not None else None
            if server is not None:
                st, secs = fz.shutdown_under_load()
                print("netfuzz: SIGTERM with %d busy connections: %s after %.2f s" % (
                    o.shutdown_clients, status_text(st), secs), flush=True)
                if st is None:
                    fz.record(Failure("the server did not exit within %.1f s of SIGTERM" % o.exit_limit))
                elif st != 0:
                    fz.record(Failure("the server exited with %s after SIGTERM (want exit status 0)" %
                                      status_text(st)))
                if rss is not None:
                    print("netfuzz: server peak RSS %.1f MiB (%s)" % (
                        rss / 1024.0, "limit %g MiB" % o.max_rss_mb if o.max_rss_mb else "no limit"),
                        flush=True)
                    if o.max_rss_mb and rss / 1024.0 > o.max_rss_mb:
                        fz.record(Failure("server peak RSS %.1f MiB above --max-rss-mb %.1f" % (
                            rss / 1024.0, o.max_rss_mb)))
        except StopFuzz:
            pass
        except Failure as f:  # the server died, a probe could not connect...
            fz.record(f)
        if server is not None:
            server.kill()
            err = server.stderr()
            for pat, what in ((SANITIZER_RE, "a sanitizer/valgrind report"),
                              (ERROR_LOG_RE, "an error-level log record")):
                mt = pat.search(err)
                if mt:
                    line_start = err.rfind(b"\n", 0, mt.start()) + 1
                    fz.record(Failure("the server's stderr has %s" % what,
                                      got=err[line_start:line_start + 2000]))
        failed = bool(fz.failures)
        st = fz.stats
        print("netfuzz: %s seed %d profile %s: %.0f s, %d connections, %d replies checked "
              "(%d ok, %d invalid, %d busy, %d timeout, %d shutdown, %d too-long, %d protocol), "
              "%d resets%s" % (
                  "FAIL" if failed else "PASS", o.seed, o.profile, time.monotonic() - fz.t_start,
                  st["connections"], st["replies"], st["reply_ok"], st["reply_invalid"],
                  st["reply_busy"], st["reply_timeout"], st["reply_shutdown"], st["reply_too_long"],
                  st["reply_protocol"], st["resets"],
                  (", %d failures" % len(fz.failures)) if failed else ""), flush=True)
        return 1 if failed else 0
    except Interrupted as e:
        print("netfuzz: interrupted (%s), seed %d" % (e, o.seed), flush=True)
        failed = True
        return 130
    finally:
        if fz is not None:
            for c in list(fz.clients.values()):
                c.close("teardown")
        if server is not None:
            server.kill()
            if failed:
                tail = server.stderr()[-3000:].decode(errors="replace")
                print("netfuzz: server stderr (last 3000 bytes; all of it in %s):\n%s" % (
                    server.log_path, tail), flush=True)
                keep_dir = True
        if own_tmp:
            if keep_dir or failed:
                print("netfuzz: kept %s" % artifacts, flush=True)
            else:
                shutil.rmtree(artifacts, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
