// thread_pool's wake-ups (thread_pool.c DESIGN: Waking): a timing pool
// leaves small work to workers that will soon be free instead of waking a
// sleeper, and its standby makes sure such work never waits behind a task
// that turns out long. The fixture proves at teardown that every thread
// the pool started is gone.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "pool/thread_pool.h"
#include "tests/pool/pool_jobs.h"
#include "tests/pool/pool_test_util.h"

namespace {

using pooltest::Eventually;
using namespace pooltest::jobs;

using WakeTest = PoolTest;

// The trap the standby exists for. One worker is busy for the whole test
// (so a sleeper takes the standby post) and quick tasks teach the pool
// that tasks take microseconds. Then each round submits, in one batch, a
// task that blocks and a quick one: the worker woken takes the blocker,
// sees the quick one, and (a young task, short recent run times) leaves it
// to itself rather than wake a sleeper. The quick task must still finish
// while the blocker blocks: the standby takes it within ~1 ms. Without the
// standby it would wait until the blocker is released, which here is only
// after the quick one is done: the wait would time out.
TEST_F(WakeTest, SmallWorkNeverWaitsBehindALongTaskWhileWorkersSleep) {
  tp_options o = Options(3, 3, 64, 0);
  o.timing = 1;
  ASSERT_EQ(0, tp_create(&pool_, &o));

  Recorder busy_rec(1);
  std::vector<Job> busy = MakeJobs(&busy_rec, 1, kBlock);
  ASSERT_EQ(0, tp_submit(pool_, &busy[0].task));
  ASSERT_TRUE(busy_rec.started.WaitFor(1));

  const size_t kWarm = 200, kRounds = pooltest::Scaled(50, 5);
  Recorder warm_rec(kWarm);
  std::vector<Job> warm = MakeJobs(&warm_rec, kWarm, kQuick);
  for (Job &j : warm) ASSERT_EQ(0, tp_submit(pool_, &j.task));
  ASSERT_TRUE(warm_rec.WaitDone(kWarm));

  // Each round's recorder and jobs live to the end of the test: a new one
  // at the address of the last (whose std::mutex is never destroyed) would
  // look to Helgrind like a write racing with the workers' use of the old.
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::vector<Job>> round_jobs(kRounds);
  for (size_t r = 0; r < kRounds; r++) {
    recs.push_back(std::make_unique<Recorder>(2));
    Recorder &rec = *recs.back();
    round_jobs[r] = MakeJobs(&rec, 2, kQuick);
    std::vector<Job> &jobs = round_jobs[r];
    jobs[0].kind = kBlock;
    tp_task_t *batch[2] = {&jobs[0].task, &jobs[1].task};
    size_t accepted = 0;
    ASSERT_EQ(0, tp_submit_batch(pool_, batch, 2, &accepted));
    ASSERT_EQ(2u, accepted);
    bool quick_done = rec.WaitDone(1);  // done() of the quick one: the blocker blocks
    {
      std::lock_guard<std::mutex> g(rec.mu);
      EXPECT_TRUE(quick_done && rec.dones[1] == 1 && rec.dones[0] == 0)
          << "round " << r << ": the quick task waited behind the blocked one";
    }
    rec.release.Open();
    ASSERT_TRUE(rec.WaitDone(2));
    if (::testing::Test::HasFailure()) break;
  }
  busy_rec.release.Open();
  ASSERT_TRUE(busy_rec.WaitDone(1));
}

// An idle pool sleeps: once the last busy worker is done, no worker keeps
// a timer (the standby post is held only while the pool is busy or was busy in the last 20 ms), so the
// pool's wake-up count stays put however long it is left alone.
TEST_F(WakeTest, IdlePoolKeepsNoTimer) {
  tp_options o = Options(2, 2, 64, 0);
  o.timing = 1;
  ASSERT_EQ(0, tp_create(&pool_, &o));
  const size_t kN = 100;
  Recorder rec(kN);
  std::vector<Job> jobs = MakeJobs(&rec, kN, kQuick);
  for (Job &j : jobs) ASSERT_EQ(0, tp_submit(pool_, &j.task));
  ASSERT_TRUE(rec.WaitDone(kN));
  // Every worker asleep: idle workers are those not busy.
  ASSERT_TRUE(Eventually([&] {
    struct tp_stats st;
    tp_stats(pool_, &st);
    return st.busy_workers == 0;
  }));
  // The standby (if one was on watch) gives up its post at its next tick,
  // within ~21 ms; after that the thread states stop changing. Its ticks are
  // timed waits that end without work: their count is the thread's
  // voluntary context switches, read from /proc before and after.
  ASSERT_TRUE(Eventually([&] {
    size_t a = pooltest::VoluntarySwitches("worker");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a window with no ticks
    return pooltest::VoluntarySwitches("worker") == a;
  })) << "a worker keeps waking in an idle pool";
}

}  // namespace
