/* protocol: framing of requests and formatting of replies, nothing else
 * (which commands exist, and what their arguments mean, is server/command).
 *
 * Two framings share one connection (the first byte of each request picks):
 *  - text: one line ending in \n (a \r before it is dropped). The command
 *    word runs to the first space; the argument, if there is a space, is
 *    the rest of the line after that one space (spaces and all).
 *  - RESP2 (what redis-cli and redis-benchmark send): a request starting
 *    with '*' is an array of bulk strings; element 0 is the command word.
 * Replies use the framing of their request:
 *    ok        text "result: <v>\n"      RESP "$<len>\r\n<v>\r\n"
 *    integer   text "result: <n>\n"      RESP ":<n>\r\n"
 *    status    text "result: <s>\n"      RESP "+<s>\r\n"
 *    error     text "ERROR: <msg>\n"     RESP "-<CODE> <msg>\r\n" (see enum pr_err)
 *
 * Pure functions on caller-owned memory: no allocation, no globals, any
 * thread. Errors: pr_parse returns a negative errno for fatal framing errors.
 */
#ifndef SERVER_PROTOCOL_H
#define SERVER_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A whole request (a text line with its \r\n, or a RESP frame with all its
 * headers) is at most max_line + PR_FRAME_SLACK bytes; a longer one is
 * -E2BIG. So pr_parse never returns 0 once len >= max_line + PR_FRAME_SLACK:
 * an input buffer that big cannot fill up with an incomplete request. */
enum { PR_FRAME_SLACK = 128 };
/* A RESP array has at most this many elements ("*<count>" above is a
 * protocol error); only the first PR_MAX_ARGS after the command are kept. */
enum { PR_MAX_ELEMENTS = 1024, PR_MAX_ARGS = 8 };

struct pr_span {
  const char *p;  /* into the parsed buffer */
  size_t len;
};

struct pr_request {
  int resp;               /* 1: arrived as RESP2 and is answered in RESP2 */
  int crlf;               /* text framing only: the line ended in \r\n */
  int empty;              /* text framing only: an empty line (no command) */
  struct pr_span cmd;     /* the command word */
  size_t nargs;           /* arguments after it: RESP elements, text 0 or 1 */
  struct pr_span arg[PR_MAX_ARGS]; /* the first min(nargs, PR_MAX_ARGS) */
  char error[160];        /* a fatal framing error: the reason */
};

/* Where pr_parse stopped in an incomplete request, so that the next call
 * continues from there instead of scanning the request from its start
 * again (a long request arriving in many reads then costs linear time).
 * Owned by the caller, one per input stream; zero it once (= {0}). */
struct pr_cursor {
  size_t scanned;   /* text: bytes known to hold no '\n' */
  size_t pos;       /* RESP: offset after the last whole element */
  uint32_t count;   /* RESP: elements in the array (0: header not read yet) */
  uint32_t k;       /* RESP: elements read */
};

/* Parses the first request in buf[0..len). Returns the bytes it used (> 0)
 * with *req filled in; 0 when buf holds no complete request yet; or a fatal
 * framing error after which the connection must be answered and closed:
 * -E2BIG (a line or bulk longer than max_line: reply "line too long") or
 * -EPROTO (malformed RESP: "Protocol error: <req->error>"). Never reads past
 * len; never allocates.
 * cur may be NULL. If not, a call that returns 0 records its progress in
 * *cur, and the next call must pass a buffer that starts at the same byte
 * and holds at least the same bytes (more appended); any other return
 * resets *cur, ready for the next request. With or without a cursor, the
 * results are the same. */
long pr_parse(const char *buf, size_t len, size_t max_line, struct pr_cursor *cur,
              struct pr_request *req);

/* Client bytes s[0..len) for an error message: at most 32 of them between
 * single quotes, anything but printable ASCII (and ' and \) as \xHH, "..."
 * after the quote when cut short. out needs PR_QUOTE_SIZE bytes. */
enum { PR_QUOTE_SIZE = 2 + 4 * 32 + 3 + 1 };
void pr_quote(char *out, const char *s, size_t len);

enum pr_err {
  PR_E_INVALID,   /* "invalid input: ..."            RESP -ERR */
  PR_E_BUSY,      /* "server busy"                   RESP -BUSY */
  PR_E_TIMEOUT,   /* "timeout"                       RESP -TIMEOUT */
  PR_E_SHUTDOWN,  /* "shutting down"                 RESP -SHUTDOWN */
  PR_E_TOO_LONG,  /* "line too long"                 RESP -ERR */
  PR_E_PROTOCOL,  /* "Protocol error: ..."           RESP -ERR */
  PR_E_CONNS,     /* "too many connections"          RESP -ERR */
  PR_E_FAILED,    /* a task's own message            RESP -ERR */
  PR_E_NOPROTO,   /* "unsupported protocol version"  RESP -NOPROTO (HELLO) */
};

/* A reply is head + body + tail, so a large body (ECHO) is never copied
 * here: write the three parts in order. head and tail live in the struct;
 * body points into the caller's v or msg (keep it alive until written). */
struct pr_reply {
  char head[48];
  size_t head_len;
  const char *body;
  size_t body_len;
  char tail[4];
  size_t tail_len;
};
void pr_reply_ok(struct pr_reply *r, int resp, const char *v, size_t len);
void pr_reply_int(struct pr_reply *r, int resp, uint64_t n);
/* A short fixed word: text "result: <s>", RESP "+<s>" (PONG, OK). */
void pr_reply_status(struct pr_reply *r, int resp, const char *s);
/* An empty list: text "result: " (nothing), RESP "*0". */
void pr_reply_empty(struct pr_reply *r, int resp);
/* msg: the detail after "invalid input: " / "Protocol error: ", or the whole
 * message for PR_E_FAILED; NULL for the fixed messages. The detail is cut
 * at its first \r or \n so the reply stays one line. */
void pr_reply_error(struct pr_reply *r, int resp, enum pr_err code, const char *msg);
size_t pr_reply_len(const struct pr_reply *r);

#ifdef __cplusplus
}
#endif
#endif
