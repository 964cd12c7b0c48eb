// The jobs the pool tests submit: each records, under the Recorder's mutex,
// how often it ran and how it ended, and may block on events, fail, poll
// its cancel flag or look at its worker's signal mask.
#ifndef TESTS_POOL_POOL_JOBS_H
#define TESTS_POOL_POOL_JOBS_H

#include <pthread.h>
#include <signal.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "pool/thread_pool.h"
#include "tests/pool/pool_test_util.h"

namespace pooltest {
namespace jobs {

enum Kind {
  kQuick,           // returns 0 at once
  kFail,            // returns -1 with its own error message
  kBlock,           // waits for Recorder::release
  kBlockOrCancel,   // waits for release or its cancel flag
  kCheckSignals,    // records whether the worker blocks signals
};

struct Recorder;

struct Job {
  tp_task_t task;  // first: a tp_task_t * is a Job *
  Recorder *rec = nullptr;
  size_t id = 0;
  Kind kind = kQuick;
  std::string message;  // the error a kFail job reports
  // Written by the worker, read after done() (ordered by Recorder::mu).
  bool saw_cancel = false;
  bool signals_blocked = false;
  bool faults_deliverable = false;
  uint64_t started_ns = 0;
};

struct Recorder {
  explicit Recorder(size_t n) : runs(n), dones(n), outcome(n, -1), error(n) {}
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> runs, dones, outcome;
  std::vector<const char *> error;
  size_t total_done = 0;
  Gate release;
  Latch started;

  bool WaitDone(size_t n) {
    std::unique_lock<std::mutex> g(mu);
    return cv.wait_for(g, pooltest::Patience(), [&] { return total_done >= n; });
  }
  size_t TotalDone() {
    std::lock_guard<std::mutex> g(mu);
    return total_done;
  }
};

inline int Work(tp_task_t *t) {
  Job *j = static_cast<Job *>(t->arg);
  {
    std::lock_guard<std::mutex> g(j->rec->mu);
    j->rec->runs[j->id]++;
  }
  j->started_ns = tp_task_started_ns(t);
  switch (j->kind) {
    case kQuick:
      return 0;
    case kFail:
      t->error = j->message.c_str();
      return -1;
    case kBlock:
      j->rec->started.Arrive();
      j->rec->release.Wait();
      return 0;
    case kBlockOrCancel:
      j->rec->started.Arrive();
      // The cancel flag has no event to wait on: poll it.
      while (!tp_task_cancelled(t) && !j->rec->release.WaitFor(std::chrono::milliseconds(1))) {
      }
      j->saw_cancel = tp_task_cancelled(t);
      return 0;
    case kCheckSignals: {
      sigset_t set;
      pthread_sigmask(SIG_BLOCK, nullptr, &set);
      j->signals_blocked = sigismember(&set, SIGINT) && sigismember(&set, SIGTERM) &&
                           sigismember(&set, SIGUSR1) && sigismember(&set, SIGPIPE) &&
                           sigismember(&set, SIGCHLD) && sigismember(&set, SIGALRM);
      // Synchronous fault signals stay deliverable: blocking them is
      // undefined behaviour when a fault raises them.
      j->faults_deliverable = !sigismember(&set, SIGSEGV) && !sigismember(&set, SIGBUS) &&
                              !sigismember(&set, SIGFPE) && !sigismember(&set, SIGILL);
      return 0;
    }
  }
  return 0;
}

inline void Done(tp_task_t *t, enum tp_outcome outcome) {
  Job *j = static_cast<Job *>(t->arg);
  std::lock_guard<std::mutex> g(j->rec->mu);
  j->rec->dones[j->id]++;
  j->rec->outcome[j->id] = outcome;
  j->rec->error[j->id] = t->error;
  j->rec->total_done++;
  j->rec->cv.notify_all();
}

// A test that owns one pool (pool_): teardown destroys it and proves that
// every thread it started is gone.
class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override { threads_ = pooltest::BaselineThreadCount(); }
  void TearDown() override {
    tp_destroy(pool_);
    EXPECT_TRUE(pooltest::Eventually([&] { return pooltest::ThreadCount() == threads_; }))
        << "threads left running: " << pooltest::ThreadCount() - threads_;
  }
  tp_t *pool_ = nullptr;
  size_t threads_ = 0;
};

// n jobs of one kind; their memory stays put while the pool holds them.
inline std::vector<Job> MakeJobs(Recorder *rec, size_t n, Kind kind, size_t first_id = 0) {
  std::vector<Job> jobs(n);
  for (size_t i = 0; i < n; i++) {
    Job &j = jobs[i];
    memset(&j.task, 0, sizeof j.task);
    j.task.work = Work;
    j.task.done = Done;
    j.task.arg = &j;
    j.rec = rec;
    j.id = first_id + i;
    j.kind = kind;
    j.message = "job " + std::to_string(j.id) + " failed";
  }
  return jobs;
}

inline tp_options Options(size_t min, size_t max, size_t capacity, unsigned idle_ms,
                   const char *name = nullptr) {
  tp_options o = {};
  o.min_workers = min;
  o.max_workers = max;
  o.queue_capacity = capacity;
  o.idle_ms = idle_ms;
  o.name = name;
  return o;
}

inline struct tp_stats Stats(tp_t *pool) {
  struct tp_stats s;
  tp_stats(pool, &s);
  return s;
}

}  // namespace jobs
}  // namespace pooltest

#endif
