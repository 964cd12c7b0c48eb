#include "tests/server_it/it_env.h"

#include "tests/testlib/testenv.h"

#include <cstdlib>
#include <ctime>

namespace it {
namespace {
std::string g_binary;
}

const std::string& ServerBinary() { return g_binary; }
void SetServerBinary(const std::string& path) { g_binary = path; }

bool UnderValgrind() { return te_under_valgrind() != 0; }

bool UnderTsan() {
#if defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

static bool UnderSanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

int Scale() {
  if (UnderValgrind()) return 10;
  if (UnderSanitizer()) return 3;
  return 1;
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string TempDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr && *d != '\0' ? std::string(d) : std::string("/tmp");
}

}  // namespace it
