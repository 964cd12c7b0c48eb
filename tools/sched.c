/* sched: the open-loop schedule (see sched.h).
 *
 * DESIGN: everything derives from one bijection, global request j <->
 * (connection j mod N, its k = j div N), and one monotone map, j -> its
 * due offset floor(j * 1e9 / R). Its inverse, "how many are due by e",
 * is the smallest count J with J * 1e9 >= (e + 1) * R, i.e.
 * ceil((e + 1) * R / 1e9). Both split the large factor into quotient and
 * remainder by R or by 1e9, so no product exceeds 2^63 within the limits
 * in sched.h. A connection's share of the first J global requests is
 * ceil((J - c) / N) for J > c. Releasing walks only the newly due global
 * requests (or every connection once, when at least N are newly due), so
 * the cost follows the send rate, not the connection count.
 */
#include "tools/sched.h"

#include <errno.h>

#define SCH_NS 1000000000u

int sch_init(struct sch *s, uint64_t rate, uint64_t nconn, uint64_t per_conn,
             uint64_t window_ns) {
  if (rate < 1 || rate > SCH_MAX_RATE || nconn < 1) return -EINVAL;
  if ((per_conn == 0) == (window_ns == 0) || window_ns > SCH_MAX_NS) return -EINVAL;
  s->rate = rate;
  s->nconn = nconn;
  s->next = 0;
  if (per_conn) {
    if (per_conn > UINT64_MAX / nconn) return -EINVAL;
    s->end = per_conn * nconn;
  } else {
    s->end = sch_due(s, window_ns - 1); /* due strictly before the window closes */
  }
  return 0;
}

uint64_t sch_offset_ns(const struct sch *s, uint64_t j) {
  return (j / s->rate) * SCH_NS + (j % s->rate) * SCH_NS / s->rate;
}

uint64_t sch_due(const struct sch *s, uint64_t elapsed_ns) {
  if (elapsed_ns > SCH_MAX_NS) elapsed_ns = SCH_MAX_NS;
  uint64_t a = elapsed_ns + 1;
  return (a / SCH_NS) * s->rate + ((a % SCH_NS) * s->rate + SCH_NS - 1) / SCH_NS;
}

uint64_t sch_request(const struct sch *s, size_t c, uint64_t k) {
  return k * s->nconn + c;
}

/* Connection c's share of global requests 0..J-1. */
static uint64_t sch_share(const struct sch *s, size_t c, uint64_t J) {
  return J > c ? (J - c - 1) / s->nconn + 1 : 0;
}

uint64_t sch_conn_planned(const struct sch *s, size_t c) {
  return sch_share(s, c, s->end);
}

uint64_t sch_conn_due(const struct sch *s, size_t c, uint64_t elapsed_ns) {
  uint64_t J = sch_due(s, elapsed_ns);
  return sch_share(s, c, J < s->end ? J : s->end);
}

uint64_t sch_release(struct sch *s, uint64_t elapsed_ns, sch_fn fn, void *arg) {
  uint64_t due = sch_due(s, elapsed_ns);
  if (due > s->end) due = s->end;
  if (due > s->next) {
    if (due - s->next >= s->nconn) {
      for (uint64_t c = 0; c < s->nconn; c++) fn((size_t)c, arg);
    } else {
      for (uint64_t j = s->next; j < due; j++) fn((size_t)(j % s->nconn), arg);
    }
    s->next = due;
  }
  return s->next < s->end ? sch_offset_ns(s, s->next) : UINT64_MAX;
}

void sch_stop(struct sch *s, uint64_t elapsed_ns) {
  uint64_t due = sch_due(s, elapsed_ns);
  if (due < s->end) s->end = due;
  if (s->next > s->end) s->next = s->end;
}
