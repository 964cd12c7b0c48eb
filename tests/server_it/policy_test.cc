// Overload policies beyond "server busy" (issue 12): --on-full hold loses
// nothing and resumes held connections oldest first, --queue-timeout-ms
// answers stale tasks without running them, lanes keep fast work fast
// while slow work floods, and a shutdown with held connections answers
// everything parsed exactly once. Each test also shows the default
// behaviour that the policy changes, so it fails without the policy.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

constexpr char kBusy[] = "ERROR: server busy";

class PolicyTest : public ServerTest {
 protected:
  // 30 clients each pipeline 40 HASHes in one write; returns how many
  // replies were busy, and fails on any wrong or missing reply.
  int Burst(ServerProcess* s) {
    const int kClients = 30, kEach = UnderValgrind() ? 10 : 40;
    std::vector<Client> cs(kClients);
    std::vector<std::string> want(kClients);
    for (int c = 0; c < kClients; c++) {
      EXPECT_EQ(cs[c].Connect(s->port()), 0);
      std::string burst;
      for (int i = 0; i < kEach; i++) burst += "HASH abc\n";
      EXPECT_TRUE(cs[c].Send(burst, Scaled(2000)));
    }
    std::vector<Client*> ptrs;
    for (Client& c : cs) ptrs.push_back(&c);
    auto lines = [&](Client& c) {
      return static_cast<int>(std::count(c.buffered().begin(), c.buffered().end(), '\n'));
    };
    EXPECT_TRUE(PumpUntil(
        ptrs,
        [&] {
          for (Client& c : cs)
            if (lines(c) < kEach) return false;
          return true;
        },
        Scaled(20000)))
        << "replies missing";
    int busy = 0;
    for (Client& c : cs) {
      std::string line;
      int n = 0;
      while (c.PopLine(&line)) {
        n++;
        if (line == kBusy) busy++;
        else EXPECT_EQ(line, std::string("result: ") + kSha256Abc);
      }
      EXPECT_EQ(n, kEach);
    }
    return busy;
  }
};

// A pipelined burst of 30 clients x 40 HASH into a queue of 4: with
// --on-full hold every reply is the hash, none is busy; the same burst
// with the default policy meets "server busy".
TEST_F(PolicyTest, HoldAnswersABurstInFullWithoutBusy) {
  ServerProcess* hold =
      StartServer({"--workers", "2", "--queue-capacity", "4", "--on-full", "hold"});
  ASSERT_NE(hold, nullptr);
  EXPECT_EQ(Burst(hold), 0);
  Client obs = Connect(*hold);
  std::map<std::string, uint64_t> st = Stats(obs);
  EXPECT_EQ(st["rejected"], 0u);
  EXPECT_GT(st["held"], 0u) << "the burst never met a full queue: the test proves nothing";
  EXPECT_EQ(st["submitted"], st["completed"]);

  ServerProcess* reject = StartServer({"--workers", "2", "--queue-capacity", "4"});
  ASSERT_NE(reject, nullptr);
  EXPECT_GT(Burst(reject), 0) << "the default policy should have answered some busy";
}

// Held connections resume in the order they were held: with one worker
// and a queue of one, A, B and C (held in that order) are answered in
// that order once the worker is free.
TEST_F(PolicyTest, HeldConnectionsResumeOldestFirst) {
  ServerProcess* s =
      StartServer({"--workers", "1", "--queue-capacity", "1", "--on-full", "hold"});
  ASSERT_NE(s, nullptr);
  Client obs = Connect(*s), filler = Connect(*s);
  const int ms = WorkMs(400);
  ASSERT_TRUE(filler.Send("SLEEP " + std::to_string(ms) + "\n", 1000));
  ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["busy_workers"] == 1; }, Scaled(3000)));
  ASSERT_TRUE(filler.Send("SLEEP " + std::to_string(ms) + "\n", 1000));  // fills the queue
  ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["queue_depth"] == 1; }, Scaled(3000)));
  std::vector<Client> held(3);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(held[i].Connect(s->port()), 0);
    ASSERT_TRUE(held[i].Send("ECHO " + std::to_string(i) + "\nHASH abc\n", 1000));
    const uint64_t want = static_cast<uint64_t>(i + 1);
    ASSERT_TRUE(WaitStats(obs, [&](auto& m) { return m["held"] == want; }, Scaled(3000)))
        << "client " << i << " was not held";
  }
  // Whoever finishes first prints first: poll all three and note the order.
  std::vector<int> order;
  std::vector<Client*> ptrs = {&held[0], &held[1], &held[2]};
  ASSERT_TRUE(PumpUntil(
      ptrs,
      [&] {
        for (int i = 0; i < 3; i++) {
          const std::string& b = held[i].buffered();
          if (std::find(order.begin(), order.end(), i) == order.end() &&
              std::count(b.begin(), b.end(), '\n') == 2)
            order.push_back(i);
        }
        return order.size() == 3;
      },
      Scaled(10000)));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  for (int i = 0; i < 3; i++) {
    std::string line;
    ASSERT_TRUE(held[i].PopLine(&line));
    EXPECT_EQ(line, "result: " + std::to_string(i)) << "the ECHO before the held HASH";
    ASSERT_TRUE(held[i].PopLine(&line));
    EXPECT_EQ(line, std::string("result: ") + kSha256Abc);
  }
}

// --queue-timeout-ms: a task still queued after the timeout is answered
// "timeout" at once (long before the worker is free) and never runs: its
// work function does not start (the debug log shows no start for it, and
// the pool counts it expired).
TEST_F(PolicyTest, QueueTimeoutAnswersStaleTasksWithoutRunningThem) {
  const int sleep_ms = WorkMs(2000);
  ServerProcess* s = StartServer({"--workers", "1", "--queue-timeout-ms", "50", "--log-level",
                                  "debug"});
  ASSERT_NE(s, nullptr);
  Client obs = Connect(*s), filler = Connect(*s), late = Connect(*s);
  ASSERT_TRUE(filler.Send("SLEEP " + std::to_string(sleep_ms) + "\n", 1000));
  ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["busy_workers"] == 1; }, Scaled(3000)));
  const int64_t t0 = NowMs();
  ASSERT_TRUE(late.Send("HASH abc\nPRIMES 1000\n", 1000));
  std::vector<std::string> lines = late.ReadLines(2, sleep_ms / 2);
  ASSERT_EQ(lines.size(), 2u) << "no answer before the worker was free";
  EXPECT_EQ(lines[0], "ERROR: timeout");
  EXPECT_EQ(lines[1], "ERROR: timeout");
  EXPECT_LT(NowMs() - t0, sleep_ms / 2);
  std::map<std::string, uint64_t> st = Stats(obs);
  EXPECT_EQ(st["expired"], 2u);
  EXPECT_EQ(st["timeouts"], 2u);
  EXPECT_EQ(st["completed"], 0u);
  // The worker, once free, skips them: the only "start" is the SLEEP's.
  std::optional<std::string> l = filler.ReadLine(Scaled(sleep_ms + 3000));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(*l, "result: slept " + std::to_string(sleep_ms));
  ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["in_flight"] == 0; }, Scaled(3000)));
  std::string log = s->Log();
  EXPECT_NE(log.find("SLEEP start"), std::string::npos) << log;
  EXPECT_EQ(log.find("HASH start"), std::string::npos) << "a stale HASH ran:\n" << log;
  EXPECT_EQ(log.find("PRIMES start"), std::string::npos) << "a stale PRIMES ran:\n" << log;
}

// A lane for SLEEP limited to one worker: 20 clients flooding SLEEP cannot
// take the other workers, so HASH is answered while every SLEEP is still
// waiting or running. Without the lane, the HASH waits behind them.
TEST_F(PolicyTest, ALaneKeepsHashFastWhileSleepFloods) {
  const int sleep_ms = WorkMs(500);
  for (bool lane : {true, false}) {
    SCOPED_TRACE(lane ? "with --lane slow=SLEEP:1" : "without a lane");
    std::vector<std::string> args = {"--workers", "4"};
    if (lane) args.insert(args.end(), {"--lane", "slow=SLEEP:1"});
    ServerProcess* s = StartServer(args);
    ASSERT_NE(s, nullptr);
    Client obs = Connect(*s);
    std::vector<Client> flood(20);
    for (Client& c : flood) {
      ASSERT_EQ(c.Connect(s->port()), 0);
      ASSERT_TRUE(c.Send("SLEEP " + std::to_string(sleep_ms) + "\n", 1000));
    }
    ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["submitted"] == 20; }, Scaled(3000)));
    Client h = Connect(*s);
    const int64_t t0 = NowMs();
    std::string reply = h.Call("HASH abc", Scaled(20000));
    const int64_t took = NowMs() - t0;
    std::map<std::string, uint64_t> st = Stats(obs);
    EXPECT_EQ(reply, std::string("result: ") + kSha256Abc);
    if (lane) {
      EXPECT_EQ(st["completed"], 1u) << "the HASH waited for a SLEEP to end";
      EXPECT_LT(took, sleep_ms / 2);
      EXPECT_EQ(st["lane_slow_running"], 1u);
      std::printf("HASH answered in %lld ms while 20 SLEEP %d flood one lane\n",
                  static_cast<long long>(took), sleep_ms);
    } else {
      EXPECT_GT(st["completed"], 1u) << "without a lane, the HASH waits behind the SLEEPs";
    }
    for (Client& c : flood) c.Reset();  // cancels the SLEEPs: the server stops at once
    TearDown();
    if (HasFatalFailure()) return;
  }
}

// A SIGTERM with held connections: everything parsed is answered exactly
// once (its result if it ran within the grace period, else "shutting
// down"), then each connection closes, and the exit status is 0.
TEST_F(PolicyTest, ShutdownWithHeldConnectionsAnswersEverythingOnce) {
  ServerProcess* s = StartServer({"--workers", "1", "--queue-capacity", "1", "--on-full", "hold",
                                  "--shutdown-grace-ms", "200"});
  ASSERT_NE(s, nullptr);
  Client obs = Connect(*s);
  // One runs, one waits in the queue, three are held.
  std::vector<Client> cs(5);
  for (Client& c : cs) {
    ASSERT_EQ(c.Connect(s->port()), 0);
    ASSERT_TRUE(c.Send("SLEEP " + std::to_string(WorkMs(3000)) + "\n", 1000));
  }
  ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["held"] >= 3; }, Scaled(3000)));
  ASSERT_EQ(s->Signal(SIGTERM), 0);
  for (size_t i = 0; i < cs.size(); i++) {
    std::vector<std::string> lines = cs[i].ReadLines(1, Scaled(5000));
    ASSERT_EQ(lines.size(), 1u) << "client " << i;
    EXPECT_EQ(lines[0], "ERROR: shutting down") << "client " << i;
    EXPECT_TRUE(cs[i].WaitEof(Scaled(3000))) << "client " << i;
    EXPECT_EQ(cs[i].buffered(), "") << "client " << i << ": more than one reply";
  }
  ASSERT_TRUE(s->WaitExit(Scaled(5000)));
  EXPECT_TRUE(WIFEXITED(s->status()) && WEXITSTATUS(s->status()) == 0)
      << DescribeStatus(s->status());
}

}  // namespace
}  // namespace it
