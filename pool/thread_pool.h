/* thread_pool: a bounded pool of named worker threads fed by bounded lanes
 * (spec R1, R2, R3, B2).
 *
 * Tasks are intrusive, like libuv's uv_work_t: the caller owns the tp_task_t
 * (usually embedded in its own request struct) and must keep it alive until
 * its done() callback has run. The pool never allocates per task.
 *
 * Lanes. Every task names a lane (tp_task.lane, 0 by default). Each lane is
 * a bounded FIFO with its own capacity and an optional limit on how many
 * workers may run its tasks at once, so slow work in one lane can never
 * take every worker from another. Among the lanes whose limit allows, a
 * free worker takes the task that has waited longest. A pool made without
 * lanes has one lane, of queue_capacity.
 *
 * Life of a task: tp_submit / tp_try_submit / tp_submit_batch queue it; a
 * worker takes it and runs work(), unless by then it was cancelled
 * (tp_task_cancel) or its deadline_ns has passed; then done(task, outcome)
 * runs on that worker. A task still queued when tp_shutdown(NOW) is called
 * never runs: done() gets TP_CANCELLED, on the thread calling tp_shutdown.
 * Every accepted task gets exactly one done() call; none is ever dropped.
 *
 * Sizing: min_workers start at once; while runnable tasks outnumber the
 * idle workers a new one is added, up to max_workers; a worker idle for
 * idle_ms exits, down to min_workers. min == max is a fixed pool. Workers
 * are named "<name>-K" (pthread_setname_np) and block every signal except
 * SIGSEGV, SIGBUS, SIGFPE and SIGILL (blocking those is undefined behaviour
 * when they are raised by a fault).
 *
 * Errors: int functions return 0 or a negative errno (-EINVAL, -ENOMEM,
 * -EAGAIN when a lane is full, -EPIPE after shutdown began, or a
 * pthread_create error). Threads: submit, stats and cancel may be called
 * from any thread, also while tp_shutdown runs or after it (submit then
 * returns -EPIPE), but not after tp_destroy; tp_shutdown and tp_destroy from
 * one thread, never a worker.
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

enum tp_outcome {
  TP_OK = 0,        /* work() returned 0 */
  TP_FAILED = 1,    /* work() returned nonzero (->error says why) */
  TP_CANCELLED = 2, /* cancelled before it started (or at shutdown): never ran */
  TP_EXPIRED = 3,   /* still queued at its deadline_ns: never ran */
};

struct tp_task {
  /* Set by the caller before submitting. */
  int (*work)(tp_task_t *task);  /* 0 = ok; nonzero = failed (set ->error) */
  void (*done)(tp_task_t *task, enum tp_outcome outcome);
  void *arg;
  unsigned lane;                 /* < the pool's lanes; 0 if the pool has one */
  uint64_t deadline_ns;          /* CLOCK_MONOTONIC; 0 = none. Not run if taken later. */
  /* Written by work() on failure: a message that outlives the task's done().
   * Submitting resets it to NULL. */
  const char *error;
  /* Private to the pool and tp_task_* below; zeroed by submit. Accessed
   * only with __atomic builtins (C11 _Atomic would not compile in the C++
   * tests that include this header). */
  int cancel_;
  uint64_t started_ns_, finished_ns_;
};

struct tp_lane_options {
  const char *name;    /* for stats and thread-free logs; may be NULL */
  size_t capacity;     /* >= 1: tasks waiting at most */
  size_t max_running;  /* 0 = no limit; else at most this many workers run its tasks */
};

struct tp_options {
  size_t min_workers;     /* >= 1 */
  size_t max_workers;     /* >= min_workers */
  size_t queue_capacity;  /* >= 1; the one lane's capacity when nlanes == 0 */
  unsigned idle_ms;       /* shrink after this long idle; ignored when min == max */
  const char *name;       /* thread-name prefix, <= 8 chars; NULL = "worker" */
  const struct tp_lane_options *lanes;
  size_t nlanes;          /* 0: one lane of queue_capacity, no limit */
  /* Stamp each task's start and end (tp_task_started_ns/finished_ns): two
   * clock reads per task, for run timeouts and latency histograms. */
  int timing;
  /* A worker that runs out of work polls for this long before it sleeps,
   * saving the sleep and the wake-up when work comes quickly. 0 = never. */
  unsigned spin_us;
};

/* Read under the pool's lock: one consistent snapshot. */
struct tp_stats {
  size_t workers, busy_workers, queue_depth, queue_capacity;
  uint64_t submitted, completed, failed, cancelled, expired, rejected; /* rejected: -EAGAIN */
  uint64_t lock_wait_ns;   /* time blocked on the pool's lock, all threads */
  uint64_t worker_ns;      /* summed wall time of all workers, live and exited */
  uint64_t wakeups;        /* times a sleeping worker was woken for work */
};

struct tp_lane_stats {
  size_t depth, capacity, running, max_running;
  uint64_t submitted, rejected, expired;
};

int  tp_create(tp_t **out, const struct tp_options *opt);
int  tp_submit(tp_t *pool, tp_task_t *task);      /* blocks while its lane is full */
int  tp_try_submit(tp_t *pool, tp_task_t *task);  /* -EAGAIN when full (counted as rejected) */
/* Never blocks. Queues tasks[0..n) in order under one lock, waking at most
 * one sleeping worker (which wakes others if there is work for them), and
 * stops at the first task whose lane is full. *accepted gets how many were
 * queued (those are the pool's now; the rest are untouched and were not
 * counted as rejected). 0, or -EPIPE (nothing queued) or -EINVAL. */
int  tp_submit_batch(tp_t *pool, tp_task_t *const *tasks, size_t n, size_t *accepted);
/* Free slots in a lane now, without locking. If no other thread submits to
 * the pool meanwhile, it is a lower bound (workers only ever free slots):
 * a batch of that many tasks for that lane will all be accepted. */
size_t tp_lane_free(tp_t *pool, unsigned lane);
size_t tp_lanes(const tp_t *pool);
void tp_stats(tp_t *pool, struct tp_stats *out);
void tp_lane_stats(tp_t *pool, unsigned lane, struct tp_lane_stats *out);

enum tp_shutdown_mode {
  TP_SHUTDOWN_DRAIN, /* stop accepting, run everything queued, join all workers */
  TP_SHUTDOWN_NOW    /* stop accepting, cancel everything queued, let running tasks finish, join */
};
/* Returns when every worker has been joined. Destroys every mutex and
 * condition variable the pool owns (spec constraint). Idempotent. */
void tp_shutdown(tp_t *pool, enum tp_shutdown_mode mode);
void tp_destroy(tp_t *pool);  /* calls tp_shutdown(DRAIN) if not yet shut down, then frees */

/* Cooperative cancellation: any thread may request it; work() polls it. A
 * task cancelled before a worker takes it is not run (TP_CANCELLED). */
void tp_task_cancel(tp_task_t *task);
int  tp_task_cancelled(const tp_task_t *task);
/* CLOCK_MONOTONIC ns at which a worker started / finished work(); 0 before,
 * or if the pool was made without `timing`. started_ns may be read from any
 * thread while the task runs; finished_ns from done() on. */
uint64_t tp_task_started_ns(const tp_task_t *task);
uint64_t tp_task_finished_ns(const tp_task_t *task);

#ifdef __cplusplus
}
#endif
#endif
