// offload: the loop -> pool -> loop trip. The loop runs on its own thread;
// the test talks to it only through Call() (an el_wake), so every ol_
// function runs on the loop thread as the contract requires. Completions
// are checked to arrive on the loop thread, in finishing order, with one
// eventfd write per batch; overload (reject, hold), deadlines, run
// timeouts and shutdown are each checked against what work() really did.
#include "offload/offload.h"

#include <errno.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/pool/pool_test_util.h"
#include "tests/testlib/loop_calls.h"

namespace {

using pooltest::Gate;

constexpr auto kPatience = std::chrono::seconds(60);

struct Item;

class OffloadTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!loop_) return;
    Call([this] { el_stop(loop_); });
    thread_.join();
    tp_shutdown(pool_, TP_SHUTDOWN_NOW);
    ol_destroy(ol_);  // completions left: their done() runs here
    tp_destroy(pool_);
    calls_.Detach();
    el_destroy(loop_);
  }

  void Start(size_t workers, size_t capacity, ol_options o = {}, size_t lanes = 0) {
    tp_options po = {};
    po.min_workers = po.max_workers = workers;
    po.queue_capacity = capacity;
    po.timing = 1;
    std::vector<tp_lane_options> lo(lanes, tp_lane_options{"l", capacity, 0});
    po.lanes = lanes ? lo.data() : nullptr;
    po.nlanes = lanes;
    ASSERT_EQ(0, tp_create(&pool_, &po));
    ASSERT_EQ(0, el_create(&loop_));
    ASSERT_EQ(0, ol_create(loop_, pool_, &o, &ol_));
    calls_.Attach(loop_);
    thread_ = std::thread([this] {
      loop_tid_ = pthread_self();
      EXPECT_EQ(0, el_run(loop_));
    });
  }

  void Call(std::function<void()> fn) { calls_.Call(std::move(fn), kPatience); }

  // Waits (test thread) until pred, evaluated under mu_, holds.
  bool WaitFor(std::function<bool()> pred) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, kPatience, pred);
  }

  tp_t *pool_ = nullptr;
  el_t *loop_ = nullptr;
  ol_t *ol_ = nullptr;
  std::thread thread_;
  testlib::LoopCalls calls_;

 public:
  pthread_t loop_tid_;  // written before the loop runs anything
  // What the loop saw; guarded by mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> done_order_;
  std::vector<int> admitted_;
  int done_off_loop_ = 0;
};

// One unit of work: blocks on its gate (if any) or spins until cancelled.
struct Item {
  ol_work_t w;  // first: an ol_work_t * is an Item *
  OffloadTest *t = nullptr;
  int id = 0;
  Gate *gate = nullptr;
  bool until_cancelled = false;
  std::atomic<int> runs{0};
  std::atomic<bool> saw_cancel{false};
  int status = -1, expired = -1;

  static int Work(ol_work_t *w) {
    Item *it = reinterpret_cast<Item *>(w);
    it->runs++;
    if (it->gate) it->gate->Wait();
    while (it->until_cancelled && !ol_work_cancelled(w)) std::this_thread::yield();
    it->saw_cancel = ol_work_cancelled(w);
    return 0;
  }
  static void Done(ol_work_t *w, enum ol_status st) {
    Item *it = reinterpret_cast<Item *>(w);
    std::lock_guard<std::mutex> g(it->t->mu_);
    if (!pthread_equal(pthread_self(), it->t->loop_tid_)) it->t->done_off_loop_++;
    it->status = st;
    it->t->done_order_.push_back(it->id);
    it->t->cv_.notify_all();
  }
  static void Expire(ol_work_t *w, enum ol_status why) {
    Item *it = reinterpret_cast<Item *>(w);
    std::lock_guard<std::mutex> g(it->t->mu_);
    it->expired = why;
    it->t->cv_.notify_all();
  }
  static void Admit(ol_work_t *w) {
    Item *it = reinterpret_cast<Item *>(w);
    std::lock_guard<std::mutex> g(it->t->mu_);
    it->t->admitted_.push_back(it->id);
  }
};

std::vector<std::unique_ptr<Item>> MakeItems(OffloadTest *t, int n, Gate *gate = nullptr) {
  std::vector<std::unique_ptr<Item>> v;
  for (int i = 0; i < n; i++) {
    auto it = std::make_unique<Item>();
    memset(&it->w, 0, sizeof it->w);
    it->w.work = Item::Work;
    it->w.done = Item::Done;
    it->w.expire = Item::Expire;
    it->w.admit = Item::Admit;
    it->t = t;
    it->id = i;
    it->gate = gate;
    v.push_back(std::move(it));
  }
  return v;
}

// Completions come back on the loop thread, in the order the works
// finished, and a batch of them that arrives while the loop is busy costs
// one eventfd write: the done list is a FIFO, not a stack.
TEST_F(OffloadTest, CompletionsOnTheLoopThreadInFinishingOrderOneWakePerBatch) {
  Start(1, 16);
  Gate gate;
  auto items = MakeItems(this, 5, &gate);
  uint64_t wakes_before = 0;
  // Submit (the loop flushes the batch before it next waits). The works
  // wait on the gate: none may finish before the loop is busy, or each
  // would find the loop waiting and owe it a wake-up of its own.
  Call([&] {
    for (auto &it : items) ASSERT_EQ(0, ol_submit(ol_, &it->w));
    wakes_before = ol_wakeups(ol_);
  });
  // Keep the loop busy until the one worker has run all five (in queue
  // order) and published them; only then may the loop look.
  Call([&] {
    gate.Open();
    auto deadline = std::chrono::steady_clock::now() + kPatience;
    for (;;) {  // the worker's done() comes before it goes idle
      struct tp_stats st;
      tp_stats(pool_, &st);
      if (st.completed == 5 && st.busy_workers == 0 && st.queue_depth == 0) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline);
      std::this_thread::yield();
    }
  });
  ASSERT_TRUE(WaitFor([&] { return done_order_.size() == 5; }));
  std::lock_guard<std::mutex> g(mu_);
  EXPECT_EQ(done_order_, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(0, done_off_loop_);
  for (auto &it : items) {
    EXPECT_EQ(1, it->runs.load());
    EXPECT_EQ(OL_OK, it->status);
    EXPECT_EQ(-1, it->expired);
  }
  uint64_t wakes = 0;
  mu_.unlock();
  Call([&] { wakes = ol_wakeups(ol_); });
  mu_.lock();
  EXPECT_LE(wakes - wakes_before, 1u) << "one batch, one eventfd write at most";
}

// Reject policy: room is counted against the batch, so the answer is at
// submit time; nothing the pool would refuse is ever accepted.
TEST_F(OffloadTest, FullLaneIsRejectedAtSubmit) {
  Start(1, 2);
  Gate gate;
  auto items = MakeItems(this, 4, &gate);
  Call([&] { ASSERT_EQ(0, ol_submit(ol_, &items[0]->w)); });
  ASSERT_TRUE(pooltest::Eventually([&] { return items[0]->runs.load() == 1; }));
  Call([&] {
    EXPECT_EQ(0, ol_submit(ol_, &items[1]->w));
    EXPECT_EQ(0, ol_submit(ol_, &items[2]->w));
    EXPECT_EQ(-EAGAIN, ol_submit(ol_, &items[3]->w));  // the lane holds two
    EXPECT_FALSE(ol_work_busy(&items[3]->w));
    EXPECT_EQ(3u, ol_pending(ol_));
  });
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return done_order_.size() == 3; }));
  EXPECT_EQ(0, items[3]->runs.load());
}

// Hold policy: nothing is refused; held works go to the pool oldest first
// as room appears (admit() says when), and all of them run.
TEST_F(OffloadTest, HoldKeepsFifoOrderAndLosesNothing) {
  ol_options o = {};
  o.hold = 1;
  Start(1, 2, o);
  Gate gate;
  auto items = MakeItems(this, 8, &gate);
  Call([&] { ASSERT_EQ(0, ol_submit(ol_, &items[0]->w)); });
  ASSERT_TRUE(pooltest::Eventually([&] { return items[0]->runs.load() == 1; }));
  Call([&] {
    EXPECT_EQ(0, ol_submit(ol_, &items[1]->w));
    EXPECT_EQ(0, ol_submit(ol_, &items[2]->w));
    for (int i = 3; i < 8; i++) EXPECT_EQ(1, ol_submit(ol_, &items[i]->w)) << i;
    EXPECT_EQ(5u, ol_held(ol_));
  });
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return done_order_.size() == 8; }));
  std::lock_guard<std::mutex> g(mu_);
  EXPECT_EQ(done_order_, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(admitted_, (std::vector<int>{3, 4, 5, 6, 7}));
  for (auto &it : items) EXPECT_EQ(1, it->runs.load()) << it->id;
}

// A work still queued at the queue timeout is answered (expire) by the
// loop's timer while the worker is still busy, and never runs.
TEST_F(OffloadTest, QueueTimeoutExpiresWithoutRunning) {
  ol_options o = {};
  o.queue_timeout_ms = 20;
  Start(1, 4, o);
  Gate gate;
  auto blocker = MakeItems(this, 1, &gate);
  auto late = MakeItems(this, 1);
  late[0]->id = 1;
  Call([&] { ASSERT_EQ(0, ol_submit(ol_, &blocker[0]->w)); });
  ASSERT_TRUE(pooltest::Eventually([&] { return blocker[0]->runs.load() == 1; }));
  Call([&] { ASSERT_EQ(0, ol_submit(ol_, &late[0]->w)); });
  ASSERT_TRUE(WaitFor([&] { return late[0]->expired == OL_EXPIRED; }));
  EXPECT_EQ(-1, late[0]->status) << "expire comes before done";
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return done_order_.size() == 2; }));
  EXPECT_EQ(0, late[0]->runs.load()) << "a stale work occupied a worker";
  EXPECT_TRUE(late[0]->status == OL_CANCELLED || late[0]->status == OL_EXPIRED);
  EXPECT_EQ(OL_OK, blocker[0]->status);
  EXPECT_EQ(-1, blocker[0]->expired) << "a running work is not stale";
}

// A work running past the run timeout gets expire(OL_TIMEOUT) and its
// cancel flag; done() follows when it returns.
TEST_F(OffloadTest, RunTimeoutRaisesTheCancelFlag) {
  ol_options o = {};
  o.run_timeout_ms = 20;
  Start(1, 4, o);
  auto items = MakeItems(this, 1);
  items[0]->until_cancelled = true;
  Call([&] { ASSERT_EQ(0, ol_submit(ol_, &items[0]->w)); });
  ASSERT_TRUE(WaitFor([&] { return items[0]->status != -1; }));
  EXPECT_EQ(OL_TIMEOUT, items[0]->expired);
  EXPECT_TRUE(items[0]->saw_cancel.load());
  EXPECT_EQ(OL_OK, items[0]->status);  // cooperative: work() decides
}

// Shutdown's last phase: held works end at once, running ones are told to
// stop (expire), and every done() comes exactly once.
TEST_F(OffloadTest, CancelAllEndsEverythingExactlyOnce) {
  ol_options o = {};
  o.hold = 1;
  Start(1, 1, o);
  auto items = MakeItems(this, 4);
  items[0]->until_cancelled = true;
  Call([&] { ASSERT_EQ(0, ol_submit(ol_, &items[0]->w)); });
  ASSERT_TRUE(pooltest::Eventually([&] { return items[0]->runs.load() == 1; }));
  Call([&] {
    EXPECT_EQ(0, ol_submit(ol_, &items[1]->w));  // queued
    EXPECT_EQ(1, ol_submit(ol_, &items[2]->w));  // held
    EXPECT_EQ(1, ol_submit(ol_, &items[3]->w));  // held
  });
  Call([&] {
    ol_cancel_all(ol_);
    EXPECT_EQ(-EPIPE, ol_submit(ol_, &items[3]->w));
  });
  ASSERT_TRUE(WaitFor([&] { return done_order_.size() == 4; }));
  std::lock_guard<std::mutex> g(mu_);
  EXPECT_EQ(OL_CANCELLED, items[0]->expired);
  EXPECT_TRUE(items[0]->saw_cancel.load());
  EXPECT_EQ(OL_CANCELLED, items[2]->status);
  EXPECT_EQ(OL_CANCELLED, items[3]->status);
  // The queued one may have been taken between the running one's cancel
  // and its own: then it started with its cancel flag about to rise.
  EXPECT_EQ(OL_CANCELLED, items[1]->expired);
  EXPECT_TRUE(items[1]->runs.load() == 0 || items[1]->saw_cancel.load());
  EXPECT_EQ(0, items[2]->runs.load());
  EXPECT_EQ(0, items[3]->runs.load());
  std::vector<int> sorted = done_order_;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3}));
}

// Lanes: a full lane does not refuse work for another.
TEST_F(OffloadTest, RoomIsPerLane) {
  Start(1, 1, {}, 2);
  Gate gate;
  auto items = MakeItems(this, 4, &gate);
  items[2]->w.lane = items[3]->w.lane = 1;
  Call([&] {
    EXPECT_EQ(0, ol_submit(ol_, &items[0]->w));
    EXPECT_EQ(-EAGAIN, ol_submit(ol_, &items[1]->w));
    EXPECT_EQ(0, ol_submit(ol_, &items[2]->w));
    EXPECT_EQ(-EAGAIN, ol_submit(ol_, &items[3]->w));
    items[3]->w.lane = 2;
    EXPECT_EQ(-EINVAL, ol_submit(ol_, &items[3]->w));
  });
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return done_order_.size() == 2; }));
}

// Many works through many small loop iterations: exactly-once under load
// (TSan and Helgrind watch the done list and the eventfd hand-off here).
TEST_F(OffloadTest, ManyWorksExactlyOnce) {
  Start(2, 64);
  const int n = pooltest::UnderValgrind() ? 500 : 20000;
  auto items = MakeItems(this, n);
  std::vector<char> refused(n, 0);  // written on the loop thread inside Call
  for (int base = 0; base < n; base += 50) {
    Call([&, base] {
      for (int i = base; i < base + 50 && i < n; i++) {
        int rc;
        ASSERT_TRUE((rc = ol_submit(ol_, &items[i]->w)) == 0 || rc == -EAGAIN);
        refused[i] = rc != 0;  // refused: will not complete
      }
    });
  }
  int nrefused = 0;
  for (char r : refused) nrefused += r;
  ASSERT_TRUE(WaitFor([&] { return static_cast<int>(done_order_.size()) == n - nrefused; }));
  for (int i = 0; i < n; i++) EXPECT_EQ(refused[i] ? 0 : 1, items[i]->runs.load()) << i;
  EXPECT_EQ(0, done_off_loop_);
}

}  // namespace
