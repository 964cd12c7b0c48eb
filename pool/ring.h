/* ring: a bounded FIFO of pointers in a caller-provided array, with no
 * locking of its own: the building block of task_queue (which adds a mutex
 * and condition variables) and of the thread pool's lanes (which live
 * under the pool's one mutex). Whoever owns a ring says which lock guards
 * it. Inline; no allocation; O(1) everything.
 */
#ifndef POOL_RING_H
#define POOL_RING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ring {
  void **slot;     /* `cap` slots */
  size_t cap;
  size_t head;     /* index of the oldest item */
  size_t count;
};

static inline void ring_init(struct ring *r, void **slots, size_t cap) {
  r->slot = slots;
  r->cap = cap;
  r->head = r->count = 0;
}
static inline int ring_full(const struct ring *r) { return r->count == r->cap; }
static inline int ring_empty(const struct ring *r) { return r->count == 0; }
static inline void *ring_peek(const struct ring *r) { return r->count ? r->slot[r->head] : NULL; }

/* 0, or -1 when full. */
static inline int ring_push(struct ring *r, void *item) {
  if (r->count == r->cap) return -1;
  size_t tail = r->head + r->count;
  if (tail >= r->cap) tail -= r->cap;
  r->slot[tail] = item;
  r->count++;
  return 0;
}

/* The oldest item, or NULL when empty. */
static inline void *ring_pop(struct ring *r) {
  if (r->count == 0) return NULL;
  void *item = r->slot[r->head];
  if (++r->head == r->cap) r->head = 0;
  r->count--;
  return item;
}

#ifdef __cplusplus
}
#endif
#endif
