/* stress_run: one stress_test run (see stress_run.h; the behaviour as a
 * whole is described in stress_test.c's DESIGN comment).
 *
 * DESIGN: one thread, one epoll (tools/client) that also watches a timerfd
 * and a signalfd. The connections' own logic is stress_conn; this file sets
 * the run up, keeps time and tears it down. Each turn of the loop handles
 * what is due (the start, once every connection is open or has given up;
 * the open-loop schedule; the closed-loop duration; reconnect attempts; the
 * timeout; a progress line), arms the timerfd for the earliest next thing
 * and waits in epoll. The timerfd gives the open-loop schedule
 * sub-millisecond wake-ups that epoll_wait's millisecond timeout cannot.
 * SIGINT/SIGTERM are blocked and read from the signalfd, so a signal is an
 * ordinary event: the first stops new requests, the second ends the run.
 */
#include "tools/stress_run.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tools/expect.h"
#include "tools/mix.h"
#include "tools/stress_conn.h"

enum { RUN_CONNECT_TIMEOUT_MS = 5000, RUN_FIRST_BATCH = 4096 };
#define RUN_SEC 1000000000LL

/* No new requests from now on; what is outstanding is still awaited. */
static void run_stop(struct run *r, int64_t now) {
  if (r->stopping) return;
  r->stopping = 1;
  r->stopped = now;
  if (r->o->rate && r->start) sch_stop(&r->sch, (uint64_t)(now - r->start));
  for (size_t i = 0; i < r->set.n; i++) sc_finish_if_done(r, i);
}

static void run_give_up_all(struct run *r, const char *why) {
  for (size_t i = 0; i < r->set.n; i++) sc_give_up(r, i, why);
}

static void run_on_timer(int fd, void *arg) {
  struct run *r = arg;
  uint64_t ticks;
  if (read(fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) r->error = -errno;
}

static void run_on_signal(int fd, void *arg) {
  struct run *r = arg;
  struct signalfd_siginfo si;
  while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (++r->signals == 1) {
      fprintf(stderr, "stress_test: %s: no new requests; awaiting those in flight "
              "(again to stop at once)\n", strsignal((int)si.ssi_signo));
      run_stop(r, cl_now_ns());
    }
  }
}

static void run_release_one(size_t conn, void *arg) { sc_fill(arg, conn); }

/* The clock starts: every connection is open or has given up. */
static void run_begin(struct run *r, int64_t now) {
  r->start = now;
  if (!r->o->rate && r->o->duration_ns) r->stop_at = now + (int64_t)r->o->duration_ns;
  for (size_t i = 0; i < r->set.n; i++) {
    sc_fill(r, i);
    sc_finish_if_done(r, i);
  }
}

static void run_progress(struct run *r, int64_t now, uint64_t *last_n, int64_t *last_t) {
  uint64_t n = rep_requests(&r->rep) - r->rep.lost;
  double dt = (double)(now - *last_t) / 1e9;
  fprintf(stderr, "[%6.1fs] replies %" PRIu64 "  ok %" PRIu64 "  busy %" PRIu64
          "  timeouts %" PRIu64 "  errors %" PRIu64 "  %.0f replies/s  reconnects %" PRIu64
          "  open %zu\n", (double)(now - r->t_begin) / 1e9, n, r->rep.n[EX_REPLY_OK],
          r->rep.n[EX_REPLY_BUSY], r->rep.n[EX_REPLY_TIMEOUT], rep_errors(&r->rep),
          dt > 0 ? (double)(n - *last_n) / dt : 0, r->rep.reconnects, r->set.active);
  *last_n = n;
  *last_t = now;
}

/* Arms the timerfd for at, unless it is armed for that already and has
 * not fired (at is still ahead). */
static int run_arm(struct run *r, int64_t at, int64_t now) {
  if (at == r->armed_at && at > now) return 0;
  r->armed_at = at;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(at / RUN_SEC);
  its.it_value.tv_nsec = (long)(at % RUN_SEC);
  return timerfd_settime(r->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

static int64_t run_min(int64_t a, int64_t b) { return a < b ? a : b; }

int run_loop(struct run *r) {
  r->t_begin = cl_now_ns();
  int64_t deadline = r->t_begin + (int64_t)r->o->timeout_ns;
  int64_t next_progress = r->t_begin + 3 * RUN_SEC, last_t = r->t_begin;
  uint64_t last_n = 0;
  int rc = cl_start(&r->set);
  while (rc == 0 && r->live > 0 && r->error == 0) {
    int64_t now = cl_now_ns();
    if (!r->start && r->unopened == 0) run_begin(r, now);
    if (now >= deadline || r->signals > 1) {
      run_give_up_all(r, r->signals > 1 ? "interrupted" : "global timeout");
      r->cut = 1;
      break;
    }
    int64_t wake = run_min(deadline, sc_retry_due(r, now));
    if (r->start && r->o->rate) {
      uint64_t next = sch_release(&r->sch, (uint64_t)(now - r->start), run_release_one, r);
      if (next != UINT64_MAX) wake = run_min(wake, r->start + (int64_t)next);
    } else if (r->stop_at && !r->stopping) {
      if (now >= r->stop_at) run_stop(r, now);
      else wake = run_min(wake, r->stop_at);
    }
    if (now >= next_progress) {
      run_progress(r, now, &last_n, &last_t);
      next_progress += RUN_SEC;
    }
    wake = run_min(wake, next_progress);
    if (r->live == 0 || r->error) break;
    rc = run_arm(r, wake, now);
    if (rc == 0) {
      int k = cl_poll(&r->set, -1);
      rc = k < 0 ? k : 0;
    }
  }
  r->end = cl_now_ns();
  return rc < 0 ? rc : r->error;
}

void run_spans(const struct run *r, double *elapsed_s, double *send_s) {
  *elapsed_s = *send_s = 0;
  if (!r->start) return;
  /* The send phase ends with the schedule (open loop: the slot after its
   * last request), the duration or the stop, or the last first send if
   * later; a closed loop by frames sends until its last reply comes. A run
   * cut short (timeout, second signal) ends there. */
  int64_t send_end = r->o->rate ? r->start + (int64_t)sch_offset_ns(&r->sch, r->sch.end)
                     : r->o->duration_ns ? r->stopped
                                         : r->end;
  if (r->cut && r->end < send_end) send_end = r->end;
  if (r->last_send > send_end) send_end = r->last_send;
  if (send_end < r->start) send_end = r->start;
  /* The run lasts at least its send phase: an open loop's last reply may
   * come before the schedule's end. */
  int64_t end = r->end > send_end ? r->end : send_end;
  *elapsed_s = (double)(end - r->start) / 1e9;
  *send_s = (double)(send_end - r->start) / 1e9;
}

/* Each mix entry's line (with '\n') and expected reply. */
static int run_build_reqs(struct run *r) {
  const struct mix *m = &r->o->mix;
  r->reqs = calloc(m->n, sizeof *r->reqs);
  if (!r->reqs) return -ENOMEM;
  for (size_t i = 0; i < m->n; i++) {
    struct run_req *q = &r->reqs[i];
    size_t len = m->e[i].len, cap = ex_reply_cap(len);
    q->line = malloc(len + 1);
    q->exp = malloc(cap);
    if (!q->line || !q->exp) return -ENOMEM;
    memcpy(q->line, m->e[i].line, len);
    q->line[len] = '\n';
    q->line_len = len + 1;
    q->kind = ex_expect(m->e[i].line, len, q->exp, cap, &q->exp_len);
    if (q->kind < 0) return q->kind;
  }
  return 0;
}

/* The timerfd and the signalfd (SIGINT, SIGTERM blocked), on the epoll.
 * The timer slack goes down from the default 50 us to 1 ns: a late wake-up
 * is latency the open loop charges to the server. */
static int run_watch_fds(struct run *r) {
  if (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) < 0) return -errno;
  r->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (r->timer_fd < 0) return -errno;
  int rc = cl_watch(&r->set, r->timer_fd, run_on_timer, r);
  if (rc < 0) return rc;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &sigs, &r->old_mask) < 0) return -errno;
  r->mask_set = 1;
  r->signal_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  if (r->signal_fd < 0) return -errno;
  return cl_watch(&r->set, r->signal_fd, run_on_signal, r);
}

int run_init(struct run *r, const struct so_opts *o, const struct sockaddr_in *addr) {
  memset(r, 0, sizeof *r);
  r->o = o;
  r->set.epfd = -1;
  r->timer_fd = r->signal_fd = -1;
  int rc = rep_init(&r->rep, o->mix.n);
  if (rc == 0) rc = run_build_reqs(r);
  if (rc == 0 && o->rate) rc = sch_init(&r->sch, o->rate, o->clients, o->frames, o->duration_ns);
  if (rc < 0) return rc;
  r->conns = calloc((size_t)o->clients, sizeof *r->conns);
  r->batch = malloc(RUN_FIRST_BATCH);
  if (!r->conns || !r->batch) return -ENOMEM;
  r->batch_cap = RUN_FIRST_BATCH;
  for (size_t i = 0; i < (size_t)o->clients; i++) {
    rc = rq_init(&r->conns[i].q, (size_t)(o->rate ? o->max_outstanding : o->pipeline));
    if (rc < 0) return rc;
    r->conns[i].rng = mix_rng_seed(o->seed, i);
  }
  rc = cl_init(&r->set, (size_t)o->clients, addr, RUN_CONNECT_TIMEOUT_MS, &sc_callbacks, r);
  if (rc < 0) return rc;
  r->live = r->unopened = (size_t)o->clients;
  return run_watch_fds(r);
}

void run_free(struct run *r) {
  if (r->timer_fd >= 0) close(r->timer_fd);
  if (r->signal_fd >= 0) close(r->signal_fd);
  r->timer_fd = r->signal_fd = -1;
  cl_destroy(&r->set);
  if (r->mask_set) sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
  r->mask_set = 0;
  for (size_t i = 0; r->conns && i < (size_t)r->o->clients; i++) rq_free(&r->conns[i].q);
  free(r->conns);
  r->conns = NULL;
  for (size_t i = 0; r->reqs && i < r->o->mix.n; i++) {
    free(r->reqs[i].line);
    free(r->reqs[i].exp);
  }
  free(r->reqs);
  r->reqs = NULL;
  free(r->batch);
  r->batch = NULL;
  rep_free(&r->rep);
}
