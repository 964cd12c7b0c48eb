// ServerTest: a gtest fixture that starts pool_server processes and, in
// TearDown, stops each with SIGTERM and requires a clean exit (status 0: no
// sanitizer or Helgrind report, no hang) and a reaped process.
#ifndef TESTS_SERVER_IT_IT_FIXTURE_H
#define TESTS_SERVER_IT_IT_FIXTURE_H

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/client.h"
#include "tests/server_it/it_env.h"
#include "tests/server_it/server_process.h"

namespace it {

// Durations of work the server does (SLEEP ms): longer under the slow
// configurations so a slow server still overlaps its work as intended.
inline int WorkMs(int ms) { return ms * (UnderValgrind() ? 4 : Scale() > 1 ? 2 : 1); }

class ServerTest : public ::testing::Test {
 protected:
  // Starts a server (on a free port unless args name one), with env's
  // "NAME=VALUE" entries added to its environment. nullptr, with a test
  // failure, if it did not start.
  ServerProcess* StartServer(std::vector<std::string> args, std::vector<std::string> env = {});
  // A connected client; a failed connect is a test failure (fd() < 0).
  Client Connect(const ServerProcess& s);
  // STATS over c; empty map (and a failure) if the reply is not STATS.
  std::map<std::string, uint64_t> Stats(Client& c);
  // Polls STATS on c until pred(stats) holds; the last STATS in *last.
  bool WaitStats(Client& c, const std::function<bool(std::map<std::string, uint64_t>&)>& pred,
                 int timeout_ms, std::map<std::string, uint64_t>* last = nullptr);
  void TearDown() override;

  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

}  // namespace it

#endif
