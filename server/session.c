/* session: one connection's requests, in order (see session.h).
 *
 * DESIGN
 *
 *   on_data --parse--> cmd_lookup --loop command--> answer --> sess_reply
 *                                  \-pool command--> req (FIFO) --ol_submit-->
 *   offload done/expire (loop thread) --> decide the req --> sess_flush
 *
 * Reply order. A session keeps a FIFO of the requests it has not answered
 * yet. A reply is written only from the head of the FIFO, and only once
 * decided, so pipelined requests are answered in order however the workers
 * finish. An inline reply skips the FIFO only when it is empty; otherwise
 * a copy of it waits in the FIFO, decided.
 *
 * Who owns a req. The session's FIFO (until its reply is written or the
 * session closes) and the offload (from ol_submit until done()). Whichever
 * lets go last frees it: a closing session sets r->sess = NULL on requests
 * the offload still holds; done() frees those.
 *
 * Flow control. Reading stops while the session has max_inflight requests
 * outstanding, holds out_limit bytes in its FIFO (job state and argument
 * copies waiting for the pool, replies queued behind slower requests), or
 * has a request the offload is holding for want of room (--on-full hold);
 * it resumes from sess_flush when none of that holds. Parsing also stops
 * while the connection's output is over its limit (cn_out_full); net/conn
 * resumes that one. A resume may happen inside on_data: net/conn offers
 * the input left then again (conn.h: Flow control).
 *
 * Threads. Everything runs on the loop thread except sess_work, which a
 * worker runs and which touches only the request's job, def and conn_id,
 * all written before ol_submit (the pool's lock publishes them).
 */
#include "server/session.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "server/command.h"
#include "server/log.h"
#include "server/protocol.h"

struct session {
  struct srv *srv;
  cn_t *cn;
  struct list link;        /* srv->sessions */
  struct list fifo;        /* struct req by link: not answered yet, in arrival order */
  size_t pending;          /* length of the FIFO */
  size_t fifo_bytes;       /* sum of ->len over it */
  unsigned held;           /* of those, held by the offload for want of room */
  int paused;              /* reading paused by sess_must_pause */
  int closing;             /* close once the FIFO drains (QUIT, EOF, framing error) */
  int close_sent;          /* cn_close already called */
  struct pr_cursor cur;    /* the parser's place in an incomplete request */
};

struct req {
  ol_work_t work;          /* first: an ol_work_t * is a struct req * */
  struct list link;        /* the session's FIFO */
  struct srv *srv;
  struct session *sess;    /* NULL once nobody waits for the reply */
  const struct cmd_def *def; /* NULL: a queued inline reply */
  uint64_t conn_id;        /* for logs, which workers may write */
  uint64_t read_ns;        /* pool commands: when the request was read */
  uint64_t decided_ns;     /* ... and when its reply was decided */
  enum st_outcome outcome; /* ... how (counted in stats at done) */
  int resp;
  int decided;             /* ->reply is final */
  struct pr_reply reply;
  size_t len;              /* bytes in data[] */
  struct cmd_args args;    /* pool commands: spans into data[] */
  max_align_t data[];      /* the job, then argument copies; or a queued reply */
};

/* Job state is laid out first in data[], aligned; argument copies follow. */
static size_t sess_job_bytes(const struct cmd_def *def) {
  size_t a = sizeof(max_align_t);
  return (def->job_size + a - 1) / a * a;
}

struct session *sess_of(struct list *link) { return list_entry(link, struct session, link); }

/* ---- the FIFO and replies ----------------------------------------------- */

static int sess_must_pause(const struct session *ss) {
  const struct srv_config *cfg = ss->srv->cfg;
  return ss->pending >= cfg->max_inflight || ss->fifo_bytes >= cfg->out_limit || ss->held > 0;
}

static struct req *sess_req_new(struct session *ss, const struct cmd_def *def, int resp,
                                size_t len) {
  struct req *r = calloc(1, sizeof *r + len);
  if (!r) return NULL;
  r->srv = ss->srv;
  r->sess = ss;
  r->def = def;
  r->conn_id = cn_id(ss->cn);
  r->resp = resp;
  r->len = len;
  list_push_back(&ss->fifo, &r->link);
  ss->pending++;
  ss->fifo_bytes += len;
  ss->srv->fifo_bytes += len;
  return r;
}

static void sess_fifo_drop(struct session *ss, struct req *r) {
  list_del(&r->link);
  ss->pending--;
  ss->fifo_bytes -= r->len;
  ss->srv->fifo_bytes -= r->len;
}

static void sess_write(struct session *ss, const struct pr_reply *rep) {
  /* -EPIPE means the connection is already closing: the reply has nowhere
   * to go, which is the client's doing. */
  if (rep->head_len) (void)cn_write(ss->cn, rep->head, rep->head_len);
  if (rep->body_len) (void)cn_write(ss->cn, rep->body, rep->body_len);
  if (rep->tail_len) (void)cn_write(ss->cn, rep->tail, rep->tail_len);
}

/* Writes every decided reply at the head of the FIFO, then resumes reading
 * or closes as the FIFO allows. */
static void sess_flush(struct session *ss) {
  struct srv *s = ss->srv;
  struct list *first;
  while ((first = list_first(&ss->fifo)) != NULL) {
    struct req *r = list_entry(first, struct req, link);
    if (!r->decided) break;
    sess_fifo_drop(ss, r);
    sess_write(ss, &r->reply);
    LG_DBG("conn=%" PRIu64 " reply written", r->conn_id);
    if (ol_work_busy(&r->work)) r->sess = NULL; /* answered early: done() frees it */
    else free(r);
  }
  if (ss->paused && !sess_must_pause(ss) && s->phase == SRV_RUNNING) {
    ss->paused = 0;
    cn_pause_read(ss->cn, 0);
  }
  if (list_empty(&ss->fifo) && (ss->closing || s->phase != SRV_RUNNING) && !ss->close_sent) {
    ss->close_sent = 1;
    cn_close(ss->cn, 1);
  }
}

/* Answers now if nothing is ahead, else queues a copy behind the rest. */
static void sess_reply(struct session *ss, const struct pr_reply *rep, int resp) {
  if (list_empty(&ss->fifo)) {
    sess_write(ss, rep);
    return;
  }
  size_t len = pr_reply_len(rep);
  struct req *r = sess_req_new(ss, NULL, resp, len);
  if (!r) {
    LG_ERR("conn=%" PRIu64 " out of memory queueing a reply: closing", cn_id(ss->cn));
    ss->closing = 1;
    return;
  }
  char *p = (char *)r->data;
  memcpy(p, rep->head, rep->head_len);
  if (rep->body_len) memcpy(p + rep->head_len, rep->body, rep->body_len);
  memcpy(p + rep->head_len + rep->body_len, rep->tail, rep->tail_len);
  memset(&r->reply, 0, sizeof r->reply);
  r->reply.body = p;
  r->reply.body_len = len;
  r->decided = 1;
}

static void sess_decide_error(struct req *r, enum pr_err code, const char *msg) {
  pr_reply_error(&r->reply, r->resp, code, msg);
  r->decided = 1;
}

/* A pool request's reply is decided: remember how and when (stats). */
static void sess_decided(struct req *r, enum st_outcome o) {
  r->outcome = o;
  r->decided_ns = clk_now_ns();
}

/* ---- the trip through the pool ------------------------------------------ */

static int sess_cancelled(const void *w) { return ol_work_cancelled(w); }

/* The command's name as the protocol shows it (upper case), for logs. */
static const char *sess_name(const struct cmd_def *def, char out[16]) {
  size_t i = 0;
  for (; def->name[i] && i < 15; i++) {
    char c = def->name[i];
    out[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
  }
  out[i] = '\0';
  return out;
}

/* Runs on a worker. Touches only the req's job, def and conn_id. */
static int sess_work(ol_work_t *w) {
  struct req *r = (struct req *)w;
  const char *error = NULL;
  char name[16];
  LG_DBG("conn=%" PRIu64 " %s start", r->conn_id, sess_name(r->def, name));
  int rc = r->def->run(r->data, sess_cancelled, w, &error);
  LG_DBG("conn=%" PRIu64 " %s done: %s", r->conn_id, sess_name(r->def, name),
         rc ? strerror(-rc) : "ok");
  if (rc) w->error = error ? error : rc == -ECANCELED ? "cancelled" : "internal error";
  return rc;
}

/* The answer is due before the work is over (ol_work_t.expire). */
static void sess_expire(ol_work_t *w, enum ol_status why) {
  struct req *r = (struct req *)w;
  struct srv *s = r->srv;
  if (r->decided) return;
  if (why == OL_CANCELLED) {
    s->n.cancelled++;
    sess_decide_error(r, PR_E_SHUTDOWN, NULL);
    sess_decided(r, ST_CANCELLED);
  } else {
    s->n.timeouts++;
    if (why == OL_EXPIRED) s->n.expired++;
    sess_decide_error(r, PR_E_TIMEOUT, NULL);
    sess_decided(r, ST_TIMEOUT);
  }
  char name[16];
  LG_DBG("conn=%" PRIu64 " %s %s", r->conn_id, sess_name(r->def, name),
         why == OL_CANCELLED ? "cancelled" : "timed out");
  if (r->sess) sess_flush(r->sess);
}

/* The pool has let go of w: decide its reply unless already decided, then
 * write it (or free it, if nobody waits). */
static void sess_done(ol_work_t *w, enum ol_status st) {
  struct req *r = (struct req *)w;
  struct srv *s = r->srv;
  if (!r->decided) {
    switch (st) {
      case OL_OK:
        s->n.completed++;
        r->def->reply(r->data, r->resp, &r->reply);
        r->decided = 1;
        sess_decided(r, ST_OK);
        break;
      case OL_FAILED:
        s->n.errors++;
        sess_decide_error(r, PR_E_FAILED, w->error);
        sess_decided(r, ST_FAILED);
        break;
      case OL_EXPIRED:
      case OL_TIMEOUT:
        s->n.timeouts++;
        s->n.expired += st == OL_EXPIRED;
        sess_decide_error(r, PR_E_TIMEOUT, NULL);
        sess_decided(r, ST_TIMEOUT);
        break;
      case OL_CANCELLED:
        s->n.cancelled++;
        sess_decide_error(r, PR_E_SHUTDOWN, NULL);
        sess_decided(r, ST_CANCELLED);
        break;
    }
  }
  uint64_t wait_ns, run_ns;
  ol_work_times(w, &wait_ns, &run_ns);
  st_pool_done(&s->st, cmd_index(r->def), w->lane, r->outcome, wait_ns, run_ns,
               r->decided_ns - r->read_ns);
  if (r->sess) sess_flush(r->sess);
  else free(r);
  srv_maybe_finish(s);
}

/* A held request went to the pool: its session may read again. */
static void sess_admit(ol_work_t *w) {
  struct req *r = (struct req *)w;
  if (!r->sess) return;
  r->sess->held--;
  sess_flush(r->sess);
}

static void sess_submit(struct session *ss, const struct cmd_def *def, const struct cmd_args *a) {
  struct srv *s = ss->srv;
  size_t job = sess_job_bytes(def), bytes = 0, nv = a->n < PR_MAX_ARGS ? a->n : PR_MAX_ARGS;
  for (size_t i = 0; i < nv; i++) bytes += a->v[i].len;
  struct req *r = sess_req_new(ss, def, a->resp, job + bytes);
  if (!r) {
    struct pr_reply rep;
    pr_reply_error(&rep, a->resp, PR_E_FAILED, "out of memory");
    sess_reply(ss, &rep, a->resp);
    return;
  }
  /* The job may keep pointers into these copies: they live as long as r. */
  char *p = (char *)r->data + job;
  r->args.resp = a->resp;
  r->args.n = a->n;
  for (size_t i = 0; i < nv; i++) {
    if (a->v[i].len) memcpy(p, a->v[i].p, a->v[i].len);
    r->args.v[i].p = p;
    r->args.v[i].len = a->v[i].len;
    p += a->v[i].len;
  }
  def->prepare(r->data, &r->args);
  r->read_ns = clk_now_ns();
  r->work.work = sess_work;
  r->work.done = sess_done;
  r->work.expire = sess_expire;
  r->work.admit = sess_admit;
  r->work.lane = s->lane_of[cmd_index(def)];
  int rc = s->phase == SRV_RUNNING ? ol_submit(s->ol, &r->work) : -EPIPE;
  if (rc >= 0) {
    s->n.submitted++;
    if (rc == 1) { /* held: reading stops until it is admitted */
      ss->held++;
      s->n.held++;
    }
    char name[16];
    LG_DBG("conn=%" PRIu64 " %s %s", r->conn_id, sess_name(def, name), rc == 1 ? "held" : "queued");
  } else if (rc == -EAGAIN) {
    s->n.rejected++;
    sess_decide_error(r, PR_E_BUSY, NULL);
    sess_decided(r, ST_BUSY);
    st_pool_done(&s->st, cmd_index(def), r->work.lane, ST_BUSY, 0, 0, r->decided_ns - r->read_ns);
  } else {
    sess_decide_error(r, PR_E_SHUTDOWN, NULL);
    sess_decided(r, ST_CANCELLED);
    st_pool_done(&s->st, cmd_index(def), r->work.lane, ST_CANCELLED, 0, 0, 0);
  }
}

/* ---- requests ----------------------------------------------------------- */

static void sess_handle(struct session *ss, const struct pr_request *q) {
  struct srv *s = ss->srv;
  const struct cmd_def *def;
  struct cmd_args a;
  struct pr_reply rep;
  char err[CMD_ERR_SIZE];
  if (cmd_lookup(q, &def, &a, err, sizeof err) < 0) {
    s->st.invalid++;
    LG_DBG("conn=%" PRIu64 " invalid: %s", cn_id(ss->cn), err);
    pr_reply_error(&rep, q->resp, PR_E_INVALID, err);
    sess_reply(ss, &rep, q->resp);
    return;
  }
  s->st.cmd[cmd_index(def)].calls++;
  char name[16];
  LG_DBG("conn=%" PRIu64 " read %s%s", cn_id(ss->cn), sess_name(def, name),
         q->resp ? " (RESP)" : "");
  if (def->where == CMD_POOL) {
    sess_submit(ss, def, &a);
    return;
  }
  struct cmd_ctx ctx = {s, ss, &s->scratch, 0};
  sbuf_reset(&s->scratch);
  def->answer(&ctx, &a, &rep);
  sess_reply(ss, &rep, q->resp);
  if (ctx.close_after) ss->closing = 1;
}

static size_t sess_on_data(cn_t *cn, const char *buf, size_t len) {
  struct session *ss = cn_data(cn);
  const struct srv_config *cfg = ss->srv->cfg;
  size_t used = 0;
  while (used < len && !ss->closing && ss->srv->phase == SRV_RUNNING) {
    if (sess_must_pause(ss)) {
      /* Let TCP slow this client down instead of buffering its pipeline. */
      ss->paused = 1;
      cn_pause_read(cn, 1);
      break;
    }
    if (cn_out_full(cn)) break; /* offered again once the client reads */
    struct pr_request q;
    long n = pr_parse(buf + used, len - used, cfg->max_line, &ss->cur, &q);
    if (n == 0) break;
    if (n < 0) {
      struct pr_reply rep;
      if (n == -E2BIG) pr_reply_error(&rep, q.resp, PR_E_TOO_LONG, NULL);
      else pr_reply_error(&rep, q.resp, PR_E_PROTOCOL, q.error);
      sess_reply(ss, &rep, q.resp);
      ss->closing = 1; /* the stream cannot be re-synchronised */
      break;
    }
    used += (size_t)n;
    if (q.crlf && cfg->resp_inline) q.resp = 1;
    sess_handle(ss, &q);
  }
  if (ss->closing) {
    /* Nothing after QUIT or a framing error is read: drop it, stop reading. */
    cn_pause_read(cn, 1);
    used = len;
  }
  sess_flush(ss);
  return used;
}

/* ---- connections -------------------------------------------------------- */

static int sess_on_open(cn_t *cn, void *ud) {
  struct srv *s = ud;
  struct session *ss = calloc(1, sizeof *ss);
  if (!ss) return -ENOMEM;
  ss->srv = s;
  ss->cn = cn;
  list_init(&ss->fifo);
  list_push_back(&s->sessions, &ss->link);
  s->nsessions++;
  cn_set_data(cn, ss);
  if (lg_enabled(LG_DEBUG)) {
    char peer[64];
    cn_peer(cn, peer, sizeof peer);
    LG_DBG("conn=%" PRIu64 " open peer=%s", cn_id(cn), peer);
  }
  return 0;
}

static void sess_on_eof(cn_t *cn) {
  struct session *ss = cn_data(cn);
  ss->closing = 1; /* answer what was read, then close */
  sess_flush(ss);
}

static void sess_on_close(cn_t *cn) {
  struct session *ss = cn_data(cn);
  struct srv *s = ss->srv;
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, &ss->fifo) {
    struct req *r = list_entry(it, struct req, link);
    sess_fifo_drop(ss, r);
    if (!ol_work_busy(&r->work)) {
      free(r);
      continue;
    }
    /* Nobody will read the reply (a reset, or the forced stop): count it
     * as cancelled now, and ask the work to stop so its worker is freed
     * early. done() frees it (maybe at once, if it never reached the pool). */
    r->sess = NULL;
    if (!r->decided) {
      r->decided = 1;
      s->n.cancelled++;
      sess_decided(r, ST_CANCELLED);
    }
    ol_cancel(s->ol, &r->work);
  }
  list_del(&ss->link);
  s->nsessions--;
  if (lg_enabled(LG_DEBUG)) {
    char peer[64];
    cn_peer(cn, peer, sizeof peer);
    LG_DBG("conn=%" PRIu64 " closed peer=%s", cn_id(cn), peer);
  }
  free(ss);
  srv_maybe_finish(s);
}

const struct cn_handlers sess_handlers = {
    .on_open = sess_on_open,
    .on_data = sess_on_data,
    .on_eof = sess_on_eof,
    .on_close = sess_on_close,
};

int sess_idle(const struct session *ss, uint64_t now_ns, uint64_t idle_ns) {
  return list_empty(&ss->fifo) && cn_out_pending(ss->cn) == 0 && !ss->close_sent &&
         now_ns - cn_last_read_ns(ss->cn) >= idle_ns;
}

uint64_t sess_conn_id(const struct session *ss) { return cn_id(ss->cn); }

void sess_close(struct session *ss) {
  if (ss->close_sent) return;
  ss->close_sent = 1;
  cn_close(ss->cn, 1);
}

int sess_blocked(const struct session *ss) { return ss->paused || ss->held > 0; }

void sess_drain(struct session *ss) {
  cn_pause_read(ss->cn, 1); /* no new requests; what was read is answered */
  sess_flush(ss);           /* closes the idle ones */
}
