/* protocol: request framing and reply formatting (see protocol.h).
 *
 * DESIGN
 *  - pr_parse finds one whole request (returns its size), needs more bytes
 *    (0), or hits a fatal framing error (-E2BIG / -EPROTO). It keeps no
 *    state of its own; a caller's pr_cursor lets it resume an incomplete
 *    request where it stopped instead of rescanning it (text: the bytes
 *    known to hold no newline; RESP: the elements already validated).
 *  - Both framings are reduced to the same shape: a command word and its
 *    arguments. What the command is and whether its arguments are right is
 *    decided by server/command, the same way for both framings.
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
 *  - Reply lines never contain \r or \n except their own terminator (a
 *    text ECHO of a \r is refused by server/command for that reason).
 */
#include "server/protocol.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum { QUOTE_MAX = 32 };

/* ---- small helpers ------------------------------------------------------ */

/* printf into req->error; the format strings here are all short, and
 * snprintf truncates safely if a detail ever were too long. */
static void pr_set_error(struct pr_request *req, const char *fmt, const char *a) {
  int rc = snprintf(req->error, sizeof req->error, fmt, a);
  if (rc < 0) /* cannot happen with our formats; keep the invariant anyway */
    req->error[0] = '\0';
}

void pr_quote(char *out, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0, shown = len < QUOTE_MAX ? len : QUOTE_MAX;
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

/* ---- text framing ------------------------------------------------------- */

static long pr_parse_text(const char *buf, size_t len, size_t max_line,
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
    req->empty = 1;
    return (long)used;
  }
  const char *sp = memchr(buf, ' ', end);
  req->cmd.p = buf;
  req->cmd.len = sp ? (size_t)(sp - buf) : end;
  if (sp) {
    req->nargs = 1;
    req->arg[0].p = sp + 1;
    req->arg[0].len = end - (size_t)(sp - buf) - 1;
  }
  return (long)used;
}

/* ---- RESP2 framing ------------------------------------------------------ */

/* Reads the header "<c><digits>\r\n" at buf[*pos..lim): no sign, no
 * leading zeros, value <= max, so a header is at most 1 + 20 + 2 bytes
 * and a slow or hostile sender cannot stretch it. Returns 1 (value in *v,
 * *pos moved past it), 0 if lim comes first, -E2BIG if the value exceeds
 * max, or -EPROTO; errors set req->error. */
static int pr_resp_header(const char *buf, size_t lim, size_t *pos, char c, uint64_t max,
                          uint64_t *v, struct pr_request *req) {
  const char *what = c == '*' ? "multibulk length" : "bulk length";
  size_t i = *pos, first;

  if (i >= lim)
    return 0;
  if (buf[i] != c) {
    char q[PR_QUOTE_SIZE];
    pr_quote(q, buf + i, 1);
    pr_set_error(req, c == '*' ? "expected '*', got %s" : "expected '$', got %s", q);
    return -EPROTO;
  }
  *v = 0;
  for (first = ++i; i < lim && buf[i] >= '0' && buf[i] <= '9'; i++) {
    if (i > first && buf[first] == '0') {
      pr_set_error(req, "invalid %s (leading zero)", what);
      return -EPROTO;
    }
    unsigned d = (unsigned)(buf[i] - '0');
    if (d > max || *v > (max - d) / 10) { /* *v * 10 + d > max, no wrap */
      pr_set_error(req, "invalid %s (too large)", what);
      return -E2BIG;
    }
    *v = *v * 10 + d;
  }
  if (i >= lim)
    return 0;
  if (i == first || buf[i] != '\r') { /* "-1", "x", "" ... */
    pr_set_error(req, "invalid %s (not a number)", what);
    return -EPROTO;
  }
  if (i + 1 >= lim)
    return 0;
  if (buf[i + 1] != '\n') {
    pr_set_error(req, "%s", "expected \\r\\n after a length");
    return -EPROTO;
  }
  *pos = i + 2;
  return 1;
}

/* A validated frame of count elements: the command word and the first
 * PR_MAX_ARGS arguments, by walking its (well-formed) headers again. */
static void pr_resp_collect(const char *buf, uint32_t count, struct pr_request *req) {
  size_t pos = 1;
  while (buf[pos] != '\n') pos++; /* the array header, "*<count>\r\n" */
  pos++;
  for (uint32_t k = 0; k < count; k++) {
    size_t blen = 0;
    for (pos++; buf[pos] != '\r'; pos++) blen = blen * 10 + (size_t)(buf[pos] - '0');
    pos += 2;
    struct pr_span span = {buf + pos, blen};
    if (k == 0) req->cmd = span;
    else if (k - 1 < PR_MAX_ARGS) req->arg[k - 1] = span;
    pos += blen + 2;
  }
  req->nargs = count - 1;
}

static long pr_parse_resp(const char *buf, size_t len, size_t max_line,
                          struct pr_cursor *cur, struct pr_request *req) {
  /* The whole frame must fit in max_line + PR_FRAME_SLACK bytes: parse
   * only within that, and needing bytes beyond it means "too long". */
  size_t frame_max = max_line <= SIZE_MAX - PR_FRAME_SLACK
                         ? max_line + PR_FRAME_SLACK : SIZE_MAX;
  size_t lim = len < frame_max ? len : frame_max;
  uint64_t v;
  int rc;

  req->resp = 1;
  if (cur->count == 0) { /* the array header, unless an earlier call read it */
    size_t pos = 0;
    rc = pr_resp_header(buf, lim, &pos, '*', PR_MAX_ELEMENTS, &v, req);
    if (rc == -E2BIG) /* too many elements is malformed, not "too long" */
      return -EPROTO;
    if (rc <= 0)
      goto incomplete_or_bad;
    if (v == 0) {
      pr_set_error(req, "%s", "invalid multibulk length (zero)");
      return -EPROTO;
    }
    cur->count = (uint32_t)v;
    cur->k = 0;
    cur->pos = pos;
  }

  for (; cur->k < cur->count; cur->k++) {
    size_t pos = cur->pos;
    rc = pr_resp_header(buf, lim, &pos, '$', max_line, &v, req);
    if (rc <= 0)
      goto incomplete_or_bad;
    /* v <= max_line <= frame_max, and pos <= lim <= frame_max. */
    if (frame_max - pos < v || frame_max - pos - v < 2) {
      pr_set_error(req, "%s", "request too long");
      return -E2BIG;
    }
    if (lim - pos < v + 2) {
      rc = 0;
      goto incomplete_or_bad;
    }
    if (buf[pos + v] != '\r' || buf[pos + v + 1] != '\n') {
      pr_set_error(req, "%s", "expected \\r\\n after bulk data");
      return -EPROTO;
    }
    cur->pos = pos + v + 2;
  }
  pr_resp_collect(buf, cur->count, req);
  return (long)cur->pos;

incomplete_or_bad:
  if (rc < 0)
    return rc;
  /* Out of bytes. If the frame has reached frame_max (more waiting or
   * not), it cannot complete within it: too long (protocol.h's contract:
   * never 0 once len >= max_line + PR_FRAME_SLACK). */
  if (len >= frame_max) {
    pr_set_error(req, "%s", "request too long");
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
  memset(req, 0, offsetof(struct pr_request, error));
  req->error[0] = '\0';
  if (len == 0)
    return 0;
  long rc = buf[0] == '*' ? pr_parse_resp(buf, len, max_line, cur, req)
                          : pr_parse_text(buf, len, max_line, cur, req);
  if (rc != 0)
    memset(cur, 0, sizeof *cur); /* the next request starts afresh */
  return rc;
}

/* ---- public: replies ---------------------------------------------------- */

/* head = prefix + decimal n + suffix; all three fit in head by design. */
static void pr_head_num(struct pr_reply *r, const char *prefix, uint64_t n,
                     const char *suffix) {
  int rc = snprintf(r->head, sizeof r->head, "%s%llu%s", prefix,
                    (unsigned long long)n, suffix);
  r->head_len = rc > 0 && (size_t)rc < sizeof r->head ? (size_t)rc : 0;
}

static void pr_set_fixed(struct pr_reply *r, const char *head, const char *tail) {
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
    pr_set_fixed(r, "", "\r\n");
    pr_head_num(r, "$", len, "\r\n");
  } else {
    pr_set_fixed(r, "result: ", "\n");
  }
  r->body = v;
  r->body_len = len;
}

void pr_reply_int(struct pr_reply *r, int resp, uint64_t n) {
  pr_set_fixed(r, "", "");
  pr_head_num(r, resp ? ":" : "result: ", n, resp ? "\r\n" : "\n");
}

void pr_reply_status(struct pr_reply *r, int resp, const char *s) {
  pr_set_fixed(r, resp ? "+" : "result: ", resp ? "\r\n" : "\n");
  r->body = s;
  r->body_len = strlen(s);
}

void pr_reply_empty(struct pr_reply *r, int resp) {
  pr_set_fixed(r, resp ? "*0\r\n" : "result: \n", "");
}

size_t pr_reply_len(const struct pr_reply *r) {
  return r->head_len + r->body_len + r->tail_len;
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
  case PR_E_NOPROTO:  text = "unsupported protocol version"; rcode = "-NOPROTO "; break;
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
    pr_set_fixed(r, rc > 0 ? head : "", tail);
  } else if (code == PR_E_FAILED) {
    pr_set_fixed(r, pre, tail); /* the message is the whole text */
    r->body = msg;
    r->body_len = dlen;
  } else {
    int rc = snprintf(head, sizeof head, "%s%s: ", pre, text);
    pr_set_fixed(r, rc > 0 ? head : "", tail);
    r->body = msg;
    r->body_len = dlen;
  }
}
