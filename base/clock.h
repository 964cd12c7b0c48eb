/* clock: the monotonic clock, read and added to in one place.
 *
 * Every timestamp and deadline in the project is CLOCK_MONOTONIC: it never
 * jumps when the wall clock is set. Any thread; no state.
 */
#ifndef BASE_CLOCK_H
#define BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t clk_now_ns(void) {
  struct timespec ts;
  /* Cannot fail for CLOCK_MONOTONIC with a valid pointer. */
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ts + ms, normalised (tv_nsec in 0..999999999). */
static inline struct timespec clk_add_ms(struct timespec ts, uint64_t ms) {
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* CLOCK_MONOTONIC now + ms: a deadline for pthread_cond_timedwait on a
 * condition variable set to CLOCK_MONOTONIC. */
static inline struct timespec clk_deadline_ms(uint64_t ms) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return clk_add_ms(ts, ms);
}

#ifdef __cplusplus
}
#endif
#endif
