// Operating the server, black-box (issue 13): signals, log files and their
// rotation, json logs, INFO through the real redis-cli (--stat included),
// /metrics checked by promtool and scraped by a real Prometheus, systemd's
// readiness protocol, the idle timeout, the connection limit, --help and
// --version. Each test fails when the behaviour it names is missing.
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"
#include "tests/server_it/json.h"

namespace it {
namespace {

constexpr const char kRedisCli[] = "/usr/bin/redis-cli";
constexpr const char kPromtool[] = "/usr/bin/promtool";
constexpr const char kPrometheus[] = "/usr/bin/prometheus";

std::string ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) n++;
  return n;
}

// A unique scratch path in TempDir().
std::string ScratchPath(const std::string& what) {
  static int seq = 0;
  return TempDir() + "/ops-" + std::to_string(getpid()) + "-" + std::to_string(++seq) + "-" + what;
}

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = -1;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(fd, reinterpret_cast<struct sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

// The number after needle in the server's log ("metrics on http://127.0.0.1:").
int PortAfter(const std::string& log, const std::string& needle) {
  size_t p = log.find(needle);
  return p == std::string::npos ? -1 : std::atoi(log.c_str() + p + needle.size());
}

// ---- HTTP over a raw socket ----------------------------------------------

struct HttpReply {
  int status = 0;  // 0: no (parsable) reply
  std::string head, body;
  bool closed = false;  // the server closed the connection after it
};

// Sends request as it is and reads until the server closes (or timeout).
HttpReply HttpRaw(int port, const std::string& request, int timeout_ms) {
  HttpReply r;
  Client c;
  if (c.Connect(port) != 0 || !c.Send(request, timeout_ms)) return r;
  r.closed = c.WaitEof(timeout_ms);
  const std::string& all = c.buffered();
  size_t end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || all.size() < 12) return r;
  r.status = std::atoi(all.c_str() + 9);
  r.head = all.substr(0, end);
  r.body = all.substr(end + 4);
  return r;
}

HttpReply HttpGet(int port, const std::string& target, int timeout_ms) {
  // HTTP/1.0: the answer is never chunked and the server closes after it.
  return HttpRaw(port, "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", timeout_ms);
}

std::string UrlEncode(const std::string& s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// ---- INFO ----------------------------------------------------------------

// "# Section" then "key:value" lines -> {section: {key: value}}; every other
// non-blank line goes to *bad.
using InfoSections = std::map<std::string, std::map<std::string, std::string>>;

InfoSections ParseInfoLines(const std::vector<std::string>& lines, std::vector<std::string>* bad) {
  InfoSections out;
  std::string section;
  for (const std::string& l : lines) {
    if (l.empty()) continue;
    if (l.rfind("# ", 0) == 0) {
      section = l.substr(2);
      out[section];
      continue;
    }
    size_t colon = l.find(':');
    if (section.empty() || colon == std::string::npos || colon == 0 || colon + 1 == l.size()) {
      bad->push_back(l);
      continue;
    }
    out[section][l.substr(0, colon)] = l.substr(colon + 1);
  }
  return out;
}

// The text protocol's INFO: "result: # Server key:value ... # Clients ...".
InfoSections ParseTextInfo(const std::string& reply, std::vector<std::string>* bad) {
  std::vector<std::string> lines;
  std::istringstream in(reply.substr(reply.rfind("result: ", 0) == 0 ? 8 : 0));
  std::string w;
  while (in >> w) {
    if (w == "#" && in >> w) lines.push_back("# " + w);
    else lines.push_back(w);
  }
  return ParseInfoLines(lines, bad);
}

bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "ddd-dd" style shapes: 'd' a digit, anything else itself.
bool HasShape(const std::string& s, const std::string& shape) {
  if (s.size() != shape.size()) return false;
  for (size_t i = 0; i < s.size(); i++) {
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i])
      return false;
  }
  return true;
}

// Runs of whitespace as one space.
std::string Squeeze(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (out.empty() || out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// "N.N.N" with each N digits.
bool IsVersion(const std::string& v) {
  std::istringstream in(v);
  std::string part;
  int n = 0;
  while (std::getline(in, part, '.')) {
    if (!AllDigits(part)) return false;
    n++;
  }
  return n == 3;
}

class OpsTest : public ServerTest {
 protected:
  // A second connection answers PING: the server is up and serving.
  void ExpectServing(ServerProcess* s, Client& c) {
    EXPECT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
    Client fresh = Connect(*s);
    EXPECT_EQ(fresh.Call("PING", Scaled(3000)), "result: PONG");
    EXPECT_FALSE(s->WaitExit(0)) << "the server exited: " << DescribeStatus(s->status());
  }
};

// ---- 1. signals ------------------------------------------------------------

// HUP without --log-file, USR1 and USR2: each is logged, none stops the
// server; USR1's record is the STATS line with the figures of the moment.
TEST_F(OpsTest, HupUsr1Usr2AreLoggedAndTheServerKeepsServing) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  ASSERT_EQ(c.Call("HASH abc", Scaled(3000)), std::string("result: ") + kSha256Abc);

  const struct {
    int sig;
    const char *record, *also;
  } cases[] = {
      {SIGHUP, "SIGHUP: no --log-file to reopen; ignored", ""},
      // busy_workers is left out: a worker that has not waited yet counts as busy.
      {SIGUSR1, "SIGUSR1: workers=2 busy_workers=",
       " queue_depth=0 queue_capacity=256 submitted=1 completed=1 errors=0 rejected=0 "
       "timeouts=0 connections="},
      {SIGUSR2, "SIGUSR2: ignored", ""},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(strsignal(k.sig));
    ASSERT_EQ(s->Signal(k.sig), 0);
    EXPECT_TRUE(s->WaitForLog(k.record, Scaled(5000))) << s->Log();
    EXPECT_NE(s->Log().find(k.also), std::string::npos) << s->Log();
    ExpectServing(s, c);
  }
  // The three at once: none is lost to another (one flag each).
  const size_t hup = Count(s->Log(), "SIGHUP:"), usr1 = Count(s->Log(), "SIGUSR1:"),
               usr2 = Count(s->Log(), "SIGUSR2:");
  ASSERT_EQ(s->Signal(SIGHUP), 0);
  ASSERT_EQ(s->Signal(SIGUSR1), 0);
  ASSERT_EQ(s->Signal(SIGUSR2), 0);
  EXPECT_TRUE(PollUntil(
      [&] {
        const std::string log = s->Log();
        return Count(log, "SIGHUP:") > hup && Count(log, "SIGUSR1:") > usr1 &&
               Count(log, "SIGUSR2:") > usr2;
      },
      Scaled(5000)))
      << s->Log();
  ExpectServing(s, c);
}

// SIGPIPE never kills. A client pipelines small requests with big replies
// (INFO, ~1.5 KB each), half-closes (its FIN arrives behind them: the
// server's socket goes to CLOSE_WAIT) and resets while the replies are
// being written: the server's next send fails with EPIPE, which raises
// SIGPIPE unless the server ignores it or sends with MSG_NOSIGNAL. The
// server is started with SIGPIPE at its default (server_process.cc).
TEST_F(OpsTest, ClientResettingDuringABigReplyDoesNotKillTheServer) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  Client keep = Connect(*s);
  ASSERT_EQ(keep.Call("PING", Scaled(3000)), "result: PONG");
  std::string burst;
  // More than the server's socket takes at once (tcp_wmem max is 4 MB).
  for (int i = 0; i < 6000; i++) burst += "INFO\n";  // 30 KB in, ~6 MB owed
  const int rounds = UnderValgrind() ? 3 : 10;
  for (int round = 0; round < rounds; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    Client c;
    ASSERT_EQ(c.Connect(s->port(), 4096), 0);
    ASSERT_TRUE(c.Send(burst, Scaled(5000)));
    c.ShutdownWrite();
    // Part of the replies has arrived: the server is writing; then reset.
    ASSERT_TRUE(PumpUntil({&c}, [&] { return c.buffered().size() >= 1000; }, Scaled(5000)));
    c.Reset();
    ASSERT_EQ(keep.Call("PING", Scaled(3000)), "result: PONG") << "after the reset";
  }
  ExpectServing(s, keep);
  // Every reset connection is gone (closed, not leaked).
  EXPECT_TRUE(WaitStats(keep, [](auto& st) { return st["connections"] == 1; }, Scaled(5000)));
}

// ---- 2. --log-file and its rotation ----------------------------------------

// logrotate's contract: rename the file, SIGHUP; the next records go to a
// new file at the original path, none to the renamed one.
TEST_F(OpsTest, LogFileIsReopenedOnHup) {
  const std::string path = ScratchPath("server.log"), rotated = path + ".1";
  unlink(path.c_str());
  unlink(rotated.c_str());
  ServerProcess* s = StartServer({"--log-file", path});
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->WaitForLog("listening on", Scaled(5000))) << "not in " << path;
  EXPECT_EQ(s->Stderr(), "") << "records went to stderr too";

  ASSERT_EQ(rename(path.c_str(), rotated.c_str()), 0) << strerror(errno);
  Client c = Connect(*s);
  ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
  ASSERT_EQ(s->Signal(SIGHUP), 0);
  ASSERT_TRUE(PollUntil([&] { return ReadWholeFile(path).find("SIGHUP: reopened") !=
                                     std::string::npos; },
                        Scaled(5000)))
      << "no new file with the SIGHUP record at " << path << "; renamed file:\n"
      << ReadWholeFile(rotated);
  ASSERT_EQ(s->Signal(SIGUSR2), 0);
  EXPECT_TRUE(PollUntil(
      [&] { return ReadWholeFile(path).find("SIGUSR2: ignored") != std::string::npos; },
      Scaled(5000)))
      << ReadWholeFile(path);
  const std::string old = ReadWholeFile(rotated);
  EXPECT_NE(old.find("listening on"), std::string::npos) << old;
  EXPECT_EQ(old.find("SIGUSR2"), std::string::npos) << "written to the renamed file:\n" << old;
  EXPECT_EQ(old.find("reopened"), std::string::npos) << old;
  ExpectServing(s, c);
  EXPECT_EQ(s->Stderr(), "");
  ASSERT_EQ(s->Signal(SIGTERM), 0);
  ASSERT_TRUE(s->WaitExit(Scaled(5000)));
  EXPECT_NE(ReadWholeFile(path).find("stopped:"), std::string::npos);
  unlink(path.c_str());
  unlink(rotated.c_str());
}

// ---- 3. INFO, redis-cli INFO and redis-cli --stat --------------------------

class OpsRedisCliTest : public OpsTest {
 protected:
  void SetUp() override {
    // Under Helgrind redis-cli runs natively (ci/helgrind.sh skips it).
    if (access(kRedisCli, X_OK) != 0)
      GTEST_SKIP() << kRedisCli << " not installed (Debian redis-tools; ci/setup.sh)";
  }
};

TEST_F(OpsRedisCliTest, InfoHasTheSectionsInRespAndText) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  const std::string port = std::to_string(s->port());
  Client c = Connect(*s);
  ASSERT_EQ(c.Call("HASH abc", Scaled(3000)), std::string("result: ") + kSha256Abc);
  ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");

  RunResult r = RunProgram({kRedisCli, "-p", port, "INFO"}, Scaled(10000));
  ASSERT_EQ(r.exit_code(), 0) << DescribeStatus(r.status) << r.err;
  std::vector<std::string> bad;
  InfoSections info = ParseInfoLines(Lines(r.out), &bad);
  EXPECT_TRUE(bad.empty()) << "not '# Section' or 'key:value': " << bad[0] << "\n" << r.out;
  for (const char* sec : {"Server", "Clients", "Memory", "Stats", "Pool", "Latency"}) {
    SCOPED_TRACE(sec);
    ASSERT_TRUE(info.count(sec)) << r.out;
    EXPECT_FALSE(info[sec].empty()) << "no key:value lines in # " << sec;
  }
  EXPECT_EQ(info["Server"]["process_id"], std::to_string(s->pid()));
  EXPECT_EQ(info["Server"]["tcp_port"], port);
  EXPECT_EQ(info["Clients"]["connected_clients"], "2");  // c and redis-cli
  EXPECT_EQ(info["Stats"]["submitted"], "1");
  EXPECT_EQ(info["Stats"]["completed"], "1");
  EXPECT_EQ(info["Stats"]["total_connections_received"], "2");
  EXPECT_EQ(info["Pool"]["workers"], "2");
  EXPECT_TRUE(AllDigits(info["Stats"]["total_commands_processed"])) << r.out;
  EXPECT_EQ(info["Latency"]["latency_hash"].rfind("calls=1,p50_us=", 0), 0u) << r.out;

  // One section by name.
  r = RunProgram({kRedisCli, "-p", port, "INFO", "pool"}, Scaled(10000));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  bad.clear();
  InfoSections pool = ParseInfoLines(Lines(r.out), &bad);
  EXPECT_TRUE(bad.empty()) << r.out;
  ASSERT_EQ(pool.size(), 1u) << r.out;
  EXPECT_EQ(pool.begin()->first, "Pool");
  std::set<std::string> resp_pool_keys, all_pool_keys;
  for (const auto& kv : pool["Pool"]) resp_pool_keys.insert(kv.first);
  for (const auto& kv : info["Pool"]) all_pool_keys.insert(kv.first);
  EXPECT_EQ(resp_pool_keys, all_pool_keys);

  // The text protocol: one "result: " line, the same sections and keys.
  std::string line = c.Call("INFO", Scaled(3000));
  ASSERT_EQ(line.rfind("result: # Server ", 0), 0u) << line;
  EXPECT_EQ(c.buffered(), "") << "more than one line";
  bad.clear();
  InfoSections text = ParseTextInfo(line, &bad);
  EXPECT_TRUE(bad.empty()) << bad[0];
  ASSERT_EQ(text.size(), info.size()) << line;
  for (const auto& sec : info) {
    std::set<std::string> a, b;
    for (const auto& kv : sec.second) a.insert(kv.first);
    for (const auto& kv : text[sec.first]) b.insert(kv.first);
    EXPECT_EQ(a, b) << "# " << sec.first;
  }
  EXPECT_EQ(text["Server"]["process_id"], std::to_string(s->pid()));
}

// redis-cli --stat polls INFO and prints a row per interval: keys, mem,
// clients, blocked, requests, connections. It buffers its output unless it
// writes to a terminal, so it runs on a pseudo-terminal.
TEST_F(OpsRedisCliTest, RedisCliStatPrintsRows) {
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  BackgroundProcess cli;
  std::string why;
  ASSERT_TRUE(cli.Start({kRedisCli, "-p", std::to_string(s->port()), "--stat", "-i", "0.1"},
                        &why, /*stdout_pty=*/true))
      << why;
  // "0          6.96M    1       0       20 (+0)             11": keys, mem,
  // clients, blocked, requests (+ since the last row), connections.
  auto is_row = [](const std::string& l) {
    std::istringstream in(l);
    std::vector<std::string> t;
    for (std::string w; in >> w;) t.push_back(w);
    if (t.size() != 7) return false;
    std::string mem = t[1];
    if (!mem.empty() && std::strchr("BKMGT", mem.back()) != nullptr) mem.pop_back();
    const size_t dot = mem.find('.');
    const bool mem_ok = dot == std::string::npos
                            ? AllDigits(mem)
                            : AllDigits(mem.substr(0, dot)) && AllDigits(mem.substr(dot + 1));
    return AllDigits(t[0]) && mem_ok && AllDigits(t[2]) && AllDigits(t[3]) && AllDigits(t[4]) &&
           t[5].size() > 3 && t[5].compare(0, 2, "(+") == 0 && t[5].back() == ')' &&
           AllDigits(t[5].substr(2, t[5].size() - 3)) && AllDigits(t[6]);
  };
  std::string row;
  bool got = PollUntil(
      [&] {
        for (const std::string& l : Lines(cli.Out()))
          if (is_row(l)) return row = l, true;
        return !cli.running();
      },
      Scaled(10000));
  const std::string out = cli.Out();
  EXPECT_TRUE(cli.running()) << "redis-cli --stat exited: " << DescribeStatus(cli.status())
                             << "\n" << out << cli.Err();
  cli.Stop(SIGTERM, Scaled(5000));
  EXPECT_TRUE(got && !row.empty()) << "no data row:\n" << out << cli.Err();
  EXPECT_NE(out.find("requests"), std::string::npos) << out;  // the header
  EXPECT_EQ(out.find("rror"), std::string::npos) << out;
  EXPECT_EQ(out.find("ERR"), std::string::npos) << out;
}

// ---- 4. /metrics, promtool, Prometheus ---------------------------------------

class OpsMetricsTest : public OpsTest {
 protected:
  // A server with --metrics-port 0; its metrics port in metrics_port_.
  ServerProcess* StartWithMetrics() {
    ServerProcess* s = StartServer({"--workers", "2", "--metrics-port", "0"});
    if (s == nullptr) return nullptr;
    // Logged just after the "listening on" line that Start() waited for.
    EXPECT_TRUE(s->WaitForLog("/metrics\n", Scaled(5000))) << s->Log();
    metrics_port_ = PortAfter(s->Log(), "metrics on http://127.0.0.1:");
    EXPECT_GT(metrics_port_, 0) << s->Log();
    return metrics_port_ > 0 ? s : nullptr;
  }
  int metrics_port_ = -1;
};

TEST_F(OpsMetricsTest, MetricsOverHttpPassPromtool) {
  ServerProcess* s = StartWithMetrics();
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  for (int i = 0; i < 3; i++) ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
  ASSERT_EQ(c.Call("HASH abc", Scaled(3000)), std::string("result: ") + kSha256Abc);

  // As Prometheus asks: HTTP/1.1, one request.
  HttpReply r = HttpRaw(metrics_port_,
                        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Accept: text/plain;version=0.0.4\r\n\r\n",
                        Scaled(5000));
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_TRUE(r.closed);
  EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r.head;
  EXPECT_NE(r.head.find("Content-Length: " + std::to_string(r.body.size()) + "\r\n"),
            std::string::npos)
      << r.head;
  for (const char* want :
       {"# TYPE pool_server_requests_total counter\n",
        "pool_server_requests_total{command=\"ping\",outcome=\"ok\"} 3\n",
        "pool_server_requests_total{command=\"hash\",outcome=\"ok\"} 1\n",
        "# TYPE pool_server_connections gauge\npool_server_connections 1\n",
        "pool_server_workers 2\n", "# TYPE pool_server_latency_seconds histogram\n",
        "pool_server_latency_seconds_count{command=\"hash\"} 1\n",
        "pool_server_latency_seconds_bucket{command=\"hash\",le=\"+Inf\"} 1\n"})
    EXPECT_NE(r.body.find(want), std::string::npos) << want << "\n" << r.body;

  if (access(kPromtool, X_OK) != 0) {
    GTEST_SKIP() << kPromtool << " not installed (Debian prometheus; ci/setup.sh installs it)";
  }
  const std::string file = ScratchPath("metrics.txt");
  {
    std::ofstream f(file, std::ios::binary);
    f << r.body;
  }
  RunResult p = RunProgram({kPromtool, "check", "metrics"}, Scaled(30000), file);
  unlink(file.c_str());
  ASSERT_TRUE(p.exited) << "promtool did not finish";
  EXPECT_EQ(p.exit_code(), 0) << DescribeStatus(p.status) << "\n" << p.out << p.err;
  EXPECT_EQ(p.out + p.err, "") << "promtool has lint findings";
}

// Only GET/HEAD /metrics is served; a malformed request is 400 and closed.
TEST_F(OpsMetricsTest, OtherPathsAre404AndMalformedRequests400) {
  ServerProcess* s = StartWithMetrics();
  ASSERT_NE(s, nullptr);
  HttpReply r = HttpGet(metrics_port_, "/", Scaled(5000));
  EXPECT_EQ(r.status, 404) << r.head;
  r = HttpGet(metrics_port_, "/metricsx", Scaled(5000));
  EXPECT_EQ(r.status, 404) << r.head;
  r = HttpGet(metrics_port_, "/metrics?x=1", Scaled(5000));  // a query string is ignored
  EXPECT_EQ(r.status, 200) << r.head;
  r = HttpRaw(metrics_port_, "HEAD /metrics HTTP/1.1\r\n\r\n", Scaled(5000));
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.body, "");
  r = HttpRaw(metrics_port_, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Scaled(5000));
  EXPECT_EQ(r.status, 405) << r.head;
  for (const char* req : {"garbage\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
                          "GET /metrics SPDY/3\r\n\r\n"}) {
    SCOPED_TRACE(req);
    r = HttpRaw(metrics_port_, req, Scaled(5000));
    EXPECT_EQ(r.status, 400) << r.head;
    EXPECT_TRUE(r.closed) << "not closed after the 400";
  }
  // The server itself is fine.
  Client c = Connect(*s);
  EXPECT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) { return remove(path); }

// A real Prometheus scrapes --metrics-port once a second; its query API
// reads back the PINGs this test sent.
TEST_F(OpsMetricsTest, PrometheusScrapesACounter) {
  if (access(kPrometheus, X_OK) != 0)
    GTEST_SKIP() << kPrometheus << " not installed (Debian prometheus; ci/setup.sh installs it)";
  ServerProcess* s = StartWithMetrics();
  ASSERT_NE(s, nullptr);
  const int pings = 7;
  Client c = Connect(*s);
  for (int i = 0; i < pings; i++) ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");

  const std::string dir = ScratchPath("prometheus");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0) << strerror(errno);
  const std::string config = dir + "/prometheus.yml";
  {
    std::ofstream f(config);
    f << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
         "scrape_configs:\n  - job_name: pool_server\n    static_configs:\n"
         "      - targets: ['127.0.0.1:"
      << metrics_port_ << "']\n";
  }
  BackgroundProcess prom;
  int web_port = -1;
  // A port free a moment ago may be taken by the time Prometheus binds it.
  for (int attempt = 0; attempt < 3; attempt++) {
    web_port = FreePort();
    ASSERT_GT(web_port, 0);
    std::string why;
    ASSERT_TRUE(prom.Start({kPrometheus, "--config.file=" + config,
                            "--storage.tsdb.path=" + dir + "/data",
                            "--web.listen-address=127.0.0.1:" + std::to_string(web_port),
                            "--log.level=warn"},
                           &why))
        << why;
    bool ready = PollUntil(
        [&] { return !prom.running() || HttpGet(web_port, "/-/ready", 2000).status == 200; },
        Scaled(30000));
    if (ready && prom.running()) break;
    std::string err = prom.Err();
    prom.Stop(SIGTERM, Scaled(10000));
    ASSERT_NE(err.find("address already in use"), std::string::npos)
        << "Prometheus did not become ready:\n" << err;
  }
  ASSERT_TRUE(prom.running());

  // Discovery reaches the scrape loop after up to 5 s, then 1 s a scrape.
  const std::string target =
      "/api/v1/query?query=" + UrlEncode("pool_server_requests_total{command=\"ping\"}");
  std::string answer, value;
  bool scraped = PollUntil(
      [&] {
        HttpReply q = HttpGet(web_port, target, 5000);
        answer = q.body;
        Json j;
        std::string err;
        if (q.status != 200 || !ParseJson(q.body, &j, &err)) return false;
        const Json* data = j.Get("data");
        const Json* result = data ? data->Get("result") : nullptr;
        if (!j.Get("status") || !j.Get("status")->IsString("success") || !result ||
            result->type != Json::kArray || result->items.size() != 1)
          return false;
        const Json* v = result->items[0].Get("value");
        if (!v || v->type != Json::kArray || v->items.size() != 2) return false;
        value = v->items[1].text;
        return std::atoi(value.c_str()) >= pings;
      },
      Scaled(60000));
  EXPECT_TRUE(scraped) << "Prometheus answered: " << answer << "\n" << prom.Err();
  EXPECT_EQ(value, std::to_string(pings)) << answer;
  EXPECT_NE(answer.find("\"job\":\"pool_server\""), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"outcome\":\"ok\""), std::string::npos) << answer;

  // Stopped and reaped: SIGTERM is its graceful shutdown (exit 0).
  EXPECT_TRUE(prom.Stop(SIGTERM, Scaled(20000))) << "Prometheus ignored SIGTERM";
  EXPECT_EQ(DescribeStatus(prom.status()), "exit 0") << prom.Err();
  nftw(dir.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

// ---- 5. NOTIFY_SOCKET (sd_notify) ------------------------------------------

// The receiving end of sd_notify: an AF_UNIX datagram socket bound to a
// path (as systemd's /run/systemd/notify) or in the abstract namespace.
class NotifySocket {
 public:
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) unlink(path_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  // A path in TempDir(), or in a fresh directory under /tmp when TempDir()
  // is too deep for sun_path (Bazel's is); abstract: "@name".
  bool Bind(bool abstract, std::string* why) {
    struct sockaddr_un sa = {};
    sa.sun_family = AF_UNIX;
    socklen_t len;
    if (abstract) {
      const std::string name = "pool_server-it-" + std::to_string(getpid());
      std::memcpy(sa.sun_path + 1, name.data(), name.size());
      len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + name.size());
      env_ = "@" + name;
    } else {
      path_ = ScratchPath("notify.sock");
      if (path_.size() >= sizeof sa.sun_path) {
        char dir[] = "/tmp/pool_server-it-XXXXXX";
        if (mkdtemp(dir) == nullptr) return *why = strerror(errno), false;
        dir_ = dir;
        path_ = dir_ + "/notify.sock";
      }
      std::memcpy(sa.sun_path, path_.data(), path_.size());
      len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path_.size() + 1);
      env_ = path_;
    }
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<struct sockaddr*>(&sa), len) != 0)
      return *why = "bind " + env_ + ": " + strerror(errno), false;
    return true;
  }
  const std::string& env() const { return env_; }
  // The next datagram, or "" if none came within timeout_ms.
  std::string Receive(int timeout_ms) {
    struct pollfd p = {fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return "";
    char buf[1024];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
  std::string path_, dir_, env_;
};

// READY=1 once listening (with STATUS and MAINPID), STOPPING=1 at SIGTERM,
// as a systemd Type=notify unit needs; to a path and to an abstract socket.
TEST_F(OpsTest, NotifySocketGetsReadyAndStopping) {
  for (bool abstract : {false, true}) {
    NotifySocket ns;
    std::string why;
    ASSERT_TRUE(ns.Bind(abstract, &why)) << why;
    SCOPED_TRACE("NOTIFY_SOCKET=" + ns.env());
    ServerProcess* s = StartServer({"--workers", "2"}, {"NOTIFY_SOCKET=" + ns.env()});
    ASSERT_NE(s, nullptr);
    std::string ready = ns.Receive(Scaled(5000));
    EXPECT_NE(ready.find("READY=1\n"), std::string::npos) << ready;
    EXPECT_NE(ready.find("STATUS=listening on 127.0.0.1:" + std::to_string(s->port())),
              std::string::npos)
        << ready;
    EXPECT_NE(ready.find("MAINPID=" + std::to_string(s->pid()) + "\n"), std::string::npos)
        << ready;
    Client c = Connect(*s);  // ready means serving
    EXPECT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
    c.Close();
    ASSERT_EQ(s->Signal(SIGTERM), 0);
    std::string stopping = ns.Receive(Scaled(5000));
    EXPECT_NE(stopping.find("STOPPING=1\n"), std::string::npos) << stopping;
    ASSERT_TRUE(s->WaitExit(Scaled(5000)));
    EXPECT_EQ(DescribeStatus(s->status()), "exit 0");
    EXPECT_EQ(ns.Receive(0), "") << "more datagrams after STOPPING";
  }
}

// ---- 6. json logs ----------------------------------------------------------

bool IsLogTime(const std::string& t) {
  return HasShape(t, "dddd-dd-ddTdd:dd:dd.dddZ");
}

// What log.h promises: each key=value word of the message (key of a-z and
// _, before any quoted client text) is a member; digits are a number.
std::map<std::string, std::string> ExpectedFields(const std::string& msg) {
  std::map<std::string, std::string> out;
  std::istringstream in(msg.substr(0, msg.find('\'')));
  std::string w;
  while (in >> w) {
    const size_t eq = w.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == w.size() || eq > 32) continue;
    const std::string k = w.substr(0, eq), v = w.substr(eq + 1);
    if (!(std::islower(static_cast<unsigned char>(k[0])) || k[0] == '_') ||
        k.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") != std::string::npos)
      continue;
    if (k == "ts" || k == "level" || k == "thread" || k == "msg" || out.count(k)) continue;
    out[k] = v;
  }
  return out;
}

TEST_F(OpsTest, JsonLogLinesParse) {
  ServerProcess* s =
      StartServer({"--log-format", "json", "--log-level", "debug", "--workers", "2"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  struct sockaddr_in me = {};
  socklen_t len = sizeof me;
  ASSERT_EQ(getsockname(c.fd(), reinterpret_cast<struct sockaddr*>(&me), &len), 0);
  const std::string peer = "127.0.0.1:" + std::to_string(ntohs(me.sin_port));
  ASSERT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
  ASSERT_EQ(c.Call("HASH abc", Scaled(3000)), std::string("result: ") + kSha256Abc);
  ASSERT_EQ(c.Call("SLEEP 1", Scaled(3000)), "result: slept 1");
  ASSERT_EQ(c.Call("INFO", Scaled(3000)).rfind("result: ", 0), 0u);
  // Client bytes in a record: quotes, a backslash, control characters...
  ASSERT_EQ(c.Call("BO\"G\\U\x01S\tx", Scaled(3000)).rfind("ERROR: invalid input", 0), 0u);
  // ... and words that look like fields: they must not become members.
  const std::string spoof = "x conn=999 peer=6.6.6.6:6 level=x";
  ASSERT_TRUE(c.Send("*1\r\n$" + std::to_string(spoof.size()) + "\r\n" + spoof + "\r\n", 1000));
  ASSERT_EQ(c.ReadLine(Scaled(3000)).value_or("").rfind("-ERR invalid input", 0), 0u);
  ASSERT_EQ(s->Signal(SIGUSR1), 0);
  c.Close();
  ASSERT_TRUE(s->WaitForLog("closed peer=" + peer, Scaled(5000))) << s->Log();
  ASSERT_TRUE(s->WaitForLog("SIGUSR1: ", Scaled(5000))) << s->Log();

  std::string conn;  // the client's conn id, from its "open" record
  bool open_rec = false, close_rec = false, worker_rec = false, spoof_rec = false;
  const std::vector<std::string> lines = Lines(s->Log());
  ASSERT_GE(lines.size(), 10u) << s->Log();
  for (const std::string& line : lines) {
    SCOPED_TRACE(line);
    Json j;
    std::string err;
    ASSERT_TRUE(ParseJson(line, &j, &err)) << err;
    ASSERT_EQ(j.type, Json::kObject);
    ASSERT_GE(j.members.size(), 4u);
    // ts, level, thread, msg: first, in that order, all strings.
    const char* head[] = {"ts", "level", "thread", "msg"};
    for (int k = 0; k < 4; k++) {
      EXPECT_EQ(j.members[k].first, head[k]);
      EXPECT_EQ(j.members[k].second.type, Json::kString);
    }
    EXPECT_TRUE(IsLogTime(j.Get("ts")->text)) << j.Get("ts")->text;
    const std::string level = j.Get("level")->text, thread = j.Get("thread")->text,
                      msg = j.Get("msg")->text;
    EXPECT_TRUE(level == "error" || level == "warn" || level == "info" || level == "debug");
    EXPECT_TRUE(thread == "main" || (thread.rfind("worker-", 0) == 0 && AllDigits(thread.substr(7))))
        << thread;
    // The members after those four are exactly the message's fields.
    std::map<std::string, std::string> want = ExpectedFields(msg);
    EXPECT_EQ(j.members.size(), 4 + want.size());
    for (const auto& f : want) {
      const Json* m = j.Get(f.first);
      ASSERT_NE(m, nullptr) << "no member for " << f.first << "=" << f.second;
      const bool number = AllDigits(f.second) && f.second.size() < 19 &&
                          !(f.second.size() > 1 && f.second[0] == '0');
      EXPECT_EQ(m->type, number ? Json::kNumber : Json::kString) << f.first;
      EXPECT_EQ(m->text, f.second) << f.first;
    }
    if (msg == "conn=" + (conn.empty() ? "?" : conn) + " closed peer=" + peer) close_rec = true;
    if (msg.find(" open peer=" + peer) != std::string::npos) {
      open_rec = true;
      conn = msg.substr(5, msg.find(' ') - 5);
      EXPECT_EQ(level, "debug");
      EXPECT_TRUE(j.Get("peer") && j.Get("peer")->IsString(peer));
    }
    if (thread != "main" && msg.find("HASH") != std::string::npos) {
      worker_rec = true;
      ASSERT_NE(j.Get("conn"), nullptr);
      EXPECT_EQ(j.Get("conn")->text, conn);
    }
    if (msg.find("invalid: unknown command 'x conn=999") != std::string::npos) {
      spoof_rec = true;
      ASSERT_NE(j.Get("conn"), nullptr);
      EXPECT_EQ(j.Get("conn")->text, conn) << "the client's text set the conn field";
      EXPECT_EQ(j.Get("peer"), nullptr) << "the client's text set a peer field";
      EXPECT_TRUE(j.Get("level")->IsString("debug"));
    }
    if (msg.find("invalid: unknown command 'BO\"G\\x5cU\\x01S\\x09x'") != std::string::npos) {
      EXPECT_EQ(j.members.size(), 5u);  // conn alone
    }
  }
  EXPECT_TRUE(open_rec) << "no debug record of the open, with the peer";
  EXPECT_TRUE(close_rec) << "no debug record of the close, with the peer";
  EXPECT_TRUE(worker_rec) << "no worker record of the HASH";
  EXPECT_TRUE(spoof_rec) << "no record of the unknown command";
}

// ---- 7. --idle-timeout-s ---------------------------------------------------

// An idle client is closed after the timeout; one whose SLEEP runs longer
// than the timeout gets its reply; one that sends a PING every 300 ms
// stays open.
TEST_F(OpsTest, IdleTimeoutClosesIdleClientsOnly) {
  ServerProcess* s = StartServer({"--workers", "2", "--idle-timeout-s", "1"});
  ASSERT_NE(s, nullptr);
  const int64_t t0 = NowMs();
  Client idle = Connect(*s);
  Client busy = Connect(*s);
  Client pinger = Connect(*s);
  ASSERT_EQ(pinger.Call("PING", Scaled(3000)), "result: PONG");
  const int sleep_ms = 2500;
  ASSERT_TRUE(busy.Send("SLEEP " + std::to_string(sleep_ms) + "\n", 1000));

  // The idle one: EOF after at least the timeout, within a few seconds.
  int64_t next_ping = NowMs() + 300, idle_eof_at = -1;
  int pongs = 1;
  bool pinger_ok = true;
  auto drive_pinger = [&] {
    std::string l;
    while (pinger.PopLine(&l)) {
      pinger_ok &= l == "result: PONG";
      pongs++;
    }
    if (NowMs() >= next_ping) {
      pinger_ok &= pinger.Send("PING\n", 1000);
      next_ping += 300;
    }
    if (idle_eof_at < 0 && idle.eof()) idle_eof_at = NowMs();
  };
  EXPECT_TRUE(PumpUntil({&idle, &busy, &pinger},
                        [&] {
                          drive_pinger();
                          return busy.HasLine();
                        },
                        Scaled(10000)))
      << "no reply to the SLEEP";
  std::string reply;
  ASSERT_TRUE(busy.PopLine(&reply));
  EXPECT_EQ(reply, "result: slept " + std::to_string(sleep_ms)) << "closed while busy";
  ASSERT_NE(idle_eof_at, -1) << "the idle client is still open after the SLEEP";
  EXPECT_GE(idle_eof_at - t0, 950) << "closed before the timeout";
  EXPECT_LE(idle_eof_at - t0, Scaled(3000)) << "closed late";
  EXPECT_EQ(idle.buffered(), "");

  // Once answered, the busy one is idle too and is closed; the pinger,
  // at least another 1.5 s of PINGs later, is open and answered.
  EXPECT_TRUE(PumpUntil({&busy, &pinger},
                        [&] {
                          drive_pinger();
                          return busy.eof() && NowMs() - t0 >= sleep_ms + 1500;
                        },
                        Scaled(10000)));
  EXPECT_TRUE(busy.eof()) << "the formerly busy client was never closed";
  EXPECT_FALSE(pinger.eof()) << "a client sending every 300 ms was closed";
  EXPECT_TRUE(pinger_ok);
  EXPECT_GE(pongs, 10);
  EXPECT_EQ(pinger.Call("PING", Scaled(3000)), "result: PONG");
}

// ---- 8. the command line, the connection limit -----------------------------

// --help teaches: every option group, every option with its default, the
// signals and the exit codes; -V, -v and --version print the version,
// which INFO reports too.
TEST_F(OpsTest, HelpListsGroupsDefaultsAndExitCodes) {
  RunResult h = RunProgram({ServerBinary(), "--help"}, Scaled(5000));
  ASSERT_EQ(h.exit_code(), 0) << h.err;
  EXPECT_EQ(h.err, "");
  const std::string& out = h.out;
  for (const char* group :
       {"\nNetwork:\n", "\nPool:\n", "\nOverload:\n", "\nLogging:\n", "\nObservability:\n",
        "\nGeneral:\n"})
    EXPECT_NE(out.find(group), std::string::npos) << group << out;
  // Each option's entry: its head ("-p, --port N" or "    --bind ADDR"),
  // then its text two spaces or more to the right or on the lines below,
  // indented under it.
  std::map<std::string, std::string> entry;
  std::string current;
  for (const std::string& l : Lines(out)) {
    // "  -p, --port N" or "      --bind ADDR", then the text or nothing.
    const bool head = (l.size() > 8 && l.compare(0, 2, "  ") == 0 && l[2] == '-' &&
                       std::isalpha(static_cast<unsigned char>(l[3])) &&
                       l.compare(4, 4, ", --") == 0) ||
                      l.rfind("      --", 0) == 0;
    if (head) {
      const size_t name_at = l.find("--") + 2, name_end = l.find(' ', name_at);
      current = l.substr(name_at, name_end - name_at);
      std::string rest = name_end == std::string::npos ? "" : l.substr(name_end);
      // An argument word, then two spaces or more before the text.
      if (rest.size() > 1 && rest[1] != ' ') {
        const size_t arg_end = rest.find(' ', 1);
        rest = arg_end == std::string::npos ? "" : rest.substr(arg_end);
      }
      const size_t text_at = rest.find_first_not_of(' ');
      if (text_at != std::string::npos && text_at < 2) {
        ADD_FAILURE() << "one space between --" << current << " and its text: " << l;
        rest.clear();
      }
      entry[current] = text_at == std::string::npos ? "" : rest.substr(text_at);
    } else if (!current.empty() && l.rfind("                            ", 0) == 0) {
      entry[current] += " " + l.substr(28);
    } else {
      current.clear();
    }
  }
  const std::map<std::string, std::string> defaults = {
      {"port", "9090"}, {"bind", "127.0.0.1"}, {"reuseport", "off"},
      {"max-connections", "10000"}, {"idle-timeout-s", "0"}, {"tcp-keepalive-s", "300"},
      {"resp-inline", "off"}, {"port-file", "none"}, {"workers", "4"}, {"min-workers", "4"},
      {"max-workers", "4"}, {"idle-ms", "2000"}, {"queue-capacity", "256"},
      {"task-timeout-ms", "0"}, {"on-full", "reject"}, {"queue-timeout-ms", "0"},
      {"lane", "none"}, {"max-inflight", "64"}, {"max-line", "65536"},
      {"shutdown-grace-ms", "1000"}, {"log-level", "info"}, {"log-format", "text"},
      {"log-file", "stderr"}, {"metrics-port", "off"}};
  for (const auto& d : defaults) {
    SCOPED_TRACE("--" + d.first);
    ASSERT_TRUE(entry.count(d.first)) << out;
    std::string text = Squeeze(entry[d.first]);
    EXPECT_NE(text.find("[default: " + d.second + "]"), std::string::npos) << text;
  }
  for (const auto& e : entry) {  // nothing listed without a default
    if (e.first == "help" || e.first == "version") continue;
    EXPECT_TRUE(defaults.count(e.first)) << "--" << e.first << " is new: add it here";
  }
  EXPECT_TRUE(entry.count("help") && entry.count("version"));
  for (const char* sig : {"TERM", "INT", "HUP", "USR1", "USR2", "PIPE"})
    EXPECT_NE(out.find(sig), std::string::npos) << sig;
  std::string flat = Squeeze(out);
  EXPECT_NE(flat.find("Exit status: 0 after a clean shutdown, 1 if start-up failed"),
            std::string::npos)
      << out;
  EXPECT_NE(flat.find("2 for a bad command line"), std::string::npos) << out;

  // The version, three ways, the same; INFO reports the same one.
  RunResult v = RunProgram({ServerBinary(), "--version"}, Scaled(5000));
  ASSERT_EQ(v.exit_code(), 0);
  ASSERT_TRUE(v.out.rfind("pool_server ", 0) == 0 && v.out.back() == '\n' &&
              IsVersion(v.out.substr(12, v.out.size() - 13)))
      << v.out;
  for (const char* flag : {"-V", "-v"}) {
    RunResult o = RunProgram({ServerBinary(), flag}, Scaled(5000));
    EXPECT_EQ(o.exit_code(), 0) << flag;
    EXPECT_EQ(o.out, v.out) << flag;
  }
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  std::vector<std::string> bad;
  InfoSections info = ParseTextInfo(c.Call("INFO server", Scaled(3000)), &bad);
  EXPECT_EQ("pool_server " + info["Server"]["pool_server_version"] + "\n", v.out);
  // The defaults --help names are the ones the server runs with.
  info = ParseTextInfo(c.Call("INFO", Scaled(3000)), &bad);
  EXPECT_EQ(info["Clients"]["maxclients"], defaults.at("max-connections"));
  EXPECT_EQ(info["Pool"]["workers"], defaults.at("workers"));
  EXPECT_EQ(info["Pool"]["queue_capacity"], defaults.at("queue-capacity"));
  EXPECT_EQ(info["Pool"]["on_full"], defaults.at("on-full"));
}

// --max-connections 1: a second client is told "too many connections" and
// closed; INFO counts it; the log says so, at most about once a second.
TEST_F(OpsTest, MaxConnectionsRejectsCountsAndLogs) {
  ServerProcess* s = StartServer({"--workers", "2", "--max-connections", "1"});
  ASSERT_NE(s, nullptr);
  Client first = Connect(*s);
  ASSERT_EQ(first.Call("PING", Scaled(3000)), "result: PONG");  // accepted: holds the slot
  const int64_t t0 = NowMs();
  const int extra = 5;
  for (int i = 0; i < extra; i++) {
    SCOPED_TRACE(i);
    Client c = Connect(*s);
    EXPECT_EQ(c.ReadLine(Scaled(3000)).value_or("<none>"), "ERROR: too many connections");
    EXPECT_TRUE(c.WaitEof(Scaled(3000)));
  }
  const int64_t elapsed_s = (NowMs() - t0) / 1000;
  std::vector<std::string> bad;
  InfoSections info = ParseTextInfo(first.Call("INFO stats", Scaled(3000)), &bad);
  EXPECT_EQ(info["Stats"]["rejected_connections"], std::to_string(extra));
  ASSERT_TRUE(s->WaitForLog("connection rejected: too many connections", Scaled(3000)))
      << s->Log();
  const size_t records = Count(s->Log(), "connection rejected");
  EXPECT_GE(records, 1u);
  EXPECT_LE(records, static_cast<size_t>(1 + elapsed_s)) << "not rate-limited:\n" << s->Log();
  EXPECT_NE(s->Log().find(" warn "), std::string::npos) << "logged below warn";
  // The first client is served on, and once it leaves a newcomer gets in.
  EXPECT_EQ(first.Call("PING", Scaled(3000)), "result: PONG");
  first.Close();
  EXPECT_TRUE(PollUntil(
      [&] {
        Client c;
        return c.Connect(s->port()) == 0 && c.Call("PING", Scaled(3000)) == "result: PONG";
      },
      Scaled(5000)));
}

}  // namespace
}  // namespace it
