/* lockwait: pthread_mutex_lock that says how long it waited, for the
 * contention figures (STATS lock_wait_us). It tries the lock first, so an
 * uncontended acquisition costs one trylock and no clock read; only a
 * contended one reads the clock around the blocking lock. A mutex error
 * means a destroyed or corrupted mutex: there is nothing sane to do, so it
 * aborts rather than return what no caller could handle.
 */
#ifndef BASE_LOCKWAIT_H
#define BASE_LOCKWAIT_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Locks m; returns the nanoseconds spent blocked (0 if it was free). */
static inline uint64_t lw_lock(pthread_mutex_t *m) {
  int rc = pthread_mutex_trylock(m);
  if (rc == 0) return 0;
  if (rc != EBUSY) abort();
  uint64_t t0 = clk_now_ns();
  if (pthread_mutex_lock(m) != 0) abort();
  return clk_now_ns() - t0;
}

#ifdef __cplusplus
}
#endif
#endif
