// Operating the server, black-box (issue 13), part 3: systemd's readiness
// protocol (NOTIFY_SOCKET), the idle timeout, --help and --version, the
// connection limit. Each test fails when the behaviour it names is missing.
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
#include "tests/server_it/ops_util.h"

namespace it {
namespace {

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
