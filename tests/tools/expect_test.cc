// Unit tests for tools/expect: prime counts, SHA-256, expected replies.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
#include "tests/testlib/testenv.h"
#include "tools/expect.h"
}

namespace {


// TSan makes the 2^31 sieve take ~45 s; the other configs cover it.
#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#else
constexpr bool kTsan = false;
#endif

uint64_t Primes(uint32_t n) {
  uint64_t c = 0;
  EXPECT_EQ(0, ex_count_primes(n, &c));
  return c;
}

struct Exp {
  int kind;
  std::string text;
};

Exp Expect(const std::string &req) {
  std::vector<char> out(ex_reply_cap(req.size()));
  size_t len = 0;
  int kind = ex_expect(req.data(), req.size(), out.data(), out.size(), &len);
  return {kind, std::string(out.data(), len)};
}

TEST(ExpectPrimes, KnownValues) {
  EXPECT_EQ(0u, Primes(0));
  EXPECT_EQ(0u, Primes(1));
  EXPECT_EQ(1u, Primes(2));
  EXPECT_EQ(2u, Primes(3));
  EXPECT_EQ(2u, Primes(4));
  EXPECT_EQ(3u, Primes(5));
  EXPECT_EQ(4u, Primes(10));
  EXPECT_EQ(25u, Primes(100));
  EXPECT_EQ(168u, Primes(1000));
  EXPECT_EQ(1229u, Primes(10000));
  EXPECT_EQ(78498u, Primes(1000000));
  if (!te_under_valgrind()) {
    EXPECT_EQ(664579u, Primes(10000000));
    EXPECT_EQ(5761455u, Primes(100000000));
  }
  if (!te_under_valgrind() && !kTsan) {
    EXPECT_EQ(105097565u, Primes(2147483647u));  // 2^31-1 is itself prime
  }
}

TEST(ExpectPrimes, MatchesNaiveSieveAcrossSegmentBoundaries) {
  const uint32_t kMax = te_under_valgrind() ? 70000 : 200000;  // > 2 segments
  std::vector<bool> composite(kMax + 1, false);
  uint64_t count = 0;
  for (uint32_t i = 2; i <= kMax; i++) {
    if (!composite[i]) {
      count++;
      for (uint64_t j = (uint64_t)i * i; j <= kMax; j += i) composite[j] = true;
    }
    // Check every value near a segment edge, and a sparse sample elsewhere.
    uint32_t off = (i - 3) % 65536;
    if (off < 3 || off > 65532 || i % 997 == 0 || i < 200) {
      ASSERT_EQ(count, Primes(i)) << "n=" << i;
    }
  }
}

TEST(ExpectHash, KnownDigests) {
  char hex[65];
  ASSERT_EQ(0, ex_sha256_hex("", 0, hex));
  EXPECT_STREQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex);
  ASSERT_EQ(0, ex_sha256_hex("abc", 3, hex));
  EXPECT_STREQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex);
}

TEST(ExpectReply, GoodRequests) {
  EXPECT_EQ(EX_EXACT, Expect("PING").kind);
  EXPECT_EQ("result: PONG", Expect("PING").text);
  EXPECT_EQ("result: PONG", Expect("ping\r").text);
  EXPECT_EQ("result: hello  world ", Expect("ECHO hello  world ").text);
  EXPECT_EQ("result: ", Expect("echo ").text);
  EXPECT_EQ("result:  lead", Expect("ECHO  lead").text);
  EXPECT_EQ("result: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            Expect("Hash abc").text);
  EXPECT_EQ("result: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            Expect("HASH \r").text);
  EXPECT_EQ("result: 0", Expect("PRIMES 0").text);
  EXPECT_EQ("result: 1", Expect("primes 2").text);
  EXPECT_EQ("result: 25", Expect("PRIMES 100").text);
  EXPECT_EQ("result: slept 0", Expect("SLEEP 0").text);
  EXPECT_EQ("result: slept 60000", Expect("sleep 60000").text);
}

TEST(ExpectReply, BadRequests) {
  for (const char *req :
       {"", "\r", "bad", "PINGX", "ECHO", "HASH", "PRIMES", "PRIMES ", "PRIMES abc",
        "PRIMES -1", "PRIMES 12x", "PRIMES 2147483648", "PRIMES 99999999999",
        "PRIMES 1 2", "SLEEP", "SLEEP 60001", "SLEEP x", "SLEEP  5", " PING"}) {
    Exp e = Expect(req);
    EXPECT_EQ(EX_INVALID, e.kind) << "'" << req << "'";
    EXPECT_EQ(EX_INVALID_PREFIX, e.text) << "'" << req << "'";
  }
  EXPECT_EQ(EX_ANY, Expect("STATS").kind);
  EXPECT_EQ(EX_ANY, Expect("PING x").kind);
}

TEST(ExpectReply, NoSpace) {
  char out[8];
  size_t len;
  EXPECT_EQ(-ENOSPC, ex_expect("PING", 4, out, sizeof out, &len));
}

TEST(ExpectMatch, ExactPrefixAny) {
  EXPECT_TRUE(ex_match(EX_EXACT, "result: 1", 9, "result: 1", 9));
  EXPECT_FALSE(ex_match(EX_EXACT, "result: 1", 9, "result: 12", 10));
  EXPECT_FALSE(ex_match(EX_EXACT, "result: 1", 9, "result: 2", 9));
  EXPECT_TRUE(ex_match(EX_INVALID, "", 0, "ERROR: invalid input: empty line", 32));
  EXPECT_FALSE(ex_match(EX_INVALID, "", 0, "ERROR: server busy", 18));
  EXPECT_TRUE(ex_match(EX_ANY, "", 0, "whatever", 8));
}

int Classify(int kind, const std::string &exp, const std::string &got) {
  return ex_classify(kind, exp.data(), exp.size(), got.data(), got.size());
}

TEST(ExpectClassify, AllowedErrorsAreTheirOwnOutcome) {
  const std::string pong = "result: PONG";
  EXPECT_EQ(EX_REPLY_OK, Classify(EX_EXACT, pong, "result: PONG"));
  EXPECT_EQ(EX_REPLY_WRONG, Classify(EX_EXACT, pong, "result: PONGX"));
  for (int kind : {EX_EXACT, EX_INVALID, EX_ANY}) {
    EXPECT_EQ(EX_REPLY_BUSY, Classify(kind, pong, "ERROR: server busy")) << kind;
    EXPECT_EQ(EX_REPLY_TIMEOUT, Classify(kind, pong, "ERROR: timeout")) << kind;
    EXPECT_EQ(EX_REPLY_SHUTDOWN, Classify(kind, pong, "ERROR: shutting down")) << kind;
  }
  // Only the exact lines: a near miss is wrong, not an allowed error.
  EXPECT_EQ(EX_REPLY_WRONG, Classify(EX_EXACT, pong, "ERROR: server busy\r"));
  EXPECT_EQ(EX_REPLY_WRONG, Classify(EX_EXACT, pong, "ERROR: timeout after 5 ms"));
  EXPECT_EQ(EX_REPLY_WRONG, Classify(EX_EXACT, pong, "ERROR: too many connections"));
  EXPECT_EQ(EX_REPLY_OK, Classify(EX_INVALID, "", "ERROR: invalid input: x"));
  EXPECT_EQ(EX_REPLY_OK, Classify(EX_ANY, "", "result: workers=4"));
}

}  // namespace

// VERIFY: the tool's own Ed25519 check (RFC 8032, TEST 2: the message "r").
TEST(Expect, Verify) {
  const std::string key = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
  std::string sig =
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
      "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
  auto expect = [](const std::string& req) {
    std::vector<char> out(ex_reply_cap(req.size()));
    size_t n = 0;
    int kind = ex_expect(req.data(), req.size(), out.data(), out.size(), &n);
    return std::make_pair(kind, std::string(out.data(), n));
  };
  EXPECT_EQ(expect("VERIFY " + key + " " + sig + " r"),
            std::make_pair(static_cast<int>(EX_EXACT), std::string("result: ok")));
  EXPECT_EQ(expect("VERIFY " + key + " " + sig + " s"),
            std::make_pair(static_cast<int>(EX_EXACT), std::string("result: bad signature")));
  EXPECT_EQ(expect("VERIFY " + key + " " + sig).first, EX_INVALID);  // no message part
  EXPECT_EQ(expect("VERIFY " + key.substr(1) + " " + sig + " r").first, EX_INVALID);
  sig[0] = 'g';
  EXPECT_EQ(expect("VERIFY " + key + " " + sig + " r").first, EX_INVALID);
}
