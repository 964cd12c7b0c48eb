/* stress_conn: what one stress_test connection does (see stress_conn.h).
 *
 * DESIGN: each connection has a reqq FIFO; a request is created (pushed,
 * its mix entry drawn) when it may be sent, written when the connection is
 * open, and settled by the reply line that answers it, so what is
 * outstanding is always the FIFO. Creating differs by mode only: the closed
 * loop tops the FIFO up to --pipeline whenever the connection is open; the
 * open loop pushes what sched says is due, up to --max-outstanding, open
 * connection or not, each stamped with its intended send time (the latency
 * origin). Writing, reply checking, reconnecting and giving up are shared.
 * A connection is done when it created all it was to create and none is
 * unanswered; it gives up when it closes without --reconnect, runs out of
 * connect attempts, or the run ends, and then everything it was to create
 * and has no final reply for is lost. The draw for a request happens only
 * once it can be pushed, so connection c's k-th request never depends on
 * timing.
 */
#include "tools/stress_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/expect.h"
#include "tools/mix.h"

enum { SC_MAX_ERROR_LINES = 10 };
#define SC_BACKOFF_MIN_NS 10000000LL  /* 10 ms, doubling per failed attempt */
#define SC_BACKOFF_MAX_NS 500000000LL /* 500 ms */

static int sc_may_print(struct run *r) { return r->error_lines++ < SC_MAX_ERROR_LINES; }

/* Requests connection i is to create in all; UINT64_MAX: not known yet. */
static uint64_t sc_target(const struct run *r, size_t i) {
  if (r->stopping) return r->conns[i].issued;
  if (r->o->rate) return sch_conn_planned(&r->sch, i);
  if (r->o->frames) return r->o->frames;
  return UINT64_MAX;
}

/* Creates connection i's next request, stamped t0. 0 or -ENOMEM. */
static int sc_push(struct run *r, size_t i, int64_t t0) {
  struct run_conn *sc = &r->conns[i];
  size_t req = r->o->rotate ? (size_t)((i + sc->issued) % r->o->mix.n)
                            : mix_draw(&r->o->mix, &sc->rng);
  int rc = rq_push(&sc->q, (uint32_t)req, t0);
  if (rc == 0) sc->issued++;
  return rc;
}

/* Creates the requests connection i may add now. */
static int sc_create(struct run *r, size_t i, int64_t now) {
  struct run_conn *sc = &r->conns[i];
  uint64_t target = sc_target(r, i);
  int rc = 0;
  if (!r->o->rate) { /* closed loop: keep the window full while open */
    while (rc == 0 && sc->open && rq_held(&sc->q) < r->o->pipeline && sc->issued < target)
      rc = sc_push(r, i, now);
    return rc;
  }
  uint64_t due = sch_conn_due(&r->sch, i, (uint64_t)(now - r->start));
  if (due > target) due = target;
  while (rc == 0 && sc->issued < due) {
    if (rq_held(&sc->q) >= r->o->max_outstanding) { /* the cap: wait for a reply */
      if (sc->delayed_mark != sc->issued + 1) r->rep.delayed++;
      sc->delayed_mark = sc->issued + 1;
      break;
    }
    uint64_t j = sch_request(&r->sch, i, sc->issued);
    rc = sc_push(r, i, r->start + (int64_t)sch_offset_ns(&r->sch, j));
  }
  return rc;
}

/* Writes every unwritten request of connection i in one cl_send. */
static int sc_write(struct run *r, size_t i, int64_t now) {
  struct run_conn *sc = &r->conns[i];
  if (!sc->open) return 0;
  size_t off = 0;
  struct rq_entry *e;
  while ((e = rq_next_unsent(&sc->q)) != NULL) {
    const struct run_req *q = &r->reqs[e->req];
    if (off + q->line_len > r->batch_cap) {
      size_t cap = r->batch_cap * 2 + q->line_len;
      char *p = realloc(r->batch, cap);
      if (!p) return -ENOMEM;
      r->batch = p;
      r->batch_cap = cap;
    }
    memcpy(r->batch + off, q->line, q->line_len);
    off += q->line_len;
    if (e->sends > 1) {
      r->rep.resends++;
    } else {
      r->rep.sent++;
      r->last_send = now;
    }
  }
  return off ? cl_send(&r->set.conns[i], r->batch, off) : 0;
}

void sc_fill(struct run *r, size_t i) {
  if (!r->start || r->conns[i].done || r->error) return;
  int64_t now = cl_now_ns();
  int rc = sc_create(r, i, now);
  if (rc == 0) rc = sc_write(r, i, now);
  if (rc < 0) r->error = rc;
}

/* Marks connection i done and closes it (no callback). */
static void sc_done(struct run *r, size_t i) {
  struct run_conn *sc = &r->conns[i];
  sc->done = 1;
  sc->open = 0;
  r->live--;
  if (sc->retry_at) {
    sc->retry_at = 0;
    r->pending_retry--;
  }
  cl_close(&r->set.conns[i]);
}

void sc_finish_if_done(struct run *r, size_t i) {
  struct run_conn *sc = &r->conns[i];
  if (!r->start || sc->done || sc->issued < sc_target(r, i) || rq_open(&sc->q) > 0) return;
  sc_done(r, i);
}

/* Connection i ends for good: what it had to do and did not get a reply
 * for is lost. */
void sc_give_up(struct run *r, size_t i, const char *why) {
  struct run_conn *sc = &r->conns[i];
  if (sc->done) return;
  uint64_t target = sc_target(r, i);
  if (target == UINT64_MAX) target = sc->issued;
  r->rep.lost += target - sc->settled;
  if (!sc->ever_opened) {
    r->rep.connect_failed++;
    r->unopened--;
  }
  if (sc_may_print(r))
    fprintf(stderr, "client %zu: %s%s after %" PRIu64 " of %" PRIu64 " replies\n", i,
            sc->ever_opened ? "" : "connect failed: ", why, sc->settled, target);
  sc_done(r, i);
}

static void sc_on_open(struct cl_conn *c, void *arg) {
  struct run *r = arg;
  struct run_conn *sc = &r->conns[c->idx];
  sc->open = 1;
  sc->attempts = 0;
  if (sc->ever_opened) {
    r->rep.reconnects++;
  } else {
    sc->ever_opened = 1;
    r->unopened--;
  }
  sc_fill(r, c->idx); /* after a reconnect: the resends first, in order */
}

/* One wrong reply line: the request, what was expected, what came. */
static void sc_print_wrong(struct run *r, size_t i, const struct run_req *q, const char *line,
                            size_t len) {
  if (!sc_may_print(r)) return;
  fprintf(stderr, "client %zu request %" PRIu64 ": sent ", i, r->conns[i].settled + 1);
  rep_print_escaped(stderr, q->line, q->line_len - 1);
  fprintf(stderr, " expected %s", q->kind == EX_INVALID ? "prefix " : "");
  rep_print_escaped(stderr, q->exp, q->exp_len);
  fputs(" got ", stderr);
  rep_print_escaped(stderr, line, len);
  fputc('\n', stderr);
}

static void sc_on_line(struct cl_conn *c, const char *line, size_t len, void *arg) {
  struct run *r = arg;
  size_t i = c->idx;
  struct run_conn *sc = &r->conns[i];
  struct rq_entry *e = rq_answer(&sc->q);
  if (e == NULL) {
    rep_reply(&r->rep, SIZE_MAX, EX_REPLY_WRONG, 0);
    if (sc_may_print(r)) {
      fprintf(stderr, "client %zu: unsolicited reply ", i);
      rep_print_escaped(stderr, line, len);
      fputc('\n', stderr);
    }
    return;
  }
  const struct run_req *q = &r->reqs[e->req];
  int kind = ex_classify(q->kind, q->exp, q->exp_len, line, len);
  if (kind != EX_REPLY_SHUTDOWN || !r->o->reconnect) { /* else: resent after the reconnect */
    int64_t lat = cl_now_ns() - e->t0_ns;
    rep_reply(&r->rep, e->req, kind, lat > 0 ? (uint64_t)lat : 0);
    if (kind == EX_REPLY_WRONG) sc_print_wrong(r, i, q, line, len);
    rq_done(&sc->q, e);
    sc->settled++;
  }
  sc_fill(r, i);
  sc_finish_if_done(r, i);
}

static void sc_on_close(struct cl_conn *c, int err, void *arg) {
  struct run *r = arg;
  size_t i = c->idx;
  struct run_conn *sc = &r->conns[i];
  if (sc->done) return;
  int was_open = sc->open;
  sc->open = 0;
  const char *why = err ? strerror(err) : "connection closed by server";
  if (!r->o->reconnect) {
    sc_give_up(r, i, why);
    return;
  }
  rq_rewind(&sc->q);
  sc_finish_if_done(r, i); /* nothing left to ask: no need to come back */
  if (sc->done) return;
  if (was_open) sc->attempts = 0; /* a new outage */
  else sc->attempts++;
  if (sc->attempts >= r->o->reconnect_attempts) {
    char msg[160];
    snprintf(msg, sizeof msg, "gave up after %u connect attempts (%s)", sc->attempts, why);
    sc_give_up(r, i, msg);
    return;
  }
  int64_t backoff = SC_BACKOFF_MIN_NS << (sc->attempts < 8 ? sc->attempts : 8);
  sc->retry_at = cl_now_ns() + (backoff < SC_BACKOFF_MAX_NS ? backoff : SC_BACKOFF_MAX_NS);
  r->pending_retry++;
}

/* Starts the connect attempts that are due; returns the next one's time. */
int64_t sc_retry_due(struct run *r, int64_t now) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; r->pending_retry > 0 && i < r->set.n; i++) {
    struct run_conn *sc = &r->conns[i];
    if (!sc->retry_at) continue;
    if (now < sc->retry_at) {
      if (sc->retry_at < next) next = sc->retry_at;
      continue;
    }
    sc->retry_at = 0;
    r->pending_retry--;
    int rc = cl_reconnect(&r->set.conns[i]);
    if (rc < 0) sc_on_close(&r->set.conns[i], -rc, r); /* counts as a failed attempt */
    if (sc->retry_at && sc->retry_at < next) next = sc->retry_at;
  }
  return next;
}

const struct cl_callbacks sc_callbacks = {sc_on_open, sc_on_line, sc_on_close};
