// Scale-out on one host: several pool_server processes sharing one port
// with --reuseport (SO_REUSEPORT; the kernel spreads new connections over
// the listeners), and what happens without it.
//
// The shared port cannot address one process, so each one is read through
// its own channel: its /metrics on its own --metrics-port (0: a free one,
// named in its log), gauge pool_server_connections.
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

constexpr int kClients = 20;

class ScaleoutTest : public ServerTest {
 protected:
  // The port of a server's /metrics, from its "metrics on http://ADDR:PORT/"
  // log line; -1 if it has none.
  static int MetricsPort(const ServerProcess& s) {
    static const char kNeedle[] = "metrics on http://127.0.0.1:";
    const std::string log = s.Log();
    size_t at = log.find(kNeedle);
    return at == std::string::npos ? -1 : std::atoi(log.c_str() + at + sizeof kNeedle - 1);
  }

  // The value of `pool_server_connections` from one GET /metrics; -1 (and a
  // failure) if the scrape fails or lacks it.
  static long ConnectionsGauge(int metrics_port) {
    Client c;
    if (c.Connect(metrics_port) != 0) {
      ADD_FAILURE() << "cannot connect to /metrics on port " << metrics_port;
      return -1;
    }
    c.Send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", Scaled(2000));
    c.WaitEof(Scaled(2000));  // one request per connection; the server closes
    const std::string& body = c.buffered();
    static const char kGauge[] = "\npool_server_connections ";
    size_t at = body.find(kGauge);
    if (body.rfind("HTTP/1.1 200 OK\r\n", 0) != 0 || at == std::string::npos) {
      ADD_FAILURE() << "no pool_server_connections in the scrape:\n" << body.substr(0, 400);
      return -1;
    }
    return std::atol(body.c_str() + at + sizeof kGauge - 1);
  }

  // Two servers on one port, both with --reuseport and their own /metrics.
  bool StartPair(ServerProcess** a, ServerProcess** b) {
    *a = StartServer({"--reuseport", "--workers", "1", "--metrics-port", "0"});
    if (*a == nullptr) return false;
    *b = StartServer({"--reuseport", "--workers", "1", "--metrics-port", "0", "--port",
                      std::to_string((*a)->port())});
    if (*b == nullptr) return false;
    EXPECT_EQ((*b)->port(), (*a)->port());
    EXPECT_GT(MetricsPort(**a), 0) << (*a)->Log();
    EXPECT_GT(MetricsPort(**b), 0) << (*b)->Log();
    return !::testing::Test::HasFailure();
  }

  // kClients connections to port, each answered PONG (so each was accepted
  // by one of the processes and is served).
  std::vector<Client> ConnectAndPing(int port) {
    std::vector<Client> clients(kClients);
    for (Client& c : clients) {
      EXPECT_EQ(c.Connect(port), 0);
      EXPECT_EQ(c.Call("PING", Scaled(2000)), "result: PONG");
    }
    return clients;
  }
};

// The point of --reuseport: one port, two processes, and the kernel gives
// each of them a share of the connections. The figures must add up to the
// 20 open connections (none counted twice or lost), and each process must
// have some: all 20 on one side happens with probability 2 / 2^20.
TEST_F(ScaleoutTest, ReuseportSpreadsConnectionsOverBothProcesses) {
  ServerProcess *a = nullptr, *b = nullptr;
  ASSERT_TRUE(StartPair(&a, &b));
  std::vector<Client> clients = ConnectAndPing(a->port());
  long na = -1, nb = -1;
  EXPECT_TRUE(PollUntil(
      [&] {
        na = ConnectionsGauge(MetricsPort(*a));
        nb = ConnectionsGauge(MetricsPort(*b));
        return na + nb == kClients;
      },
      Scaled(3000)))
      << "connections: " << na << " + " << nb << ", expected " << kClients;
  EXPECT_GT(na, 0) << "the first process got none of the " << kClients << " connections";
  EXPECT_GT(nb, 0) << "the second process got none of the " << kClients << " connections";
}

// One process of the pair drains (SIGTERM closes its listener at once): its
// clients are answered and closed, it exits 0, and from then on the port is
// still served, every new connection going to the process that stayed. This
// is a restart of one process with no outage for newcomers.
TEST_F(ScaleoutTest, WhenOneDrainsTheOtherTakesEveryNewConnection) {
  ServerProcess *a = nullptr, *b = nullptr;
  ASSERT_TRUE(StartPair(&a, &b));
  const int port = a->port();
  ASSERT_EQ(a->Signal(SIGTERM), 0);
  ASSERT_TRUE(a->WaitExit(Scaled(3000))) << "still running 3 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(a->status()) && WEXITSTATUS(a->status()) == 0)
      << DescribeStatus(a->status());
  std::vector<Client> clients = ConnectAndPing(port);
  long nb = -1;
  EXPECT_TRUE(PollUntil([&] { return (nb = ConnectionsGauge(MetricsPort(*b))) == kClients; },
                        Scaled(3000)))
      << "the remaining process has " << nb << " connections, expected " << kClients;
}

// SO_REUSEPORT is opt-in on both sides: unless every listener on the port
// set it, the second server cannot bind and exits 1 (port in use), and the
// first one keeps serving.
TEST_F(ScaleoutTest, WithoutReuseportTheSecondServerExitsOne) {
  struct Case {
    bool first, second;
  } cases[] = {{false, false}, {true, false}, {false, true}};
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string("first ") + (k.first ? "with" : "without") + " --reuseport, second " +
                 (k.second ? "with" : "without"));
    std::vector<std::string> args = {"--workers", "1"};
    if (k.first) args.push_back("--reuseport");
    ServerProcess* first = StartServer(args);
    ASSERT_NE(first, nullptr);
    const std::string port = std::to_string(first->port());
    std::vector<std::string> argv = {ServerBinary(), "--workers", "1", "--port", port};
    if (k.second) argv.push_back("--reuseport");
    RunResult r = RunProgram(argv, Scaled(5000));
    ASSERT_TRUE(r.exited) << "the second server started on a port in use";
    EXPECT_EQ(r.exit_code(), 1) << DescribeStatus(r.status) << "\n" << r.err;
    EXPECT_NE(r.err.find("127.0.0.1:" + port), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
    Client c = Connect(*first);
    EXPECT_EQ(c.Call("PING", Scaled(2000)), "result: PONG") << "the first server was disturbed";
  }
}

}  // namespace
}  // namespace it
