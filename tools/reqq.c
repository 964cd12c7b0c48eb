/* reqq: a connection's unanswered requests (see reqq.h).
 *
 * DESIGN: a ring of entries addressed by their rank from the front (rank i
 * lives at (head + i) mod cap) and three rank cursors, ans <= sent <= n.
 * Everything is a cursor move: writing advances `sent`, a reply advances
 * `ans`, settling pops settled entries off the front (moving all three),
 * and a lost connection sets ans = sent = 0 after squeezing out the settled
 * entries in place (a stable compaction: the write rank never passes the
 * read rank). The ring starts unallocated and doubles when full, up to max,
 * unrolling itself into the new array so ranks stay put; a closed-loop
 * connection with a small window never holds more than it needs.
 */
#include "tools/reqq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { RQ_FIRST_CAP = 16 };

static struct rq_entry *rq_at(const struct rq *q, size_t rank) {
  return &q->e[(q->head + rank) % q->cap];
}

int rq_init(struct rq *q, size_t max) {
  memset(q, 0, sizeof *q);
  if (max == 0) return -EINVAL;
  q->max = max;
  return 0;
}

void rq_free(struct rq *q) {
  free(q->e);
  q->e = NULL;
  q->cap = q->n = q->head = q->ans = q->sent = q->ndone = 0;
}

/* Doubles the ring (at most to max), keeping ranks. */
static int rq_grow(struct rq *q) {
  size_t cap = q->cap ? q->cap * 2 : RQ_FIRST_CAP;
  if (cap > q->max || cap < q->cap) cap = q->max;
  struct rq_entry *e = malloc(cap * sizeof *e);
  if (!e) return -ENOMEM;
  for (size_t i = 0; i < q->n; i++) e[i] = *rq_at(q, i);
  free(q->e);
  q->e = e;
  q->cap = cap;
  q->head = 0;
  return 0;
}

int rq_push(struct rq *q, uint32_t req, int64_t t0_ns) {
  if (q->n == q->max) return -ENOSPC;
  if (q->n == q->cap) {
    int rc = rq_grow(q);
    if (rc < 0) return rc;
  }
  *rq_at(q, q->n) = (struct rq_entry){t0_ns, req, 0, 0};
  q->n++;
  return 0;
}

struct rq_entry *rq_next_unsent(struct rq *q) {
  if (q->sent == q->n) return NULL;
  struct rq_entry *e = rq_at(q, q->sent++);
  e->sends++;
  return e;
}

struct rq_entry *rq_answer(struct rq *q) {
  if (q->ans == q->sent) return NULL;
  return rq_at(q, q->ans++);
}

void rq_done(struct rq *q, struct rq_entry *e) {
  if (e->done) return;
  e->done = 1;
  q->ndone++;
  while (q->n > 0 && rq_at(q, 0)->done) { /* settled entries are all < ans */
    q->head = (q->head + 1) % q->cap;
    q->n--;
    q->ans--;
    q->sent--;
    q->ndone--;
  }
}

void rq_rewind(struct rq *q) {
  size_t w = 0;
  for (size_t r = 0; r < q->n; r++) {
    struct rq_entry *e = rq_at(q, r);
    if (e->done) continue;
    if (w != r) *rq_at(q, w) = *e;
    w++;
  }
  q->n = w;
  q->ndone = 0;
  q->ans = q->sent = 0;
}
