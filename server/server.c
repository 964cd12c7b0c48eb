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
#include <unistd.h>

#include "base/clock.h"
#include "server/command.h"
#include "server/commands.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/protocol.h"
#include "server/session.h"
#include "server/srv.h"

enum { SRV_STOP_MS = 300 }; /* after the grace period: replies' last chance */

/* The signal handler's only way in: set before the handlers are installed,
 * cleared before the wake-up is destroyed. The handler notes which signal
 * came (one flag each) and wakes the loop; srv_on_signal acts on it. */
static el_wake_t *volatile srv_sig_wake;
static volatile sig_atomic_t srv_sig_term, srv_sig_hup, srv_sig_usr1, srv_sig_usr2;

static void srv_signal_handler(int sig) {
  if (sig == SIGHUP) srv_sig_hup = 1;
  else if (sig == SIGUSR1) srv_sig_usr1 = 1;
  else if (sig == SIGUSR2) srv_sig_usr2 = 1;
  else srv_sig_term = 1;
  el_wake_t *w = srv_sig_wake;
  if (w) el_wake_signal(w); /* async-signal-safe: one eventfd write */
}

static int srv_install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = srv_signal_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL)) return -errno;
  /* Writes to a peer that has gone must fail with EPIPE, not kill us. */
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, NULL)) return -errno;
  return 0;
}

/* ---- shutdown ----------------------------------------------------------- */

void srv_maybe_finish(struct srv *s) {
  if (s->phase != SRV_RUNNING && ol_pending(s->ol) == 0 && s->nsessions == 0) el_stop(s->loop);
}

uint64_t srv_in_flight(const struct srv *s) {
  const struct srv_counters *n = &s->n;
  return n->submitted - n->completed - n->errors - n->timeouts - n->cancelled;
}

void srv_stats_line(struct srv *s, struct sbuf *b) {
  const struct srv_counters *n = &s->n;
  struct tp_stats ps;
  tp_stats(s->pool, &ps);
  /* Queue wait and run time over every lane. */
  struct st_hist all_wait, all_run;
  memset(&all_wait, 0, sizeof all_wait);
  memset(&all_run, 0, sizeof all_run);
  hist_init(&all_wait.h);
  hist_init(&all_run.h);
  for (size_t l = 0; l < s->nlanes; l++) {
    const struct st_lane *sl = &s->st.lane[l];
    if (sl->wait) hist_merge(&all_wait.h, &sl->wait->h), all_wait.count += sl->wait->count;
    if (sl->run) hist_merge(&all_run.h, &sl->run->h), all_run.count += sl->run->count;
  }
  sbuf_printf(b,
              "workers=%zu busy_workers=%zu queue_depth=%zu queue_capacity=%zu "
              "submitted=%" PRIu64 " completed=%" PRIu64 " errors=%" PRIu64
              " rejected=%" PRIu64 " timeouts=%" PRIu64 " connections=%zu"
              " lock_wait_us=%" PRIu64 " cancelled=%" PRIu64 " in_flight=%" PRIu64
              " worker_us=%" PRIu64 " buffered_bytes=%zu expired=%" PRIu64 " held=%" PRIu64
              " queue_wait_us_p50=%" PRIu64 " queue_wait_us_p99=%" PRIu64
              " run_us_p50=%" PRIu64 " run_us_p99=%" PRIu64,
              ps.workers, ps.busy_workers, ps.queue_depth, ps.queue_capacity, n->submitted,
              n->completed, n->errors, n->rejected, n->timeouts, s->nsessions,
              ps.lock_wait_ns / 1000, n->cancelled, srv_in_flight(s), ps.worker_ns / 1000,
              cn_server_buffered(s->cns) + s->fifo_bytes, n->expired, n->held,
              st_hist_us(&all_wait, 50), st_hist_us(&all_wait, 99), st_hist_us(&all_run, 50),
              st_hist_us(&all_run, 99));
  if (s->nlanes < 2) return;
  for (size_t l = 0; l < s->nlanes; l++) {
    struct tp_lane_stats ls;
    tp_lane_stats(s->pool, (unsigned)l, &ls);
    const struct st_lane *sl = &s->st.lane[l];
    const char *nm = s->lane_name[l];
    sbuf_printf(b,
                " lane_%s_depth=%zu lane_%s_running=%zu lane_%s_rejected=%" PRIu64
                " lane_%s_queue_wait_us_p99=%" PRIu64 " lane_%s_run_us_p99=%" PRIu64,
                nm, ls.depth, nm, ls.running, nm, ls.rejected, nm, st_hist_us(sl->wait, 99), nm,
                st_hist_us(sl->run, 99));
  }
}

static void srv_begin_shutdown(struct srv *s) {
  LG_INF("shutting down: %zu connections, %" PRIu64 " tasks in flight", s->nsessions,
         srv_in_flight(s));
  int rc = notify_send("STOPPING=1\nSTATUS=draining\n");
  if (rc < 0) LG_WRN("sd_notify STOPPING: %s", strerror(-rc));
  s->phase = SRV_DRAINING;
  ol_stop(s->ol);
  cn_server_stop_accepting(s->cns);
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, &s->sessions) sess_drain(sess_of(it));
  unsigned grace = s->cfg->shutdown_grace_ms;
  if (el_timer_arm(s->deadline, grace ? grace : 1, 0) < 0) el_stop(s->loop);
  srv_maybe_finish(s);
}

/* A signal came (srv_signal_handler noted which). */
static void srv_on_signal(el_t *loop, void *arg) {
  (void)loop;
  struct srv *s = arg;
  if (srv_sig_hup) {
    srv_sig_hup = 0;
    if (s->cfg->log_file) {
      int rc = lg_reopen();
      if (rc < 0) LG_ERR("SIGHUP: cannot reopen %s: %s", s->cfg->log_file, strerror(-rc));
      else LG_INF("SIGHUP: reopened %s", s->cfg->log_file);
    } else {
      LG_INF("SIGHUP: no --log-file to reopen; ignored");
    }
  }
  if (srv_sig_usr1) {
    srv_sig_usr1 = 0;
    struct sbuf b = SBUF_INIT;
    srv_stats_line(s, &b);
    LG_INF("SIGUSR1: %s", b.data ? b.data : "");
    sbuf_free(&b);
  }
  if (srv_sig_usr2) {
    srv_sig_usr2 = 0;
    LG_INF("SIGUSR2: ignored");
  }
  if (srv_sig_term) {
    srv_sig_term = 0;
    if (s->phase == SRV_RUNNING) srv_begin_shutdown(s);
  }
}

/* --idle-timeout-s: closes sessions idle that long, every quarter of it. */
static void srv_on_idle_tick(el_t *loop, void *arg) {
  (void)loop;
  struct srv *s = arg;
  uint64_t now = clk_now_ns(), limit = (uint64_t)s->cfg->idle_timeout_s * 1000000000u;
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, &s->sessions) {
    struct session *ss = sess_of(it);
    if (!sess_idle(ss, now, limit)) continue;
    LG_DBG("conn=%" PRIu64 " closing: idle for %us", sess_conn_id(ss), s->cfg->idle_timeout_s);
    sess_close(ss);
  }
}

/* A newcomer was turned away: counted by net/conn; logged here at most
 * once a second, with how many since the last record. */
static void srv_on_reject(void *ud, int reason) {
  struct srv *s = ud;
  uint64_t now = clk_now_ns();
  s->rejects_unlogged++;
  if (now - s->reject_logged_ns < 1000000000u && s->reject_logged_ns) return;
  LG_WRN("connection rejected: %s (%" PRIu64 " since the last such record)",
         reason == CN_REJECT_FULL ? "too many connections (--max-connections)"
                                  : "out of file descriptors",
         s->rejects_unlogged);
  s->reject_logged_ns = now;
  s->rejects_unlogged = 0;
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
  cfg->max_connections = 10000;
  cfg->tcp_keepalive_s = 300; /* as Redis's tcp-keepalive */
  cfg->min_workers = cfg->max_workers = 4;
  cfg->idle_ms = 2000;
  cfg->queue_capacity = 256;
  cfg->on_full = SRV_REJECT;
  cfg->max_line = 65536;
  cfg->max_inflight = 64;
  cfg->out_limit = 1u << 20;
  cfg->shutdown_grace_ms = 1000;
  cfg->log_level = 2; /* LG_INFO */
  cfg->metrics_port = -1;
}

/* Lane 0 ("default") takes the commands in no --lane; each --lane is one
 * more, with its own queue of --queue-capacity and its worker limit. */
static void srv_lanes(struct srv *s, struct tp_lane_options *lo) {
  const struct srv_config *cfg = s->cfg;
  s->nlanes = 1 + cfg->nlanes;
  s->lane_name[0] = "default";
  lo[0] = (struct tp_lane_options){"default", cfg->queue_capacity, 0};
  for (size_t l = 0; l < cfg->nlanes; l++) {
    s->lane_name[l + 1] = cfg->lanes[l].name;
    lo[l + 1] = (struct tp_lane_options){cfg->lanes[l].name, cfg->queue_capacity,
                                         cfg->lanes[l].max_workers};
  }
  for (size_t i = 0; i < cmd_count(); i++) {
    s->lane_of[i] = 0;
    for (size_t l = 0; l < cfg->nlanes; l++)
      if (cfg->lanes[l].commands & (1ull << i)) s->lane_of[i] = (unsigned)(l + 1);
  }
}

/* Writes the port to --port-file, atomically (a reader never sees half). */
static int srv_write_port_file(const char *path, int port) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -ENAMETOOLONG;
  FILE *f = fopen(tmp, "we");
  if (!f) return -errno;
  int ok = fprintf(f, "%d\n", port) > 0;
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    int err = ok ? errno : EIO;
    (void)unlink(tmp);
    return -err;
  }
  return 0;
}

static int srv_start(struct srv *s) {
  const struct srv_config *cfg = s->cfg;
  int rc;
  if (cmd_count() > ST_MAX_CMDS) return -E2BIG;
  st_init(&s->st);
  if ((rc = cmd_init()) < 0) {
    LG_ERR("cannot initialise libcrypto: %s", strerror(-rc));
    return rc;
  }
  if ((rc = el_create(&s->loop)) < 0 ||
      (rc = el_wake_create(s->loop, srv_on_signal, s, &s->sig_wake)) < 0 ||
      (rc = el_timer_create(s->loop, srv_on_deadline, s, &s->deadline)) < 0) {
    LG_ERR("cannot create the event loop: %s", strerror(-rc));
    return rc;
  }
  /* Workers block every signal that is not a fault, so a SIGTERM is always
   * handled on this thread. */
  struct tp_lane_options lanes[SRV_MAX_LANES];
  srv_lanes(s, lanes);
  struct tp_options po = {
      .min_workers = cfg->min_workers,
      .max_workers = cfg->max_workers,
      .idle_ms = cfg->idle_ms,
      .name = "worker",
      .lanes = lanes,
      .nlanes = s->nlanes,
      .timing = 1, /* timeouts and latency histograms read each task's start */
  };
  if ((rc = tp_create(&s->pool, &po)) < 0) {
    LG_ERR("cannot start the pool: %s", strerror(-rc));
    return rc;
  }
  struct ol_options oo = {
      .run_timeout_ms = cfg->task_timeout_ms,
      .queue_timeout_ms = cfg->queue_timeout_ms,
      .hold = cfg->on_full == SRV_HOLD,
  };
  if ((rc = ol_create(s->loop, s->pool, &oo, &s->ol)) < 0) {
    LG_ERR("cannot start the hand-off: %s", strerror(-rc));
    return rc;
  }
  if (cfg->idle_timeout_s) {
    unsigned tick = cfg->idle_timeout_s * 250u; /* a quarter, in ms */
    if ((rc = el_timer_create(s->loop, srv_on_idle_tick, s, &s->idle_timer)) < 0 ||
        (rc = el_timer_arm(s->idle_timer, tick, tick)) < 0) {
      LG_ERR("cannot start the idle timer: %s", strerror(-rc));
      return rc;
    }
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
      .reuseport = cfg->reuseport,
      .keepalive_s = cfg->tcp_keepalive_s,
  };
  struct cn_handlers h = sess_handlers;
  h.on_reject = srv_on_reject;
  h.ud = s;
  if ((rc = cn_server_start(s->loop, &co, &h, &s->cns)) < 0) {
    LG_ERR("cannot listen on %s:%d: %s", cfg->bind_addr, cfg->port, strerror(-rc));
    return rc;
  }
  if (cfg->metrics_port >= 0 && (rc = mt_start(s)) < 0) {
    LG_ERR("cannot listen on %s:%d for /metrics: %s", cfg->bind_addr, cfg->metrics_port,
           strerror(-rc));
    return rc;
  }
  return 0;
}

static void srv_stop(struct srv *s) {
  /* Connections first: their requests still in the pool lose their
   * session. Then the pool joins every worker (what was queued comes back
   * cancelled), and the offload runs the completions left. */
  mt_stop(s);
  if (s->cns) cn_server_destroy(s->cns);
  if (s->pool) tp_shutdown(s->pool, TP_SHUTDOWN_NOW);
  if (s->ol) ol_destroy(s->ol);
  if (s->pool) tp_destroy(s->pool);
  /* The handler stays installed and now does nothing: a supervisor's
   * second SIGTERM in our last moments must not turn exit 0 into 143. It
   * runs on this thread only (workers block signals), so it cannot be
   * half-way through using the wake-up we destroy below. */
  srv_sig_wake = NULL;
  if (s->idle_timer) el_timer_destroy(s->idle_timer);
  if (s->deadline) el_timer_destroy(s->deadline);
  if (s->sig_wake) el_wake_destroy(s->sig_wake);
  if (s->loop) el_destroy(s->loop);
  sbuf_free(&s->scratch);
  st_free(&s->st);
}

int srv_run(const struct srv_config *cfg) {
  struct srv s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  list_init(&s.sessions);
  int rc = srv_start(&s);
  if (rc == 0) {
    char addr[64], workers[48], status[256];
    cn_server_address(s.cns, addr, sizeof addr);
    if (cfg->min_workers == cfg->max_workers) snprintf(workers, sizeof workers, "%zu", cfg->min_workers);
    else snprintf(workers, sizeof workers, "%zu..%zu", cfg->min_workers, cfg->max_workers);
    LG_INF("listening on %s workers=%s queue_capacity=%zu lanes=%zu", addr, workers,
           cfg->queue_capacity, s.nlanes);
    if (s.metrics) {
      cn_server_address(s.metrics, status, sizeof status);
      LG_INF("metrics on http://%s/metrics", status);
    }
    /* Last, like READY=1: whoever waits for the file finds the log lines
     * above written (tests read the metrics port from them). */
    if (cfg->port_file && (rc = srv_write_port_file(cfg->port_file, cn_server_port(s.cns))) < 0)
      LG_ERR("cannot write --port-file %s: %s", cfg->port_file, strerror(-rc));
    snprintf(status, sizeof status, "READY=1\nSTATUS=listening on %s, %s workers\nMAINPID=%ld\n",
             addr, workers, (long)getpid());
    int nrc = rc == 0 ? notify_send(status) : 0;
    if (nrc < 0) LG_WRN("sd_notify READY: %s", strerror(-nrc));
    if (rc == 0 && (rc = el_run(s.loop)) < 0) LG_ERR("event loop failed: %s", strerror(-rc));
  }
  srv_stop(&s);
  const struct srv_counters *n = &s.n;
  if (rc == 0)
    LG_INF("stopped: submitted=%" PRIu64 " completed=%" PRIu64 " errors=%" PRIu64
           " rejected=%" PRIu64 " timeouts=%" PRIu64 " cancelled=%" PRIu64,
           n->submitted, n->completed, n->errors, n->rejected, n->timeouts, n->cancelled);
  return rc == 0 ? 0 : 1;
}
