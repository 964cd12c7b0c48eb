/* stats: what the server counts and times, for STATS, INFO and /metrics.
 *
 * Every figure is kept on the loop thread (requests are decided there), so
 * nothing here locks. Per command: calls and how each ended; for commands
 * that ran on the pool, three latency histograms: queue wait (accepted by
 * the pool until a worker started it), run time (start to finish on the
 * worker) and total (request read until its reply was decided). Per lane:
 * queue wait and run time. Each histogram is a log-linear one (1.6%
 * resolution, for percentiles) plus exact counts in the Prometheus bucket
 * bounds (ST_BOUNDS, seconds), allocated on first use.
 */
#ifndef SERVER_STATS_H
#define SERVER_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "base/histogram.h"
#include "base/sbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

enum st_outcome { ST_OK, ST_FAILED, ST_BUSY, ST_TIMEOUT, ST_CANCELLED, ST_OUTCOMES };
enum { ST_NBOUNDS = 16, ST_MAX_CMDS = 32, ST_MAX_LANES = 8 };

extern const char *const st_outcome_names[ST_OUTCOMES];
extern const double st_bounds_s[ST_NBOUNDS]; /* 0.0001 .. 10 */

struct st_hist {
  struct hist h;                 /* ns */
  uint64_t le[ST_NBOUNDS];       /* samples <= st_bounds_s[i] (not cumulative) */
  uint64_t count, sum_ns;
};

struct st_cmd {
  uint64_t calls;                 /* requests that named it, valid ones */
  uint64_t outcome[ST_OUTCOMES];  /* pool commands: how each ended */
  struct st_hist *wait, *run, *total; /* NULL until first used */
};

struct st_lane {
  struct st_hist *wait, *run;
};

struct stats {
  struct st_cmd cmd[ST_MAX_CMDS];
  struct st_lane lane[ST_MAX_LANES];
  uint64_t invalid;   /* requests answered "invalid input" (unknown commands too) */
  uint64_t start_ns;  /* CLOCK_MONOTONIC at start-up, for uptime */
};

void st_init(struct stats *st);
void st_free(struct stats *st);
/* A histogram sample; allocates *hp on first use (out of memory: dropped). */
void st_hist_record(struct st_hist **hp, uint64_t ns);
/* Percentile p of h in microseconds, 0 if h is NULL or empty. */
uint64_t st_hist_us(const struct st_hist *h, double p);
/* One request that went to the pool, decided: its outcome and times (wait
 * and run are 0 if it never ran). */
void st_pool_done(struct stats *st, size_t cmd, unsigned lane, enum st_outcome o,
                  uint64_t wait_ns, uint64_t run_ns, uint64_t total_ns);
/* Prometheus histogram lines for h: name_bucket{labels,le=...}, _sum, _count. */
void st_hist_prom(struct sbuf *b, const char *name, const char *labels, const struct st_hist *h);

#ifdef __cplusplus
}
#endif
#endif
