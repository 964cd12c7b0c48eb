/* task_queue: a bounded, blocking FIFO of pointers (spec R1).
 *
 * One mutex and two condition variables (not-empty, not-full). Producers
 * either block while the queue is full (tq_push) or are told at once
 * (tq_try_push: what an event loop must use). Consumers block while it is
 * empty. tq_close() wakes every waiter; afterwards pushes fail and pops
 * drain what is left, then report closed.
 *
 * Errors: every int function returns 0 or a negative errno:
 *   -EINVAL  bad argument          -ENOMEM  out of memory
 *   -EAGAIN  full (try_push) or empty (try_pop)
 *   -EPIPE   queue closed (and, for pops, drained)
 *   -ETIMEDOUT  tq_pop_until reached its deadline
 * Thread safety: every function but tq_create/tq_destroy may be called from
 * any thread at any time. tq_destroy requires that no thread is inside, or
 * will again enter, any tq_ function on that queue (join them first).
 */
#ifndef POOL_TASK_QUEUE_H
#define POOL_TASK_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tq tq_t;

int  tq_create(tq_t **out, size_t capacity);  /* capacity >= 1 */
void tq_destroy(tq_t *q);                     /* items still queued are not freed */

int tq_push(tq_t *q, void *item);      /* blocks while full; -EPIPE once closed */
int tq_try_push(tq_t *q, void *item);  /* never blocks: -EAGAIN when full */
int tq_pop(tq_t *q, void **item);      /* blocks while empty and open */
int tq_try_pop(tq_t *q, void **item);  /* never blocks: -EAGAIN when empty and open */
/* Like tq_pop, but gives up at `deadline` (CLOCK_MONOTONIC): -ETIMEDOUT. */
int tq_pop_until(tq_t *q, void **item, const struct timespec *deadline);

void tq_close(tq_t *q);  /* idempotent; wakes all blocked producers and consumers */

size_t tq_depth(tq_t *q);
size_t tq_capacity(tq_t *q);
/* Total nanoseconds callers spent blocked acquiring the queue's mutex (the
 * contention figure). Uncontended acquisitions cost one trylock and add 0. */
uint64_t tq_lock_wait_ns(tq_t *q);

#ifdef __cplusplus
}
#endif
#endif
