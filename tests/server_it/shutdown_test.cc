// SIGTERM / SIGINT: stop accepting and reading, let running work finish
// within --shutdown-grace-ms (1000 by default), answer the rest "shutting
// down" in order, close every connection, exit 0.
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

class ShutdownTest : public ServerTest {
 protected:
  // Exit status 0 within timeout_ms; returns how long it took.
  int64_t ExpectCleanExit(ServerProcess* s, int64_t since_ms, int timeout_ms) {
    bool exited = s->WaitExit(timeout_ms);
    int64_t took = NowMs() - since_ms;
    EXPECT_TRUE(exited) << "still running " << took << " ms after the signal";
    if (exited) {
      EXPECT_TRUE(WIFEXITED(s->status()) && WEXITSTATUS(s->status()) == 0)
          << DescribeStatus(s->status());
    }
    return took;
  }
  // Sanitizers slow the exit (ASan leak check, TSan teardown).
  static int ExitSlack(int ms) { return UnderValgrind() ? ms * 5 : Scale() > 1 ? ms * 2 : ms; }
};

// SLEEP 10000 running and a second one queued on the same connection;
// SIGTERM: no new connections, both answered "shutting down" in order once
// the grace period is over, the connection closed, exit 0 within 2 s.
TEST_F(ShutdownTest, SigtermCancelsRunningAndQueuedWork) {
  ServerProcess* s = StartServer({"--workers", "1"});
  ASSERT_NE(s, nullptr);
  Client obs = Connect(*s);
  Client c = Connect(*s);
  ASSERT_TRUE(c.Send("SLEEP 10000\nSLEEP 10000\n", 1000));
  ASSERT_TRUE(PollUntil(
      [&] {
        std::map<std::string, uint64_t> st = Stats(obs);
        return st["busy_workers"] == 1 && st["queue_depth"] == 1;
      },
      Scaled(3000)))
      << "the SLEEPs never got to running + queued";

  const int64_t t0 = NowMs();
  ASSERT_EQ(s->Signal(SIGTERM), 0);
  ASSERT_TRUE(s->WaitForLog("shutting down", Scaled(3000)));
  // The log line comes just before the listener closes: a connect in that
  // instant may still complete in the kernel, but is never served.
  Client late;
  int rc = late.Connect(s->port());
  if (rc == 0) {
    EXPECT_TRUE(late.Send("PING\n", 1000));
    EXPECT_TRUE(late.WaitEof(Scaled(2000)));
    EXPECT_EQ(late.buffered(), "") << "a connection made after SIGTERM was served";
    rc = late.Connect(s->port());
  }
  EXPECT_EQ(rc, -ECONNREFUSED) << "connections still accepted after SIGTERM";
  EXPECT_TRUE(obs.WaitEof(Scaled(2000))) << "an idle connection stayed open";

  std::vector<std::string> lines = c.ReadLines(2, Scaled(5000));
  const int64_t replied = NowMs() - t0;
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "ERROR: shutting down");
  EXPECT_EQ(lines[1], "ERROR: shutting down");
  EXPECT_TRUE(c.WaitEof(Scaled(2000)));
  EXPECT_EQ(c.buffered(), "");
  // Running work had its grace period (1000 ms) before being cancelled.
  EXPECT_GE(replied, 950);
  int64_t took = ExpectCleanExit(s, t0, ExitSlack(2000));
  std::printf("replies %lld ms, exit %lld ms after SIGTERM\n", static_cast<long long>(replied),
              static_cast<long long>(took));
  EXPECT_LT(took, ExitSlack(2000));
  EXPECT_NE(s->Log().find("stopped: submitted=2 completed=0"), std::string::npos) << s->Log();
}

// Work that fits in the grace period finishes with its real result.
TEST_F(ShutdownTest, SigtermLetsRunningWorkFinishWithinGrace) {
  const int sleep_ms = WorkMs(300), grace_ms = 3 * sleep_ms + 500;
  ServerProcess* s =
      StartServer({"--workers", "1", "--shutdown-grace-ms", std::to_string(grace_ms)});
  ASSERT_NE(s, nullptr);
  Client obs = Connect(*s);
  Client c = Connect(*s);
  ASSERT_TRUE(c.Send("SLEEP " + std::to_string(sleep_ms) + "\n", 1000));
  ASSERT_TRUE(PollUntil([&] { return Stats(obs)["busy_workers"] == 1; }, Scaled(3000)));
  const int64_t t0 = NowMs();
  ASSERT_EQ(s->Signal(SIGTERM), 0);
  std::optional<std::string> l = c.ReadLine(Scaled(3000));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(*l, "result: slept " + std::to_string(sleep_ms));
  EXPECT_TRUE(c.WaitEof(Scaled(2000)));
  int64_t took = ExpectCleanExit(s, t0, grace_ms + ExitSlack(1000));
  EXPECT_LT(took, grace_ms) << "waited out the grace period for nothing";
}

// SIGINT does the same as SIGTERM.
TEST_F(ShutdownTest, SigintStopsCleanly) {
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  ASSERT_EQ(c.Call("PING", Scaled(2000)), "result: PONG");
  const int64_t t0 = NowMs();
  ASSERT_EQ(s->Signal(SIGINT), 0);
  EXPECT_TRUE(c.WaitEof(Scaled(2000)));
  ExpectCleanExit(s, t0, ExitSlack(1000));
}

// An idle server with 10 idle connections: SIGTERM closes them all (EOF)
// and exits 0 at once, without waiting for the grace period.
TEST_F(ShutdownTest, SigtermOnIdleServerClosesConnectionsAndExitsQuickly) {
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  std::vector<Client> cs;
  std::vector<Client*> all;
  for (int i = 0; i < 10; i++) {
    cs.push_back(Connect(*s));
    ASSERT_EQ(cs.back().Call("PING", Scaled(2000)), "result: PONG");
  }
  for (Client& c : cs) all.push_back(&c);
  const int64_t t0 = NowMs();
  ASSERT_EQ(s->Signal(SIGTERM), 0);
  EXPECT_TRUE(PumpUntil(
      all,
      [&] {
        for (Client& c : cs)
          if (!c.eof()) return false;
        return true;
      },
      Scaled(1000)))
      << "connections still open 1 s after SIGTERM";
  for (Client& c : cs) EXPECT_EQ(c.buffered(), "");
  int64_t took = ExpectCleanExit(s, t0, ExitSlack(1000));
  std::printf("idle server exited %lld ms after SIGTERM\n", static_cast<long long>(took));
  EXPECT_LT(took, ExitSlack(1000));
}

}  // namespace
}  // namespace it

namespace it {
namespace {

// A client that pipelined large ECHOs and stopped reading has replies
// queued when SIGTERM comes, and only then starts reading. It must receive
// whole replies and a clean EOF: the server answers only what it read, but
// never drops what it answered (lingering close, not a reset).
TEST_F(ShutdownTest, SigtermDeliversRepliesAlreadyQueuedToASlowReader) {
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  const std::string payload(60 * 1024, 's');
  const std::string line = "ECHO " + payload + "\n";
  std::string stream;
  for (int i = 0; i < 400; i++) stream += line;  // ~24 MB: more than the buffers hold
  Client c;
  ASSERT_EQ(c.Connect(s->port(), 64 * 1024, 64 * 1024), 0);
  size_t sent = 0;
  int64_t last_progress = NowMs();
  while (sent < stream.size() && NowMs() - last_progress < Scaled(1000)) {
    ssize_t n = c.SendSome(stream.data() + sent, stream.size() - sent);
    ASSERT_GE(n, 0);
    if (n > 0) last_progress = NowMs();
    sent += static_cast<size_t>(n);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, nullptr);
  }
  ASSERT_LT(sent, stream.size()) << "the server never stopped reading";
  ASSERT_EQ(s->Signal(SIGTERM), 0);
  ASSERT_TRUE(c.WaitEof(Scaled(5000)));
  size_t good = 0, bad = 0;
  std::string l;
  while (c.PopLine(&l)) (l == "result: " + payload ? good : bad)++;
  std::printf("%zu whole replies, %zu bad, %zu bytes of a cut reply, error %d\n", good, bad,
              c.buffered().size(), c.error());
  EXPECT_GE(good, 1u);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(c.buffered(), "") << "a reply was cut off";
  EXPECT_EQ(c.error(), 0) << "connection reset: " << strerror(c.error());
  EXPECT_TRUE(s->WaitExit(Scaled(5000)));
}

}  // namespace
}  // namespace it
