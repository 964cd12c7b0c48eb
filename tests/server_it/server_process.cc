#include "tests/server_it/server_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "tests/server_it/it_env.h"
#include "tools/portfile.h"

extern char** environ;

namespace it {
namespace {

void SleepMs(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string UniquePath(const char* what) {
  static int seq = 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "/it-%d-%d-%s", static_cast<int>(getpid()), ++seq, what);
  return TempDir() + buf;
}

// posix_spawn with stdin from /dev/null and stdout/stderr to files.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path, std::string* why) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    if (why) *why = "posix_spawn " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

// Non-blocking reap: 1 reaped, 0 still running, -1 error.
int TryReap(pid_t pid, int* status) {
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return 1;
    if (r == 0) return 0;
    if (errno == EINTR) continue;
    return -1;
  }
}

}  // namespace

bool PollUntil(const std::function<bool()>& cond, int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    if (cond()) return true;
    if (NowMs() >= deadline) return cond();
    SleepMs(2);
  }
}

std::string DescribeStatus(int status) {
  char buf[48];
  if (WIFEXITED(status)) std::snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) std::snprintf(buf, sizeof buf, "signal %d", WTERMSIG(status));
  else std::snprintf(buf, sizeof buf, "status 0x%x", status);
  return buf;
}

int RunResult::exit_code() const {
  return exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

RunResult RunProgram(const std::vector<std::string>& argv, int timeout_ms) {
  RunResult r;
  const std::string out_path = UniquePath("out"), err_path = UniquePath("err");
  std::string why;
  pid_t pid = Spawn(argv, out_path, err_path, &why);
  if (pid < 0) {
    r.err = why;
    return r;
  }
  int status = 0;
  r.exited = PollUntil([&] { return TryReap(pid, &status) != 0; }, timeout_ms);
  if (!r.exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  r.status = status;
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return r;
}

ServerProcess::ServerProcess(std::vector<std::string> args) : args_(std::move(args)) {}

ServerProcess::~ServerProcess() {
  KillAndReap();
  if (!log_path_.empty()) unlink(log_path_.c_str());
  if (!out_path_.empty()) unlink(out_path_.c_str());
}

bool ServerProcess::Start(int timeout_ms, std::string* why) {
  std::vector<std::string> argv = {ServerBinary()};
  bool has_port = false;
  for (const std::string& a : args_) {
    if (a == "--port" || a.rfind("--port=", 0) == 0) has_port = true;
    argv.push_back(a);
  }
  if (!has_port) {
    argv.push_back("--port");
    argv.push_back("0");
  }
  char port_file[512];
  if (pf_make_path(port_file, sizeof port_file, "it") < 0) {
    *why = "port file path too long";
    return false;
  }
  argv.push_back("--port-file");
  argv.push_back(port_file);
  log_path_ = UniquePath("server.log");
  out_path_ = UniquePath("server.out");
  pid_ = Spawn(argv, out_path_, log_path_, why);
  if (pid_ < 0) return false;
  bool exited = false;
  bool ok = PollUntil(
      [&] {
        if (TryReap(pid_, &status_) != 0) return exited = true;
        return (port_ = pf_read(port_file)) != 0;
      },
      timeout_ms);
  (void)unlink(port_file);
  if (exited) {
    reaped_ = true;
    *why = "server exited at start-up (" + DescribeStatus(status_) + "): " + Log();
    return false;
  }
  if (!ok || port_ <= 0) {
    *why = "no port in the --port-file within the deadline; log: " + Log();
    return false;
  }
  return true;
}

std::string ServerProcess::Log() const { return log_path_.empty() ? "" : ReadFile(log_path_); }

bool ServerProcess::WaitForLog(const std::string& needle, int timeout_ms) const {
  return PollUntil([&] { return Log().find(needle) != std::string::npos; }, timeout_ms);
}

int ServerProcess::Signal(int sig) const {
  if (!running()) return -ESRCH;
  return kill(pid_, sig) == 0 ? 0 : -errno;
}

bool ServerProcess::WaitExit(int timeout_ms) {
  if (pid_ <= 0) return false;
  if (reaped_) return true;
  reaped_ = PollUntil([&] { return TryReap(pid_, &status_) != 0; }, timeout_ms);
  return reaped_;
}

bool ServerProcess::KillAndReap() {
  if (!running()) return false;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return true;
}

int ServerProcess::ThreadCount() const {
  if (!running()) return -1;
  const std::string task_dir = "/proc/" + std::to_string(pid_) + "/task/";
  auto comm = [&](const std::string& tid) {
    std::ifstream f(task_dir + tid + "/comm");
    std::string name;
    std::getline(f, name);
    return name;
  };
  const std::string main_comm = UnderTsan() ? comm(std::to_string(pid_)) : "";
  DIR* d = opendir(task_dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string tid = e->d_name;
    if (UnderTsan() && tid != std::to_string(pid_) && comm(tid) == main_comm) continue;
    n++;
  }
  closedir(d);
  return n;
}

long ServerProcess::RssKb() const {
  if (!running()) return -1;
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

long ServerProcess::CpuMs() const {
  if (!running()) return -1;
  std::string stat = ReadFile("/proc/" + std::to_string(pid_) + "/stat");
  size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields 3.. after the name: state is 3, utime is 14, stime is 15.
  for (int k = 3; k <= 15 && in >> field; k++) {
    if (k == 14) utime = std::stoull(field);
    if (k == 15) stime = std::stoull(field);
  }
  long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? static_cast<long>((utime + stime) * 1000 / static_cast<unsigned long long>(hz))
                : -1;
}

}  // namespace it
