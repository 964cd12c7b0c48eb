/* server: the event loop, the listener and the pool, glued together.
 *
 * DESIGN
 *
 *   main thread: event loop                     pool workers
 *   -------------------------------------       ------------------------------
 *   on_data: parse each request. PING, ECHO,    srv_work: HASH / PRIMES / SLEEP
 *   STATS and errors are answered inline;         into the req's result fields
 *   HASH, PRIMES and SLEEP become a req and     srv_done: push the req on the
 *   go to tp_try_submit (full: "server busy").    done list under done_lock; if
 *   on_done (done_wake): take the whole done      the list was empty, signal
 *   list under done_lock, fix each reply.         done_wake (one eventfd write
 *   Timers: task timeouts, shutdown deadline.     per batch, as nginx does)
 *   Signals: the handler only signals sig_wake.
 *
 * Reply order. Each client keeps a FIFO of the requests it has not been
 * answered yet. A reply is written only from the head of the FIFO, and only
 * once it is decided, so pipelined requests are answered in order however
 * the workers finish. An inline reply skips the FIFO only when it is empty.
 *
 * Who owns a req. Two parties may hold it: the client's FIFO (until its reply
 * is written or the client goes away) and the pool (from tp_try_submit until
 * the loop takes its completion off the done list: r->in_pool). Whichever
 * lets go last frees it. A client that closes sets r->cl = NULL on every req
 * still in the pool, so a late result is dropped, never written to whatever
 * connection now has the same fd.
 *
 * Threads. Everything here runs on the loop thread except srv_work and
 * srv_done. The worker writes the result fields, then publishes the req
 * under done_lock; the loop reads them only after taking the req from the
 * done list under the same lock, so the lock orders the two (TSan and
 * Helgrind both see it; the eventfd is only a wake-up).
 */
#include "server/server.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "net/conn.h"
#include "net/event_loop.h"
#include "pool/thread_pool.h"
#include "server/commands.h"
#include "server/log.h"
#include "server/protocol.h"

struct client;

struct req {
  tp_task_t task;            /* first member: a tp_task_t * is a struct req * */
  struct srv *srv;
  struct client *cl;         /* loop: NULL once nobody waits for the reply */
  struct req *next;          /* loop: the client's FIFO */
  struct req *pprev, *pnext; /* loop: the server's list of reqs in the pool */
  struct req *done_next;     /* done_lock */
  uint64_t conn_id;          /* for logs, which workers may write */
  enum pr_cmd cmd;
  int resp;                  /* answer in RESP2 */
  int in_pool;               /* loop: submitted, completion not yet taken */
  int decided;               /* loop: ->reply is final */
  struct pr_reply reply;     /* loop */
  uint64_t n;                /* PRIMES n, SLEEP ms */
  /* Written by the worker before srv_done publishes the req. */
  enum tp_outcome outcome;
  uint64_t count;            /* PRIMES */
  char result[72];           /* HASH hex digest, "slept <ms>" */
  size_t len;
  char data[];               /* HASH input, or an inline reply queued behind others */
};

struct client {
  struct srv *srv;
  cn_t *cn;
  struct client *prev, *next; /* the server's list of clients */
  struct req *head, *tail;    /* requests not answered yet, in arrival order */
  size_t pending;             /* length of that FIFO */
  size_t fifo_bytes;          /* sum of ->len over that FIFO (arguments, queued replies) */
  int paused;                 /* reading paused: see client_must_pause */
  int closing;                /* close once the FIFO drains (QUIT, EOF, framing error) */
  int close_sent;             /* cn_close already called */
  struct pr_cursor cur;       /* the parser's place in an incomplete request */
};

enum srv_phase { SRV_RUNNING, SRV_DRAINING, SRV_CANCELLING };

struct srv {
  const struct srv_config *cfg;
  el_t *loop;
  cn_server_t *cns;
  tp_t *pool;
  el_wake_t *done_wake, *sig_wake;
  el_timer_t *tick;     /* task timeouts; armed while reqs are in the pool */
  unsigned tick_ms;     /* its period: a quarter of the timeout, 1..50 ms */
  el_timer_t *deadline; /* shutdown: grace period, then the hard stop */
  pthread_mutex_t done_lock;
  struct req *done_head;   /* guarded by done_lock */
  struct client *clients;  /* loop */
  struct req *in_pool;     /* loop */
  size_t nclients;
  size_t fifo_bytes;       /* loop: sum of the clients' fifo_bytes */
  enum srv_phase phase;
  /* Loop-only counters: each submitted task ends in exactly one of
   * completed, errors, timeouts, cancelled. */
  uint64_t submitted, completed, errors, rejected, timeouts, cancelled;
};

/* The signal handler's only way in: set before the handlers are installed. */
static el_wake_t *volatile srv_sig_wake;

static void srv_maybe_finish(struct srv *s);

/* ---- replies ------------------------------------------------------------ */

static void reply_raw(struct pr_reply *rep, const char *s) {
  memset(rep, 0, sizeof *rep);
  rep->body = s;
  rep->body_len = strlen(s);
}

static void client_write(struct client *c, const struct pr_reply *rep) {
  /* -EPIPE means the connection is already closing: the reply has nowhere
   * to go, which is the client's doing. */
  if (rep->head_len) (void)cn_write(c->cn, rep->head, rep->head_len);
  if (rep->body_len) (void)cn_write(c->cn, rep->body, rep->body_len);
  if (rep->tail_len) (void)cn_write(c->cn, rep->tail, rep->tail_len);
}

static void req_free_if_unowned(struct req *r) {
  if (r->in_pool) r->cl = NULL; /* the completion will free it */
  else free(r);
}

/* Reading stops while a connection has max_inflight requests outstanding,
 * or holds out_limit bytes in its FIFO (arguments waiting for the pool,
 * replies queued behind slower requests). Its output buffer is bounded
 * apart: parsing also stops while cn_out_full (net/conn resumes it). */
static int client_must_pause(const struct client *c) {
  const struct srv_config *cfg = c->srv->cfg;
  return c->pending >= cfg->max_inflight || c->fifo_bytes >= cfg->out_limit;
}

static void client_fifo_drop(struct client *c, struct req *r) {
  c->pending--;
  c->fifo_bytes -= r->len;
  c->srv->fifo_bytes -= r->len;
}

/* Writes every decided reply at the head of c's FIFO, then resumes reading
 * or closes as the FIFO allows. */
static void client_flush(struct client *c) {
  struct srv *s = c->srv;
  struct req *r;
  while ((r = c->head) != NULL && r->decided) {
    c->head = r->next;
    if (c->head == NULL) c->tail = NULL;
    client_fifo_drop(c, r);
    client_write(c, &r->reply);
    LG_DBG("conn=%" PRIu64 " reply written", r->conn_id);
    req_free_if_unowned(r);
  }
  /* A resume here may happen inside on_data: net/conn offers the input
   * left then again, after on_data returns (conn.h: Flow control). */
  if (c->paused && !client_must_pause(c) && s->phase == SRV_RUNNING) {
    c->paused = 0;
    cn_pause_read(c->cn, 0);
  }
  if (c->head == NULL && (c->closing || s->phase != SRV_RUNNING) && !c->close_sent) {
    c->close_sent = 1;
    cn_close(c->cn, 1);
  }
}

static struct req *req_new(struct client *c, enum pr_cmd cmd, int resp, size_t len) {
  struct req *r = calloc(1, sizeof *r + len);
  if (!r) return NULL;
  r->srv = c->srv;
  r->cl = c;
  r->conn_id = cn_id(c->cn);
  r->cmd = cmd;
  r->resp = resp;
  r->len = len;
  if (c->tail) c->tail->next = r;
  else c->head = r;
  c->tail = r;
  c->pending++;
  c->fifo_bytes += len;
  c->srv->fifo_bytes += len;
  return r;
}

/* Answers a request now if nothing is ahead of it, else queues a copy of
 * the reply behind the requests still waiting. */
static void client_reply(struct client *c, const struct pr_reply *rep, int resp) {
  if (c->head == NULL) {
    client_write(c, rep);
    return;
  }
  size_t len = rep->head_len + rep->body_len + rep->tail_len;
  struct req *r = req_new(c, PR_INVALID, resp, len);
  if (!r) {
    LG_ERR("conn=%" PRIu64 " out of memory queueing a reply: closing", cn_id(c->cn));
    c->closing = 1;
    return;
  }
  char *p = r->data;
  memcpy(p, rep->head, rep->head_len);
  if (rep->body_len) memcpy(p + rep->head_len, rep->body, rep->body_len); /* body may be NULL */
  memcpy(p + rep->head_len + rep->body_len, rep->tail, rep->tail_len);
  reply_raw(&r->reply, "");
  r->reply.body = r->data;
  r->reply.body_len = len;
  r->decided = 1;
}

static void req_decide_error(struct req *r, enum pr_err code, const char *msg) {
  pr_reply_error(&r->reply, r->resp, code, msg);
  r->decided = 1;
}

/* ---- the pool side ------------------------------------------------------ */

static int srv_cancelled(const void *task) { return tp_task_cancelled(task); }

static const char *cmd_name(enum pr_cmd cmd) {
  static const char *const names[] = {
      [PR_INVALID] = "invalid", [PR_PING] = "PING",       [PR_ECHO] = "ECHO",
      [PR_HASH] = "HASH",       [PR_PRIMES] = "PRIMES",   [PR_SLEEP] = "SLEEP",
      [PR_STATS] = "STATS",     [PR_QUIT] = "QUIT",       [PR_COMMAND] = "COMMAND",
      [PR_CONFIG] = "CONFIG",   [PR_HELLO] = "HELLO",     [PR_CLIENT] = "CLIENT",
  };
  return (unsigned)cmd < sizeof names / sizeof names[0] && names[cmd] ? names[cmd] : "?";
}

/* Runs on a worker. Touches only the req's own fields. */
static int srv_work(tp_task_t *t) {
  struct req *r = (struct req *)t;
  int rc;
  LG_DBG("conn=%" PRIu64 " %s start", r->conn_id, cmd_name(r->cmd));
  switch (r->cmd) {
    case PR_HASH:
      rc = cmd_hash(r->data, r->len, r->result);
      break;
    case PR_PRIMES:
      rc = cmd_primes((uint32_t)r->n, srv_cancelled, t, &r->count);
      break;
    case PR_SLEEP:
      rc = cmd_sleep((unsigned)r->n, srv_cancelled, t);
      if (rc == 0) snprintf(r->result, sizeof r->result, "slept %" PRIu64, r->n);
      break;
    default:
      abort(); /* only the three above are ever submitted */
  }
  LG_DBG("conn=%" PRIu64 " %s done: %s", r->conn_id, cmd_name(r->cmd), rc ? strerror(-rc) : "ok");
  if (rc == -ECANCELED) t->error = "cancelled";
  else if (rc) t->error = "internal error";
  return rc;
}

/* Runs on a worker (or, for tasks cancelled by tp_shutdown, on the thread
 * calling it). After the unlock the req belongs to the loop: not touched. */
static void srv_done(tp_task_t *t, enum tp_outcome outcome) {
  struct req *r = (struct req *)t;
  struct srv *s = r->srv;
  r->outcome = outcome;
  if (pthread_mutex_lock(&s->done_lock)) abort();
  int was_empty = s->done_head == NULL;
  r->done_next = s->done_head;
  s->done_head = r;
  if (pthread_mutex_unlock(&s->done_lock)) abort();
  if (was_empty) el_wake_signal(s->done_wake);
}

static void pool_list_add(struct srv *s, struct req *r) {
  r->pprev = NULL;
  r->pnext = s->in_pool;
  if (s->in_pool) s->in_pool->pprev = r;
  else if (s->tick) (void)el_timer_arm(s->tick, s->tick_ms, s->tick_ms);
  s->in_pool = r;
  r->in_pool = 1;
}

static void pool_list_del(struct srv *s, struct req *r) {
  if (r->pprev) r->pprev->pnext = r->pnext;
  else s->in_pool = r->pnext;
  if (r->pnext) r->pnext->pprev = r->pprev;
  r->in_pool = 0;
  if (s->in_pool == NULL && s->tick) (void)el_timer_arm(s->tick, 0, 0);
}

static void client_submit(struct client *c, const struct pr_request *q) {
  struct srv *s = c->srv;
  struct req *r = req_new(c, q->cmd, q->resp, q->cmd == PR_HASH ? q->arg_len : 0);
  if (!r) {
    struct pr_reply rep;
    pr_reply_error(&rep, q->resp, PR_E_FAILED, "out of memory");
    client_reply(c, &rep, q->resp);
    return;
  }
  if (q->cmd == PR_HASH && q->arg_len) memcpy(r->data, q->arg, q->arg_len);
  r->n = q->n;
  r->task.work = srv_work;
  r->task.done = srv_done;
  r->task.arg = r;
  int rc = s->phase == SRV_RUNNING ? tp_try_submit(s->pool, &r->task) : -EPIPE;
  if (rc == 0) {
    s->submitted++;
    pool_list_add(s, r);
    LG_DBG("conn=%" PRIu64 " %s queued", r->conn_id, cmd_name(r->cmd));
    return;
  }
  if (rc == -EAGAIN) {
    s->rejected++;
    req_decide_error(r, PR_E_BUSY, NULL);
  } else {
    req_decide_error(r, PR_E_SHUTDOWN, NULL);
  }
}

/* A completion taken off the done list: fix the reply unless a timeout or
 * the shutdown already did, then free or flush. */
static void req_complete(struct srv *s, struct req *r) {
  pool_list_del(s, r);
  if (!r->decided) {
    switch (r->outcome) {
      case TP_OK:
        s->completed++;
        if (r->cmd == PR_PRIMES) pr_reply_int(&r->reply, r->resp, r->count);
        else pr_reply_ok(&r->reply, r->resp, r->result, strlen(r->result));
        r->decided = 1;
        break;
      case TP_FAILED:
        if (r->cl == NULL && tp_task_cancelled(&r->task)) { /* its client reset */
          s->cancelled++;
          r->decided = 1;
          break;
        }
        s->errors++;
        req_decide_error(r, PR_E_FAILED, r->task.error ? r->task.error : "failed");
        break;
      case TP_CANCELLED:
      case TP_EXPIRED: /* no deadlines are set here yet */
        s->cancelled++;
        req_decide_error(r, PR_E_SHUTDOWN, NULL);
        break;
    }
  }
  if (r->cl) client_flush(r->cl);
  else free(r);
}

static void on_done(el_t *loop, void *arg) {
  (void)loop;
  struct srv *s = arg;
  if (pthread_mutex_lock(&s->done_lock)) abort();
  struct req *list = s->done_head;
  s->done_head = NULL;
  if (pthread_mutex_unlock(&s->done_lock)) abort();
  while (list) {
    struct req *r = list;
    list = r->done_next;
    req_complete(s, r);
  }
  srv_maybe_finish(s);
}

/* Every tick while tasks are in the pool: a task that has run on its worker
 * longer than task_timeout_ms is answered "timeout" now and asked to stop;
 * its late result is dropped. Time spent queued does not count. */
static void on_tick(el_t *loop, void *arg) {
  (void)loop;
  struct srv *s = arg;
  uint64_t now = clk_now_ns();
  uint64_t limit = (uint64_t)s->cfg->task_timeout_ms * 1000000u;
  for (struct req *r = s->in_pool; r; r = r->pnext) {
    uint64_t started = tp_task_started_ns(&r->task);
    if (r->decided || started == 0 || now - started < limit) continue;
    tp_task_cancel(&r->task);
    s->timeouts++;
    req_decide_error(r, PR_E_TIMEOUT, NULL);
    LG_DBG("conn=%" PRIu64 " %s timed out", r->conn_id, cmd_name(r->cmd));
    if (r->cl) client_flush(r->cl); /* frees nothing: r is still in the pool */
  }
}

/* ---- STATS -------------------------------------------------------------- */

static void stats_reply(struct client *c, int resp) {
  struct srv *s = c->srv;
  struct tp_stats ps;
  tp_stats(s->pool, &ps);
  uint64_t in_flight = s->submitted - s->completed - s->errors - s->timeouts - s->cancelled;
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "workers=%zu busy_workers=%zu queue_depth=%zu queue_capacity=%zu "
                   "submitted=%" PRIu64 " completed=%" PRIu64 " errors=%" PRIu64
                   " rejected=%" PRIu64 " timeouts=%" PRIu64 " connections=%zu"
                   " lock_wait_us=%" PRIu64 " cancelled=%" PRIu64 " in_flight=%" PRIu64
                   " worker_us=%" PRIu64 " buffered_bytes=%zu",
                   ps.workers, ps.busy_workers, ps.queue_depth, ps.queue_capacity, s->submitted,
                   s->completed, s->errors, s->rejected, s->timeouts, s->nclients,
                   ps.lock_wait_ns / 1000, s->cancelled, in_flight, ps.worker_ns / 1000,
                   cn_server_buffered(s->cns) + s->fifo_bytes);
  struct pr_reply rep;
  pr_reply_ok(&rep, resp, buf, (size_t)n);
  client_reply(c, &rep, resp);
}

/* ---- requests ----------------------------------------------------------- */

static void client_handle(struct client *c, const struct pr_request *q) {
  struct pr_reply rep;
  LG_DBG("conn=%" PRIu64 " read %s%s", cn_id(c->cn), cmd_name(q->cmd), q->resp ? " (RESP)" : "");
  switch (q->cmd) {
    case PR_HASH:
    case PR_PRIMES:
    case PR_SLEEP:
      client_submit(c, q);
      return;
    case PR_STATS:
      stats_reply(c, q->resp);
      return;
    case PR_PING:
      pr_reply_pong(&rep, q->resp);
      break;
    case PR_ECHO:
      pr_reply_ok(&rep, q->resp, q->arg, q->arg_len);
      break;
    case PR_INVALID:
      pr_reply_error(&rep, q->resp, PR_E_INVALID, q->error);
      break;
    case PR_QUIT:
      reply_raw(&rep, q->resp ? "+OK\r\n" : "result: OK\n");
      c->closing = 1;
      break;
    case PR_CLIENT:
      reply_raw(&rep, q->resp ? "+OK\r\n" : "result: OK\n");
      break;
    case PR_COMMAND:
    case PR_CONFIG: /* what redis-cli and redis-benchmark ask on connect */
      reply_raw(&rep, q->resp ? "*0\r\n" : "result: \n");
      break;
    case PR_HELLO: /* makes RESP3-capable clients fall back to RESP2 */
      reply_raw(&rep, q->resp ? "-NOPROTO unsupported protocol version\r\n"
                              : "ERROR: unsupported protocol version\n");
      break;
    default:
      abort();
  }
  client_reply(c, &rep, q->resp);
}

static size_t on_data(cn_t *cn, const char *buf, size_t len) {
  struct client *c = cn_data(cn);
  const struct srv_config *cfg = c->srv->cfg;
  size_t used = 0;
  while (used < len && !c->closing && c->srv->phase == SRV_RUNNING) {
    if (client_must_pause(c)) {
      /* Let TCP slow this client down instead of buffering its pipeline. */
      c->paused = 1;
      cn_pause_read(cn, 1);
      break;
    }
    if (cn_out_full(cn)) break; /* offered again once the client reads */
    struct pr_request q;
    long n = pr_parse(buf + used, len - used, cfg->max_line, &c->cur, &q);
    if (n == 0) break;
    if (n < 0) {
      struct pr_reply rep;
      if (n == -E2BIG) pr_reply_error(&rep, q.resp, PR_E_TOO_LONG, NULL);
      else pr_reply_error(&rep, q.resp, PR_E_PROTOCOL, q.error);
      client_reply(c, &rep, q.resp);
      c->closing = 1; /* the stream cannot be re-synchronised */
      break;
    }
    used += (size_t)n;
    if (q.crlf && cfg->resp_inline) q.resp = 1;
    client_handle(c, &q);
  }
  if (c->closing) {
    /* Nothing after QUIT or a framing error is read: drop it, stop reading. */
    cn_pause_read(cn, 1);
    used = len;
  }
  client_flush(c);
  return used;
}

/* ---- connections -------------------------------------------------------- */

static int on_open(cn_t *cn, void *ud) {
  struct srv *s = ud;
  struct client *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  c->srv = s;
  c->cn = cn;
  c->next = s->clients;
  if (s->clients) s->clients->prev = c;
  s->clients = c;
  s->nclients++;
  cn_set_data(cn, c);
  LG_DBG("conn=%" PRIu64 " open", cn_id(cn));
  return 0;
}

static void on_eof(cn_t *cn) {
  struct client *c = cn_data(cn);
  c->closing = 1; /* answer what was read, then close */
  client_flush(c);
}

static void on_close(cn_t *cn) {
  struct client *c = cn_data(cn);
  struct srv *s = c->srv;
  while (c->head) {
    struct req *r = c->head;
    c->head = r->next;
    client_fifo_drop(c, r);
    /* Nobody will read the reply (a reset, or the forced stop): a running
     * task is asked to stop, and frees its worker early. */
    if (r->in_pool) tp_task_cancel(&r->task);
    req_free_if_unowned(r);
  }
  if (c->prev) c->prev->next = c->next;
  else s->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nclients--;
  LG_DBG("conn=%" PRIu64 " closed", cn_id(cn));
  free(c);
  srv_maybe_finish(s);
}

/* ---- shutdown ----------------------------------------------------------- */

static void srv_signal_handler(int sig) {
  (void)sig;
  el_wake_t *w = srv_sig_wake;
  if (w) el_wake_signal(w); /* async-signal-safe: one eventfd write */
}

static void srv_maybe_finish(struct srv *s) {
  if (s->phase != SRV_RUNNING && s->in_pool == NULL && s->clients == NULL) el_stop(s->loop);
}

static void on_signal(el_t *loop, void *arg) {
  (void)loop;
  struct srv *s = arg;
  if (s->phase != SRV_RUNNING) return;
  LG_INF("shutting down: %zu connections, %" PRIu64 " tasks in flight", s->nclients,
         s->submitted - s->completed - s->errors - s->timeouts - s->cancelled);
  s->phase = SRV_DRAINING;
  cn_server_stop_accepting(s->cns);
  for (struct client *c = s->clients; c; c = c->next) {
    cn_pause_read(c->cn, 1); /* no new requests; what was read is answered */
    client_flush(c);         /* closes the idle ones */
  }
  unsigned grace = s->cfg->shutdown_grace_ms;
  if (el_timer_arm(s->deadline, grace ? grace : 1, 0) < 0) el_stop(s->loop);
  srv_maybe_finish(s);
}

/* First expiry: the grace period is over; tasks still queued or running are
 * answered "shutting down" and asked to stop. Second: connections that still
 * have not taken their replies are abandoned. */
static void on_deadline(el_t *loop, void *arg) {
  struct srv *s = arg;
  if (s->phase == SRV_CANCELLING) {
    LG_WRN("forcing exit: %zu connections did not drain", s->nclients);
    el_stop(loop);
    return;
  }
  s->phase = SRV_CANCELLING;
  for (struct req *r = s->in_pool; r; r = r->pnext) {
    tp_task_cancel(&r->task);
    if (r->decided) continue;
    s->cancelled++;
    req_decide_error(r, PR_E_SHUTDOWN, NULL);
    if (r->cl) client_flush(r->cl);
  }
  if (el_timer_arm(s->deadline, 300, 0) < 0) el_stop(loop);
  srv_maybe_finish(s);
}

static int install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = srv_signal_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL)) return -errno;
  /* Writes to a peer that has gone must fail with EPIPE, not kill us. */
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, NULL)) return -errno;
  return 0;
}

/* ---- start and stop ----------------------------------------------------- */

void srv_config_defaults(struct srv_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->bind_addr = "127.0.0.1";
  cfg->port = 9090;
  cfg->min_workers = cfg->max_workers = 4;
  cfg->idle_ms = 2000;
  cfg->queue_capacity = 256;
  cfg->max_line = 65536;
  cfg->max_connections = 10000;
  cfg->max_inflight = 64;
  cfg->out_limit = 1u << 20;
  cfg->shutdown_grace_ms = 1000;
  cfg->task_timeout_ms = 0;
}

static int srv_start(struct srv *s) {
  const struct srv_config *cfg = s->cfg;
  int rc;
  if ((rc = el_create(&s->loop)) < 0 ||
      (rc = el_wake_create(s->loop, on_done, s, &s->done_wake)) < 0 ||
      (rc = el_wake_create(s->loop, on_signal, s, &s->sig_wake)) < 0 ||
      (rc = el_timer_create(s->loop, on_deadline, s, &s->deadline)) < 0) {
    LG_ERR("cannot create the event loop: %s", strerror(-rc));
    return rc;
  }
  if (cfg->task_timeout_ms) {
    if ((rc = el_timer_create(s->loop, on_tick, s, &s->tick)) < 0) {
      LG_ERR("cannot create the timeout timer: %s", strerror(-rc));
      return rc;
    }
    s->tick_ms = cfg->task_timeout_ms / 4;
    if (s->tick_ms < 1) s->tick_ms = 1;
    if (s->tick_ms > 50) s->tick_ms = 50;
  }
  srv_sig_wake = s->sig_wake;
  if ((rc = install_signals()) < 0) {
    LG_ERR("cannot install signal handlers: %s", strerror(-rc));
    return rc;
  }

  struct cn_options co = {
      .bind_addr = cfg->bind_addr,
      .port = cfg->port,
      .backlog = 0,
      .max_connections = cfg->max_connections,
      .reject_line = "ERROR: too many connections\n",
      .out_limit = cfg->out_limit,
  };
  struct cn_handlers h = {
      .on_open = on_open, .on_data = on_data, .on_eof = on_eof, .on_close = on_close, .ud = s};
  if ((rc = cn_server_start(s->loop, &co, &h, &s->cns)) < 0) {
    LG_ERR("cannot listen on %s:%d: %s", cfg->bind_addr, cfg->port, strerror(-rc));
    return rc;
  }
  if ((rc = cmd_init()) < 0) {
    LG_ERR("cannot initialise SHA-256 (libcrypto): %s", strerror(-rc));
    return rc;
  }
  /* Workers are created after the signal handlers and block all signals,
   * so a SIGTERM is always handled here, on the loop thread. */
  struct tp_options po = {
      .min_workers = cfg->min_workers,
      .max_workers = cfg->max_workers,
      .queue_capacity = cfg->queue_capacity,
      .idle_ms = cfg->idle_ms,
      .name = "worker",
      .timing = 1, /* task timeouts read each task's start */
  };
  if ((rc = tp_create(&s->pool, &po)) < 0) {
    LG_ERR("cannot start the pool: %s", strerror(-rc));
    return rc;
  }
  return 0;
}

static void srv_stop(struct srv *s) {
  /* Connections first: their reqs still in the pool lose their client. */
  if (s->cns) cn_server_destroy(s->cns);
  /* Then the pool: joins every worker; anything still queued comes back
   * cancelled through srv_done onto the done list, which we drain. */
  if (s->pool) {
    tp_shutdown(s->pool, TP_SHUTDOWN_NOW);
    on_done(s->loop, s);
    tp_destroy(s->pool);
  }
  /* The handler stays installed and now does nothing: a supervisor's
   * second SIGTERM in our last moments must not turn exit 0 into 143. It
   * runs on this thread only (workers block signals), so it cannot be
   * half-way through using the wake-up we destroy below. */
  srv_sig_wake = NULL;
  if (s->tick) el_timer_destroy(s->tick);
  if (s->deadline) el_timer_destroy(s->deadline);
  if (s->sig_wake) el_wake_destroy(s->sig_wake);
  if (s->done_wake) el_wake_destroy(s->done_wake);
  if (s->loop) el_destroy(s->loop);
}

int srv_run(const struct srv_config *cfg) {
  struct srv s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  if (pthread_mutex_init(&s.done_lock, NULL)) return 1;

  int rc = srv_start(&s);
  if (rc == 0) {
    char addr[64];
    cn_server_address(s.cns, addr, sizeof addr);
    if (cfg->min_workers == cfg->max_workers)
      LG_INF("listening on %s workers=%zu queue_capacity=%zu", addr, cfg->min_workers,
             cfg->queue_capacity);
    else
      LG_INF("listening on %s workers=%zu..%zu queue_capacity=%zu", addr, cfg->min_workers,
             cfg->max_workers, cfg->queue_capacity);
    rc = el_run(s.loop);
    if (rc < 0) LG_ERR("event loop failed: %s", strerror(-rc));
  }
  srv_stop(&s);
  pthread_mutex_destroy(&s.done_lock);
  if (rc == 0)
    LG_INF("stopped: submitted=%" PRIu64 " completed=%" PRIu64 " errors=%" PRIu64
           " rejected=%" PRIu64 " timeouts=%" PRIu64 " cancelled=%" PRIu64,
           s.submitted, s.completed, s.errors, s.rejected, s.timeouts, s.cancelled);
  return rc == 0 ? 0 : 1;
}
