/* thread_pool: named worker threads fed by bounded lanes. See thread_pool.h.
 *
 * DESIGN
 *
 * One mutex (`lock`) guards the lanes (rings, running counts), the worker
 * set and every counter. A task's whole trip through the pool is two
 * acquisitions: the submitter's push and the worker's take, and the take
 * also settles the worker's previous task (running--, counters), so a busy
 * worker pays one lock/unlock per task. libuv's threadpool has the same
 * shape (one mutex, one condition variable); nginx's adds a done list that
 * here belongs to the caller (offload/).
 *
 * Lanes. Each lane is a ring (pool/ring.h) of `capacity` slots with a
 * running count and an optional max_running. A task gets a sequence number
 * when queued; a worker takes, among the lanes below their limit, the head
 * with the lowest number: oldest first across lanes, FIFO within one.
 * Lanes are few, so that is a scan of a handful of heads.
 *
 * Waking. Idle workers wait on `work_cv`. A submitter that queued runnable
 * work signals one sleeper, and only if no wake-up is already on its way
 * (`wakeups`: signals sent, not yet consumed) and no worker is spinning;
 * a worker that takes a task and sees more runnable work than wake-ups
 * underway passes the wake on. So a batch costs the loop one futex wake at
 * most, and workers wake only as many others as there is work for: never
 * a broadcast (libuv signals once per task; GLib likewise).
 *
 * Spinning (spin_us > 0). A worker out of work unlocks and polls the
 * lock-free `runnable` hint for up to spin_us before it sleeps; submitters
 * that see a spinner do not signal. Whether that pays depends on the
 * machine (it burns a core while it waits): bench/ measures both.
 *
 * Lock-free reads. `runnable` (the spin hint) and each lane's `depth`
 * (tp_lane_free) are written only under the lock, with atomic
 * read-modify-write builtins, and read without it with atomic loads: a
 * stale value only delays a spin by one poll or makes tp_lane_free lower
 * than the truth, never higher. TSan understands the builtins; Valgrind
 * runs a locked RMW as a compare-and-swap that Helgrind counts as a read,
 * and reads never race. Tasks and their fields are handed over through the
 * lock, which both tools see.
 *
 * Sizing (min < max). Decided under the lock, so no Dekker pairs are
 * needed: a submit that leaves more runnable tasks than idle and spinning
 * workers spawns one per task in excess (up to max: a batch may need
 * several); a worker whose timed wait ends
 * with nothing to do retires if above min. A retiree swaps itself in as
 * last_retired and joins the previous one after unlocking, so at most one
 * exited thread is un-joined at any time; tp_shutdown joins it and every
 * slot in use. Slots are reused lowest-first: names stay <name>-0..max-1.
 *
 * Shutdown. The gate word counts callers inside the submits and tp_stats, and
 * has two "closed" bits: NO_SUBMIT (submits return -EPIPE) and NO_ENTRY
 * (set after the joins; tp_stats then reads the final figures). tp_shutdown
 * sets `closing` under the lock (the worker set is frozen, blocked
 * submitters leave), and in NOW mode raises the cancel flag of each running
 * task (w->current, read under the lock, so the task cannot be freed under
 * us: a worker clears `current` under the lock before it calls done()) and
 * takes every queued task to cancel it itself. Workers exit once closing
 * and every lane is empty. Then the joins, then the gate must empty before
 * the mutex and condition variables are destroyed.
 */
#include "pool/thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "pool/ring.h"

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

/* struct tp_stats is all size_t and uint64_t: copied word by word. */
#define TP_STATS_WORDS (sizeof(struct tp_stats) / sizeof(uint64_t))
_Static_assert(sizeof(size_t) == sizeof(uint64_t) && sizeof(struct tp_stats) % 8 == 0,
               "tp_stats is copied as 64-bit words");

static void tp_publish_final(tp_t *pool, const struct tp_stats *st) {
  const uint64_t *from = (const uint64_t *)(const void *)st;
  uint64_t *to = (uint64_t *)(void *)&pool->final;
  for (size_t i = 0; i < TP_STATS_WORDS; i++) (void)__atomic_exchange_n(&to[i], from[i], TP_SEQ);
}

static void tp_read_final(tp_t *pool, struct tp_stats *st) {
  uint64_t *from = (uint64_t *)(void *)&pool->final, *to = (uint64_t *)(void *)st;
  for (size_t i = 0; i < TP_STATS_WORDS; i++) to[i] = __atomic_load_n(&from[i], TP_SEQ);
}

static void tp_check(int rc) {
  if (rc != 0) abort(); /* a broken mutex or thread: nothing sane to do */
}

/* Try first: an uncontended lock costs one trylock and no clock reads. */
static void tp_lock(tp_t *pool) {
  int rc = pthread_mutex_trylock(&pool->lock);
  if (rc == 0) return;
  if (rc != EBUSY) abort();
  uint64_t t0 = clk_now_ns();
  tp_check(pthread_mutex_lock(&pool->lock));
  pool->lock_wait_ns += clk_now_ns() - t0;
}

static void tp_unlock(tp_t *pool) { tp_check(pthread_mutex_unlock(&pool->lock)); }

/* ---- gate --------------------------------------------------------------- */

/* Registers a caller unless any bit of `closed` is set. */
static int tp_enter(tp_t *pool, uint64_t closed) {
  uint64_t g = __atomic_load_n(&pool->gate, TP_SEQ);
  do {
    if (g & closed) return -EPIPE;
  } while (!__atomic_compare_exchange_n(&pool->gate, &g, g + 1, 1, TP_SEQ, TP_SEQ));
  return 0;
}

static void tp_leave(tp_t *pool) {
  uint64_t g = __atomic_load_n(&pool->gate, TP_SEQ);
  do {
    if (g & TP_GATE_CLOSED) {
      /* tp_shutdown may be waiting: decrement where it checks. */
      tp_lock(pool);
      if ((__atomic_sub_fetch(&pool->gate, 1, TP_SEQ) & ~TP_GATE_CLOSED) == 0)
        tp_check(pthread_cond_broadcast(&pool->gate_cv));
      tp_unlock(pool);
      return;
    }
  } while (!__atomic_compare_exchange_n(&pool->gate, &g, g - 1, 1, TP_SEQ, TP_SEQ));
}

/* ---- lanes (all under lock) --------------------------------------------- */

static int tp_lane_open(const struct tp_lane *l) {
  return l->max_running == 0 || l->running < l->max_running;
}

/* Tasks that a free worker could start now. */
static size_t tp_count_runnable(const tp_t *pool) {
  size_t n = 0;
  for (size_t i = 0; i < pool->nlanes; i++) {
    const struct tp_lane *l = &pool->lanes[i];
    if (l->max_running == 0) n += l->ring.count;
    else if (l->running < l->max_running) {
      size_t room = l->max_running - l->running;
      n += l->ring.count < room ? l->ring.count : room;
    }
  }
  return n;
}

static void tp_set_runnable(tp_t *pool) {
  (void)__atomic_exchange_n(&pool->runnable, tp_count_runnable(pool), TP_RLX);
}

static void tp_lane_push(tp_t *pool, struct tp_lane *l, tp_task_t *task) {
  size_t tail = l->ring.head + l->ring.count;
  if (tail >= l->ring.cap) tail -= l->ring.cap;
  l->seq[tail] = pool->next_seq++;
  (void)ring_push(&l->ring, task);
  (void)__atomic_fetch_add(&l->depth, 1, TP_RLX);
  pool->queued++;
}

static tp_task_t *tp_lane_pop(tp_t *pool, struct tp_lane *l) {
  tp_task_t *task = ring_pop(&l->ring);
  (void)__atomic_fetch_sub(&l->depth, 1, TP_RLX);
  pool->queued--;
  if (l->room_waiters) tp_check(pthread_cond_signal(&l->room));
  /* Draining for shutdown: idle workers wait for this moment to exit. */
  if (pool->closing && pool->queued == 0) tp_check(pthread_cond_broadcast(&pool->work_cv));
  return task;
}

/* The oldest task of the lanes a worker may take from, or NULL. */
static struct tp_lane *tp_pick(tp_t *pool) {
  struct tp_lane *best = NULL;
  uint64_t best_seq = 0;
  for (size_t i = 0; i < pool->nlanes; i++) {
    struct tp_lane *l = &pool->lanes[i];
    if (ring_empty(&l->ring) || !tp_lane_open(l)) continue;
    uint64_t s = l->seq[l->ring.head];
    if (!best || s < best_seq) {
      best = l;
      best_seq = s;
    }
  }
  return best;
}

/* ---- workers ------------------------------------------------------------ */

static void *tp_worker_main(void *arg);

/* Under lock. Starts a thread in the lowest free slot. */
static int tp_spawn(tp_t *pool) {
  struct tp_worker *w = pool->workers, *end = w + pool->max_workers;
  while (w < end && w->in_use) w++;
  if (w == end) abort(); /* callers ensure nworkers < max_workers */
  w->start_ns = clk_now_ns();

  /* The thread inherits our mask: block all but the synchronous fault
   * signals around pthread_create, so no other signal can ever land on a
   * worker, not even in its first cycle (nginx does the same). */
  sigset_t mask, old;
  tp_check(sigfillset(&mask));
  const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
    tp_check(sigdelset(&mask, faults[i]));
  tp_check(pthread_sigmask(SIG_SETMASK, &mask, &old));
  int rc = pthread_create(&w->tid, NULL, tp_worker_main, w);
  tp_check(pthread_sigmask(SIG_SETMASK, &old, NULL));
  if (rc != 0) return -rc;

  w->in_use = 1;
  pool->nworkers++;
  pool->live_start_ns += w->start_ns;
  /* Named from here, not by the worker, so the name is visible as soon as
   * tp_create returns. Cosmetic: a failure is ignored. */
  char name[16];
  snprintf(name, sizeof name, "%s-%u", pool->name, w->index);
  (void)pthread_setname_np(w->tid, name);
  return 0;
}

/* Under lock: w's time moves from the live sum to the exited one. */
static void tp_account_exit(tp_t *pool, struct tp_worker *w) {
  pool->nworkers--;
  pool->exited_ns += clk_now_ns() - w->start_ns;
  pool->live_start_ns -= w->start_ns;
}

/* Under lock, after a timed wait found nothing: 1 if w retired (the lock is
 * then released and w must return). */
static int tp_retire(tp_t *pool, struct tp_worker *w) {
  if (pool->closing || pool->nworkers <= pool->min_workers) return 0;
  tp_account_exit(pool, w);
  w->in_use = 0; /* from here on the slot is not ours: touch it no more */
  pthread_t prev = pool->last_retired;
  int have_prev = pool->have_retired;
  pool->last_retired = pthread_self();
  pool->have_retired = 1;
  tp_unlock(pool);
  if (have_prev) tp_check(pthread_join(prev, NULL));
  return 1;
}

/* Under lock: wakes one sleeper if runnable work outnumbers the workers
 * already on their way to it. */
static void tp_maybe_wake(tp_t *pool, size_t runnable) {
  if (pool->idle > pool->wakeups && runnable > pool->wakeups + pool->spinning) {
    pool->wakeups++;
    tp_check(pthread_cond_signal(&pool->work_cv));
  }
}

/* Under lock: the bookkeeping of a finished task (its done() comes later,
 * outside the lock). */
static void tp_settle(tp_t *pool, struct tp_worker *w, enum tp_outcome outcome) {
  w->current = NULL;
  switch (outcome) {
    case TP_OK: pool->completed++; break;
    case TP_FAILED: pool->failed++; break;
    case TP_CANCELLED: pool->cancelled++; break;
    case TP_EXPIRED: pool->expired++; break;
  }
}

/* Outside the lock: runs task unless cancelled or expired. */
static enum tp_outcome tp_run(tp_t *pool, tp_task_t *task) {
  if (tp_task_cancelled(task)) return TP_CANCELLED;
  uint64_t now = 0;
  if (task->deadline_ns || pool->timing) now = clk_now_ns();
  if (task->deadline_ns && now >= task->deadline_ns) return TP_EXPIRED;
  if (pool->timing) (void)__atomic_exchange_n(&task->started_ns_, now, TP_RLX);
  enum tp_outcome outcome = task->work(task) == 0 ? TP_OK : TP_FAILED;
  if (pool->timing) task->finished_ns_ = clk_now_ns();
  return outcome;
}

/* Under lock, with nothing to take: spin (unlocked) or sleep. Returns
 * nonzero if the worker retired (lock released). */
static int tp_wait(tp_t *pool, struct tp_worker *w) {
  if (pool->spin_us && !pool->closing) {
    pool->spinning++;
    tp_unlock(pool);
    uint64_t until = clk_now_ns() + (uint64_t)pool->spin_us * 1000u;
    while (__atomic_load_n(&pool->runnable, TP_RLX) == 0 && clk_now_ns() < until) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    tp_lock(pool);
    pool->spinning--;
    if (tp_pick(pool) || pool->closing) return 0;
  }
  pool->idle++;
  int rc;
  if (pool->dynamic) {
    struct timespec deadline = clk_deadline_ms(pool->idle_ms);
    rc = pthread_cond_timedwait(&pool->work_cv, &pool->lock, &deadline);
    if (rc != 0 && rc != ETIMEDOUT) abort();
  } else {
    rc = pthread_cond_wait(&pool->work_cv, &pool->lock);
    tp_check(rc);
  }
  pool->idle--;
  if (pool->wakeups) {
    pool->wakeups--;
    pool->woken++;
  }
  if (rc == ETIMEDOUT && !tp_pick(pool)) return tp_retire(pool, w);
  return 0;
}

static void *tp_worker_main(void *arg) {
  struct tp_worker *w = arg;
  tp_t *pool = w->pool;
  tp_task_t *prev = NULL;
  enum tp_outcome prev_outcome = TP_OK;
  tp_lock(pool);
  for (;;) {
    struct tp_lane *l = tp_pick(pool);
    if (!l) {
      if (prev) { /* deliver before waiting: done() must not wait for work */
        tp_unlock(pool);
        prev->done(prev, prev_outcome);
        prev = NULL;
        tp_lock(pool);
        continue;
      }
      if (pool->closing && pool->queued == 0) break;
      if (tp_wait(pool, w)) return NULL; /* retired */
      continue;
    }
    tp_task_t *task = tp_lane_pop(pool, l);
    l->running++;
    w->current = task;
    if (pool->spin_us) tp_set_runnable(pool);
    tp_maybe_wake(pool, tp_count_runnable(pool)); /* pass the wake on */
    int cancel = pool->cancel_all;
    tp_unlock(pool);

    if (prev) prev->done(prev, prev_outcome);
    if (cancel) tp_task_cancel(task);
    prev = task;
    prev_outcome = tp_run(pool, task);

    tp_lock(pool);
    l->running--;
    if (prev_outcome == TP_EXPIRED) l->expired++;
    tp_settle(pool, w, prev_outcome);
    if (pool->spin_us && l->max_running) tp_set_runnable(pool); /* a limited lane opened */
  }
  tp_account_exit(pool, w);
  tp_unlock(pool);
  return NULL;
}

/* ---- public API --------------------------------------------------------- */

static void tp_free(tp_t *pool) {
  if (pool->lanes) {
    for (size_t i = 0; i < pool->nlanes; i++) {
      free(pool->lanes[i].ring.slot);
      free(pool->lanes[i].seq);
    }
  }
  free(pool->lanes);
  free(pool->workers);
  free(pool);
}

static int tp_init_sync(tp_t *pool) {
  pthread_condattr_t attr;
  int rc = pthread_condattr_init(&attr);
  if (rc) return -rc;
  size_t lanes_done = 0;
  int have_mutex = 0, have_work = 0, have_gate = 0;
  if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) ||
      (rc = pthread_mutex_init(&pool->lock, NULL)) || !(have_mutex = 1) ||
      (rc = pthread_cond_init(&pool->work_cv, &attr)) || !(have_work = 1) ||
      (rc = pthread_cond_init(&pool->gate_cv, NULL)) || !(have_gate = 1))
    goto fail;
  for (; lanes_done < pool->nlanes; lanes_done++)
    if ((rc = pthread_cond_init(&pool->lanes[lanes_done].room, NULL))) goto fail;
  tp_check(pthread_condattr_destroy(&attr));
  return 0;
fail:
  while (lanes_done > 0) tp_check(pthread_cond_destroy(&pool->lanes[--lanes_done].room));
  if (have_gate) tp_check(pthread_cond_destroy(&pool->gate_cv));
  if (have_work) tp_check(pthread_cond_destroy(&pool->work_cv));
  if (have_mutex) tp_check(pthread_mutex_destroy(&pool->lock));
  tp_check(pthread_condattr_destroy(&attr));
  return -rc;
}

static int tp_init_lanes(tp_t *pool, const struct tp_options *opt) {
  struct tp_lane_options one = {"default", opt->queue_capacity, 0};
  const struct tp_lane_options *lo = opt->nlanes ? opt->lanes : &one;
  pool->nlanes = opt->nlanes ? opt->nlanes : 1;
  if (!(pool->lanes = calloc(pool->nlanes, sizeof *pool->lanes))) return -ENOMEM;
  for (size_t i = 0; i < pool->nlanes; i++) {
    struct tp_lane *l = &pool->lanes[i];
    size_t cap = lo[i].capacity;
    if (cap == 0) return -EINVAL;
    if (cap > SIZE_MAX / sizeof(uint64_t)) return -ENOMEM;
    void **slots = calloc(cap, sizeof *slots);
    if (!slots || !(l->seq = calloc(cap, sizeof *l->seq))) {
      free(slots);
      return -ENOMEM;
    }
    ring_init(&l->ring, slots, cap);
    l->max_running = lo[i].max_running;
    snprintf(l->name, sizeof l->name, "%s", lo[i].name ? lo[i].name : "");
  }
  return 0;
}

int tp_create(tp_t **out, const struct tp_options *opt) {
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (opt == NULL || opt->min_workers == 0 || opt->max_workers < opt->min_workers ||
      (opt->nlanes == 0 && opt->queue_capacity == 0) || (opt->nlanes && !opt->lanes) ||
      (opt->min_workers < opt->max_workers && opt->idle_ms == 0))
    return -EINVAL;
  const char *name = opt->name != NULL ? opt->name : "worker";
  char longest[32];
  if (name[0] == '\0' || strlen(name) > 8 ||
      snprintf(longest, sizeof longest, "%s-%zu", name, opt->max_workers - 1) >= 16)
    return -EINVAL; /* Linux thread names are 15 bytes */
  if (opt->max_workers > SIZE_MAX / sizeof(struct tp_worker)) return -ENOMEM;

  tp_t *pool = calloc(1, sizeof(*pool));
  if (pool == NULL) return -ENOMEM;
  int rc = -ENOMEM;
  if (!(pool->workers = calloc(opt->max_workers, sizeof(struct tp_worker)))) goto fail;
  pool->min_workers = opt->min_workers;
  pool->max_workers = opt->max_workers;
  pool->idle_ms = opt->idle_ms;
  pool->spin_us = opt->spin_us;
  pool->timing = opt->timing;
  pool->dynamic = opt->min_workers < opt->max_workers;
  strcpy(pool->name, name);
  for (size_t i = 0; i < opt->max_workers; i++) {
    pool->workers[i].pool = pool;
    pool->workers[i].index = (unsigned)i;
  }
  if ((rc = tp_init_lanes(pool, opt)) < 0) goto fail;
  if ((rc = tp_init_sync(pool)) < 0) goto fail;

  tp_lock(pool);
  for (size_t i = 0; i < pool->min_workers && rc == 0; i++) rc = tp_spawn(pool);
  tp_unlock(pool);
  if (rc < 0) {
    tp_destroy(pool); /* joins the ones that did start */
    return rc;
  }
  *out = pool;
  return 0;
fail:
  tp_free(pool);
  return rc;
}

/* Under lock, after queueing: wake a sleeper, or add a worker. */
static void tp_after_push(tp_t *pool) {
  if (pool->spin_us) tp_set_runnable(pool);
  size_t runnable = tp_count_runnable(pool);
  tp_maybe_wake(pool, runnable);
  /* More runnable work than free workers (idle ones include those being
   * woken). A failed spawn is not the submitter's error: the task is
   * queued and the workers that exist will run it. */
  size_t spawned = 0;
  while (pool->dynamic && !pool->closing && pool->nworkers < pool->max_workers &&
         runnable > pool->idle + pool->spinning + spawned && tp_spawn(pool) == 0)
    spawned++; /* a new worker looks for work before it ever waits */
}

static int tp_task_ok(const tp_t *pool, const tp_task_t *task) {
  return task != NULL && task->work != NULL && task->done != NULL && task->lane < pool->nlanes;
}

static void tp_reset_task(tp_task_t *task) {
  /* Plain writes: the pool's lock publishes them to the worker. */
  task->error = NULL;
  task->cancel_ = 0;
  task->started_ns_ = task->finished_ns_ = 0;
}

static int tp_put(tp_t *pool, tp_task_t *task, int block) {
  if (pool == NULL || !tp_task_ok(pool, task)) return -EINVAL;
  if (tp_enter(pool, TP_GATE_CLOSED) < 0) return -EPIPE;
  tp_reset_task(task);
  struct tp_lane *l = &pool->lanes[task->lane];
  tp_lock(pool);
  while (block && ring_full(&l->ring) && !pool->closing) {
    l->room_waiters++;
    tp_check(pthread_cond_wait(&l->room, &pool->lock));
    l->room_waiters--;
  }
  int rc = 0;
  if (pool->closing) {
    rc = -EPIPE;
  } else if (ring_full(&l->ring)) {
    rc = -EAGAIN;
    pool->rejected++;
    l->rejected++;
  } else {
    tp_lane_push(pool, l, task);
    pool->submitted++;
    l->submitted++;
    tp_after_push(pool);
  }
  tp_unlock(pool);
  tp_leave(pool);
  return rc;
}

int tp_submit(tp_t *pool, tp_task_t *task) { return tp_put(pool, task, 1); }
int tp_try_submit(tp_t *pool, tp_task_t *task) { return tp_put(pool, task, 0); }

int tp_submit_batch(tp_t *pool, tp_task_t *const *tasks, size_t n, size_t *accepted) {
  if (accepted) *accepted = 0;
  if (pool == NULL || (n && tasks == NULL) || accepted == NULL) return -EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!tp_task_ok(pool, tasks[i])) return -EINVAL;
  if (n == 0) return 0;
  if (tp_enter(pool, TP_GATE_CLOSED) < 0) return -EPIPE;
  for (size_t i = 0; i < n; i++) tp_reset_task(tasks[i]);
  tp_lock(pool);
  int rc = 0;
  size_t k = 0;
  if (pool->closing) {
    rc = -EPIPE;
  } else {
    for (; k < n; k++) {
      struct tp_lane *l = &pool->lanes[tasks[k]->lane];
      if (ring_full(&l->ring)) break;
      tp_lane_push(pool, l, tasks[k]);
      l->submitted++;
    }
    pool->submitted += k;
    if (k) tp_after_push(pool);
  }
  tp_unlock(pool);
  tp_leave(pool);
  *accepted = k;
  return rc;
}

size_t tp_lane_free(tp_t *pool, unsigned lane) {
  if (pool == NULL || lane >= pool->nlanes) return 0;
  struct tp_lane *l = &pool->lanes[lane];
  size_t depth = __atomic_load_n(&l->depth, TP_RLX);
  return depth < l->ring.cap ? l->ring.cap - depth : 0;
}

size_t tp_lanes(const tp_t *pool) { return pool ? pool->nlanes : 0; }

/* Under lock (or after the joins): a snapshot. */
static void tp_snapshot(tp_t *pool, struct tp_stats *out) {
  memset(out, 0, sizeof *out);
  out->workers = pool->nworkers;
  out->queue_depth = pool->queued;
  for (size_t i = 0; i < pool->nlanes; i++) {
    out->queue_capacity += pool->lanes[i].ring.cap;
    out->busy_workers += pool->lanes[i].running; /* a worker that just started is not busy */
  }
  out->submitted = pool->submitted;
  out->completed = pool->completed;
  out->failed = pool->failed;
  out->cancelled = pool->cancelled;
  out->expired = pool->expired;
  out->rejected = pool->rejected;
  out->lock_wait_ns = pool->lock_wait_ns;
  out->worker_ns = pool->exited_ns + pool->nworkers * clk_now_ns() - pool->live_start_ns;
  out->wakeups = pool->woken;
}

void tp_stats(tp_t *pool, struct tp_stats *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof(*out));
  if (pool == NULL) return;
  if (tp_enter(pool, TP_GATE_NO_ENTRY) == 0) {
    tp_lock(pool);
    tp_snapshot(pool, out);
    tp_unlock(pool);
    tp_leave(pool);
  } else { /* shut down: the lock is gone; `final` was written before NO_ENTRY */
    tp_read_final(pool, out);
  }
}

void tp_lane_stats(tp_t *pool, unsigned lane, struct tp_lane_stats *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof(*out));
  if (pool == NULL || lane >= pool->nlanes) return;
  struct tp_lane *l = &pool->lanes[lane];
  out->capacity = l->ring.cap;
  out->max_running = l->max_running;
  if (tp_enter(pool, TP_GATE_NO_ENTRY) == 0) {
    tp_lock(pool);
    out->depth = l->ring.count;
    out->running = l->running;
    out->submitted = l->submitted;
    out->rejected = l->rejected;
    out->expired = l->expired;
    tp_unlock(pool);
    tp_leave(pool);
  }
}

void tp_shutdown(tp_t *pool, enum tp_shutdown_mode mode) {
  if (pool == NULL || pool->shut_down) return;
  pool->shut_down = 1;
  (void)__atomic_fetch_or(&pool->gate, TP_GATE_NO_SUBMIT, TP_SEQ);

  /* Close: the worker set is frozen, blocked submitters leave, idle
   * workers wake to drain or exit. In NOW mode, running tasks are asked to
   * stop and queued ones are taken here, to be cancelled below. */
  tp_task_t **cancelled = NULL;
  size_t ncancelled = 0;
  tp_lock(pool);
  pool->closing = 1;
  if (mode == TP_SHUTDOWN_NOW) {
    pool->cancel_all = 1;
    for (size_t i = 0; i < pool->max_workers; i++)
      if (pool->workers[i].current) tp_task_cancel(pool->workers[i].current);
    if (pool->queued && (cancelled = malloc(pool->queued * sizeof *cancelled)) != NULL) {
      for (size_t i = 0; i < pool->nlanes; i++)
        while (!ring_empty(&pool->lanes[i].ring))
          cancelled[ncancelled++] = tp_lane_pop(pool, &pool->lanes[i]);
      pool->cancelled += ncancelled;
      tp_set_runnable(pool);
    } /* out of memory: the workers cancel them instead (cancel_all) */
  }
  tp_check(pthread_cond_broadcast(&pool->work_cv));
  for (size_t i = 0; i < pool->nlanes; i++)
    tp_check(pthread_cond_broadcast(&pool->lanes[i].room));
  tp_unlock(pool);
  for (size_t i = 0; i < ncancelled; i++) {
    tp_task_cancel(cancelled[i]);
    cancelled[i]->done(cancelled[i], TP_CANCELLED);
  }
  free(cancelled);

  for (size_t i = 0; i < pool->max_workers; i++)
    if (pool->workers[i].in_use) tp_check(pthread_join(pool->workers[i].tid, NULL));
  if (pool->have_retired) tp_check(pthread_join(pool->last_retired, NULL));

  /* Every worker is joined: publish the final figures, then shut the gate
   * completely and wait out any tp_submit/tp_stats still inside. */
  struct tp_stats final;
  tp_lock(pool);
  tp_snapshot(pool, &final);
  tp_unlock(pool);
  tp_publish_final(pool, &final);
  (void)__atomic_fetch_or(&pool->gate, TP_GATE_NO_ENTRY, TP_SEQ);
  tp_lock(pool);
  while (__atomic_load_n(&pool->gate, TP_SEQ) & ~TP_GATE_CLOSED)
    tp_check(pthread_cond_wait(&pool->gate_cv, &pool->lock));
  tp_unlock(pool);

  for (size_t i = 0; i < pool->nlanes; i++) tp_check(pthread_cond_destroy(&pool->lanes[i].room));
  tp_check(pthread_cond_destroy(&pool->gate_cv));
  tp_check(pthread_cond_destroy(&pool->work_cv));
  tp_check(pthread_mutex_destroy(&pool->lock));
}

void tp_destroy(tp_t *pool) {
  if (pool == NULL) return;
  tp_shutdown(pool, TP_SHUTDOWN_DRAIN);
  tp_free(pool);
}

void tp_task_cancel(tp_task_t *task) {
  if (task != NULL) (void)__atomic_fetch_or(&task->cancel_, 1, TP_RLX);
}

int tp_task_cancelled(const tp_task_t *task) {
  return task != NULL && __atomic_load_n(&task->cancel_, TP_RLX) != 0;
}

uint64_t tp_task_started_ns(const tp_task_t *task) {
  return task == NULL ? 0 : __atomic_load_n(&task->started_ns_, TP_RLX);
}

uint64_t tp_task_finished_ns(const tp_task_t *task) {
  return task == NULL ? 0 : task->finished_ns_;
}
