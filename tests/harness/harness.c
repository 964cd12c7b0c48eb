/* harness: the 30-client regression test of pool_server (spec R6).
 *
 *   harness_test SERVER_BINARY [EXTRA SERVER ARGS...]
 *
 * Design:
 *  1. Builds 30 deterministic client scripts (seeded from the client index)
 *     of bursts of requests: single requests and pipelined bursts of 20 in
 *     one write; good requests (PING, ECHO, HASH incl. empty text, PRIMES
 *     incl. 0/1/2 and up to 10^6, short SLEEPs; mixed case, some CRLF) and
 *     bad ones (unknown commands, malformed/out-of-range numbers, empty
 *     lines, missing arguments). Client HX_LONG_CLIENT ends with a line over
 *     --max-line and must get "ERROR: line too long" then EOF. Each
 *     expected reply comes from tools/expect, never from the server's code.
 *  2. Starts the server with --port 0 --port-file FILE and its stderr on a
 *     pipe, waits for the port in FILE (tools/portfile) while forwarding
 *     the server's stderr to ours ("server| " prefix) from the same event
 *     loop, so the server never blocks on a full pipe.
 *  3. Runs the 30 clients on one thread and one epoll (tools/client); a
 *     client sends its next burst once every reply of the previous one has
 *     arrived and been checked, in order. The first mismatch stops that
 *     client and is reported in full (request, expected, got, escaped).
 *  4. Sends SIGTERM and requires exit status 0 within 2 s (child exit is
 *     waited for with a signalfd, no sleeps).
 * Under UNDER_VALGRIND (the helgrind config: this binary and the server both
 * run under Helgrind) the largest PRIMES n shrinks (10^6 -> 2*10^5: the
 * server's sieve is slow there) and the timeouts grow (x10, the exit timeout
 * x5); the scripts are otherwise the same (a run takes ~4 s) and so are the
 * checks.
 * Prints a request summary, then "PASS (30/30 clients)" or each failing
 * client's details and "FAIL (k/30 clients)"; exit 0 / 1 (2: bad usage or
 * setup failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testlib/testenv.h"
#include "tools/client.h"
#include "tools/portfile.h"
#include "tools/expect.h"

enum {
  HX_CLIENTS = 30,
  HX_LONG_CLIENT = 7,     /* the client that ends with an overlong line */
  HX_MAX_LINE = 1024,     /* --max-line given to the server */
  HX_PIPELINE = 20,       /* requests in a pipelined burst */
  HX_LISTEN_TIMEOUT_S = 10,
  HX_RUN_TIMEOUT_S = 60,
  HX_EXIT_TIMEOUT_MS = 2000,
};

struct hx_req {
  char *wire;          /* the bytes sent, terminator included */
  size_t wire_len;
  int kind;            /* enum ex_kind */
  char *exp;
  size_t exp_len;
  int bad;             /* a deliberately invalid request */
  size_t burst;        /* index of its burst */
};

struct hx_client {
  struct hx_req *reqs;
  size_t nreqs, cap;
  size_t *burst_end;   /* burst b is reqs[burst_end[b-1] .. burst_end[b]) */
  size_t nbursts;
  size_t burst;        /* burst in flight */
  size_t next;         /* request whose reply is due */
  int expect_eof;      /* "line too long" seen: EOF must follow */
  int opened, done, failed;
  char *why;           /* failure report */
};

struct hx_fwd {        /* forwards the server's stderr line by line */
  int fd;
  char buf[4096];
  size_t len;
  int eof;
  int port;            /* from the --port-file, 0 until written */
};

struct hx_run {
  struct hx_client cl[HX_CLIENTS];
  int valgrind;
  struct cl_set set;
  struct hx_fwd fwd;
  uint64_t sent_reqs, sent_bad, sent_bursts, sent_pipelined, sent_bytes, checked;
};

/* ---- deterministic scripts ------------------------------------------- */

static uint64_t hx_rand(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static unsigned hx_below(uint64_t *s, unsigned n) { return (unsigned)(hx_rand(s) % n); }

static void hx_oom(void) {
  fprintf(stderr, "harness: out of memory\n");
  exit(2);
}

/* Random text of len bytes: printable ASCII and spaces, never a leading
 * space (the protocol keeps it, but that is not what this test is about). */
static void hx_text(uint64_t *s, char *out, size_t len) {
  static const char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
      "  !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  for (size_t i = 0; i < len; i++) out[i] = alphabet[hx_below(s, sizeof alphabet - 1)];
  if (len > 0 && out[0] == ' ') out[0] = '_';
}

static const char *hx_case(uint64_t *s, const char *upper, char *buf) {
  static const char *const lower[] = {"ping", "echo", "hash", "primes", "sleep"};
  static const char *const mixed[] = {"Ping", "Echo", "Hash", "Primes", "Sleep"};
  static const char *const names[] = {"PING", "ECHO", "HASH", "PRIMES", "SLEEP"};
  unsigned pick = hx_below(s, 6); /* upper case most of the time */
  for (size_t i = 0; i < 5; i++)
    if (strcmp(upper, names[i]) == 0) {
      strcpy(buf, pick == 0 ? lower[i] : pick == 1 ? mixed[i] : names[i]);
      return buf;
    }
  return upper;
}

/* Writes one good request line (no terminator) into line; returns its length. */
static size_t hx_good(uint64_t *s, int valgrind, char *line) {
  char name[8];
  unsigned what = hx_below(s, 100);
  if (what < 15) return (size_t)sprintf(line, "%s", hx_case(s, "PING", name));
  if (what < 65) { /* ECHO or HASH of varied text */
    const char *cmd = hx_case(s, what < 40 ? "ECHO" : "HASH", name);
    unsigned shape = hx_below(s, 100);
    size_t len = shape < 8 ? 0 : shape < 12 ? 700 + hx_below(s, 200) : 1 + hx_below(s, 60);
    size_t k = (size_t)sprintf(line, "%s ", cmd);
    hx_text(s, line + k, len);
    return k + len;
  }
  if (what < 92) {
    static const uint32_t fixed[] = {0, 1, 2, 3, 4, 10, 97, 100, 1000, 7919, 65536};
    uint32_t big = valgrind ? 200000 : 1000000;
    unsigned shape = hx_below(s, 100);
    uint32_t n = shape < 50   ? fixed[hx_below(s, sizeof fixed / sizeof fixed[0])]
                 : shape < 95 ? hx_below(s, 100000)
                              : big - hx_below(s, 100);
    return (size_t)sprintf(line, "%s %" PRIu32, hx_case(s, "PRIMES", name), n);
  }
  const char *cmd = hx_case(s, "SLEEP", name); /* one draw per statement: */
  unsigned ms = hx_below(s, 15);               /* argument order is unspecified */
  return (size_t)sprintf(line, "%s %u", cmd, ms);
}

/* Writes one invalid request line (no terminator); returns its length. */
static size_t hx_bad(uint64_t *s, char *line) {
  static const char *const bad[] = {
      "",           "bad",          "frobnicate 12",      "PINGPONG",      "ECH hello",
      "SHA256 abc", "PRIME 5",      "ECHO",               "HASH",          "PRIMES",
      "PRIMES ",    "PRIMES abc",   "PRIMES -1",          "PRIMES 12x",    "PRIMES 1.5",
      "PRIMES 2147483648",          "PRIMES 99999999999", "PRIMES 0x10",   "SLEEP",
      "SLEEP x",    "SLEEP 60001",  "SLEEP -5",           "sleep 100000000000",
  };
  unsigned pick = hx_below(s, sizeof bad / sizeof bad[0] + 1);
  if (pick < sizeof bad / sizeof bad[0]) return (size_t)sprintf(line, "%s", bad[pick]);
  size_t len = 3 + hx_below(s, 8); /* a random unknown word */
  for (size_t i = 0; i < len; i++) line[i] = (char)('a' + hx_below(s, 26));
  line[0] = 'q'; /* no command starts with q */
  return len;
}

static void hx_add(struct hx_run *r, struct hx_client *c, const char *line, size_t len,
                   const char *term, int bad, int too_long) {
  if (c->nreqs == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->reqs = realloc(c->reqs, c->cap * sizeof *c->reqs);
    if (!c->reqs) hx_oom();
  }
  struct hx_req *q = &c->reqs[c->nreqs++];
  size_t tlen = strlen(term);
  q->wire_len = len + tlen;
  q->wire = malloc(q->wire_len + 1);
  q->exp = malloc(ex_reply_cap(len + tlen));
  if (!q->wire || !q->exp) hx_oom();
  memcpy(q->wire, line, len);
  memcpy(q->wire + len, term, tlen + 1);
  q->bad = bad;
  q->burst = c->nbursts;
  if (too_long) {
    q->kind = EX_EXACT;
    q->exp_len = strlen(EX_TOO_LONG);
    memcpy(q->exp, EX_TOO_LONG, q->exp_len + 1);
  } else {
    /* expect strips one '\r' itself, like the server */
    q->kind = ex_expect(q->wire, q->wire_len - 1, q->exp, ex_reply_cap(len + tlen), &q->exp_len);
    if (q->kind < 0) {
      fprintf(stderr, "harness: expect failed: %s\n", strerror(-q->kind));
      exit(2);
    }
  }
  r->sent_reqs++;
  r->sent_bad += (unsigned)bad;
  r->sent_bytes += q->wire_len;
}

static void hx_end_burst(struct hx_run *r, struct hx_client *c, size_t size) {
  c->burst_end = realloc(c->burst_end, (c->nbursts + 1) * sizeof *c->burst_end);
  if (!c->burst_end) hx_oom();
  c->burst_end[c->nbursts++] = c->nreqs;
  r->sent_bursts++;
  r->sent_pipelined += size > 1;
}

static void hx_build_script(struct hx_run *r, unsigned idx) {
  struct hx_client *c = &r->cl[idx];
  uint64_t seed = 0x5eed0000u + idx;
  char line[HX_MAX_LINE + 200];
  unsigned bursts = 12;
  for (unsigned b = 0; b < bursts; b++) {
    unsigned shape = hx_below(&seed, 100);
    size_t size = shape < 40 ? 1 : shape < 65 ? 3 + hx_below(&seed, 3) : HX_PIPELINE;
    for (size_t i = 0; i < size; i++) {
      int bad = hx_below(&seed, 100) < 25;
      size_t len = bad ? hx_bad(&seed, line) : hx_good(&seed, r->valgrind, line);
      hx_add(r, c, line, len, hx_below(&seed, 4) == 0 ? "\r\n" : "\n", bad, 0);
    }
    hx_end_burst(r, c, size);
  }
  if (idx == HX_LONG_CLIENT) { /* last: one line over the limit, one write */
    memset(line, 'X', HX_MAX_LINE + 100);
    hx_add(r, c, line, HX_MAX_LINE + 100, "\n", 1, 1);
    hx_end_burst(r, c, 1);
  }
}

/* ---- reporting -------------------------------------------------------- */

static void hx_escape(FILE *f, const char *s, size_t len) {
  fputc('"', f);
  size_t shown = len > 160 ? 120 : len;
  for (size_t i = 0; i < shown; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch == '\r') fputs("\\r", f);
    else if (ch == '\n') fputs("\\n", f);
    else if (ch >= 0x20 && ch < 0x7f) fputc(ch, f);
    else fprintf(f, "\\x%02x", ch);
  }
  fputc('"', f);
  if (shown < len) fprintf(f, "... (%zu bytes)", len);
}

/* Records why client idx failed (once) and stops it. got NULL: no reply. */
static void hx_fail(struct hx_run *r, size_t idx, const char *what, const char *got,
                    size_t got_len) {
  struct hx_client *c = &r->cl[idx];
  if (c->failed || c->done) return;
  c->failed = 1;
  size_t sz = 0;
  FILE *f = open_memstream(&c->why, &sz);
  if (!f) hx_oom();
  fprintf(f, "client %zu FAILED: %s\n", idx, what);
  if (c->next < c->nreqs) {
    struct hx_req *q = &c->reqs[c->next];
    fprintf(f, "  at request %zu of %zu (burst %zu of %zu, %s)\n", c->next + 1, c->nreqs,
            q->burst + 1, c->nbursts, q->bad ? "invalid request" : "valid request");
    fputs("  sent:     ", f);
    hx_escape(f, q->wire, q->wire_len);
    fprintf(f, "\n  expected: %s", q->kind == EX_INVALID ? "a line starting with " : "");
    hx_escape(f, q->exp, q->exp_len);
    fputc('\n', f);
  }
  fputs("  got:      ", f);
  if (got) hx_escape(f, got, got_len);
  else fputs("(nothing)", f);
  fputc('\n', f);
  if (fclose(f) != 0) hx_oom();
  cl_close(&r->set.conns[idx]);
}

/* ---- client callbacks ------------------------------------------------- */

static void hx_send_burst(struct hx_run *r, struct cl_conn *conn) {
  struct hx_client *c = &r->cl[conn->idx];
  size_t from = c->burst ? c->burst_end[c->burst - 1] : 0, to = c->burst_end[c->burst];
  size_t len = 0;
  for (size_t i = from; i < to; i++) len += c->reqs[i].wire_len;
  char *buf = malloc(len);
  if (!buf) hx_oom();
  for (size_t i = from, off = 0; i < to; off += c->reqs[i].wire_len, i++)
    memcpy(buf + off, c->reqs[i].wire, c->reqs[i].wire_len);
  if (cl_send(conn, buf, len) < 0) hx_oom(); /* queued: one write when there is room */
  free(buf);
}

static void hx_on_open(struct cl_conn *conn, void *arg) {
  struct hx_run *r = arg;
  r->cl[conn->idx].opened = 1;
  hx_send_burst(r, conn);
}

static void hx_on_line(struct cl_conn *conn, const char *line, size_t len, void *arg) {
  struct hx_run *r = arg;
  struct hx_client *c = &r->cl[conn->idx];
  if (c->expect_eof || c->next >= c->nreqs) {
    hx_fail(r, conn->idx,
            c->expect_eof ? "expected EOF after \"ERROR: line too long\", got another line"
                          : "unexpected extra reply line",
            line, len);
    return;
  }
  struct hx_req *q = &c->reqs[c->next];
  r->checked++;
  if (!ex_match(q->kind, q->exp, q->exp_len, line, len)) {
    hx_fail(r, conn->idx, "wrong reply", line, len);
    return;
  }
  if (strcmp(q->exp, EX_TOO_LONG) == 0 && q->kind == EX_EXACT) c->expect_eof = 1;
  c->next++;
  if (c->next < c->burst_end[c->burst]) return;
  if (++c->burst < c->nbursts) {
    hx_send_burst(r, conn);
  } else if (!c->expect_eof) {
    c->done = 1;
    cl_close(conn);
  }
}

static void hx_on_close(struct cl_conn *conn, int err, void *arg) {
  struct hx_run *r = arg;
  struct hx_client *c = &r->cl[conn->idx];
  /* After "line too long" the server closes; an RST instead of a FIN only
   * means it did not read all we sent, which the protocol allows. */
  if (c->expect_eof && c->next == c->nreqs && (err == 0 || err == ECONNRESET)) {
    c->done = 1;
    return;
  }
  char what[160];
  if (!c->opened)
    snprintf(what, sizeof what, "cannot connect: %s", strerror(err));
  else
    snprintf(what, sizeof what, "connection %s%s while a reply was due",
             err == 0 ? "closed by the server (EOF)" : "error: ", err == 0 ? "" : strerror(err));
  hx_fail(r, conn->idx, what, conn->in_len ? conn->in : NULL, conn->in_len);
}

/* ---- the server process ----------------------------------------------- */

/* Reads what the server wrote to stderr; forwards complete lines. */
static void hx_fwd_read(struct hx_fwd *w) {
  for (;;) {
    if (w->len == sizeof w->buf) { /* a very long line: pass it on as is */
      fprintf(stderr, "server| %.*s\n", (int)w->len, w->buf);
      w->len = 0;
    }
    ssize_t n = read(w->fd, w->buf + w->len, sizeof w->buf - w->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      if (w->len) fprintf(stderr, "server| %.*s\n", (int)w->len, w->buf);
      w->len = 0;
      w->eof = 1;
      return;
    }
    w->len += (size_t)n;
    char *start = w->buf, *nl;
    while ((nl = memchr(start, '\n', w->len - (size_t)(start - w->buf)))) {
      *nl = '\0';
      fprintf(stderr, "server| %s\n", start);
      start = nl + 1;
    }
    w->len -= (size_t)(start - w->buf);
    memmove(w->buf, start, w->len);
  }
}

static void hx_fwd_watch(int fd, void *arg) {
  struct hx_run *r = arg;
  hx_fwd_read(&r->fwd);
  if (r->fwd.eof) cl_unwatch(&r->set, fd);
}

static pid_t hx_spawn(char **argv, int *err_fd, const sigset_t *old_mask) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    if (dup2(p[1], 2) < 0) _exit(127);
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed harness */
    execv(argv[0], argv);
    fprintf(stderr, "harness: cannot exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
    close(p[0]);
    return -1;
  }
  *err_fd = p[0];
  return pid;
}

/* Waits until the child exits or deadline_ns passes, forwarding its stderr
 * meanwhile. Returns 1 and *status if it exited, 0 on timeout. */
static int hx_wait_child(pid_t pid, int sigfd, struct hx_fwd *w, int64_t deadline_ns,
                         int *status) {
  for (;;) {
    pid_t got = waitpid(pid, status, WNOHANG);
    if (got == pid) return 1;
    int64_t left = (deadline_ns - cl_now_ns()) / 1000000;
    if (left <= 0) return 0;
    struct pollfd pf[2] = {{sigfd, POLLIN, 0}, {w->eof ? -1 : w->fd, POLLIN, 0}};
    if (poll(pf, 2, (int)left) < 0 && errno != EINTR) return 0;
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof si) < 0 && errno != EAGAIN) return 0;
    }
    if (pf[1].revents) hx_fwd_read(w);
  }
}

/* Until the server has written its --port-file (forwarding its log
 * meanwhile): 0, or -1 on timeout or if the server exited first (then
 * *exited and *status are set). */
static int hx_wait_listening(pid_t pid, int sigfd, struct hx_fwd *w, const char *port_file,
                             int64_t deadline_ns, int *exited, int *status) {
  while ((w->port = pf_read(port_file)) <= 0) {
    if (w->port < 0) return -1;
    if (w->eof) { /* stderr closed: it exited, or will */
      *exited = hx_wait_child(pid, sigfd, w, deadline_ns, status);
      return -1;
    }
    int64_t left = (deadline_ns - cl_now_ns()) / 1000000;
    if (left <= 0) return -1;
    struct pollfd pf = {w->fd, POLLIN, 0};
    if (poll(&pf, 1, left < 10 ? (int)left : 10) < 0 && errno != EINTR) return -1;
    if (pf.revents) hx_fwd_read(w);
  }
  return 0;
}

static void hx_describe_status(char *buf, size_t len, int status) {
  if (WIFEXITED(status))
    snprintf(buf, len, "exit status %d%s", WEXITSTATUS(status),
             WEXITSTATUS(status) == 66 ? " (a Helgrind error under --config=helgrind)" : "");
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    snprintf(buf, len, "status 0x%x", (unsigned)status);
}

/* ---- main --------------------------------------------------------------- */

static void hx_free(struct hx_run *r) {
  for (size_t i = 0; i < HX_CLIENTS; i++) {
    struct hx_client *c = &r->cl[i];
    for (size_t k = 0; k < c->nreqs; k++) {
      free(c->reqs[k].wire);
      free(c->reqs[k].exp);
    }
    free(c->reqs);
    free(c->burst_end);
    free(c->why);
  }
}

/* Runs the clients against port; returns how many passed. */
static int hx_run_clients(struct hx_run *r, int64_t deadline_ns) {
  struct sockaddr_in addr;
  struct cl_callbacks cb = {hx_on_open, hx_on_line, hx_on_close};
  if (cl_resolve("127.0.0.1", (uint16_t)r->fwd.port, &addr) < 0 ||
      cl_init(&r->set, HX_CLIENTS, &addr, r->valgrind ? 50000 : 5000, &cb, r) < 0) {
    fprintf(stderr, "harness: client setup failed\n");
    return 0;
  }
  if (!r->fwd.eof && cl_watch(&r->set, r->fwd.fd, hx_fwd_watch, r) < 0)
    fprintf(stderr, "harness: cannot watch the server's stderr\n");
  cl_start(&r->set);
  while (r->set.active > 0) {
    int64_t left = (deadline_ns - cl_now_ns()) / 1000000;
    if (left <= 0) break;
    if (cl_poll(&r->set, left > 1000 ? 1000 : (int)left) < 0) {
      perror("harness: epoll_wait");
      break;
    }
  }
  for (size_t i = 0; i < HX_CLIENTS; i++) {
    struct cl_conn *conn = &r->set.conns[i];
    if (conn->state == CL_CONNECTING || conn->state == CL_OPEN)
      hx_fail(r, i, conn->state == CL_CONNECTING ? "timeout connecting" : "timeout waiting for a reply",
              NULL, 0);
  }
  cl_unwatch(&r->set, r->fwd.fd);
  cl_destroy(&r->set);
  int passed = 0;
  for (size_t i = 0; i < HX_CLIENTS; i++) passed += r->cl[i].done && !r->cl[i].failed;
  return passed;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: harness_test SERVER_BINARY [EXTRA SERVER ARGS...]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* interleave sanely with server| lines */
  static struct hx_run r; /* large: keep it off the stack */
  r.valgrind = te_under_valgrind();
  int scale = r.valgrind ? 10 : 1;
  for (unsigned i = 0; i < HX_CLIENTS; i++) hx_build_script(&r, i);

  /* Server command line: our settings first, the caller's extras after. */
  char **sargv = calloc((size_t)argc + 16, sizeof *sargv);
  if (!sargv) hx_oom();
  char max_line[16], port_file[512];
  snprintf(max_line, sizeof max_line, "%d", HX_MAX_LINE);
  if (pf_make_path(port_file, sizeof port_file, "harness") < 0) return 2;
  size_t k = 0;
  const char *fixed[] = {argv[1], "--port", "0", "--port-file", port_file, "--workers", "4",
                         "--max-line", max_line, "--queue-capacity", "4096",
                         "--max-connections", "256"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) sargv[k++] = (char *)fixed[i];
  for (int i = 2; i < argc; i++) sargv[k++] = argv[i];

  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, &old) < 0) return 2;
  int sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  r.fwd.fd = -1;
  pid_t pid = sigfd < 0 ? -1 : hx_spawn(sargv, &r.fwd.fd, &old);
  free(sargv);
  if (pid < 0) {
    perror("harness: cannot start the server");
    hx_free(&r);
    return 2;
  }
  fprintf(stderr, "harness: started %s (pid %d)%s\n", argv[1], (int)pid,
          r.valgrind ? " under valgrind: timeouts scaled up, PRIMES n scaled down" : "");

  int exited = 0, status = 0, ok = 1;
  char desc[128];
  if (hx_wait_listening(pid, sigfd, &r.fwd, port_file,
                        cl_now_ns() + (int64_t)HX_LISTEN_TIMEOUT_S * scale * 1000000000, &exited,
                        &status) < 0) {
    if (exited) hx_describe_status(desc, sizeof desc, status);
    printf("harness: the server never wrote its port to %s (%s)\n", port_file,
           exited ? desc : "timeout");
    ok = 0;
  }
  (void)unlink(port_file);
  int passed = 0;
  if (ok) {
    fprintf(stderr, "harness: server listening on port %d, starting %d clients\n", r.fwd.port,
            HX_CLIENTS);
    int64_t t0 = cl_now_ns();
    passed = hx_run_clients(&r, t0 + (int64_t)HX_RUN_TIMEOUT_S * scale * 1000000000);
    printf("harness: %d clients sent %" PRIu64 " requests (%" PRIu64 " invalid on purpose) in %"
           PRIu64 " bursts (%" PRIu64 " pipelined, up to %d per write), %" PRIu64
           " bytes; %" PRIu64 " replies checked in %.2f s\n",
           HX_CLIENTS, r.sent_reqs, r.sent_bad, r.sent_bursts, r.sent_pipelined, HX_PIPELINE,
           r.sent_bytes, r.checked, (double)(cl_now_ns() - t0) / 1e9);
    for (size_t i = 0; i < HX_CLIENTS; i++)
      if (r.cl[i].why) fputs(r.cl[i].why, stdout);
  }

  /* SIGTERM must drain and exit 0 within 2 s; valgrind slows the server's
   * shutdown (it also checks the process at exit), hence x5 there. */
  if (!exited) {
    int64_t limit_ms = (int64_t)HX_EXIT_TIMEOUT_MS * (r.valgrind ? 5 : 1);
    kill(pid, SIGTERM);
    if (!hx_wait_child(pid, sigfd, &r.fwd, cl_now_ns() + limit_ms * 1000000, &status)) {
      printf("harness: server did not exit within %" PRId64 " ms of SIGTERM; killing it\n",
             limit_ms);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ok = 0;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      hx_describe_status(desc, sizeof desc, status);
      printf("harness: server ended with %s after SIGTERM, want exit status 0\n", desc);
      ok = 0;
    } else {
      printf("harness: server exited 0 after SIGTERM\n");
    }
  }
  hx_fwd_read(&r.fwd); /* whatever it wrote last */
  close(r.fwd.fd);
  close(sigfd);
  hx_free(&r);
  if (ok && passed == HX_CLIENTS) {
    printf("PASS (%d/%d clients)\n", passed, HX_CLIENTS);
    return 0;
  }
  /* k = failed clients; the start-up / exit check failure is printed above */
  printf("FAIL (%d/%d clients%s)\n", HX_CLIENTS - passed, HX_CLIENTS,
         ok ? "" : "; server start-up or exit check failed");
  return 1;
}
