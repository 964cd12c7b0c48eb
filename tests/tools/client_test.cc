// Unit tests for tools/client against a tiny blocking line server thread.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "tools/client.h"
}

namespace {

constexpr int kConns = 3;

// Accepts kConns connections one after another; answers "got <line>" to
// each line and closes the connection after the line "bye".
void Serve(int lfd) {
  for (int i = 0; i < kConns; i++) {
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    std::string buf;
    bool done = false;
    char tmp[256];
    while (!done) {
      ssize_t r = read(fd, tmp, sizeof tmp);
      if (r <= 0) break;
      buf.append(tmp, (size_t)r);
      size_t nl;
      while (!done && (nl = buf.find('\n')) != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        std::string reply = "got " + line + "\n";
        if (write(fd, reply.data(), reply.size()) != (ssize_t)reply.size()) done = true;
        if (line == "bye") done = true;
      }
    }
    close(fd);
  }
}

struct Log {
  std::vector<std::vector<std::string>> lines{kConns};
  std::vector<int> closed_err = std::vector<int>(kConns, -1);
};

void OnOpen(struct cl_conn *c, void *) {
  std::string burst = "a\nb b\r\n";
  ASSERT_EQ(0, cl_send(c, burst.data(), burst.size()));
  ASSERT_EQ(0, cl_send(c, "bye\n", 4));
}
void OnLine(struct cl_conn *c, const char *line, size_t len, void *arg) {
  static_cast<Log *>(arg)->lines[c->idx].emplace_back(line, len);
}
void OnClose(struct cl_conn *c, int err, void *arg) {
  static_cast<Log *>(arg)->closed_err[c->idx] = err;
}

int Listen(struct sockaddr_in *addr) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(lfd, 0);
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(0, bind(lfd, (struct sockaddr *)addr, sizeof *addr));
  EXPECT_EQ(0, listen(lfd, 16));
  socklen_t len = sizeof *addr;
  EXPECT_EQ(0, getsockname(lfd, (struct sockaddr *)addr, &len));
  return lfd;
}

TEST(Client, PipelinedLinesAndEof) {
  struct sockaddr_in addr;
  int lfd = Listen(&addr);
  std::thread server(Serve, lfd);
  Log log;
  struct cl_callbacks cb = {OnOpen, OnLine, OnClose};
  struct cl_set s;
  ASSERT_EQ(0, cl_init(&s, kConns, &addr, 5000, &cb, &log));
  ASSERT_EQ(0, cl_start(&s));
  int64_t deadline = cl_now_ns() + 60LL * 1000 * 1000 * 1000;
  while (s.active > 0 && cl_now_ns() < deadline) ASSERT_GE(cl_poll(&s, 100), 0);
  cl_destroy(&s);
  server.join();
  close(lfd);
  for (int i = 0; i < kConns; i++) {
    EXPECT_EQ((std::vector<std::string>{"got a", "got b b\r", "got bye"}), log.lines[i]);
    EXPECT_EQ(0, log.closed_err[i]);
  }
}

TEST(Client, RefusedConnectionIsReported) {
  struct sockaddr_in addr;
  int lfd = Listen(&addr);
  close(lfd);  // nobody listens on that port any more
  Log log;
  struct cl_callbacks cb = {OnOpen, OnLine, OnClose};
  struct cl_set s;
  ASSERT_EQ(0, cl_init(&s, 1, &addr, 5000, &cb, &log));
  ASSERT_EQ(0, cl_start(&s));
  int64_t deadline = cl_now_ns() + 60LL * 1000 * 1000 * 1000;
  while (s.active > 0 && cl_now_ns() < deadline) ASSERT_GE(cl_poll(&s, 100), 0);
  cl_destroy(&s);
  EXPECT_EQ(ECONNREFUSED, log.closed_err[0]);
  EXPECT_TRUE(log.lines[0].empty());
}

// Accepts two connections in turn. The first gets "partial" (no newline)
// and is closed; the second answers "got <line>" to its first line.
void ServeTwice(int lfd) {
  int fd = accept(lfd, nullptr, nullptr);
  if (fd < 0) return;
  if (write(fd, "partial", 7) != 7) {
    close(fd);
    return;
  }
  close(fd);
  fd = accept(lfd, nullptr, nullptr);
  if (fd < 0) return;
  std::string line;
  char ch;
  while (read(fd, &ch, 1) == 1 && ch != '\n') line += ch;
  std::string reply = "got " + line + "\n";
  if (write(fd, reply.data(), reply.size()) != (ssize_t)reply.size()) line.clear();
  while (read(fd, &ch, 1) > 0) {  // until the client closes
  }
  close(fd);
}

struct ReLog {
  std::vector<std::string> lines;
  int opens = 0, closes = 0;
};

void ReOpen(struct cl_conn *c, void *arg) {
  auto *log = static_cast<ReLog *>(arg);
  if (++log->opens == 2) {
    ASSERT_EQ(0, cl_send(c, "y\n", 2));
  }
}
void ReLine(struct cl_conn *c, const char *line, size_t len, void *arg) {
  static_cast<ReLog *>(arg)->lines.emplace_back(line, len);
  cl_close(c);
}
void ReClose(struct cl_conn *, int, void *arg) { static_cast<ReLog *>(arg)->closes++; }

TEST(Client, ReconnectStartsClean) {
  struct sockaddr_in addr;
  int lfd = Listen(&addr);
  std::thread server(ServeTwice, lfd);
  ReLog log;
  struct cl_callbacks cb = {ReOpen, ReLine, ReClose};
  struct cl_set s;
  ASSERT_EQ(0, cl_init(&s, 1, &addr, 5000, &cb, &log));
  ASSERT_EQ(0, cl_start(&s));
  EXPECT_EQ(-EALREADY, cl_reconnect(&s.conns[0]));  // still connecting
  int64_t deadline = cl_now_ns() + 60LL * 1000 * 1000 * 1000;
  while (log.closes == 0 && cl_now_ns() < deadline) ASSERT_GE(cl_poll(&s, 100), 0);
  ASSERT_EQ(1, log.closes);  // the first connection ended after "partial"
  EXPECT_EQ(CL_CLOSED, s.conns[0].state);
  EXPECT_EQ(0u, s.active);
  ASSERT_EQ(0, cl_reconnect(&s.conns[0]));
  EXPECT_EQ(1u, s.active);
  while (s.active > 0 && cl_now_ns() < deadline) ASSERT_GE(cl_poll(&s, 100), 0);
  cl_destroy(&s);
  server.join();
  close(lfd);
  EXPECT_EQ(2, log.opens);
  // The first connection's partial line is not glued to the second's reply.
  EXPECT_EQ((std::vector<std::string>{"got y"}), log.lines);
}

TEST(Client, ResolvesLocalhost) {
  struct sockaddr_in addr;
  ASSERT_EQ(0, cl_resolve("127.0.0.1", 9000, &addr));
  EXPECT_EQ(htons(9000), addr.sin_port);
  EXPECT_EQ(htonl(INADDR_LOOPBACK), addr.sin_addr.s_addr);
}

}  // namespace
