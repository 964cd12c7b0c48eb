/* list: intrusive, circular, doubly-linked lists (the shape of nginx's
 * ngx_queue_t and Linux's list_head), written once for every package.
 *
 * A struct list is both the head of a list and the link embedded in each
 * element; list_entry() gets from the link back to the element. An empty
 * head points at itself, so insertion and removal never test for NULL. A
 * link that is on no list is kept "detached" (pointing at itself too), so
 * list_linked() tells whether an element is on some list and list_del() of
 * a detached element is a harmless no-op.
 *
 * Lists do no locking and no allocation: the owner of the head decides
 * which thread may touch it (each header using one says so).
 */
#ifndef BASE_LIST_H
#define BASE_LIST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct list {
  struct list *prev, *next;
};

#define LIST_INIT(name) {&(name), &(name)}

static inline void list_init(struct list *l) { l->prev = l->next = l; }
static inline int list_empty(const struct list *h) { return h->next == h; }
/* Whether the element's link is on a list (not detached). */
static inline int list_linked(const struct list *e) { return e->next != e; }

static inline void list_insert_between(struct list *e, struct list *prev, struct list *next) {
  e->prev = prev;
  e->next = next;
  prev->next = e;
  next->prev = e;
}
static inline void list_push_back(struct list *h, struct list *e) {
  list_insert_between(e, h->prev, h);
}
static inline void list_push_front(struct list *h, struct list *e) {
  list_insert_between(e, h, h->next);
}
/* Unlinks e and leaves it detached; a no-op if it already is. */
static inline void list_del(struct list *e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
  list_init(e);
}
static inline struct list *list_first(const struct list *h) {
  return list_empty(h) ? NULL : h->next;
}
static inline struct list *list_pop_front(struct list *h) {
  struct list *e = list_first(h);
  if (e) list_del(e);
  return e;
}
/* Moves every element of `from` to the back of `to`; `from` ends empty. */
static inline void list_splice_back(struct list *to, struct list *from) {
  if (list_empty(from)) return;
  struct list *first = from->next, *last = from->prev;
  first->prev = to->prev;
  to->prev->next = first;
  last->next = to;
  to->prev = last;
  list_init(from);
}

#define list_entry(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Iterates over h; `it` may be unlinked (list_del) inside the body. */
#define list_for_each_safe(it, tmp, h) \
  for ((it) = (h)->next, (tmp) = (it)->next; (it) != (h); (it) = (tmp), (tmp) = (it)->next)

#ifdef __cplusplus
}
#endif
#endif
