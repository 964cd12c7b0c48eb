// VERIFY against the real server: Ed25519 keys and signatures made here by
// the openssl command line (Debian's openssl package), checked over the
// text protocol and RESP, good and tampered; malformed requests with their
// exact replies; pipelined VERIFYs answered in request order; several
// workers verifying at once (under --config=helgrind the server runs under
// Helgrind, and any report fails its exit status); and redis-cli.
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_it/it_fixture.h"

namespace it {
namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";
constexpr const char* kCli = "/usr/bin/redis-cli";
const char kUsage[] = "VERIFY needs <public key: 64 hex> <signature: 128 hex> <message>";

// RFC 8032 7.1 TEST 1: the empty message (openssl pkeyutl cannot sign one).
const char kT1Pub[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const char kT1Sig[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

std::string Hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The hex signature with one bit flipped.
std::string Flip(std::string hex, size_t digit) {
  char& c = hex.at(digit);
  const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10;
  c = "0123456789abcdef"[v ^ 1];
  return hex;
}

std::string Resp(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

std::string TextReq(const std::string& pub, const std::string& sig, const std::string& msg) {
  return "VERIFY " + pub + " " + sig + " " + msg + "\n";
}
std::string RespReq(const std::string& pub, const std::string& sig, const std::string& msg) {
  return Resp({"VERIFY", pub, sig, msg});
}

const char kTextOk[] = "result: ok\n";
const char kTextBad[] = "result: bad signature\n";
const char kRespOk[] = "$2\r\nok\r\n";
const char kRespBad[] = "$13\r\nbad signature\r\n";

// An Ed25519 key pair made by `openssl genpkey`, in a file under TempDir().
class OpensslKey {
 public:
  // Empty pub() (and a test failure) if openssl failed.
  explicit OpensslKey(const std::string& name) : path_(TempDir() + "/verify-" + name + ".pem") {
    RunResult r = RunProgram({kOpenssl, "genpkey", "-algorithm", "ed25519", "-out", path_},
                             Scaled(10000));
    if (r.exit_code() != 0) {
      ADD_FAILURE() << "openssl genpkey: " << DescribeStatus(r.status) << " " << r.err;
      return;
    }
    // The SubjectPublicKeyInfo in DER: a fixed 12-byte header, then the raw
    // 32-byte key.
    r = RunProgram({kOpenssl, "pkey", "-in", path_, "-pubout", "-outform", "DER"}, Scaled(10000));
    const std::string spki_header("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12);
    if (r.exit_code() != 0 || r.out.size() != 44 || r.out.substr(0, 12) != spki_header) {
      ADD_FAILURE() << "openssl pkey -pubout: " << DescribeStatus(r.status) << " " << r.err
                    << " (" << r.out.size() << " bytes)";
      return;
    }
    pub_ = Hex(r.out.substr(12));
  }
  ~OpensslKey() { unlink(path_.c_str()); }
  OpensslKey(const OpensslKey&) = delete;
  OpensslKey& operator=(const OpensslKey&) = delete;

  const std::string& pub() const { return pub_; }

  // `openssl pkeyutl -sign -rawin` of msg (not empty): 128 hex digits, or
  // "" with a test failure.
  std::string Sign(const std::string& msg) const {
    const std::string in = path_ + ".msg";
    {
      std::ofstream f(in, std::ios::binary | std::ios::trunc);
      f.write(msg.data(), static_cast<std::streamsize>(msg.size()));
      if (!f) {
        ADD_FAILURE() << "cannot write " << in;
        return "";
      }
    }
    RunResult r = RunProgram({kOpenssl, "pkeyutl", "-sign", "-rawin", "-inkey", path_, "-in", in},
                             Scaled(10000));
    unlink(in.c_str());
    if (r.exit_code() != 0 || r.out.size() != 64) {
      ADD_FAILURE() << "openssl pkeyutl -sign: " << DescribeStatus(r.status) << " " << r.err;
      return "";
    }
    return Hex(r.out);
  }

 private:
  std::string path_;
  std::string pub_;
};

class VerifyTest : public ServerTest {
 protected:
  void SetUp() override {
    if (access(kOpenssl, X_OK) != 0)
      GTEST_SKIP() << kOpenssl << " not installed (Debian's openssl package)";
  }
  // The reply bytes to what was just sent, exactly want.size() of them.
  static std::string Replies(Client& c, const std::string& want) {
    return c.ReadBytes(want.size(), Scaled(5000)).value_or("<" + c.buffered() + "...>");
  }
};

TEST_F(VerifyTest, OpensslSignaturesOverTextAndResp) {
  OpensslKey a("a"), b("b");
  ASSERT_FALSE(a.pub().empty());
  ASSERT_FALSE(b.pub().empty());
  ASSERT_NE(a.pub(), b.pub());
  ServerProcess* s = StartServer({"--workers", "2"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  // Spaces inside and at either end are the message's, in both framings.
  for (const std::string msg : {"hello world", " two  spaces ", "x"}) {
    SCOPED_TRACE("'" + msg + "'");
    const std::string sig = a.Sign(msg);
    ASSERT_EQ(sig.size(), 128u);
    ASSERT_TRUE(c.Send(TextReq(a.pub(), sig, msg), 1000));
    EXPECT_EQ(Replies(c, kTextOk), kTextOk);
    ASSERT_TRUE(c.Send(TextReq(Upper(a.pub()), Upper(sig), msg), 1000));
    EXPECT_EQ(Replies(c, kTextOk), kTextOk);
    ASSERT_TRUE(c.Send(RespReq(a.pub(), sig, msg), 1000));
    EXPECT_EQ(Replies(c, kRespOk), kRespOk);
    // Tampered: the other key, another message, a flipped bit.
    for (bool resp : {false, true}) {
      auto req = resp ? RespReq : TextReq;
      const std::string bad = resp ? kRespBad : kTextBad;
      ASSERT_TRUE(c.Send(req(b.pub(), sig, msg), 1000));
      EXPECT_EQ(Replies(c, bad), bad) << "another key";
      ASSERT_TRUE(c.Send(req(a.pub(), sig, msg + "!"), 1000));
      EXPECT_EQ(Replies(c, bad), bad) << "another message";
      ASSERT_TRUE(c.Send(req(a.pub(), Flip(sig, 70), msg), 1000));
      EXPECT_EQ(Replies(c, bad), bad) << "a flipped bit in S";
      ASSERT_TRUE(c.Send(req(a.pub(), Flip(sig, 3), msg), 1000));
      EXPECT_EQ(Replies(c, bad), bad) << "a flipped bit in R";
      ASSERT_TRUE(c.Send(req(Flip(a.pub(), 0), sig, msg), 1000));
      EXPECT_EQ(Replies(c, bad), bad) << "a flipped bit in the key";
    }
  }
  // RESP carries any bytes: a message with a line break and a NUL.
  const std::string binary("line one\r\nline two\0end", 23);
  const std::string sig = a.Sign(binary);
  ASSERT_TRUE(c.Send(RespReq(a.pub(), sig, binary), 1000));
  EXPECT_EQ(Replies(c, kRespOk), kRespOk);
  // The empty message: a space after the signature, or an empty bulk.
  ASSERT_TRUE(c.Send(TextReq(kT1Pub, kT1Sig, ""), 1000));
  EXPECT_EQ(Replies(c, kTextOk), kTextOk);
  ASSERT_TRUE(c.Send(RespReq(kT1Pub, kT1Sig, ""), 1000));
  EXPECT_EQ(Replies(c, kRespOk), kRespOk);
  std::map<std::string, uint64_t> st = Stats(c);
  EXPECT_EQ(st["errors"], 0u);  // "bad signature" is an answer, not a failure
  EXPECT_EQ(st["submitted"], st["completed"]);
}

TEST_F(VerifyTest, MalformedInputIsInvalidInput) {
  ServerProcess* s = StartServer({"--workers", "1"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  const std::string pub = kT1Pub, sig = kT1Sig;
  const std::string text_usage = std::string("ERROR: invalid input: ") + kUsage;
  for (const std::string& line : {
           std::string("VERIFY"), "verify " + pub, "VERIFY " + pub + " " + sig,  // too few
           "VERIFY " + pub.substr(1) + " " + sig + " m",                         // 63 digits
           "VERIFY " + pub + "0 " + sig + " m",                                  // 65
           "VERIFY " + pub + " " + sig.substr(2) + " m",                         // 126
           "VERIFY " + pub + " " + sig + "00 m",                                 // 130
           "VERIFY " + pub.substr(0, 63) + "g " + sig + " m",                    // not hex
           "VERIFY " + pub + " 0x" + sig.substr(2) + " m",
           "VERIFY " + pub + "  " + sig + " m",                                  // two spaces
           "VERIFY " + sig + " " + pub + " m",                                   // swapped
       }) {
    EXPECT_EQ(c.Call(line, Scaled(2000)), text_usage) << line;
  }
  const std::string resp_usage = std::string("-ERR invalid input: ") + kUsage + "\r\n";
  const std::string resp_count = "-ERR invalid input: wrong number of arguments for 'verify'\r\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> frames = {
      {{"VERIFY"}, resp_count},
      {{"VERIFY", pub, sig}, resp_count},
      {{"VERIFY", pub, sig, "m", "n"}, resp_count},
      {{"VERIFY", pub.substr(2), sig, "m"}, resp_usage},
      {{"VERIFY", pub, sig + "ab", "m"}, resp_usage},
      {{"VERIFY", pub, sig.substr(0, 127) + "z", "m"}, resp_usage},
  };
  for (const auto& f : frames) {
    ASSERT_TRUE(c.Send(Resp(f.first), 1000));
    EXPECT_EQ(Replies(c, f.second), f.second) << f.first.size() << " elements";
  }
  // The connection is fine, and none of these went to the pool.
  ASSERT_TRUE(c.Send(TextReq(pub, sig, ""), 1000));
  EXPECT_EQ(Replies(c, kTextOk), kTextOk);
  std::map<std::string, uint64_t> st = Stats(c);
  EXPECT_EQ(st["submitted"], 1u);
  EXPECT_EQ(st["errors"], 0u);
}

// One write of many requests behind a SLEEP: the VERIFYs finish first, on
// other workers, yet every reply comes in request order, in its request's
// framing; the malformed ones (answered by the loop at once) wait their turn.
TEST_F(VerifyTest, PipelinedVerifiesComeBackInOrder) {
  OpensslKey k("order");
  ASSERT_FALSE(k.pub().empty());
  const std::vector<std::string> msgs = {"first message", "second  one", "3"};
  std::vector<std::string> sigs;
  for (const std::string& m : msgs) sigs.push_back(k.Sign(m));
  ServerProcess* s = StartServer({"--workers", "4"});
  ASSERT_NE(s, nullptr);
  Client c = Connect(*s);
  const std::string ms = std::to_string(WorkMs(100));
  std::string burst = "SLEEP " + ms + "\n", want = "result: slept " + ms + "\n";
  int goods = 0, bads = 0;
  for (unsigned i = 0; i < 60; i++) {
    const unsigned h = (i * 2654435761u) >> 28;  // a pattern without a short period
    const bool resp = h & 1;
    const size_t m = i % msgs.size();
    switch ((h >> 1) % 4) {
      case 0:
      case 1:
        burst += resp ? RespReq(k.pub(), sigs[m], msgs[m]) : TextReq(k.pub(), sigs[m], msgs[m]);
        want += resp ? kRespOk : kTextOk;
        goods++;
        break;
      case 2: {
        const size_t other = (m + 1) % msgs.size();
        burst += resp ? RespReq(k.pub(), sigs[other], msgs[m])
                      : TextReq(k.pub(), sigs[other], msgs[m]);
        want += resp ? kRespBad : kTextBad;
        bads++;
        break;
      }
      default:
        burst += resp ? Resp({"VERIFY", k.pub(), sigs[m]}) : "VERIFY " + k.pub() + "\n";
        want += resp ? "-ERR invalid input: wrong number of arguments for 'verify'\r\n"
                     : std::string("ERROR: invalid input: ") + kUsage + "\n";
    }
  }
  ASSERT_GT(goods, 10);
  ASSERT_GT(bads, 5);
  ASSERT_TRUE(c.Send(burst, Scaled(2000)));  // one write, then only read
  EXPECT_EQ(Replies(c, want), want);
  EXPECT_EQ(c.buffered(), "");
}

// Several workers verifying at once, from several connections, good and
// bad: all right, none failed. Under --config=helgrind this is the check
// that concurrent verifications race on nothing (the server's exit status
// carries Helgrind's verdict to TearDown).
TEST_F(VerifyTest, SeveralWorkersAtOnce) {
  OpensslKey k("many");
  ASSERT_FALSE(k.pub().empty());
  const std::string msg = "the same message from every client";
  const std::string sig = k.Sign(msg);
  ServerProcess* s = StartServer({"--workers", "4"});
  ASSERT_NE(s, nullptr);
  const int nclients = 4, per_client = UnderValgrind() ? 8 : 50;
  std::vector<Client> cs;
  std::vector<std::string> wants(nclients);
  for (int i = 0; i < nclients; i++) cs.push_back(Connect(*s));
  for (int i = 0; i < nclients; i++) {
    std::string burst;
    for (int j = 0; j < per_client; j++) {
      const bool good = (i + j) % 3 != 0;
      burst += TextReq(k.pub(), good ? sig : Flip(sig, static_cast<size_t>(j) % 128), msg);
      wants[i] += good ? kTextOk : kTextBad;
    }
    ASSERT_TRUE(cs[i].Send(burst, Scaled(2000)));
  }
  std::vector<Client*> ptrs;
  for (Client& c : cs) ptrs.push_back(&c);
  EXPECT_TRUE(PumpUntil(
      ptrs,
      [&] {
        for (int i = 0; i < nclients; i++)
          if (cs[i].buffered().size() < wants[i].size()) return false;
        return true;
      },
      Scaled(20000)));
  for (int i = 0; i < nclients; i++) {
    EXPECT_EQ(cs[i].buffered(), wants[i]) << "client " << i;
    cs[i].Consume(cs[i].buffered().size());
  }
  std::map<std::string, uint64_t> st = Stats(cs[0]);
  EXPECT_EQ(st["completed"], static_cast<uint64_t>(nclients * per_client));
  EXPECT_EQ(st["errors"], 0u);
}

// The real redis-cli (Debian's redis-tools), as issue 15 asks.
TEST_F(VerifyTest, RedisCli) {
  if (UnderValgrind())
    GTEST_SKIP() << "under Helgrind, redis-cli would run under Helgrind too (--trace-children); "
                    "the RESP frames above cover VERIFY here";
  if (access(kCli, X_OK) != 0) GTEST_SKIP() << kCli << " not installed (Debian redis-tools)";
  OpensslKey k("cli");
  ASSERT_FALSE(k.pub().empty());
  const std::string msg = "signed with openssl, checked by redis-cli";
  const std::string sig = k.Sign(msg);
  ServerProcess* s = StartServer({});
  ASSERT_NE(s, nullptr);
  auto cli = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kCli, "-p", std::to_string(s->port())};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = RunProgram(argv, Scaled(10000));
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    return r.out;
  };
  EXPECT_EQ(cli({"VERIFY", k.pub(), sig, msg}), "ok\n");
  EXPECT_EQ(cli({"verify", Upper(k.pub()), sig, msg}), "ok\n");
  EXPECT_EQ(cli({"VERIFY", k.pub(), sig, msg + "."}), "bad signature\n");
  EXPECT_EQ(cli({"VERIFY", kT1Pub, kT1Sig, ""}), "ok\n");
  // redis-cli prints an error reply's text, then an empty line.
  EXPECT_EQ(cli({"VERIFY", k.pub(), sig}),
            "ERR invalid input: wrong number of arguments for 'verify'\n\n");
  EXPECT_EQ(cli({"VERIFY", k.pub().substr(1), sig, msg}),
            std::string("ERR invalid input: ") + kUsage + "\n\n");
}

}  // namespace
}  // namespace it
