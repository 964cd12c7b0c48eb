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

/* Under lock: wakes one sleeper if runnable work outnumbers the workers
 * already on their way to it. */
void tp_maybe_wake(tp_t *pool, size_t runnable) {
  if (pool->idle > pool->wakeups && runnable > pool->wakeups + pool->spinning) {
    pool->wakeups++;
    tp_check(pthread_cond_signal(&pool->work_cv));
  }
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
