// The command line (bad flags, --help, a port in use) and the R4 log format.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

class CliTest : public ServerTest {
 protected:
  RunResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ServerBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, Scaled(5000));
  }
};

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// Each bad command line: exit 2, the first stderr line names the culprit,
// then the usage. The server never starts (so no port is taken).
TEST_F(CliTest, BadFlagsExitTwoWithUsage) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  } cases[] = {
      {{"--workers", "0"}, "--workers"},
      {{"--workers", "x"}, "--workers"},
      {{"--workers=-3"}, "--workers"},
      {{"--workers"}, "--workers"},
      {{"--bogus"}, "--bogus"},
      {{"--port", "70000"}, "--port"},
      {{"--min-workers", "4", "--max-workers", "2"}, "--min-workers"},
      {{"--queue-capacity", "18446744073709551617"}, "--queue-capacity"},
      {{"--log-level", "loud"}, "--log-level"},
      {{"9090", "9091"}, "9091"},
      // Defect 6: these exited 1 after a log line instead of 2 with the usage.
      {{"--bind", "1.2.3"}, "--bind"},
      {{"--bind", "::g"}, "--bind"},
      {{"--bind", "no-such-host.invalid"}, "--bind"},
  };
  for (const Case& c : cases) {
    std::string cmd;
    for (const std::string& a : c.args) cmd += " " + a;
    SCOPED_TRACE("pool_server" + cmd);
    RunResult r = Run(c.args);
    ASSERT_TRUE(r.exited) << "did not exit";
    EXPECT_EQ(r.exit_code(), 2) << DescribeStatus(r.status) << "\n" << r.err;
    EXPECT_NE(FirstLine(r.err).find(c.names), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("usage:"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
  }
}

// --bind takes a host name, as redis-server and nginx do; the log names
// the address actually bound.
TEST_F(CliTest, BindAcceptsAHostName) {
  ServerProcess* s = StartServer({"--bind", "localhost"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  EXPECT_EQ(c.Call("PING", Scaled(2000)), "result: PONG");
}

TEST_F(CliTest, HelpAndVersionExitZero) {
  RunResult r = Run({"--help"});
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find("usage:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--max-inflight"), std::string::npos) << r.out;
  r = Run({"--version"});
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out.rfind("pool_server ", 0), 0u) << r.out;
}

// A port already taken: exit 1 with a message naming the address and why.
TEST_F(CliTest, PortInUseExitsOne) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<struct sockaddr*>(&sa), &len), 0);
  const std::string port = std::to_string(ntohs(sa.sin_port));
  RunResult r = Run({"--port", port});
  close(fd);
  ASSERT_TRUE(r.exited) << "the server started on a port in use";
  EXPECT_EQ(r.exit_code(), 1) << DescribeStatus(r.status) << "\n" << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:" + port), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
}

// One log record: "<time> <level> <thread> <message>".
struct LogRecord {
  std::string time, level, thread, message;
};

// "2026-11-24T13:17:38.845Z"
bool IsLogTime(const std::string& t) {
  static const char kShape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (t.size() != sizeof kShape - 1) return false;
  for (size_t i = 0; i < t.size(); i++) {
    if (kShape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(t[i])) : t[i] != kShape[i])
      return false;
  }
  return true;
}

// "worker-<digits>"
bool IsWorkerName(const std::string& t) {
  if (t.rfind("worker-", 0) != 0 || t.size() == 7) return false;
  for (size_t i = 7; i < t.size(); i++)
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
  return true;
}

// The N of the first "conn=N" in a message, or "".
std::string ConnId(const std::string& msg) {
  size_t p = msg.find("conn=");
  if (p == std::string::npos) return "";
  size_t e = p + 5;
  while (e < msg.size() && std::isdigit(static_cast<unsigned char>(msg[e]))) e++;
  return msg.substr(p + 5, e - p - 5);
}

std::vector<LogRecord> ParseLog(const std::string& log) {
  std::vector<LogRecord> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    LogRecord r;
    ls >> r.time >> r.level >> r.thread;
    std::getline(ls >> std::ws, r.message);
    out.push_back(r);
  }
  return out;
}

// R4: with --log-level debug a HASH request leaves records from the loop
// thread ("main": read, reply) and from the worker that hashed
// ("worker-K"), tied together by the connection id.
TEST_F(CliTest, DebugLogNamesLoopAndWorkerThreads) {
  ServerProcess* s = StartServer({"--workers", "2", "--log-level", "debug"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  ASSERT_EQ(c.Call("HASH abc", Scaled(2000)), std::string("result: ") + kSha256Abc);
  // The reply is written after the worker logged, so its records are in;
  // "reply written" is logged right after the write: wait for it.
  ASSERT_TRUE(s->WaitForLog("reply written", Scaled(2000))) << s->Log();

  std::string hash_conn;
  bool main_read = false, main_write = false, worker_hash = false;
  std::vector<LogRecord> recs = ParseLog(s->Log());
  for (const LogRecord& r : recs) {
    EXPECT_TRUE(IsLogTime(r.time)) << "time: " << r.time;
    EXPECT_TRUE(r.level == "error" || r.level == "warn" || r.level == "info" || r.level == "debug")
        << "level: " << r.level;
    if (IsWorkerName(r.thread) && r.message.find("HASH") != std::string::npos &&
        !ConnId(r.message).empty()) {
      worker_hash = true;
      hash_conn = ConnId(r.message);
    }
  }
  ASSERT_TRUE(worker_hash) << "no worker-K record for the HASH:\n" << s->Log();
  for (const LogRecord& r : recs) {
    if (r.thread != "main" || r.message.find("conn=" + hash_conn + " ") != 0) continue;
    main_read |= r.message.find("read") != std::string::npos;
    main_write |= r.message.find("repl") != std::string::npos;
  }
  EXPECT_TRUE(main_read) << "no read record from main for conn=" << hash_conn << ":\n" << s->Log();
  EXPECT_TRUE(main_write) << "no reply record from main for conn=" << hash_conn << ":\n"
                          << s->Log();
}

// At the default level (info) there are no debug records.
TEST_F(CliTest, InfoLevelHasNoDebugRecords) {
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  ASSERT_EQ(c.Call("HASH abc", Scaled(2000)), std::string("result: ") + kSha256Abc);
  for (const LogRecord& r : ParseLog(s->Log())) EXPECT_NE(r.level, "debug") << r.message;
}

}  // namespace
}  // namespace it
