// Overload behaviour: a full queue answers "server busy" at once instead of
// queueing or hanging; every request gets exactly one reply; a client above
// --max-inflight is paused (not refused); the server recovers afterwards.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

constexpr char kBusy[] = "ERROR: server busy";

// pi(n) by a plain sieve, to check PRIMES replies.
uint64_t PrimeCount(uint32_t n) {
  if (n < 2) return 0;
  std::vector<bool> composite(n + 1, false);
  uint64_t count = 0;
  for (uint32_t i = 2; i <= n; i++) {
    if (composite[i]) continue;
    count++;
    for (uint64_t j = static_cast<uint64_t>(i) * i; j <= n; j += i) composite[j] = true;
  }
  return count;
}

class OverloadTest : public ServerTest {};

// 20 clients each send SLEEP to a pool of 1 worker with a queue of 2: at
// most 3 are accepted, the rest are told "busy" at once, before any SLEEP
// could finish, while another connection is still served promptly.
TEST_F(OverloadTest, FullQueueAnswersBusyAtOnce) {
  ServerProcess* s = StartServer({"--workers", "1", "--queue-capacity", "2"});
  ASSERT_NE(s, nullptr);
  const int kClients = 20;
  const int sleep_ms = WorkMs(500);
  const std::string ok = "result: slept " + std::to_string(sleep_ms);

  Client observer = Connect(*s);
  ASSERT_EQ(observer.Call("PING", Scaled(2000)), "result: PONG");
  std::vector<Client> clients;
  std::vector<Client*> all = {&observer};
  for (int i = 0; i < kClients; i++) {
    clients.push_back(Connect(*s));
    ASSERT_GE(clients.back().fd(), 0);
  }
  for (Client& c : clients) all.push_back(&c);
  for (Client& c : clients) ASSERT_TRUE(c.Send("SLEEP " + std::to_string(sleep_ms) + "\n", 1000));

  std::vector<std::string> replies(kClients);
  std::vector<int> arrival(kClients, -1);
  int arrived = 0, first_ok_at = -1, last_busy_at = -1;
  int64_t ping_sent_ms = -1, ping_latency_ms = -1;
  std::vector<std::string> observer_lines;
  int ping_sent_before_arrival = -1;
  auto done = [&] {
    for (int i = 0; i < kClients; i++) {
      std::string line;
      if (arrival[i] < 0 && clients[i].PopLine(&line)) {
        replies[i] = line;
        arrival[i] = arrived;
        if (line == ok && first_ok_at < 0) first_ok_at = arrived;
        if (line == kBusy) last_busy_at = arrived;
        arrived++;
      }
    }
    // The pool is saturated as soon as one busy reply came: now a PING and
    // a STATS on another connection must still be answered promptly.
    if (last_busy_at >= 0 && ping_sent_ms < 0) {
      ping_sent_ms = NowMs();
      ping_sent_before_arrival = first_ok_at;
      EXPECT_TRUE(observer.Send("PING\nSTATS\n", 1000));
    }
    std::string line;
    while (observer.PopLine(&line)) {
      if (observer_lines.empty()) ping_latency_ms = NowMs() - ping_sent_ms;
      observer_lines.push_back(line);
    }
    return arrived == kClients && observer_lines.size() == 2;
  };
  ASSERT_TRUE(PumpUntil(all, done, 3 * sleep_ms + Scaled(5000)))
      << arrived << " of " << kClients << " replies, observer got " << observer_lines.size();

  int n_ok = 0, n_busy = 0;
  for (int i = 0; i < kClients; i++) {
    EXPECT_TRUE(replies[i] == ok || replies[i] == kBusy) << "client " << i << ": " << replies[i];
    n_ok += replies[i] == ok;
    n_busy += replies[i] == kBusy;
  }
  std::printf("accepted %d, busy %d; PING on another connection answered in %lld ms\n", n_ok,
              n_busy, static_cast<long long>(ping_latency_ms));
  // 1 running + 2 queued at most; the 17+ others are refused.
  EXPECT_GE(n_ok, 1);
  EXPECT_LE(n_ok, 3);
  EXPECT_GE(n_busy, kClients - 3);
  // "At once": every busy reply arrived before the first SLEEP finished.
  ASSERT_GE(first_ok_at, 0);
  EXPECT_LT(last_busy_at, first_ok_at) << "a busy reply waited behind a SLEEP";
  // The observer was answered while the pool was saturated, and quickly.
  EXPECT_EQ(ping_sent_before_arrival, -1) << "PING was sent only after a SLEEP finished";
  EXPECT_EQ(observer_lines[0], "result: PONG");
  EXPECT_LT(ping_latency_ms, Scaled(1000));
  std::map<std::string, uint64_t> st = ParseStats(observer_lines[1]);
  ASSERT_FALSE(st.empty()) << observer_lines[1];
  // Saturated: the accepted tasks fill the pool (the worker may not have
  // taken the first one off the queue yet).
  EXPECT_EQ(st["busy_workers"] + st["queue_depth"], st["in_flight"]) << observer_lines[1];
  EXPECT_GE(st["in_flight"], 2u) << observer_lines[1];
  EXPECT_LE(st["in_flight"], 3u) << observer_lines[1];
  EXPECT_EQ(st["queue_capacity"], 2u);

  // Nothing extra on any connection, and the drained server serves normally.
  for (int i = 0; i < kClients; i++) {
    EXPECT_EQ(clients[i].Call("ECHO after-" + std::to_string(i), Scaled(2000)),
              "result: after-" + std::to_string(i));
  }
  EXPECT_EQ(observer.Call("HASH abc", Scaled(2000)), std::string("result: ") + kSha256Abc);
  st = Stats(observer);
  EXPECT_EQ(st["rejected"], static_cast<uint64_t>(n_busy));
  EXPECT_EQ(st["completed"], static_cast<uint64_t>(n_ok) + 1);  // + the HASH
  EXPECT_EQ(st["in_flight"], 0u);
}

// The same on one pipelined connection: 20 SLEEPs in one write; every
// request gets exactly one reply, in order, each a result or "busy".
TEST_F(OverloadTest, PipelinedFloodGetsOneReplyEach) {
  ServerProcess* s = StartServer({"--workers", "1", "--queue-capacity", "2"});
  ASSERT_NE(s, nullptr);
  const int kRequests = 20;
  const int sleep_ms = WorkMs(100);
  const std::string ok = "result: slept " + std::to_string(sleep_ms);
  Client c = Connect(*s);
  std::string batch;
  for (int i = 0; i < kRequests; i++) batch += "SLEEP " + std::to_string(sleep_ms) + "\n";
  batch += "ECHO end\n";
  ASSERT_TRUE(c.Send(batch, Scaled(2000)));
  std::vector<std::string> lines = c.ReadLines(kRequests + 1, 3 * sleep_ms + Scaled(5000));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kRequests + 1));
  int n_ok = 0, n_busy = 0;
  for (int i = 0; i < kRequests; i++) {
    EXPECT_TRUE(lines[i] == ok || lines[i] == kBusy) << i << ": " << lines[i];
    n_ok += lines[i] == ok;
    n_busy += lines[i] == kBusy;
  }
  EXPECT_EQ(lines[kRequests], "result: end");  // nothing extra, nothing missing
  EXPECT_GE(n_ok, 1);
  EXPECT_GE(n_busy, 1);
  EXPECT_EQ(c.Call("SLEEP 1", Scaled(2000)), "result: slept 1");
  std::map<std::string, uint64_t> st = Stats(c);
  EXPECT_EQ(st["rejected"], static_cast<uint64_t>(n_busy));
}

// Many clients flood PRIMES and SLEEP into a small queue: each request gets
// its correct result or "busy", in order, none missing; STATS agrees.
TEST_F(OverloadTest, ManyClientFloodEveryRequestAnswered) {
  ServerProcess* s = StartServer({"--workers", "2", "--queue-capacity", "4"});
  ASSERT_NE(s, nullptr);
  const int kClients = UnderValgrind() ? 6 : 20;
  const int kPerClient = UnderValgrind() ? 4 : 10;
  const int sleep_ms = WorkMs(50);
  const std::string primes_ok = "result: " + std::to_string(PrimeCount(300000));
  const std::string sleep_ok = "result: slept " + std::to_string(sleep_ms);

  std::vector<Client> clients;
  for (int i = 0; i < kClients; i++) {
    clients.push_back(Connect(*s));
    ASSERT_GE(clients.back().fd(), 0);
  }
  std::string batch;
  for (int k = 0; k < kPerClient; k++)
    batch += k % 2 ? "SLEEP " + std::to_string(sleep_ms) + "\n" : "PRIMES 300000\n";
  batch += "ECHO end\n";
  for (Client& c : clients) ASSERT_TRUE(c.Send(batch, Scaled(2000)));
  std::vector<Client*> all;
  for (Client& c : clients) all.push_back(&c);
  auto count_lines = [](const Client& c) {
    size_t n = 0;
    for (char ch : c.buffered()) n += ch == '\n';
    return n;
  };
  ASSERT_TRUE(PumpUntil(
      all,
      [&] {
        for (Client& c : clients)
          if (count_lines(c) < static_cast<size_t>(kPerClient + 1) && !c.eof()) return false;
        return true;
      },
      Scaled(30000)));

  uint64_t n_ok = 0, n_busy = 0;
  for (int i = 0; i < kClients; i++) {
    for (int k = 0; k < kPerClient; k++) {
      std::string line;
      ASSERT_TRUE(clients[i].PopLine(&line)) << "client " << i << " reply " << k << " missing";
      const std::string& want = k % 2 ? sleep_ok : primes_ok;
      EXPECT_TRUE(line == want || line == kBusy)
          << "client " << i << " reply " << k << ": " << line << " (want " << want << ")";
      n_ok += line == want;
      n_busy += line == kBusy;
    }
    std::string line;
    ASSERT_TRUE(clients[i].PopLine(&line));
    EXPECT_EQ(line, "result: end") << "client " << i;
    EXPECT_TRUE(clients[i].buffered().empty()) << "extra bytes: " << clients[i].buffered();
  }
  std::printf("%llu results, %llu busy\n", static_cast<unsigned long long>(n_ok),
              static_cast<unsigned long long>(n_busy));
  EXPECT_GT(n_busy, 0u);
  Client probe = Connect(*s);
  EXPECT_EQ(probe.Call("PRIMES 100", Scaled(2000)), "result: 25");
  std::map<std::string, uint64_t> st = Stats(probe);
  EXPECT_GT(st["rejected"], 0u);
  EXPECT_EQ(st["rejected"], n_busy);
  EXPECT_EQ(st["completed"], n_ok + 1);
  EXPECT_EQ(st["errors"], 0u);
  EXPECT_EQ(st["in_flight"], 0u);
}

// --max-inflight 4: a client pipelining 50 requests never has more than 4
// in the server; the server stops reading it instead of answering "busy"
// (the queue holds 4, so a fifth accepted task would be refused).
TEST_F(OverloadTest, MaxInflightPausesReadingInsteadOfRefusing) {
  ServerProcess* s =
      StartServer({"--workers", "1", "--queue-capacity", "4", "--max-inflight", "4"});
  ASSERT_NE(s, nullptr);
  const int kRequests = UnderValgrind() ? 20 : 50;
  std::vector<std::string> want;
  std::string batch;
  for (int i = 0; i < kRequests; i++) {
    if (i % 2 == 0) {
      batch += "SLEEP 5\n";
      want.push_back("result: slept 5");
    } else {
      batch += "PRIMES " + std::to_string(1000 + i) + "\n";
      want.push_back("result: " + std::to_string(PrimeCount(1000 + i)));
    }
  }
  Client c = Connect(*s);
  Client observer = Connect(*s);
  ASSERT_TRUE(c.Send(batch, Scaled(2000)));

  std::vector<std::string> got;
  uint64_t max_in_flight = 0, max_queue = 0;
  int samples = 0, busy_samples = 0;
  bool stats_pending = false;
  int64_t last_stats_ms = 0;
  ASSERT_TRUE(PumpUntil(
      {&c, &observer},
      [&] {
        std::string line;
        while (c.PopLine(&line)) got.push_back(line);
        if (stats_pending && observer.PopLine(&line)) {
          stats_pending = false;
          std::map<std::string, uint64_t> st = ParseStats(line);
          EXPECT_FALSE(st.empty()) << line;
          max_in_flight = std::max(max_in_flight, st["in_flight"]);
          max_queue = std::max(max_queue, st["queue_depth"]);
          samples++;
          busy_samples += st["in_flight"] > 0;
        }
        if (got.size() >= static_cast<size_t>(kRequests)) return true;
        // A sample every ~5 ms (a cap on the load the observer adds).
        if (!stats_pending && NowMs() - last_stats_ms >= 5) {
          last_stats_ms = NowMs();
          stats_pending = observer.Send("STATS\n", 1000);
        }
        return false;
      },
      Scaled(20000)))
      << got.size() << " of " << kRequests << " replies";
  std::printf("%d STATS samples (%d while busy): max in_flight %llu, max queue_depth %llu\n",
              samples, busy_samples, static_cast<unsigned long long>(max_in_flight),
              static_cast<unsigned long long>(max_queue));
  ASSERT_EQ(got.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; i++) EXPECT_EQ(got[i], want[i]) << "reply " << i;
  EXPECT_GE(busy_samples, 1) << "never sampled while the pipeline ran";
  EXPECT_LE(max_in_flight, 4u);
  EXPECT_LE(max_queue, 4u);
  // The connection is still usable, and nothing was refused.
  EXPECT_EQ(c.Call("PING", Scaled(2000)), "result: PONG");
  if (stats_pending) observer.ReadLine(Scaled(2000));  // the last sample's reply
  std::map<std::string, uint64_t> st = Stats(observer);
  EXPECT_EQ(st["rejected"], 0u);
  EXPECT_EQ(st["completed"], static_cast<uint64_t>(kRequests));
}

}  // namespace
}  // namespace it
