// Tests for server/protocol (framing, reply formatting) and, through it,
// server/command's checks of every command's arguments: a request is
// parsed, then looked up, as the session does.
//
// Every parse runs on a malloc'd copy of exactly the input's length, so a
// read past len is a heap overflow that the asan config reports.
#include "server/protocol.h"

#include "server/command.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testlib/testenv.h"

namespace {

const size_t kMaxLine = 1024;


// A heap copy of exactly s.size() bytes (nothing after it to read).
class ExactBuf {
 public:
  explicit ExactBuf(const std::string& s)
      : p_(static_cast<char*>(std::malloc(s.size() ? s.size() : 1))), n_(s.size()) {
    if (p_ == nullptr) std::abort();
    if (n_ > 0) std::memcpy(p_, s.data(), n_);
  }
  ~ExactBuf() { std::free(p_); }
  ExactBuf(const ExactBuf&) = delete;
  ExactBuf& operator=(const ExactBuf&) = delete;
  const char* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  char* p_;
  size_t n_;
};

// One parse, with the request's pointers turned into plain values so the
// result can outlive the buffer and be compared.
// The commands, as these tests name them (the registry has no enum).
enum pr_cmd {
  PR_INVALID = 0, PR_PING, PR_ECHO, PR_HASH, PR_PRIMES, PR_SLEEP, PR_STATS,
  PR_QUIT, PR_COMMAND, PR_CONFIG, PR_HELLO, PR_CLIENT,
};

pr_cmd CmdOf(const cmd_def* d) {
  static const char* const names[] = {"", "ping", "echo", "hash", "primes", "sleep",
                                      "stats", "quit", "command", "config", "hello", "client"};
  for (int i = 1; i < 12; i++)
    if (d && std::strcmp(d->name, names[i]) == 0) return static_cast<pr_cmd>(i);
  return PR_INVALID;
}

struct Parsed {
  long rc = 0;
  pr_cmd cmd = PR_INVALID;
  int resp = 0;
  bool has_arg = false;
  size_t arg_off = 0;  // offset of arg in the buffer
  std::string arg;
  uint64_t n = 0;
  std::string error;

  bool operator==(const Parsed& o) const {
    return rc == o.rc && cmd == o.cmd && resp == o.resp && has_arg == o.has_arg &&
           arg_off == o.arg_off && arg == o.arg && n == o.n && error == o.error;
  }
};

std::ostream& operator<<(std::ostream& os, const Parsed& p) {
  return os << "{rc=" << p.rc << " cmd=" << p.cmd << " resp=" << p.resp
            << " arg=" << (p.has_arg ? "'" + p.arg + "'" : "none") << " n=" << p.n
            << " error='" << p.error << "'}";
}

// A parse result as plain values: the framing's, then the registry's view
// of the command (what the old single-step parser returned).
Parsed FromRequest(long rc, const pr_request& req, const char* base) {
  Parsed p;
  p.rc = rc;
  p.resp = req.resp;
  // The framing error is a NUL-terminated, printable, single line.
  size_t elen = strnlen(req.error, sizeof req.error);
  EXPECT_LT(elen, sizeof req.error);
  for (size_t i = 0; i < elen; i++) {
    EXPECT_TRUE(req.error[i] >= 0x20 && req.error[i] < 0x7f) << "byte " << i;
  }
  p.error.assign(req.error, elen);
  if (rc <= 0) return p;
  const cmd_def* def = nullptr;
  cmd_args a;
  char err[CMD_ERR_SIZE];
  if (cmd_lookup(&req, &def, &a, err, sizeof err) < 0) {
    p.error = err;
    EXPECT_FALSE(p.error.empty());
    for (char c : p.error) EXPECT_TRUE(c >= 0x20 && c < 0x7f);
    return p;
  }
  p.cmd = CmdOf(def);
  if (p.cmd == PR_PRIMES || p.cmd == PR_SLEEP) {
    EXPECT_EQ(0, cmd_arg_u64(&a, 0, UINT64_MAX, &p.n));
  }
  if (a.n > 0) {
    // arg points into the request's own bytes.
    EXPECT_GE(a.v[0].p, base);
    EXPECT_LE(a.v[0].p + a.v[0].len, base + rc);
    p.has_arg = true;
    p.arg_off = static_cast<size_t>(a.v[0].p - base);
    p.arg.assign(a.v[0].p, a.v[0].len);
  }
  return p;
}

Parsed Parse(const std::string& s, size_t max_line = kMaxLine) {
  ExactBuf buf(s);
  pr_request req;
  std::memset(&req, 0x5a, sizeof req);  // pr_parse must set every field
  long rc = pr_parse(buf.data(), buf.size(), max_line, nullptr, &req);
  if (rc > 0) {
    EXPECT_LE(static_cast<size_t>(rc), s.size());
  }
  return FromRequest(rc, req, buf.data());
}

std::string Bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

std::string Resp(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += Bulk(a);
  return out;
}

// --- text ------------------------------------------------------------------

TEST(ProtocolText, EveryCommand) {
  Parsed p = Parse("PING\n");
  EXPECT_EQ(p.rc, 5);
  EXPECT_EQ(p.cmd, PR_PING);
  EXPECT_EQ(p.resp, 0);
  EXPECT_FALSE(p.has_arg);

  p = Parse("ECHO hello world\n");
  EXPECT_EQ(p.rc, 17);
  EXPECT_EQ(p.cmd, PR_ECHO);
  EXPECT_EQ(p.arg, "hello world");
  EXPECT_EQ(p.arg_off, 5u);

  p = Parse("HASH good data\n");
  EXPECT_EQ(p.cmd, PR_HASH);
  EXPECT_EQ(p.arg, "good data");

  p = Parse("PRIMES 100\n");
  EXPECT_EQ(p.cmd, PR_PRIMES);
  EXPECT_EQ(p.n, 100u);

  p = Parse("SLEEP 250\n");
  EXPECT_EQ(p.cmd, PR_SLEEP);
  EXPECT_EQ(p.n, 250u);

  EXPECT_EQ(Parse("STATS\n").cmd, PR_STATS);
  EXPECT_EQ(Parse("QUIT\n").cmd, PR_QUIT);
  EXPECT_EQ(Parse("COMMAND\n").cmd, PR_COMMAND);

  p = Parse("COMMAND DOCS\n");
  EXPECT_EQ(p.cmd, PR_COMMAND);
  EXPECT_EQ(p.arg, "DOCS");

  p = Parse("CONFIG GET save\n");
  EXPECT_EQ(p.cmd, PR_CONFIG);
  EXPECT_EQ(p.arg, "GET save");

  EXPECT_EQ(Parse("HELLO 3\n").cmd, PR_HELLO);
  p = Parse("CLIENT SETNAME x\n");
  EXPECT_EQ(p.cmd, PR_CLIENT);
  EXPECT_EQ(p.arg, "SETNAME x");
}

TEST(ProtocolText, CaseInsensitive) {
  EXPECT_EQ(Parse("ping\n").cmd, PR_PING);
  EXPECT_EQ(Parse("PiNg\n").cmd, PR_PING);
  EXPECT_EQ(Parse("echo X\n").cmd, PR_ECHO);
  EXPECT_EQ(Parse("echo X\n").arg, "X");  // the argument keeps its case
  EXPECT_EQ(Parse("hAsH x\n").cmd, PR_HASH);
  EXPECT_EQ(Parse("primes 7\n").cmd, PR_PRIMES);
  EXPECT_EQ(Parse("Sleep 7\n").cmd, PR_SLEEP);
  EXPECT_EQ(Parse("stats\n").cmd, PR_STATS);
  EXPECT_EQ(Parse("quit\n").cmd, PR_QUIT);
}

TEST(ProtocolText, CarriageReturn) {
  Parsed p = Parse("PING\r\n");
  EXPECT_EQ(p.rc, 6);
  EXPECT_EQ(p.cmd, PR_PING);

  p = Parse("ECHO a\r\n");
  EXPECT_EQ(p.arg, "a");
  // Only one \r before the \n is framing; others are data.
  p = Parse("HASH a\r\r\n");
  EXPECT_EQ(p.rc, 9);
  EXPECT_EQ(p.arg, "a\r");
  p = Parse("HASH a\rb\n");
  EXPECT_EQ(p.arg, "a\rb");
}

// Defect: a text ECHO of a \r was answered with a raw \r inside the reply
// line. A text reply is one line, so such an ECHO is invalid input there;
// RESP bulk strings carry any byte.
TEST(ProtocolText, EchoCannotReturnCarriageReturnInText) {
  for (const char* s : {"ECHO a\rb\n", "ECHO a\r\r\n", "ECHO \r\r\n"}) {
    Parsed p = Parse(s);
    EXPECT_EQ(p.rc, static_cast<long>(std::strlen(s))) << s;
    EXPECT_EQ(p.cmd, PR_INVALID) << s;
    EXPECT_EQ(p.error, "ECHO text cannot contain \\r (RESP can)") << s;
  }
  Parsed p = Parse(Resp({"ECHO", "a\rb"}));
  EXPECT_EQ(p.cmd, PR_ECHO);
  EXPECT_EQ(p.arg, "a\rb");
}

TEST(ProtocolText, EmptyLine) {
  for (const char* s : {"\n", "\r\n"}) {
    Parsed p = Parse(s);
    EXPECT_EQ(p.rc, static_cast<long>(std::strlen(s)));
    EXPECT_EQ(p.cmd, PR_INVALID);
    EXPECT_EQ(p.error, "empty line");
  }
}

TEST(ProtocolText, ArgumentIsRestOfLineAfterOneSpace) {
  EXPECT_EQ(Parse("ECHO  a\n").arg, " a");
  EXPECT_EQ(Parse("ECHO a  b \n").arg, "a  b ");

  Parsed p = Parse("ECHO \n");  // empty text
  EXPECT_EQ(p.cmd, PR_ECHO);
  EXPECT_TRUE(p.has_arg);
  EXPECT_EQ(p.arg, "");

  p = Parse("HASH \n");  // hashes ""
  EXPECT_EQ(p.cmd, PR_HASH);
  EXPECT_EQ(p.arg, "");

  p = Parse("ECHO\n");
  EXPECT_EQ(p.cmd, PR_INVALID);
  EXPECT_EQ(p.error, "ECHO needs an argument");
  p = Parse("hash\n");
  EXPECT_EQ(p.cmd, PR_INVALID);
  EXPECT_EQ(p.error, "HASH needs an argument");
}

TEST(ProtocolText, NoArgumentCommands) {
  Parsed p = Parse("PING extra\n");
  EXPECT_EQ(p.cmd, PR_INVALID);
  EXPECT_EQ(p.error, "PING takes no argument");
  p = Parse("PING \n");  // an empty argument is still one
  EXPECT_EQ(p.error, "PING takes no argument");
  p = Parse("STATS x\n");
  EXPECT_EQ(p.error, "STATS takes no argument");
}

TEST(ProtocolText, UnknownCommandIsQuotedSafely) {
  Parsed p = Parse("bad\n");
  EXPECT_EQ(p.rc, 4);
  EXPECT_EQ(p.cmd, PR_INVALID);
  EXPECT_EQ(p.error, "unknown command 'bad'");

  EXPECT_EQ(Parse("bad args here\n").error, "unknown command 'bad'");
  EXPECT_EQ(Parse(" PING\n").error, "unknown command ''");
  EXPECT_EQ(Parse("PING\t\n").error, "unknown command 'PING\\x09'");
  EXPECT_EQ(Parse(std::string("a\0b\x01\xff'\\\x7f\n", 9)).error,
            "unknown command 'a\\x00b\\x01\\xff\\x27\\x5c\\x7f'");

  // At most 32 bytes are quoted, then "...".
  p = Parse(std::string(100, 'z') + "\n");
  EXPECT_EQ(p.error, "unknown command '" + std::string(32, 'z') + "'...");
  // The worst case (every byte escaped) still fits in error[].
  p = Parse(std::string(100, '\x01') + "\n");
  std::string want = "unknown command '";
  for (int i = 0; i < 32; i++) want += "\\x01";
  EXPECT_EQ(p.error, want + "'...");
}

TEST(ProtocolText, Numbers) {
  struct Case {
    const char* arg;
    bool ok;
    uint64_t n;
  } cases[] = {
      {"0", true, 0},
      {"1", true, 1},
      {"2147483647", true, 2147483647u},
      {"000000000000000000000000010", true, 10},  // leading zeros are fine
      {"002147483647", true, 2147483647u},
      {"2147483648", false, 0},
      {"4294967296", false, 0},
      {"99999999999999999999", false, 0},  // 20 digits: would overflow u64
      {"18446744073709551617", false, 0},
      {"-1", false, 0},
      {"+1", false, 0},
      {"1e3", false, 0},
      {"0x10", false, 0},
      {"", false, 0},
      {" 1", false, 0},
      {"1 ", false, 0},
      {"1.0", false, 0},
      {"abc", false, 0},
      {"12a", false, 0},
  };
  for (const Case& c : cases) {
    Parsed p = Parse(std::string("PRIMES ") + c.arg + "\n");
    if (c.ok) {
      EXPECT_EQ(p.cmd, PR_PRIMES) << c.arg;
      EXPECT_EQ(p.n, c.n) << c.arg;
    } else {
      EXPECT_EQ(p.cmd, PR_INVALID) << c.arg;
      EXPECT_EQ(p.error, "PRIMES needs an integer 0..2147483647") << c.arg;
      EXPECT_FALSE(p.has_arg);
    }
  }
  Parsed p = Parse("PRIMES\n");
  EXPECT_EQ(p.cmd, PR_INVALID);
  EXPECT_EQ(p.error, "PRIMES needs an integer 0..2147483647");

  EXPECT_EQ(Parse("SLEEP 0\n").n, 0u);
  EXPECT_EQ(Parse("SLEEP 60000\n").n, 60000u);
  for (const char* bad : {"SLEEP 60001\n", "SLEEP 70000\n", "SLEEP\n", "SLEEP -5\n",
                          "SLEEP 1s\n"}) {
    p = Parse(bad);
    EXPECT_EQ(p.cmd, PR_INVALID) << bad;
    EXPECT_EQ(p.error, "SLEEP needs milliseconds 0..60000") << bad;
  }
}

TEST(ProtocolText, BinaryBytesAreData) {
  std::string data("a\0b\xff\x01\r z", 8);
  Parsed p = Parse("ECHO " + data.substr(0, 5) + "\r\n");  // all but the \r
  EXPECT_EQ(p.cmd, PR_ECHO);
  EXPECT_EQ(p.arg, data.substr(0, 5));
  p = Parse("HASH " + data + "\n");
  EXPECT_EQ(p.cmd, PR_HASH);
  EXPECT_EQ(p.arg, data);
}

TEST(ProtocolText, IncompleteLineNeedsMore) {
  // EOF mid-line: nothing to parse yet.
  EXPECT_EQ(Parse("").rc, 0);
  EXPECT_EQ(Parse("PING").rc, 0);
  EXPECT_EQ(Parse("PING\r").rc, 0);
  EXPECT_EQ(Parse("ECHO abc").rc, 0);
}

TEST(ProtocolText, SeveralRequestsInOneBuffer) {
  std::string all = "PING\nECHO a\r\n\nPRIMES 10\nbad\nHASH x";
  std::vector<pr_cmd> want = {PR_PING, PR_ECHO, PR_INVALID, PR_PRIMES, PR_INVALID};
  size_t off = 0;
  for (pr_cmd c : want) {
    Parsed p = Parse(all.substr(off));
    ASSERT_GT(p.rc, 0);
    EXPECT_EQ(p.cmd, c) << "at offset " << off;
    off += static_cast<size_t>(p.rc);
  }
  EXPECT_EQ(Parse(all.substr(off)).rc, 0);  // "HASH x" awaits its newline
}

TEST(ProtocolText, LongLines) {
  const size_t max = 8;
  EXPECT_EQ(Parse("ECHO 123\n", max).cmd, PR_ECHO);    // exactly max_line
  EXPECT_EQ(Parse("ECHO 123\r\n", max).cmd, PR_ECHO);  // \r\n is not counted
  EXPECT_EQ(Parse("ECHO 123", max).rc, 0);
  EXPECT_EQ(Parse("ECHO 123\r", max).rc, 0);  // may still be "\r\n"
  EXPECT_EQ(Parse("ECHO 1234\n", max).rc, -E2BIG);
  EXPECT_EQ(Parse("ECHO 1234\r\n", max).rc, -E2BIG);
  EXPECT_EQ(Parse("ECHO 123\rx", max).rc, -E2BIG);
  // As soon as more than max_line bytes are buffered without a newline.
  EXPECT_EQ(Parse("ECHO 1234", max).rc, -E2BIG);
  for (size_t n = max + 1; n < 100; n++) {
    EXPECT_EQ(Parse(std::string(n, 'x'), max).rc, -E2BIG) << n;
    EXPECT_EQ(Parse(std::string(n, 'x') + "\n", max).rc, -E2BIG) << n;
  }
  // The check looks at the first request only.
  EXPECT_EQ(Parse("PING\n" + std::string(100, 'x'), max).rc, 5);
  // max_line 0: only empty lines fit.
  EXPECT_EQ(Parse("\r\n", 0).error, "empty line");
  EXPECT_EQ(Parse("P", 0).rc, -E2BIG);
  // A huge max_line must not overflow anything.
  EXPECT_EQ(Parse("PING\n", SIZE_MAX).cmd, PR_PING);
  EXPECT_EQ(Parse("PING", SIZE_MAX).rc, 0);
  EXPECT_EQ(Parse(Resp({"PING"}), SIZE_MAX).cmd, PR_PING);
  EXPECT_EQ(Parse("*1\r\n$4\r\nPIN", SIZE_MAX).rc, 0);
  EXPECT_EQ(Parse("*1\r\n$18446744073709551615", SIZE_MAX).rc, 0);
  EXPECT_EQ(Parse("*1\r\n$18446744073709551616", SIZE_MAX).rc, -E2BIG);
  EXPECT_EQ(Parse("*1\r\n$99999999999999999999999\r\n", SIZE_MAX).rc, -E2BIG);
}

// --- RESP ------------------------------------------------------------------

TEST(ProtocolResp, ValidFrames) {
  std::string f = Resp({"PING"});
  Parsed p = Parse(f);
  EXPECT_EQ(p.rc, static_cast<long>(f.size()));
  EXPECT_EQ(p.cmd, PR_PING);
  EXPECT_EQ(p.resp, 1);

  f = Resp({"echo", "hello"});
  p = Parse(f);
  EXPECT_EQ(p.rc, static_cast<long>(f.size()));
  EXPECT_EQ(p.cmd, PR_ECHO);
  EXPECT_EQ(p.arg, "hello");
  EXPECT_EQ(p.arg_off, f.find("hello"));  // points into the buffer

  std::string bin("\r\n\0*$\xff", 6);  // bulk data is binary-safe
  p = Parse(Resp({"HASH", bin}));
  EXPECT_EQ(p.cmd, PR_HASH);
  EXPECT_EQ(p.arg, bin);

  p = Parse(Resp({"ECHO", ""}));
  EXPECT_EQ(p.cmd, PR_ECHO);
  EXPECT_TRUE(p.has_arg);
  EXPECT_EQ(p.arg, "");

  p = Parse(Resp({"PRIMES", "2147483647"}));
  EXPECT_EQ(p.cmd, PR_PRIMES);
  EXPECT_EQ(p.n, 2147483647u);
  p = Parse(Resp({"SLEEP", "10"}));
  EXPECT_EQ(p.cmd, PR_SLEEP);
  EXPECT_EQ(p.n, 10u);
  EXPECT_EQ(Parse(Resp({"STATS"})).cmd, PR_STATS);
  EXPECT_EQ(Parse(Resp({"QUIT"})).cmd, PR_QUIT);
  EXPECT_EQ(Parse(Resp({"COMMAND"})).cmd, PR_COMMAND);
  p = Parse(Resp({"COMMAND", "DOCS"}));
  EXPECT_EQ(p.cmd, PR_COMMAND);
  EXPECT_EQ(p.arg, "DOCS");
  p = Parse(Resp({"config", "get", "save"}));
  EXPECT_EQ(p.cmd, PR_CONFIG);
  EXPECT_EQ(p.arg, "get");
  EXPECT_EQ(Parse(Resp({"HELLO", "3"})).cmd, PR_HELLO);
  p = Parse(Resp({"CLIENT", "SETNAME", "x"}));
  EXPECT_EQ(p.cmd, PR_CLIENT);
  EXPECT_EQ(p.arg, "SETNAME");
}

TEST(ProtocolResp, InvalidButWellFormed) {
  Parsed p = Parse(Resp({"HASH"}));
  EXPECT_GT(p.rc, 0);
  EXPECT_EQ(p.cmd, PR_INVALID);
  EXPECT_EQ(p.resp, 1);
  EXPECT_EQ(p.error, "wrong number of arguments for 'hash'");
  EXPECT_EQ(Parse(Resp({"ECHO", "a", "b"})).error,
            "wrong number of arguments for 'echo'");
  EXPECT_EQ(Parse(Resp({"PING", "x"})).error, "wrong number of arguments for 'ping'");
  EXPECT_EQ(Parse(Resp({"STATS", "x"})).error,
            "wrong number of arguments for 'stats'");
  EXPECT_EQ(Parse(Resp({"primes"})).error, "wrong number of arguments for 'primes'");
  EXPECT_EQ(Parse(Resp({"SLEEP", "1", "2"})).error,
            "wrong number of arguments for 'sleep'");
  EXPECT_EQ(Parse(Resp({"PRIMES", "-1"})).error, "PRIMES needs an integer 0..2147483647");
  EXPECT_EQ(Parse(Resp({"PRIMES", "2147483648"})).error,
            "PRIMES needs an integer 0..2147483647");
  EXPECT_EQ(Parse(Resp({"SLEEP", "60001"})).error, "SLEEP needs milliseconds 0..60000");
  EXPECT_EQ(Parse(Resp({"foo", "bar"})).error, "unknown command 'foo'");
  EXPECT_EQ(Parse(Resp({""})).error, "unknown command ''");
  EXPECT_EQ(Parse(Resp({"a\r\nb"})).error, "unknown command 'a\\x0d\\x0ab'");
}

TEST(ProtocolResp, Malformed) {
  const char* bad[] = {
      "*x\r\n",       "*-1\r\n",      "*0\r\n",       "*\r\n",          "*1025\r\n",
      "*99999999999999999999\r\n",    "*1\n",         "*1\rx",          "*01\r\n",
      "*1 \r\n",      "*+1\r\n",      "*1\r\n+PING\r\n",  "*1\r\n:1\r\n",  "*1\r\nPING\r\n",
      "*1\r\n$-1\r\n", "*1\r\n$x\r\n", "*1\r\n$\r\n",  "*1\r\n$04\r\nPING\r\n",
      "*1\r\n$4\r\nPINGxx",           "*1\r\n$4\r\nPING\rx",  "*1\r\n$4\r\nPING\n\r",
      "*1\r\n$4\nPING\r\n",           "*2\r\n$4\r\nECHO\r\n*1\r\n",
  };
  for (const char* s : bad) {
    Parsed p = Parse(s);
    EXPECT_EQ(p.rc, -EPROTO) << s;
    EXPECT_EQ(p.resp, 1) << s;
    EXPECT_FALSE(p.error.empty()) << s;
  }
  EXPECT_EQ(Parse("*0\r\n").error, "invalid multibulk length (zero)");
  EXPECT_EQ(Parse("*1025\r\n").error, "invalid multibulk length (too large)");
  EXPECT_EQ(Parse("*-1\r\n").error, "invalid multibulk length (not a number)");
  EXPECT_EQ(Parse("*1\r\n+PING\r\n").error, "expected '$', got '+'");
  EXPECT_EQ(Parse("*1\r\n\x01").error, "expected '$', got '\\x01'");
  EXPECT_EQ(Parse("*1\r\n$4\r\nPINGxx").error, "expected \\r\\n after bulk data");
}

TEST(ProtocolResp, LargeCountsAndLengthsDoNotAllocateOrWait) {
  // Nothing allocates (pr_parse has no way to): a big count just needs
  // more bytes, a big length is refused at once.
  EXPECT_EQ(Parse("*1024\r\n").rc, 0);
  EXPECT_EQ(Parse("*1024\r\n$1\r\nx\r\n").rc, 0);
  const size_t max = 16;
  EXPECT_EQ(Parse("*1\r\n$16\r\n", max).rc, 0);
  EXPECT_EQ(Parse("*1\r\n$17\r\n", max).rc, -E2BIG);  // bulk > max_line
  EXPECT_EQ(Parse("*1\r\n$17", max).rc, -E2BIG);      // known from the digits
  EXPECT_EQ(Parse("*1\r\n$99999999999999999999999", max).rc, -E2BIG);
  EXPECT_EQ(Parse(Resp({"ECHO", std::string(16, 'x')}), max).cmd, PR_ECHO);
  EXPECT_EQ(Parse(Resp({"ECHO", std::string(17, 'x')}), max).rc, -E2BIG);

  // Many small elements: the frame is capped at max_line + PR_FRAME_SLACK.
  std::string many = "*1024\r\n";
  while (many.size() < max + PR_FRAME_SLACK + 100) many += Bulk("x");
  for (size_t n = 1; n <= many.size(); n++) {
    long rc = Parse(many.substr(0, n), max).rc;
    if (n < max + PR_FRAME_SLACK) {
      EXPECT_TRUE(rc == 0 || rc == -E2BIG) << n;
    } else {
      EXPECT_EQ(rc, -E2BIG) << n;
    }
  }
}

TEST(ProtocolResp, InlineRequestsAreText) {
  Parsed p = Parse("PING\r\n");
  EXPECT_EQ(p.cmd, PR_PING);
  EXPECT_EQ(p.resp, 0);
}

TEST(ProtocolResp, SeveralFramesInOneBuffer) {
  std::string all = Resp({"PING"}) + "ECHO t\r\n" + Resp({"ECHO", "r"}) + "*2\r\n$4";
  size_t off = 0;
  Parsed p = Parse(all);
  EXPECT_EQ(p.cmd, PR_PING);
  off += static_cast<size_t>(p.rc);
  p = Parse(all.substr(off));
  EXPECT_EQ(p.arg, "t");
  EXPECT_EQ(p.resp, 0);
  off += static_cast<size_t>(p.rc);
  p = Parse(all.substr(off));
  EXPECT_EQ(p.arg, "r");
  EXPECT_EQ(p.resp, 1);
  off += static_cast<size_t>(p.rc);
  EXPECT_EQ(Parse(all.substr(off)).rc, 0);
}

// --- splitting and fuzzing -------------------------------------------------

// pr_parse of buf[0..n) with a cursor carried from the calls before.
long ParseWithCursor(const std::string& s, size_t n, size_t max_line, pr_cursor* cur,
                     pr_request* req) {
  ExactBuf buf(s.substr(0, n));
  return pr_parse(buf.data(), n, max_line, cur, req);
}

// All prefixes of s: 0 until the first request is complete (or a fatal
// error shows), then the same answer for every longer prefix. A cursor
// carried across the growing prefixes gives the same answers.
void CheckPrefixes(const std::string& s, size_t max_line) {
  Parsed full = Parse(s, max_line);
  bool settled = false;
  pr_cursor cur = {};
  for (size_t n = 0; n <= s.size(); n++) {
    Parsed p = Parse(s.substr(0, n), max_line);
    if (!settled) {
      ExactBuf buf(s.substr(0, n));
      pr_request req;
      long rc = pr_parse(buf.data(), n, max_line, &cur, &req);
      ASSERT_EQ(rc, p.rc) << "with a cursor, prefix " << n << " of " << s.size();
      if (rc != 0) {
        ASSERT_EQ(FromRequest(rc, req, buf.data()), p);
      }
    }
    if (!settled && p.rc == 0) continue;
    settled = true;
    ASSERT_EQ(p, full) << "prefix " << n << " of " << s.size();
  }
  // Never waiting with a full buffer.
  if (s.size() >= max_line + PR_FRAME_SLACK) {
    EXPECT_NE(full.rc, 0);
  }
}

TEST(ProtocolSplit, EveryByteBoundary) {
  const std::vector<std::string> requests = {
      "PING\n",
      "PING\r\n",
      "ECHO hello there\r\n",
      std::string("HASH a\0b\n", 9),
      "PRIMES 2147483647\n",
      "bad stuff\n",
      "\r\n",
      Resp({"PING"}),
      Resp({"ECHO", "hello\r\nthere"}),
      Resp({"HASH", std::string("\0\r\n", 3)}),
      Resp({"PRIMES", "100"}),
      Resp({"CLIENT", "SETNAME", "redis-cli"}),
      Resp({"HASH"}),
  };
  for (const std::string& r : requests) {
    SCOPED_TRACE(r);
    Parsed full = Parse(r);
    ASSERT_EQ(full.rc, static_cast<long>(r.size()));
    for (size_t n = 0; n < r.size(); n++) {
      ASSERT_EQ(Parse(r.substr(0, n)).rc, 0) << "prefix " << n;
    }
    // The same with whatever follows (the next request's first bytes).
    ASSERT_EQ(Parse(r + "PI"), full);
    ASSERT_EQ(Parse(r + "*1\r\n"), full);
    CheckPrefixes(r + r, kMaxLine);
  }
}

// Defect: an input cut inside a RESP header at exactly max_line +
// PR_FRAME_SLACK bytes was "incomplete" (0), breaking the promise that a
// buffer that big never waits for more.
TEST(ProtocolResp, CutInsideAHeaderAtTheFrameLimitIsTooLong) {
  const size_t max_line = 10, limit = max_line + PR_FRAME_SLACK;  // 138
  // 7 + 16 * 8 = 135: the 17th element's header "$2\r\n" straddles 138.
  std::string s = "*1000\r\n";
  while (s.size() < limit) s += "$2\r\nxy\r\n";
  ASSERT_EQ(s.substr(limit - 3, 4), "$2\r\n");
  EXPECT_EQ(Parse(s.substr(0, limit - 1), max_line).rc, 0);  // may yet fit, as far as it knows
  EXPECT_EQ(Parse(s.substr(0, limit), max_line).rc, -E2BIG);
  EXPECT_EQ(Parse(s.substr(0, limit + 1), max_line).rc, -E2BIG);
}

// Defect: an incomplete text line was scanned from its start on every
// read. With a cursor, each call scans only the bytes that are new.
TEST(ProtocolText, CursorScansOnlyNewBytes) {
  const size_t n = 1u << 20;
  std::string line = "HASH " + std::string(n, 'q');
  pr_cursor cur = {};
  pr_request req;
  for (size_t len = 1000; len < line.size(); len += 1000) {
    ASSERT_EQ(ParseWithCursor(line, len, 2 * n, &cur, &req), 0);
    ASSERT_EQ(cur.scanned, len);  // next call starts here
  }
  line += "\n";
  ASSERT_EQ(ParseWithCursor(line, line.size(), 2 * n, &cur, &req),
            static_cast<long>(line.size()));
  EXPECT_EQ(req.cmd.len, 4u);  // "HASH" (the buffer is gone: lengths only)
  EXPECT_EQ(req.arg[0].len, n);
  EXPECT_EQ(cur.scanned, 0u) << "a complete request resets the cursor";
}

// The RESP cursor resumes after whole elements, also across many reads.
TEST(ProtocolResp, CursorResumesAfterWholeElements) {
  std::string s = Resp({"ECHO", std::string(5000, 'e')});
  pr_cursor cur = {};
  pr_request req;
  for (size_t len = 1; len < s.size(); len += 7) {
    ASSERT_EQ(ParseWithCursor(s, len, 10000, &cur, &req), 0) << len;
  }
  EXPECT_EQ(cur.count, 2u);
  EXPECT_EQ(cur.k, 1u) << "the command word is checked once, not again";
  ASSERT_EQ(ParseWithCursor(s, s.size(), 10000, &cur, &req), static_cast<long>(s.size()));
  EXPECT_EQ(req.cmd.len, 4u);  // "ECHO"
  EXPECT_EQ(req.arg[0].len, 5000u);
}

TEST(ProtocolFuzz, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);  // fixed seed: deterministic
  const int rounds = te_under_valgrind() ? 2000 : 20000;
  int complete = 0, need_more = 0, too_long = 0, proto = 0;
  // Bytes that matter to the parser show up more often than others.
  const std::string alphabet = "*$\r\n\r\n0123456789-+ PINGECHOhashPRIMES";
  std::vector<std::string> seeds = {Resp({"ECHO", "abc"}), Resp({"PRIMES", "10"}),
                                    "ECHO abc\r\n", "*2\r\n$4\r\nHASH\r\n$1\r\n"};
  for (int round = 0; round < rounds; round++) {
    std::string s;
    int mode = static_cast<int>(rng() % 3);
    size_t len = rng() % 80;
    if (mode == 2) {  // a valid frame with a few bytes changed
      s = seeds[rng() % seeds.size()];
      for (int k = 0; k < 3; k++) s[rng() % s.size()] = static_cast<char>(rng());
    } else {
      for (size_t i = 0; i < len; i++) {
        s += mode == 0 ? static_cast<char>(rng())
                       : alphabet[rng() % alphabet.size()];
      }
      if (rng() % 2) s.insert(0, "*");
    }
    size_t max_line = rng() % 40;
    if (round % 50 == 0) {
      CheckPrefixes(s, max_line);
    } else {
      Parsed p = Parse(s, max_line);
      EXPECT_TRUE(p.rc == 0 || p.rc == -E2BIG || p.rc == -EPROTO ||
                  (p.rc > 0 && static_cast<size_t>(p.rc) <= s.size()))
          << p;
      complete += p.rc > 0;
      need_more += p.rc == 0;
      too_long += p.rc == -E2BIG;
      proto += p.rc == -EPROTO;
      if (s.size() >= max_line + PR_FRAME_SLACK) {
        EXPECT_NE(p.rc, 0);
      }
    }
  }
  // The inputs reach every outcome (a fuzzer stuck on one proves little).
  EXPECT_GT(complete, rounds / 100);
  EXPECT_GT(need_more, rounds / 100);
  EXPECT_GT(too_long, rounds / 100);
  EXPECT_GT(proto, rounds / 100);
  std::cout << "complete " << complete << ", need more " << need_more
            << ", too long " << too_long << ", protocol error " << proto << "\n";
}

// --- replies ---------------------------------------------------------------

std::string Join(const pr_reply& r) {
  EXPECT_LT(r.head_len, sizeof r.head);
  EXPECT_LT(r.tail_len, sizeof r.tail);
  std::string out(r.head, r.head_len);
  if (r.body_len > 0) out.append(r.body, r.body_len);
  out.append(r.tail, r.tail_len);
  return out;
}

std::string Ok(int resp, const std::string& v) {
  pr_reply r;
  pr_reply_ok(&r, resp, v.data(), v.size());
  EXPECT_EQ(r.body, v.data());  // not copied
  return Join(r);
}

std::string Err(int resp, pr_err code, const char* msg) {
  pr_reply r;
  std::memset(&r, 0x5a, sizeof r);
  pr_reply_error(&r, resp, code, msg);
  std::string s = Join(r);
  // One line: its only line break is the terminator.
  std::string term = resp ? "\r\n" : "\n";
  EXPECT_EQ(s.find_first_of("\r\n"), s.size() - term.size()) << s;
  return s;
}

TEST(ProtocolReply, Ok) {
  EXPECT_EQ(Ok(0, "hello"), "result: hello\n");
  EXPECT_EQ(Ok(1, "hello"), "$5\r\nhello\r\n");
  EXPECT_EQ(Ok(0, ""), "result: \n");
  EXPECT_EQ(Ok(1, ""), "$0\r\n\r\n");
  std::string bin("a\0\r\nb", 5);
  EXPECT_EQ(Ok(1, bin), "$5\r\n" + bin + "\r\n");
  std::string big(100000, 'q');
  EXPECT_EQ(Ok(1, big), "$100000\r\n" + big + "\r\n");
}

TEST(ProtocolReply, IntAndPong) {
  pr_reply r;
  pr_reply_int(&r, 0, 0);
  EXPECT_EQ(Join(r), "result: 0\n");
  pr_reply_int(&r, 1, 105097565);
  EXPECT_EQ(Join(r), ":105097565\r\n");
  pr_reply_int(&r, 0, UINT64_MAX);
  EXPECT_EQ(Join(r), "result: 18446744073709551615\n");
  pr_reply_int(&r, 1, UINT64_MAX);
  EXPECT_EQ(Join(r), ":18446744073709551615\r\n");
  pr_reply_status(&r, 0, "PONG");
  EXPECT_EQ(Join(r), "result: PONG\n");
  pr_reply_status(&r, 1, "PONG");
  EXPECT_EQ(Join(r), "+PONG\r\n");
}

TEST(ProtocolReply, Errors) {
  EXPECT_EQ(Err(0, PR_E_INVALID, "unknown command 'bad'"),
            "ERROR: invalid input: unknown command 'bad'\n");
  EXPECT_EQ(Err(1, PR_E_INVALID, "wrong number of arguments for 'hash'"),
            "-ERR invalid input: wrong number of arguments for 'hash'\r\n");
  EXPECT_EQ(Err(0, PR_E_BUSY, nullptr), "ERROR: server busy\n");
  EXPECT_EQ(Err(1, PR_E_BUSY, nullptr), "-BUSY server busy\r\n");
  EXPECT_EQ(Err(0, PR_E_TIMEOUT, nullptr), "ERROR: timeout\n");
  EXPECT_EQ(Err(1, PR_E_TIMEOUT, nullptr), "-TIMEOUT timeout\r\n");
  EXPECT_EQ(Err(0, PR_E_SHUTDOWN, nullptr), "ERROR: shutting down\n");
  EXPECT_EQ(Err(1, PR_E_SHUTDOWN, nullptr), "-SHUTDOWN shutting down\r\n");
  EXPECT_EQ(Err(0, PR_E_TOO_LONG, nullptr), "ERROR: line too long\n");
  EXPECT_EQ(Err(1, PR_E_TOO_LONG, nullptr), "-ERR line too long\r\n");
  EXPECT_EQ(Err(0, PR_E_PROTOCOL, "expected '$', got '+'"),
            "ERROR: Protocol error: expected '$', got '+'\n");
  EXPECT_EQ(Err(1, PR_E_PROTOCOL, "invalid bulk length"),
            "-ERR Protocol error: invalid bulk length\r\n");
  EXPECT_EQ(Err(0, PR_E_CONNS, nullptr), "ERROR: too many connections\n");
  EXPECT_EQ(Err(1, PR_E_CONNS, nullptr), "-ERR too many connections\r\n");
  EXPECT_EQ(Err(0, PR_E_FAILED, "hash failed"), "ERROR: hash failed\n");
  EXPECT_EQ(Err(1, PR_E_FAILED, "hash failed"), "-ERR hash failed\r\n");
  // Fixed messages ignore msg; missing details just drop the colon.
  EXPECT_EQ(Err(1, PR_E_BUSY, "ignored"), "-BUSY server busy\r\n");
  EXPECT_EQ(Err(0, PR_E_INVALID, nullptr), "ERROR: invalid input\n");
  EXPECT_EQ(Err(1, PR_E_FAILED, nullptr), "-ERR failed\r\n");
  EXPECT_EQ(Err(0, PR_E_FAILED, ""), "ERROR: failed\n");
}

TEST(ProtocolReply, ErrorsAreSanitised) {
  // A detail ends at its first line break: nothing can be injected.
  EXPECT_EQ(Err(1, PR_E_INVALID, "evil\r\n+OK"), "-ERR invalid input: evil\r\n");
  EXPECT_EQ(Err(0, PR_E_PROTOCOL, "a\nb"), "ERROR: Protocol error: a\n");
  EXPECT_EQ(Err(1, PR_E_FAILED, "x\ry"), "-ERR x\r\n");
  EXPECT_EQ(Err(1, PR_E_FAILED, "\nonly"), "-ERR failed\r\n");
  // A long detail is referenced whole, not cut to fit head[].
  std::string longmsg(300, 'd');
  EXPECT_EQ(Err(1, PR_E_INVALID, longmsg.c_str()),
            "-ERR invalid input: " + longmsg + "\r\n");
  EXPECT_EQ(Err(0, PR_E_FAILED, longmsg.c_str()), "ERROR: " + longmsg + "\n");
  // Out-of-range code: still a well-formed error.
  EXPECT_EQ(Err(1, static_cast<pr_err>(99), nullptr), "-ERR internal error\r\n");
}

TEST(ProtocolReply, ParserErrorsRoundTrip) {
  // What the glue does: a parse error formatted as a reply is one safe line.
  for (const std::string& in :
       {std::string("\x01\xfe\r\x7f\n"), Resp({"a\r\nb"}), std::string("*1\r\n\n")}) {
    ExactBuf buf(in);
    pr_request req;
    long rc = pr_parse(buf.data(), buf.size(), kMaxLine, nullptr, &req);
    ASSERT_NE(rc, 0);
    Err(req.resp, rc == -EPROTO ? PR_E_PROTOCOL : PR_E_INVALID, req.error);
  }
}

}  // namespace
