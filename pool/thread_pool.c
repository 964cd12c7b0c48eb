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
 * A wake-up costs ~20 us before the sleeper runs (TP_WAKE_COST_NS); a
 * worker that is already awake takes a 1 us task at once. So a timing pool
 * (which knows its recent run time, `ewma_run_ns`) does not wake anyone
 * for work that the awake workers soon free (between tasks, or in a task
 * younger than a few run times) would finish first: runnable x ewma <
 * soon x TP_WAKE_COST_NS. On 2 cores that keeps 4 workers from costing
 * more than 1 (bench/: workers 4 / 1 at 10 clients). The risk is a task
 * that runs much longer than the recent ones: the work left to its worker
 * would wait behind it while others sleep. Hence the standby: the heuristic
 * applies only while one sleeper (`standby`) is in a timed wait; it looks
 * every TP_STANDBY_NS (1 ms) and takes what nobody was woken for. It holds
 * that post while other workers are awake or one ran out of work less than
 * TP_STANDBY_LINGER_NS (20 ms) ago: an idle pool soon sleeps without timers.
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
 * several); a worker idle for idle_ms (its timed wait ends, nothing to
 * do) retires if above min. A retiree swaps itself in as
 * last_retired and joins the previous one after unlocking, so at most one
 * exited thread is un-joined at any time; tp_shutdown joins it and every
 * slot in use. Slots are reused lowest-first: names stay <name>-0..max-1.
 *
 * Files: thread_pool.c (this one: the API, create, submit, stats,
 * shutdown), tp_lanes.c (the lanes and who to wake), tp_worker.c (the
 * workers), sharing tp_internal.h.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/tp_internal.h"

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
