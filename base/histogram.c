/* histogram: log-linear buckets, see histogram.h.
 * Index layout: [0, 64) exact values 0..63; then for k = 6..36 a block of
 * 64 buckets for [2^k, 2^(k+1)), bucket j covering 2^k + j*2^(k-6) ... */
#include "base/histogram.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

unsigned hist_index(uint64_t ns) {
  if (ns > HIST_MAX_NS) ns = HIST_MAX_NS;
  if (ns < HIST_SUB) return (unsigned)ns;
  unsigned k = 63u - (unsigned)__builtin_clzll(ns); /* 6..36 */
  unsigned shift = k - HIST_SUB_BITS;
  return (unsigned)(HIST_SUB + (uint64_t)shift * HIST_SUB + ((ns >> shift) - HIST_SUB));
}

uint64_t hist_bucket_low(unsigned idx) {
  if (idx < HIST_SUB) return idx;
  unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
  uint64_t j = idx % HIST_SUB;
  return (HIST_SUB + j) << shift;
}

uint64_t hist_bucket_high(unsigned idx) {
  if (idx < HIST_SUB) return idx;
  unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
  return hist_bucket_low(idx) + ((uint64_t)1 << shift) - 1;
}

void hist_record(struct hist *h, uint64_t ns) {
  h->counts[hist_index(ns)]++;
  h->total++;
  if (ns < h->min) h->min = ns;
  if (ns > h->max) h->max = ns;
  h->sum += (double)ns;
}

void hist_merge(struct hist *dst, const struct hist *src) {
  for (unsigned i = 0; i < HIST_BUCKETS; i++) dst->counts[i] += src->counts[i];
  dst->total += src->total;
  if (src->min < dst->min) dst->min = src->min;
  if (src->max > dst->max) dst->max = src->max;
  dst->sum += src->sum;
}

uint64_t hist_percentile(const struct hist *h, double p) {
  if (h->total == 0) return 0;
  if (p <= 0) return h->min;
  if (p >= 100) return h->max;
  uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total - 1e-9);
  if (rank < 1) rank = 1;
  if (rank > h->total) rank = h->total;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t v = hist_bucket_high(i);
      if (v > h->max) v = h->max;
      if (v < h->min) v = h->min;
      return v;
    }
  }
  return h->max;
}

double hist_mean(const struct hist *h) {
  return h->total ? h->sum / (double)h->total : 0.0;
}
