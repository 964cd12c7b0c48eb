// LoopCalls: runs functions on an event loop's thread from a test's thread
// and waits for them: the way a test touches loop-only state (net/conn,
// offload/) while the loop runs on a thread of its own. The loop thread
// runs the queued functions from an el_wake callback, in order.
//
// Use: Attach(loop) on the test thread before the loop runs; Call(fn) from
// the test thread while it runs; Detach() after el_run returned.
#ifndef TESTS_TESTLIB_LOOP_CALLS_H
#define TESTS_TESTLIB_LOOP_CALLS_H

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "gtest/gtest.h"
#include "net/event_loop.h"

namespace testlib {

class LoopCalls {
 public:
  void Attach(el_t* loop) { ASSERT_EQ(0, el_wake_create(loop, Run, this, &wake_)); }
  void Detach() {
    el_wake_destroy(wake_);
    wake_ = nullptr;
  }

  // Runs fn on the loop thread and waits until it has run (a test failure
  // after `patience`: only a broken loop ever waits that long).
  void Call(std::function<void()> fn,
            std::chrono::milliseconds patience = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lk(mu_);
    uint64_t mine = ++queued_;
    calls_.push_back(std::move(fn));
    lk.unlock();
    el_wake_signal(wake_);
    lk.lock();
    ASSERT_TRUE(cv_.wait_for(lk, patience, [&] { return ran_ >= mine; }));
  }

 private:
  static void Run(el_t*, void* arg) {
    LoopCalls* c = static_cast<LoopCalls*>(arg);
    std::unique_lock<std::mutex> lk(c->mu_);
    std::deque<std::function<void()>> todo;
    todo.swap(c->calls_);
    lk.unlock();
    for (auto& fn : todo) fn();
    lk.lock();
    c->ran_ += todo.size();
    c->cv_.notify_all();
  }

  el_wake_t* wake_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> calls_;
  uint64_t queued_ = 0, ran_ = 0;
};

}  // namespace testlib

#endif
