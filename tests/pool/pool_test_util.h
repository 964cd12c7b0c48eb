// Helpers shared by the pool tests: events to synchronise on (never sleeps
// to "let threads settle"), and /proc readers to prove threads come and go.
#ifndef TESTS_POOL_POOL_TEST_UTIL_H
#define TESTS_POOL_POOL_TEST_UTIL_H

#include "tests/testlib/testenv.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pooltest {

// Set by ci/helgrind.sh runs: scale loop counts down, never checks.
inline bool UnderValgrind() { return te_under_valgrind() != 0; }  // tests/testlib
inline size_t Scaled(size_t n, size_t valgrind_n) { return UnderValgrind() ? valgrind_n : n; }

// Generous: only a broken pool ever waits this long.
inline std::chrono::milliseconds Patience() {
  return std::chrono::milliseconds(UnderValgrind() ? 120000 : 30000);
}

// A one-shot event: Wait() returns once Open() was called.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> g(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait(g, [this] { return open_; });
  }
  // False if still shut after `d`: only for best-effort negative checks.
  bool WaitFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, d, [this] { return open_; });
  }
  bool IsOpen() {
    std::lock_guard<std::mutex> g(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts arrivals; WaitFor(n) returns true once n have arrived.
class Latch {
 public:
  void Arrive() {
    std::lock_guard<std::mutex> g(mu_);
    n_++;
    cv_.notify_all();
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, Patience(), [&] { return n_ >= n; });
  }
  size_t Count() {
    std::lock_guard<std::mutex> g(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t n_ = 0;
};

// Polls a condition that has no event to wait on (a figure in tp_stats, the
// kernel reaping a joined thread) until it holds or Patience() runs out.
inline bool Eventually(const std::function<bool()> &pred) {
  auto deadline = std::chrono::steady_clock::now() + Patience();
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Entries of /proc/self/task: the threads of this process.
inline std::vector<std::string> TaskIds() {
  std::vector<std::string> ids;
  if (DIR *d = opendir("/proc/self/task")) {
    while (struct dirent *e = readdir(d))
      if (e->d_name[0] != '.') ids.push_back(e->d_name);
    closedir(d);
  }
  return ids;
}

inline size_t ThreadCount() { return TaskIds().size(); }

// The thread count to return to after a test. The first thread a process
// creates may make a runtime start its own (TSan's background thread), so
// create and reap one first.
inline size_t BaselineThreadCount() {
  static bool warmed_up = false;
  if (!warmed_up) {
    long tid = 0;
    std::thread t([&] { tid = syscall(SYS_gettid); });
    t.join();
    std::string dir = "/proc/self/task/" + std::to_string(tid);
    Eventually([&] { return access(dir.c_str(), F_OK) != 0; });
    warmed_up = true;
  }
  return ThreadCount();
}

// The comm (ps -T name) of every thread of this process.
inline std::vector<std::string> ThreadNames() {
  std::vector<std::string> names;
  for (const std::string &id : TaskIds()) {
    std::ifstream f("/proc/self/task/" + id + "/comm");
    std::string name;
    if (std::getline(f, name)) names.push_back(name);
  }
  return names;
}

// Voluntary context switches (blocking waits that ended) summed over the
// threads whose name starts with prefix: how often they woke up.
inline uint64_t VoluntarySwitches(const std::string &prefix) {
  uint64_t sum = 0;
  for (const std::string &id : TaskIds()) {
    std::ifstream comm("/proc/self/task/" + id + "/comm");
    std::string name, line;
    if (!std::getline(comm, name) || name.compare(0, prefix.size(), prefix) != 0) continue;
    std::ifstream status("/proc/self/task/" + id + "/status");
    static const char kKey[] = "voluntary_ctxt_switches:";
    while (std::getline(status, line))
      if (line.compare(0, sizeof kKey - 1, kKey) == 0) sum += std::stoull(line.substr(sizeof kKey - 1));
  }
  return sum;
}

inline size_t CountNamed(const std::string &name) {
  size_t n = 0;
  for (const std::string &s : ThreadNames()) n += s == name;
  return n;
}

}  // namespace pooltest

#endif
