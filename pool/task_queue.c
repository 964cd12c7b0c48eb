/* task_queue: a bounded, blocking FIFO of pointers. See task_queue.h.
 *
 * DESIGN
 *
 * One mutex guards everything below it in struct tq: the ring (pool/ring.h,
 * shared with the thread pool's lanes), the
 * closed flag, the waiter counts and the lock-wait total. Two condition
 * variables hang off that mutex: not_empty (consumers wait on it) and
 * not_full (producers wait on it). Every wait sits in a
 *     while (!predicate) pthread_cond_wait(...)
 * loop, so spurious wake-ups and stolen wake-ups (another thread took the
 * slot first) are harmless.
 *
 * Waiters count themselves in pop_waiters / push_waiters while they sleep.
 * The other side signals only when the count is non-zero: a queue that is
 * never empty or full costs one lock/unlock per operation and no futex
 * system call for the condition variable. Signals are sent with the mutex
 * held, the pattern Helgrind (and any reader) can check.
 *
 * tq_close() sets closed and broadcasts both condition variables: blocked
 * producers return -EPIPE, blocked consumers drain what is left and then
 * return -EPIPE too.
 *
 * Contention figure: tq_lock() tries the lock first and only when that
 * fails reads the clock around the blocking pthread_mutex_lock(). The
 * uncontended path therefore pays one trylock, and the total is added while
 * the mutex is held, so measuring needs no extra synchronisation.
 *
 * Timed waits use CLOCK_MONOTONIC (pthread_condattr_setclock) so that an
 * idle timeout is not stretched or cut short when the wall clock is set.
 */
#include "pool/task_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/lockwait.h"
#include "pool/ring.h"

struct tq {
  pthread_mutex_t lock;
  pthread_cond_t not_empty;
  pthread_cond_t not_full;
  struct ring ring; /* over items[] */
  unsigned pop_waiters, push_waiters;
  int closed;
  uint64_t lock_wait_ns;
  void *items[]; /* the ring's slots */
};

/* An error from these means memory corruption or a destroyed object: there
 * is no sensible way to continue, and returning it would only hide it. */
static void tq_check(int rc) {
  if (rc != 0) abort();
}

/* Under the lock, so the total needs no other synchronisation. */
static void tq_lock(tq_t *q) { q->lock_wait_ns += lw_lock(&q->lock); }

static void tq_unlock(tq_t *q) { tq_check(pthread_mutex_unlock(&q->lock)); }

int tq_create(tq_t **out, size_t capacity) {
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (capacity == 0) return -EINVAL;
  if (capacity > (SIZE_MAX - sizeof(tq_t)) / sizeof(void *)) return -ENOMEM;
  tq_t *q = calloc(1, sizeof(*q) + capacity * sizeof(void *));
  if (q == NULL) return -ENOMEM;
  ring_init(&q->ring, q->items, capacity);

  pthread_condattr_t attr;
  int rc = pthread_condattr_init(&attr);
  if (rc != 0) goto fail_free;
  if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0) goto fail_attr;
  if ((rc = pthread_mutex_init(&q->lock, NULL)) != 0) goto fail_attr;
  if ((rc = pthread_cond_init(&q->not_empty, &attr)) != 0) goto fail_mutex;
  if ((rc = pthread_cond_init(&q->not_full, &attr)) != 0) goto fail_not_empty;
  tq_check(pthread_condattr_destroy(&attr));
  *out = q;
  return 0;

fail_not_empty:
  tq_check(pthread_cond_destroy(&q->not_empty));
fail_mutex:
  tq_check(pthread_mutex_destroy(&q->lock));
fail_attr:
  tq_check(pthread_condattr_destroy(&attr));
fail_free:
  free(q);
  return -rc;
}

void tq_destroy(tq_t *q) {
  if (q == NULL) return;
  tq_check(pthread_cond_destroy(&q->not_full));
  tq_check(pthread_cond_destroy(&q->not_empty));
  tq_check(pthread_mutex_destroy(&q->lock));
  free(q);
}

/* The one producer path. `block`: wait for room instead of -EAGAIN. */
static int tq_put(tq_t *q, void *item, int block) {
  if (q == NULL) return -EINVAL;
  tq_lock(q);
  while (block && ring_full(&q->ring) && !q->closed) {
    q->push_waiters++;
    tq_check(pthread_cond_wait(&q->not_full, &q->lock));
    q->push_waiters--;
  }
  int rc = 0;
  if (q->closed) {
    rc = -EPIPE;
  } else if (ring_push(&q->ring, item) < 0) {
    rc = -EAGAIN;
  } else if (q->pop_waiters > 0) {
    tq_check(pthread_cond_signal(&q->not_empty));
  }
  tq_unlock(q);
  return rc;
}

/* The one consumer path. `block`: wait for an item instead of -EAGAIN;
 * `deadline` (CLOCK_MONOTONIC, may be NULL) bounds that wait. */
static int tq_take(tq_t *q, void **item, int block, const struct timespec *deadline) {
  if (q == NULL || item == NULL) return -EINVAL;
  tq_lock(q);
  int rc = 0;
  while (ring_empty(&q->ring) && !q->closed) {
    if (!block || rc == ETIMEDOUT) break;
    q->pop_waiters++;
    if (deadline == NULL) {
      rc = pthread_cond_wait(&q->not_empty, &q->lock);
    } else {
      rc = pthread_cond_timedwait(&q->not_empty, &q->lock, deadline);
    }
    q->pop_waiters--;
    if (rc != 0 && rc != ETIMEDOUT) abort();
  }
  /* An item that arrived as the deadline passed is still taken. */
  if (!ring_empty(&q->ring)) {
    *item = ring_pop(&q->ring);
    if (q->push_waiters > 0) tq_check(pthread_cond_signal(&q->not_full));
    rc = 0;
  } else if (q->closed) {
    rc = -EPIPE;
  } else if (rc == ETIMEDOUT) {
    rc = -ETIMEDOUT;
  } else {
    rc = -EAGAIN;
  }
  tq_unlock(q);
  return rc;
}

int tq_push(tq_t *q, void *item) { return tq_put(q, item, 1); }
int tq_try_push(tq_t *q, void *item) { return tq_put(q, item, 0); }
int tq_pop(tq_t *q, void **item) { return tq_take(q, item, 1, NULL); }
int tq_try_pop(tq_t *q, void **item) { return tq_take(q, item, 0, NULL); }

int tq_pop_until(tq_t *q, void **item, const struct timespec *deadline) {
  /* Checked here so that pthread_cond_timedwait cannot fail. */
  if (deadline == NULL || deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000L)
    return -EINVAL;
  return tq_take(q, item, 1, deadline);
}

void tq_close(tq_t *q) {
  if (q == NULL) return;
  tq_lock(q);
  if (!q->closed) {
    q->closed = 1;
    if (q->pop_waiters > 0) tq_check(pthread_cond_broadcast(&q->not_empty));
    if (q->push_waiters > 0) tq_check(pthread_cond_broadcast(&q->not_full));
  }
  tq_unlock(q);
}

size_t tq_depth(tq_t *q) {
  if (q == NULL) return 0;
  tq_check(pthread_mutex_lock(&q->lock));
  size_t n = q->ring.count;
  tq_unlock(q);
  return n;
}

size_t tq_capacity(tq_t *q) { return q == NULL ? 0 : q->ring.cap; } /* immutable */

uint64_t tq_lock_wait_ns(tq_t *q) {
  if (q == NULL) return 0;
  tq_check(pthread_mutex_lock(&q->lock));
  uint64_t ns = q->lock_wait_ns;
  tq_unlock(q);
  return ns;
}
