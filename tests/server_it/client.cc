#include "tests/server_it/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "tests/server_it/it_env.h"

namespace it {

const char kSha256Abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

Client::Client(Client&& o) noexcept
    : fd_(o.fd_), eof_(o.eof_), error_(o.error_), in_(std::move(o.in_)) {
  o.fd_ = -1;
}

Client& Client::operator=(Client&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    eof_ = o.eof_;
    error_ = o.error_;
    in_ = std::move(o.in_);
    o.fd_ = -1;
  }
  return *this;
}

int Client::Connect(int port, int rcvbuf, int sndbuf) {
  Close();
  eof_ = false;
  error_ = 0;
  in_.clear();
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return -errno;
  if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_in sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc;
  do {
    rc = connect(fd_, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int e = errno;
    Close();
    return -e;
  }
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  return 0;
}

void Client::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void Client::Reset() {
  if (fd_ < 0) return;
  struct linger lg = {1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  Close();
}

void Client::ShutdownWrite() {
  if (fd_ >= 0) shutdown(fd_, SHUT_WR);
}

ssize_t Client::SendSome(const char* data, size_t len) {
  if (fd_ < 0) return -1;
  for (;;) {
    ssize_t n = send(fd_, data, len, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

bool Client::Send(const std::string& data, int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = SendSome(data.data() + off, data.size() - off);
    if (n < 0) return false;
    off += static_cast<size_t>(n);
    if (off == data.size()) break;
    int64_t left = deadline - NowMs();
    if (left <= 0) return false;
    struct pollfd p = {fd_, POLLOUT, 0};
    poll(&p, 1, static_cast<int>(left));
  }
  return true;
}

bool Client::Pump() {
  if (fd_ < 0 || eof_) return false;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    error_ = errno;
    eof_ = true;
    return false;
  }
}

bool Client::PopLine(std::string* line) {
  size_t nl = in_.find('\n');
  if (nl == std::string::npos) return false;
  line->assign(in_, 0, nl);
  in_.erase(0, nl + 1);
  return true;
}

std::optional<std::string> Client::ReadLine(int timeout_ms) {
  PumpUntil({this}, [&] { return HasLine() || eof(); }, timeout_ms);
  std::string line;
  if (PopLine(&line)) return line;
  return std::nullopt;
}

std::vector<std::string> Client::ReadLines(size_t n, int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  std::vector<std::string> out;
  while (out.size() < n) {
    std::optional<std::string> l = ReadLine(static_cast<int>(std::max<int64_t>(0, deadline - NowMs())));
    if (!l) break;
    out.push_back(*l);
  }
  return out;
}

std::optional<std::string> Client::ReadBytes(size_t n, int timeout_ms) {
  PumpUntil({this}, [&] { return in_.size() >= n || eof(); }, timeout_ms);
  if (in_.size() < n) return std::nullopt;
  std::string s = in_.substr(0, n);
  in_.erase(0, n);
  return s;
}

std::string Client::Call(const std::string& line, int timeout_ms) {
  if (!Send(line + "\n", timeout_ms)) return "<send failed>";
  std::optional<std::string> r = ReadLine(timeout_ms);
  return r ? *r : "<no reply>";
}

bool Client::WaitEof(int timeout_ms) {
  return PumpUntil({this}, [&] { return eof(); }, timeout_ms);
}

bool PumpUntil(const std::vector<Client*>& clients, const std::function<bool()>& pred,
               int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  std::vector<struct pollfd> pfds;
  for (;;) {
    if (pred()) return true;
    int64_t left = deadline - NowMs();
    if (left <= 0) return pred();
    pfds.clear();
    for (Client* c : clients)
      if (c->fd() >= 0 && !c->eof()) pfds.push_back({c->fd(), POLLIN, 0});
    // Wake at least every 20 ms: pred may also depend on time or other state.
    int wait = static_cast<int>(left < 20 ? left : 20);
    if (pfds.empty()) {
      struct timespec ts = {0, wait * 1000000L};
      nanosleep(&ts, nullptr);
    } else {
      poll(pfds.data(), pfds.size(), wait);
    }
    for (Client* c : clients) c->Pump();
  }
}

std::map<std::string, uint64_t> ParseStats(const std::string& line) {
  std::map<std::string, uint64_t> m;
  static const char kPrefix[] = "result: ";
  if (line.rfind(kPrefix, 0) != 0) return m;
  std::istringstream ss(line.substr(sizeof kPrefix - 1));
  std::string kv;
  while (ss >> kv) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return {};
    m[kv.substr(0, eq)] = std::strtoull(kv.c_str() + eq + 1, nullptr, 10);
  }
  return m;
}

}  // namespace it
