/* strnum: strict decimal numbers (see strnum.h). Checked against max after
 * every digit, so nothing can wrap whatever the length of the input. */
#include "base/strnum.h"

#include <errno.h>
#include <string.h>

int num_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out) {
  if (s == NULL || len == 0) return -EINVAL;
  uint64_t v = 0;
  int over = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -EINVAL;
    unsigned d = (unsigned)(s[i] - '0');
    if (!over && (d > max || v > (max - d) / 10)) over = 1; /* v * 10 + d > max */
    if (!over) v = v * 10 + d;
  }
  if (over) return -ERANGE;
  *out = v;
  return 0;
}

int num_parse_u64_str(const char *s, uint64_t max, uint64_t *out) {
  return num_parse_u64(s, s ? strlen(s) : 0, max, out);
}
