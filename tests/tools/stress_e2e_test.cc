// End-to-end tests of the real stress_test binary against the real
// pool_server: an open-loop run's figures, reproducible mixes, a server
// killed and restarted under --reconnect, the same without it, and the
// command line. Every server is stopped in TearDown with SIGTERM and must
// exit 0 (it::ServerTest). Synchronisation is on events only: the server's
// STATS (tasks submitted or timed out) and process exits.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

extern char** environ;

namespace {

std::string StressBinary() {
  const char* src = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (src != nullptr && ws != nullptr) return std::string(src) + "/" + ws + "/tools/stress_test";
  return "tools/stress_test";
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// stress_test running in the background (stdout and stderr to files), for
// the tests that act on the server while it runs.
class Background {
 public:
  ~Background() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
    }
    unlink(out_.c_str());
    unlink(err_.c_str());
  }
  bool Start(const std::vector<std::string>& args) {
    static int seq = 0;
    const std::string base = it::TempDir() + "/stress-" + std::to_string(getpid()) + "-" +
                             std::to_string(++seq);
    out_ = base + ".out";
    err_ = base + ".err";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> argv = {StressBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(&a[0]);
    cargv.push_back(nullptr);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0;
  }
  int Signal(int sig) const { return kill(pid_, sig) == 0 ? 0 : -errno; }
  bool Running() {
    if (reaped_) return false;
    reaped_ = waitpid(pid_, &status_, WNOHANG) == pid_;
    return !reaped_;
  }
  bool WaitExit(int timeout_ms) {
    return it::PollUntil([&] { return !Running(); }, timeout_ms);
  }
  int ExitCode() const { return reaped_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  int status() const { return status_; }
  std::string Out() const { return ReadFile(out_); }
  std::string Err() const { return ReadFile(err_); }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string out_, err_;
};

// The number after the n-th (0-based; -1: the last) "key": in the JSON
// line. The top-level figures come last, after the per-request ones. NAN if
// absent.
double Num(const std::string& js, const std::string& key, int nth = -1) {
  const std::string needle = "\"" + key + "\": ";
  std::vector<size_t> at;
  for (size_t p = js.find(needle); p != std::string::npos; p = js.find(needle, p + 1))
    at.push_back(p);
  if (at.empty() || nth >= static_cast<int>(at.size())) return NAN;
  size_t p = nth < 0 ? at.back() : at[static_cast<size_t>(nth)];
  return std::strtod(js.c_str() + p + needle.size(), nullptr);
}

// The summary line (requests=N ...) of a run's output, as key -> value.
std::map<std::string, uint64_t> Summary(const std::string& text) {
  std::map<std::string, uint64_t> m;
  size_t p = text.find("requests=");
  if (p == std::string::npos) return m;
  std::istringstream ss(text.substr(p, text.find('\n', p) - p));
  std::string kv;
  while (ss >> kv) {
    size_t eq = kv.find('=');
    if (eq != std::string::npos) m[kv.substr(0, eq)] = std::strtoull(kv.c_str() + eq + 1, nullptr, 10);
  }
  return m;
}

class StressE2E : public it::ServerTest {
 protected:
  // stress_test args... to completion.
  it::RunResult Stress(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {StressBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return it::RunProgram(argv, it::Scaled(60000));
  }
  // Polls the server's STATS until pred holds (false after timeout_ms).
  bool WaitStats(const it::ServerProcess& s,
                 const std::function<bool(std::map<std::string, uint64_t>&)>& pred,
                 int timeout_ms) {
    it::Client c = Connect(s);
    if (c.fd() < 0) return false;
    return it::PollUntil(
        [&] {
          std::map<std::string, uint64_t> m = it::ParseStats(c.Call("STATS", it::Scaled(2000)));
          return !m.empty() && pred(m);
        },
        timeout_ms);
  }
};

TEST_F(StressE2E, OpenLoopAtAModestRate) {
  it::ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  const int rate = it::UnderValgrind() ? 40 : 200;  // requests/s, for 1 s
  it::RunResult r = Stress({"--port", std::to_string(s->port()), "--clients", "4", "--rate",
                            std::to_string(rate), "--duration", "1", "--mix",
                            "HASH abc=3,PING=1", "--json"});
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(0, r.exit_code()) << r.out << r.err;
  const std::string& js = r.out;
  // The schedule holds exactly rate x 1 s requests, and all were answered.
  EXPECT_EQ(rate, Num(js, "requests")) << js;
  EXPECT_EQ(rate, Num(js, "ok")) << js;
  for (const char* zero : {"busy", "timeouts", "shutdown", "wrong", "lost", "errors",
                           "reconnects", "resends", "connect_failed"}) {
    EXPECT_EQ(0, Num(js, zero)) << zero << ": " << js;
  }
  EXPECT_NE(std::string::npos, js.find("\"mode\": \"open\"")) << js;
  EXPECT_EQ(rate, Num(js, "offered_rps"));
  // Sent on schedule or late, never ahead of it.
  EXPECT_GT(Num(js, "achieved_rps"), 0);
  EXPECT_LE(Num(js, "achieved_rps"), rate + 0.05);
  EXPECT_GE(Num(js, "duration_s"), 1.0);
  EXPECT_GE(Num(js, "elapsed_s"), Num(js, "duration_s"));
  EXPECT_GT(Num(js, "goodput_rps"), 0);
  EXPECT_DOUBLE_EQ(Num(js, "goodput_rps"), Num(js, "rps"));  // every reply was ok
  // Percentiles of ok replies, in order.
  EXPECT_GT(Num(js, "p50_us"), 0);
  EXPECT_LE(Num(js, "p50_us"), Num(js, "p90_us"));
  EXPECT_LE(Num(js, "p90_us"), Num(js, "p99_us"));
  EXPECT_LE(Num(js, "p99_us"), Num(js, "p999_us"));
  EXPECT_LE(Num(js, "p999_us"), Num(js, "max_us"));
  // Per request of the mix: both entries, adding up to the whole.
  EXPECT_NE(std::string::npos, js.find("{\"cmd\": \"HASH abc\", \"weight\": 3")) << js;
  EXPECT_NE(std::string::npos, js.find("{\"cmd\": \"PING\", \"weight\": 1")) << js;
  EXPECT_GT(Num(js, "ok", 0), Num(js, "ok", 1));  // weights 3 : 1
  EXPECT_EQ(Num(js, "ok"), Num(js, "ok", 0) + Num(js, "ok", 1));
  EXPECT_LE(Num(js, "p50_us", 1), Num(js, "max_us", 1));
  // The summary line goes to stderr with --json.
  const std::string want = "requests=" + std::to_string(rate) + " ok=" + std::to_string(rate) +
                           " busy=0 timeouts=0 shutdown=0 wrong=0 lost=0 reconnects=0 resends=0";
  EXPECT_NE(std::string::npos, r.err.find(want)) << r.err;
}

TEST_F(StressE2E, SameSeedSameRequestsAndTheDefaultRotation) {
  it::ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  const std::string port = std::to_string(s->port());
  auto run = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--port", port, "--clients", "3", "--frames", "24",
                                      "--pipeline", "4", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    it::RunResult r = Stress(args);
    EXPECT_EQ(0, r.exit_code()) << r.out << r.err;
    return r.out;
  };
  const std::vector<std::string> mix = {"--mix", "PING=1,ECHO x=1,HASH y=2", "--seed", "7"};
  std::string a = run(mix), b = run(mix);
  EXPECT_EQ(72, Num(a, "ok")) << a;
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(Num(a, "ok", i), Num(b, "ok", i)) << "entry " << i << "\n" << a << "\n" << b;
  }
  // The default rotation: connection c's i-th request is entry (c + i) mod
  // 4, so 24 per connection are 6 of each, 18 over 3 connections.
  std::string d = run({});
  for (int i = 0; i < 4; i++) EXPECT_EQ(18, Num(d, "ok", i)) << d;
  EXPECT_NE(std::string::npos, d.find("\"mode\": \"closed\"")) << d;
}

// A SLEEP 60000 that is running when the server is killed cannot have been
// answered, so the run must resend it after reconnecting. The restarted
// server times SLEEPs out after 20 ms, so the resend is answered at once
// ("ERROR: timeout", an allowed outcome).
TEST_F(StressE2E, ReconnectAcrossAServerRestartLosesNothing) {
  it::ServerProcess* s1 = StartServer({"--workers", "1"});
  ASSERT_NE(s1, nullptr);
  const int port = s1->port();
  Background st;
  ASSERT_TRUE(st.Start({"--port", std::to_string(port), "--clients", "4", "--rate",
                        it::UnderValgrind() ? "40" : "200", "--duration", "600", "--mix",
                        "PING=9,SLEEP 60000=1", "--reconnect", "--reconnect-attempts", "1000",
                        "--json"}));
  // Only SLEEP goes to the pool and none ends within 60 s: a submitted task
  // is a SLEEP in flight. (Not busy_workers: a worker that has just started
  // counts as busy until it first waits for a task.)
  ASSERT_TRUE(WaitStats(*s1, [](auto& m) { return m["submitted"] >= 1; }, it::Scaled(20000)))
      << st.Err();
  ASSERT_TRUE(s1->KillAndReap());
  it::ServerProcess* s2 =
      StartServer({"--port", std::to_string(port), "--workers", "2", "--task-timeout-ms", "20"});
  ASSERT_NE(s2, nullptr);
  // The new server is in use: SLEEPs (resent or new) time out there.
  EXPECT_TRUE(WaitStats(*s2, [](auto& m) { return m["timeouts"] >= 1; }, it::Scaled(20000)))
      << st.Err();
  ASSERT_EQ(0, st.Signal(SIGINT));  // stop sending; the run drains and reports
  ASSERT_TRUE(st.WaitExit(it::Scaled(30000))) << st.Err();
  const std::string js = st.Out(), err = st.Err();
  EXPECT_EQ(0, st.ExitCode()) << it::DescribeStatus(st.status()) << "\n" << js << err;
  EXPECT_EQ(0, Num(js, "lost")) << js;
  EXPECT_EQ(0, Num(js, "wrong")) << js << err;
  EXPECT_GE(Num(js, "reconnects"), 1) << js;
  EXPECT_GE(Num(js, "resends"), 1) << js;  // at least the SLEEP that was running
  EXPECT_GE(Num(js, "timeouts"), 1) << js;
  EXPECT_GE(Num(js, "ok"), 1) << js;
  EXPECT_EQ(Num(js, "requests"),
            Num(js, "ok") + Num(js, "busy") + Num(js, "timeouts") + Num(js, "shutdown"))
      << js;
  std::map<std::string, uint64_t> sum = Summary(err);
  EXPECT_EQ(0u, sum["wrong"]) << err;
  EXPECT_EQ(0u, sum["lost"]) << err;
  EXPECT_NE(std::string::npos, err.find(" wrong=0 lost=0 ")) << err;  // what scripts grep
  EXPECT_EQ(static_cast<uint64_t>(Num(js, "reconnects")), sum["reconnects"]);
}

TEST_F(StressE2E, WithoutReconnectAKilledServerMeansLostRequests) {
  it::ServerProcess* s = StartServer({"--workers", "1"});
  ASSERT_NE(s, nullptr);
  Background st;
  ASSERT_TRUE(st.Start({"--port", std::to_string(s->port()), "--clients", "2", "--duration",
                        "600", "--mix", "PING=9,SLEEP 60000=1"}));
  ASSERT_TRUE(WaitStats(*s, [](auto& m) { return m["submitted"] >= 1; }, it::Scaled(20000)))
      << st.Err();
  ASSERT_TRUE(s->KillAndReap());
  // Every connection gives up by itself: the run ends without a signal.
  ASSERT_TRUE(st.WaitExit(it::Scaled(30000))) << st.Err();
  EXPECT_EQ(1, st.ExitCode()) << st.Out() << st.Err();
  std::map<std::string, uint64_t> sum = Summary(st.Out());
  EXPECT_GE(sum["lost"], 1u) << st.Out();  // at least the SLEEP
  EXPECT_EQ(0u, sum["wrong"]) << st.Out();
  EXPECT_EQ(0u, sum["reconnects"]) << st.Out();
  EXPECT_NE(std::string::npos, st.Out().find("\nFAIL\n")) << st.Out();
}

TEST(StressCli, UsageErrorsAndHelp) {
  struct Case {
    std::vector<std::string> args;
    std::string first_line;
  };
  for (const Case& c : std::vector<Case>{
           {{"--port", "1", "--rate", "0"},
            "stress_test: invalid value for --rate: '0' (want an integer 1..10000000)"},
           {{"--port", "1", "--mix", "PING=x"},
            "stress_test: invalid value for --mix: mix entry 1 'PING=x': weight must be an "
            "integer 1..1000000"},
           {{"--clients", "2"}, "stress_test: --port is required"},
           {{"--port", "1", "--frobnicate"},
            "stress_test: unknown or ambiguous option '--frobnicate'"},
       }) {
    std::vector<std::string> argv = {StressBinary()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    it::RunResult r = it::RunProgram(argv, it::Scaled(20000));
    EXPECT_EQ(2, r.exit_code()) << r.err;
    EXPECT_EQ(c.first_line, r.err.substr(0, r.err.find('\n'))) << r.err;
    EXPECT_NE(std::string::npos, r.err.find("\nusage: stress_test --port P")) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  it::RunResult h = it::RunProgram({StressBinary(), "--help"}, it::Scaled(20000));
  EXPECT_EQ(0, h.exit_code());
  EXPECT_NE(std::string::npos, h.out.find("--reconnect-attempts N")) << h.out;
  EXPECT_NE(std::string::npos, h.out.find("Exit status: 0")) << h.out;
}

}  // namespace
