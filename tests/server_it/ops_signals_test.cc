// Operating the server, black-box (issue 13), part 1: signals (HUP, USR1,
// USR2, PIPE), --log-file and its reopening, json logs. Each test fails
// when the behaviour it names is missing.
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
#include "tests/server_it/ops_util.h"

namespace it {
namespace {

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

}  // namespace
}  // namespace it
