// RESP2: raw frames over a socket (every configuration), malformed frames,
// and the real redis-cli / redis-benchmark from Debian's redis-tools.
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

std::string Resp(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

// One RESP reply line including its \r\n (a bulk's header, or a whole
// simple string / integer / error).
std::string ReplyLine(Client& c) {
  std::optional<std::string> l = c.ReadLine(Scaled(5000));
  return l ? *l + "\n" : "<no reply>";
}

class RespTest : public ServerTest {};

TEST_F(RespTest, RawFramesGetRespReplies) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  ASSERT_TRUE(c.Send(Resp({"PING"}), 1000));
  EXPECT_EQ(ReplyLine(c), "+PONG\r\n");
  ASSERT_TRUE(c.Send(Resp({"HASH", "abc"}), 1000));
  EXPECT_EQ(ReplyLine(c), "$64\r\n");
  EXPECT_EQ(c.ReadBytes(66, Scaled(2000)).value_or("<none>"), std::string(kSha256Abc) + "\r\n");
  ASSERT_TRUE(c.Send(Resp({"PRIMES", "100"}), 1000));
  EXPECT_EQ(ReplyLine(c), ":25\r\n");
  ASSERT_TRUE(c.Send(Resp({"ECHO", "a b\r\nc"}), 1000));  // binary-safe bulk
  EXPECT_EQ(c.ReadBytes(12, Scaled(2000)).value_or("<none>"), "$6\r\na b\r\nc\r\n");
  ASSERT_TRUE(c.Send(Resp({"BOGUS"}), 1000));
  EXPECT_EQ(ReplyLine(c).rfind("-ERR ", 0), 0u);
  // Text and RESP requests pipelined on one connection: answered in order,
  // each in its own framing.
  ASSERT_TRUE(c.Send(Resp({"SLEEP", std::to_string(WorkMs(50))}) + "PING\n" + Resp({"PRIMES", "10"}),
                     1000));
  EXPECT_EQ(ReplyLine(c), "$" + std::to_string(6 + std::to_string(WorkMs(50)).size()) + "\r\n");
  EXPECT_EQ(ReplyLine(c), "slept " + std::to_string(WorkMs(50)) + "\r\n");
  EXPECT_EQ(ReplyLine(c), "result: PONG\n");
  EXPECT_EQ(ReplyLine(c), ":4\r\n");
  // A frame split across writes is put together.
  const std::string f = Resp({"PRIMES", "1000"});
  ASSERT_TRUE(c.Send(f.substr(0, 7), 1000));
  c.Pump();
  EXPECT_EQ(c.buffered(), "");
  ASSERT_TRUE(c.Send(f.substr(7), 1000));
  EXPECT_EQ(ReplyLine(c), ":168\r\n");
  EXPECT_EQ(c.buffered(), "");
}

// The error replies in RESP: -BUSY, -TIMEOUT, -SHUTDOWN.
TEST_F(RespTest, OverloadErrorsInResp) {
  ServerProcess* s = StartServer({"--workers", "1", "--queue-capacity", "1", "--task-timeout-ms",
                                  std::to_string(Scaled(200))});
  ASSERT_NE(s, nullptr);
  std::vector<Client> cs;
  for (int i = 0; i < 4; i++) cs.push_back(Connect(*s));
  const std::string sleep_ms = std::to_string(WorkMs(100));
  for (Client& c : cs) ASSERT_TRUE(c.Send(Resp({"SLEEP", sleep_ms}), 1000));
  int busy = 0, ok = 0;
  for (Client& c : cs) {
    std::string l = ReplyLine(c);
    if (l.rfind("-BUSY ", 0) == 0 && l.size() > 2 && l.substr(l.size() - 2) == "\r\n") {
      busy++;
    } else {
      EXPECT_EQ(l, "$" + std::to_string(6 + sleep_ms.size()) + "\r\n");
      EXPECT_EQ(ReplyLine(c), "slept " + sleep_ms + "\r\n");
      ok++;
    }
  }
  EXPECT_GE(busy, 1);
  EXPECT_GE(ok, 1);
  ASSERT_TRUE(cs[0].Send(Resp({"SLEEP", "10000"}), 1000));
  EXPECT_EQ(ReplyLine(cs[0]).rfind("-TIMEOUT ", 0), 0u);
}

TEST_F(RespTest, ShutdownErrorInResp) {
  ServerProcess* s = StartServer({"--workers", "1", "--shutdown-grace-ms", "100"});
  ASSERT_NE(s, nullptr);
  Client obs = Connect(*s);
  Client c = Connect(*s);
  ASSERT_TRUE(c.Send(Resp({"SLEEP", "10000"}), 1000));
  ASSERT_TRUE(PollUntil([&] { return Stats(obs)["busy_workers"] == 1; }, Scaled(3000)));
  ASSERT_EQ(s->Signal(SIGTERM), 0);
  EXPECT_EQ(ReplyLine(c).rfind("-SHUTDOWN ", 0), 0u);
  EXPECT_TRUE(c.WaitEof(Scaled(3000)));
  EXPECT_TRUE(s->WaitExit(Scaled(3000)));
  EXPECT_EQ(s->status(), 0) << DescribeStatus(s->status());
}

// Malformed RESP cannot be re-synchronised: "-ERR Protocol error: ..." and
// the connection is closed; nothing after it is answered.
TEST_F(RespTest, MalformedRespIsProtocolErrorThenClose) {
  ServerProcess* s = StartServer({"--max-line", "100"});
  ASSERT_NE(s, nullptr);
  const std::vector<std::string> frames = {
      "*2\r\n$-5\r\n",            // negative bulk length
      "*1\r\n$3\r\nPINGX\r\n",     // bulk longer than announced
      "*abc\r\n",                 // multibulk length not a number
      "*1\r\n+PING\r\n",          // element not a bulk string
  };
  for (const std::string& f : frames) {
    SCOPED_TRACE(f);
    Client c = Connect(*s);
    ASSERT_TRUE(c.Send(f + Resp({"PING"}), 1000));
    std::string l = ReplyLine(c);
    EXPECT_EQ(l.rfind("-ERR Protocol error: ", 0), 0u) << l;
    EXPECT_EQ(l.substr(l.size() < 2 ? 0 : l.size() - 2), "\r\n");
    EXPECT_TRUE(c.WaitEof(Scaled(3000)));
    EXPECT_EQ(c.buffered(), "") << "answered after a protocol error";
  }
  // A bulk above --max-line: "line too long" in RESP, then close.
  Client c = Connect(*s);
  ASSERT_TRUE(c.Send(Resp({"ECHO", std::string(200, 'z')}), 1000));
  std::string l = ReplyLine(c);
  EXPECT_EQ(l, "-ERR line too long\r\n");
  EXPECT_TRUE(c.WaitEof(Scaled(3000)));
  // The server is fine.
  Client ok = Connect(*s);
  EXPECT_EQ(ok.Call("PING", Scaled(2000)), "result: PONG");
}

// A text line ending in \r\n is the text protocol by default (the \r is
// dropped); with --resp-inline it is a Redis inline command, answered in RESP.
TEST_F(RespTest, CrlfLinesAreTextUnlessRespInline) {
  ServerProcess* text = StartServer({});
  ASSERT_NE(text, nullptr);
  Client t = Connect(*text);
  ASSERT_TRUE(t.Send("PING\r\nPRIMES 10\r\n", 1000));
  EXPECT_EQ(t.ReadLine(Scaled(2000)).value_or("<none>"), "result: PONG");
  EXPECT_EQ(t.ReadLine(Scaled(2000)).value_or("<none>"), "result: 4");

  ServerProcess* redis = StartServer({"--resp-inline"});
  ASSERT_NE(redis, nullptr);
  Client r = Connect(*redis);
  ASSERT_TRUE(r.Send("PING\r\nPRIMES 10\r\nPING\n", 1000));
  EXPECT_EQ(ReplyLine(r), "+PONG\r\n");
  EXPECT_EQ(ReplyLine(r), ":4\r\n");
  EXPECT_EQ(r.ReadLine(Scaled(2000)).value_or("<none>"), "result: PONG");  // \n alone: text
}

// The real Redis tools (ci/setup.sh installs redis-tools).
class RedisToolsTest : public ServerTest {
 protected:
  void SetUp() override {
    if (access(kCli, X_OK) != 0 || access(kBench, X_OK) != 0)
      GTEST_SKIP() << kCli << " / " << kBench << " not installed (Debian redis-tools; ci/setup.sh)";
    // As a Redis user would run it: inline commands answered in RESP.
    s_ = StartServer({"--resp-inline"});
    ASSERT_NE(s_, nullptr);
    port_ = std::to_string(s_->port());
  }
  RunResult Cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kCli, "-p", port_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, Scaled(10000));
  }
  RunResult Bench(const std::vector<std::string>& args) {
    // Under Helgrind (which runs the server, not redis-benchmark: see
    // ci/helgrind.sh) fewer requests: each costs the server ~100x more.
    std::string n = UnderValgrind() ? "300" : "2000";
    std::vector<std::string> argv = {kBench, "-p", port_, "-n", n, "-c", "10", "-q"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, Scaled(60000));
  }
  static void ExpectBenchOk(const RunResult& r) {
    ASSERT_TRUE(r.exited) << "redis-benchmark did not finish";
    EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
    EXPECT_NE(r.out.find("requests per second"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("ERR"), std::string::npos) << r.out;
    EXPECT_EQ((r.out + r.err).find("rror"), std::string::npos) << r.out << r.err;
  }
  static constexpr const char* kCli = "/usr/bin/redis-cli";
  static constexpr const char* kBench = "/usr/bin/redis-benchmark";
  ServerProcess* s_ = nullptr;
  std::string port_;
};

TEST_F(RedisToolsTest, RedisCli) {
  RunResult r = Cli({"PING"});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "PONG\n");
  r = Cli({"HASH", "abc"});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, std::string(kSha256Abc) + "\n");
  r = Cli({"PRIMES", "100"});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_TRUE(r.out == "25\n" || r.out == "(integer) 25\n") << r.out;
  r = Cli({"ECHO", "hello world"});
  EXPECT_EQ(r.out, "hello world\n");
  r = Cli({"BOGUS"});
  EXPECT_EQ(r.out.rfind("ERR ", 0), 0u) << r.out << r.err;
}

TEST_F(RedisToolsTest, RedisBenchmarkHash) { ExpectBenchOk(Bench({"HASH", "abc"})); }

// PING_MBULK is the RESP half of "-t ping".
TEST_F(RedisToolsTest, RedisBenchmarkPingMbulk) { ExpectBenchOk(Bench({"-t", "ping_mbulk"})); }

// "-t ping" starts with PING_INLINE, an inline command ("PING\r\n", no
// '*'): it needs --resp-inline, else the text protocol answers it.
TEST_F(RedisToolsTest, RedisBenchmarkPing) { ExpectBenchOk(Bench({"-t", "ping"})); }

}  // namespace
}  // namespace it
