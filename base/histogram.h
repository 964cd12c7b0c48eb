/* histogram: a log-linear latency histogram (HdrHistogram-style).
 *
 * Design: values are nanoseconds. Values below 64 get one bucket each; every
 * power-of-two range [2^k, 2^(k+1)) above that is split into 64 linear
 * sub-buckets of width 2^(k-6), so any recorded value is known to within
 * 1/64 (~1.6%). HIST_MAX_NS (2^37 ns, ~137 s) bounds the range; larger
 * values land in the top bucket (max stays exact). Fixed size, no
 * allocation: 2048 counters. Not thread-safe; merge per-thread copies.
 */
#ifndef BASE_HISTOGRAM_H
#define BASE_HISTOGRAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { HIST_SUB_BITS = 6, HIST_TOP_BIT = 37 };
#define HIST_SUB ((uint64_t)1 << HIST_SUB_BITS)
#define HIST_MAX_NS (((uint64_t)1 << HIST_TOP_BIT) - 1)
#define HIST_BUCKETS ((HIST_TOP_BIT - HIST_SUB_BITS + 1) * (1 << HIST_SUB_BITS))

struct hist {
  uint64_t counts[HIST_BUCKETS];
  uint64_t total;
  uint64_t min, max; /* exact; min is UINT64_MAX while empty */
  double sum;        /* for the mean */
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile p (0..100): the smallest bucket bound v such that
 * at least p% of the samples are <= v, clipped to [min, max]. p <= 0 gives
 * min, p >= 100 gives max; 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* Bucket arithmetic, exposed for tests. */
unsigned hist_index(uint64_t ns);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx); /* inclusive */

#ifdef __cplusplus
}
#endif
#endif
