// VERIFY from several threads at once in a process that has done nothing
// with libcrypto but cmd_init(), as pool_server does before it starts its
// workers. A binary of its own: in verify_test, earlier tests would have
// done libcrypto's lazy set-up on the main thread already. Under
// --config=helgrind this fails if cmd_init stops warming Ed25519 up
// (Helgrind then reports races in libcrypto's ENGINE lookup).
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/commands.h"
#include "tests/server/ed25519_vectors.h"
#include "tests/testlib/testenv.h"

namespace {

using ed25519::FlipBit;
using ed25519::FromHex;
using ed25519::kRfc8032;
using ed25519::Vector;
using ed25519::Verify;

TEST(VerifyThreads, ConcurrentCallsAgreeAfterCmdInit) {
  ASSERT_EQ(cmd_init(), 0);
  const int rounds = te_under_valgrind() ? 3 : 200;
  const int nthreads = 4;
  // The threads start verifying together, so their first calls overlap.
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<int> wrong(nthreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; t++) {
    threads.emplace_back([&, t] {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      for (int r = 0; r < rounds; r++) {
        for (const Vector& v : kRfc8032) {
          const std::string pub = FromHex(v.pub), sig = FromHex(v.sig), msg = FromHex(v.msg);
          if (Verify(pub, sig, msg) != 0) wrong[t]++;
          if (Verify(pub, FlipBit(sig, static_cast<size_t>(r * 7 + t) % 512), msg) != 1)
            wrong[t]++;
        }
      }
    });
  }
  {
    std::lock_guard<std::mutex> lock(mu);  // notify under the lock: Helgrind asks for it
    go = true;
    cv.notify_all();
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < nthreads; t++) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

}  // namespace
