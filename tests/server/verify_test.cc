// Tests for VERIFY: the kernel (cmd_verify) against RFC 8032's Ed25519
// test vectors, tampered signatures, messages and keys, keys that are not
// curve points, the documented limits (small-order keys) and timing; and
// its registry entry: argument checks through cmd_lookup in both framings,
// and prepare / run / reply as the session drives them.
#include "server/command.h"
#include "server/commands.h"
#include "server/protocol.h"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/ed25519_vectors.h"
#include "tests/testlib/testenv.h"

extern "C" const struct cmd_def cmd_def_verify;

namespace {

using ed25519::FlipBit;
using ed25519::FromHex;
using ed25519::kMsg1024;
using ed25519::kRfc8032;
using ed25519::Vector;
using ed25519::Verify;

TEST(VerifyKernel, Rfc8032Vectors) {
  EXPECT_EQ(std::string(kMsg1024).size(), 2 * 1023u);
  for (const Vector& v : kRfc8032) {
    EXPECT_EQ(Verify(FromHex(v.pub), FromHex(v.sig), FromHex(v.msg)), 0) << v.name;
  }
}

// Every bit of every signature and key, and of the messages (a sample of
// the long one's), flipped alone: never valid.
TEST(VerifyKernel, AnyFlippedBitIsABadSignature) {
  // Under Valgrind every 13th bit (13 is odd: still every position in a byte).
  const size_t step = te_under_valgrind() ? 13 : 1;
  int checked = 0;
  for (const Vector& v : kRfc8032) {
    SCOPED_TRACE(v.name);
    const std::string pub = FromHex(v.pub), sig = FromHex(v.sig), msg = FromHex(v.msg);
    for (size_t b = 0; b < 8 * sig.size(); b += step, checked++)
      ASSERT_EQ(Verify(pub, FlipBit(sig, b), msg), 1) << "signature bit " << b;
    for (size_t b = 0; b < 8 * pub.size(); b += step, checked++)
      ASSERT_EQ(Verify(FlipBit(pub, b), sig, msg), 1) << "key bit " << b;
    const size_t msg_step = msg.size() > 64 ? 8 * 61 + 3 : step;
    for (size_t b = 0; b < 8 * msg.size(); b += msg_step, checked++)
      ASSERT_EQ(Verify(pub, sig, FlipBit(msg, b)), 1) << "message bit " << b;
    // A byte more or a byte less is another message too.
    EXPECT_EQ(Verify(pub, sig, msg + '\0'), 1);
    if (!msg.empty()) {
      EXPECT_EQ(Verify(pub, sig, msg.substr(0, msg.size() - 1)), 1);
    }
  }
  EXPECT_GE(checked, static_cast<int>(5 * (512 + 256) / step));  // the loops ran
}

TEST(VerifyKernel, AnotherVectorsKeyOrSignatureIsBad) {
  const Vector& a = kRfc8032[1];  // TEST 2
  const Vector& b = kRfc8032[2];  // TEST 3
  EXPECT_EQ(Verify(FromHex(b.pub), FromHex(a.sig), FromHex(a.msg)), 1);
  EXPECT_EQ(Verify(FromHex(a.pub), FromHex(b.sig), FromHex(a.msg)), 1);
  EXPECT_EQ(Verify(FromHex(a.pub), FromHex(a.sig), FromHex(b.msg)), 1);
}

// A public key that is not a curve point verifies nothing: "bad signature",
// not an error. y = 2, 7, 8 have no x on edwards25519 (x^2 would be a
// non-square mod p); with or without the sign bit.
TEST(VerifyKernel, KeyNotOnTheCurveIsABadSignature) {
  const std::string sig = FromHex(kRfc8032[0].sig);
  for (int y : {2, 7, 8}) {
    for (int sign : {0, 1}) {
      std::string pub(32, '\0');
      pub[0] = static_cast<char>(y);
      pub[31] = static_cast<char>(sign << 7);
      EXPECT_EQ(Verify(pub, sig, ""), 1) << "y=" << y << " sign=" << sign;
    }
  }
  EXPECT_EQ(Verify(std::string(32, '\xff'), sig, ""), 1);
}

// RFC 8032 5.1.7: S must be below the group order L. S + L is the same
// signature malleated, and is refused.
TEST(VerifyKernel, SignatureWithSPlusLIsBad) {
  const Vector& v = kRfc8032[0];
  std::string sig = FromHex(v.sig);
  const std::string l = FromHex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  unsigned carry = 0;
  for (size_t i = 0; i < 32; i++) {  // little-endian S += L (S < L, so no overflow)
    unsigned t = static_cast<unsigned char>(sig[32 + i]) + static_cast<unsigned char>(l[i]) + carry;
    sig[32 + i] = static_cast<char>(t & 0xff);
    carry = t >> 8;
  }
  ASSERT_EQ(carry, 0u);
  EXPECT_EQ(Verify(FromHex(v.pub), sig, ""), 1);
}

// Documented limits (README, cmd_verify.c): VERIFY is OpenSSL's
// verification and refuses neither small-order keys nor a key's
// non-canonical encoding. With the identity as the key, R = identity and
// S = 0 is a valid signature of every message. Should OpenSSL become
// stricter, this fails: update the README's VERIFY notes then.
TEST(VerifyKernel, DocumentedLimitSmallOrderKeysAreNotRefused) {
  std::string identity(32, '\0');
  identity[0] = 1;
  std::string forged = identity + std::string(32, '\0');  // R = identity, S = 0
  EXPECT_EQ(Verify(identity, forged, "a"), 0);
  EXPECT_EQ(Verify(identity, forged, "any message at all"), 0);
  // y = p + 1: the identity again, not canonically encoded.
  std::string noncanonical(32, '\xff');
  noncanonical[0] = '\xee';
  noncanonical[31] = '\x7f';
  EXPECT_EQ(Verify(noncanonical, forged, "a"), 0);
  // R is compared by its encoding: a non-canonical R is refused.
  EXPECT_EQ(Verify(identity, noncanonical + std::string(32, '\0'), "a"), 1);
}

TEST(VerifyKernel, NullArguments) {
  const std::string pub = FromHex(kRfc8032[0].pub), sig = FromHex(kRfc8032[0].sig);
  const auto* p = reinterpret_cast<const unsigned char*>(pub.data());
  const auto* s = reinterpret_cast<const unsigned char*>(sig.data());
  EXPECT_EQ(cmd_verify(p, s, nullptr, 0), 0);  // the empty message
  EXPECT_EQ(cmd_verify(p, s, nullptr, 1), -EINVAL);
  EXPECT_EQ(cmd_verify(nullptr, s, "", 0), -EINVAL);
  EXPECT_EQ(cmd_verify(p, nullptr, "", 0), -EINVAL);
}

TEST(VerifyKernel, Init) {
  EXPECT_NE(cmd_def_verify.init, nullptr);
  EXPECT_EQ(cmd_def_verify.init(), 0);
  EXPECT_EQ(cmd_init(), 0);
  EXPECT_EQ(cmd_init(), 0);  // harmless to repeat
}

// Informational: what one VERIFY costs a worker (key load, context, one
// Ed25519 verification of a short message), in CPU time (this thread's:
// the machine may be busy) and in wall time.
TEST(VerifyKernel, Timing) {
  ASSERT_EQ(cmd_init(), 0);
  const Vector& v = kRfc8032[2];
  const std::string pub = FromHex(v.pub), sig = FromHex(v.sig), msg = FromHex(v.msg);
  const int n = te_under_valgrind() ? 20 : 5000;
  auto cpu_us = [] {
    timespec ts;
    EXPECT_EQ(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_us();
  int ok = 0;
  for (int i = 0; i < n; i++) ok += Verify(pub, sig, msg) == 0;
  const double cpu = cpu_us() - c0;
  const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(ok, n);
  std::cout << "VERIFY: " << cpu / n << " us CPU, " << static_cast<double>(wall) / n
            << " us wall per call (" << n << " calls, one thread)\n";
}

// --- the registry entry ----------------------------------------------------

const std::string kPub = kRfc8032[1].pub;  // TEST 2: the message "r"
const std::string kSig = kRfc8032[1].sig;
const char kUsage[] = "VERIFY needs <public key: 64 hex> <signature: 128 hex> <message>";
const char kWrongCount[] = "wrong number of arguments for 'verify'";

std::string Resp(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

// One request through pr_parse and cmd_lookup, as the session does; for a
// good one, also through the definition's prepare, run and reply.
struct Lookup {
  int rc = 1;
  const cmd_def* def = nullptr;
  std::vector<std::string> args;
  std::string err;
  std::string reply;  // the whole reply, when rc == 0
};

Lookup Request(const std::string& frame) {
  Lookup out;
  std::vector<char> buf(frame.begin(), frame.end());  // exactly the frame
  pr_request req;
  long n = pr_parse(buf.data(), buf.size(), 1 << 16, nullptr, &req);
  EXPECT_EQ(n, static_cast<long>(frame.size())) << frame;
  if (n <= 0) return out;
  cmd_args a;
  char err[CMD_ERR_SIZE] = "";
  out.rc = cmd_lookup(&req, &out.def, &a, err, sizeof err);
  out.err = err;
  if (out.rc != 0) return out;
  for (size_t i = 0; i < a.n && i < PR_MAX_ARGS; i++) out.args.emplace_back(a.v[i].p, a.v[i].len);
  const cmd_def* d = out.def;
  EXPECT_EQ(d->where, CMD_POOL);
  // The job lives in max_align_t storage, as in the session.
  std::vector<std::max_align_t> job(d->job_size / sizeof(std::max_align_t) + 1);
  d->prepare(job.data(), &a);
  const char* error = nullptr;
  EXPECT_EQ(d->run(job.data(), nullptr, nullptr, &error), 0);
  EXPECT_EQ(error, nullptr);
  pr_reply r;
  d->reply(job.data(), a.resp, &r);
  out.reply.assign(r.head, r.head_len);
  if (r.body_len) out.reply.append(r.body, r.body_len);
  out.reply.append(r.tail, r.tail_len);
  return out;
}

std::string Text(const std::string& key, const std::string& sig, const std::string& msg) {
  return "VERIFY " + key + " " + sig + " " + msg + "\n";
}

TEST(VerifyCommand, Definition) {
  const cmd_def* d = cmd_find("VeRiFy", 6);
  ASSERT_NE(d, nullptr);
  EXPECT_STREQ(d->name, "verify");
  EXPECT_EQ(d->min_args, 3);
  EXPECT_EQ(d->max_args, 3);
  EXPECT_EQ(d->where, CMD_POOL);
  EXPECT_STREQ(d->usage, kUsage);
}

TEST(VerifyCommand, GoodAndBadInBothFramings) {
  Lookup l = Request(Text(kPub, kSig, "r"));
  ASSERT_EQ(l.rc, 0) << l.err;
  EXPECT_EQ(l.args, (std::vector<std::string>{kPub, kSig, "r"}));
  EXPECT_EQ(l.reply, "result: ok\n");
  EXPECT_EQ(Request(Text(kPub, kSig, "s")).reply, "result: bad signature\n");
  EXPECT_EQ(Request(Resp({"VERIFY", kPub, kSig, "r"})).reply, "$2\r\nok\r\n");
  EXPECT_EQ(Request(Resp({"verify", kPub, kSig, "r "})).reply, "$13\r\nbad signature\r\n");
}

TEST(VerifyCommand, HexInEitherCase) {
  std::string up_pub = kPub, up_sig = kSig, mixed = kSig;
  for (char& c : up_pub) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (char& c : up_sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < mixed.size(); i += 2)
    mixed[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[i])));
  EXPECT_EQ(Request(Text(up_pub, up_sig, "r")).reply, "result: ok\n");
  EXPECT_EQ(Request(Text(kPub, mixed, "r")).reply, "result: ok\n");
  EXPECT_EQ(Request(Resp({"VERIFY", up_pub, mixed, "r"})).reply, "$2\r\nok\r\n");
}

// The message is the rest of the line, spaces and all (text), or the third
// bulk string, any bytes (RESP).
TEST(VerifyCommand, MessageIsTheRestOfTheLine) {
  Lookup l = Request(Text(kPub, kSig, " two  spaces and a trailing one "));
  ASSERT_EQ(l.rc, 0) << l.err;
  EXPECT_EQ(l.args.at(2), " two  spaces and a trailing one ");
  EXPECT_EQ(l.reply, "result: bad signature\n");
  l = Request(Resp({"VERIFY", kPub, kSig, "a b\r\nc"}));
  ASSERT_EQ(l.rc, 0) << l.err;
  EXPECT_EQ(l.args.at(2), "a b\r\nc");
}

// "VERIFY <key> <sig> " (a space, then nothing) is the empty message;
// without that space there are two arguments: a usage error.
TEST(VerifyCommand, EmptyMessage) {
  const Vector& t1 = kRfc8032[0];  // signs the empty message
  Lookup l = Request(Text(t1.pub, t1.sig, ""));
  ASSERT_EQ(l.rc, 0) << l.err;
  EXPECT_EQ(l.args.at(2), "");
  EXPECT_EQ(l.reply, "result: ok\n");
  EXPECT_EQ(Request(Resp({"VERIFY", t1.pub, t1.sig, ""})).reply, "$2\r\nok\r\n");
  l = Request("VERIFY " + std::string(t1.pub) + " " + t1.sig + "\n");
  EXPECT_EQ(l.rc, -EINVAL);
  EXPECT_EQ(l.err, kUsage);
  l = Request("VERIFY " + std::string(t1.pub) + " " + t1.sig + "\r\n");
  EXPECT_EQ(l.err, kUsage);
}

TEST(VerifyCommand, MissingArguments) {
  for (const std::string& line :
       {std::string("VERIFY\n"), std::string("verify \n"), "VERIFY " + kPub + "\n",
        "VERIFY " + kPub + " " + kSig + "\n"}) {
    Lookup l = Request(line);
    EXPECT_EQ(l.rc, -EINVAL) << line;
    EXPECT_EQ(l.err, kUsage) << line;
  }
  // RESP: Redis's wording for a wrong count, too few or too many.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"VERIFY"}, {"VERIFY", kPub}, {"VERIFY", kPub, kSig},
        {"VERIFY", kPub, kSig, "r", "extra"}}) {
    Lookup l = Request(Resp(args));
    EXPECT_EQ(l.rc, -EINVAL) << args.size();
    EXPECT_EQ(l.err, kWrongCount) << args.size();
  }
}

TEST(VerifyCommand, MalformedHex) {
  const std::string bad_pubs[] = {
      kPub.substr(0, 62), kPub.substr(0, 63), kPub + "0", kPub + "00",  // lengths
      "", kSig,                                                        // empty; the signature
      "g" + kPub.substr(1), kPub.substr(0, 63) + "G",                  // not hex
      "0x" + kPub.substr(2), "-" + kPub.substr(1), std::string(64, ' ').replace(0, 1, "0"),
      kPub.substr(0, 31) + std::string(1, '\0') + kPub.substr(32),
      kPub.substr(0, 31) + "\xff" + kPub.substr(32),
  };
  const std::string bad_sigs[] = {
      kSig.substr(0, 126), kSig.substr(0, 127), kSig + "0", kSig + "00", "", kPub,
      kSig.substr(0, 127) + "z", "0x" + kSig.substr(2), kSig.substr(0, 64) + " " + kSig.substr(65),
  };
  for (const std::string& p : bad_pubs) {
    SCOPED_TRACE("key '" + p + "'");
    Lookup l = Request(Resp({"VERIFY", p, kSig, "r"}));
    EXPECT_EQ(l.rc, -EINVAL);
    EXPECT_EQ(l.err, kUsage);  // RESP too: bad hex gets the usage text
    if (p.find(' ') != std::string::npos) continue;  // a space splits text arguments
    l = Request(Text(p, kSig, "r"));
    EXPECT_EQ(l.rc, -EINVAL);
    EXPECT_EQ(l.err, kUsage);
  }
  for (const std::string& s : bad_sigs) {
    SCOPED_TRACE("signature '" + s + "'");
    Lookup l = Request(Resp({"VERIFY", kPub, s, "r"}));
    EXPECT_EQ(l.rc, -EINVAL);
    EXPECT_EQ(l.err, kUsage);
    l = Request(Text(kPub, s, "r"));
    EXPECT_EQ(l.rc, -EINVAL);
    EXPECT_EQ(l.err, kUsage);
  }
  // Key and signature swapped; two spaces (an empty signature, then the
  // signature as the start of the message).
  EXPECT_EQ(Request(Text(kSig, kPub, "r")).err, kUsage);
  EXPECT_EQ(Request("VERIFY " + kPub + "  " + kSig + " r\n").err, kUsage);
}

}  // namespace
