// Unit tests for tools/reqq: a connection's unanswered requests, replies
// matched in order, and what is resent after a reconnect, in which order.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <vector>

extern "C" {
#include "tools/reqq.h"
}

namespace {

// Writes everything unwritten; returns (req, sends) of each write in order.
std::vector<std::pair<uint32_t, uint32_t>> WriteAll(struct rq *q) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  while (struct rq_entry *e = rq_next_unsent(q)) out.emplace_back(e->req, e->sends);
  return out;
}

using Writes = std::vector<std::pair<uint32_t, uint32_t>>;

TEST(Reqq, RepliesMatchRequestsInOrder) {
  struct rq q;
  ASSERT_EQ(0, rq_init(&q, 8));
  EXPECT_EQ(nullptr, rq_answer(&q));  // nothing sent: a reply is unsolicited
  for (uint32_t i = 0; i < 3; i++) ASSERT_EQ(0, rq_push(&q, i, 100 + i));
  EXPECT_EQ(3u, rq_held(&q));
  EXPECT_EQ(0u, rq_in_flight(&q));
  EXPECT_EQ((Writes{{0, 1}, {1, 1}, {2, 1}}), WriteAll(&q));
  EXPECT_EQ(3u, rq_in_flight(&q));
  for (uint32_t i = 0; i < 3; i++) {
    struct rq_entry *e = rq_answer(&q);
    ASSERT_NE(nullptr, e);
    EXPECT_EQ(i, e->req);
    EXPECT_EQ(100 + (int64_t)i, e->t0_ns);
    rq_done(&q, e);
  }
  EXPECT_EQ(nullptr, rq_answer(&q));
  EXPECT_EQ(0u, rq_held(&q));
  rq_free(&q);
}

TEST(Reqq, HoldsAtMostMax) {
  struct rq q;
  EXPECT_EQ(-EINVAL, rq_init(&q, 0));
  ASSERT_EQ(0, rq_init(&q, 3));
  for (uint32_t i = 0; i < 3; i++) ASSERT_EQ(0, rq_push(&q, i, 0));
  EXPECT_EQ(-ENOSPC, rq_push(&q, 9, 0));
  WriteAll(&q);
  rq_done(&q, rq_answer(&q));
  EXPECT_EQ(0, rq_push(&q, 3, 0));  // a settled reply makes room
  EXPECT_EQ(-ENOSPC, rq_push(&q, 9, 0));
  rq_free(&q);
}

TEST(Reqq, ReconnectResendsUnansweredFirstInOriginalOrder) {
  struct rq q;
  ASSERT_EQ(0, rq_init(&q, 16));
  for (uint32_t i = 0; i < 5; i++) ASSERT_EQ(0, rq_push(&q, i, 0));
  WriteAll(&q);                       // 0..4 written
  rq_done(&q, rq_answer(&q));         // 0 answered
  ASSERT_EQ(0, rq_push(&q, 5, 0));    // 5 queued, not written yet
  // The connection drops: 1..4 got no reply.
  rq_rewind(&q);
  EXPECT_EQ(5u, rq_held(&q));
  EXPECT_EQ(0u, rq_in_flight(&q));
  EXPECT_EQ(nullptr, rq_answer(&q));  // a reply now would be unsolicited
  ASSERT_EQ(0, rq_push(&q, 6, 0));    // pushed during the outage
  // Resends (sends 2) first, in order, then those never written.
  EXPECT_EQ((Writes{{1, 2}, {2, 2}, {3, 2}, {4, 2}, {5, 1}, {6, 1}}), WriteAll(&q));
  for (uint32_t want = 1; want <= 6; want++) {
    struct rq_entry *e = rq_answer(&q);
    ASSERT_NE(nullptr, e);
    EXPECT_EQ(want, e->req);
    rq_done(&q, e);
  }
  EXPECT_EQ(0u, rq_held(&q));
  rq_free(&q);
}

TEST(Reqq, TwoOutagesInARow) {
  struct rq q;
  ASSERT_EQ(0, rq_init(&q, 16));
  for (uint32_t i = 0; i < 3; i++) ASSERT_EQ(0, rq_push(&q, i, 0));
  WriteAll(&q);
  rq_rewind(&q);
  // Only part of the resend goes out before the next drop.
  ASSERT_NE(nullptr, rq_next_unsent(&q));
  rq_rewind(&q);
  EXPECT_EQ((Writes{{0, 3}, {1, 2}, {2, 2}}), WriteAll(&q));
  rq_free(&q);
}

TEST(Reqq, RetryEntryIsResentAndSettledOnesBehindItAreNot) {
  struct rq q;
  ASSERT_EQ(0, rq_init(&q, 16));
  for (uint32_t i = 0; i < 4; i++) ASSERT_EQ(0, rq_push(&q, i, 0));
  WriteAll(&q);
  struct rq_entry *e0 = rq_answer(&q);  // "shutting down": left unsettled
  ASSERT_EQ(0u, e0->req);
  struct rq_entry *e1 = rq_answer(&q);  // a final reply behind it
  ASSERT_EQ(1u, e1->req);
  rq_done(&q, e1);
  EXPECT_EQ(4u, rq_held(&q));  // 1 is settled but stuck behind 0
  EXPECT_EQ(3u, rq_open(&q));
  EXPECT_EQ(2u, rq_in_flight(&q));
  rq_rewind(&q);  // 2 and 3 never answered
  EXPECT_EQ(3u, rq_held(&q));
  EXPECT_EQ((Writes{{0, 2}, {2, 2}, {3, 2}}), WriteAll(&q));
  for (uint32_t want : {0u, 2u, 3u}) {
    struct rq_entry *e = rq_answer(&q);
    ASSERT_NE(nullptr, e);
    EXPECT_EQ(want, e->req);
    rq_done(&q, e);
  }
  EXPECT_EQ(0u, rq_held(&q));
  rq_free(&q);
}

TEST(Reqq, OrderSurvivesGrowthWhileWrapped) {
  struct rq q;
  ASSERT_EQ(0, rq_init(&q, 1000));
  uint32_t pushed = 0, answered = 0;
  // Keep 10 in flight for a while so the ring's front wraps, then let it
  // grow past its first size while wrapped; replies must stay in order.
  for (int round = 0; round < 100; round++) {
    while (rq_held(&q) < 10) ASSERT_EQ(0, rq_push(&q, pushed++, 0));
    WriteAll(&q);
    struct rq_entry *e = rq_answer(&q);
    ASSERT_EQ(answered++, e->req);
    rq_done(&q, e);
  }
  while (rq_held(&q) < 200) ASSERT_EQ(0, rq_push(&q, pushed++, 0));
  WriteAll(&q);
  rq_rewind(&q);  // and a reconnect on top
  Writes w = WriteAll(&q);
  ASSERT_EQ(200u, w.size());
  for (size_t i = 0; i < w.size(); i++) EXPECT_EQ(answered + i, w[i].first);
  while (struct rq_entry *e = rq_answer(&q)) {
    ASSERT_EQ(answered++, e->req);
    rq_done(&q, e);
  }
  EXPECT_EQ(pushed, answered);
  rq_free(&q);
}

}  // namespace
