/* reqq: one connection's unanswered requests, in order, for stress_test:
 * what to write next, which request a reply line answers, and what to resend
 * after a reconnect.
 *
 * Replies come in request order on a connection, so a FIFO is the whole
 * bookkeeping. Entries are held from rq_push until their final reply:
 *
 *   [0, ans)      answered on this connection: settled (done) entries still
 *                 stuck behind a retry entry, or retry entries (a reply that
 *                 asks for a resend, e.g. "ERROR: shutting down")
 *   [ans, sent)   written on this connection, reply not yet read
 *   [sent, n)     not written on this connection yet (new, or to resend)
 *
 * rq_next_unsent() hands out entries to write in order; rq_answer() gives
 * the entry the next reply line belongs to; rq_done() settles it (settled
 * entries leave from the front); leaving it unsettled makes it a retry.
 * When the connection is lost, rq_rewind() drops the settled entries and
 * marks every other one unwritten, so the next connection resends them
 * first, in their original order, before anything pushed later. An entry's
 * `sends` counts its writes: above 1 it is a resend.
 *
 * Storage is a ring that grows by doubling up to `max` entries. Pointers to
 * entries are valid until the next rq_push or rq_rewind. One owner, no
 * locking. Errors are 0 or a negative errno.
 */
#ifndef TOOLS_REQQ_H
#define TOOLS_REQQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rq_entry {
  int64_t t0_ns;   /* when it was (meant to be) first sent: latency origin */
  uint32_t req;    /* the owner's request number (e.g. a mix entry) */
  uint32_t sends;  /* times written to a connection */
  uint32_t done;   /* final reply seen */
};

struct rq {
  struct rq_entry *e;
  size_t cap, max;  /* allocated; never more than max held */
  size_t head;      /* ring position of entry 0 */
  size_t n;         /* entries held */
  size_t ans, sent; /* see above: ans <= sent <= n */
  size_t ndone;     /* settled entries still held */
};

/* An empty queue that will hold at most max (>= 1) entries; allocates
 * nothing yet. -EINVAL if max is 0. */
int rq_init(struct rq *q, size_t max);
void rq_free(struct rq *q);

/* Entries held (unanswered, retry, or settled but stuck behind a retry);
 * this is what counts against max. */
static inline size_t rq_held(const struct rq *q) { return q->n; }
/* Entries held that still want a final reply. */
static inline size_t rq_open(const struct rq *q) { return q->n - q->ndone; }
/* Entries written on this connection and not answered yet. */
static inline size_t rq_in_flight(const struct rq *q) { return q->sent - q->ans; }

/* Appends a new request. -ENOSPC if max are held, -ENOMEM. */
int rq_push(struct rq *q, uint32_t req, int64_t t0_ns);

/* The next entry to write (its sends is incremented), or NULL if all are
 * written. */
struct rq_entry *rq_next_unsent(struct rq *q);

/* The entry the next reply line answers, or NULL if none is in flight (an
 * unsolicited line). The entry stays held: settle it with rq_done, or leave
 * it to be resent after rq_rewind. */
struct rq_entry *rq_answer(struct rq *q);

/* Settles e (from rq_answer): it will not be resent. */
void rq_done(struct rq *q, struct rq_entry *e);

/* The connection is gone: settled entries are dropped and every other one is
 * to be written again, in order. */
void rq_rewind(struct rq *q);

#ifdef __cplusplus
}
#endif
#endif
