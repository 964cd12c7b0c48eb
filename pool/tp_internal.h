/* tp_internal: the thread pool's private state, shared by its three files
 * (thread_pool.c: the API, create, submit, stats, shutdown; tp_lanes.c: the
 * lanes and who to wake; tp_worker.c: the workers). Not for other modules.
 * thread_pool.c's DESIGN comment says which lock guards what.
 */
#ifndef POOL_TP_INTERNAL_H
#define POOL_TP_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/lockwait.h"
#include "pool/ring.h"
#include "pool/thread_pool.h"

#define TP_GATE_NO_SUBMIT (UINT64_C(1) << 63)
#define TP_GATE_NO_ENTRY (UINT64_C(1) << 62)
#define TP_GATE_CLOSED (TP_GATE_NO_SUBMIT | TP_GATE_NO_ENTRY)

#define TP_SEQ __ATOMIC_SEQ_CST
#define TP_RLX __ATOMIC_RELAXED

struct tp_lane {
  struct ring ring;       /* lock; items are tp_task_t * */
  uint64_t *seq;          /* lock; seq[slot]: queue order, parallel to the ring's slots */
  size_t max_running;     /* immutable; 0 = none */
  size_t running;         /* lock */
  size_t depth;           /* atomic RMW under lock; == ring.count (see DESIGN) */
  pthread_cond_t room;    /* blocked tp_submit callers of this lane */
  unsigned room_waiters;  /* lock */
  uint64_t submitted, rejected, expired; /* lock */
  char name[16];
};

struct tp_worker {
  tp_t *pool;          /* immutable */
  unsigned index;      /* immutable: the K in <name>-K */
  int in_use;          /* lock: a thread owns this slot */
  pthread_t tid;       /* lock */
  uint64_t start_ns;   /* lock */
  tp_task_t *current;  /* lock: the task it runs, for tp_shutdown(NOW) */
  int awake;           /* lock: neither waiting nor spinning */
  uint64_t idle_since; /* lock: when it last ran out of work; 0 while it has work */
};

struct tp {
  /* Immutable after tp_create. */
  size_t min_workers, max_workers, nlanes;
  unsigned idle_ms, spin_us;
  int dynamic, timing;
  char name[9];
  struct tp_worker *workers; /* max_workers slots */
  struct tp_lane *lanes;
  int shut_down; /* only the thread that calls tp_shutdown touches it */

  uint64_t gate;     /* atomic (see DESIGN: Shutdown) */
  size_t runnable;   /* atomic RMW under lock: queued tasks in lanes below their limit, roughly */

  pthread_mutex_t lock;
  pthread_cond_t work_cv;  /* idle workers */
  pthread_cond_t gate_cv;  /* tp_shutdown waits for the gate to empty */
  uint64_t next_seq;
  size_t queued;           /* tasks in all lanes */
  size_t nworkers, idle, spinning, wakeups;
  uint64_t ewma_run_ns;    /* timing pools: recent run time, smoothed over ~8 tasks */
  int standby;             /* a worker is in the standby's timed wait (DESIGN: Waking) */
  uint64_t last_idle_ns;   /* when a worker last ran out of work */
  int closing, cancel_all;
  uint64_t submitted, completed, failed, cancelled, expired, rejected, woken;
  uint64_t lock_wait_ns;
  uint64_t exited_ns;      /* worker time of threads that have exited */
  uint64_t live_start_ns;  /* sum of start_ns over the live ones */
  pthread_t last_retired;
  int have_retired;
  /* Published by tp_shutdown for tp_stats after the lock is gone, with
   * atomic builtins (no lock is left to order them). */
  struct tp_stats final;
};

static inline void tp_check(int rc) {
  if (rc != 0) abort(); /* a broken mutex or thread: nothing sane to do */
}

/* lock_wait_ns is added to under the lock itself (base/lockwait.h). */
static inline void tp_lock(tp_t *pool) { pool->lock_wait_ns += lw_lock(&pool->lock); }

static inline void tp_unlock(tp_t *pool) { tp_check(pthread_mutex_unlock(&pool->lock)); }

/* Waking a sleeper costs about this much before it runs (futex calls and
 * the scheduler's wake-up of another CPU: an eventfd ping-pong between two
 * threads takes ~41 us per round trip on the 2-core VM of bench/results),
 * and the standby looks for stranded work this often, until the pool has
 * been idle for the linger time (DESIGN: Waking). */
enum { TP_WAKE_COST_NS = 20000, TP_STANDBY_NS = 1000000, TP_STANDBY_LINGER_NS = 20000000 };

/* tp_lanes.c, all under the lock. */
size_t tp_count_runnable(const tp_t *pool);
void tp_set_runnable(tp_t *pool);
void tp_lane_push(tp_t *pool, struct tp_lane *l, tp_task_t *task);
tp_task_t *tp_lane_pop(tp_t *pool, struct tp_lane *l);
struct tp_lane *tp_pick(tp_t *pool);
void tp_maybe_wake(tp_t *pool, size_t runnable);
void tp_after_push(tp_t *pool);

/* tp_worker.c. */
int tp_spawn(tp_t *pool); /* under the lock */
void tp_account_exit(tp_t *pool, struct tp_worker *w); /* under the lock */

#endif
