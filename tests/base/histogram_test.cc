// Unit tests for tools/histogram: bucket layout, precision, percentiles.
#include <gtest/gtest.h>

#include <cstdint>

extern "C" {
#include "base/histogram.h"
}

namespace {

TEST(Histogram, BucketsAreContiguousAndOrdered) {
  uint64_t next = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    ASSERT_EQ(next, hist_bucket_low(i)) << i;
    ASSERT_LE(hist_bucket_low(i), hist_bucket_high(i));
    ASSERT_EQ(i, hist_index(hist_bucket_low(i)));
    ASSERT_EQ(i, hist_index(hist_bucket_high(i)));
    next = hist_bucket_high(i) + 1;
  }
  EXPECT_EQ(HIST_MAX_NS, hist_bucket_high(HIST_BUCKETS - 1));
  EXPECT_EQ((unsigned)HIST_BUCKETS - 1, hist_index(UINT64_MAX));
}

TEST(Histogram, RelativeErrorBelowOneSixtyFourth) {
  for (uint64_t v = 1; v < HIST_MAX_NS; v = v * 3 / 2 + 7) {
    unsigned i = hist_index(v);
    uint64_t width = hist_bucket_high(i) - hist_bucket_low(i) + 1;
    ASSERT_LE(width * 64, v + 64) << v;
  }
}

TEST(Histogram, EmptyIsZero) {
  struct hist h;
  hist_init(&h);
  EXPECT_EQ(0u, hist_percentile(&h, 50));
  EXPECT_EQ(0.0, hist_mean(&h));
}

TEST(Histogram, PercentilesOfUniformMicroseconds) {
  struct hist h;
  hist_init(&h);
  for (uint64_t us = 1; us <= 1000; us++) hist_record(&h, us * 1000);  // 1 us .. 1 ms
  EXPECT_EQ(1000u, h.total);
  EXPECT_EQ(1000u, h.min);
  EXPECT_EQ(1000000u, h.max);
  struct { double p; uint64_t exact; } cases[] = {
      {50, 500000}, {90, 900000}, {99, 990000}, {99.9, 999000}};
  for (auto c : cases) {
    uint64_t v = hist_percentile(&h, c.p);
    EXPECT_GE(v, c.exact) << c.p;
    EXPECT_LE(v, c.exact + c.exact / 64) << c.p;
  }
  EXPECT_EQ(1000000u, hist_percentile(&h, 100));
  EXPECT_EQ(1000u, hist_percentile(&h, 0));
  EXPECT_NEAR(500500.0, hist_mean(&h), 1e-6);
}

TEST(Histogram, ExtremesAndMerge) {
  struct hist a, b;
  hist_init(&a);
  hist_init(&b);
  hist_record(&a, 0);
  hist_record(&a, 7);
  hist_record(&b, 100ull * 1000 * 1000 * 1000);  // 100 s
  hist_record(&b, UINT64_MAX / 2);                 // beyond range: top bucket
  hist_merge(&a, &b);
  EXPECT_EQ(4u, a.total);
  EXPECT_EQ(0u, a.min);
  EXPECT_EQ(UINT64_MAX / 2, a.max);
  EXPECT_EQ(7u, hist_percentile(&a, 50));
  uint64_t p75 = hist_percentile(&a, 75);
  EXPECT_GE(p75, 100ull * 1000 * 1000 * 1000);
  EXPECT_LE(p75, 100ull * 1000 * 1000 * 1000 * 65 / 64);
  EXPECT_EQ(UINT64_MAX / 2, hist_percentile(&a, 100));
}

}  // namespace
