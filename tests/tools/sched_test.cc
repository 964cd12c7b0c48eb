// Unit tests for tools/sched: intended send times of the open-loop schedule
// for R requests/s over N connections, due counts, and the release driver.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <vector>

extern "C" {
#include "tools/sched.h"
}

namespace {

constexpr uint64_t kMs = 1000000, kSec = 1000000000;

struct sch Make(uint64_t rate, uint64_t n, uint64_t per_conn, uint64_t window_ns) {
  struct sch s;
  EXPECT_EQ(0, sch_init(&s, rate, n, per_conn, window_ns));
  return s;
}

uint64_t Offset(const struct sch &s, size_t c, uint64_t k) {
  return sch_offset_ns(&s, sch_request(&s, c, k));
}

TEST(Sched, IntendedTimesSpreadEvenlyOverConnections) {
  // 1000/s over 4 connections: one request every ms overall; connection c
  // sends at c ms, c + 4 ms, c + 8 ms, ...
  struct sch s = Make(1000, 4, 10, 0);
  for (size_t c = 0; c < 4; c++)
    for (uint64_t k = 0; k < 10; k++) {
      EXPECT_EQ((4 * k + c) * kMs, Offset(s, c, k)) << c << " " << k;
    }
  EXPECT_EQ(40u, s.end);
  for (size_t c = 0; c < 4; c++) EXPECT_EQ(10u, sch_conn_planned(&s, c));

  // 3/s over 2 connections: 0, 1/3 s, 2/3 s, 1 s, ... rounded down to ns.
  struct sch t = Make(3, 2, 3, 0);
  EXPECT_EQ(0u, Offset(t, 0, 0));
  EXPECT_EQ(333333333u, Offset(t, 1, 0));
  EXPECT_EQ(666666666u, Offset(t, 0, 1));
  EXPECT_EQ(kSec, Offset(t, 1, 1));
  EXPECT_EQ(kSec + 333333333u, Offset(t, 0, 2));
  EXPECT_EQ(kSec + 666666666u, Offset(t, 1, 2));
}

TEST(Sched, DueCountIsTheInverseOfTheOffsets) {
  // For every rate and time, j is due by e exactly when offset(j) <= e.
  for (uint64_t rate : {1ull, 3ull, 7ull, 1000ull, 999983ull, 10000000ull}) {
    struct sch s = Make(rate, 1, 1, 0);
    for (uint64_t j = 0; j < 200; j++) {
      uint64_t off = sch_offset_ns(&s, j);
      ASSERT_EQ(j + 1, sch_due(&s, off)) << rate << " " << j;
      if (off > 0) {
        ASSERT_EQ(j, sch_due(&s, off - 1)) << rate << " " << j;
      }
    }
    // Far out: a week at this rate, no overflow.
    uint64_t week = 7 * 24 * 3600 * kSec;
    EXPECT_EQ(7 * 24 * 3600 * rate + 1, sch_due(&s, week)) << rate;
    uint64_t j = sch_due(&s, week) - 1;
    EXPECT_LE(sch_offset_ns(&s, j), week);
    EXPECT_GT(sch_offset_ns(&s, j + 1), week);
  }
}

TEST(Sched, WindowHoldsWhatIsDueBeforeItCloses) {
  // 200/s for 1 s over 4 connections: exactly 200 requests, 50 each; the
  // last at 995 ms. A request due exactly at the close is not in it.
  struct sch s = Make(200, 4, 0, kSec);
  EXPECT_EQ(200u, s.end);
  for (size_t c = 0; c < 4; c++) EXPECT_EQ(50u, sch_conn_planned(&s, c));
  EXPECT_EQ(995 * kMs, sch_offset_ns(&s, s.end - 1));
  // 10/s for 0.25 s over 3: due at 0, 100, 200 ms -> connections 0, 1, 2.
  struct sch t = Make(10, 3, 0, 250 * kMs);
  EXPECT_EQ(3u, t.end);
  for (size_t c = 0; c < 3; c++) EXPECT_EQ(1u, sch_conn_planned(&t, c));
  // Fewer requests than connections: the last connections get none.
  struct sch u = Make(10, 8, 0, 250 * kMs);
  EXPECT_EQ(3u, u.end);
  EXPECT_EQ(1u, sch_conn_planned(&u, 2));
  EXPECT_EQ(0u, sch_conn_planned(&u, 3));
  EXPECT_EQ(0u, sch_conn_planned(&u, 7));
}

TEST(Sched, PerConnectionDueCounts) {
  struct sch s = Make(1000, 4, 3, 0);
  EXPECT_EQ(1u, sch_conn_due(&s, 0, 0));  // j = 0 is due at once
  EXPECT_EQ(0u, sch_conn_due(&s, 1, 0));
  EXPECT_EQ(1u, sch_conn_due(&s, 1, kMs));
  EXPECT_EQ(0u, sch_conn_due(&s, 3, 3 * kMs - 1));
  EXPECT_EQ(1u, sch_conn_due(&s, 3, 3 * kMs));
  EXPECT_EQ(2u, sch_conn_due(&s, 0, 4 * kMs));
  EXPECT_EQ(3u, sch_conn_due(&s, 0, 100 * kMs));  // capped at its 3 planned
  // Summed over connections, the due counts are the global count.
  for (uint64_t e = 0; e < 20 * kMs; e += 250000) {
    uint64_t sum = 0;
    for (size_t c = 0; c < 4; c++) sum += sch_conn_due(&s, c, e);
    uint64_t global = sch_due(&s, e);
    ASSERT_EQ(global < s.end ? global : s.end, sum) << e;
  }
}

struct Calls {
  std::vector<size_t> conns;
};
void Record(size_t c, void *arg) { static_cast<Calls *>(arg)->conns.push_back(c); }

TEST(Sched, ReleaseNamesEachConnectionWithNewlyDueRequests) {
  struct sch s = Make(1000, 4, 3, 0);  // 12 requests, 0..11 ms
  Calls calls;
  EXPECT_EQ(kMs, sch_release(&s, 0, Record, &calls));  // j = 0; next at 1 ms
  EXPECT_EQ((std::vector<size_t>{0}), calls.conns);
  calls.conns.clear();
  EXPECT_EQ(kMs, sch_release(&s, kMs - 1, Record, &calls));  // nothing new
  EXPECT_TRUE(calls.conns.empty());
  EXPECT_EQ(4 * kMs, sch_release(&s, 3 * kMs + 10, Record, &calls));  // j = 1..3
  EXPECT_EQ((std::vector<size_t>{1, 2, 3}), calls.conns);
  calls.conns.clear();
  // Late by 6 ms: j = 4..9 are due; each connection is named once.
  EXPECT_EQ(10 * kMs, sch_release(&s, 9 * kMs, Record, &calls));
  EXPECT_EQ((std::vector<size_t>{0, 1, 2, 3}), calls.conns);
  calls.conns.clear();
  EXPECT_EQ(UINT64_MAX, sch_release(&s, kSec, Record, &calls));  // j = 10, 11: the end
  EXPECT_EQ((std::vector<size_t>{2, 3}), calls.conns);
  calls.conns.clear();
  EXPECT_EQ(UINT64_MAX, sch_release(&s, 2 * kSec, Record, &calls));
  EXPECT_TRUE(calls.conns.empty());
}

TEST(Sched, StopEndsThePlanAtThatTime) {
  struct sch s = Make(1000, 2, 0, kSec);  // 1000 requests
  Calls calls;
  sch_release(&s, 4 * kMs, Record, &calls);  // j = 0..4 released
  sch_stop(&s, 4 * kMs);
  EXPECT_EQ(5u, s.end);
  EXPECT_EQ(3u, sch_conn_planned(&s, 0));  // j = 0, 2, 4
  EXPECT_EQ(2u, sch_conn_planned(&s, 1));  // j = 1, 3
  EXPECT_EQ(UINT64_MAX, sch_release(&s, kSec, Record, &calls));
  EXPECT_EQ(3u, sch_conn_due(&s, 0, kSec));
  sch_stop(&s, 100 * kMs);  // a later stop never extends the plan
  EXPECT_EQ(5u, s.end);
}

TEST(Sched, BadArguments) {
  struct sch s;
  EXPECT_EQ(-EINVAL, sch_init(&s, 0, 1, 1, 0));
  EXPECT_EQ(-EINVAL, sch_init(&s, SCH_MAX_RATE + 1, 1, 1, 0));
  EXPECT_EQ(-EINVAL, sch_init(&s, 1, 0, 1, 0));
  EXPECT_EQ(-EINVAL, sch_init(&s, 1, 1, 0, 0));     // neither
  EXPECT_EQ(-EINVAL, sch_init(&s, 1, 1, 5, kSec));  // both
  EXPECT_EQ(-EINVAL, sch_init(&s, 1, 2, UINT64_MAX, 0));
  EXPECT_EQ(0, sch_init(&s, SCH_MAX_RATE, 100000, 0, SCH_MAX_NS));
}

}  // namespace
