// Pool sizing (--workers, --min/--max-workers, --idle-ms) seen from outside
// as thread counts, and the per-task timeout (--task-timeout-ms).
#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

class SizingTest : public ServerTest {};
class TimeoutTest : public ServerTest {};

// --workers N: the loop thread plus exactly N workers, and STATS agrees.
TEST_F(SizingTest, WorkersFlagGivesNPlusOneThreads) {
  for (int n : {1, 3}) {
    SCOPED_TRACE("--workers " + std::to_string(n));
    ServerProcess* s = StartServer({"--workers", std::to_string(n)});
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(PollUntil([&] { return s->ThreadCount() == n + 1; }, Scaled(3000)))
        << "threads: " << s->ThreadCount();
    Client c = Connect(*s);
    std::map<std::string, uint64_t> st = Stats(c);
    EXPECT_EQ(st["workers"], static_cast<uint64_t>(n));
    // Work does not add threads to a fixed pool.
    std::string batch;
    for (int i = 0; i < 2 * n + 2; i++) batch += "SLEEP " + std::to_string(WorkMs(50)) + "\n";
    ASSERT_TRUE(c.Send(batch, 1000));
    size_t max_threads = 0;
    std::vector<std::string> lines;
    ASSERT_TRUE(PumpUntil(
        {&c},
        [&] {
          max_threads = std::max(max_threads, static_cast<size_t>(s->ThreadCount()));
          std::string l;
          while (c.PopLine(&l)) lines.push_back(l);
          return lines.size() == static_cast<size_t>(2 * n + 2);
        },
        Scaled(10000)));
    EXPECT_EQ(max_threads, static_cast<size_t>(n + 1));
  }
}

// --min-workers 2 --max-workers 8 --idle-ms 200: 3 threads idle; 8
// concurrent SLEEPs grow the pool to 8 workers (9 threads, never more);
// once idle it shrinks back to 3 threads. Every SLEEP is answered.
TEST_F(SizingTest, ElasticPoolGrowsToMaxAndShrinksWhenIdle) {
  const int idle_ms = 200;
  ServerProcess* s = StartServer(
      {"--min-workers", "2", "--max-workers", "8", "--idle-ms", std::to_string(idle_ms)});
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(PollUntil([&] { return s->ThreadCount() == 3; }, Scaled(3000)))
      << "threads at start: " << s->ThreadCount();

  const int sleep_ms = WorkMs(1500);
  const std::string ok = "result: slept " + std::to_string(sleep_ms);
  std::vector<Client> clients;
  for (int i = 0; i < 8; i++) clients.push_back(Connect(*s));
  std::vector<Client*> all;
  for (Client& c : clients) all.push_back(&c);
  const int64_t t0 = NowMs();
  for (Client& c : clients) ASSERT_TRUE(c.Send("SLEEP " + std::to_string(sleep_ms) + "\n", 1000));

  int max_threads = 0;
  int64_t reached_ms = -1;
  auto replies = [&] {
    int n = 0;
    for (Client& c : clients) n += c.HasLine();
    return n;
  };
  EXPECT_TRUE(PumpUntil(
      all,
      [&] {
        max_threads = std::max(max_threads, s->ThreadCount());
        if (max_threads == 9 && reached_ms < 0) reached_ms = NowMs() - t0;
        return max_threads >= 9 || replies() > 0;
      },
      Scaled(5000)))
      << "threads: " << max_threads;
  EXPECT_EQ(max_threads, 9) << "the pool did not grow to --max-workers";
  EXPECT_EQ(replies(), 0) << "a SLEEP finished before all 8 ran at once";
  std::printf("pool reached 8 workers %lld ms after the requests\n",
              static_cast<long long>(reached_ms));

  EXPECT_TRUE(PumpUntil(
      all,
      [&] {
        max_threads = std::max(max_threads, s->ThreadCount());
        return replies() == 8;
      },
      sleep_ms + Scaled(5000)));
  EXPECT_EQ(max_threads, 9) << "more threads than 1 + --max-workers";
  for (int i = 0; i < 8; i++) {
    std::string line;
    ASSERT_TRUE(clients[i].PopLine(&line)) << "client " << i << " got no reply";
    EXPECT_EQ(line, ok) << "client " << i;
  }

  // Idle: every worker above the minimum exits after idle_ms.
  const int64_t t1 = NowMs();
  EXPECT_TRUE(PollUntil([&] { return s->ThreadCount() == 3; }, idle_ms + Scaled(3000)))
      << "threads still " << s->ThreadCount();
  std::printf("back to 3 threads %lld ms after the last reply\n",
              static_cast<long long>(NowMs() - t1));
  std::map<std::string, uint64_t> st = Stats(clients[0]);
  EXPECT_EQ(st["workers"], 2u);
  EXPECT_EQ(st["completed"], 8u);
  // The shrunk pool still serves.
  EXPECT_EQ(clients[1].Call("HASH abc", Scaled(2000)), std::string("result: ") + kSha256Abc);
}

// A SLEEP 10000 on the only worker is answered "timeout" after ~200 ms and
// the worker is freed: the next HASH on the same connection is served at
// once, not after 10 s.
TEST_F(TimeoutTest, RunningTaskTimesOutAndFreesTheWorker) {
  ServerProcess* s = StartServer({"--workers", "1", "--task-timeout-ms", "200"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  const int64_t t0 = NowMs();
  ASSERT_TRUE(c.Send("SLEEP 10000\n", 1000));
  std::optional<std::string> line = c.ReadLine(Scaled(5000));
  const int64_t elapsed = NowMs() - t0;
  std::printf("SLEEP 10000 answered after %lld ms (timeout 200 ms)\n",
              static_cast<long long>(elapsed));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "ERROR: timeout");
  EXPECT_GE(elapsed, 190);
  EXPECT_LT(elapsed, Scaled(1000));

  EXPECT_EQ(c.Call("PING", Scaled(1000)), "result: PONG");
  const int64_t t1 = NowMs();
  EXPECT_EQ(c.Call("HASH abc", Scaled(2000)), std::string("result: ") + kSha256Abc);
  EXPECT_LT(NowMs() - t1, Scaled(1000)) << "the timed-out task kept the worker";

  std::map<std::string, uint64_t> st = Stats(c);
  EXPECT_EQ(st["timeouts"], 1u);
  EXPECT_EQ(st["completed"], 1u);
  EXPECT_EQ(st["in_flight"], 0u);
  EXPECT_TRUE(PollUntil([&] { return Stats(c)["busy_workers"] == 0; }, Scaled(2000)));
}

// Time spent queued does not count: with one worker and a 300 ms timeout,
// three pipelined 200 ms SLEEPs all succeed although the last one is
// answered ~600 ms after it was sent.
TEST_F(TimeoutTest, QueuedTimeDoesNotCount) {
  const int k = Scale();
  const int timeout_ms = 300 * k, sleep_ms = 200 * k;
  ServerProcess* s =
      StartServer({"--workers", "1", "--task-timeout-ms", std::to_string(timeout_ms)});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  const std::string req = "SLEEP " + std::to_string(sleep_ms) + "\n";
  const int64_t t0 = NowMs();
  ASSERT_TRUE(c.Send(req + req + req, 1000));
  std::vector<std::string> lines = c.ReadLines(3, 3 * sleep_ms + Scaled(5000));
  const int64_t elapsed = NowMs() - t0;
  ASSERT_EQ(lines.size(), 3u);
  for (const std::string& l : lines) EXPECT_EQ(l, "result: slept " + std::to_string(sleep_ms));
  EXPECT_GT(elapsed, timeout_ms) << "the last request did wait in the queue";
  std::map<std::string, uint64_t> st = Stats(c);
  EXPECT_EQ(st["timeouts"], 0u);
  EXPECT_EQ(st["completed"], 3u);
}

}  // namespace
}  // namespace it
