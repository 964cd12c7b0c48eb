/* thread_pool: a bounded pool of named worker threads (spec R2, R3, B2).
 *
 * Tasks are intrusive, like libuv's uv_work_t: the caller owns the tp_task_t
 * (usually embedded in its own request struct) and must keep it alive until
 * its done() callback has run. The pool never allocates per task.
 *
 * Life of a task: tp_submit/tp_try_submit queues it; a worker runs work();
 * then done(task, outcome) runs on that worker. A task still queued when
 * tp_shutdown(TP_SHUTDOWN_NOW) is called never runs: done() gets
 * TP_CANCELLED instead, on whichever thread takes it off the queue. Every
 * accepted task gets exactly one done() call; none is ever dropped.
 *
 * Sizing: min_workers start at once; while tasks wait and every worker is
 * busy a new one is added, up to max_workers; a worker idle for idle_ms
 * exits, down to min_workers. min == max is a fixed pool. Workers are named
 * "<name>-K" (pthread_setname_np) and block all signals.
 *
 * Errors: int functions return 0 or a negative errno (-EINVAL, -ENOMEM,
 * -EAGAIN when the queue is full, -EPIPE after shutdown began, or a
 * pthread_create error). Threads: submit, stats and cancel may be called from
 * any thread, also while tp_shutdown runs or after it (submit then returns
 * -EPIPE), but not after tp_destroy; tp_shutdown and tp_destroy from one
 * thread, never a worker.
 */
#ifndef POOL_THREAD_POOL_H
#define POOL_THREAD_POOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp tp_t;
typedef struct tp_task tp_task_t;

enum tp_outcome { TP_OK = 0, TP_FAILED = 1, TP_CANCELLED = 2 };

struct tp_task {
  /* Set by the caller before submitting. */
  int (*work)(tp_task_t *task);  /* 0 = ok; nonzero = failed (set ->error) */
  void (*done)(tp_task_t *task, enum tp_outcome outcome);
  void *arg;
  /* Written by work() on failure: a message that outlives the task's done().
   * tp_submit resets it to NULL. */
  const char *error;
  /* Private to the pool and tp_task_* below; zeroed by tp_submit. Accessed
   * only with __atomic builtins (C11 _Atomic would not compile in the C++
   * tests that include this header). */
  int cancel_;
  uint64_t started_ns_;
};

struct tp_options {
  size_t min_workers;     /* >= 1 */
  size_t max_workers;     /* >= min_workers */
  size_t queue_capacity;  /* >= 1 */
  unsigned idle_ms;       /* shrink after this long idle; ignored when min == max */
  const char *name;       /* thread-name prefix, <= 8 chars; NULL = "worker" */
};

/* Read one by one, not as one snapshot: figures may be a moment apart. */
struct tp_stats {
  size_t workers, busy_workers, queue_depth, queue_capacity;
  uint64_t submitted, completed, failed, cancelled, rejected; /* rejected: -EAGAIN */
  uint64_t lock_wait_ns;   /* time blocked on the queue lock, all threads */
  uint64_t worker_ns;      /* summed wall time of all workers, live and exited */
};

int  tp_create(tp_t **out, const struct tp_options *opt);
int  tp_submit(tp_t *pool, tp_task_t *task);      /* blocks while the queue is full */
int  tp_try_submit(tp_t *pool, tp_task_t *task);  /* -EAGAIN when full (counted as rejected) */
void tp_stats(tp_t *pool, struct tp_stats *out);

enum tp_shutdown_mode {
  TP_SHUTDOWN_DRAIN, /* stop accepting, run everything queued, join all workers */
  TP_SHUTDOWN_NOW    /* stop accepting, cancel everything queued, let running tasks finish, join */
};
/* Returns when every worker has been joined. Destroys every mutex and
 * condition variable the pool owns (spec constraint). Idempotent. */
void tp_shutdown(tp_t *pool, enum tp_shutdown_mode mode);
void tp_destroy(tp_t *pool);  /* calls tp_shutdown(DRAIN) if not yet shut down, then frees */

/* Cooperative cancellation: any thread may request it; work() polls it. */
void tp_task_cancel(tp_task_t *task);
int  tp_task_cancelled(const tp_task_t *task);
/* CLOCK_MONOTONIC ns at which a worker started work(), 0 while still queued. */
uint64_t tp_task_started_ns(const tp_task_t *task);

#ifdef __cplusplus
}
#endif
#endif
