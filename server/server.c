/* server: configuration in, a running server out; start, signals, shutdown.
 *
 * DESIGN
 *
 * The pieces, each in a file named for it:
 *   net/event_loop + net/conn   the epoll loop and the connections (bytes)
 *   server/session              a connection's requests, replies in order
 *   server/command, cmd_*.c     what each command means and does
 *   offload/                    the trip loop -> pool -> loop
 *   pool/                       the workers and their bounded lanes
 * This file creates them in that order of dependence (the offload before
 * the listener, so its before-wait hook runs first and a completion's
 * reply goes out in the same loop pass), runs the loop, and tears them
 * down in reverse: connections, then the pool (joins every worker), then
 * the offload (the completions left), then the loop.
 *
 * Shutdown phases (all on the loop thread; the signal handler only writes
 * an eventfd):
 *   RUNNING    --SIGTERM/SIGINT--> DRAINING: stop accepting (the listener
 *              closes, so a proxy's health check fails at once), stop
 *              reading, no new submits; queued and running work goes on;
 *              idle connections close; for --shutdown-grace-ms.
 *   DRAINING   --grace over-->     CANCELLING: everything still in the
 *              pool or held is answered "shutting down" and asked to stop;
 *              SRV_STOP_MS for the replies to go out.
 *   CANCELLING --SRV_STOP_MS-->    stop, whatever is left.
 * The loop also stops as soon as nothing is left (srv_maybe_finish).
 */
#include "server/server.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/command.h"
#include "server/commands.h"
#include "server/log.h"
#include "server/protocol.h"
#include "server/session.h"
#include "server/srv.h"

enum { SRV_STOP_MS = 300 }; /* after the grace period: replies' last chance */

/* The signal handler's only way in: set before the handlers are installed,
 * cleared before the wake-up is destroyed. */
static el_wake_t *volatile srv_sig_wake;

static void srv_signal_handler(int sig) {
  (void)sig;
  el_wake_t *w = srv_sig_wake;
  if (w) el_wake_signal(w); /* async-signal-safe: one eventfd write */
}

static int srv_install_signals(void) {
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

/* ---- shutdown ----------------------------------------------------------- */

void srv_maybe_finish(struct srv *s) {
  if (s->phase != SRV_RUNNING && ol_pending(s->ol) == 0 && s->nsessions == 0) el_stop(s->loop);
}

static uint64_t srv_in_flight(const struct srv *s) {
  const struct srv_counters *n = &s->n;
  return n->submitted - n->completed - n->errors - n->timeouts - n->cancelled;
}

static void srv_on_signal(el_t *loop, void *arg) {
  struct srv *s = arg;
  if (s->phase != SRV_RUNNING) return;
  LG_INF("shutting down: %zu connections, %" PRIu64 " tasks in flight", s->nsessions,
         srv_in_flight(s));
  s->phase = SRV_DRAINING;
  ol_stop(s->ol);
  cn_server_stop_accepting(s->cns);
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, &s->sessions) sess_drain(sess_of(it));
  unsigned grace = s->cfg->shutdown_grace_ms;
  if (el_timer_arm(s->deadline, grace ? grace : 1, 0) < 0) el_stop(loop);
  srv_maybe_finish(s);
}

/* First expiry: the grace period is over. Second: the hard stop. */
static void srv_on_deadline(el_t *loop, void *arg) {
  struct srv *s = arg;
  if (s->phase == SRV_CANCELLING) {
    LG_WRN("forcing exit: %zu connections did not drain", s->nsessions);
    el_stop(loop);
    return;
  }
  s->phase = SRV_CANCELLING;
  ol_cancel_all(s->ol); /* each is answered "shutting down" (session.c) */
  if (el_timer_arm(s->deadline, SRV_STOP_MS, 0) < 0) el_stop(loop);
  srv_maybe_finish(s);
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
  if (cmd_count() > sizeof s->lane_of / sizeof s->lane_of[0]) return -E2BIG;
  if ((rc = cmd_init()) < 0) {
    LG_ERR("cannot initialise SHA-256 (libcrypto): %s", strerror(-rc));
    return rc;
  }
  if ((rc = el_create(&s->loop)) < 0 ||
      (rc = el_wake_create(s->loop, srv_on_signal, s, &s->sig_wake)) < 0 ||
      (rc = el_timer_create(s->loop, srv_on_deadline, s, &s->deadline)) < 0) {
    LG_ERR("cannot create the event loop: %s", strerror(-rc));
    return rc;
  }
  /* Workers are created before the signal handlers but block every signal
   * that is not a fault, so a SIGTERM is always handled on this thread. */
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
  struct ol_options oo = {.run_timeout_ms = cfg->task_timeout_ms};
  if ((rc = ol_create(s->loop, s->pool, &oo, &s->ol)) < 0) {
    LG_ERR("cannot start the hand-off: %s", strerror(-rc));
    return rc;
  }
  srv_sig_wake = s->sig_wake;
  if ((rc = srv_install_signals()) < 0) {
    LG_ERR("cannot install signal handlers: %s", strerror(-rc));
    return rc;
  }
  struct pr_reply reject;
  char reject_line[64];
  pr_reply_error(&reject, 0, PR_E_CONNS, NULL);
  snprintf(reject_line, sizeof reject_line, "%.*s%.*s", (int)reject.head_len, reject.head,
           (int)reject.tail_len, reject.tail);
  struct cn_options co = {
      .bind_addr = cfg->bind_addr,
      .port = cfg->port,
      .backlog = 0,
      .max_connections = cfg->max_connections,
      .reject_line = reject_line,
      .out_limit = cfg->out_limit,
  };
  struct cn_handlers h = sess_handlers;
  h.ud = s;
  if ((rc = cn_server_start(s->loop, &co, &h, &s->cns)) < 0) {
    LG_ERR("cannot listen on %s:%d: %s", cfg->bind_addr, cfg->port, strerror(-rc));
    return rc;
  }
  return 0;
}

static void srv_stop(struct srv *s) {
  /* Connections first: their requests still in the pool lose their
   * session. Then the pool joins every worker (what was queued comes back
   * cancelled), and the offload runs the completions left. */
  if (s->cns) cn_server_destroy(s->cns);
  if (s->pool) tp_shutdown(s->pool, TP_SHUTDOWN_NOW);
  if (s->ol) ol_destroy(s->ol);
  if (s->pool) tp_destroy(s->pool);
  /* The handler stays installed and now does nothing: a supervisor's
   * second SIGTERM in our last moments must not turn exit 0 into 143. It
   * runs on this thread only (workers block signals), so it cannot be
   * half-way through using the wake-up we destroy below. */
  srv_sig_wake = NULL;
  if (s->deadline) el_timer_destroy(s->deadline);
  if (s->sig_wake) el_wake_destroy(s->sig_wake);
  if (s->loop) el_destroy(s->loop);
  sbuf_free(&s->scratch);
}

int srv_run(const struct srv_config *cfg) {
  struct srv s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  list_init(&s.sessions);
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
  const struct srv_counters *n = &s.n;
  if (rc == 0)
    LG_INF("stopped: submitted=%" PRIu64 " completed=%" PRIu64 " errors=%" PRIu64
           " rejected=%" PRIu64 " timeouts=%" PRIu64 " cancelled=%" PRIu64,
           n->submitted, n->completed, n->errors, n->rejected, n->timeouts, n->cancelled);
  return rc == 0 ? 0 : 1;
}
