// Helpers shared by the net tests.
#ifndef TESTS_NET_TEST_UTIL_H
#define TESTS_NET_TEST_UTIL_H

#include "tests/testlib/testenv.h"

#include <dirent.h>

#include <cstdlib>

namespace nettest {

// Open file descriptors of this process: every test checks it returns to
// its starting value, which proves nothing leaked and nothing was closed
// twice.
inline int CountFds() {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (struct dirent *e = readdir(d))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;  // the DIR's own fd
}

// Set by ci/helgrind.sh runs: scale loop counts down, never checks.
inline bool UnderValgrind() { return te_under_valgrind() != 0; }  // tests/testlib

}  // namespace nettest

#endif
