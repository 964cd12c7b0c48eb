// Starting and watching a program from a test: the pool_server (ServerProcess)
// or a one-shot tool (RunProgram). Single-threaded: everything is polling
// with deadlines, never blocking forever.
#ifndef TESTS_SERVER_IT_SERVER_PROCESS_H
#define TESTS_SERVER_IT_SERVER_PROCESS_H

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace it {

// Polls cond every few milliseconds until it holds or timeout_ms passes.
// Returns the last value of cond().
bool PollUntil(const std::function<bool()>& cond, int timeout_ms);

// One pool_server process. Its stderr (the log) and stdout go to files in
// TempDir(), so a chatty server can never block on a full pipe.
class ServerProcess {
 public:
  // args: the server's arguments (without the program name). Start() adds
  // "--port 0" unless args already name a port. env: "NAME=VALUE" entries
  // added to (or replacing those of) the test's environment.
  explicit ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {});
  ~ServerProcess();  // SIGKILLs and reaps a server still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Spawns the server (adding --port-file) and waits up to timeout_ms for
  // the port it listens on (tools/portfile). False with *why on failure.
  bool Start(int timeout_ms, std::string* why);

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  bool running() const { return pid_ > 0 && !reaped_; }

  // The whole log so far: the --log-file when args name one (as it is at
  // that path now), else stderr.
  std::string Log() const;
  std::string Stderr() const;  // stderr alone
  bool WaitForLog(const std::string& needle, int timeout_ms) const;

  int Signal(int sig) const;  // kill(2); 0 or -errno
  // Reaps the server if it exits within timeout_ms. True once reaped;
  // status() is then the raw wait status.
  bool WaitExit(int timeout_ms);
  int status() const { return status_; }
  // SIGKILL + reap. True if the process was still running.
  bool KillAndReap();

  // The server's threads: entries in /proc/PID/task. Under TSan the
  // runtime's own background thread (unnamed: it has the main thread's
  // comm, where the server names every thread it makes) is not counted.
  // -1 if unreadable.
  int ThreadCount() const;
  // VmRSS in KiB; -1 if unreadable.
  long RssKb() const;
  // CPU time (user + system, all threads) used so far, in ms; -1 if unreadable.
  long CpuMs() const;

 private:
  std::vector<std::string> args_, env_;
  std::string log_path_, out_path_, log_file_;
  pid_t pid_ = -1;
  int port_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Runs argv to completion (stdin from stdin_path, /dev/null if empty),
// capturing stdout and stderr.
struct RunResult {
  bool exited = false;  // false: still running at the deadline (then killed)
  int status = 0;       // raw wait status
  std::string out, err;
  int exit_code() const;  // -1 unless it exited normally
};
RunResult RunProgram(const std::vector<std::string>& argv, int timeout_ms,
                     const std::string& stdin_path = "");

// A helper program that runs beside the test (a Prometheus server, a
// monitoring client) until the test stops it. stdout and stderr go to files
// in TempDir(), or stdout to a pseudo-terminal (for a program that buffers
// its output when it is not a terminal). The destructor SIGKILLs and reaps
// it if it is still running, so every path reaps it.
class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // env: "NAME=VALUE" entries added to the test's environment. False with
  // *why if it could not be spawned.
  bool Start(const std::vector<std::string>& argv, std::string* why, bool stdout_pty = false,
             const std::vector<std::string>& env = {});
  pid_t pid() const { return pid_; }
  // Still running (reaps it if it has exited; status() then holds how).
  bool running();
  // stdout so far (from the pty: what has been read off it so far, after
  // reading what is there now), and stderr.
  std::string Out();
  std::string Err() const;
  // Sends sig, waits up to timeout_ms for the exit, SIGKILLs after that.
  // True if it exited by itself within the deadline. Reaped either way.
  bool Stop(int sig, int timeout_ms);
  int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  int pty_ = -1;
  std::string out_path_, err_path_, pty_out_;
};

// Human-readable wait status ("exit 0", "signal 9").
std::string DescribeStatus(int status);

}  // namespace it

#endif
