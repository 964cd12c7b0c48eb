/* stress_run: one stress_test run: the connections, what each sends and
 * when, reply checking, reconnects, and the event loop that drives them.
 *
 * run_init() prepares everything from the parsed options (expected replies,
 * connections, the open-loop schedule, a timerfd and a signalfd on the
 * client's epoll); run_loop() connects every connection, starts the clock
 * once all are open (or given up), and runs until every connection is done
 * or the --timeout passes; rep (struct rep_stats) then holds the outcome.
 * See stress_test.c's DESIGN comment for the behaviour in full.
 *
 * Ownership: a struct run owns its connections, buffers and fds; run_free
 * releases them all (also after a failed run_init). It keeps a pointer to
 * the options, which must outlive it. Single-threaded: SIGINT and SIGTERM
 * are blocked by run_init and read through the signalfd. Errors are 0 or a
 * negative errno.
 */
#ifndef TOOLS_STRESS_RUN_H
#define TOOLS_STRESS_RUN_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/client.h"
#include "tools/reqq.h"
#include "tools/sched.h"
#include "tools/stress_opts.h"
#include "tools/stress_report.h"

#ifdef __cplusplus
extern "C" {
#endif

struct run_req {         /* one request of the mix, with its expected reply */
  char *line;            /* with its '\n' */
  size_t line_len;
  int kind;              /* enum ex_kind */
  char *exp;
  size_t exp_len;
};

struct run_conn {
  struct rq q;           /* unanswered requests, in order */
  uint64_t issued;       /* requests created so far */
  uint64_t settled;      /* requests with a final outcome */
  uint64_t rng;          /* the mix's draw stream */
  uint64_t delayed_mark; /* open loop: 1 + the request last counted as delayed */
  int64_t retry_at;      /* next connect attempt (ns); 0: none pending */
  unsigned attempts;     /* failed connect attempts in this outage */
  int open;              /* connected now */
  int ever_opened;
  int done;              /* finished, or given up */
};

struct run {
  const struct so_opts *o;
  struct run_req *reqs;  /* one per mix entry */
  struct run_conn *conns;
  struct cl_set set;
  struct rep_stats rep;
  struct sch sch;        /* open loop only */
  int64_t t_begin;       /* run_loop entered: connects start */
  int64_t start;         /* the clock: every connection open or given up; 0 before */
  int64_t end;           /* the last event of the run */
  int64_t stop_at;       /* closed loop --duration: when sending stops */
  int64_t stopped;       /* when sending was stopped early (signal); 0 if not */
  int64_t last_send;     /* the latest first send */
  int stopping;          /* no new requests */
  int cut;               /* ended by the timeout or a second signal */
  size_t unopened;       /* connections neither opened yet nor given up */
  size_t live;           /* connections not done */
  size_t pending_retry;  /* connections waiting to reconnect */
  unsigned error_lines;  /* error lines printed (bounded) */
  int signals;           /* SIGINT/SIGTERM received */
  int error;             /* a negative errno that ends the run (out of memory) */
  int timer_fd, signal_fd;
  int64_t armed_at;      /* the timerfd's expiry as last armed */
  sigset_t old_mask;     /* the signal mask before run_init, restored by run_free */
  int mask_set;
  char *batch;           /* one write's worth of requests */
  size_t batch_cap;
};

/* Prepares a run of *o against addr. On error, run_free still applies. */
int run_init(struct run *r, const struct so_opts *o, const struct sockaddr_in *addr);
/* Runs to the end. 0, or a negative errno if the event loop failed. */
int run_loop(struct run *r);
/* The report's spans (elapsed, send phase), in seconds. */
void run_spans(const struct run *r, double *elapsed_s, double *send_s);
void run_free(struct run *r);

#ifdef __cplusplus
}
#endif
#endif
