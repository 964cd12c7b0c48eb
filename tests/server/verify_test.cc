// Tests for VERIFY: the kernel (cmd_verify) against RFC 8032's Ed25519
// test vectors, tampered signatures, messages and keys, keys that are not
// curve points, the documented limits (small-order keys), and threads; and
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
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testlib/testenv.h"

namespace {

std::string FromHex(const std::string& h) {
  EXPECT_EQ(h.size() % 2, 0u) << h;
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  }
  return out;
}

int Verify(const std::string& pub, const std::string& sig, const std::string& msg) {
  EXPECT_EQ(pub.size(), 32u);
  EXPECT_EQ(sig.size(), 64u);
  return cmd_verify(reinterpret_cast<const unsigned char*>(pub.data()),
                    reinterpret_cast<const unsigned char*>(sig.data()), msg.data(), msg.size());
}

// RFC 8032, section 7.1 (Ed25519). Each was checked against the openssl
// command line: the secret key gives this public key and, signing the
// message, this signature (Ed25519 signatures are deterministic).
struct Vector {
  const char* name;
  const char* pub;  // hex
  const char* sig;  // hex
  const char* msg;  // hex
};

const char kMsg1024[] =
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
    "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
    "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
    "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
    "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
    "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
    "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
    "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
    "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
    "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
    "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
    "c60c905c15fc910840b94c00a0b9d0";

const Vector kRfc8032[] = {
    {"TEST 1", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
     ""},
    {"TEST 2", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
     "72"},
    {"TEST 3", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
     "af82"},
    {"TEST 1024", "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
     "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
     kMsg1024},
    {"TEST SHA(abc)", "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
};

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

TEST(VerifyKernel, Rfc8032Vectors) {
  EXPECT_EQ(std::string(kMsg1024).size(), 2 * 1023u);
  for (const Vector& v : kRfc8032) {
    EXPECT_EQ(Verify(FromHex(v.pub), FromHex(v.sig), FromHex(v.msg)), 0) << v.name;
  }
}

// Every bit of every signature and key, and of the messages (a sample of
// the long one's), flipped alone: never valid.
TEST(VerifyKernel, AnyFlippedBitIsABadSignature) {
  const size_t step = te_under_valgrind() ? 37 : 1;
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
  EXPECT_GT(checked, 5 * 100);
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
  EXPECT_EQ(cmd_verify_init(), 0);
  EXPECT_EQ(cmd_init(), 0);
  EXPECT_EQ(cmd_init(), 0);  // harmless to repeat
}

// Several threads verifying at once, good and bad, after cmd_init as
// main() does: every answer right. Under --config=helgrind this is also the
// check that cmd_init left libcrypto nothing to set up lazily (without its
// Ed25519 warm-up, Helgrind reports races in libcrypto's ENGINE lookup).
TEST(VerifyKernel, ConcurrentCallsAgree) {
  ASSERT_EQ(cmd_init(), 0);
  const int rounds = te_under_valgrind() ? 3 : 200;
  const int nthreads = 4;
  std::vector<int> wrong(nthreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; t++) {
    threads.emplace_back([t, rounds, &wrong] {
      for (int r = 0; r < rounds; r++) {
        for (const Vector& v : kRfc8032) {
          const std::string pub = FromHex(v.pub), sig = FromHex(v.sig), msg = FromHex(v.msg);
          if (Verify(pub, sig, msg) != 0) wrong[t]++;
          if (Verify(pub, FlipBit(sig, static_cast<size_t>(r + t) % 512), msg) != 1) wrong[t]++;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < nthreads; t++) EXPECT_EQ(wrong[t], 0) << "thread " << t;
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
