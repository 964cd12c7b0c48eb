/* tp_worker: the thread pool's workers: their start (signal mask, name),
 * their loop (take, run, settle, deliver done()), waiting and spinning,
 * and retiring (see thread_pool.c's DESIGN: Waking, Spinning, Sizing).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pool/tp_internal.h"

static void *tp_worker_main(void *arg);

/* Under lock. Starts a thread in the lowest free slot. */
int tp_spawn(tp_t *pool) {
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
  w->awake = 1; /* it looks for work before it ever waits */
  w->idle_since = 0;
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
void tp_account_exit(tp_t *pool, struct tp_worker *w) {
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

/* Under lock: the workers running or between tasks, w excluded. */
static size_t tp_others_awake(const tp_t *pool) {
  return pool->nworkers - pool->idle - pool->spinning - 1;
}

/* Under lock, with nothing to take: spin (unlocked) or sleep. Returns
 * nonzero if the worker retired (lock released). A sleeper becomes the
 * standby if there is none and the pool is busy (others awake, or one ran
 * out of work less than TP_STANDBY_LINGER_NS ago): it then wakes every
 * TP_STANDBY_NS to take work nobody was woken for. */
static int tp_wait(tp_t *pool, struct tp_worker *w) {
  w->awake = 0;
  uint64_t now = clk_now_ns();
  if (!w->idle_since) w->idle_since = pool->last_idle_ns = now;
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
    if (tp_pick(pool) || pool->closing) {
      w->awake = 1;
      return 0;
    }
  }
  int standby = pool->timing && !pool->standby && !pool->closing &&
                (tp_others_awake(pool) > 0 || now - pool->last_idle_ns < TP_STANDBY_LINGER_NS);
  uint64_t retire_at = pool->dynamic ? w->idle_since + (uint64_t)pool->idle_ms * 1000000u : 0;
  pool->idle++;
  int rc;
  if (standby || pool->dynamic) {
    uint64_t until = standby ? now + TP_STANDBY_NS : UINT64_MAX;
    if (retire_at && retire_at < until) until = retire_at;
    struct timespec deadline = {.tv_sec = (time_t)(until / 1000000000u),
                                .tv_nsec = (long)(until % 1000000000u)};
    pool->standby |= standby;
    rc = pthread_cond_timedwait(&pool->work_cv, &pool->lock, &deadline);
    if (rc != 0 && rc != ETIMEDOUT) abort();
    if (standby) pool->standby = 0;
  } else {
    rc = pthread_cond_wait(&pool->work_cv, &pool->lock);
    tp_check(rc);
  }
  pool->idle--;
  w->awake = 1;
  if (pool->wakeups) {
    pool->wakeups--;
    pool->woken++;
  }
  if (rc == ETIMEDOUT && retire_at && clk_now_ns() >= retire_at && !tp_pick(pool))
    return tp_retire(pool, w);
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
    w->idle_since = 0;
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
    if (pool->timing && (prev_outcome == TP_OK || prev_outcome == TP_FAILED)) {
      int64_t run = (int64_t)(prev->finished_ns_ - tp_task_started_ns(prev));
      int64_t e = (int64_t)pool->ewma_run_ns;
      pool->ewma_run_ns = (uint64_t)(e ? e + (run - e) / 8 : run);
    }
    tp_settle(pool, w, prev_outcome);
    if (pool->spin_us && l->max_running) tp_set_runnable(pool); /* a limited lane opened */
  }
  tp_account_exit(pool, w);
  tp_unlock(pool);
  return NULL;
}
