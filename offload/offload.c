/* offload: loop -> pool -> loop (see offload.h for the contract).
 *
 * DESIGN
 *
 *   loop thread                                 workers
 *   ------------------------------------------  ------------------------------
 *   ol_submit: room? -> the batch (or held)
 *   hook (before each epoll_wait):
 *     admit held works while lanes have room
 *     flush: one tp_submit_batch -> in_pool     ol_task_run: w->work(w)
 *     take the done list under `lock`;          ol_task_done: under `lock`,
 *     if empty, set loop_waiting = 1              append w to the done list;
 *     done(w) for each, in finishing order        if loop_waiting: clear it
 *   wake-up (eventfd): take the list, done()      and write the eventfd
 *   timer (while timeouts apply): expire()
 *
 * Threads and locks. One mutex, `lock`, guards the done list and
 * loop_waiting; a worker appends under it, the loop takes the whole list
 * under it. The mutex also orders everything the worker wrote (status,
 * error, the task's finish time) before the loop reads it: TSan and Helgrind
 * both see the hand-off; the eventfd is only a wake-up. Everything else
 * (batch, held, in_pool, counters) is the loop thread's alone.
 *
 * Fewer wake-ups. A worker writes the eventfd only when loop_waiting says
 * the loop may be asleep: the loop sets it, under the lock, in the same
 * step that found the done list empty, just before it waits. While the
 * loop is awake and will look at the list again anyway, completions cost
 * no system call (the done list is a FIFO, so order survives batching).
 *
 * Room. The loop is the pool's only submitter, so tp_lane_free (lock-free)
 * is a lower bound of the room in a lane: ol_submit admits a work only if
 * the lane has room beyond the works already batched for it, so the batch
 * flushed later always fits. A flush that is refused anyway (someone else
 * submitted to the pool) puts the works back at the head of the held FIFO.
 *
 * Where a work is (where_): BATCH (submitted this iteration), HELD (waiting
 * for room), POOL (in the pool or on the done list), or NONE (done). Held
 * works of a lane are admitted in FIFO order, and a new work for a lane
 * with held works is held too: nobody jumps the queue.
 */
#include "offload/offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

enum { OL_NONE, OL_BATCH, OL_HELD, OL_POOL };
enum { OL_TICK_MAX_MS = 50 };

struct ol {
  el_t *loop;
  tp_t *pool;
  struct ol_options opt;
  el_wake_t *wake;
  el_timer_t *tick;      /* armed while timeouts apply and in_pool is not empty */
  unsigned tick_ms;
  size_t nlanes;
  size_t *batched;       /* per lane: works in the batch */
  size_t *held_in;       /* per lane: works held */
  struct list batch, held, in_pool;
  size_t nbatch, nheld, npool;
  tp_task_t **scratch;   /* the batch as an array, for tp_submit_batch */
  size_t scratch_cap;
  int stopped;

  pthread_mutex_t lock;
  ol_work_t *done_head, *done_tail; /* lock */
  int loop_waiting;                 /* lock */
  uint64_t wakeups;                 /* lock */
};

static void ol_check(int rc) {
  if (rc != 0) abort(); /* a broken mutex: nothing sane to do */
}

/* ---- the worker side ---------------------------------------------------- */

static int ol_task_run(tp_task_t *t) {
  ol_work_t *w = t->arg;
  int rc = w->work(w);
  return rc;
}

static void ol_task_done(tp_task_t *t, enum tp_outcome outcome) {
  ol_work_t *w = t->arg;
  ol_t *ol = w->ol_;
  switch (outcome) {
    case TP_OK: w->status_ = OL_OK; break;
    case TP_FAILED: w->status_ = OL_FAILED; break;
    case TP_CANCELLED: w->status_ = OL_CANCELLED; break;
    case TP_EXPIRED: w->status_ = OL_EXPIRED; break;
  }
  w->done_next_ = NULL;
  ol_check(pthread_mutex_lock(&ol->lock));
  if (ol->done_tail) ol->done_tail->done_next_ = w;
  else ol->done_head = w;
  ol->done_tail = w;
  int wake = ol->loop_waiting;
  ol->loop_waiting = 0;
  ol->wakeups += (uint64_t)wake;
  ol_check(pthread_mutex_unlock(&ol->lock));
  if (wake) el_wake_signal(ol->wake);
}

/* ---- the loop side ------------------------------------------------------ */

static void ol_arm_tick(ol_t *ol) {
  if (ol->tick && ol->npool == 1) (void)el_timer_arm(ol->tick, ol->tick_ms, ol->tick_ms);
}

static void ol_finish(ol_t *ol, ol_work_t *w, enum ol_status st) {
  list_del(&w->link_);
  w->where_ = OL_NONE;
  w->done(w, st); /* may free w */
  (void)ol;
}

/* Runs done() for a list taken off the done list, in finishing order. */
static void ol_complete(ol_t *ol, ol_work_t *list) {
  while (list) {
    ol_work_t *w = list;
    list = w->done_next_;
    ol->npool--;
    if (ol->npool == 0 && ol->tick) (void)el_timer_arm(ol->tick, 0, 0);
    ol_finish(ol, w, w->status_);
  }
}

static ol_work_t *ol_take_done(ol_t *ol, int then_wait) {
  ol_check(pthread_mutex_lock(&ol->lock));
  ol_work_t *list = ol->done_head;
  ol->done_head = ol->done_tail = NULL;
  ol->loop_waiting = then_wait && list == NULL;
  ol_check(pthread_mutex_unlock(&ol->lock));
  return list;
}

static void ol_to_batch(ol_t *ol, ol_work_t *w) {
  w->where_ = OL_BATCH;
  list_push_back(&ol->batch, &w->link_);
  ol->nbatch++;
  ol->batched[w->lane]++;
}

static int ol_has_room(ol_t *ol, unsigned lane) {
  return tp_lane_free(ol->pool, lane) > ol->batched[lane];
}

/* Moves held works to the batch, oldest first per lane, while there is room. */
static void ol_admit_held(ol_t *ol) {
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, &ol->held) {
    ol_work_t *w = list_entry(it, ol_work_t, link_);
    if (!ol_has_room(ol, w->lane)) continue; /* its lane's later works wait too */
    list_del(&w->link_);
    ol->nheld--;
    ol->held_in[w->lane]--;
    ol_to_batch(ol, w);
    if (w->admit) w->admit(w);
  }
}

/* Submits the batch to the pool in one call (see DESIGN: Room). */
static void ol_flush(ol_t *ol) {
  if (ol->nbatch == 0) return;
  if (ol->nbatch > ol->scratch_cap) {
    size_t cap = ol->scratch_cap ? ol->scratch_cap : 64;
    while (cap < ol->nbatch) cap *= 2;
    tp_task_t **p = realloc(ol->scratch, cap * sizeof *p);
    if (!p) return; /* out of memory: the batch waits for the next pass */
    ol->scratch = p;
    ol->scratch_cap = cap;
  }
  size_t n = 0;
  uint64_t now = clk_now_ns();
  uint64_t qt = (uint64_t)ol->opt.queue_timeout_ms * 1000000u;
  struct list *it;
  for (it = ol->batch.next; it != &ol->batch; it = it->next) {
    ol_work_t *w = list_entry(it, ol_work_t, link_);
    w->submit_ns_ = now;
    w->task_.deadline_ns = qt ? now + qt : 0;
    ol->scratch[n++] = &w->task_;
  }
  size_t accepted = 0;
  int rc = tp_submit_batch(ol->pool, ol->scratch, n, &accepted);
  for (size_t i = 0; i < n; i++) {
    ol_work_t *w = ol->scratch[i]->arg;
    list_del(&w->link_);
    ol->batched[w->lane]--;
    if (i < accepted) {
      w->where_ = OL_POOL;
      list_push_back(&ol->in_pool, &w->link_);
      ol->npool++;
      ol_arm_tick(ol);
    } else if (rc == -EPIPE) { /* the pool is shutting down */
      w->where_ = OL_NONE;
      w->done(w, OL_CANCELLED);
    } else { /* refused: wait at the head of the held FIFO, in order */
      w->where_ = OL_HELD;
      list_insert_between(&w->link_, ol->held.prev, &ol->held);
      ol->nheld++;
      ol->held_in[w->lane]++;
    }
  }
  ol->nbatch = 0;
}

/* Before each epoll_wait. Returns 0: the hooks after it see what it did. */
static int ol_before_wait(el_t *loop, void *arg) {
  (void)loop;
  ol_t *ol = arg;
  for (;;) {
    if (ol->nheld) ol_admit_held(ol);
    ol_flush(ol);
    ol_work_t *list = ol_take_done(ol, 1);
    if (!list) return 0;
    ol_complete(ol, list);
  }
}

static void ol_on_wake(el_t *loop, void *arg) {
  (void)loop;
  ol_t *ol = arg;
  ol_complete(ol, ol_take_done(ol, 0));
}

/* While works are in the pool and timeouts apply (see offload.h). */
static void ol_on_tick(el_t *loop, void *arg) {
  (void)loop;
  ol_t *ol = arg;
  uint64_t now = clk_now_ns();
  uint64_t rt = (uint64_t)ol->opt.run_timeout_ms * 1000000u;
  uint64_t qt = (uint64_t)ol->opt.queue_timeout_ms * 1000000u;
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, &ol->in_pool) {
    ol_work_t *w = list_entry(it, ol_work_t, link_);
    if (w->expired_) continue;
    uint64_t started = tp_task_started_ns(&w->task_);
    enum ol_status why;
    if (started == 0 && qt && now - w->submit_ns_ >= qt) why = OL_EXPIRED;
    else if (started != 0 && rt && now - started >= rt) why = OL_TIMEOUT;
    else continue;
    w->expired_ = 1;
    tp_task_cancel(&w->task_);
    if (w->expire) w->expire(w, why);
  }
}

/* ---- public ------------------------------------------------------------- */

int ol_submit(ol_t *ol, ol_work_t *w) {
  if (!w || !w->work || !w->done || w->lane >= ol->nlanes) return -EINVAL;
  if (ol->stopped) return -EPIPE;
  memset(&w->task_, 0, sizeof w->task_);
  w->task_.work = ol_task_run;
  w->task_.done = ol_task_done;
  w->task_.arg = w;
  w->task_.lane = w->lane;
  w->ol_ = ol;
  w->error = NULL;
  w->expired_ = 0;
  w->submit_ns_ = 0;
  if (ol->held_in[w->lane] == 0 && ol_has_room(ol, w->lane)) {
    ol_to_batch(ol, w);
    return 0;
  }
  if (!ol->opt.hold) return -EAGAIN;
  w->where_ = OL_HELD;
  list_push_back(&ol->held, &w->link_);
  ol->nheld++;
  ol->held_in[w->lane]++;
  return 1;
}

int ol_work_busy(const ol_work_t *w) { return w->where_ != OL_NONE; }

void ol_cancel(ol_t *ol, ol_work_t *w) {
  if (w->where_ == OL_POOL) {
    tp_task_cancel(&w->task_);
  } else if (w->where_ == OL_BATCH || w->where_ == OL_HELD) {
    if (w->where_ == OL_BATCH) {
      ol->nbatch--;
      ol->batched[w->lane]--;
    } else {
      ol->nheld--;
      ol->held_in[w->lane]--;
    }
    ol_finish(ol, w, OL_CANCELLED);
  }
}

void ol_stop(ol_t *ol) { ol->stopped = 1; }

void ol_cancel_all(ol_t *ol) {
  ol->stopped = 1;
  while (!list_empty(&ol->held)) ol_cancel(ol, list_entry(ol->held.next, ol_work_t, link_));
  while (!list_empty(&ol->batch)) ol_cancel(ol, list_entry(ol->batch.next, ol_work_t, link_));
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, &ol->in_pool) {
    ol_work_t *w = list_entry(it, ol_work_t, link_);
    tp_task_cancel(&w->task_);
    if (w->expired_) continue;
    w->expired_ = 1;
    if (w->expire) w->expire(w, OL_CANCELLED);
  }
}

size_t ol_pending(const ol_t *ol) { return ol->nbatch + ol->nheld + ol->npool; }
size_t ol_held(const ol_t *ol) { return ol->nheld; }

uint64_t ol_wakeups(ol_t *ol) {
  ol_check(pthread_mutex_lock(&ol->lock));
  uint64_t n = ol->wakeups;
  ol_check(pthread_mutex_unlock(&ol->lock));
  return n;
}

int ol_work_cancelled(const ol_work_t *w) { return tp_task_cancelled(&w->task_); }

void ol_work_times(const ol_work_t *w, uint64_t *wait_ns, uint64_t *run_ns) {
  uint64_t started = tp_task_started_ns(&w->task_), finished = tp_task_finished_ns(&w->task_);
  if (wait_ns) *wait_ns = started && started > w->submit_ns_ ? started - w->submit_ns_ : 0;
  if (run_ns) *run_ns = started && finished > started ? finished - started : 0;
}

int ol_create(el_t *loop, tp_t *pool, const struct ol_options *opt, ol_t **out) {
  if (!loop || !pool || !out) return -EINVAL;
  ol_t *ol = calloc(1, sizeof *ol);
  if (!ol) return -ENOMEM;
  ol->loop = loop;
  ol->pool = pool;
  if (opt) ol->opt = *opt;
  ol->nlanes = tp_lanes(pool);
  list_init(&ol->batch);
  list_init(&ol->held);
  list_init(&ol->in_pool);
  int rc = -ENOMEM;
  if (!(ol->batched = calloc(ol->nlanes, sizeof *ol->batched)) ||
      !(ol->held_in = calloc(ol->nlanes, sizeof *ol->held_in)))
    goto fail_mem;
  if ((rc = -pthread_mutex_init(&ol->lock, NULL)) < 0) goto fail_mem;
  if ((rc = el_wake_create(loop, ol_on_wake, ol, &ol->wake)) < 0) goto fail_mutex;
  unsigned shortest = ol->opt.run_timeout_ms;
  if (ol->opt.queue_timeout_ms && (!shortest || ol->opt.queue_timeout_ms < shortest))
    shortest = ol->opt.queue_timeout_ms;
  if (shortest) {
    /* A quarter of the shortest timeout, 1..50 ms: expiry is late by at most that. */
    ol->tick_ms = shortest / 4 ? shortest / 4 : 1;
    if (ol->tick_ms > OL_TICK_MAX_MS) ol->tick_ms = OL_TICK_MAX_MS;
    if ((rc = el_timer_create(loop, ol_on_tick, ol, &ol->tick)) < 0) goto fail_wake;
  }
  if ((rc = el_hook_add(loop, ol_before_wait, ol)) < 0) goto fail_tick;
  *out = ol;
  return 0;
fail_tick:
  el_timer_destroy(ol->tick);
fail_wake:
  el_wake_destroy(ol->wake);
fail_mutex:
  ol_check(pthread_mutex_destroy(&ol->lock));
fail_mem:
  free(ol->batched);
  free(ol->held_in);
  free(ol);
  return rc;
}

void ol_destroy(ol_t *ol) {
  if (!ol) return;
  el_hook_del(ol->loop, ol_before_wait, ol);
  ol_complete(ol, ol_take_done(ol, 0));
  ol_cancel_all(ol); /* never submitted: done(OL_CANCELLED) */
  el_timer_destroy(ol->tick);
  el_wake_destroy(ol->wake);
  ol_check(pthread_mutex_destroy(&ol->lock));
  free(ol->scratch);
  free(ol->batched);
  free(ol->held_in);
  free(ol);
}
