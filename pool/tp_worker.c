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
