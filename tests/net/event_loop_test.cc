// Tests of net/event_loop: dispatch, safe deletion, wake-ups (threads and
// signals), timers, the before_wait hook, stop and destroy. Deterministic:
// they wait for events (with timers as deadlines), never sleep.
#include "net/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "base/clock.h"
#include "tests/net/test_util.h"

namespace {

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = nettest::CountFds();
    ASSERT_EQ(0, el_create(&loop_));
  }
  void TearDown() override {
    el_destroy(loop_);
    for (int fd : owned_) close(fd);
    EXPECT_EQ(fds_before_, nettest::CountFds()) << "file descriptors leaked";
  }
  // A non-blocking pipe closed by TearDown.
  void Pipe(int p[2]) {
    ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
    owned_.push_back(p[0]);
    owned_.push_back(p[1]);
  }
  // Stops the loop after ms: a deadline for tests that check that
  // something does NOT happen before it.
  void StopAfter(unsigned ms) {
    ASSERT_EQ(0, el_timer_create(loop_, [](el_t *l, void *) { el_stop(l); }, nullptr, &stopper_));
    ASSERT_EQ(0, el_timer_arm(stopper_, ms, 0));
  }

  el_t *loop_ = nullptr;
  el_timer_t *stopper_ = nullptr;  // freed by el_destroy
  std::vector<int> owned_;
  int fds_before_ = 0;
};

struct Rec {
  std::vector<int> fds;
  std::vector<unsigned> events;
  int calls = 0;
};

void RecordAndStop(el_t *loop, int fd, unsigned events, void *arg) {
  Rec *r = static_cast<Rec *>(arg);
  r->fds.push_back(fd);
  r->events.push_back(events);
  r->calls++;
  char buf[16];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  el_stop(loop);
}

TEST_F(EventLoopTest, DispatchesReadableFd) {
  int p[2];
  Pipe(p);
  Rec r;
  ASSERT_EQ(0, el_add(loop_, p[0], EL_READ, RecordAndStop, &r));
  ASSERT_EQ(1, write(p[1], "x", 1));
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ(1, r.calls);
  EXPECT_EQ(p[0], r.fds[0]);
  EXPECT_TRUE(r.events[0] & EL_READ);
  EXPECT_EQ(0, el_del(loop_, p[0]));
}

TEST_F(EventLoopTest, DispatchesWritableFd) {
  int p[2];
  Pipe(p);
  Rec r;
  ASSERT_EQ(0, el_add(loop_, p[1], EL_WRITE, RecordAndStop, &r));
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ(1, r.calls);
  EXPECT_EQ(EL_WRITE, r.events[0]);
}

TEST_F(EventLoopTest, ArgumentErrors) {
  int p[2];
  Pipe(p);
  Rec r;
  EXPECT_EQ(-EINVAL, el_add(loop_, -1, EL_READ, RecordAndStop, &r));
  EXPECT_EQ(-ENOENT, el_mod(loop_, p[0], EL_READ));
  EXPECT_EQ(-ENOENT, el_del(loop_, p[0]));
  ASSERT_EQ(0, el_add(loop_, p[0], EL_READ, RecordAndStop, &r));
  EXPECT_EQ(-EEXIST, el_add(loop_, p[0], EL_READ, RecordAndStop, &r));
  EXPECT_EQ(0, el_del(loop_, p[0]));
  int closed = dup(p[0]);
  ASSERT_GE(closed, 0);
  close(closed);
  EXPECT_EQ(-EBADF, el_add(loop_, closed, EL_READ, RecordAndStop, &r));
  EXPECT_EQ(-ENOENT, el_del(loop_, closed)) << "a failed el_add must not register";
}

TEST_F(EventLoopTest, GrowsTableForLargeFd) {
  int p[2];
  Pipe(p);
  int big = fcntl(p[0], F_DUPFD_CLOEXEC, 3000);
  ASSERT_GE(big, 3000);
  owned_.push_back(big);
  Rec r;
  ASSERT_EQ(0, el_add(loop_, big, EL_READ, RecordAndStop, &r));
  ASSERT_EQ(1, write(p[1], "x", 1));
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ(1, r.calls);
  EXPECT_EQ(big, r.fds[0]);
}

// Two fds ready in the same batch; whichever runs first deletes the other,
// closes it and registers a new fd that reuses the number. The stale event
// must reach neither the deleted handler nor the new one.
struct DelCtx {
  int a[2], b[2];
  int calls = 0;
  int stale_calls = 0;
  int reused = 0;
};

void CountStale(el_t *, int, unsigned, void *arg) { static_cast<DelCtx *>(arg)->stale_calls++; }

void DeleteOther(el_t *loop, int fd, unsigned, void *arg) {
  DelCtx *c = static_cast<DelCtx *>(arg);
  c->calls++;
  int *other = fd == c->a[0] ? c->b : c->a;
  EXPECT_EQ(0, el_del(loop, other[0]));
  int old = other[0];
  close(other[0]);
  close(other[1]);
  // The lowest free numbers are the ones just closed.
  ASSERT_EQ(0, pipe2(other, O_NONBLOCK | O_CLOEXEC));
  c->reused = other[0] == old;
  // Readable for EL_WRITE? No: a read end is never writable, and it holds
  // no data, so only a stale event could call CountStale.
  EXPECT_EQ(0, el_add(loop, other[0], EL_READ, CountStale, c));
  el_stop(loop);
}

TEST_F(EventLoopTest, DeleteAndReuseInSameBatchIsSafe) {
  DelCtx c;
  ASSERT_EQ(0, pipe2(c.a, O_NONBLOCK | O_CLOEXEC));
  ASSERT_EQ(0, pipe2(c.b, O_NONBLOCK | O_CLOEXEC));
  ASSERT_EQ(0, el_add(loop_, c.a[0], EL_READ, DeleteOther, &c));
  ASSERT_EQ(0, el_add(loop_, c.b[0], EL_READ, DeleteOther, &c));
  ASSERT_EQ(1, write(c.a[1], "x", 1));
  ASSERT_EQ(1, write(c.b[1], "x", 1));
  ASSERT_EQ(0, el_run(loop_));  // both are ready: one epoll_wait batch
  EXPECT_EQ(1, c.calls);
  EXPECT_EQ(0, c.stale_calls);
  EXPECT_TRUE(c.reused) << "test premise: the fd number was reused";
  for (int *p : {c.a, c.b}) {
    el_del(loop_, p[0]);
    close(p[0]);
    close(p[1]);
  }
}

void DeleteSelf(el_t *loop, int fd, unsigned, void *arg) {
  ++*static_cast<int *>(arg);
  EXPECT_EQ(0, el_del(loop, fd));
}

TEST_F(EventLoopTest, DeleteSelfInCallback) {
  int p[2];
  Pipe(p);
  int calls = 0;
  ASSERT_EQ(0, el_add(loop_, p[0], EL_READ, DeleteSelf, &calls));
  ASSERT_EQ(1, write(p[1], "x", 1));  // never read: level-triggered would repeat
  StopAfter(20);
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(1, calls);
}

// EL_ERROR alone: not reading, but a hang-up is still reported.
TEST_F(EventLoopTest, ErrorOnlyInterestReportsHangup) {
  int sv[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
  owned_.push_back(sv[0]);
  Rec r;
  ASSERT_EQ(0, el_add(loop_, sv[0], EL_ERROR, RecordAndStop, &r));
  ASSERT_EQ(1, write(sv[1], "x", 1));  // data alone is not reported
  StopAfter(20);
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(0, r.calls);
  close(sv[1]);  // the peer goes away entirely: a hang-up
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ(1, r.calls);
  EXPECT_TRUE(r.events[0] & EL_ERROR);
  EXPECT_FALSE(r.events[0] & EL_READ);
  EXPECT_EQ(0, el_del(loop_, sv[0]));
}

// EL_RDHUP: the peer's shutdown of its sending side, without reading.
TEST_F(EventLoopTest, RdhupReportsPeerShutdown) {
  int sv[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
  owned_.push_back(sv[0]);
  owned_.push_back(sv[1]);
  Rec r;
  ASSERT_EQ(0, el_add(loop_, sv[0], EL_RDHUP | EL_ERROR, RecordAndStop, &r));
  ASSERT_EQ(1, write(sv[1], "x", 1));
  StopAfter(20);
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(0, r.calls);
  ASSERT_EQ(0, shutdown(sv[1], SHUT_WR));
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ(1, r.calls);
  EXPECT_TRUE(r.events[0] & EL_RDHUP);
  EXPECT_FALSE(r.events[0] & EL_ERROR);
  EXPECT_EQ(0, el_del(loop_, sv[0]));
}

// el_mod(fd, 0) keeps the registration but reports nothing, not even the
// hang-up epoll reports unasked (that would spin a level-triggered loop).
TEST_F(EventLoopTest, ModZeroSilencesEvenHangup) {
  int p[2];
  Pipe(p);
  Rec r;
  ASSERT_EQ(0, el_add(loop_, p[0], EL_READ, RecordAndStop, &r));
  ASSERT_EQ(0, el_mod(loop_, p[0], 0));
  close(p[1]);  // hang-up on the read end
  owned_.pop_back();
  StopAfter(20);
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(0, r.calls);
  ASSERT_EQ(0, el_mod(loop_, p[0], EL_READ));
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ(1, r.calls);
  EXPECT_TRUE(r.events[0] & EL_ERROR);
  EXPECT_TRUE(r.events[0] & EL_READ);
  EXPECT_EQ(0, el_del(loop_, p[0]));
}

TEST_F(EventLoopTest, HooksRunBeforeEachWaitAndMayStop) {
  int calls = 0;
  el_hook_fn fn = [](el_t *l, void *a) {
    if (++*static_cast<int *>(a) == 2) el_stop(l);
    return 0;
  };
  ASSERT_EQ(0, el_hook_add(loop_, fn, &calls));
  el_wake_t *w;
  ASSERT_EQ(0, el_wake_create(loop_, [](el_t *, void *) {}, nullptr, &w));
  el_wake_signal(w);  // hook (1), wait, the wake-up, hook (2) stops
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(2, calls);
  el_hook_del(loop_, fn, &calls);
  el_wake_destroy(w);
}

// Hooks run in the order added; one that made work for an earlier hook
// (returns nonzero) makes the whole list run again before the loop waits.
struct HookLog {
  std::vector<std::string> log;
  int second_pending = 0;  // work the second hook makes for the first
};

TEST_F(EventLoopTest, HooksRunInOrderAndAgainWhileOneMadeWork) {
  HookLog h;
  h.second_pending = 2;
  auto first = [](el_t *, void *a) {
    static_cast<HookLog *>(a)->log.push_back("first");
    return 0;
  };
  auto second = [](el_t *l, void *a) {
    HookLog *h = static_cast<HookLog *>(a);
    h->log.push_back("second");
    if (h->second_pending > 0) return h->second_pending--;  // made work for "first"
    el_stop(l);
    return 0;
  };
  ASSERT_EQ(0, el_hook_add(loop_, first, &h));
  ASSERT_EQ(0, el_hook_add(loop_, second, &h));
  ASSERT_EQ(0, el_run(loop_));  // never waits: the last pass stops the loop
  EXPECT_EQ(h.log, (std::vector<std::string>{"first", "second", "first", "second", "first",
                                             "second"}));
  el_hook_del(loop_, first, &h);
  el_hook_del(loop_, second, &h);
  el_hook_del(loop_, second, &h);  // not there any more: nothing happens
}

// ---- wake-ups -------------------------------------------------------------

struct WakeCtx {
  int calls = 0;
  el_timer_t *deadline = nullptr;
};

// Counts, then lets the loop run a little longer so that a wake-up that
// was not drained (level-triggered) would be seen calling again.
void WakeCount(el_t *, void *arg) {
  WakeCtx *c = static_cast<WakeCtx *>(arg);
  if (c->calls++ == 0) {
    EXPECT_EQ(0, el_timer_arm(c->deadline, 20, 0));
  }
}

TEST_F(EventLoopTest, WakeFromAnotherThreadCoalesces) {
  WakeCtx c;
  ASSERT_EQ(0, el_timer_create(loop_, [](el_t *l, void *) { el_stop(l); }, nullptr, &c.deadline));
  el_wake_t *w;
  ASSERT_EQ(0, el_wake_create(loop_, WakeCount, &c, &w));
  std::thread t([w] {
    for (int i = 0; i < 1000; i++) el_wake_signal(w);
  });
  t.join();  // all signals before the loop runs: they must coalesce
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(1, c.calls);
}

TEST_F(EventLoopTest, WakeFromRunningThread) {
  el_wake_t *w;
  int calls = 0;
  ASSERT_EQ(0, el_wake_create(
                   loop_, [](el_t *l, void *a) { ++*static_cast<int *>(a); el_stop(l); }, &calls, &w));
  std::thread t([w] { el_wake_signal(w); });  // races with el_run: either order works
  ASSERT_EQ(0, el_run(loop_));
  t.join();
  EXPECT_EQ(1, calls);
  el_wake_destroy(w);
}

el_wake_t *g_sig_wake;
void OnSigusr1(int) { el_wake_signal(g_sig_wake); }

TEST_F(EventLoopTest, WakeFromSignalHandler) {
  WakeCtx c;
  ASSERT_EQ(0, el_timer_create(loop_, [](el_t *l, void *) { el_stop(l); }, nullptr, &c.deadline));
  ASSERT_EQ(0, el_wake_create(loop_, WakeCount, &c, &g_sig_wake));
  struct sigaction sa = {}, old = {};
  sa.sa_handler = OnSigusr1;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(0, sigaction(SIGUSR1, &sa, &old));
  for (int i = 0; i < 100; i++) {
    errno = EDOM;
    ASSERT_EQ(0, raise(SIGUSR1));
    EXPECT_EQ(EDOM, errno) << "the handler must preserve errno";
  }
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(1, c.calls);
  // Again, now with the loop already waiting when the signal comes: a
  // second thread raises it at the process.
  c.calls = 0;
  std::thread t([] { kill(getpid(), SIGUSR1); });
  ASSERT_EQ(0, el_run(loop_));
  t.join();
  EXPECT_EQ(1, c.calls);
  ASSERT_EQ(0, sigaction(SIGUSR1, &old, nullptr));
  g_sig_wake = nullptr;  // el_destroy frees it
}

// ---- timers ---------------------------------------------------------------

struct TimerCtx {
  std::vector<std::string> order;
  std::vector<uint64_t> at;
  int stop_after = 1;
};

template <char Name>
void TimerFired(el_t *loop, void *arg) {
  TimerCtx *c = static_cast<TimerCtx *>(arg);
  c->order.push_back(std::string(1, Name));
  c->at.push_back(clk_now_ns());
  if ((int)c->order.size() == c->stop_after) el_stop(loop);
}

TEST_F(EventLoopTest, OneShotTimersFireOnceInDeadlineOrder) {
  TimerCtx c;
  c.stop_after = 2;
  el_timer_t *late, *early;
  ASSERT_EQ(0, el_timer_create(loop_, TimerFired<'L'>, &c, &late));
  ASSERT_EQ(0, el_timer_create(loop_, TimerFired<'E'>, &c, &early));
  uint64_t t0 = clk_now_ns();
  ASSERT_EQ(0, el_timer_arm(late, 40, 0));
  ASSERT_EQ(0, el_timer_arm(early, 5, 0));
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ((std::vector<std::string>{"E", "L"}), c.order);
  EXPECT_GE(c.at[0] - t0, 5000000u);
  EXPECT_GE(c.at[1] - t0, 40000000u);
  // One-shot: nothing more during another 30 ms.
  StopAfter(30);
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(2u, c.order.size());
  el_timer_destroy(late);
  el_timer_destroy(early);
}

TEST_F(EventLoopTest, PeriodicTimer) {
  TimerCtx c;
  c.stop_after = 5;
  el_timer_t *t;
  ASSERT_EQ(0, el_timer_create(loop_, TimerFired<'P'>, &c, &t));
  uint64_t t0 = clk_now_ns();
  ASSERT_EQ(0, el_timer_arm(t, 3, 2));
  ASSERT_EQ(0, el_run(loop_));
  ASSERT_EQ(5u, c.order.size());
  // First at >= 3 ms, then every >= 2 ms: the fifth at >= 11 ms. Callbacks
  // may coalesce missed periods, never come early.
  EXPECT_GE(c.at[4] - t0, 11000000u);
  for (int i = 1; i < 5; i++) EXPECT_GT(c.at[i], c.at[i - 1]);
  ASSERT_EQ(0, el_timer_arm(t, 0, 0));  // disarm: quiet from now on
  StopAfter(20);
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(5u, c.order.size());
}

TEST_F(EventLoopTest, DisarmedTimerNeverFires) {
  TimerCtx c;
  el_timer_t *t;
  ASSERT_EQ(0, el_timer_create(loop_, TimerFired<'D'>, &c, &t));
  ASSERT_EQ(0, el_timer_arm(t, 1, 1));
  ASSERT_EQ(0, el_timer_arm(t, 0, 5));
  StopAfter(20);
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_TRUE(c.order.empty());
}

// A timer re-armed from inside its own callback (the server's pattern).
TEST_F(EventLoopTest, TimerRearmedFromCallback) {
  struct Ctx {
    el_timer_t *t;
    int calls = 0;
  } c;
  ASSERT_EQ(0, el_timer_create(
                   loop_,
                   [](el_t *l, void *a) {
                     Ctx *c = static_cast<Ctx *>(a);
                     if (++c->calls == 3) {
                       el_stop(l);
                     } else {
                       EXPECT_EQ(0, el_timer_arm(c->t, 1, 0));
                     }
                   },
                   &c, &c.t));
  ASSERT_EQ(0, el_timer_arm(c.t, 1, 0));
  ASSERT_EQ(0, el_run(loop_));
  EXPECT_EQ(3, c.calls);
}

// ---- destroy --------------------------------------------------------------

TEST(EventLoopDestroy, ClosesOwnFdsNotAddedOnes) {
  int before = nettest::CountFds();
  el_t *loop;
  ASSERT_EQ(0, el_create(&loop));
  int p[2];
  ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
  ASSERT_EQ(0, el_add(loop, p[0], EL_READ, RecordAndStop, nullptr));
  el_wake_t *w;
  el_timer_t *t;
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(0, el_wake_create(loop, [](el_t *, void *) {}, nullptr, &w));
    ASSERT_EQ(0, el_timer_create(loop, [](el_t *, void *) {}, nullptr, &t));
  }
  ASSERT_EQ(0, el_timer_arm(t, 1000, 1000));
  el_wake_destroy(w);  // destroyed early: must not be closed twice
  EXPECT_EQ(before + 1 + 2 + 6 - 1, nettest::CountFds());
  el_destroy(loop);
  EXPECT_NE(-1, fcntl(p[0], F_GETFD)) << "el_add'ed fds belong to their owner";
  EXPECT_EQ(before + 2, nettest::CountFds());
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(before, nettest::CountFds());
}

}  // namespace
