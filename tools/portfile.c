/* portfile: see portfile.h. */
#include "tools/portfile.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strnum.h"

int pf_make_path(char *buf, size_t len, const char *tag) {
  static atomic_uint seq;
  const char *dir = getenv("TEST_TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  int n = snprintf(buf, len, "%s/%s-%d-%u.port", dir, tag, (int)getpid(),
                   atomic_fetch_add(&seq, 1) + 1);
  return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int pf_read(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) return errno == ENOENT ? 0 : -errno;
  char line[32];
  int ok = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  if (!ok) return -EINVAL;
  uint64_t port;
  if (num_parse_u64(line, strcspn(line, "\n"), 65535, &port) < 0 || port == 0) return -EINVAL;
  return (int)port;
}
