// Tests of net/conn with a line-echo owner. The loop runs on its own
// thread; the test thread plays the clients with blocking sockets and
// talks to the loop only through Call() (an el_wake), as the real server's
// workers do. Every wait is for an event (a reply, a callback); none sleeps.
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/net/test_util.h"
#include "tests/testlib/loop_calls.h"

namespace {

constexpr auto kTimeout = std::chrono::seconds(60);  // only a failing test waits this long

char Pattern(size_t k) { return static_cast<char>('a' + k % 26); }

class ConnTest;

// What the owner saw of one connection. Written on the loop thread and read
// on the test thread, both under ConnTest::mu_.
struct ConnRec {
  ConnTest *t = nullptr;
  cn_t *c = nullptr;  // until on_close
  uint64_t id = 0;
  std::vector<std::string> lines;
  int data_calls = 0;
  std::string last_data;  // what the last on_data was offered
  std::string carry;      // what it left
  bool paused = false;    // by a PAUSE line
  bool data_while_paused = false;
  size_t max_pending_at_data = 0;
  bool eof = false;
  std::string eof_carry;
  int write_after_close = 1;
  int closes = 0;
};

class ConnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = nettest::CountFds();
    opt_.bind_addr = "127.0.0.1";
    opt_.port = 0;
    opt_.max_connections = 1000;
    opt_.reject_line = "ERR full\n";
    opt_.out_limit = 1 << 20;
  }

  void TearDown() override {
    for (int fd : clients_) close(fd);
    clients_.clear();
    Stop();
    std::lock_guard<std::mutex> lk(mu_);
    for (auto &kv : recs_) EXPECT_EQ(1, kv.second.closes) << "on_close once per conn " << kv.first;
    EXPECT_EQ(fds_before_, nettest::CountFds()) << "file descriptors leaked";
  }

  // ---- the loop thread ----

  void Start() {
    ASSERT_EQ(0, el_create(&loop_));
    calls_.Attach(loop_);
    cn_handlers h = {};
    h.on_open = OnOpen;
    h.on_data = OnData;
    h.on_eof = OnEof;
    h.on_close = OnClose;
    h.ud = this;
    ASSERT_EQ(0, cn_server_start(loop_, &opt_, &h, &srv_));
    port_ = cn_server_port(srv_);
    thread_ = std::thread([this] { EXPECT_EQ(0, el_run(loop_)); });
  }

  // Stops the loop; the test thread then owns it and destroys everything.
  void Stop() {
    if (!loop_) return;
    Call([this] { el_stop(loop_); });
    thread_.join();
    cn_server_destroy(srv_);
    calls_.Detach();
    el_destroy(loop_);
    loop_ = nullptr;
  }

  void Call(std::function<void()> fn) { calls_.Call(std::move(fn), kTimeout); }

  // ---- the owner: one request per line ----

  static int OnOpen(cn_t *c, void *ud) {
    ConnTest *t = static_cast<ConnTest *>(ud);
    std::lock_guard<std::mutex> lk(t->mu_);
    if (t->refuse_) {
      t->refused_++;
      EXPECT_EQ(0, cn_write(c, "go away\n", 8));  // dropped with the conn
      t->cv_.notify_all();
      return 1;
    }
    ConnRec &r = t->recs_[cn_id(c)];
    r.t = t;
    r.c = c;
    r.id = cn_id(c);
    t->order_.push_back(r.id);
    cn_set_data(c, &r);
    t->cv_.notify_all();
    return 0;
  }

  static void WriteBig(cn_t *c, size_t n) {
    static std::string pat = [] {
      std::string s;
      for (size_t k = 0; k < 65536 + 26; k++) s += Pattern(k);
      return s;
    }();
    for (size_t off = 0; off < n;) {
      size_t len = std::min<size_t>(65536, n - off);
      ASSERT_EQ(0, cn_write(c, pat.data() + off % 26, len));
      off += len;
    }
  }

  static size_t OnData(cn_t *c, const char *data, size_t len) {
    ConnRec &r = *static_cast<ConnRec *>(cn_data(c));
    std::lock_guard<std::mutex> lk(r.t->mu_);
    r.data_calls++;
    r.last_data.assign(data, len);
    if (r.paused) r.data_while_paused = true;
    r.max_pending_at_data = std::max(r.max_pending_at_data, cn_out_pending(c));
    size_t used = 0;
    const char *nl;
    while ((nl = static_cast<const char *>(memchr(data + used, '\n', len - used)))) {
      std::string line(data + used, nl);
      used = nl + 1 - data;
      r.lines.push_back(line);
      unsigned long n = 0;
      if (line == "PAUSE") {
        cn_pause_read(c, 1);
        r.paused = true;
        EXPECT_EQ(0, cn_write(c, "paused\n", 7));
        break;  // leave the rest for later
      } else if (line == "BLIP") {
        // What a server does when its own flush ends a pause it had just
        // begun: stop consuming, then resume before returning.
        cn_pause_read(c, 1);
        EXPECT_EQ(0, cn_write(c, "blip\n", 5));
        cn_pause_read(c, 0);
        break;
      } else if (line == "CLOSE") {
        EXPECT_EQ(0, cn_write(c, "bye\n", 4));
        cn_close(c, 1);
        break;
      } else if (line == "ABORT") {
        EXPECT_EQ(0, cn_write(c, "x", 1));
        cn_close(c, 0);
        r.write_after_close = cn_write(c, "y", 1);
        break;
      } else if (sscanf(line.c_str(), "BIGCLOSE %lu", &n) == 1) {
        WriteBig(c, n);
        cn_close(c, 1);
        r.write_after_close = cn_write(c, "y", 1);
        EXPECT_EQ(r.id, cn_id(c)) << "c stays usable until the callback returns";
        break;
      } else if (sscanf(line.c_str(), "BIG %lu", &n) == 1) {
        WriteBig(c, n);
      } else {
        EXPECT_EQ(0, cn_write(c, (line + "\n").data(), line.size() + 1));
      }
      if (cn_out_full(c)) break;  // offered again once the output drains
    }
    r.carry.assign(data + used, len - used);
    r.t->cv_.notify_all();
    return used;
  }

  static void OnEof(cn_t *c) {
    ConnRec &r = *static_cast<ConnRec *>(cn_data(c));
    std::lock_guard<std::mutex> lk(r.t->mu_);
    r.eof = true;
    r.eof_carry = r.carry;
    std::string reply = "eof:" + r.carry + "\n";
    EXPECT_EQ(0, cn_write(c, reply.data(), reply.size()));
    cn_close(c, 1);
    r.t->cv_.notify_all();
  }

  static void OnClose(cn_t *c) {
    ConnRec &r = *static_cast<ConnRec *>(cn_data(c));
    std::lock_guard<std::mutex> lk(r.t->mu_);
    EXPECT_EQ(r.id, cn_id(c));
    r.closes++;
    r.c = nullptr;
    r.t->closed_++;
    r.t->cv_.notify_all();
  }

  // ---- the clients ----

  int Connect(int rcvbuf = 0) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    timeval tv = {60, 0};
    EXPECT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    EXPECT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    // A small receive buffer makes a big reply overflow the socket, so the
    // server must queue and wait for EL_WRITE.
    if (rcvbuf) {
      EXPECT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf));
    }
    sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port_));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(0, connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa)) << strerror(errno);
    clients_.push_back(fd);
    return fd;
  }

  void CloseClient(int fd) {
    clients_.erase(std::find(clients_.begin(), clients_.end(), fd));
    close(fd);
  }

  static void Send(int fd, const std::string &s) {
    for (size_t off = 0; off < s.size();) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << strerror(errno);
      off += n;
    }
  }

  static std::string Recv(int fd, size_t want, size_t chunk = 65536) {
    std::string s;
    std::vector<char> buf(chunk);
    while (s.size() < want) {
      ssize_t n = recv(fd, buf.data(), std::min(chunk, want - s.size()), 0);
      if (n <= 0) {
        ADD_FAILURE() << "recv: " << (n ? strerror(errno) : "EOF") << " after " << s.size();
        break;
      }
      s.append(buf.data(), n);
    }
    return s;
  }

  static void ExpectEof(int fd) {
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    EXPECT_EQ(0, n) << (n < 0 ? strerror(errno) : "unexpected data");
  }

  static void ExpectPattern(const std::string &s, size_t n) {
    ASSERT_EQ(n, s.size());
    for (size_t k = 0; k < n; k++) {
      if (s[k] != Pattern(k)) FAIL() << "byte " << k;
    }
  }

  // Waits for pred (evaluated under mu_) to hold.
  bool WaitFor(std::function<bool()> pred) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, kTimeout, pred);
  }
  // The n-th connection opened (from 0), once it is open.
  ConnRec &Rec(size_t n) {
    EXPECT_TRUE(WaitFor([&] { return order_.size() > n; }));
    std::lock_guard<std::mutex> lk(mu_);
    return recs_.at(order_.at(n));
  }
  size_t OutPending(ConnRec &r) {
    size_t pending = 0;
    Call([&] { pending = cn_out_pending(r.c); });
    return pending;
  }

  cn_options opt_ = {};
  int port_ = 0;
  el_t *loop_ = nullptr;
  cn_server_t *srv_ = nullptr;
  std::thread thread_;
  std::vector<int> clients_;
  int fds_before_ = 0;

  testlib::LoopCalls calls_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, ConnRec> recs_;
  std::vector<uint64_t> order_;
  int closed_ = 0;
  bool refuse_ = false;
  int refused_ = 0;
};

TEST_F(ConnTest, PortZeroAndEcho) {
  Start();
  EXPECT_GT(port_, 0);
  int fd = Connect();
  Send(fd, "hello\n");
  EXPECT_EQ("hello\n", Recv(fd, 6));
  Send(fd, "again\n");
  EXPECT_EQ("again\n", Recv(fd, 6));
  size_t count = 0;
  Call([&] { count = cn_server_count(srv_); });
  EXPECT_EQ(1u, count);
}

TEST_F(ConnTest, RequestSplitAcrossReads) {
  Start();
  int fd = Connect();
  Send(fd, "hel");
  ConnRec &r = Rec(0);
  ASSERT_TRUE(WaitFor([&] { return r.data_calls == 1; }));
  Send(fd, "lo\n");
  EXPECT_EQ("hello\n", Recv(fd, 6));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(2, r.data_calls);
  EXPECT_EQ("hello\n", r.last_data) << "carried bytes + new bytes";
}

TEST_F(ConnTest, SeveralRequestsInOneRead) {
  Start();
  int fd = Connect();
  Send(fd, "a\nb\nc\n");  // one small segment on loopback: one read
  EXPECT_EQ("a\nb\nc\n", Recv(fd, 6));
  ConnRec &r = Rec(0);
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(1, r.data_calls);
  EXPECT_EQ((std::vector<std::string>{"a", "b", "c"}), r.lines);
}

TEST_F(ConnTest, EofMidLine) {
  Start();
  int fd = Connect();
  Send(fd, "abc\nde");
  ASSERT_EQ(0, shutdown(fd, SHUT_WR));
  EXPECT_EQ("abc\neof:de\n", Recv(fd, 11));
  ExpectEof(fd);
  ConnRec &r = Rec(0);
  ASSERT_TRUE(WaitFor([&] { return r.closes == 1; }));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_TRUE(r.eof);
  EXPECT_EQ("de", r.eof_carry);
}

TEST_F(ConnTest, BigReplyToSlowReader) {
  Start();
  const size_t n = nettest::UnderValgrind() ? (3u << 20) : (8u << 20);
  int fd = Connect(4096);
  Send(fd, "BIG " + std::to_string(n) + "\n");
  ConnRec &r = Rec(0);
  ASSERT_TRUE(WaitFor([&] { return r.lines.size() == 1; }));
  EXPECT_GT(OutPending(r), 0u) << "the socket must have filled up";
  ExpectPattern(Recv(fd, n, 4096), n);  // small reads: many partial writes
  EXPECT_EQ(0u, OutPending(r));
  Send(fd, "ping\n");
  EXPECT_EQ("ping\n", Recv(fd, 5));
}

TEST_F(ConnTest, OutLimitPausesReading) {
  opt_.out_limit = 64 * 1024;
  Start();
  const size_t n = 4u << 20;
  int fd = Connect(4096);
  Send(fd, "BIG " + std::to_string(n) + "\n");
  ConnRec &r = Rec(0);
  ASSERT_TRUE(WaitFor([&] { return r.lines.size() == 1; }));
  ASSERT_GT(OutPending(r), opt_.out_limit);
  Send(fd, "after\n");
  Call([] {});  // two loop iterations: had reading been on, it would have read
  Call([] {});
  {
    std::lock_guard<std::mutex> lk(mu_);
    EXPECT_EQ(1, r.data_calls) << "read while over out_limit";
  }
  ExpectPattern(Recv(fd, n, 4096), n);
  EXPECT_EQ("after\n", Recv(fd, 6));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(2, r.data_calls);
  EXPECT_LE(r.max_pending_at_data, opt_.out_limit) << "on_data ran while over out_limit";
}

TEST_F(ConnTest, PauseReadAndResumeReoffersHeldInput) {
  Start();
  int fd = Connect();
  Send(fd, "PAUSE\nx\n");
  EXPECT_EQ("paused\n", Recv(fd, 7));
  Send(fd, "y\n");
  ConnRec &r = Rec(0);
  Call([] {});
  Call([] {});
  {
    std::lock_guard<std::mutex> lk(mu_);
    EXPECT_EQ(1, r.data_calls);
    EXPECT_EQ("x\n", r.carry);
  }
  // Resume: "x\n" was read long ago and no new byte will announce it; it
  // must be offered again all the same. Then "y\n" is read.
  Call([&] {
    std::lock_guard<std::mutex> lk(mu_);
    r.paused = false;
    cn_pause_read(r.c, 0);
  });
  EXPECT_EQ("x\ny\n", Recv(fd, 4));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_FALSE(r.data_while_paused);
  EXPECT_EQ((std::vector<std::string>{"PAUSE", "x", "y"}), r.lines);
}

// Defect: a pause and a resume inside one on_data (the server's flush
// answering everything it had just paused for) lost the resume, so input
// already read waited for bytes that might never come.
TEST_F(ConnTest, ResumeInsideOnDataReoffersWhatWasLeft) {
  Start();
  int fd = Connect();
  Send(fd, "BLIP\nx\ny\n");  // one write: no later byte will announce x and y
  EXPECT_EQ("blip\nx\ny\n", Recv(fd, 9));
  ConnRec &r = Rec(0);
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ((std::vector<std::string>{"BLIP", "x", "y"}), r.lines);
  EXPECT_EQ(2, r.data_calls);
}

// The owner stops consuming while the output is over out_limit; what it
// left is offered again once the client has drained the output, without
// another byte from the client.
TEST_F(ConnTest, OutFullStopsConsumingAndDrainReoffers) {
  opt_.out_limit = 64 * 1024;
  Start();
  // More than the kernel's socket buffers absorb (as OutLimitPausesReading),
  // so output stays queued here until the client reads.
  const size_t n = 4u << 20;
  int fd = Connect(4096);
  Send(fd, "BIG " + std::to_string(n) + "\nafter\n");
  ConnRec &r = Rec(0);
  ASSERT_TRUE(WaitFor([&] { return r.lines.size() >= 1; }));
  ASSERT_GT(OutPending(r), opt_.out_limit);
  {
    std::lock_guard<std::mutex> lk(mu_);
    EXPECT_EQ("after\n", r.carry) << "consumed past the output limit";
  }
  ExpectPattern(Recv(fd, n, 4096), n);
  EXPECT_EQ("after\n", Recv(fd, 6));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(2, r.data_calls);
  EXPECT_LE(r.max_pending_at_data, opt_.out_limit);
}

// Defect: a paused connection was out of the epoll set, so a client that
// reset it kept its slot and buffers until the owner resumed it.
TEST_F(ConnTest, ResetWhilePausedClosesAtOnce) {
  Start();
  int fd = Connect();
  Send(fd, "PAUSE\nheld\n");
  EXPECT_EQ("paused\n", Recv(fd, 7));
  ConnRec &r = Rec(0);
  // RST: SO_LINGER 0, then close.
  linger lg = {1, 0};
  ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
  CloseClient(fd);
  ASSERT_TRUE(WaitFor([&] { return closed_ == 1; })) << "reset not noticed while paused";
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_TRUE(r.paused);
  EXPECT_EQ(1, r.data_calls);
  EXPECT_FALSE(r.eof);
}

// A FIN while paused is a half-close: what was sent before it is still
// offered (and answered) once the owner resumes, then on_eof, then EOF.
TEST_F(ConnTest, HalfCloseWhilePausedIsStillAnswered) {
  Start();
  int fd = Connect();
  Send(fd, "PAUSE\nx\ny\n");
  EXPECT_EQ("paused\n", Recv(fd, 7));
  ASSERT_EQ(0, shutdown(fd, SHUT_WR));
  ConnRec &r = Rec(0);
  Call([] {});  // loop iterations after the FIN: it must not close or spin
  Call([] {});
  {
    std::lock_guard<std::mutex> lk(mu_);
    EXPECT_EQ(0, closed_);
    EXPECT_FALSE(r.eof);
  }
  Call([&] {
    std::lock_guard<std::mutex> lk(mu_);
    r.paused = false;
    cn_pause_read(r.c, 0);
  });
  EXPECT_EQ("x\ny\neof:\n", Recv(fd, 9));
  ExpectEof(fd);
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ((std::vector<std::string>{"PAUSE", "x", "y"}), r.lines);
}

// A line arriving in many small reads costs time linear in its length: the
// input buffer grows geometrically (a quadratic copy shows up as a timeout
// under the sanitizers long before it would here).
TEST_F(ConnTest, LongLineInManyReads) {
  Start();
  int fd = Connect();
  const size_t n = nettest::UnderValgrind() ? (256u << 10) : (4u << 20);
  std::string line(n, 'z');
  for (size_t off = 0; off < n; off += 1000) Send(fd, line.substr(off, 1000));
  Send(fd, "\n");
  std::string got = Recv(fd, n + 1);
  EXPECT_EQ(line + "\n", got);
}

TEST_F(ConnTest, MaxConnectionsRejects) {
  opt_.max_connections = 2;
  Start();
  int a = Connect();
  Connect();
  ASSERT_TRUE(WaitFor([&] { return order_.size() == 2; }));
  int c = Connect();
  EXPECT_EQ("ERR full\n", Recv(c, 9));
  ExpectEof(c);
  CloseClient(a);
  ASSERT_TRUE(WaitFor([&] { return closed_ == 1; }));
  int d = Connect();
  Send(d, "hi\n");
  EXPECT_EQ("hi\n", Recv(d, 3));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(3u, order_.size());
}

TEST_F(ConnTest, OnOpenRefusalClosesWithoutOnClose) {
  refuse_ = true;
  Start();
  int fd = Connect();
  ExpectEof(fd);  // the reply written in on_open is dropped with the conn
  size_t count = 1;
  Call([&] { count = cn_server_count(srv_); });
  EXPECT_EQ(0u, count);
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(1, refused_);
  EXPECT_EQ(0, closed_);
}

TEST_F(ConnTest, PeerResetWhileOutputPending) {
  Start();
  int fd = Connect(4096);
  Send(fd, "BIG 8000000\n");
  ConnRec &r = Rec(0);
  ASSERT_TRUE(WaitFor([&] { return r.lines.size() == 1; }));
  ASSERT_GT(OutPending(r), 0u);
  linger lg = {1, 0};  // close sends RST
  ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
  CloseClient(fd);
  ASSERT_TRUE(WaitFor([&] { return r.closes == 1; }));  // no SIGPIPE either
}

TEST_F(ConnTest, CloseWithFlushSendsQueuedOutputFirst) {
  Start();
  int a = Connect();
  Send(a, "CLOSE\n");
  EXPECT_EQ("bye\n", Recv(a, 4));
  ExpectEof(a);

  const size_t n = 3u << 20;
  int b = Connect(4096);
  Send(b, "BIGCLOSE " + std::to_string(n) + "\n");
  ExpectPattern(Recv(b, n, 4096), n);
  ExpectEof(b);
  ConnRec &rb = Rec(1);
  ASSERT_TRUE(WaitFor([&] { return rb.closes == 1; }));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(-EPIPE, rb.write_after_close);
}

TEST_F(ConnTest, CloseWithoutFlushDropsOutput) {
  Start();
  int fd = Connect();
  Send(fd, "ABORT\n");
  ExpectEof(fd);  // not "x"
  ConnRec &r = Rec(0);
  ASSERT_TRUE(WaitFor([&] { return r.closes == 1; }));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(-EPIPE, r.write_after_close);
}

TEST_F(ConnTest, DestroyClosesOpenConnections) {
  Start();
  int idle = Connect();
  int busy = Connect(4096);
  int paused = Connect();
  (void)idle;
  Send(busy, "BIG 4000000\n");
  Send(paused, "PAUSE\nheld\n");
  EXPECT_EQ("paused\n", Recv(paused, 7));
  ASSERT_TRUE(WaitFor([&] { return order_.size() == 3 && recs_[order_[1]].lines.size() == 1; }));
  Stop();  // with all three open
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(3, closed_);
  for (auto &kv : recs_) EXPECT_EQ(1, kv.second.closes);
}

TEST_F(ConnTest, ManyPipeliningClients) {
  Start();
  const int nclients = nettest::UnderValgrind() ? 8 : 50;
  const int nlines = nettest::UnderValgrind() ? 20 : 200;
  std::vector<int> fds;
  std::string req, want;
  for (int i = 0; i < nlines; i++) req += "line " + std::to_string(i) + "\n";
  for (int c = 0; c < nclients; c++) fds.push_back(Connect());
  for (int fd : fds) Send(fd, req);  // replies are small: no client must read first
  for (int fd : fds) EXPECT_EQ(req, Recv(fd, req.size()));
}

// Out of file descriptors: accept4 fails with EMFILE while the newcomer
// stays in the backlog, so a level-triggered loop would spin. The server
// must free its spare fd, accept and close the newcomer, and take the
// spare back (two rounds: the second needs the spare again).
TEST_F(ConnTest, OutOfFdsClosesNewcomersPromptly) {
  Start();
  rlimit old;
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
  for (int round = 0; round < 2; round++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    timeval tv = {60, 0};
    ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    int lowest_free = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    ASSERT_GE(lowest_free, 0);
    close(lowest_free);
    rlimit low = old;
    low.rlim_cur = lowest_free;  // from now on no fd number is free
    ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
    sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port_));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
    int err = errno;
    char c;
    ssize_t n = rc == 0 ? recv(fd, &c, 1, 0) : -1;
    err = rc == 0 ? errno : err;
    ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
    ASSERT_EQ(0, rc) << strerror(err);
    EXPECT_TRUE(n == 0 || (n < 0 && err == ECONNRESET)) << n << " " << strerror(err);
    close(fd);
    // The loop reopens its spare after closing the newcomer, i.e. maybe
    // after our recv returned: let that accept callback finish first.
    Call([] {});
  }
  int fd = Connect();
  Send(fd, "ok\n");
  EXPECT_EQ("ok\n", Recv(fd, 3));
  std::lock_guard<std::mutex> lk(mu_);
  EXPECT_EQ(1u, order_.size()) << "the refused newcomers never reached on_open";
}

cn_options &opt_with(cn_options &o, const char *addr) {
  o.bind_addr = addr;
  return o;
}

TEST(ConnServer, CheckBindAddr) {
  EXPECT_EQ(0, cn_check_bind_addr("127.0.0.1"));
  EXPECT_EQ(0, cn_check_bind_addr("::1"));
  EXPECT_EQ(0, cn_check_bind_addr("0.0.0.0"));
  EXPECT_EQ(0, cn_check_bind_addr("localhost"));
  for (const char *bad : {"1.2.3", "::g", "1.2.3.256", "7", "", "1..2.3"})
    EXPECT_EQ(-EINVAL, cn_check_bind_addr(bad)) << bad;
  EXPECT_EQ(-EINVAL, cn_check_bind_addr(nullptr));
  EXPECT_EQ(-ENOENT, cn_check_bind_addr("no-such-host.invalid"));
}

TEST(ConnServer, BindErrors) {
  int before = nettest::CountFds();
  el_t *loop;
  ASSERT_EQ(0, el_create(&loop));
  cn_handlers h = {};
  h.on_data = [](cn_t *, const char *, size_t len) { return len; };
  cn_options opt = {};
  opt.bind_addr = "127.0.0.1";
  opt.max_connections = 10;
  cn_server_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(0, cn_server_start(loop, &opt, &h, &a));
  opt.port = cn_server_port(a);
  EXPECT_EQ(-EADDRINUSE, cn_server_start(loop, &opt, &h, &b));
  opt.port = 0;
  for (const char *bad : {"1.2.3", "::g", "7", "", "no-such-host.invalid"})
    EXPECT_EQ(-EINVAL, cn_server_start(loop, &opt_with(opt, bad), &h, &b)) << bad;
  opt.bind_addr = "localhost";  // a host name: its first address that binds
  ASSERT_EQ(0, cn_server_start(loop, &opt, &h, &b));
  EXPECT_GT(cn_server_port(b), 0);
  cn_server_destroy(b);
  opt.bind_addr = "127.0.0.1";
  opt.port = 65536;
  EXPECT_EQ(-EINVAL, cn_server_start(loop, &opt, &h, &b));
  opt.port = 0;
  opt.bind_addr = "::1";
  int rc = cn_server_start(loop, &opt, &h, &b);
  if (rc == 0) {
    EXPECT_GT(cn_server_port(b), 0);
    cn_server_destroy(b);
  } else {
    EXPECT_TRUE(rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) << rc;  // no IPv6 here
  }
  cn_server_stop_accepting(a);
  cn_server_stop_accepting(a);  // idempotent
  cn_server_destroy(a);
  el_destroy(loop);
  EXPECT_EQ(before, nettest::CountFds());
}

}  // namespace
