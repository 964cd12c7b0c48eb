// Helpers of the operability tests; see ops_util.h.
#include "tests/server_it/ops_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace it {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) n++;
  return n;
}

// A unique scratch path in TempDir().
std::string ScratchPath(const std::string& what) {
  static int seq = 0;
  return TempDir() + "/ops-" + std::to_string(getpid()) + "-" + std::to_string(++seq) + "-" + what;
}

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = -1;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(fd, reinterpret_cast<struct sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

// The number after needle in the server's log ("metrics on http://127.0.0.1:").
int PortAfter(const std::string& log, const std::string& needle) {
  size_t p = log.find(needle);
  return p == std::string::npos ? -1 : std::atoi(log.c_str() + p + needle.size());
}

// ---- HTTP over a raw socket ----------------------------------------------

// Sends request as it is and reads until the server closes (or timeout).
HttpReply HttpRaw(int port, const std::string& request, int timeout_ms) {
  HttpReply r;
  Client c;
  if (c.Connect(port) != 0 || !c.Send(request, timeout_ms)) return r;
  r.closed = c.WaitEof(timeout_ms);
  const std::string& all = c.buffered();
  size_t end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || all.size() < 12) return r;
  r.status = std::atoi(all.c_str() + 9);
  r.head = all.substr(0, end);
  r.body = all.substr(end + 4);
  return r;
}

HttpReply HttpGet(int port, const std::string& target, int timeout_ms) {
  // HTTP/1.0: the answer is never chunked and the server closes after it.
  return HttpRaw(port, "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", timeout_ms);
}

std::string UrlEncode(const std::string& s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// ---- INFO ----------------------------------------------------------------

// "# Section" then "key:value" lines -> {section: {key: value}}; every other
// non-blank line goes to *bad.
InfoSections ParseInfoLines(const std::vector<std::string>& lines, std::vector<std::string>* bad) {
  InfoSections out;
  std::string section;
  for (const std::string& l : lines) {
    if (l.empty()) continue;
    if (l.rfind("# ", 0) == 0) {
      section = l.substr(2);
      out[section];
      continue;
    }
    size_t colon = l.find(':');
    if (section.empty() || colon == std::string::npos || colon == 0 || colon + 1 == l.size()) {
      bad->push_back(l);
      continue;
    }
    out[section][l.substr(0, colon)] = l.substr(colon + 1);
  }
  return out;
}

// The text protocol's INFO: "result: # Server key:value ... # Clients ...".
InfoSections ParseTextInfo(const std::string& reply, std::vector<std::string>* bad) {
  std::vector<std::string> lines;
  std::istringstream in(reply.substr(reply.rfind("result: ", 0) == 0 ? 8 : 0));
  std::string w;
  while (in >> w) {
    if (w == "#" && in >> w) lines.push_back("# " + w);
    else lines.push_back(w);
  }
  return ParseInfoLines(lines, bad);
}

bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "ddd-dd" style shapes: 'd' a digit, anything else itself.
bool HasShape(const std::string& s, const std::string& shape) {
  if (s.size() != shape.size()) return false;
  for (size_t i = 0; i < s.size(); i++) {
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i])
      return false;
  }
  return true;
}

// Runs of whitespace as one space.
std::string Squeeze(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (out.empty() || out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// "N.N.N" with each N digits.
bool IsVersion(const std::string& v) {
  std::istringstream in(v);
  std::string part;
  int n = 0;
  while (std::getline(in, part, '.')) {
    if (!AllDigits(part)) return false;
    n++;
  }
  return n == 3;
}

void OpsTest::ExpectServing(ServerProcess* s, Client& c) {
  EXPECT_EQ(c.Call("PING", Scaled(3000)), "result: PONG");
  Client fresh = Connect(*s);
  EXPECT_EQ(fresh.Call("PING", Scaled(3000)), "result: PONG");
  EXPECT_FALSE(s->WaitExit(0)) << "the server exited: " << DescribeStatus(s->status());
}

}  // namespace it
