/* portfile: learning the port of a server started with --port 0
 * --port-file PATH, written once for every C and C++ caller (the 30-client
 * harness, the integration tests' ServerProcess). The server writes the
 * file atomically (rename) once it listens, so a reader sees the whole
 * number or no file. Shell and Python callers read the same file.
 *
 * Any thread; no state. Errors: negative errno.
 */
#ifndef TOOLS_PORTFILE_H
#define TOOLS_PORTFILE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A fresh path for a port file: under $TEST_TMPDIR (Bazel) or /tmp, named
 * from tag, the process id and a counter. 0, or -ENAMETOOLONG. */
int pf_make_path(char *buf, size_t len, const char *tag);

/* The port in the file: > 0 once the server has written it, 0 while the
 * file does not exist yet, or a negative errno (a malformed file). */
int pf_read(const char *path);

#ifdef __cplusplus
}
#endif
#endif
