// Unit tests for tools/stress_opts: stress_test's flags, strict numbers,
// combinations, the request set they build, and the usage-error messages.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
#include "tools/stress_opts.h"
}

namespace {

constexpr uint64_t kSec = 1000000000;

// Runs so_parse over "stress_test" + args; keeps *o for inspection.
struct Parse {
  int rc;
  std::string err;
  struct so_opts o;
  explicit Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "stress_test");
    std::vector<char *> argv;
    for (std::string &a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    store_ = std::move(args);  // o points into argv's strings
    char buf[256];
    rc = so_parse((int)argv.size() - 1, argv.data(), &o, buf, sizeof buf);
    err = buf;
  }
  ~Parse() {
    if (rc == SO_RUN) so_free(&o);
  }
  std::vector<std::string> store_;
};

std::vector<std::string> Lines(const struct so_opts &o) {
  std::vector<std::string> v;
  for (size_t i = 0; i < o.mix.n; i++) v.push_back(o.mix.e[i].line);
  return v;
}

TEST(StressOpts, DefaultsAreTheClassicClosedLoop) {
  Parse p({"--port", "9000"});
  ASSERT_EQ(SO_RUN, p.rc) << p.err;
  EXPECT_STREQ("127.0.0.1", p.o.host);
  EXPECT_EQ(9000, p.o.port);
  EXPECT_EQ(10u, p.o.clients);
  EXPECT_EQ(100u, p.o.frames);
  EXPECT_EQ(0u, p.o.duration_ns);
  EXPECT_EQ(60 * kSec, p.o.timeout_ns);
  EXPECT_EQ(1u, p.o.pipeline);
  EXPECT_EQ(0u, p.o.rate);  // closed loop
  EXPECT_EQ(1u, p.o.seed);
  EXPECT_EQ(0, p.o.reconnect);
  EXPECT_EQ(0, p.o.json);
  EXPECT_EQ(1, p.o.rotate);
  EXPECT_EQ((std::vector<std::string>{"PING", "ECHO hello from stress_test", "HASH abc",
                                      "PRIMES 1000"}),
            Lines(p.o));
}

TEST(StressOpts, BothValueSpellingsAndEveryFlag) {
  Parse p({"--port=9001", "--host", "localhost", "--clients=3", "--duration", "2.5",
           "--rate=500", "--max-outstanding", "7", "--mix=HASH abc=90,SLEEP 50=10",
           "--seed", "42", "--reconnect", "--reconnect-attempts=5", "--timeout", "0.25",
           "--json"});
  ASSERT_EQ(SO_RUN, p.rc) << p.err;
  EXPECT_EQ(9001, p.o.port);
  EXPECT_STREQ("localhost", p.o.host);
  EXPECT_EQ(3u, p.o.clients);
  EXPECT_EQ(0u, p.o.frames);  // run by duration
  EXPECT_EQ(2500000000u, p.o.duration_ns);
  EXPECT_EQ(250000000u, p.o.timeout_ns);
  EXPECT_EQ(500u, p.o.rate);
  EXPECT_EQ(7u, p.o.max_outstanding);
  EXPECT_EQ(42u, p.o.seed);
  EXPECT_EQ(1, p.o.reconnect);
  EXPECT_EQ(5u, p.o.reconnect_attempts);
  EXPECT_EQ(1, p.o.json);
  EXPECT_EQ(0, p.o.rotate);  // drawn with the seed
  EXPECT_EQ((std::vector<std::string>{"HASH abc", "SLEEP 50"}), Lines(p.o));
  EXPECT_EQ(100u, p.o.mix.total);
}

TEST(StressOpts, CmdIsAOneEntryMixAndTimeoutFollowsDuration) {
  Parse p({"--port", "1", "--cmd", "HASH a b", "--duration", "5", "--pipeline", "8"});
  ASSERT_EQ(SO_RUN, p.rc) << p.err;
  EXPECT_EQ((std::vector<std::string>{"HASH a b"}), Lines(p.o));
  EXPECT_EQ(35 * kSec, p.o.timeout_ns);
  EXPECT_EQ(8u, p.o.pipeline);
  // An unambiguous prefix of a long name is accepted (getopt_long).
  Parse q({"--po", "5", "--fr", "3"});
  ASSERT_EQ(SO_RUN, q.rc) << q.err;
  EXPECT_EQ(3u, q.o.frames);
}

TEST(StressOpts, Help) {
  EXPECT_EQ(SO_HELP, Parse({"--help"}).rc);
  EXPECT_EQ(SO_HELP, Parse({"-h"}).rc);
  EXPECT_EQ(SO_HELP, Parse({"--port", "1", "--help"}).rc);
  // Every long flag is in the help text, with the exit statuses.
  char *buf = nullptr;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ASSERT_NE(nullptr, f);
  so_print_help(f);
  fclose(f);
  std::string help(buf, len);
  free(buf);
  for (const char *flag :
       {"--host", "--port", "--clients", "--frames", "--duration", "--timeout", "--pipeline",
        "--rate", "--max-outstanding", "--cmd", "--mix", "--seed", "--reconnect ",
        "--reconnect-attempts", "--json", "--help", "Exit status: 0", "1 wrong or lost",
        "2 bad usage", "wrong=N lost=N"}) {
    EXPECT_NE(std::string::npos, help.find(flag)) << flag;
  }
}

struct Bad {
  std::vector<std::string> args;
  const char *msg;
};

TEST(StressOpts, UsageErrorsNameTheFlag) {
  for (const Bad &b : std::vector<Bad>{
           {{}, "--port is required"},
           {{"--clients", "5"}, "--port is required"},
           {{"--port"}, "option '--port' needs a value"},
           {{"--port", "0"}, "invalid value for --port: '0'"},
           {{"--port", "65536"}, "invalid value for --port: '65536'"},
           {{"--port", "-1"}, "invalid value for --port: '-1'"},
           {{"--port", " 80"}, "invalid value for --port: ' 80'"},
           {{"--port", "80x"}, "invalid value for --port: '80x'"},
           {{"--port", "0x50"}, "invalid value for --port: '0x50'"},
           {{"--port="}, "invalid value for --port: ''"},
           {{"--port", "1", "--clients", "0"}, "invalid value for --clients: '0' (want an integer 1..100000)"},
           {{"--port", "1", "--clients", "100001"}, "--clients"},
           {{"--port", "1", "--frames", "1e3"}, "invalid value for --frames"},
           {{"--port", "1", "--pipeline", "+4"}, "invalid value for --pipeline"},
           {{"--port", "1", "--rate", "0"}, "invalid value for --rate"},
           {{"--port", "1", "--rate", "10000001"}, "invalid value for --rate"},
           {{"--port", "1", "--rate", "1.5"}, "invalid value for --rate"},
           {{"--port", "1", "--seed", "18446744073709551616"}, "invalid value for --seed"},
           {{"--port", "1", "--duration", "0"}, "invalid value for --duration: '0'"},
           {{"--port", "1", "--duration", "-1"}, "invalid value for --duration"},
           {{"--port", "1", "--duration", "1e3"}, "invalid value for --duration"},
           {{"--port", "1", "--duration", ".5"}, "invalid value for --duration"},
           {{"--port", "1", "--duration", "5."}, "invalid value for --duration"},
           {{"--port", "1", "--duration", "inf"}, "invalid value for --duration"},
           {{"--port", "1", "--duration", "nan"}, "invalid value for --duration"},
           {{"--port", "1", "--duration", "1.0000000001"}, "invalid value for --duration"},
           {{"--port", "1", "--duration", "604801"}, "invalid value for --duration"},
           {{"--port", "1", "--timeout", "2s"}, "invalid value for --timeout: '2s'"},
           {{"--port", "1", "--host", ""}, "invalid value for --host"},
           {{"--port", "1", "--cmd", ""}, "invalid value for --cmd"},
           {{"--port", "1", "--cmd", "PING\nPING"}, "invalid value for --cmd"},
           {{"--port", "1", "--mix", "PING"}, "invalid value for --mix: mix entry 1 'PING': no '=WEIGHT'"},
           {{"--port", "1", "--mix", "PING=0"}, "invalid value for --mix: mix entry 1 'PING=0': weight"},
           {{"--port", "1", "--bogus"}, "unknown or ambiguous option '--bogus'"},
           {{"--port", "1", "--re"}, "unknown or ambiguous option '--re'"},  // --reconnect...?
           {{"--port", "1", "-x"}, "unknown option '-x'"},
           {{"--port", "1", "--json=yes"}, "option '--json=yes' takes no value"},
           {{"--port", "1", "--help=1"}, "option '--help=1' takes no value"},
           {{"--port", "1", "extra"}, "unexpected argument 'extra'"},
           {{"--port", "1", "--frames", "5", "--duration", "1"}, "--frames and --duration exclude"},
           {{"--port", "1", "--cmd", "PING", "--mix", "PING=1"}, "--cmd and --mix exclude"},
           {{"--port", "1", "--rate", "5", "--pipeline", "2"}, "--pipeline is for the closed loop"},
           {{"--port", "1", "--max-outstanding", "2"}, "--max-outstanding needs --rate"},
           {{"--port", "1", "--reconnect-attempts", "2"}, "--reconnect-attempts needs --reconnect"},
           {{"--port", "1", "--reconnect", "--reconnect-attempts", "0"}, "--reconnect-attempts"},
           {{"--port", "1", "--reconnect", "--reconnect-attempts", "1001"}, "--reconnect-attempts"},
       }) {
    Parse p(b.args);
    std::string what;
    for (const std::string &a : b.args) what += " " + a;
    EXPECT_EQ(-EINVAL, p.rc) << what;
    EXPECT_NE(std::string::npos, p.err.find(b.msg)) << what << " -> " << p.err;
    EXPECT_EQ(std::string::npos, p.err.find('\n')) << what;  // one line
  }
}

TEST(StressOpts, Seconds) {
  uint64_t ns = 0;
  EXPECT_EQ(0, so_parse_secs("2", 10 * kSec, &ns));
  EXPECT_EQ(2 * kSec, ns);
  EXPECT_EQ(0, so_parse_secs("0.000000001", 10 * kSec, &ns));
  EXPECT_EQ(1u, ns);
  EXPECT_EQ(0, so_parse_secs("1.5", 10 * kSec, &ns));
  EXPECT_EQ(1500000000u, ns);
  EXPECT_EQ(0, so_parse_secs("007.250", 10 * kSec, &ns));
  EXPECT_EQ(7250000000u, ns);
  EXPECT_EQ(0, so_parse_secs("10", 10 * kSec, &ns));
  for (const char *bad : {"", "0", "0.0", "10.000000001", "11", "1.", ".1", "1..2", "1.2.3",
                          "-1", "+1", " 1", "1 ", "1e2", "0x1", "inf", "nan", "1,5"}) {
    EXPECT_EQ(-EINVAL, so_parse_secs(bad, 10 * kSec, &ns)) << "'" << bad << "'";
  }
  EXPECT_EQ(-EINVAL, so_parse_secs(nullptr, 10 * kSec, &ns));
}

}  // namespace
