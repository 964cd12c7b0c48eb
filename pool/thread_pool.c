/* thread_pool: named worker threads fed by a task_queue. See thread_pool.h.
 *
 * DESIGN
 *
 * Two mutexes, and no thread ever holds both:
 *   - the queue's (task_queue.c) carries every task from submitter to
 *     worker. That hand-off is the only synchronisation a task needs, so the
 *     per-task path is one push and one pop, nothing else locked;
 *   - the pool's `lock` guards the worker set (slots, last_retired,
 *     closing, scan_done, the worker-time sums). It is taken when the set
 *     changes (spawn, retire, exit), by tp_stats and by tp_shutdown.
 *
 * What many threads read at any time (counters, the idle/queued/nworkers
 * figures used for sizing, the gate word, cancel_all, w->current) are plain
 * fields accessed only with __atomic builtins, and written only with
 * read-modify-write ones (fetch_add, exchange...), never plain stores. TSan
 * understands them; Helgrind does not model atomics, but Valgrind runs a
 * locked RMW as a compare-and-swap that Helgrind counts as a read, and reads
 * never race. No data is handed over through them: that always goes
 * through a mutex, which both tools see.
 *
 * Worker loop: tq_try_pop, so no waiter bookkeeping while work is plenty;
 * when empty, count itself idle and block in tq_pop (tq_pop_until idle_ms in
 * a dynamic pool). -EPIPE means closed and drained: exit.
 *
 * Sizing (min < max). Submit adds a worker when tasks queued outnumber idle
 * workers; a worker whose pop_until times out retires. Both sides use
 * seq_cst atomics in the store-then-load (Dekker) pattern:
 *   submitter: queued++, push,      then read idle and nworkers
 *   retiree:   idle--, nworkers--,  then read queued (undo if > 0)
 * so either the retiree sees the new task and stays, or the submitter sees
 * the worker gone and spawns one: a queued task is never stranded. A
 * retiree, under the lock, swaps itself in as pool->last_retired and joins
 * the previous one after unlocking; so one retired thread at most is
 * un-joined, and tp_shutdown joins it and every slot in use. Slots are
 * reused lowest-first, so names stay <name>-0 .. <name>-(max-1).
 *
 * Shutdown. tp_shutdown first sets `closing` (no more spawns or
 * retirements: the worker set is frozen), then closes the queue. The gate
 * word counts callers inside tp_submit/tp_stats and has two "closed" bits:
 * NO_SUBMIT (set first: submit returns -EPIPE) and NO_ENTRY (set after the
 * joins: tp_stats reads the final figures). A caller leaving a closed gate
 * decrements under the lock and wakes tp_shutdown, which waits for zero
 * before it destroys any mutex. In NOW mode, cancel_all makes workers cancel
 * what they pop; tp_shutdown raises the cancel flag of each running task
 * (w->current) and empties the queue itself. A worker whose task that scan
 * may be touching waits for scan_done before done(), which may free it.
 */
#include "pool/thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/task_queue.h"

#define TP_GATE_NO_SUBMIT (UINT64_C(1) << 63)
#define TP_GATE_NO_ENTRY (UINT64_C(1) << 62)
#define TP_GATE_CLOSED (TP_GATE_NO_SUBMIT | TP_GATE_NO_ENTRY)

#define TP_SEQ __ATOMIC_SEQ_CST
#define TP_RLX __ATOMIC_RELAXED

struct tp_worker {
  _Alignas(64) tp_task_t *current; /* atomic; own cache line per worker */
  tp_t *pool;                      /* immutable */
  unsigned index;                  /* immutable: the K in <name>-K */
  int in_use;                      /* lock: a thread owns this slot */
  pthread_t tid;                   /* lock */
  uint64_t start_ns;               /* lock */
};

struct tp {
  /* Immutable after tp_create. */
  tq_t *queue;
  size_t min_workers, max_workers, capacity;
  unsigned idle_ms;
  int dynamic;
  char name[9];
  struct tp_worker *workers; /* max_workers slots; their fields: see above */
  int shut_down; /* only the thread that calls tp_shutdown touches it */

  /* Atomic (see DESIGN). */
  uint64_t gate;
  int cancel_all;
  size_t nworkers; /* changed under lock; == slots in use until closing */
  size_t idle;     /* workers waiting in tq_pop/tq_pop_until */
  size_t queued;   /* being pushed or not yet popped; dynamic pools only */
  uint64_t submitted, completed, failed, cancelled, rejected;
  uint64_t final_lock_wait_ns, final_worker_ns;

  /* Guarded by lock. */
  pthread_mutex_t lock;
  pthread_cond_t cond; /* gate emptied; scan_done */
  int closing;         /* no more spawns or retirements */
  int scan_done;
  uint64_t exited_ns;  /* worker time of threads that have exited */
  uint64_t live_start_ns; /* sum of start_ns over the nworkers live ones */
  pthread_t last_retired;
  int have_retired;
};

static void tp_check(int rc) {
  if (rc != 0) abort(); /* a broken mutex or thread: nothing sane to do */
}

static uint64_t tp_now_ns(void) {
  struct timespec ts;
  tp_check(clock_gettime(CLOCK_MONOTONIC, &ts));
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void tp_lock(tp_t *pool) { tp_check(pthread_mutex_lock(&pool->lock)); }
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
        tp_check(pthread_cond_broadcast(&pool->cond));
      tp_unlock(pool);
      return;
    }
  } while (!__atomic_compare_exchange_n(&pool->gate, &g, g - 1, 1, TP_SEQ, TP_SEQ));
}

/* ---- workers ------------------------------------------------------------ */

static void *tp_worker_main(void *arg);

/* Under lock. Starts a thread in the lowest free slot. */
static int tp_spawn(tp_t *pool) {
  struct tp_worker *w = pool->workers, *end = w + pool->max_workers;
  while (w < end && w->in_use) w++;
  if (w == end) abort(); /* callers ensure nworkers < max_workers, all live */
  w->start_ns = tp_now_ns();

  /* The thread inherits our mask: block everything around pthread_create
   * so no signal can ever land on a worker, not even in its first cycle. */
  sigset_t all, old;
  tp_check(sigfillset(&all));
  tp_check(pthread_sigmask(SIG_SETMASK, &all, &old));
  int rc = pthread_create(&w->tid, NULL, tp_worker_main, w);
  tp_check(pthread_sigmask(SIG_SETMASK, &old, NULL));
  if (rc != 0) return -rc;

  w->in_use = 1;
  (void)__atomic_fetch_add(&pool->nworkers, 1, TP_SEQ);
  pool->live_start_ns += w->start_ns;
  /* Named from here, not by the worker, so the name is visible as soon as
   * tp_create returns. Cosmetic: a failure (e.g. no free fd) is ignored. */
  char name[16];
  snprintf(name, sizeof name, "%s-%u", pool->name, w->index);
  (void)pthread_setname_np(w->tid, name);
  return 0;
}

/* Under lock, with nworkers already decremented: w's time moves from the
 * live sum to the exited one. */
static void tp_account_exit(tp_t *pool, struct tp_worker *w) {
  pool->exited_ns += tp_now_ns() - w->start_ns;
  pool->live_start_ns -= w->start_ns;
}

/* After an idle timeout: 1 if this worker has retired and must return. */
static int tp_retire(tp_t *pool, struct tp_worker *w) {
  tp_lock(pool);
  if (pool->closing || __atomic_load_n(&pool->nworkers, TP_SEQ) <= pool->min_workers) {
    tp_unlock(pool);
    return 0;
  }
  (void)__atomic_fetch_sub(&pool->nworkers, 1, TP_SEQ);
  if (__atomic_load_n(&pool->queued, TP_SEQ) > 0) { /* see DESIGN: Dekker */
    (void)__atomic_fetch_add(&pool->nworkers, 1, TP_SEQ);
    tp_unlock(pool);
    return 0;
  }
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

static void tp_finish(tp_t *pool, tp_task_t *task, enum tp_outcome outcome) {
  uint64_t *counter = outcome == TP_OK       ? &pool->completed
                      : outcome == TP_FAILED ? &pool->failed
                                             : &pool->cancelled;
  (void)__atomic_fetch_add(counter, 1, TP_RLX); /* before done(): its caller may look */
  task->done(task, outcome);
}

static void tp_run(tp_t *pool, struct tp_worker *w, tp_task_t *task) {
  if (pool->dynamic) (void)__atomic_fetch_sub(&pool->queued, 1, TP_SEQ);
  enum tp_outcome outcome = TP_CANCELLED;
  /* Publish the task before checking cancel_all; tp_shutdown sets
   * cancel_all before scanning: one of us sees the other. */
  (void)__atomic_exchange_n(&w->current, task, TP_SEQ);
  if (__atomic_load_n(&pool->cancel_all, TP_SEQ)) {
    tp_task_cancel(task);
  } else {
    (void)__atomic_exchange_n(&task->started_ns_, tp_now_ns(), TP_SEQ);
    outcome = task->work(task) == 0 ? TP_OK : TP_FAILED;
  }
  (void)__atomic_exchange_n(&w->current, NULL, TP_SEQ);
  if (__atomic_load_n(&pool->cancel_all, TP_SEQ)) {
    /* The scan may still hold `task`; done() may free it. */
    tp_lock(pool);
    while (!pool->scan_done) tp_check(pthread_cond_wait(&pool->cond, &pool->lock));
    tp_unlock(pool);
  }
  tp_finish(pool, task, outcome);
}

static int tp_wait_for_task(tp_t *pool, void **item) {
  int rc;
  (void)__atomic_fetch_add(&pool->idle, 1, TP_SEQ);
  if (!pool->dynamic) {
    rc = tq_pop(pool->queue, item);
  } else {
    struct timespec deadline;
    tp_check(clock_gettime(CLOCK_MONOTONIC, &deadline));
    deadline.tv_sec += pool->idle_ms / 1000;
    deadline.tv_nsec += (long)(pool->idle_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
    rc = tq_pop_until(pool->queue, item, &deadline);
  }
  (void)__atomic_fetch_sub(&pool->idle, 1, TP_SEQ);
  return rc;
}

static void *tp_worker_main(void *arg) {
  struct tp_worker *w = arg;
  tp_t *pool = w->pool;
  int rc;
  do {
    void *item;
    rc = tq_try_pop(pool->queue, &item);
    if (rc == -EAGAIN) rc = tp_wait_for_task(pool, &item);
    if (rc == 0) tp_run(pool, w, item);
  } while (rc == 0 || (rc == -ETIMEDOUT && !tp_retire(pool, w)));
  if (rc == -EPIPE) { /* closed and drained: tp_shutdown joins this slot */
    tp_lock(pool);
    (void)__atomic_fetch_sub(&pool->nworkers, 1, TP_SEQ);
    tp_account_exit(pool, w);
    tp_unlock(pool);
  }
  return NULL;
}

/* ---- public API --------------------------------------------------------- */

int tp_create(tp_t **out, const struct tp_options *opt) {
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (opt == NULL || opt->min_workers == 0 || opt->max_workers < opt->min_workers ||
      opt->queue_capacity == 0 || (opt->min_workers < opt->max_workers && opt->idle_ms == 0))
    return -EINVAL;
  const char *name = opt->name != NULL ? opt->name : "worker";
  char longest[32];
  if (name[0] == '\0' || strlen(name) > 8 ||
      snprintf(longest, sizeof longest, "%s-%zu", name, opt->max_workers - 1) >= 16)
    return -EINVAL; /* Linux thread names are 15 bytes */

  tp_t *pool = calloc(1, sizeof(*pool));
  if (pool == NULL) return -ENOMEM;
  void *slots = NULL;
  int rc = -ENOMEM;
  if (opt->max_workers > SIZE_MAX / sizeof(struct tp_worker) ||
      posix_memalign(&slots, _Alignof(struct tp_worker),
                     opt->max_workers * sizeof(struct tp_worker)) != 0)
    goto fail_pool;
  memset(slots, 0, opt->max_workers * sizeof(struct tp_worker));
  pool->workers = slots;
  pool->min_workers = opt->min_workers;
  pool->max_workers = opt->max_workers;
  pool->capacity = opt->queue_capacity;
  pool->idle_ms = opt->idle_ms;
  pool->dynamic = opt->min_workers < opt->max_workers;
  strcpy(pool->name, name);
  for (size_t i = 0; i < opt->max_workers; i++) {
    pool->workers[i].pool = pool;
    pool->workers[i].index = (unsigned)i;
  }

  if ((rc = tq_create(&pool->queue, opt->queue_capacity)) < 0) goto fail_slots;
  if ((rc = -pthread_mutex_init(&pool->lock, NULL)) < 0) goto fail_queue;
  if ((rc = -pthread_cond_init(&pool->cond, NULL)) < 0) goto fail_mutex;

  tp_lock(pool);
  for (size_t i = 0; i < pool->min_workers && rc == 0; i++) rc = tp_spawn(pool);
  tp_unlock(pool);
  if (rc < 0) {
    tp_destroy(pool); /* joins the ones that did start */
    return rc;
  }
  *out = pool;
  return 0;

fail_mutex:
  tp_check(pthread_mutex_destroy(&pool->lock));
fail_queue:
  tq_destroy(pool->queue);
fail_slots:
  free(slots);
fail_pool:
  free(pool);
  return rc;
}

/* After a push: add a worker if tasks wait that no idle worker will take.
 * The lock-free test keeps a saturated pool at max_workers lock-free. */
static void tp_maybe_grow(tp_t *pool) {
  if (__atomic_load_n(&pool->nworkers, TP_SEQ) >= pool->max_workers ||
      __atomic_load_n(&pool->idle, TP_SEQ) >= __atomic_load_n(&pool->queued, TP_SEQ))
    return;
  tp_lock(pool);
  /* A failed spawn is not the submitter's error: the task is queued and the
   * workers that exist will run it. */
  if (!pool->closing && __atomic_load_n(&pool->nworkers, TP_SEQ) < pool->max_workers)
    (void)tp_spawn(pool);
  tp_unlock(pool);
}

static int tp_put(tp_t *pool, tp_task_t *task, int block) {
  if (pool == NULL || task == NULL || task->work == NULL || task->done == NULL) return -EINVAL;
  if (tp_enter(pool, TP_GATE_CLOSED) < 0) return -EPIPE;
  /* Plain writes: the queue's mutex publishes them to the worker. */
  task->error = NULL;
  task->cancel_ = 0;
  task->started_ns_ = 0;
  /* Counted before the push, so that `queued` never reads below the truth
   * (a worker decrements it only after popping). */
  if (pool->dynamic) (void)__atomic_fetch_add(&pool->queued, 1, TP_SEQ);
  int rc = block ? tq_push(pool->queue, task) : tq_try_push(pool->queue, task);
  if (rc == 0) {
    (void)__atomic_fetch_add(&pool->submitted, 1, TP_RLX);
    if (pool->dynamic) tp_maybe_grow(pool);
  } else {
    if (pool->dynamic) (void)__atomic_fetch_sub(&pool->queued, 1, TP_SEQ);
    if (rc == -EAGAIN) (void)__atomic_fetch_add(&pool->rejected, 1, TP_RLX);
  }
  tp_leave(pool);
  return rc;
}

int tp_submit(tp_t *pool, tp_task_t *task) { return tp_put(pool, task, 1); }
int tp_try_submit(tp_t *pool, tp_task_t *task) { return tp_put(pool, task, 0); }

void tp_stats(tp_t *pool, struct tp_stats *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof(*out));
  if (pool == NULL) return;
  out->queue_capacity = pool->capacity;
  if (tp_enter(pool, TP_GATE_NO_ENTRY) == 0) {
    out->queue_depth = tq_depth(pool->queue);
    out->lock_wait_ns = tq_lock_wait_ns(pool->queue);
    tp_lock(pool);
    out->workers = __atomic_load_n(&pool->nworkers, TP_SEQ);
    out->worker_ns = pool->exited_ns + out->workers * tp_now_ns() - pool->live_start_ns;
    tp_unlock(pool);
    tp_leave(pool);
  } else { /* shut down: the queue and the lock are gone */
    out->lock_wait_ns = __atomic_load_n(&pool->final_lock_wait_ns, TP_SEQ);
    out->worker_ns = __atomic_load_n(&pool->final_worker_ns, TP_SEQ);
  }
  size_t idle = __atomic_load_n(&pool->idle, TP_SEQ);
  out->busy_workers = out->workers > idle ? out->workers - idle : 0;
  out->submitted = __atomic_load_n(&pool->submitted, TP_RLX);
  out->completed = __atomic_load_n(&pool->completed, TP_RLX);
  out->failed = __atomic_load_n(&pool->failed, TP_RLX);
  out->cancelled = __atomic_load_n(&pool->cancelled, TP_RLX);
  out->rejected = __atomic_load_n(&pool->rejected, TP_RLX);
}

static void tp_wait_gate_empty(tp_t *pool) {
  while (__atomic_load_n(&pool->gate, TP_SEQ) & ~TP_GATE_CLOSED)
    tp_check(pthread_cond_wait(&pool->cond, &pool->lock));
}

void tp_shutdown(tp_t *pool, enum tp_shutdown_mode mode) {
  if (pool == NULL || pool->shut_down) return;
  pool->shut_down = 1;
  if (mode == TP_SHUTDOWN_NOW) (void)__atomic_fetch_or(&pool->cancel_all, 1, TP_SEQ);
  (void)__atomic_fetch_or(&pool->gate, TP_GATE_NO_SUBMIT, TP_SEQ);

  /* Freeze the worker set before closing the queue: once workers start
   * leaving on -EPIPE, nworkers no longer counts the slots in use, so no
   * spawn may look at it again. */
  tp_lock(pool);
  pool->closing = 1;
  if (mode == TP_SHUTDOWN_NOW) {
    for (size_t i = 0; i < pool->max_workers; i++) {
      tp_task_t *running = __atomic_load_n(&pool->workers[i].current, TP_SEQ);
      if (running != NULL) tp_task_cancel(running);
    }
    pool->scan_done = 1;
    tp_check(pthread_cond_broadcast(&pool->cond));
  }
  tp_unlock(pool);
  tq_close(pool->queue); /* wakes blocked submitters (-EPIPE) and idle workers */

  if (mode == TP_SHUTDOWN_NOW) { /* workers race us for these: each goes once */
    void *item;
    while (tq_try_pop(pool->queue, &item) == 0) {
      tp_task_cancel(item);
      tp_finish(pool, item, TP_CANCELLED);
    }
  }
  for (size_t i = 0; i < pool->max_workers; i++)
    if (pool->workers[i].in_use) tp_check(pthread_join(pool->workers[i].tid, NULL));
  if (pool->have_retired) tp_check(pthread_join(pool->last_retired, NULL));

  /* Every worker is joined: publish the final figures, then shut the gate
   * completely and wait out any tp_submit/tp_stats still inside. */
  (void)__atomic_fetch_add(&pool->final_lock_wait_ns, tq_lock_wait_ns(pool->queue), TP_SEQ);
  (void)__atomic_fetch_add(&pool->final_worker_ns, pool->exited_ns, TP_SEQ);
  (void)__atomic_fetch_or(&pool->gate, TP_GATE_NO_ENTRY, TP_SEQ);
  tp_lock(pool);
  tp_wait_gate_empty(pool);
  tp_unlock(pool);

  tq_destroy(pool->queue);
  pool->queue = NULL;
  tp_check(pthread_cond_destroy(&pool->cond));
  tp_check(pthread_mutex_destroy(&pool->lock));
}

void tp_destroy(tp_t *pool) {
  if (pool == NULL) return;
  tp_shutdown(pool, TP_SHUTDOWN_DRAIN);
  free(pool->workers);
  free(pool);
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
