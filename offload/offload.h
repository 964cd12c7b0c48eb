/* offload: the trip of a piece of work from an event loop to a thread pool
 * and back. The loop thread submits; a worker runs work(); done() runs on
 * the loop thread again, so the caller's state needs no lock. This is what
 * makes pool_server a thread-pool *server*: libuv's uv_queue_work and
 * nginx's ngx_thread_task_post do the same job.
 *
 *   loop:   ol_submit ... (batched) ... ol's before-wait hook: one
 *           tp_submit_batch for the whole loop iteration
 *   worker: work(w); push w on the done list; write the eventfd only if
 *           the loop may be asleep
 *   loop:   take the whole done list; done(w, status) for each, in the
 *           order the works finished
 *
 * Overload. A lane whose queue is full makes ol_submit answer -EAGAIN at
 * once (the caller answers "busy"), or, with `hold`, keeps the work in a
 * FIFO and submits it, oldest first, when the lane has room (admit() says
 * when). Deadlines: a work still queued after queue_timeout_ms is never run
 * (its expire() comes at once, by the loop's timer; a worker that takes it
 * late skips it); one that has run longer than run_timeout_ms gets
 * expire() and its cancel flag (ol_work_cancelled) raised.
 *
 * Ownership: the caller owns each ol_work_t (embedded in its request) and
 * keeps it alive from ol_submit until done() has run, and may free it in
 * done(). One ol_t per loop, and it must be the only submitter to its pool
 * (its accounting of free queue slots relies on that).
 *
 * Threads: everything here is loop-thread only, except work() (a worker)
 * and ol_work_cancelled (any). Errors: 0 or a negative errno.
 */
#ifndef OFFLOAD_OFFLOAD_H
#define OFFLOAD_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "net/event_loop.h"
#include "pool/thread_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ol ol_t;
typedef struct ol_work ol_work_t;

enum ol_status {
  OL_OK,        /* work() returned 0 */
  OL_FAILED,    /* work() returned nonzero; ol_work_error() says why */
  OL_CANCELLED, /* never ran: cancelled (ol_cancel, ol_cancel_all, shutdown) first */
  OL_EXPIRED,   /* never ran: still queued after queue_timeout_ms */
  OL_TIMEOUT,   /* expire() only: it has run longer than run_timeout_ms */
};

struct ol_work {
  /* Set by the caller before ol_submit. */
  int (*work)(ol_work_t *w);                      /* a worker: 0 ok, else set ->error */
  void (*done)(ol_work_t *w, enum ol_status st);  /* loop, exactly once; may free w */
  /* Optional, loop thread, at most once and before done(): the answer is
   * due now, although the work is not finished with (OL_TIMEOUT, OL_EXPIRED,
   * or OL_CANCELLED by ol_cancel_all). */
  void (*expire)(ol_work_t *w, enum ol_status why);
  /* Optional, loop thread: a work ol_submit held (returned 1) has gone to
   * the pool. */
  void (*admit)(ol_work_t *w);
  unsigned lane;      /* the pool lane it runs in */
  const char *error;  /* work(): the reason it failed (a string that outlives w) */
  /* Private. */
  tp_task_t task_;
  ol_t *ol_;
  struct list link_;  /* loop: the batch, held or in-pool list */
  ol_work_t *done_next_;
  uint64_t submit_ns_;
  enum ol_status status_;
  unsigned char where_, expired_;
};

struct ol_options {
  unsigned run_timeout_ms;   /* 0 = none; needs a pool made with `timing` */
  unsigned queue_timeout_ms; /* 0 = none */
  int hold;                  /* a full lane: 0 = -EAGAIN, 1 = hold (see above) */
};

/* Registers a wake-up, a timer and a before-wait hook on loop. The hook
 * runs before any hook added after it (net/conn's, say): create the
 * offload first, so work that completions make goes out in the same pass. */
int  ol_create(el_t *loop, tp_t *pool, const struct ol_options *opt, ol_t **out);
/* 0: on its way to the pool (with the rest of this loop iteration's batch).
 * 1: held (hold policy, lane full): admit() comes when it goes to the pool.
 * -EAGAIN: the lane is full (reject policy). -EPIPE: ol_stop was called.
 * -EINVAL: no work/done, or no such lane. Only 0 and 1 mean done() will come. */
int  ol_submit(ol_t *ol, ol_work_t *w);
/* Nonzero from a successful ol_submit until done() has run. */
int  ol_work_busy(const ol_work_t *w);
/* Asks w to stop: never run if not started (done: OL_CANCELLED); its
 * cancel flag raised if running. done() still comes. */
void ol_cancel(ol_t *ol, ol_work_t *w);
/* No more submits (-EPIPE); held and queued works still go on. */
void ol_stop(ol_t *ol);
/* Shutdown's last phase: every work not yet done is cancelled: held ones
 * get done(OL_CANCELLED) now; the others expire(OL_CANCELLED) now and
 * done() when the pool lets go of them. */
void ol_cancel_all(ol_t *ol);
size_t ol_pending(const ol_t *ol);  /* works submitted whose done() has not run */
size_t ol_held(const ol_t *ol);     /* of those, held for want of room */
/* Eventfd writes the workers made: at most one per loop wait that had
 * completions, none while the loop was awake (bench/ reports it). */
uint64_t ol_wakeups(ol_t *ol);

/* For work(): poll it in long work and stop early. Any thread. */
int  ol_work_cancelled(const ol_work_t *w);
/* From done(): how long w waited for a worker and how long it ran (0 if it
 * never ran; both 0 unless the pool was made with `timing`). */
void ol_work_times(const ol_work_t *w, uint64_t *wait_ns, uint64_t *run_ns);

/* After tp_shutdown (every task is back): runs the done() of every
 * completion still on the done list, then frees the offload. */
void ol_destroy(ol_t *ol);

#ifdef __cplusplus
}
#endif
#endif
