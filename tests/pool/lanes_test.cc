// thread_pool lanes, batches, deadlines and the wake-up chain: a lane's
// limit is never exceeded and its waiting tasks never block another lane's;
// across lanes the oldest task goes first; a batch stops at the first full
// lane; a task past its deadline or cancelled while queued never runs.
#include <errno.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "pool/thread_pool.h"
#include "tests/pool/pool_jobs.h"
#include "tests/pool/pool_test_util.h"

namespace {

using pooltest::Eventually;
using pooltest::Scaled;
using namespace pooltest::jobs;

class LanesTest : public PoolTest {
 protected:
  // Workers and lanes {capacity, max_running}.
  void Make(size_t workers, std::vector<tp_lane_options> lanes, unsigned spin_us = 0) {
    lanes_ = lanes;
    tp_options o = Options(workers, workers, 0, 0, "lane");
    o.lanes = lanes_.data();
    o.nlanes = lanes_.size();
    o.spin_us = spin_us;
    ASSERT_EQ(0, tp_create(&pool_, &o));
  }
  // Joins the workers before the test's recorders and jobs go away.
  void Drain() { tp_shutdown(pool_, TP_SHUTDOWN_DRAIN); }
  struct tp_lane_stats Lane(unsigned k) {
    struct tp_lane_stats s;
    tp_lane_stats(pool_, k, &s);
    return s;
  }

  std::vector<tp_lane_options> lanes_;
};

// A lane limited to one worker runs one task at a time however many wait,
// and the other lane's tasks run meanwhile on the other workers.
TEST_F(LanesTest, LimitHoldsAndOtherLanesAreNotBlocked) {
  Make(4, {{"slow", 8, 1}, {"fast", 8, 0}});
  Recorder slow(6), fast(20);
  std::vector<Job> s = MakeJobs(&slow, 6, kBlock);
  for (Job &j : s) {
    j.task.lane = 0;
    ASSERT_EQ(0, tp_submit(pool_, &j.task));
  }
  ASSERT_TRUE(slow.started.WaitFor(1));
  std::vector<Job> f = MakeJobs(&fast, 20, kQuick);
  for (Job &j : f) {
    j.task.lane = 1;
    ASSERT_EQ(0, tp_submit(pool_, &j.task));
  }
  ASSERT_TRUE(fast.WaitDone(20)) << "fast lane blocked behind the slow one";
  EXPECT_EQ(0u, slow.TotalDone());
  struct tp_lane_stats ls = Lane(0);
  EXPECT_EQ(1u, ls.running);
  EXPECT_EQ(5u, ls.depth);
  EXPECT_EQ(1u, ls.max_running);
  slow.release.Open();
  ASSERT_TRUE(slow.WaitDone(6));
  for (size_t i = 0; i < 6; i++) EXPECT_EQ(1, slow.runs[i]);
  Drain();
}

// With one worker, tasks of two lanes run in the order they were queued.
TEST_F(LanesTest, OldestFirstAcrossLanes) {
  Make(1, {{"a", 8, 0}, {"b", 8, 0}});
  Recorder gate(1), rec(6);
  std::vector<Job> blocker = MakeJobs(&gate, 1, kBlock);
  ASSERT_EQ(0, tp_submit(pool_, &blocker[0].task));
  ASSERT_TRUE(gate.started.WaitFor(1));
  std::vector<Job> jobs = MakeJobs(&rec, 6, kQuick);
  // done() runs on the one worker, right after each task: it sees the order.
  static std::vector<size_t> order;
  static std::mutex mu;
  order.clear();
  for (size_t i = 0; i < 6; i++) {
    jobs[i].task.lane = i % 3 == 0 ? 0 : 1;  // a b b a b b
    jobs[i].task.done = [](tp_task_t *t, enum tp_outcome o) {
      {
        std::lock_guard<std::mutex> g(mu);
        order.push_back(static_cast<Job *>(t->arg)->id);
      }
      Done(t, o);
    };
    ASSERT_EQ(0, tp_submit(pool_, &jobs[i].task));
  }
  gate.release.Open();
  ASSERT_TRUE(rec.WaitDone(6));
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
  Drain();
}

// Capacity is per lane: a full lane refuses, the other still accepts.
TEST_F(LanesTest, CapacityIsPerLane) {
  Make(1, {{"a", 2, 0}, {"b", 2, 0}});
  Recorder gate(1), rec(5);
  std::vector<Job> blocker = MakeJobs(&gate, 1, kBlock);
  ASSERT_EQ(0, tp_submit(pool_, &blocker[0].task));
  ASSERT_TRUE(gate.started.WaitFor(1));
  std::vector<Job> jobs = MakeJobs(&rec, 5, kQuick);
  EXPECT_EQ(2u, tp_lane_free(pool_, 0));
  ASSERT_EQ(0, tp_try_submit(pool_, &jobs[0].task));
  ASSERT_EQ(0, tp_try_submit(pool_, &jobs[1].task));
  EXPECT_EQ(0u, tp_lane_free(pool_, 0));
  EXPECT_EQ(-EAGAIN, tp_try_submit(pool_, &jobs[2].task));
  jobs[2].task.lane = 1;
  EXPECT_EQ(2u, tp_lane_free(pool_, 1));
  ASSERT_EQ(0, tp_try_submit(pool_, &jobs[2].task));
  EXPECT_EQ(1u, tp_lane_free(pool_, 1));
  EXPECT_EQ(0u, tp_lane_free(pool_, 7));  // no such lane
  jobs[3].task.lane = 7;
  EXPECT_EQ(-EINVAL, tp_try_submit(pool_, &jobs[3].task));
  EXPECT_EQ(1u, Lane(0).rejected);
  gate.release.Open();
  ASSERT_TRUE(rec.WaitDone(3));
  Drain();
}

// A batch goes in under one lock, in order, and stops at the first task
// whose lane is full; the rest stay the caller's, uncounted.
TEST_F(LanesTest, BatchStopsAtTheFirstFullLane) {
  Make(1, {{"a", 3, 0}, {"b", 8, 0}});
  Recorder gate(1), rec(6);
  std::vector<Job> blocker = MakeJobs(&gate, 1, kBlock);
  ASSERT_EQ(0, tp_submit(pool_, &blocker[0].task));
  ASSERT_TRUE(gate.started.WaitFor(1));
  std::vector<Job> jobs = MakeJobs(&rec, 6, kQuick);
  unsigned lanes[] = {0, 1, 0, 0, 0, 1};  // the 4th a-task does not fit
  std::vector<tp_task_t *> batch;
  for (size_t i = 0; i < 6; i++) {
    jobs[i].task.lane = lanes[i];
    batch.push_back(&jobs[i].task);
  }
  size_t accepted = 99;
  ASSERT_EQ(0, tp_submit_batch(pool_, batch.data(), batch.size(), &accepted));
  EXPECT_EQ(4u, accepted);
  struct tp_stats st = Stats(pool_);
  EXPECT_EQ(5u, st.submitted);  // the blocker and four
  EXPECT_EQ(0u, st.rejected);
  ASSERT_EQ(0, tp_submit_batch(pool_, batch.data() + 5, 1, &accepted));
  EXPECT_EQ(1u, accepted);
  ASSERT_EQ(0, tp_submit_batch(pool_, nullptr, 0, &accepted));
  EXPECT_EQ(0u, accepted);
  EXPECT_EQ(-EINVAL, tp_submit_batch(pool_, batch.data(), 1, nullptr));
  gate.release.Open();
  ASSERT_TRUE(rec.WaitDone(5));
  for (size_t i : {0, 1, 2, 3, 5}) EXPECT_EQ(1, rec.runs[i]) << i;
  EXPECT_EQ(0, rec.runs[4]);
  tp_shutdown(pool_, TP_SHUTDOWN_DRAIN);
  size_t n;
  EXPECT_EQ(-EPIPE, tp_submit_batch(pool_, batch.data() + 4, 1, &n));
  EXPECT_EQ(0u, n);
  Drain();
}

// A big batch into sleeping workers: one wake from the submitter, the rest
// passed on by the workers, and every task runs exactly once.
TEST_F(LanesTest, BatchWakesWorkersThroughTheChain) {
  Make(4, {{"a", 4096, 0}});
  const size_t n = Scaled(4000, 400);
  // Every round's recorder outlives the pool: a worker may still be
  // unlocking its mutex just after the last done() woke us.
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::vector<Job>> all_jobs;
  for (int round = 0; round < 3; round++) {
    recs.push_back(std::make_unique<Recorder>(n));
    Recorder &rec = *recs.back();
    all_jobs.push_back(MakeJobs(&rec, n, kQuick));
    std::vector<Job> &jobs = all_jobs.back();
    std::vector<tp_task_t *> batch;
    for (Job &j : jobs) batch.push_back(&j.task);
    size_t accepted = 0;
    ASSERT_EQ(0, tp_submit_batch(pool_, batch.data(), n, &accepted));
    ASSERT_EQ(n, accepted);
    ASSERT_TRUE(rec.WaitDone(n));
    for (size_t i = 0; i < n; i++) ASSERT_EQ(1, rec.dones[i]) << i;
  }
  struct tp_stats st = Stats(pool_);
  EXPECT_EQ(3 * n, st.completed);
  tp_shutdown(pool_, TP_SHUTDOWN_DRAIN);
}

// deadline_ns: a task still queued at its deadline is not run: TP_EXPIRED.
TEST_F(LanesTest, ExpiredWhileQueuedNeverRuns) {
  Make(1, {{"a", 8, 0}});
  Recorder gate(1), rec(2);
  std::vector<Job> blocker = MakeJobs(&gate, 1, kBlock);
  ASSERT_EQ(0, tp_submit(pool_, &blocker[0].task));
  ASSERT_TRUE(gate.started.WaitFor(1));
  std::vector<Job> jobs = MakeJobs(&rec, 2, kQuick);
  jobs[0].task.deadline_ns = clk_now_ns() + 1000000;  // 1 ms: passes while blocked
  jobs[1].task.deadline_ns = clk_now_ns() + 3600ull * 1000000000ull;
  ASSERT_EQ(0, tp_submit(pool_, &jobs[0].task));
  ASSERT_EQ(0, tp_submit(pool_, &jobs[1].task));
  const uint64_t t = clk_now_ns();
  while (clk_now_ns() < t + 2000000) std::this_thread::yield();  // past the first deadline
  gate.release.Open();
  ASSERT_TRUE(rec.WaitDone(2));
  EXPECT_EQ(0, rec.runs[0]);
  EXPECT_EQ(TP_EXPIRED, rec.outcome[0]);
  EXPECT_EQ(1, rec.runs[1]);
  EXPECT_EQ(TP_OK, rec.outcome[1]);
  EXPECT_EQ(1u, Stats(pool_).expired);
  EXPECT_EQ(1u, Lane(0).expired);
  Drain();
}

// A task cancelled while still queued is not run: TP_CANCELLED.
TEST_F(LanesTest, CancelledWhileQueuedNeverRuns) {
  Make(1, {{"a", 8, 0}});
  Recorder gate(1), rec(1);
  std::vector<Job> blocker = MakeJobs(&gate, 1, kBlock);
  ASSERT_EQ(0, tp_submit(pool_, &blocker[0].task));
  ASSERT_TRUE(gate.started.WaitFor(1));
  std::vector<Job> jobs = MakeJobs(&rec, 1, kQuick);
  ASSERT_EQ(0, tp_submit(pool_, &jobs[0].task));
  tp_task_cancel(&jobs[0].task);
  gate.release.Open();
  ASSERT_TRUE(rec.WaitDone(1));
  EXPECT_EQ(0, rec.runs[0]);
  EXPECT_EQ(TP_CANCELLED, rec.outcome[0]);
  Drain();
}

// Spinning workers: the same exactly-once guarantee under many producers
// (TSan and Helgrind check the lock-free spin hint here).
TEST_F(LanesTest, SpinningWorkersLoseNothing) {
  Make(2, {{"a", 64, 0}, {"b", 64, 1}}, 200);
  const size_t n = Scaled(60000, 1500);
  Recorder rec(n);
  std::vector<Job> jobs = MakeJobs(&rec, n, kQuick);
  std::vector<std::thread> producers;
  for (size_t p = 0; p < 2; p++) {
    producers.emplace_back([&, p] {
      for (size_t i = p; i < n; i += 2) {
        jobs[i].task.lane = static_cast<unsigned>(i % 2);
        int rc;
        while ((rc = tp_try_submit(pool_, &jobs[i].task)) == -EAGAIN) std::this_thread::yield();
        ASSERT_EQ(0, rc);
      }
    });
  }
  for (auto &t : producers) t.join();
  ASSERT_TRUE(rec.WaitDone(n));
  for (size_t i = 0; i < n; i++) ASSERT_EQ(1, rec.dones[i]) << i;
  Drain();
}

}  // namespace
