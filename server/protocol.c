/* protocol: request framing/parsing and reply formatting (see protocol.h).
 *
 * Design
 *  - pr_parse is stateless: it looks at buf[0..len) afresh on every call and
 *    either finds one whole request (returns its size), needs more bytes (0),
 *    or hits a fatal framing error (-E2BIG / -EPROTO). The caller keeps the
 *    unparsed bytes and calls again when more arrive.
 *  - Both framings are reduced to the same shape, "command word + up to one
 *    argument + how many arguments there were", then one function (classify)
 *    maps it to a request, so text and RESP accept exactly the same commands.
 *  - Replies are head + body + tail: only short, fixed-size text is built in
 *    head/tail; a large value or error detail is referenced, never copied.
 *
 * Invariants
 *  - Never reads buf[len] or beyond, never allocates, no mutable state.
 *  - A request never needs more than max_line + PR_FRAME_SLACK buffered
 *    bytes: past that, pr_parse returns -E2BIG instead of 0, so a receive
 *    buffer of that size can never fill up with a request still incomplete.
 *  - req->error is always NUL-terminated and holds printable ASCII only
 *    (client bytes are quoted with \xHH escapes), so it is safe on one line.
 *  - Reply lines never contain \r or \n except their own terminator.
 */
#include "server/protocol.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum {
  RESP_MAX_ELEMENTS = 1024, /* "*<count>" above this is a protocol error */
  QUOTE_MAX = 32,           /* client bytes quoted in an error message */
  QUOTE_SIZE = 2 + 4 * QUOTE_MAX + 3 + 1, /* '' + \xHH each + ... + NUL */
};

/* ---- small helpers ------------------------------------------------------ */

/* printf into req->error; the format strings here are all short, and
 * snprintf truncates safely if a detail ever were too long. */
static void set_error(struct pr_request *req, const char *fmt, const char *a) {
  int rc = snprintf(req->error, sizeof req->error, fmt, a);
  if (rc < 0) /* cannot happen with our formats; keep the invariant anyway */
    req->error[0] = '\0';
}

/* Writes at most QUOTE_MAX bytes of s[0..len) into out (size cap) between
 * single quotes, escaping anything but printable ASCII (and ' and \) as
 * \xHH, with "..." after the closing quote when s was cut short. */
static void quote(char *out, size_t cap, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0, shown = len < QUOTE_MAX ? len : QUOTE_MAX;
  if (cap < QUOTE_SIZE) { /* callers pass QUOTE_SIZE; never true */
    if (cap > 0)
      out[0] = '\0';
    return;
  }
  out[o++] = '\'';
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out[o++] = (char)c;
    } else {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o++] = '\'';
  if (shown < len) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

/* ASCII case-insensitive: does s[0..len) spell the lower-case word w? */
static int word_is(const char *s, size_t len, const char *w) {
  size_t i = 0;
  for (; i < len && w[i] != '\0'; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != w[i])
      return 0;
  }
  return i == len && w[i] == '\0';
}

/* Strict decimal: one or more digits, nothing else, value <= max (leading
 * zeros allowed). Returns 1 and sets *out, or 0. No sign, no spaces, no
 * overflow: the value is checked against max after every digit. */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (uint64_t)(s[i] - '0'); /* v <= max < 2^60 before: no wrap */
    if (v > max)
      return 0;
  }
  *out = v;
  return 1;
}

/* ---- one request, whatever its framing --------------------------------- */

enum { ANY_ARGS = -1 };

static const struct {
  const char *name;  /* lower case, as Redis names commands in errors */
  enum pr_cmd cmd;
  int nargs;         /* arguments after the command, or ANY_ARGS */
  uint64_t max;      /* > 0: the argument is a number 0..max */
  const char *usage; /* text-protocol message for a wrong argument */
} commands[] = {
    {"ping", PR_PING, 0, 0, "PING takes no argument"},
    {"echo", PR_ECHO, 1, 0, "ECHO needs an argument"},
    {"hash", PR_HASH, 1, 0, "HASH needs an argument"},
    {"primes", PR_PRIMES, 1, PR_PRIMES_MAX, "PRIMES needs an integer 0..2147483647"},
    {"sleep", PR_SLEEP, 1, PR_SLEEP_MAX_MS, "SLEEP needs milliseconds 0..60000"},
    {"stats", PR_STATS, 0, 0, "STATS takes no argument"},
    /* Courtesy commands for Redis clients: the glue answers them. */
    {"quit", PR_QUIT, ANY_ARGS, 0, NULL},
    {"command", PR_COMMAND, ANY_ARGS, 0, NULL},
    {"config", PR_CONFIG, ANY_ARGS, 0, NULL},
    {"hello", PR_HELLO, ANY_ARGS, 0, NULL},
    {"client", PR_CLIENT, ANY_ARGS, 0, NULL},
};

/* Fills req from a command word and its arguments: nargs of them (after the
 * command), the first being arg[0..arg_len) when nargs > 0. In text framing
 * nargs is 0 or 1 (the rest of the line); in RESP it is count - 1. */
static void classify(struct pr_request *req, const char *word, size_t word_len,
                     size_t nargs, const char *arg, size_t arg_len) {
  size_t k = 0, ncommands = sizeof commands / sizeof commands[0];

  while (k < ncommands && !word_is(word, word_len, commands[k].name))
    k++;
  if (k == ncommands) {
    char q[QUOTE_SIZE];
    quote(q, sizeof q, word, word_len);
    set_error(req, "unknown command %s", q);
    return;
  }

  if (commands[k].nargs != ANY_ARGS && nargs != (size_t)commands[k].nargs) {
    /* RESP clients get Redis's wording; text users the usage line. */
    if (req->resp)
      set_error(req, "wrong number of arguments for '%s'", commands[k].name);
    else
      set_error(req, "%s", commands[k].usage);
    return;
  }
  if (commands[k].max > 0 &&
      !parse_uint(arg, arg_len, commands[k].max, &req->n)) {
    set_error(req, "%s", commands[k].usage);
    return;
  }
  /* A text reply is one line: ECHO cannot give back a \r there (a \n
   * cannot be in a text line at all). RESP bulk strings hold any byte. */
  if (!req->resp && commands[k].cmd == PR_ECHO && memchr(arg, '\r', arg_len)) {
    set_error(req, "%s", "ECHO text cannot contain \\r (RESP can)");
    return;
  }
  req->cmd = commands[k].cmd;
  if (nargs > 0) {
    req->arg = arg;
    req->arg_len = arg_len;
  }
}

/* ---- text framing ------------------------------------------------------- */

static long parse_text(const char *buf, size_t len, size_t max_line,
                       struct pr_cursor *cur, struct pr_request *req) {
  /* A line of max_line bytes plus "\r\n" is the longest acceptable, so
   * scanning max_line + 2 bytes always settles the question. Bytes an
   * earlier call already scanned hold no newline: start after them. */
  size_t scan = len, from = cur->scanned < len ? cur->scanned : 0;
  if (max_line <= SIZE_MAX - 2 && scan > max_line + 2)
    scan = max_line + 2;
  const char *nl = from < scan ? memchr(buf + from, '\n', scan - from) : NULL;
  if (nl == NULL) {
    /* No newline yet. Too long already, unless the only byte past
     * max_line is a \r that may turn out to be part of "\r\n". */
    if (len > max_line && !(len - max_line == 1 && buf[max_line] == '\r'))
      return -E2BIG;
    cur->scanned = scan;
    return 0;
  }
  size_t used = (size_t)(nl - buf) + 1, end = used - 1;
  if (end > 0 && buf[end - 1] == '\r') {
    end--;
    req->crlf = 1;
  }
  if (end > max_line)
    return -E2BIG;
  if (end == 0) {
    set_error(req, "%s", "empty line");
    return (long)used;
  }

  const char *sp = memchr(buf, ' ', end);
  if (sp == NULL)
    classify(req, buf, end, 0, NULL, 0);
  else
    classify(req, buf, (size_t)(sp - buf), 1, sp + 1, end - (size_t)(sp - buf) - 1);
  return (long)used;
}

/* ---- RESP2 framing ------------------------------------------------------ */

/* Reads the header "<c><digits>\r\n" at buf[*pos..lim): no sign, no
 * leading zeros, value <= max, so a header is at most 1 + 20 + 2 bytes
 * and a slow or hostile sender cannot stretch it. Returns 1 (value in *v, *pos moved past it), 0 if lim comes
 * first, -E2BIG if the value exceeds max, or -EPROTO; errors set
 * req->error. */
static int resp_header(const char *buf, size_t lim, size_t *pos, char c,
                       uint64_t max, uint64_t *v, struct pr_request *req) {
  const char *what = c == '*' ? "multibulk length" : "bulk length";
  size_t i = *pos, first;

  if (i >= lim)
    return 0;
  if (buf[i] != c) {
    char q[QUOTE_SIZE];
    quote(q, sizeof q, buf + i, 1);
    set_error(req, c == '*' ? "expected '*', got %s" : "expected '$', got %s", q);
    return -EPROTO;
  }
  *v = 0;
  for (first = ++i; i < lim && buf[i] >= '0' && buf[i] <= '9'; i++) {
    if (i > first && buf[first] == '0') {
      set_error(req, "invalid %s (leading zero)", what);
      return -EPROTO;
    }
    unsigned d = (unsigned)(buf[i] - '0');
    if (d > max || *v > (max - d) / 10) { /* *v * 10 + d > max, no wrap */
      set_error(req, "invalid %s (too large)", what);
      return -E2BIG;
    }
    *v = *v * 10 + d;
  }
  if (i >= lim)
    return 0;
  if (i == first || buf[i] != '\r') { /* "-1", "x", "" ... */
    set_error(req, "invalid %s (not a number)", what);
    return -EPROTO;
  }
  if (i + 1 >= lim)
    return 0;
  if (buf[i + 1] != '\n') {
    set_error(req, "%s", "expected \\r\\n after a length");
    return -EPROTO;
  }
  *pos = i + 2;
  return 1;
}

static long parse_resp(const char *buf, size_t len, size_t max_line,
                       struct pr_cursor *cur, struct pr_request *req) {
  /* The whole frame must fit in max_line + PR_FRAME_SLACK bytes: parse
   * only within that, and needing bytes beyond it means "too long". */
  size_t frame_max = max_line <= SIZE_MAX - PR_FRAME_SLACK
                         ? max_line + PR_FRAME_SLACK : SIZE_MAX;
  size_t lim = len < frame_max ? len : frame_max;
  uint64_t blen;
  int rc;

  req->resp = 1;
  if (cur->count == 0) { /* the array header, unless an earlier call read it */
    cur->pos = 0;
    rc = resp_header(buf, lim, &cur->pos, '*', RESP_MAX_ELEMENTS, &cur->count, req);
    if (rc == -E2BIG) /* too many elements is malformed, not "too long" */
      return -EPROTO;
    if (rc <= 0) {
      cur->count = 0;
      goto incomplete_or_bad;
    }
    if (cur->count == 0) {
      set_error(req, "%s", "invalid multibulk length (zero)");
      return -EPROTO;
    }
    cur->k = 0;
  }

  for (; cur->k < cur->count; cur->k++) {
    size_t pos = cur->pos;
    rc = resp_header(buf, lim, &pos, '$', max_line, &blen, req);
    if (rc <= 0)
      goto incomplete_or_bad;
    /* blen <= max_line <= frame_max, and pos <= lim <= frame_max. */
    if (frame_max - pos < blen || frame_max - pos - blen < 2) {
      set_error(req, "%s", "request too long");
      return -E2BIG;
    }
    if (lim - pos < blen + 2) {
      rc = 0;
      goto incomplete_or_bad;
    }
    if (buf[pos + blen] != '\r' || buf[pos + blen + 1] != '\n') {
      set_error(req, "%s", "expected \\r\\n after bulk data");
      return -EPROTO;
    }
    if (cur->k == 0) {
      cur->word_off = pos;
      cur->word_len = blen;
    } else if (cur->k == 1) {
      cur->arg_off = pos;
      cur->arg_len = blen;
    }
    cur->pos = pos + blen + 2;
  }
  classify(req, buf + cur->word_off, cur->word_len, cur->count - 1,
           cur->count > 1 ? buf + cur->arg_off : NULL, cur->count > 1 ? cur->arg_len : 0);
  return (long)cur->pos;

incomplete_or_bad:
  if (rc < 0)
    return rc;
  /* Out of bytes. If the frame has reached frame_max (more waiting or
   * not), it cannot complete within it: too long (protocol.h's contract:
   * never 0 once len >= max_line + PR_FRAME_SLACK). */
  if (len >= frame_max) {
    set_error(req, "%s", "request too long");
    return -E2BIG;
  }
  return 0;
}

/* ---- public: parsing ---------------------------------------------------- */

long pr_parse(const char *buf, size_t len, size_t max_line, struct pr_cursor *cur,
              struct pr_request *req) {
  struct pr_cursor none = {0};
  if (cur == NULL)
    cur = &none;
  req->cmd = PR_INVALID;
  req->resp = 0;
  req->crlf = 0;
  req->arg = NULL;
  req->arg_len = 0;
  req->n = 0;
  req->error[0] = '\0';
  if (len == 0)
    return 0;
  long rc = buf[0] == '*' ? parse_resp(buf, len, max_line, cur, req)
                          : parse_text(buf, len, max_line, cur, req);
  if (rc != 0)
    *cur = none; /* the next request starts afresh */
  return rc;
}

/* ---- public: replies ---------------------------------------------------- */

/* head = prefix + decimal n + suffix; all three fit in head by design. */
static void head_num(struct pr_reply *r, const char *prefix, uint64_t n,
                     const char *suffix) {
  int rc = snprintf(r->head, sizeof r->head, "%s%llu%s", prefix,
                    (unsigned long long)n, suffix);
  r->head_len = rc > 0 && (size_t)rc < sizeof r->head ? (size_t)rc : 0;
}

static void set_fixed(struct pr_reply *r, const char *head, const char *tail) {
  size_t h = strlen(head), t = strlen(tail);
  /* Callers pass literals shorter than head/tail; this is a safety net. */
  if (h >= sizeof r->head)
    h = sizeof r->head - 1;
  if (t >= sizeof r->tail)
    t = sizeof r->tail - 1;
  memcpy(r->head, head, h);
  r->head[h] = '\0';
  r->head_len = h;
  memcpy(r->tail, tail, t);
  r->tail[t] = '\0';
  r->tail_len = t;
  r->body = NULL;
  r->body_len = 0;
}

void pr_reply_ok(struct pr_reply *r, int resp, const char *v, size_t len) {
  if (resp) {
    set_fixed(r, "", "\r\n");
    head_num(r, "$", len, "\r\n");
  } else {
    set_fixed(r, "result: ", "\n");
  }
  r->body = v;
  r->body_len = len;
}

void pr_reply_int(struct pr_reply *r, int resp, uint64_t n) {
  set_fixed(r, "", "");
  head_num(r, resp ? ":" : "result: ", n, resp ? "\r\n" : "\n");
}

void pr_reply_pong(struct pr_reply *r, int resp) {
  set_fixed(r, resp ? "+PONG\r\n" : "result: PONG\n", "");
}

void pr_reply_error(struct pr_reply *r, int resp, enum pr_err code,
                    const char *msg) {
  const char *rcode = "-ERR ", *text = NULL;
  int detail = 0; /* does msg follow text? */

  switch (code) {
  case PR_E_INVALID:  text = "invalid input"; detail = 1; break;
  case PR_E_BUSY:     text = "server busy"; rcode = "-BUSY "; break;
  case PR_E_TIMEOUT:  text = "timeout"; rcode = "-TIMEOUT "; break;
  case PR_E_SHUTDOWN: text = "shutting down"; rcode = "-SHUTDOWN "; break;
  case PR_E_TOO_LONG: text = "line too long"; break;
  case PR_E_PROTOCOL: text = "Protocol error"; detail = 1; break;
  case PR_E_CONNS:    text = "too many connections"; break;
  case PR_E_FAILED:   text = "failed"; detail = 1; break;
  }
  if (text == NULL) /* a value outside the enum */
    text = "internal error";

  const char *pre = resp ? rcode : "ERROR: ";
  const char *tail = resp ? "\r\n" : "\n";
  char head[sizeof r->head];
  size_t dlen = 0;

  if (detail && msg != NULL) /* the detail ends at a line break, if any */
    dlen = strcspn(msg, "\r\n");
  if (dlen == 0) {
    /* Just the fixed text; PR_E_FAILED without a message says "failed". */
    int rc = snprintf(head, sizeof head, "%s%s", pre, text);
    set_fixed(r, rc > 0 ? head : "", tail);
  } else if (code == PR_E_FAILED) {
    set_fixed(r, pre, tail); /* the message is the whole text */
    r->body = msg;
    r->body_len = dlen;
  } else {
    int rc = snprintf(head, sizeof head, "%s%s: ", pre, text);
    set_fixed(r, rc > 0 ? head : "", tail);
    r->body = msg;
    r->body_len = dlen;
  }
}
