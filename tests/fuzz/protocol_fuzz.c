/* protocol_fuzz: a libFuzzer target for server/protocol (pr_parse, its
 * cursor, pr_quote and the reply formatters) and for what the server builds
 * on it, server/command's lookup and the loop commands' replies; also run
 * over its corpus by the replay test in every build configuration
 * (replay_main.c).
 *
 * Input layout: two control bytes, then the bytes one client sends on one
 * connection.
 *   byte 0  max_line: below 0xf0 the value itself (0..239, so the limits
 *           are hit); 0xf0 + d (d < 8): the stream's length - d -
 *           PR_FRAME_SLACK (or 0), so the stream just about fills a receive
 *           buffer and a change of its length moves where the limit falls;
 *           from 0xf8 one of kBigLines[] (65536, SIZE_MAX, ...).
 *   byte 1  how the stream is cut into reads: the low 3 bits pick the
 *           largest read (kMaxRead[]: 1, 2, 3, 5, 8, 16, 64, 4096 bytes);
 *           bit 3 clear: the receive buffer holds max_line + PR_FRAME_SLACK
 *           bytes, so a read stops when it is full (the buffer protocol.h's
 *           contract is about); set: it grows without bound (as net/conn's
 *           does); bit 6 set: the reads are parsed without a pr_cursor; the
 *           whole byte seeds the generator of read sizes.
 * Plain ASCII works: "@0PING\n" is max_line 64, one byte per read into a
 * bounded buffer, with a cursor, "PING\n"; '0'..'7' bounded, '8'..'?'
 * unbounded, '@'..'G' bounded without a cursor.
 *
 * What is checked (a failure prints "protocol_fuzz: FAIL: <what>" with the
 * bytes involved, then aborts, which libFuzzer reports as a crash):
 *  - One shot vs. incremental: the whole stream parsed in one buffer
 *    (without a cursor) gives the same requests (bytes used, resp, crlf,
 *    empty, the command word and every argument kept, by place and length,
 *    nargs, error text) and the same final outcome (needs more bytes with the
 *    same unparsed tail, or the same fatal error, framing and reason) as
 *    feeding it read by read the way a connection does: keep the unconsumed
 *    tail, append the read, parse until 0, with the connection's pr_cursor.
 *  - Every pr_parse call gets a heap copy of exactly len bytes, so ASan
 *    reports any read before buf or at buf[len] or beyond; the input is not
 *    written to.
 *  - pr_parse never returns 0 once len >= max_line + PR_FRAME_SLACK: on
 *    every call, and on buffers made exactly that full at each request's
 *    start, for max_line and for larger values whose limit falls further
 *    into the stream (check_full_buffers). A positive return is <= len and
 *    <= max_line + PR_FRAME_SLACK; a negative one is -E2BIG or -EPROTO
 *    (-EPROTO only for RESP, with a reason).
 *  - req->error is NUL-terminated printable ASCII, after every call.
 *  - A parsed request: resp is 1 exactly when it starts with '*'; RESP: ends
 *    in \r\n, every span kept is a bulk string's data, in order, inside the
 *    frame; text: one line up to its first \n, at most max_line bytes
 *    before its terminator, crlf exactly when it ends in \r\n, empty exactly
 *    when the line is, the command word up to the first space, the argument
 *    the rest after it.
 *  - The server's side (as session.c does it): cmd_lookup in the request's
 *    framing, and in RESP for a text line ending in \r\n (--resp-inline);
 *    its error message is printable; a loop command whose answer needs only
 *    its arguments (PING, ECHO and the courtesy commands) is answered.
 *  - Replies (pr_reply_ok/int/status/empty/error), written out as head +
 *    body + tail, pr_reply_len long: a text reply is one line, "result: " or
 *    "ERROR: " and no \r or \n before its final \n; a RESP reply is exactly
 *    one well-formed RESP2 value. Client bytes may appear raw only inside a
 *    RESP bulk string. Error details are cut at their first \r or \n, as
 *    protocol.h promises; pr_quote gives printable text.
 */
#include "server/protocol.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t kBigLines[8] = {
    256,
    65536,
    SIZE_MAX / 2,
    SIZE_MAX - PR_FRAME_SLACK - 1,
    SIZE_MAX - PR_FRAME_SLACK,
    SIZE_MAX - PR_FRAME_SLACK + 1,
    SIZE_MAX - 1,
    SIZE_MAX,
};
static const size_t kMaxRead[8] = {1, 2, 3, 5, 8, 16, 64, 4096};

/* ---- reporting ---------------------------------------------------------- */

/* The run being checked, for the failure message. */
struct run {
  const char *stream; /* the client's bytes */
  size_t len;
  size_t max_line;
  size_t max_read;
  int bounded;        /* the receive buffer is max_line + PR_FRAME_SLACK */
  int cursor;         /* the reads are parsed with a pr_cursor */
  const char *phase;  /* "one-shot", "incremental", "formatters" */
};

/* Details for the next failure message, printed after its first line. */
static char notes[4096];
static size_t notes_len;

__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vsnprintf(notes + notes_len, sizeof notes - notes_len, fmt, ap);
  va_end(ap);
  if (rc > 0)
    notes_len += (size_t)rc;
  if (notes_len >= sizeof notes)
    notes_len = sizeof notes - 1;
}

/* Notes p[0..n) C-escaped, at most 300 bytes of it. */
static void note_bytes(const char *what, const char *p, size_t n) {
  const size_t shown = n < 300 ? n : 300;
  note("  %s (%zu bytes): \"", what, n);
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\r')
      note("\\r");
    else if (c == '\n')
      note("\\n");
    else if (c == '"' || c == '\\')
      note("\\%c", c);
    else if (c >= 0x20 && c < 0x7f)
      note("%c", c);
    else
      note("\\x%02x", c);
  }
  note("\"%s\n", shown < n ? "..." : "");
}

/* Prints the broken rule, the notes, and the run, then aborts. */
__attribute__((format(printf, 2, 3))) _Noreturn static void fail(
    const struct run *run, const char *fmt, ...) {
  va_list ap;
  fputs("protocol_fuzz: FAIL: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr,
          "\n%s  during %s, max_line=%zu, reads of at most %zu bytes into %s "
          "buffer, %s\n", notes, run->phase, run->max_line, run->max_read,
          run->bounded ? "a bounded" : "an unbounded",
          run->cursor ? "with a cursor" : "without a cursor");
  notes_len = 0;
  note_bytes("stream", run->stream, run->len);
  fputs(notes, stderr);
  abort();
}

#define CHECK(run, cond, ...)    \
  do {                           \
    if (!(cond))                 \
      fail((run), __VA_ARGS__);  \
  } while (0)

/* ---- the one call into pr_parse ----------------------------------------
 * Everything calls pr_parse through stream_parse, with one struct stream
 * per simulated connection, which holds what a connection keeps for the
 * parser (its pr_cursor). pr_parse resets the cursor itself whenever it
 * returns non-zero; stream_consumed is where anything else a future
 * pr_parse needs after bytes were consumed would go. */
struct stream {
  size_t max_line;
  int use_cursor;
  struct pr_cursor cur;
};

static void stream_init(struct stream *st, size_t max_line, int use_cursor) {
  memset(st, 0, sizeof *st);
  st->max_line = max_line;
  st->use_cursor = use_cursor;
}

static long stream_parse(struct stream *st, const char *buf, size_t len,
                         struct pr_request *req) {
  return pr_parse(buf, len, st->max_line, st->use_cursor ? &st->cur : NULL,
                  req);
}

static void stream_consumed(struct stream *st, size_t n) {
  (void)st;
  (void)n;
}

/* ---- helpers ------------------------------------------------------------ */

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) {
    fputs("protocol_fuzz: out of memory\n", stderr);
    abort();
  }
  return p;
}

/* A heap block of exactly n bytes holding p[0..n): nothing before or after
 * it may be read without ASan noticing. */
static char *exact_copy(const char *p, size_t n) {
  char *q = xmalloc(n);
  if (n > 0)
    memcpy(q, p, n);
  return q;
}

static uint32_t next_random(uint32_t *s) { /* xorshift32; *s never 0 */
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static int printable(const char *s) {
  for (; *s != '\0'; s++)
    if (*s < 0x20 || *s >= 0x7f)
      return 0;
  return 1;
}

static size_t frame_limit(size_t max_line) {
  return max_line > SIZE_MAX - PR_FRAME_SLACK ? SIZE_MAX
                                              : max_line + PR_FRAME_SLACK;
}

/* ---- replies ------------------------------------------------------------ */

/* head + body + tail, as the connection writes them; free() it. */
static char *join(const struct run *run, const struct pr_reply *r,
                  size_t *out_len) {
  CHECK(run, r->head_len < sizeof r->head && r->tail_len < sizeof r->tail,
        "reply head_len %zu / tail_len %zu out of range", r->head_len,
        r->tail_len);
  CHECK(run, r->body_len == 0 || r->body != NULL, "reply body NULL, len %zu",
        r->body_len);
  size_t n = r->head_len + r->body_len + r->tail_len;
  CHECK(run, pr_reply_len(r) == n, "pr_reply_len %zu, the parts add up to %zu",
        pr_reply_len(r), n);
  char *s = xmalloc(n);
  memcpy(s, r->head, r->head_len);
  if (r->body_len > 0)
    memcpy(s + r->head_len, r->body, r->body_len);
  memcpy(s + r->head_len + r->body_len, r->tail, r->tail_len);
  *out_len = n;
  return s;
}

/* NULL if s[0..n) is one text reply line, else what is wrong. */
static const char *text_problem(const char *s, size_t n) {
  if (n == 0 || s[n - 1] != '\n')
    return "text reply does not end in \\n";
  if (memchr(s, '\n', n - 1) != NULL)
    return "text reply has a \\n before its end";
  if (memchr(s, '\r', n) != NULL)
    return "text reply carries a raw \\r";
  if (!(n >= 8 && memcmp(s, "result: ", 8) == 0) &&
      !(n >= 7 && memcmp(s, "ERROR: ", 7) == 0))
    return "text reply starts with neither \"result: \" nor \"ERROR: \"";
  return NULL;
}

/* NULL if s[0..n) is exactly one RESP2 value of the kinds the server sends
 * (simple string, error, integer, bulk string, empty array), else what is
 * wrong. */
static const char *resp_problem(const char *s, size_t n) {
  if (n < 3)
    return "RESP reply shorter than any value";
  if (s[0] == '*')
    return n == 4 && memcmp(s, "*0\r\n", 4) == 0
               ? NULL : "RESP array other than the empty one";
  if (s[0] == '+' || s[0] == '-' || s[0] == ':') {
    const char *cr = memchr(s, '\r', n), *lf = memchr(s, '\n', n);
    if (cr != s + n - 2 || lf != s + n - 1)
      return "RESP line reply has a \\r or \\n before its final \\r\\n";
    if (s[0] == ':') {
      size_t i = 1;
      if (s[i] == '-')
        i++;
      if (i == n - 2)
        return "RESP integer without digits";
      for (; i < n - 2; i++)
        if (s[i] < '0' || s[i] > '9')
          return "RESP integer with a non-digit";
    }
    return NULL;
  }
  if (s[0] != '$')
    return "RESP reply of an unknown type";
  size_t i = 1, blen = 0;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
    if (blen > (SIZE_MAX - 9) / 10)
      return "RESP bulk length overflows";
    blen = blen * 10 + (size_t)(s[i] - '0');
  }
  if (i == 1 || (s[1] == '0' && i > 2))
    return "RESP bulk length not a plain number";
  if (n - i < 2 || s[i] != '\r' || s[i + 1] != '\n')
    return "RESP bulk length not followed by \\r\\n";
  i += 2;
  if (n - i < blen || n - i - blen != 2)
    return "RESP bulk string's length does not match its data";
  if (s[i + blen] != '\r' || s[i + blen + 1] != '\n')
    return "RESP bulk string not followed by \\r\\n";
  return NULL;
}

/* Checks a reply's framing; returns it joined (free() it). */
static char *check_reply(const struct run *run, const struct pr_reply *r,
                         int resp, const char *what, size_t *out_len) {
  size_t n;
  char *s = join(run, r, &n);
  const char *problem = resp ? resp_problem(s, n) : text_problem(s, n);
  if (problem != NULL) {
    note_bytes("reply", s, n);
    fail(run, "%s (%s)", problem, what);
  }
  *out_len = n;
  return s;
}

/* A built reply that carries the value v: it must arrive intact, in its
 * framing. */
static void check_value(const struct run *run, const struct pr_reply *r,
                        int resp, const char *v, size_t vlen,
                        const char *what) {
  size_t n;
  char *s = check_reply(run, r, resp, what, &n);
  /* RESP: "$<len>\r\n" v "\r\n" (checked above but for v); text:
   * "result: " v "\n". */
  size_t pre = resp ? n - vlen - 2 : 8;
  if (n < vlen + 3 || (resp ? s[0] != '$' : n != vlen + 9) ||
      (vlen > 0 && memcmp(s + pre, v, vlen) != 0)) {
    note_bytes("reply", s, n);
    note_bytes("value", v, vlen);
    fail(run, "the reply does not carry its value (%s)", what);
  }
  free(s);
}

/* pr_reply_ok(v): the value referenced, not copied, and intact. */
static void check_ok(const struct run *run, int resp, const char *v,
                     size_t vlen, const char *what) {
  struct pr_reply r;
  memset(&r, 0x5a, sizeof r);
  pr_reply_ok(&r, resp, v, vlen);
  CHECK(run, vlen == 0 || r.body == v, "pr_reply_ok copied its value (%s)",
        what);
  check_value(run, &r, resp, v, vlen, what);
}

static void check_int(const struct run *run, int resp, uint64_t v) {
  struct pr_reply r;
  memset(&r, 0x5a, sizeof r);
  pr_reply_int(&r, resp, v);
  size_t n;
  char *s = check_reply(run, &r, resp, "pr_reply_int", &n);
  char want[48];
  snprintf(want, sizeof want, "%s%llu%s", resp ? ":" : "result: ",
           (unsigned long long)v, resp ? "\r\n" : "\n");
  if (n != strlen(want) || memcmp(s, want, n) != 0) {
    note_bytes("reply", s, n);
    fail(run, "pr_reply_int(%llu) is not \"%s\"", (unsigned long long)v, want);
  }
  free(s);
}

/* A built reply that must read exactly want. */
static void check_exact(const struct run *run, const struct pr_reply *r,
                        int resp, const char *want, const char *what) {
  size_t n;
  char *s = check_reply(run, r, resp, what, &n);
  if (n != strlen(want) || memcmp(s, want, n) != 0) {
    note_bytes("reply", s, n);
    fail(run, "%s is not \"%s\"", what, want);
  }
  free(s);
}

static void check_status(const struct run *run, int resp, const char *word) {
  struct pr_reply r;
  char want[32];
  memset(&r, 0x5a, sizeof r);
  pr_reply_status(&r, resp, word);
  snprintf(want, sizeof want, "%s%s%s", resp ? "+" : "result: ", word,
           resp ? "\r\n" : "\n");
  check_exact(run, &r, resp, want, "pr_reply_status");
}

static void check_empty(const struct run *run, int resp) {
  struct pr_reply r;
  memset(&r, 0x5a, sizeof r);
  pr_reply_empty(&r, resp);
  check_exact(run, &r, resp, resp ? "*0\r\n" : "result: \n", "pr_reply_empty");
}

/* The RESP error code protocol.h gives each pr_err. */
static const char *resp_code(enum pr_err code) {
  switch (code) {
  case PR_E_BUSY:     return "-BUSY ";
  case PR_E_TIMEOUT:  return "-TIMEOUT ";
  case PR_E_SHUTDOWN: return "-SHUTDOWN ";
  case PR_E_NOPROTO:  return "-NOPROTO ";
  case PR_E_INVALID: case PR_E_TOO_LONG: case PR_E_PROTOCOL:
  case PR_E_CONNS: case PR_E_FAILED:
    return "-ERR ";
  }
  return "-"; /* outside the enum: any error code */
}

static void check_error(const struct run *run, int resp, enum pr_err code,
                        const char *msg) {
  struct pr_reply r;
  memset(&r, 0x5a, sizeof r);
  pr_reply_error(&r, resp, code, msg);
  size_t n;
  char *s = check_reply(run, &r, resp, "pr_reply_error", &n);
  const char *pre = resp ? resp_code(code) : "ERROR: ";
  size_t term = resp ? 2 : 1;
  if (strncmp(s, pre, strlen(pre)) != 0 || n <= strlen(pre) + term) {
    note_bytes("reply", s, n);
    fail(run, "pr_reply_error(code %d) does not start with \"%s\" and a text",
         (int)code, pre);
  }
  /* A detail is shown up to its first line break, ending the reply. */
  int detail = code == PR_E_INVALID || code == PR_E_PROTOCOL ||
               code == PR_E_FAILED;
  size_t dlen = detail && msg != NULL ? strcspn(msg, "\r\n") : 0;
  if (dlen > 0 &&
      (n < dlen + term || memcmp(s + n - term - dlen, msg, dlen) != 0)) {
    note_bytes("reply", s, n);
    note_bytes("detail", msg, strlen(msg));
    fail(run, "pr_reply_error(code %d) does not end with its detail cut at "
              "the first line break", (int)code);
  }
  free(s);
}

/* Loop commands whose answer needs nothing but their arguments (no
 * server, session or scratch buffer: server/cmd_basic.c), so the harness
 * can have them answer. STATS reads the server; HASH, PRIMES and SLEEP run
 * on the pool. */
static int answers_alone(const struct cmd_def *def) {
  static const char *const names[] = {"ping",    "echo",   "quit", "client",
                                      "command", "config", "hello"};
  if (def->where != CMD_LOOP)
    return 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(def->name, names[i]) == 0)
      return 1;
  return 0;
}

/* What the server makes of a parse result (server/session.c): a fatal
 * error's reply; or cmd_lookup, then the "invalid input" reply or the
 * command's own answer, in the request's framing and, for a text line
 * that ended in \r\n, in RESP too (--resp-inline). */
static void check_replies_for(const struct run *run, long rc,
                              const struct pr_request *req) {
  if (rc < 0) {
    check_error(run, req->resp, rc == -E2BIG ? PR_E_TOO_LONG : PR_E_PROTOCOL,
                rc == -E2BIG ? NULL : req->error);
    return;
  }
  for (int resp = req->resp; resp <= (req->resp || req->crlf); resp++) {
    struct pr_request q = *req;
    const struct cmd_def *def = NULL;
    struct cmd_args a;
    char err[CMD_ERR_SIZE];
    struct pr_reply r;

    q.resp = resp;
    memset(err, 0x5a, sizeof err);
    if (cmd_lookup(&q, &def, &a, err, sizeof err) < 0) {
      CHECK(run, memchr(err, '\0', sizeof err) != NULL,
            "cmd_lookup's message is not NUL-terminated");
      if (err[0] == '\0' || !printable(err)) {
        note_bytes("message", err, strlen(err));
        fail(run, "cmd_lookup's message is empty or not printable ASCII");
      }
      check_error(run, resp, PR_E_INVALID, err);
      continue;
    }
    CHECK(run, def != NULL && a.resp == resp, "cmd_lookup succeeded without "
          "a command, or with resp %d for %d", a.resp, resp);
    if (!answers_alone(def))
      continue;
    struct cmd_ctx ctx = {NULL, NULL, NULL, 0};
    memset(&r, 0x5a, sizeof r);
    def->answer(&ctx, &a, &r);
    if (strcmp(def->name, "echo") == 0) /* the argument itself is the reply */
      check_value(run, &r, resp, a.v[0].p, a.v[0].len,
                  resp ? "ECHO's answer in RESP" : "ECHO's answer in text");
    else
      free(check_reply(run, &r, resp, def->name, &(size_t){0}));
  }
}

/* The formatters on their own, with values taken from the input. */
static void check_formatters(const struct run *run) {
  /* msg: the stream up to its first NUL; it may hold any other byte. */
  char *msg = xmalloc(run->len + 1);
  memcpy(msg, run->stream, run->len);
  msg[run->len] = '\0';
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < run->len; i++)
    v |= (uint64_t)(unsigned char)run->stream[i] << (8 * i);

  for (int resp = 0; resp <= 1; resp++) {
    for (int code = PR_E_INVALID; code <= PR_E_NOPROTO + 1; code++) {
      check_error(run, resp, (enum pr_err)code, msg);
      check_error(run, resp, (enum pr_err)code, NULL);
    }
    check_int(run, resp, v);
    check_int(run, resp, v >> (v & 63));
    check_status(run, resp, "PONG");
    check_status(run, resp, "OK");
    check_empty(run, resp);
  }
  /* A RESP bulk string carries any bytes. */
  check_ok(run, 1, run->stream, run->len, "a bulk string of the whole stream");
  free(msg);

  /* pr_quote: printable, quoted, at most 32 bytes shown, "..." if cut. */
  char q[PR_QUOTE_SIZE + 1];
  memset(q, 0x5a, sizeof q);
  pr_quote(q, run->stream, run->len);
  size_t qn = strnlen(q, sizeof q);
  int cut = run->len > 32;
  if (qn >= PR_QUOTE_SIZE || !printable(q) || qn < 2 || q[0] != '\'' ||
      strcmp(q + qn - (cut ? 4 : 1), cut ? "'..." : "'") != 0) {
    note_bytes("quoted", q, qn < sizeof q ? qn : sizeof q);
    fail(run, "pr_quote's text is not a printable quote of at most %d bytes",
         PR_QUOTE_SIZE - 1);
  }
}

/* ---- one pr_parse call -------------------------------------------------- */

/* The rules every call obeys; buf is the parsed buffer (len bytes). */
static void check_call(const struct run *run, const char *buf, size_t len,
                       long rc, const struct pr_request *req) {
  size_t limit = frame_limit(run->max_line);

  CHECK(run, memchr(req->error, '\0', sizeof req->error) != NULL,
        "req->error is not NUL-terminated (rc %ld)", rc);
  if (!printable(req->error)) {
    note_bytes("req->error", req->error, strlen(req->error));
    fail(run, "req->error is not printable ASCII (rc %ld)", rc);
  }
  if (rc == 0) {
    if (len >= limit) {
      note_bytes("buffer", buf, len);
      fail(run, "pr_parse returned 0 (needs more) with len %zu >= max_line + "
                "PR_FRAME_SLACK = %zu", len, limit);
    }
    return;
  }
  if (rc < 0) {
    if (rc != -E2BIG && rc != -EPROTO) {
      note_bytes("buffer", buf, len);
      fail(run, "pr_parse returned %ld, neither -E2BIG nor -EPROTO", rc);
    }
    CHECK(run, req->resp == (buf[0] == '*'),
          "fatal error's resp %d, first byte 0x%02x", req->resp,
          (unsigned char)buf[0]);
    if (rc == -EPROTO && (!req->resp || req->error[0] == '\0')) {
      note_bytes("buffer", buf, len);
      fail(run, "-EPROTO %s", req->resp ? "without a reason" : "in text");
    }
    return;
  }

  size_t used = (size_t)rc;
  if (used > len || used > limit) {
    note_bytes("buffer", buf, len);
    fail(run, "pr_parse used %zu bytes of %zu (limit %zu)", used, len, limit);
  }
  if (req->resp < 0 || req->resp > 1 || req->crlf < 0 || req->crlf > 1 ||
      req->empty < 0 || req->empty > 1) {
    note_bytes("request", buf, used);
    fail(run, "request flags out of range: resp %d crlf %d empty %d",
         req->resp, req->crlf, req->empty);
  }
  if (req->resp != (buf[0] == '*')) {
    note_bytes("request", buf, used);
    fail(run, "resp is %d for a request starting with 0x%02x", req->resp,
         (unsigned char)buf[0]);
  }
  const struct pr_span *spans[1 + PR_MAX_ARGS];
  size_t nspans = 1 + (req->nargs < PR_MAX_ARGS ? req->nargs : PR_MAX_ARGS);
  spans[0] = &req->cmd;
  for (size_t i = 1; i < nspans; i++)
    spans[i] = &req->arg[i - 1];

  if (req->resp) {
    /* Every span is a bulk string's data: after its header's \r\n, before
     * its own, inside the frame, in order. */
    if (req->crlf || req->empty || used < 4 || buf[used - 2] != '\r' ||
        buf[used - 1] != '\n' || req->nargs >= PR_MAX_ELEMENTS) {
      note_bytes("request", buf, used);
      fail(run, "RESP request with crlf %d, empty %d, nargs %zu, or not ending "
                "in \\r\\n", req->crlf, req->empty, req->nargs);
    }
    const char *after = buf;
    for (size_t i = 0; i < nspans; i++) {
      const struct pr_span *sp = spans[i];
      if (sp->p == NULL || sp->p < after + 2 || sp->len > used ||
          (size_t)(sp->p - buf) > used - sp->len - 2 || sp->p[-2] != '\r' ||
          sp->p[-1] != '\n' || sp->p[sp->len] != '\r' ||
          sp->p[sp->len + 1] != '\n') {
        note_bytes("request", buf, used);
        fail(run, "RESP %s %zu is not a bulk string's data inside the frame, "
                  "after the one before", i ? "argument" : "command", i);
      }
      after = sp->p + sp->len + 2;
    }
    return;
  }

  /* Text: one line; the command word up to the first space, the argument
   * the rest of the line after it (protocol.h). */
  int ends_crlf = used >= 2 && buf[used - 2] == '\r';
  size_t line = used - 1 - (size_t)ends_crlf;
  if (buf[used - 1] != '\n' || memchr(buf, '\n', used - 1) != NULL ||
      req->crlf != ends_crlf) {
    note_bytes("request", buf, used);
    fail(run, "text request is not one line up to its first \\n, or crlf "
              "%d is wrong", req->crlf);
  }
  if (line > run->max_line) {
    note_bytes("request", buf, used);
    fail(run, "text line of %zu bytes accepted, max_line %zu", line,
         run->max_line);
  }
  const char *sp = memchr(buf, ' ', line);
  size_t word = sp ? (size_t)(sp - buf) : line;
  int ok = req->empty == (line == 0);
  if (ok && req->empty)
    ok = req->nargs == 0 && req->cmd.len == 0;
  else if (ok)
    ok = req->cmd.p == buf && req->cmd.len == word &&
         req->nargs == (sp != NULL) &&
         (sp == NULL ||
          (req->arg[0].p == sp + 1 && req->arg[0].len == line - word - 1));
  if (!ok) {
    note_bytes("request", buf, used);
    note("  empty %d, command %zu bytes at +%td, nargs %zu\n", req->empty,
         req->cmd.len, req->cmd.p ? req->cmd.p - buf : -1, req->nargs);
    fail(run, "text request not split into empty / command word / rest of "
              "the line as protocol.h says");
  }
}

/* ---- one-shot vs. incremental ------------------------------------------- */

/* What the one-shot pass saw, one entry per pr_parse call. */
struct outcome {
  long rc;
  size_t off;             /* where this request starts in the stream */
  struct pr_request req;  /* its spans point into the one-shot buffer */
};

/* A span as (offset from base, length); offset -1 for none. */
static void note_span(const char *what, const struct pr_span *sp,
                      const char *base) {
  note(" %s %td/%zu", what, sp->p ? sp->p - base : -1, sp->len);
}

static void show(const char *who, long rc, const struct pr_request *r,
                 const char *base) {
  note("    %-12s rc %ld resp %d crlf %d empty %d nargs %zu", who, rc,
       r->resp, r->crlf, r->empty, r->nargs);
  if (rc > 0) {
    note_span("cmd", &r->cmd, base);
    for (size_t i = 0; i < r->nargs && i < PR_MAX_ARGS; i++)
      note_span("arg", &r->arg[i], base);
  }
  note(" error '%s'\n", r->error);
}

static int same_span(const struct pr_span *x, const char *xbase,
                     const struct pr_span *y, const char *ybase) {
  if (x->p == NULL || y->p == NULL)
    return x->p == y->p && x->len == y->len;
  return x->p - xbase == y->p - ybase && x->len == y->len;
}

/* Does a result (rc, req, parsed from buf, which starts where request k
 * starts) match the one-shot outcome o, whose spans are based at obase? A
 * request must match in every field; a fatal error in what its reply
 * carries (framing, reason). */
static void compare(const struct run *run, size_t k, const struct outcome *o,
                    const char *obase, long rc, const struct pr_request *req,
                    const char *buf) {
  const struct pr_request *w = &o->req;
  int same = rc == o->rc && req->resp == w->resp &&
             strcmp(req->error, w->error) == 0;
  if (same && rc > 0) {
    same = req->crlf == w->crlf && req->empty == w->empty &&
           req->nargs == w->nargs && same_span(&req->cmd, buf, &w->cmd, obase);
    for (size_t i = 0; same && i < req->nargs && i < PR_MAX_ARGS; i++)
      same = same_span(&req->arg[i], buf, &w->arg[i], obase);
  }
  if (!same) {
    note("  request %zu, at stream offset %zu (spans: offset/length):\n", k,
         o->off);
    show("one-shot:", o->rc, w, obase);
    show("this time:", rc, req, buf);
    fail(run, "parsing the same bytes differently from the one-shot pass");
  }
}

/* A receive buffer of exactly max_line + PR_FRAME_SLACK bytes, full with
 * the start of request k (o, from the one-shot pass): pr_parse must not wait
 * for more (protocol.h), and must say what it said on the whole stream.
 * Reads reach exactly that length only by chance; this makes sure. Then the
 * same contract (only the contract) for a few larger max_line values whose
 * limit falls further into the stream: the next three, and kProbes - 4 drawn
 * up to kProbeSpan further, so that a long frame is cut at many places. */
enum { kProbes = 8, kProbeSpan = 256 };

static void check_full_buffers(struct run *run, const char *all, size_t k,
                               const struct outcome *o, uint32_t *rng) {
  const size_t max_line = run->max_line, left = run->len - o->off;
  const size_t base = frame_limit(max_line);
  const char *phase = run->phase;
  static char what[128];

  if (base == SIZE_MAX || left < base)
    return;
  size_t span = left - base < kProbeSpan ? left - base : kProbeSpan;
  for (size_t p = 0; p < kProbes; p++) {
    size_t d = p < 4 ? p : next_random(rng) % (span + 1);
    if (d > span || (d == 0 && left == base))
      continue; /* past the stream; or the one-shot call saw this buffer */
    struct stream st; /* a connection whose buffer starts with request k */
    stream_init(&st, max_line + d, 0);
    char *buf = exact_copy(run->stream + o->off, base + d);
    struct pr_request req;
    memset(&req, 0x5a, sizeof req);
    long rc = stream_parse(&st, buf, base + d, &req);
    snprintf(what, sizeof what, "a full receive buffer at request %zu, "
             "max_line %zu + %zu", k, max_line, d);
    run->phase = what;
    run->max_line = max_line + d;
    check_call(run, buf, base + d, rc, &req);
    if (d == 0)
      compare(run, k, o, all + o->off, rc, &req, buf);
    run->max_line = max_line;
    run->phase = phase;
    free(buf);
  }
}

/* Parses the whole stream in one buffer; fills out[] (one entry per call,
 * the last one 0 or fatal) and returns how many. all: the stream's copy,
 * kept alive by the caller while out[] is used. */
static size_t parse_one_shot(struct run *run, const char *all,
                             struct outcome *out, uint32_t seed) {
  struct stream st;
  size_t off = 0, k = 0;
  uint32_t rng = seed;

  run->phase = "one-shot";
  stream_init(&st, run->max_line, 0);
  for (;;) {
    struct outcome *o = &out[k++];
    memset(&o->req, 0x5a, sizeof o->req); /* pr_parse must set every field */
    o->off = off;
    o->rc = stream_parse(&st, all + off, run->len - off, &o->req);
    check_call(run, all + off, run->len - off, o->rc, &o->req);
    if (o->rc == 0)
      return k;
    check_full_buffers(run, all, k - 1, o, &rng);
    check_replies_for(run, o->rc, &o->req);
    if (o->rc < 0)
      return k;
    off += (size_t)o->rc;
    stream_consumed(&st, (size_t)o->rc);
  }
}

/* Feeds the stream read by read, as a connection does, and compares every
 * result with the one-shot pass (want[0..nwant)). A bounded buffer never
 * holds more than max_line + PR_FRAME_SLACK bytes: a read stops there, so
 * the buffer is often exactly full. */
static void parse_incremental(struct run *run, const char *all, uint32_t seed,
                              const struct outcome *want, size_t nwant) {
  struct stream st;
  char *pend = xmalloc(run->len); /* the unconsumed bytes */
  size_t plen = 0, pos = 0, k = 0;
  long rc = 0;

  const size_t cap = run->bounded ? frame_limit(run->max_line) : SIZE_MAX;

  run->phase = "incremental";
  stream_init(&st, run->max_line, run->cursor);
  while (pos < run->len) {
    size_t n = 1 + next_random(&seed) % run->max_read;
    if (n > run->len - pos)
      n = run->len - pos;
    if (n > cap - plen) /* plen < cap: pr_parse said 0 only below it */
      n = cap - plen;
    memcpy(pend + plen, run->stream + pos, n);
    plen += n;
    pos += n;
    for (;;) {
      char *buf = exact_copy(pend, plen);
      struct pr_request req;
      memset(&req, 0x5a, sizeof req);
      rc = stream_parse(&st, buf, plen, &req);
      check_call(run, buf, plen, rc, &req);
      CHECK(run, plen == 0 || memcmp(buf, pend, plen) == 0,
            "pr_parse wrote into its input");
      if (rc == 0) {
        free(buf);
        break;
      }
      CHECK(run, k < nwant - 1 || (k == nwant - 1 && want[k].rc < 0),
            "incremental parsing found request %zu, one-shot only %zu", k,
            nwant - 1);
      compare(run, k, &want[k], all + want[k].off, rc, &req, buf);
      free(buf);
      if (rc < 0)
        goto out; /* the connection answers and closes */
      k++;
      plen -= (size_t)rc;
      memmove(pend, pend + rc, plen);
      stream_consumed(&st, (size_t)rc);
    }
  }
  /* Out of bytes, waiting for more: one-shot must be waiting too, at the
   * same request with the same bytes left over. */
  if (k != nwant - 1 || want[k].rc != 0 ||
      plen != run->len - want[k].off) {
    note("  incremental: waits after %zu requests with %zu bytes left\n"
         "  one-shot:    %zu requests, then rc %ld with %zu bytes left\n",
         k, plen, nwant - 1, want[nwant - 1].rc,
         run->len - want[nwant - 1].off);
    fail(run, "incremental parsing ends differently from one-shot parsing");
  }
out:
  free(pend);
}

static size_t pick_max_line(uint8_t b, size_t len) {
  if (b < 0xf0)
    return b;
  if (b >= 0xf8)
    return kBigLines[b & 7];
  size_t d = (size_t)(b & 7) + PR_FRAME_SLACK;
  return len > d ? len - d : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  struct run run = {
      .stream = (const char *)data + 2,
      .len = size - 2,
      .max_line = pick_max_line(data[0], size - 2),
      .max_read = kMaxRead[data[1] & 7],
      .bounded = !(data[1] & 8),
      .cursor = !(data[1] & 0x40),
      .phase = "",
  };
  uint32_t seed = 0x9e3779b9u ^ ((uint32_t)data[1] << 8) ^ (uint32_t)size;

  /* One entry per request, plus the final 0 or fatal error. */
  struct outcome *out = xmalloc((run.len + 1) * sizeof *out);
  char *all = exact_copy(run.stream, run.len);
  if (seed == 0)
    seed = 1; /* xorshift's one fixed point */
  size_t n = parse_one_shot(&run, all, out, seed);
  parse_incremental(&run, all, seed, out, n);
  free(all);
  free(out);

  run.phase = "formatters";
  check_formatters(&run);
  return 0;
}
