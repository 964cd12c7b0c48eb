/* sched: stress_test's open-loop schedule, as arithmetic (no clock, no IO).
 *
 * R requests per second in total over N connections. Global request j is
 * due at offset(j) = floor(j * 1e9 / R) ns after the start and belongs to
 * connection j mod N as its k-th request, k = j div N. So the sends of all
 * connections interleave evenly (one every 1/R s overall) and each
 * connection sends every N/R s, connection c starting c/R s after the
 * start. The schedule holds `end` requests: N * F for F per connection, or
 * all those due before a time window W closes. Integer arithmetic
 * throughout, exact for R up to SCH_MAX_RATE and offsets up to SCH_MAX_NS.
 *
 * sch_release() is the driver's view: given the time elapsed, it names each
 * connection that has requests newly due (the caller then sends them) and
 * returns when the next request is due. A request is never skipped: what a
 * connection cannot send yet stays due (sch_conn_due counts it).
 *
 * Ownership and threads: a struct sch is a plain value; one owner. Errors
 * are 0 or a negative errno.
 */
#ifndef TOOLS_SCHED_H
#define TOOLS_SCHED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCH_MAX_RATE 10000000u                /* requests per second */
#define SCH_MAX_NS ((uint64_t)1 << 62)        /* ~146 years */

struct sch {
  uint64_t rate;   /* R */
  uint64_t nconn;  /* N */
  uint64_t end;    /* global requests in the schedule */
  uint64_t next;   /* the first global request not yet released */
};

/* A schedule of per_conn requests per connection (window_ns 0), or of those
 * due before window_ns (per_conn 0). -EINVAL unless 1 <= rate <=
 * SCH_MAX_RATE, nconn >= 1, and exactly one of per_conn, window_ns is set. */
int sch_init(struct sch *s, uint64_t rate, uint64_t nconn, uint64_t per_conn,
             uint64_t window_ns);

/* When global request j is due: ns after the start. */
uint64_t sch_offset_ns(const struct sch *s, uint64_t j);
/* Global requests due by elapsed_ns (offset <= elapsed), ignoring `end`. */
uint64_t sch_due(const struct sch *s, uint64_t elapsed_ns);
/* Connection c's k-th request as a global request number. */
uint64_t sch_request(const struct sch *s, size_t c, uint64_t k);
/* Requests of connection c in the schedule. */
uint64_t sch_conn_planned(const struct sch *s, size_t c);
/* Requests of connection c due by elapsed_ns (at most its planned ones). */
uint64_t sch_conn_due(const struct sch *s, size_t c, uint64_t elapsed_ns);

typedef void (*sch_fn)(size_t conn, void *arg);
/* Releases the requests due by elapsed_ns: calls fn(c, arg) once for each
 * connection with requests newly due since the last call. Returns the
 * offset of the next request to come, or UINT64_MAX if none is left. */
uint64_t sch_release(struct sch *s, uint64_t elapsed_ns, sch_fn fn, void *arg);

/* Ends the schedule at elapsed_ns: requests due later are dropped from the
 * plan (nothing due by then is). */
void sch_stop(struct sch *s, uint64_t elapsed_ns);

#ifdef __cplusplus
}
#endif
#endif
