// Helpers of the operability tests (ops_*_test.cc): scratch paths, free
// ports, HTTP over a raw socket, INFO's sections, and the OpsTest fixture.
// Test code: one thread, no error convention beyond the values returned.
#ifndef TESTS_SERVER_IT_OPS_UTIL_H_
#define TESTS_SERVER_IT_OPS_UTIL_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "tests/server_it/it_fixture.h"

namespace it {

constexpr const char kRedisCli[] = "/usr/bin/redis-cli";
constexpr const char kPromtool[] = "/usr/bin/promtool";
constexpr const char kPrometheus[] = "/usr/bin/prometheus";

std::string ReadWholeFile(const std::string& path);

std::vector<std::string> Lines(const std::string& s);

size_t Count(const std::string& hay, const std::string& needle);

// A unique scratch path in TempDir().
std::string ScratchPath(const std::string& what);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// The number after needle in the server's log ("metrics on http://127.0.0.1:").
int PortAfter(const std::string& log, const std::string& needle);

struct HttpReply {
  int status = 0;  // 0: no (parsable) reply
  std::string head, body;
  bool closed = false;  // the server closed the connection after it
};

// Sends request as it is and reads until the server closes (or timeout).
HttpReply HttpRaw(int port, const std::string& request, int timeout_ms);

HttpReply HttpGet(int port, const std::string& target, int timeout_ms);

std::string UrlEncode(const std::string& s);

// "# Section" then "key:value" lines -> {section: {key: value}}; every other
// non-blank line goes to *bad.
using InfoSections = std::map<std::string, std::map<std::string, std::string>>;

InfoSections ParseInfoLines(const std::vector<std::string>& lines, std::vector<std::string>* bad);

// The text protocol's INFO: "result: # Server key:value ... # Clients ...".
InfoSections ParseTextInfo(const std::string& reply, std::vector<std::string>* bad);

bool AllDigits(const std::string& s);

// "ddd-dd" style shapes: 'd' a digit, anything else itself.
bool HasShape(const std::string& s, const std::string& shape);

// Runs of whitespace as one space.
std::string Squeeze(const std::string& s);

// "N.N.N" with each N digits.
bool IsVersion(const std::string& v);

class OpsTest : public ServerTest {
 protected:
  // A second connection answers PING: the server is up and serving.
  void ExpectServing(ServerProcess* s, Client& c);
};

}  // namespace it

#endif  // TESTS_SERVER_IT_OPS_UTIL_H_
