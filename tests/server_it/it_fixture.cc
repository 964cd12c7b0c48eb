#include "tests/server_it/it_fixture.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>

namespace it {

ServerProcess* ServerTest::StartServer(std::vector<std::string> args,
                                       std::vector<std::string> env) {
  servers_.push_back(std::make_unique<ServerProcess>(std::move(args), std::move(env)));
  std::string why;
  if (!servers_.back()->Start(Scaled(5000), &why)) {
    ADD_FAILURE() << "server did not start: " << why;
    return nullptr;
  }
  return servers_.back().get();
}

Client ServerTest::Connect(const ServerProcess& s) {
  Client c;
  int rc = c.Connect(s.port());
  EXPECT_EQ(rc, 0) << "connect to port " << s.port() << ": " << strerror(-rc);
  return c;
}

std::map<std::string, uint64_t> ServerTest::Stats(Client& c) {
  std::string line = c.Call("STATS", Scaled(2000));
  std::map<std::string, uint64_t> m = ParseStats(line);
  EXPECT_FALSE(m.empty()) << "not a STATS reply: " << line;
  return m;
}

bool ServerTest::WaitStats(Client& c,
                           const std::function<bool(std::map<std::string, uint64_t>&)>& pred,
                           int timeout_ms, std::map<std::string, uint64_t>* last) {
  std::map<std::string, uint64_t> st;
  bool ok = PollUntil(
      [&] {
        st = ParseStats(c.Call("STATS", Scaled(2000)));
        return !st.empty() && pred(st);
      },
      timeout_ms);
  if (last) *last = st;
  return ok;
}

void ServerTest::TearDown() {
  for (std::unique_ptr<ServerProcess>& s : servers_) {
    const pid_t pid = s->pid();
    if (pid <= 0) continue;
    if (s->running()) {
      s->Signal(SIGTERM);
      // Idle connections close at once; running work gets the grace period.
      if (!s->WaitExit(Scaled(5000))) {
        s->KillAndReap();
        ADD_FAILURE() << "server " << pid << " still running 5 s after SIGTERM: killed";
      } else {
        EXPECT_TRUE(WIFEXITED(s->status()) && WEXITSTATUS(s->status()) == 0)
            << "server " << pid << " ended with " << DescribeStatus(s->status());
      }
    }
    // Reaped: no zombie, no leftover process with that pid.
    EXPECT_EQ(kill(pid, 0), -1) << "server " << pid << " is still there";
    EXPECT_EQ(errno, ESRCH);
    if (HasFailure()) {
      std::string log = s->Log();
      if (log.size() > 6000) log = "...\n" + log.substr(log.size() - 6000);
      std::printf("---- server %d log ----\n%s---- end of log ----\n", static_cast<int>(pid),
                  log.c_str());
    }
  }
  servers_.clear();
}

}  // namespace it
