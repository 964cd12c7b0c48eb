/* tp_lanes: the thread pool's lanes and its wake-ups (see thread_pool.c's
 * DESIGN: Lanes, Waking, Lock-free reads). Every function here runs under
 * the pool's lock.
 */
#include "pool/tp_internal.h"

static int tp_lane_open(const struct tp_lane *l) {
  return l->max_running == 0 || l->running < l->max_running;
}

/* Tasks that a free worker could start now. */
size_t tp_count_runnable(const tp_t *pool) {
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

void tp_set_runnable(tp_t *pool) {
  (void)__atomic_exchange_n(&pool->runnable, tp_count_runnable(pool), TP_RLX);
}

void tp_lane_push(tp_t *pool, struct tp_lane *l, tp_task_t *task) {
  size_t tail = l->ring.head + l->ring.count;
  if (tail >= l->ring.cap) tail -= l->ring.cap;
  l->seq[tail] = pool->next_seq++;
  (void)ring_push(&l->ring, task);
  (void)__atomic_fetch_add(&l->depth, 1, TP_RLX);
  pool->queued++;
}

tp_task_t *tp_lane_pop(tp_t *pool, struct tp_lane *l) {
  tp_task_t *task = ring_pop(&l->ring);
  (void)__atomic_fetch_sub(&l->depth, 1, TP_RLX);
  pool->queued--;
  if (l->room_waiters) tp_check(pthread_cond_signal(&l->room));
  /* Draining for shutdown: idle workers wait for this moment to exit. */
  if (pool->closing && pool->queued == 0) tp_check(pthread_cond_broadcast(&pool->work_cv));
  return task;
}

/* The oldest task of the lanes a worker may take from, or NULL. */
struct tp_lane *tp_pick(tp_t *pool) {
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

/* Awake workers that will come back for work soon: between tasks, or in
 * one that started less than a few recent run times ago. A worker deep in
 * a long task is not counted. Timing pools only (started_ns). */
static size_t tp_soon_free(const tp_t *pool) {
  uint64_t now = clk_now_ns(), young = 4 * pool->ewma_run_ns;
  if (young < TP_WAKE_COST_NS) young = TP_WAKE_COST_NS;
  size_t soon = 0;
  for (size_t i = 0; i < pool->max_workers; i++) {
    const struct tp_worker *w = &pool->workers[i];
    if (!w->in_use || !w->awake) continue;
    uint64_t started = w->current ? tp_task_started_ns(w->current) : 0;
    if (!w->current || !started || now - started < young) soon++;
  }
  return soon;
}

/* Wakes one sleeper if runnable work outnumbers the workers already on
 * their way to it, unless a wake-up would cost more than it saves: with a
 * standby on watch, work that the workers soon free would finish before a
 * sleeper could start is left to them (DESIGN: Waking). */
void tp_maybe_wake(tp_t *pool, size_t runnable) {
  if (pool->idle <= pool->wakeups || runnable <= pool->wakeups + pool->spinning) return;
  if (pool->standby && pool->ewma_run_ns) {
    size_t soon = tp_soon_free(pool) + pool->wakeups + pool->spinning;
    if (soon > 0 && runnable * pool->ewma_run_ns < soon * (uint64_t)TP_WAKE_COST_NS) return;
  }
  pool->wakeups++;
  tp_check(pthread_cond_signal(&pool->work_cv));
}

/* Under lock, after queueing: wake a sleeper, or add a worker. */
void tp_after_push(tp_t *pool) {
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
