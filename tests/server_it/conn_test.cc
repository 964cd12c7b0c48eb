// Connections: STATS bookkeeping, replies reaching only their own client,
// --max-connections, --max-line, and a client that never reads.
#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

class ConnTest : public ServerTest {};

// After a mixed run (results, invalid input, busy, a timeout) the counters
// match what the clients saw, submitted == completed + errors + timeouts +
// cancelled + in_flight, in_flight is 0 when idle, and connections follows
// the open connections.
TEST_F(ConnTest, StatsAddUpAfterMixedRun) {
  ServerProcess* s = StartServer(
      {"--workers", "1", "--queue-capacity", "1", "--task-timeout-ms", std::to_string(Scaled(300))});
  ASSERT_NE(s, nullptr);
  Client a = Connect(*s);
  uint64_t ok = 0, busy = 0, invalid = 0, timeouts = 0;
  auto tally = [&](const std::string& l) {
    if (l.rfind("result: ", 0) == 0) ok++;
    else if (l == "ERROR: server busy") busy++;
    else if (l.rfind("ERROR: invalid input: ", 0) == 0) invalid++;
    else if (l == "ERROR: timeout") timeouts++;
    else ADD_FAILURE() << "unexpected reply: " << l;
  };
  // Pool results and inline errors, one at a time (the queue holds one).
  std::vector<std::string> lines;
  for (const char* req : {"HASH abc", "PRIMES 100", "BOGUS", "PRIMES -1", "SLEEP x", "SLEEP 1"})
    lines.push_back(a.Call(req, Scaled(5000)));
  EXPECT_EQ(lines[0], std::string("result: ") + kSha256Abc);
  EXPECT_EQ(lines[1], "result: 25");
  for (int i = 2; i <= 4; i++) EXPECT_EQ(lines[i].rfind("ERROR: invalid input: ", 0), 0u) << lines[i];
  EXPECT_EQ(lines[5], "result: slept 1");
  for (const std::string& l : lines) tally(l);

  // Busy: four clients at once against 1 worker + a queue of 1.
  std::vector<Client> flood;
  for (int i = 0; i < 4; i++) flood.push_back(Connect(*s));
  const std::string sleep_req = "SLEEP " + std::to_string(WorkMs(100)) + "\n";
  for (Client& c : flood) ASSERT_TRUE(c.Send(sleep_req, 1000));
  for (Client& c : flood) {
    std::optional<std::string> l = c.ReadLine(Scaled(5000));
    ASSERT_TRUE(l.has_value());
    tally(*l);
  }
  EXPECT_GE(busy, 1u);

  // A timeout.
  EXPECT_EQ(a.Call("SLEEP 10000", Scaled(5000)), "ERROR: timeout");
  tally("ERROR: timeout");

  std::map<std::string, uint64_t> st;
  ASSERT_TRUE(WaitStats(
      a, [](auto& m) { return m["in_flight"] == 0 && m["busy_workers"] == 0 && m["queue_depth"] == 0; },
      Scaled(3000), &st));
  EXPECT_EQ(st["submitted"], st["completed"] + st["errors"] + st["timeouts"] + st["cancelled"] +
                                 st["in_flight"]);
  EXPECT_EQ(st["in_flight"], 0u);
  EXPECT_EQ(st["completed"], ok);          // every "result:" here came from the pool
  EXPECT_EQ(st["rejected"], busy);
  EXPECT_EQ(st["timeouts"], timeouts);
  EXPECT_EQ(st["errors"], 0u);
  EXPECT_EQ(st["cancelled"], 0u);
  EXPECT_EQ(st["submitted"], ok + timeouts);  // invalid and busy never reach the pool
  EXPECT_EQ(invalid, 3u);
  EXPECT_EQ(st["connections"], 5u);  // a + 4 flood

  flood.pop_back();
  flood.pop_back();
  EXPECT_TRUE(WaitStats(a, [](auto& m) { return m["connections"] == 3; }, Scaled(3000), &st))
      << "connections=" << st["connections"];
  flood.clear();
  EXPECT_TRUE(WaitStats(a, [](auto& m) { return m["connections"] == 1; }, Scaled(3000), &st))
      << "connections=" << st["connections"];
}

// A client sends SLEEP and vanishes (RST) while it runs; a new client,
// which may get the same fd in the server, is answered PONG and nothing
// else: the orphaned result goes nowhere.
TEST_F(ConnTest, OrphanedResultNeverReachesAnotherClient) {
  for (bool reset : {true, false}) {
    SCOPED_TRACE(reset ? "client A resets" : "client A closes");
    ServerProcess* s = StartServer({"--workers", "1"});
    ASSERT_NE(s, nullptr);
    Client obs = Connect(*s);
    Client a = Connect(*s);
    ASSERT_TRUE(a.Send("SLEEP " + std::to_string(WorkMs(300)) + "\n", 1000));
    ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["busy_workers"] == 1; }, Scaled(3000)));
    if (reset) {
      a.Reset();
      // The server drops A at once, freeing its fd for the next accept.
      ASSERT_TRUE(WaitStats(obs, [](auto& m) { return m["connections"] == 1; }, Scaled(3000)));
    } else {
      a.Close();
    }
    Client b = Connect(*s);
    EXPECT_EQ(b.Call("PING", Scaled(2000)), "result: PONG");
    // Wait until A's task is over and its connection gone, then make sure
    // B received nothing more, by a marker that must be the very next line.
    ASSERT_TRUE(WaitStats(
        obs, [](auto& m) { return m["in_flight"] == 0 && m["connections"] == 2; }, Scaled(5000)));
    b.Pump();
    EXPECT_EQ(b.buffered(), "");
    EXPECT_EQ(b.Call("ECHO marker", Scaled(2000)), "result: marker");
    b.Pump();
    EXPECT_EQ(b.buffered(), "");
    std::map<std::string, uint64_t> st = Stats(obs);
    if (reset) {  // nobody will read it: A's SLEEP is cancelled, its worker freed
      EXPECT_EQ(st["cancelled"], 1u);
      EXPECT_EQ(st["completed"], 0u);
    } else {  // a FIN is a half-close: A's SLEEP runs to the end, answered to nobody
      EXPECT_EQ(st["completed"], 1u);
    }
    b.Close();
    obs.Close();
    TearDown();  // stop this server before the next round
    if (HasFatalFailure()) return;
  }
}

// A client that half-closes after pipelining still gets every reply, in
// order, then EOF.
TEST_F(ConnTest, HalfCloseStillAnswered) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  ASSERT_TRUE(c.Send("SLEEP " + std::to_string(WorkMs(100)) + "\nPING\nPRIMES 100\n", 1000));
  c.ShutdownWrite();
  std::vector<std::string> lines = c.ReadLines(3, Scaled(5000));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "result: slept " + std::to_string(WorkMs(100)));
  EXPECT_EQ(lines[1], "result: PONG");
  EXPECT_EQ(lines[2], "result: 25");
  EXPECT_TRUE(c.WaitEof(Scaled(3000)));
  EXPECT_EQ(c.buffered(), "");
}

// --max-connections 3: a 4th connection is told so and closed; the first
// three keep working; a slot freed by a close is usable again.
TEST_F(ConnTest, MaxConnections) {
  ServerProcess* s = StartServer({"--max-connections", "3"});
  ASSERT_NE(s, nullptr);
  std::vector<Client> cs;
  for (int i = 0; i < 3; i++) {
    cs.push_back(Connect(*s));
    ASSERT_EQ(cs.back().Call("PING", Scaled(2000)), "result: PONG") << "connection " << i;
  }
  Client fourth = Connect(*s);
  ASSERT_GE(fourth.fd(), 0);
  std::optional<std::string> l = fourth.ReadLine(Scaled(3000));
  ASSERT_TRUE(l.has_value()) << "no line before EOF";
  EXPECT_EQ(*l, "ERROR: too many connections");
  EXPECT_TRUE(fourth.WaitEof(Scaled(3000)));
  EXPECT_EQ(fourth.buffered(), "");
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(cs[i].Call("ECHO still-" + std::to_string(i), Scaled(2000)),
              "result: still-" + std::to_string(i));
  std::map<std::string, uint64_t> st = Stats(cs[0]);
  EXPECT_EQ(st["connections"], 3u);

  cs.pop_back();
  // The slot frees once the server has seen the close.
  EXPECT_TRUE(PollUntil(
      [&] {
        Client c;
        if (c.Connect(s->port()) != 0) return false;
        return c.Call("PING", Scaled(2000)) == "result: PONG";
      },
      Scaled(3000)));
}

// --max-line 100: a 200-byte line is answered "line too long", then EOF;
// other connections are unaffected and a line under the limit works.
TEST_F(ConnTest, OverlongLineClosesConnection) {
  ServerProcess* s = StartServer({"--max-line", "100"});
  ASSERT_NE(s, nullptr);
  Client ok = Connect(*s);
  EXPECT_EQ(ok.Call("ECHO " + std::string(80, 'b'), Scaled(2000)), "result: " + std::string(80, 'b'));
  Client c = Connect(*s);
  ASSERT_TRUE(c.Send("ECHO " + std::string(195, 'a') + "\nPING\n", 1000));
  std::optional<std::string> l = c.ReadLine(Scaled(3000));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(*l, "ERROR: line too long");
  EXPECT_TRUE(c.WaitEof(Scaled(3000)));
  EXPECT_EQ(c.buffered(), "") << "the PING after the long line must not be answered";
  // The same without a newline: the server must not wait for one forever.
  Client d = Connect(*s);
  ASSERT_TRUE(d.Send(std::string(100 + 200, 'x'), 1000));
  l = d.ReadLine(Scaled(3000));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(*l, "ERROR: line too long");
  EXPECT_TRUE(d.WaitEof(Scaled(3000)));
  EXPECT_EQ(ok.Call("PING", Scaled(2000)), "result: PONG");
}

// A client pipelines 60 KiB ECHO lines and never reads. The server must
// stop reading it (its buffers stay bounded: RSS grows < 50 MB however much
// the client tries to send), keep serving others, and once the client reads
// again deliver every reply intact.
TEST_F(ConnTest, SlowReaderIsPausedAndMemoryStaysBounded) {
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  Client other = Connect(*s);
  ASSERT_EQ(other.Call("PING", Scaled(2000)), "result: PONG");
  const long rss0 = s->RssKb();
  ASSERT_GT(rss0, 0);

  const std::string payload(60 * 1024, 'e');
  const std::string line = "ECHO " + payload + "\n";
  const size_t kCap = 96u << 20;  // far more than the kernel buffers hold
  Client slow;
  ASSERT_EQ(slow.Connect(s->port(), 64 * 1024, 64 * 1024), 0);
  size_t sent = 0;  // bytes of the endless stream of `line`s
  // Sends more of the stream; with line_end, only up to the end of the
  // line in progress. False on a send error.
  auto send_more = [&](bool line_end = false) {
    for (;;) {
      if (line_end && sent % line.size() == 0) return true;
      size_t off = sent % line.size();
      ssize_t n = slow.SendSome(line.data() + off, line.size() - off);
      if (n <= 0) return n == 0;
      sent += static_cast<size_t>(n);
      if (sent >= kCap && sent % line.size() == 0) return true;
    }
  };
  // Send until the socket has stayed full for a while: the server is not
  // reading any more. (If it kept reading, we would reach kCap.)
  int64_t last_progress = NowMs();
  while (sent < kCap && NowMs() - last_progress < Scaled(1000)) {
    size_t before = sent;
    ASSERT_TRUE(send_more()) << "send failed: " << strerror(errno);
    if (sent != before) last_progress = NowMs();
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, nullptr);
  }
  const long rss1 = s->RssKb();
  std::printf("sent %.1f MB without reading; server RSS %ld -> %ld KiB\n", sent / 1048576.0, rss0,
              rss1);
  EXPECT_LT(sent, kCap) << "the server never stopped reading the slow client";
  // What the server holds for its connections, exactly (any config): at
  // most the 1 MiB output bound, one reply, one read's leftover and the
  // buffer's growth step.
  std::map<std::string, uint64_t> st = Stats(other);
  EXPECT_LE(st["buffered_bytes"], (1u << 20) + 3 * 65536 + line.size())
      << "server memory grew with the unread replies";
  // RSS too, where it measures the server (Valgrind's own memory grows
  // with the traffic it watches).
  if (!UnderValgrind()) {
    EXPECT_LT(rss1 - rss0, 50L * 1024) << "server memory grew with the unread replies";
  }

  // Others are still served while the slow client is stuck.
  const int64_t t0 = NowMs();
  EXPECT_EQ(other.Call("PING", Scaled(2000)), "result: PONG");
  EXPECT_LT(NowMs() - t0, Scaled(1000));

  // Now read: finish the line in progress, and every reply arrives intact.
  const std::string want = "result: " + payload;
  size_t lines_sent = (sent + line.size() - 1) / line.size();
  size_t got = 0, bad = 0;
  ASSERT_TRUE(PumpUntil(
      {&slow},
      [&] {
        EXPECT_TRUE(send_more(true));
        std::string l;
        while (slow.PopLine(&l)) {
          got++;
          bad += l != want;
        }
        return got == lines_sent && sent % line.size() == 0;
      },
      Scaled(30000)))
      << got << " of " << lines_sent << " replies";
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(slow.Call("PING", Scaled(2000)), "result: PONG");
}

}  // namespace
}  // namespace it

namespace it {
namespace {

// Sends `stream` on c without reading until the socket stays full (the
// server stopped reading), like SlowReaderIsPausedAndMemoryStaysBounded.
// Returns the bytes sent.
size_t SendUntilStalled(Client& c, const std::string& stream, int stall_ms) {
  size_t sent = 0;
  int64_t last_progress = NowMs();
  while (sent < stream.size() && NowMs() - last_progress < stall_ms) {
    ssize_t n = c.SendSome(stream.data() + sent, stream.size() - sent);
    if (n < 0) break;
    if (n > 0) last_progress = NowMs();
    sent += static_cast<size_t>(n);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, nullptr);
  }
  return sent;
}

// A client that pipelined large ECHOs and stopped reading has replies
// queued when SIGTERM comes, and only then starts reading. It must receive
// whole replies and a clean EOF: the server answers only what it read, but
// never drops what it answered (lingering close, not a reset).
TEST_F(ConnTest, RepliesBeforeQuitSurviveUnreadInput) {
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  const std::string payload(60 * 1024, 'q');
  std::string stream;
  for (int i = 0; i < 60; i++) stream += "ECHO " + payload + "\n";
  stream += "QUIT\n";
  const size_t quit_end = stream.size();
  for (int i = 0; i < 200000; i++) stream += "PING\n";  // never answered
  Client c;
  ASSERT_EQ(c.Connect(s->port(), 64 * 1024, 64 * 1024), 0);
  size_t sent = SendUntilStalled(c, stream, Scaled(500));
  std::printf("sent %zu bytes (QUIT ends at %zu) before the socket filled up\n", sent, quit_end);
  // Read everything while sending the rest; stop sending once the server
  // has gone (EPIPE/ECONNRESET on send after QUIT is fine).
  bool send_failed = false;
  PumpUntil(
      {&c},
      [&] {
        if (!send_failed && sent < stream.size()) {
          ssize_t n = c.SendSome(stream.data() + sent, stream.size() - sent);
          if (n < 0) send_failed = true;
          else sent += static_cast<size_t>(n);
          if (sent == stream.size()) c.ShutdownWrite();
        }
        return c.eof();
      },
      Scaled(20000));
  ASSERT_TRUE(c.eof());
  size_t echoes = 0, bad = 0;
  std::string line;
  bool ok_seen = false;
  while (c.PopLine(&line)) {
    if (line == "result: OK") ok_seen = true;
    else if (line == "result: " + payload) echoes++;
    else bad++;
  }
  EXPECT_EQ(echoes, 60u);
  EXPECT_EQ(bad, 0u);
  EXPECT_TRUE(ok_seen) << "no reply to QUIT";
  EXPECT_EQ(c.error(), 0) << "connection reset: " << strerror(c.error());
}

}  // namespace
}  // namespace it
