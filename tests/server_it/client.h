// A non-blocking TCP client for the tests: one socket, an input buffer, and
// reads/writes with deadlines. Many clients are driven from one thread with
// PumpUntil (poll over all of them).
#ifndef TESTS_SERVER_IT_CLIENT_H
#define TESTS_SERVER_IT_CLIENT_H

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace it {

class Client {
 public:
  Client() = default;
  ~Client() { Close(); }
  Client(Client&& o) noexcept;
  Client& operator=(Client&& o) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects to 127.0.0.1:port (blocking connect, then non-blocking IO).
  // rcvbuf/sndbuf > 0 set SO_RCVBUF/SO_SNDBUF first. 0 or -errno.
  int Connect(int port, int rcvbuf = 0, int sndbuf = 0);
  void Close();
  void Reset();          // close with SO_LINGER 0: the peer sees a RST
  void ShutdownWrite();  // half-close: the server sees EOF
  int fd() const { return fd_; }

  // Sends all of data, waiting for the socket to drain. False on error or
  // if the deadline passes first.
  bool Send(const std::string& data, int timeout_ms);
  // Sends what fits now; bytes sent (0 if the socket is full), -1 on error.
  ssize_t SendSome(const char* data, size_t len);

  // Reads what is available now; false once EOF or an error was seen.
  bool Pump();
  bool eof() const { return eof_; }
  int error() const { return error_; }  // errno of a failed read, else 0
  const std::string& buffered() const { return in_; }
  void Consume(size_t n) { in_.erase(0, n); }

  bool HasLine() const { return in_.find('\n') != std::string::npos; }
  // Takes a complete line (without its '\n') off the buffer, if there is one.
  bool PopLine(std::string* line);
  // The next line, waiting up to timeout_ms; nullopt on timeout or EOF.
  std::optional<std::string> ReadLine(int timeout_ms);
  // Up to n lines within the deadline (fewer on timeout or EOF).
  std::vector<std::string> ReadLines(size_t n, int timeout_ms);
  // Exactly n raw bytes, waiting up to timeout_ms.
  std::optional<std::string> ReadBytes(size_t n, int timeout_ms);
  // Sends line + "\n" and returns the reply line, or "<no reply>".
  std::string Call(const std::string& line, int timeout_ms);
  // Waits for EOF. True if it came within timeout_ms; whatever arrived
  // before it stays in buffered().
  bool WaitEof(int timeout_ms);

 private:
  int fd_ = -1;
  bool eof_ = false;
  int error_ = 0;
  std::string in_;
};

// Polls every client's socket until pred() holds or timeout_ms passes,
// reading whatever arrives. Returns pred().
bool PumpUntil(const std::vector<Client*>& clients, const std::function<bool()>& pred,
               int timeout_ms);

// "result: workers=4 busy_workers=0 ..." -> {"workers": 4, ...}. Empty map if
// the line is not a STATS reply.
std::map<std::string, uint64_t> ParseStats(const std::string& line);

// SHA-256 of "abc", as the server prints it.
extern const char kSha256Abc[];

}  // namespace it

#endif
