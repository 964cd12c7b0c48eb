// Shared environment of the server integration tests: where the server
// binary is, how much slower this run is (sanitizers, Helgrind), and clocks.
#ifndef TESTS_SERVER_IT_IT_ENV_H
#define TESTS_SERVER_IT_IT_ENV_H

#include <cstdint>
#include <string>

namespace it {

// The pool_server path, from argv[1] (set by it_main.cc).
const std::string& ServerBinary();
void SetServerBinary(const std::string& path);

// True when the test (and the server it starts) runs under Valgrind.
bool UnderValgrind();
// True when this build uses ThreadSanitizer (the server is built the same
// way): its runtime adds a background thread to every process.
bool UnderTsan();
// 1 normally, 3 under ASan/TSan, 10 under Valgrind. Deadlines and the
// durations of work the server does are multiplied by it; checks are not.
int Scale();
inline int Scaled(int ms) { return ms * Scale(); }

// Monotonic milliseconds.
int64_t NowMs();

// A directory for scratch files (TEST_TMPDIR under Bazel).
std::string TempDir();

}  // namespace it

#endif
