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

// The test's environment with extra "NAME=VALUE" entries added (an entry
// for a name already there replaces it).
std::vector<std::string> MergeEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; e++) {
    const std::string kv = *e;
    const std::string name = kv.substr(0, kv.find('=') + 1);
    bool replaced = false;
    for (const std::string& x : extra) replaced |= x.compare(0, name.size(), name) == 0;
    if (!replaced) env.push_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// posix_spawn with stdin from in_path (/dev/null if empty), stdout to
// out_path (or onto out_fd when out_fd >= 0) and stderr to err_path.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path, std::string* why,
            const std::vector<std::string>& extra_env = {}, const std::string& in_path = "",
            int out_fd = -1) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path.empty() ? "/dev/null" : in_path.c_str(),
                                   O_RDONLY, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  else posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<std::string> env = MergeEnv(extra_env);
  std::vector<char*> cenv;
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  // The test ignores SIGPIPE (it_main.cc), and an ignored signal stays
  // ignored across exec: the child gets the default back, as a shell or
  // systemd would start it, so a server that forgets SIGPIPE fails here.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t dfl;
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
  posix_spawnattr_destroy(&attr);
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

RunResult RunProgram(const std::vector<std::string>& argv, int timeout_ms,
                     const std::string& stdin_path) {
  RunResult r;
  const std::string out_path = UniquePath("out"), err_path = UniquePath("err");
  std::string why;
  pid_t pid = Spawn(argv, out_path, err_path, &why, {}, stdin_path);
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

ServerProcess::ServerProcess(std::vector<std::string> args, std::vector<std::string> env)
    : args_(std::move(args)), env_(std::move(env)) {}

ServerProcess::~ServerProcess() {
  KillAndReap();
  if (!log_path_.empty()) unlink(log_path_.c_str());
  if (!out_path_.empty()) unlink(out_path_.c_str());
}

bool ServerProcess::Start(int timeout_ms, std::string* why) {
  std::vector<std::string> argv = {ServerBinary()};
  bool has_port = false;
  for (size_t i = 0; i < args_.size(); i++) {
    const std::string& a = args_[i];
    if (a == "--port" || a.rfind("--port=", 0) == 0) has_port = true;
    if (a == "--log-file" && i + 1 < args_.size()) log_file_ = args_[i + 1];
    if (a.rfind("--log-file=", 0) == 0) log_file_ = a.substr(11);
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
  pid_ = Spawn(argv, out_path_, log_path_, why, env_);
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
    *why = "server exited at start-up (" + DescribeStatus(status_) + "): " + Stderr() +
           (log_file_.empty() ? "" : Log());
    return false;
  }
  if (!ok || port_ <= 0) {
    *why = "no port in the --port-file within the deadline; log: " + Log();
    return false;
  }
  return true;
}

std::string ServerProcess::Log() const {
  if (!log_file_.empty()) return ReadFile(log_file_);
  return Stderr();
}

std::string ServerProcess::Stderr() const {
  return log_path_.empty() ? "" : ReadFile(log_path_);
}

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

// ---- BackgroundProcess ---------------------------------------------------

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && !reaped_) Stop(SIGKILL, 0);
  if (pty_ >= 0) close(pty_);
  if (!out_path_.empty()) unlink(out_path_.c_str());
  if (!err_path_.empty()) unlink(err_path_.c_str());
}

bool BackgroundProcess::Start(const std::vector<std::string>& argv, std::string* why,
                              bool stdout_pty, const std::vector<std::string>& env) {
  if (pid_ > 0 && !reaped_) Stop(SIGKILL, 0);  // one process at a time
  if (pty_ >= 0) close(pty_);
  pid_ = -1;
  pty_ = -1;
  reaped_ = false;
  status_ = 0;
  pty_out_.clear();
  out_path_ = UniquePath("bg.out");
  err_path_ = UniquePath("bg.err");
  int slave = -1;
  if (stdout_pty) {
    char name[128];
    pty_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (pty_ < 0 || grantpt(pty_) != 0 || unlockpt(pty_) != 0 ||
        ptsname_r(pty_, name, sizeof name) != 0 ||
        (slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
      *why = std::string("pseudo-terminal: ") + std::strerror(errno);
      return false;
    }
    fcntl(pty_, F_SETFL, fcntl(pty_, F_GETFL) | O_NONBLOCK);
  }
  pid_ = Spawn(argv, out_path_, err_path_, why, env, "", slave);
  if (slave >= 0) close(slave);  // the child has its own copy
  return pid_ > 0;
}

bool BackgroundProcess::running() {
  if (pid_ <= 0 || reaped_) return false;
  if (TryReap(pid_, &status_) != 0) reaped_ = true;
  return !reaped_;
}

std::string BackgroundProcess::Out() {
  if (pty_ < 0) return ReadFile(out_path_);
  char buf[4096];
  for (;;) {
    ssize_t n = read(pty_, buf, sizeof buf);
    if (n > 0) pty_out_.append(buf, static_cast<size_t>(n));
    else if (n < 0 && errno == EINTR) continue;
    else break;  // EAGAIN: nothing more now; EIO: the child's side is closed
  }
  return pty_out_;
}

std::string BackgroundProcess::Err() const { return ReadFile(err_path_); }

bool BackgroundProcess::Stop(int sig, int timeout_ms) {
  if (pid_ <= 0 || reaped_) return reaped_;
  kill(pid_, sig);
  bool exited = PollUntil([&] { return TryReap(pid_, &status_) != 0; }, timeout_ms);
  if (!exited) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
  }
  reaped_ = true;
  return exited;
}

}  // namespace it
