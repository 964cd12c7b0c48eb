// Tests for server/commands: HASH vectors, prime counts (against a plain
// sieve), cancellation of PRIMES and SLEEP, and SLEEP's duration.
#include "server/commands.h"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testlib/testenv.h"

namespace {

using Clock = std::chrono::steady_clock;


long long MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t)
      .count();
}

std::string Hash(const std::string& s) {
  char out[65];
  std::memset(out, 'X', sizeof out);
  EXPECT_EQ(cmd_hash(s.data(), s.size(), out), 0);
  EXPECT_EQ(out[64], '\0');
  return out;
}

TEST(Hash, KnownVectors) {
  EXPECT_EQ(Hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // printf 'good data' | sha256sum
  EXPECT_EQ(Hash("good data"),
            "341b120cdb1ba34f931a32029be2c1a5e2a73bd75e44bbe1a3c820ce73edbb84");
  // printf 'a\0b' | sha256sum: NUL bytes are hashed like any other.
  EXPECT_EQ(Hash(std::string("a\0b", 3)),
            "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
  // One million 'a' (FIPS 180-2 test vector).
  EXPECT_EQ(Hash(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Hash, NullData) {
  char out[65];
  EXPECT_EQ(cmd_hash(nullptr, 0, out), 0);
  EXPECT_STREQ(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(cmd_hash(nullptr, 1, out), -EINVAL);
}

TEST(Hash, Init) {
  EXPECT_EQ(cmd_init(), 0);
  EXPECT_EQ(cmd_init(), 0);  // harmless to repeat
}

TEST(Hash, ConcurrentCallsAgree) {
  ASSERT_EQ(cmd_init(), 0);  // as main() does before starting workers
  const int per_thread = te_under_valgrind() ? 20 : 2000;
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([t, per_thread, &bad] {
      char out[65];
      for (int i = 0; i < per_thread; i++) {
        if (cmd_hash("abc", 3, out) != 0 ||
            std::string(out) !=
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
          bad[t]++;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; t++) EXPECT_EQ(bad[t], 0) << "thread " << t;
}

uint64_t Primes(uint32_t n) {
  uint64_t count = 12345;
  EXPECT_EQ(cmd_primes(n, nullptr, nullptr, &count), 0) << n;
  return count;
}

TEST(Primes, KnownCounts) {
  EXPECT_EQ(Primes(0), 0u);
  EXPECT_EQ(Primes(1), 0u);
  EXPECT_EQ(Primes(2), 1u);
  EXPECT_EQ(Primes(3), 2u);
  EXPECT_EQ(Primes(4), 2u);
  EXPECT_EQ(Primes(10), 4u);
  EXPECT_EQ(Primes(100), 25u);
  EXPECT_EQ(Primes(1000000), 78498u);
  EXPECT_EQ(Primes(10000000), 664579u);
}

TEST(Primes, LargestN) {
  if (te_under_valgrind()) GTEST_SKIP() << "takes minutes under valgrind";
  auto t0 = Clock::now();
  EXPECT_EQ(Primes(2147483647u), 105097565u);
  std::cout << "PRIMES 2147483647 took " << MsSince(t0) << " ms\n";
}

TEST(Primes, TenMillionTiming) {
  auto t0 = Clock::now();
  EXPECT_EQ(Primes(10000000), 664579u);
  // Informational only: the time depends on the build config.
  std::cout << "PRIMES 10000000 took " << MsSince(t0) << " ms\n";
}

TEST(Primes, OutOfRange) {
  uint64_t count = 0;
  EXPECT_EQ(cmd_primes(2147483648u, nullptr, nullptr, &count), -EINVAL);
}

// pi(n) for every n <= limit, by a plain sieve of Eratosthenes.
std::vector<uint32_t> PiTable(uint32_t limit) {
  std::vector<bool> composite(limit + 1, false);
  std::vector<uint32_t> pi(limit + 1, 0);
  uint32_t count = 0;
  for (uint32_t i = 2; i <= limit; i++) {
    if (!composite[i]) {
      count++;
      for (uint64_t j = uint64_t{i} * i; j <= limit; j += i) composite[j] = true;
    }
    pi[i] = count;
  }
  return pi;
}

TEST(Primes, MatchesPlainSieve) {
  // Segments hold 32768 odd numbers (65536 integers), so the first
  // boundaries sit near 65537, 131073, 196609, ...
  const uint32_t limit = 400000;
  const std::vector<uint32_t> pi = PiTable(limit);
  std::vector<uint32_t> ns;
  for (uint32_t n = 0; n <= 300; n++) ns.push_back(n);  // the small cases
  const uint32_t step = te_under_valgrind() ? 997 : 97;
  for (uint32_t n = 301; n <= limit; n += step) ns.push_back(n);
  for (uint32_t k = 1; k <= 6; k++) {  // around each segment boundary
    uint32_t b = 1 + 65536 * k;
    for (uint32_t n = b - 4; n <= b + 4; n++) ns.push_back(n);
  }
  for (uint32_t p : {3u, 5u, 7u, 251u, 257u, 509u, 631u}) {  // around p*p
    for (uint32_t n = p * p - 2; n <= p * p + 2; n++) ns.push_back(n);
  }
  for (uint32_t n : ns) {
    ASSERT_EQ(Primes(n), pi[n]) << "n=" << n;
  }
}

// A cancel flag another thread raises. The command's first poll tells the
// test it has started, so no sleeps are needed to line things up.
struct Cancel {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool cancel = false;
  int polls = 0;

  static int Poll(const void* ctx) {
    auto* c = const_cast<Cancel*>(static_cast<const Cancel*>(ctx));
    std::lock_guard<std::mutex> lock(c->mu);
    c->polls++;
    if (!c->started) {
      c->started = true;
      c->cv.notify_all();
    }
    return c->cancel ? 1 : 0;
  }
  void WaitStarted() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return started; });
  }
  void Raise() {
    std::lock_guard<std::mutex> lock(mu);
    cancel = true;
  }
  int Polls() {
    std::lock_guard<std::mutex> lock(mu);
    return polls;
  }
};

TEST(Primes, CancelStopsPromptly) {
  Cancel c;
  int rc = 0;
  uint64_t count = 0;
  std::thread worker([&] { rc = cmd_primes(2147483647u, Cancel::Poll, &c, &count); });
  c.WaitStarted();
  auto t0 = Clock::now();
  c.Raise();
  worker.join();
  long long ms = MsSince(t0);
  EXPECT_EQ(rc, -ECANCELED);
  EXPECT_LT(ms, 500);
  EXPECT_GE(c.Polls(), 2);  // it polled again after starting the work
  std::cout << "PRIMES cancelled in " << ms << " ms\n";
}

TEST(Primes, CancelledBeforeStart) {
  uint64_t count = 0;
  auto always = [](const void*) { return 1; };
  EXPECT_EQ(cmd_primes(0, always, nullptr, &count), -ECANCELED);
  EXPECT_EQ(cmd_primes(1000, always, nullptr, &count), -ECANCELED);
}

TEST(Sleep, DurationIsAtLeastMs) {
  for (unsigned ms : {0u, 1u, 25u, 60u}) {
    auto t0 = Clock::now();
    EXPECT_EQ(cmd_sleep(ms, nullptr, nullptr), 0);
    long long took = MsSince(t0);
    EXPECT_GE(took, static_cast<long long>(ms));
    EXPECT_LT(took, static_cast<long long>(ms) + 2000);  // generous: loaded CI
  }
}

TEST(Sleep, PollsEveryTenMs) {
  int polls = 0;
  auto count = [](const void* ctx) {
    ++*const_cast<int*>(static_cast<const int*>(ctx));
    return 0;
  };
  EXPECT_EQ(cmd_sleep(55, count, &polls), 0);
  EXPECT_GE(polls, 6);  // before each of the slices 0-10, ..., 50-55 ms
}

TEST(Sleep, CancelStopsPromptly) {
  Cancel c;
  int rc = 0;
  auto start = Clock::now();
  std::thread worker([&] { rc = cmd_sleep(60000, Cancel::Poll, &c); });
  c.WaitStarted();
  auto t0 = Clock::now();
  c.Raise();
  worker.join();
  long long ms = MsSince(t0);
  EXPECT_EQ(rc, -ECANCELED);
  EXPECT_LT(ms, 500);
  EXPECT_LT(MsSince(start), 5000);
  std::cout << "SLEEP cancelled in " << ms << " ms\n";
}

}  // namespace
