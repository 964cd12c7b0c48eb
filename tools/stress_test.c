/* stress_test: load generator and reply checker for pool_server.
 *
 *   stress_test --port P [--host H] [--clients N] [--frames F] [--pipeline K]
 *               [--cmd "HASH abc"] [--duration S] [--timeout S] [--json]
 *
 * Design: one thread, one epoll (tools/client). N connections each send F
 * requests (or keep sending for S seconds), keeping up to K in flight; the
 * first K go out in one write. Requests come from a fixed rotation (the
 * --cmd line, or PING/ECHO/HASH/PRIMES) so connection c's i-th reply must
 * answer rotation[(c + i) % n], whose expected reply tools/expect computed
 * once up front. A wrong or out-of-order reply, a missing one (connection
 * closed early, global timeout) or a failed connect is an error; "ERROR:
 * server busy" is counted apart. Latency (send to reply line) of good
 * replies goes into a log-linear histogram (tools/histogram). Progress is
 * printed on stderr once a second after the first 3 s.
 * Exit: 0 all replies correct (busy allowed), 1 errors, 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/client.h"
#include "tools/expect.h"
#include "tools/histogram.h"

#define ST_USAGE                                                                  \
  "usage: stress_test --port P [--host H] [--clients N] [--frames F] "            \
  "[--pipeline K] [--cmd \"CMD ARG\"] [--duration S] [--timeout S] [--json]\n"

enum { ST_MAX_ERROR_LINES = 10, ST_CONNECT_TIMEOUT_MS = 5000 };

struct st_opts {
  const char *host;
  long port, clients, frames, pipeline;
  double duration, timeout; /* seconds; duration 0: run by frames */
  const char *cmd;          /* NULL: the default rotation */
  int json;
};

struct st_req {            /* one entry of the rotation */
  char *line;              /* request with its '\n' */
  size_t line_len;
  int kind;                /* enum ex_kind */
  char *exp;
  size_t exp_len;
};

struct st_conn {
  uint64_t sent, done;
  int64_t *t_sent;         /* ring of pipeline send times, by request number */
  int opened, finished;
};

struct st_run {
  struct st_opts o;
  struct st_req *reqs;
  size_t nreqs;
  struct st_conn *conns;
  struct cl_set set;
  struct hist hist;
  uint64_t requests, ok, busy, wrong, missing, connect_failed;
  int stopping;            /* duration over: send no more */
  int error_lines;
  char *batch;             /* scratch for one write of up to K requests */
};

static const char *const st_default_mix[] = {
    "PING", "ECHO hello from stress_test", "HASH abc", "PRIMES 1000",
};

static void st_usage_error(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "stress_test: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n" ST_USAGE);
  exit(2);
}

static long st_parse_long(const char *flag, const char *v, long lo, long hi) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    st_usage_error("invalid value for %s: '%s'", flag, v);
  return x;
}

static double st_parse_secs(const char *flag, const char *v) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (errno || end == v || *end || !(x > 0) || x > 86400 * 7)
    st_usage_error("invalid value for %s: '%s'", flag, v);
  return x;
}

static void st_parse_args(int argc, char **argv, struct st_opts *o) {
  *o = (struct st_opts){"127.0.0.1", -1, 10, 100, 1, 0, 0, NULL, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    char flag[32];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(ST_USAGE, stdout);
      exit(0);
    }
    if (strcmp(a, "--json") == 0) {
      o->json = 1;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t flen = eq ? (size_t)(eq - a) : strlen(a);
    if (strncmp(a, "--", 2) != 0 || flen >= sizeof flag)
      st_usage_error("unknown option '%s'%s", a, "");
    memcpy(flag, a, flen);
    flag[flen] = '\0';
    if (eq)
      v = eq + 1;
    else if (i + 1 < argc)
      v = argv[++i];
    else
      st_usage_error("missing value for %s%s", flag, "");
    if (strcmp(flag, "--port") == 0) o->port = st_parse_long(flag, v, 1, 65535);
    else if (strcmp(flag, "--host") == 0 && *v) o->host = v;
    else if (strcmp(flag, "--clients") == 0) o->clients = st_parse_long(flag, v, 1, 100000);
    else if (strcmp(flag, "--frames") == 0) o->frames = st_parse_long(flag, v, 1, LONG_MAX / 2);
    else if (strcmp(flag, "--pipeline") == 0) o->pipeline = st_parse_long(flag, v, 1, 100000);
    else if (strcmp(flag, "--duration") == 0) o->duration = st_parse_secs(flag, v);
    else if (strcmp(flag, "--timeout") == 0) o->timeout = st_parse_secs(flag, v);
    else if (strcmp(flag, "--cmd") == 0 && *v && !strpbrk(v, "\r\n")) o->cmd = v;
    else if (strcmp(flag, "--host") == 0 || strcmp(flag, "--cmd") == 0)
      st_usage_error("invalid value for %s: '%s'", flag, v);
    else
      st_usage_error("unknown option '%s'%s", flag, "");
  }
  if (o->port < 0) st_usage_error("--port is required%s%s", "", "");
  if (o->timeout == 0) o->timeout = o->duration > 0 ? o->duration + 30 : 60;
}

/* Builds the rotation and each entry's expected reply. */
static int st_build_reqs(struct st_run *r) {
  const char *one[1] = {r->o.cmd};
  const char *const *src = r->o.cmd ? one : st_default_mix;
  size_t n = r->o.cmd ? 1 : sizeof st_default_mix / sizeof st_default_mix[0];
  r->reqs = calloc(n, sizeof *r->reqs);
  if (!r->reqs) return -ENOMEM;
  r->nreqs = n;
  for (size_t i = 0; i < n; i++) {
    struct st_req *q = &r->reqs[i];
    size_t len = strlen(src[i]);
    q->line = malloc(len + 2);
    q->exp = malloc(ex_reply_cap(len));
    if (!q->line || !q->exp) return -ENOMEM;
    memcpy(q->line, src[i], len);
    q->line[len] = '\n';
    q->line[len + 1] = '\0';
    q->line_len = len + 1;
    q->kind = ex_expect(src[i], len, q->exp, ex_reply_cap(len), &q->exp_len);
    if (q->kind < 0) return q->kind;
  }
  return 0;
}

static struct st_req *st_req_for(struct st_run *r, size_t conn, uint64_t n) {
  return &r->reqs[(conn + n) % r->nreqs];
}

static uint64_t st_target(const struct st_run *r, const struct st_conn *sc) {
  if (r->o.duration > 0) return r->stopping ? sc->sent : UINT64_MAX;
  return (uint64_t)r->o.frames;
}

/* Prints s[0..len) with non-printable bytes escaped, at most 200 bytes. */
static void st_print_escaped(FILE *f, const char *s, size_t len) {
  fputc('"', f);
  for (size_t i = 0; i < len && i < 200; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch >= 0x20 && ch < 0x7f) fputc(ch, f);
    else fprintf(f, "\\x%02x", ch);
  }
  fputs(len > 200 ? "\"..." : "\"", f);
}

static void st_fill(struct st_run *r, struct cl_conn *c) {
  struct st_conn *sc = c->user;
  uint64_t target = st_target(r, sc);
  size_t off = 0;
  int64_t now = cl_now_ns();
  while (sc->sent - sc->done < (uint64_t)r->o.pipeline && sc->sent < target) {
    struct st_req *q = st_req_for(r, c->idx, sc->sent);
    memcpy(r->batch + off, q->line, q->line_len);
    off += q->line_len;
    sc->t_sent[sc->sent % (uint64_t)r->o.pipeline] = now;
    sc->sent++;
  }
  if (off && cl_send(c, r->batch, off) < 0) {
    fprintf(stderr, "stress_test: out of memory\n");
    exit(1);
  }
}

/* Closes c as done if it has nothing left to send or receive. */
static void st_maybe_finish(struct st_run *r, struct cl_conn *c) {
  struct st_conn *sc = c->user;
  if (!sc->finished && sc->done == st_target(r, sc)) {
    sc->finished = 1;
    cl_close(c);
  }
}

static void st_on_open(struct cl_conn *c, void *arg) {
  struct st_conn *sc = c->user;
  sc->opened = 1;
  st_fill(arg, c);
}

static void st_on_line(struct cl_conn *c, const char *line, size_t len, void *arg) {
  struct st_run *r = arg;
  struct st_conn *sc = c->user;
  r->requests++;
  if (sc->done == sc->sent) {
    r->wrong++;
    if (r->error_lines++ < ST_MAX_ERROR_LINES) {
      fprintf(stderr, "client %zu: unsolicited reply ", c->idx);
      st_print_escaped(stderr, line, len);
      fputc('\n', stderr);
    }
    return;
  }
  struct st_req *q = st_req_for(r, c->idx, sc->done);
  int64_t lat = cl_now_ns() - sc->t_sent[sc->done % (uint64_t)r->o.pipeline];
  if (len == sizeof EX_BUSY - 1 && memcmp(line, EX_BUSY, len) == 0) {
    r->busy++;
  } else if (ex_match(q->kind, q->exp, q->exp_len, line, len)) {
    r->ok++;
    hist_record(&r->hist, lat > 0 ? (uint64_t)lat : 0);
  } else {
    r->wrong++;
    if (r->error_lines++ < ST_MAX_ERROR_LINES) {
      fprintf(stderr, "client %zu request %" PRIu64 ": sent ", c->idx, sc->done + 1);
      st_print_escaped(stderr, q->line, q->line_len - 1);
      fprintf(stderr, " expected %s", q->kind == EX_INVALID ? "prefix " : "");
      st_print_escaped(stderr, q->exp, q->exp_len);
      fprintf(stderr, " got ");
      st_print_escaped(stderr, line, len);
      fputc('\n', stderr);
    }
  }
  sc->done++;
  st_fill(r, c);
  st_maybe_finish(r, c);
}

static void st_lost(struct st_run *r, struct cl_conn *c, const char *why) {
  struct st_conn *sc = c->user;
  uint64_t target = r->o.duration > 0 ? sc->sent : (uint64_t)r->o.frames;
  if (!sc->opened) r->connect_failed++;
  r->missing += target - sc->done;
  if (r->error_lines++ < ST_MAX_ERROR_LINES)
    fprintf(stderr, "client %zu: %s%s after %" PRIu64 " of %" PRIu64 " replies\n", c->idx,
            sc->opened ? "" : "connect failed: ", why, sc->done, target);
  sc->finished = 1;
}

static void st_on_close(struct cl_conn *c, int err, void *arg) {
  struct st_run *r = arg;
  struct st_conn *sc = c->user;
  if (sc->finished) return;
  st_lost(r, c, err ? strerror(err) : "connection closed by server");
}

static void st_progress(struct st_run *r, double t, uint64_t *last_requests, double *last_t) {
  fprintf(stderr, "[%6.1fs] requests %" PRIu64 "  ok %" PRIu64 "  busy %" PRIu64
          "  errors %" PRIu64 "  %.0f req/s  open %zu\n", t, r->requests, r->ok, r->busy,
          r->wrong + r->missing, (double)(r->requests - *last_requests) / (t - *last_t),
          r->set.active);
  *last_requests = r->requests;
  *last_t = t;
}

static void st_print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

static void st_report(struct st_run *r, double elapsed) {
  uint64_t errors = r->wrong + r->missing;
  double rps = elapsed > 0 ? (double)r->requests / elapsed : 0;
  double us[5] = {hist_percentile(&r->hist, 50) / 1e3, hist_percentile(&r->hist, 90) / 1e3,
                  hist_percentile(&r->hist, 99) / 1e3, hist_percentile(&r->hist, 99.9) / 1e3,
                  r->hist.max == 0 ? 0 : r->hist.max / 1e3};
  const char *cmd = r->o.cmd ? r->o.cmd : "mix";
  if (r->o.json) {
    printf("{\"clients\": %ld, \"frames\": %ld, \"pipeline\": %ld, \"cmd\": ", r->o.clients,
           r->o.duration > 0 ? 0 : r->o.frames, r->o.pipeline);
    st_print_json_string(cmd);
    printf(", \"requests\": %" PRIu64 ", \"ok\": %" PRIu64 ", \"busy\": %" PRIu64
           ", \"errors\": %" PRIu64 ", \"elapsed_s\": %.3f, \"rps\": %.1f, \"p50_us\": %.1f"
           ", \"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f}\n",
           r->requests, r->ok, r->busy, errors, elapsed, rps, us[0], us[1], us[2], us[3], us[4]);
    return;
  }
  printf("stress_test: %s:%ld  clients %ld  %s %ld  pipeline %ld  cmd %s\n", r->o.host,
         r->o.port, r->o.clients, r->o.duration > 0 ? "duration_s" : "frames",
         r->o.duration > 0 ? (long)r->o.duration : r->o.frames, r->o.pipeline,
         r->o.cmd ? r->o.cmd : "mix (PING, ECHO, HASH, PRIMES 1000)");
  printf("requests %" PRIu64 "  ok %" PRIu64 "  busy %" PRIu64 "  errors %" PRIu64
         " (wrong %" PRIu64 ", missing %" PRIu64 ", failed connects %" PRIu64 ")\n",
         r->requests, r->ok, r->busy, errors, r->wrong, r->missing, r->connect_failed);
  printf("elapsed %.3f s  %.0f requests/s\n", elapsed, rps);
  printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n", us[0],
         us[1], us[2], us[3], us[4], hist_mean(&r->hist) / 1e3);
  printf("%s\n", errors ? "FAIL" : "PASS");
}

static void st_free(struct st_run *r) {
  cl_destroy(&r->set);
  for (size_t i = 0; r->conns && i < (size_t)r->o.clients; i++) free(r->conns[i].t_sent);
  free(r->conns);
  for (size_t i = 0; r->reqs && i < r->nreqs; i++) {
    free(r->reqs[i].line);
    free(r->reqs[i].exp);
  }
  free(r->reqs);
  free(r->batch);
}

/* Drives the connections until all are done, or the timeout. */
static void st_loop(struct st_run *r, int64_t start) {
  int64_t deadline = start + (int64_t)(r->o.timeout * 1e9);
  int64_t stop_at = r->o.duration > 0 ? start + (int64_t)(r->o.duration * 1e9) : INT64_MAX;
  int64_t next_progress = start + 3000000000LL;
  uint64_t last_requests = 0;
  double last_t = 0;
  while (r->set.active > 0) {
    int64_t now = cl_now_ns();
    if (now >= deadline) {
      for (size_t i = 0; i < r->set.n; i++) {
        struct cl_conn *c = &r->set.conns[i];
        if (c->state == CL_CONNECTING || c->state == CL_OPEN) {
          st_lost(r, c, "global timeout");
          cl_close(c);
        }
      }
      break;
    }
    if (now >= stop_at && !r->stopping) {
      r->stopping = 1;
      for (size_t i = 0; i < r->set.n; i++)
        if (r->set.conns[i].state == CL_OPEN) st_maybe_finish(r, &r->set.conns[i]);
      continue;
    }
    if (now >= next_progress) {
      st_progress(r, (double)(now - start) / 1e9, &last_requests, &last_t);
      next_progress += 1000000000LL;
    }
    int64_t wake = deadline < stop_at ? deadline : stop_at;
    if (next_progress < wake) wake = next_progress;
    int64_t ms = (wake - now) / 1000000 + 1;
    if (cl_poll(&r->set, ms > 1000 ? 1000 : (int)ms) < 0) {
      perror("stress_test: epoll_wait");
      exit(1);
    }
  }
}

int main(int argc, char **argv) {
  struct st_run r;
  memset(&r, 0, sizeof r);
  r.set.epfd = -1;
  st_parse_args(argc, argv, &r.o);
  hist_init(&r.hist);
  struct sockaddr_in addr;
  if (cl_resolve(r.o.host, (uint16_t)r.o.port, &addr) < 0) {
    fprintf(stderr, "stress_test: cannot resolve host '%s'\n", r.o.host);
    return 1;
  }
  int rc = st_build_reqs(&r);
  size_t max_line = 0;
  for (size_t i = 0; rc == 0 && i < r.nreqs; i++)
    if (r.reqs[i].line_len > max_line) max_line = r.reqs[i].line_len;
  r.conns = calloc((size_t)r.o.clients, sizeof *r.conns);
  r.batch = malloc(max_line * (size_t)r.o.pipeline + 1);
  struct cl_callbacks cb = {st_on_open, st_on_line, st_on_close};
  if (rc == 0 && (!r.conns || !r.batch)) rc = -ENOMEM;
  if (rc == 0) rc = cl_init(&r.set, (size_t)r.o.clients, &addr, ST_CONNECT_TIMEOUT_MS, &cb, &r);
  for (size_t i = 0; rc == 0 && i < (size_t)r.o.clients; i++) {
    r.conns[i].t_sent = calloc((size_t)r.o.pipeline, sizeof(int64_t));
    if (!r.conns[i].t_sent) rc = -ENOMEM;
    r.set.conns[i].user = &r.conns[i];
  }
  if (rc < 0) {
    fprintf(stderr, "stress_test: setup failed: %s\n", strerror(-rc));
    st_free(&r);
    return 1;
  }
  int64_t start = cl_now_ns();
  cl_start(&r.set);
  st_loop(&r, start);
  double elapsed = (double)(cl_now_ns() - start) / 1e9;
  st_report(&r, elapsed);
  int failed = r.wrong + r.missing + r.connect_failed > 0;
  st_free(&r);
  return failed ? 1 : 0;
}
