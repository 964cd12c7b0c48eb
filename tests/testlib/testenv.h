/* testenv: facts about the run a test is in, written once for every test
 * (C and C++). Header-only; no state.
 *
 * UNDER_VALGRIND is set by the helgrind configuration (.bazelrc), where
 * the test binary and every program it starts run under Valgrind: tests
 * scale their loop counts and deadlines by it, never their checks.
 */
#ifndef TESTS_TESTLIB_TESTENV_H
#define TESTS_TESTLIB_TESTENV_H

#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int te_under_valgrind(void) {
  const char *v = getenv("UNDER_VALGRIND");
  return v != NULL && *v != '\0' && *v != '0';
}

#ifdef __cplusplus
}
#endif
#endif
