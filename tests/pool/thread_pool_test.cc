// thread_pool: task life cycle, shutdown modes, cancellation, naming,
// signal masks, dynamic sizing and counters. Every test synchronises on
// events (Gate, Latch, done() callbacks); the fixture proves at teardown
// that every thread the pool started is gone.
#include "pool/thread_pool.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/pool/pool_jobs.h"
#include "tests/pool/pool_test_util.h"

namespace {

using pooltest::Eventually;
using pooltest::Gate;
using pooltest::Latch;
using pooltest::Scaled;
using namespace pooltest::jobs;

class ThreadPoolTest : public PoolTest {
 protected:
  void Make(size_t min, size_t max, size_t capacity, unsigned idle_ms = 0,
            const char *name = nullptr) {
    tp_options o = Options(min, max, capacity, idle_ms, name);
    ASSERT_EQ(0, tp_create(&pool_, &o));
  }
  // Calls tp_shutdown on another thread and returns once the pool refuses
  // new tasks. Needs a full queue, so the probe is refused (-EAGAIN) until
  // then and is never accepted.
  std::thread ShutdownInBackground(tp_shutdown_mode mode, Recorder *rec) {
    std::thread t([this, mode] { tp_shutdown(pool_, mode); });
    std::vector<Job> probe = MakeJobs(rec, 1, kQuick, rec->runs.size() - 1);
    EXPECT_TRUE(Eventually([&] {
      int rc = tp_try_submit(pool_, &probe[0].task);
      EXPECT_NE(0, rc) << "probe accepted: the queue was not full";
      return rc == -EPIPE;
    }));
    return t;
  }
};

TEST_F(ThreadPoolTest, BadArgumentsFailWithEinval) {
  tp_t *p = reinterpret_cast<tp_t *>(1);
  tp_options ok = Options(1, 2, 4, 50, "w");
  EXPECT_EQ(-EINVAL, tp_create(nullptr, &ok));
  EXPECT_EQ(-EINVAL, tp_create(&p, nullptr));
  EXPECT_EQ(nullptr, p);
  tp_options bad[] = {
      Options(0, 0, 4, 50, nullptr),        // no workers
      Options(0, 2, 4, 50, nullptr),        // min 0
      Options(3, 2, 4, 50, nullptr),        // min > max
      Options(1, 2, 0, 50, nullptr),        // no capacity
      Options(1, 2, 4, 0, nullptr),         // dynamic but never idle
      Options(1, 1, 4, 0, ""),              // empty name
      Options(1, 1, 4, 0, "ninechars"),     // longer than 8
      Options(1, 10000000, 4, 50, "eight888"),  // "eight888-9999999" > 15 bytes
  };
  for (const tp_options &o : bad) EXPECT_EQ(-EINVAL, tp_create(&p, &o)) << o.min_workers;
  Make(1, 1, 1);
  Recorder rec(1);
  std::vector<Job> jobs = MakeJobs(&rec, 1, kQuick);
  EXPECT_EQ(-EINVAL, tp_submit(nullptr, &jobs[0].task));
  EXPECT_EQ(-EINVAL, tp_submit(pool_, nullptr));
  EXPECT_EQ(-EINVAL, tp_try_submit(pool_, nullptr));
  jobs[0].task.done = nullptr;
  EXPECT_EQ(-EINVAL, tp_submit(pool_, &jobs[0].task));
  tp_stats(nullptr, nullptr);
  tp_shutdown(nullptr, TP_SHUTDOWN_NOW);
  tp_destroy(nullptr);
  tp_task_cancel(nullptr);
  EXPECT_EQ(0, tp_task_cancelled(nullptr));
  EXPECT_EQ(0u, tp_task_started_ns(nullptr));
  EXPECT_EQ(0u, Stats(pool_).submitted);
}

TEST_F(ThreadPoolTest, WorkersAreNamedAndBlockSignals) {
  Make(3, 3, 8, 0, "tpn");
  for (int k = 0; k < 3; k++) EXPECT_EQ(1u, pooltest::CountNamed("tpn-" + std::to_string(k)));
  EXPECT_EQ(0u, pooltest::CountNamed("tpn-3"));
  Recorder rec(6);
  std::vector<Job> jobs = MakeJobs(&rec, 6, kCheckSignals);
  for (Job &j : jobs) ASSERT_EQ(0, tp_submit(pool_, &j.task));
  ASSERT_TRUE(rec.WaitDone(6));
  for (Job &j : jobs) EXPECT_TRUE(j.signals_blocked) << j.id;
  for (Job &j : jobs) EXPECT_TRUE(j.faults_deliverable) << j.id;
}

TEST_F(ThreadPoolTest, DefaultNameIsWorker) {
  Make(2, 2, 1);
  EXPECT_EQ(1u, pooltest::CountNamed("worker-0"));
  EXPECT_EQ(1u, pooltest::CountNamed("worker-1"));
}

TEST_F(ThreadPoolTest, DrainRunsEveryQueuedTaskExactlyOnce) {
  const size_t kQueued = 50;
  Make(1, 1, kQueued);
  Recorder rec(kQueued + 2);  // + the blocker + the probe
  std::vector<Job> blocker = MakeJobs(&rec, 1, kBlock, kQueued);
  std::vector<Job> jobs = MakeJobs(&rec, kQueued, kQuick);
  ASSERT_EQ(0, tp_submit(pool_, &blocker[0].task));
  ASSERT_TRUE(rec.started.WaitFor(1));
  for (Job &j : jobs) ASSERT_EQ(0, tp_try_submit(pool_, &j.task));
  EXPECT_EQ(kQueued, Stats(pool_).queue_depth);

  std::thread shutdown = ShutdownInBackground(TP_SHUTDOWN_DRAIN, &rec);
  std::vector<Job> late = MakeJobs(&rec, 1, kQuick, kQueued + 1);
  EXPECT_EQ(-EPIPE, tp_submit(pool_, &late[0].task));
  rec.release.Open();
  shutdown.join();
  for (size_t i = 0; i <= kQueued; i++) {
    EXPECT_EQ(1, rec.runs[i]) << i;
    EXPECT_EQ(1, rec.dones[i]) << i;
    EXPECT_EQ(TP_OK, rec.outcome[i]) << i;
  }
  EXPECT_EQ(0, rec.dones[kQueued + 1]);  // the probe was never accepted
  struct tp_stats s = Stats(pool_);
  EXPECT_EQ(kQueued + 1, s.submitted);
  EXPECT_EQ(kQueued + 1, s.completed);
  EXPECT_EQ(0u, s.workers);
  EXPECT_EQ(0u, s.queue_depth);
  tp_shutdown(pool_, TP_SHUTDOWN_NOW);  // idempotent
  EXPECT_EQ(-EPIPE, tp_try_submit(pool_, &late[0].task));
}

TEST_F(ThreadPoolTest, ImmediateShutdownCancelsQueuedAndFlagsRunning) {
  const size_t kQueued = 10;
  Make(1, 1, kQueued);
  Recorder rec(kQueued + 2);
  std::vector<Job> running = MakeJobs(&rec, 1, kBlockOrCancel, kQueued);
  std::vector<Job> jobs = MakeJobs(&rec, kQueued, kQuick);
  ASSERT_EQ(0, tp_submit(pool_, &running[0].task));
  ASSERT_TRUE(rec.started.WaitFor(1));
  for (Job &j : jobs) ASSERT_EQ(0, tp_submit(pool_, &j.task));

  // The running task only ends when shutdown raises its cancel flag.
  std::thread shutdown = ShutdownInBackground(TP_SHUTDOWN_NOW, &rec);
  shutdown.join();
  for (size_t i = 0; i < kQueued; i++) {
    EXPECT_EQ(0, rec.runs[i]) << i;
    EXPECT_EQ(1, rec.dones[i]) << i;
    EXPECT_EQ(TP_CANCELLED, rec.outcome[i]) << i;
    EXPECT_TRUE(tp_task_cancelled(&jobs[i].task));
  }
  EXPECT_TRUE(running[0].saw_cancel);
  EXPECT_EQ(TP_OK, rec.outcome[kQueued]);  // it ran to completion
  struct tp_stats s = Stats(pool_);
  EXPECT_EQ(kQueued + 1, s.submitted);
  EXPECT_EQ(1u, s.completed);
  EXPECT_EQ(kQueued, s.cancelled);
  EXPECT_EQ(s.submitted, s.completed + s.failed + s.cancelled);
}

// Producers blocked in tp_submit on a full queue (or racing with the
// workers) when shutdown begins: each gets -EPIPE or its task runs, and
// every accepted task gets exactly one done().
TEST_F(ThreadPoolTest, ShutdownWhileProducersBlockedInSubmit) {
  const int kRounds = static_cast<int>(Scaled(8, 4));
  const size_t kProducers = 4, kPerProducer = Scaled(200, 20);
  for (int round = 0; round < kRounds; round++) {
    const bool now = round % 2, release_first = round % 4 >= 2;
    SCOPED_TRACE("round " + std::to_string(round));
    Make(1, 1, 2);
    const size_t n = kProducers * kPerProducer;
    Recorder rec(n + 2);
    std::vector<Job> blocker = MakeJobs(&rec, 1, kBlock, n);
    std::vector<Job> jobs = MakeJobs(&rec, n, kQuick);
    ASSERT_EQ(0, tp_submit(pool_, &blocker[0].task));
    ASSERT_TRUE(rec.started.WaitFor(1));
    std::vector<int> rc(n, 1);
    std::vector<std::thread> producers;
    Latch first_submit;
    for (size_t p = 0; p < kProducers; p++) {
      producers.emplace_back([&, p] {
        first_submit.Arrive();
        for (size_t i = p; i < n; i += kProducers) rc[i] = tp_submit(pool_, &jobs[i].task);
      });
    }
    ASSERT_TRUE(first_submit.WaitFor(kProducers));
    if (!release_first) {
      ASSERT_TRUE(Eventually([&] { return Stats(pool_).queue_depth == 2; }));
    }
    if (release_first) rec.release.Open();  // tasks flow while shutdown starts
    std::thread shutdown([&] { tp_shutdown(pool_, now ? TP_SHUTDOWN_NOW : TP_SHUTDOWN_DRAIN); });
    if (!release_first) {
      // The queue is full and stays full until shutdown refuses tasks, so
      // the probe is never accepted.
      std::vector<Job> probe = MakeJobs(&rec, 1, kQuick, n + 1);
      EXPECT_TRUE(Eventually([&] { return tp_try_submit(pool_, &probe[0].task) == -EPIPE; }));
      rec.release.Open();
    }
    shutdown.join();
    for (auto &t : producers) t.join();
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
      ASSERT_TRUE(rc[i] == 0 || rc[i] == -EPIPE) << i << ": " << rc[i];
      accepted += rc[i] == 0;
      EXPECT_EQ(rc[i] == 0 ? 1 : 0, rec.dones[i]) << i;
      EXPECT_LE(rec.runs[i], rec.dones[i]) << i;
      if (!now && rc[i] == 0) {
        EXPECT_EQ(TP_OK, rec.outcome[i]) << i;
      }
    }
    struct tp_stats s = Stats(pool_);
    EXPECT_EQ(accepted + 1, s.submitted);
    EXPECT_EQ(s.submitted, s.completed + s.failed + s.cancelled);
    tp_destroy(pool_);
    pool_ = nullptr;
  }
}

TEST_F(ThreadPoolTest, FailureReachesOnlyItsOwnCompletion) {
  const size_t n = Scaled(400, 40);
  Make(3, 3, 16);
  Recorder rec(n);
  std::vector<Job> jobs = MakeJobs(&rec, n, kQuick);
  for (size_t i = 0; i < n; i += 3) jobs[i].kind = kFail;
  for (Job &j : jobs) ASSERT_EQ(0, tp_submit(pool_, &j.task));
  ASSERT_TRUE(rec.WaitDone(n));
  for (size_t i = 0; i < n; i++) {
    if (i % 3 == 0) {
      EXPECT_EQ(TP_FAILED, rec.outcome[i]) << i;
      EXPECT_EQ(jobs[i].message.c_str(), rec.error[i]) << i;
    } else {
      EXPECT_EQ(TP_OK, rec.outcome[i]) << i;
      EXPECT_EQ(nullptr, rec.error[i]) << i;
    }
  }
  struct tp_stats s = Stats(pool_);
  EXPECT_EQ((n + 2) / 3, s.failed);
  EXPECT_EQ(n - (n + 2) / 3, s.completed);
}

TEST_F(ThreadPoolTest, RunningTaskSeesItsCancelFlag) {
  tp_options o = Options(1, 1, 4, 0);
  o.timing = 1;  // tp_task_started_ns / finished_ns
  ASSERT_EQ(0, tp_create(&pool_, &o));
  Recorder rec(2);
  std::vector<Job> jobs = MakeJobs(&rec, 2, kBlockOrCancel);
  uint64_t before = 0;
  {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    before = uint64_t(ts.tv_sec) * 1000000000u + ts.tv_nsec;
  }
  ASSERT_EQ(0, tp_submit(pool_, &jobs[0].task));
  ASSERT_TRUE(rec.started.WaitFor(1));
  ASSERT_EQ(0, tp_submit(pool_, &jobs[1].task));
  EXPECT_GE(tp_task_started_ns(&jobs[0].task), before);
  EXPECT_EQ(0u, tp_task_started_ns(&jobs[1].task));  // still queued
  EXPECT_FALSE(tp_task_cancelled(&jobs[0].task));
  tp_task_cancel(&jobs[0].task);
  ASSERT_TRUE(rec.started.WaitFor(2));  // so job 0 returned
  tp_task_cancel(&jobs[1].task);
  ASSERT_TRUE(rec.WaitDone(2));
  EXPECT_TRUE(jobs[0].saw_cancel);
  EXPECT_TRUE(jobs[1].saw_cancel);
  EXPECT_EQ(TP_OK, rec.outcome[0]);  // cooperative: work() decides
  EXPECT_EQ(jobs[0].started_ns, tp_task_started_ns(&jobs[0].task));
  EXPECT_GE(tp_task_finished_ns(&jobs[0].task), jobs[0].started_ns);
}

TEST_F(ThreadPoolTest, CountersAddUp) {
  Make(2, 2, 4);
  Recorder rec(8);
  std::vector<Job> jobs = MakeJobs(&rec, 8, kQuick);
  jobs[0].kind = jobs[1].kind = kBlock;
  jobs[2].kind = jobs[3].kind = kFail;
  ASSERT_EQ(0, tp_submit(pool_, &jobs[0].task));
  ASSERT_EQ(0, tp_submit(pool_, &jobs[1].task));
  ASSERT_TRUE(rec.started.WaitFor(2));
  for (size_t i = 2; i < 6; i++) ASSERT_EQ(0, tp_try_submit(pool_, &jobs[i].task));
  EXPECT_EQ(-EAGAIN, tp_try_submit(pool_, &jobs[6].task));
  EXPECT_EQ(-EAGAIN, tp_try_submit(pool_, &jobs[7].task));
  struct tp_stats s = Stats(pool_);
  EXPECT_EQ(2u, s.workers);
  EXPECT_EQ(2u, s.busy_workers);
  EXPECT_EQ(4u, s.queue_depth);
  EXPECT_EQ(4u, s.queue_capacity);
  EXPECT_EQ(6u, s.submitted);
  EXPECT_EQ(2u, s.rejected);
  EXPECT_EQ(0u, s.completed + s.failed + s.cancelled);
  struct tp_stats again = Stats(pool_);
  EXPECT_GT(again.worker_ns, s.worker_ns);  // live workers' time grows
  EXPECT_GE(again.lock_wait_ns, s.lock_wait_ns);

  rec.release.Open();
  ASSERT_TRUE(rec.WaitDone(6));
  ASSERT_TRUE(Eventually([&] { return Stats(pool_).busy_workers == 0; }));
  tp_shutdown(pool_, TP_SHUTDOWN_DRAIN);
  struct tp_stats end = Stats(pool_);
  EXPECT_EQ(6u, end.submitted);
  EXPECT_EQ(4u, end.completed);
  EXPECT_EQ(2u, end.failed);
  EXPECT_EQ(0u, end.cancelled);
  EXPECT_EQ(2u, end.rejected);
  EXPECT_EQ(0u, end.workers);
  EXPECT_EQ(0u, end.queue_depth);
  EXPECT_EQ(4u, end.queue_capacity);
  EXPECT_GE(end.worker_ns, again.worker_ns);
  EXPECT_GE(end.lock_wait_ns, again.lock_wait_ns);
  EXPECT_EQ(end.worker_ns, Stats(pool_).worker_ns);  // final: frozen
}

// Many producers, tiny tasks: nothing lost or duplicated, and the time
// figures are there to compute the contention share.
TEST_F(ThreadPoolTest, ManyProducersTinyTasks) {
  const size_t kProducers = 3, n = Scaled(150000, 3000);
  Make(2, 2, 64);
  Recorder rec(n);
  std::vector<Job> jobs = MakeJobs(&rec, n, kQuick);
  std::vector<std::thread> producers;
  for (size_t p = 0; p < kProducers; p++) {
    producers.emplace_back([&, p] {
      for (size_t i = p; i < n; i += kProducers) {
        int rc;
        while ((rc = tp_try_submit(pool_, &jobs[i].task)) == -EAGAIN) std::this_thread::yield();
        ASSERT_EQ(0, rc);
      }
    });
  }
  for (auto &t : producers) t.join();
  tp_shutdown(pool_, TP_SHUTDOWN_DRAIN);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(1, rec.dones[i]) << i;
  struct tp_stats s = Stats(pool_);
  EXPECT_EQ(n, s.submitted);
  EXPECT_EQ(n, s.completed);
  EXPECT_GT(s.worker_ns, 0u);
  RecordProperty("lock_wait_ns", std::to_string(s.lock_wait_ns));
  RecordProperty("worker_ns", std::to_string(s.worker_ns));
}

TEST_F(ThreadPoolTest, GrowsToMaxAndShrinksToMin) {
  Make(2, 8, 16, 50);
  EXPECT_EQ(2u, Stats(pool_).workers);
  EXPECT_EQ(threads_ + 2, pooltest::ThreadCount());

  Recorder rec(8);
  std::vector<Job> blockers = MakeJobs(&rec, 8, kBlock);
  for (Job &j : blockers) ASSERT_EQ(0, tp_submit(pool_, &j.task));
  ASSERT_TRUE(rec.started.WaitFor(8));  // 8 running at once: 8 workers
  struct tp_stats s = Stats(pool_);
  EXPECT_EQ(8u, s.workers);
  EXPECT_EQ(8u, s.busy_workers);
  // A worker that retired during the growth may still be being reaped.
  EXPECT_TRUE(Eventually([&] { return pooltest::ThreadCount() == threads_ + 8; }));
  for (int k = 0; k < 8; k++) {
    std::string name = "worker-" + std::to_string(k);
    EXPECT_TRUE(Eventually([&] { return pooltest::CountNamed(name) == 1; })) << name;
  }

  rec.release.Open();
  ASSERT_TRUE(rec.WaitDone(8));
  EXPECT_TRUE(Eventually([&] { return Stats(pool_).workers == 2; }));
  EXPECT_TRUE(Eventually([&] { return pooltest::ThreadCount() == threads_ + 2; }));
  EXPECT_EQ(8u, Stats(pool_).completed);
}

// Bursts of tasks from several producers make the pool grow and shrink over
// and over (idle_ms 1): no task lost or run twice, names stay in range.
TEST_F(ThreadPoolTest, ResizingLosesNothing) {
  Make(1, 4, 8, 1, "rz");
  const size_t kRounds = Scaled(20, 4), kPerRound = Scaled(2000, 100), kProducers = 2;
  Recorder rec(kRounds * kPerRound);
  std::vector<Job> jobs = MakeJobs(&rec, kRounds * kPerRound, kQuick);
  for (size_t r = 0; r < kRounds; r++) {
    std::vector<std::thread> producers;
    for (size_t p = 0; p < kProducers; p++) {
      producers.emplace_back([&, r, p] {
        for (size_t i = r * kPerRound + p; i < (r + 1) * kPerRound; i += kProducers)
          ASSERT_EQ(0, tp_submit(pool_, &jobs[i].task));
      });
    }
    for (auto &t : producers) t.join();
    ASSERT_TRUE(rec.WaitDone((r + 1) * kPerRound));
    for (const std::string &name : pooltest::ThreadNames())
      if (name.rfind("rz-", 0) == 0) {
        EXPECT_TRUE(name >= "rz-0" && name <= "rz-3") << name;
      }
    if (r % 5 == 0) {
      EXPECT_TRUE(Eventually([&] { return Stats(pool_).workers == 1; }));
    }
  }
  for (size_t i = 0; i < jobs.size(); i++) ASSERT_EQ(1, rec.dones[i]) << i;
  EXPECT_EQ(jobs.size(), Stats(pool_).completed);
}

// Shutdown while workers are being added and retired: clean, every
// accepted task done exactly once, no thread left (fixture teardown).
TEST_F(ThreadPoolTest, ShutdownDuringResizeIsClean) {
  const int kRounds = static_cast<int>(Scaled(10, 3));
  const size_t kProducers = 3, kPer = Scaled(3000, 100);
  for (int round = 0; round < kRounds; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    Make(1, 8, 4, 1);
    const size_t n = kProducers * kPer;
    Recorder rec(n);
    std::vector<Job> jobs = MakeJobs(&rec, n, kQuick);
    std::vector<int> rc(n, 1);
    std::vector<std::thread> producers;
    for (size_t p = 0; p < kProducers; p++) {
      producers.emplace_back([&, p] {
        for (size_t i = p; i < n; i += kProducers) rc[i] = tp_submit(pool_, &jobs[i].task);
      });
    }
    ASSERT_TRUE(Eventually([&] { return rec.TotalDone() >= n / 4; }));
    tp_shutdown(pool_, round % 2 ? TP_SHUTDOWN_NOW : TP_SHUTDOWN_DRAIN);
    for (auto &t : producers) t.join();
    for (size_t i = 0; i < n; i++) {
      ASSERT_TRUE(rc[i] == 0 || rc[i] == -EPIPE) << i;
      EXPECT_EQ(rc[i] == 0 ? 1 : 0, rec.dones[i]) << i;
    }
    struct tp_stats s = Stats(pool_);
    EXPECT_EQ(s.submitted, s.completed + s.cancelled);
    EXPECT_EQ(0u, s.workers);
    tp_destroy(pool_);
    pool_ = nullptr;
  }
}

TEST_F(ThreadPoolTest, GrownWorkersBlockSignalsTooAndSubmitterMaskIsKept) {
  Make(1, 3, 4, 1000);
  Recorder rec(3);
  std::vector<Job> jobs = MakeJobs(&rec, 3, kCheckSignals);
  jobs[0].kind = jobs[1].kind = kBlock;
  sigset_t before, after;
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &before));
  for (Job &j : jobs) ASSERT_EQ(0, tp_submit(pool_, &j.task));
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, nullptr, &after));
  EXPECT_EQ(sigismember(&before, SIGTERM), sigismember(&after, SIGTERM));
  EXPECT_EQ(sigismember(&before, SIGINT), sigismember(&after, SIGINT));
  ASSERT_TRUE(rec.started.WaitFor(2));  // so job 2 runs on a third worker
  ASSERT_TRUE(rec.WaitDone(1));
  EXPECT_TRUE(jobs[2].signals_blocked);
  EXPECT_TRUE(jobs[2].faults_deliverable);
  rec.release.Open();
  tp_shutdown(pool_, TP_SHUTDOWN_DRAIN);  // before rec and jobs go away
}

}  // namespace
