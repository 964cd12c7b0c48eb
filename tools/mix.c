/* mix: the weighted request mix (see mix.h).
 *
 * DESIGN: entries live in one array grown by mix_add; each keeps the
 * cumulative weight up to itself, so a pick is a binary search over cum.
 * mix_parse walks the spec once, entry by entry (comma-separated), splits
 * each at its last '=', and hands request and weight to mix_add, which does
 * every check on the request; the parser itself only words the error. Any
 * failure leaves the mix empty, so the caller has one thing to free. The
 * random stream is splitmix64: a 64-bit counter stepped by an odd constant
 * and scrambled, which is enough to spread picks and is fully determined by
 * its seed.
 */
#include "tools/mix.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strnum.h"

void mix_init(struct mix *m) {
  m->e = NULL;
  m->n = 0;
  m->total = 0;
}

int mix_add(struct mix *m, const char *line, size_t len, uint64_t weight) {
  if (len == 0 || memchr(line, '\r', len) || memchr(line, '\n', len)) return -EINVAL;
  if (weight < 1 || weight > MIX_MAX_WEIGHT) return -EINVAL;
  if (m->n == MIX_MAX_ENTRIES) return -ENOSPC;
  char *copy = malloc(len + 1);
  if (!copy) return -ENOMEM;
  struct mix_entry *e = realloc(m->e, (m->n + 1) * sizeof *e);
  if (!e) {
    free(copy);
    return -ENOMEM;
  }
  memcpy(copy, line, len);
  copy[len] = '\0';
  m->e = e;
  m->total += weight;
  m->e[m->n] = (struct mix_entry){copy, len, weight, m->total};
  m->n++;
  return 0;
}

void mix_free(struct mix *m) {
  for (size_t i = 0; i < m->n; i++) free(m->e[i].line);
  free(m->e);
  mix_init(m);
}

/* Writes "mix entry K 'TEXT': WHY" into err and returns -EINVAL. */
static int mix_fail(char *err, size_t errlen, size_t k, const char *s, size_t len,
                    const char *fmt, ...) {
  if (errlen == 0) return -EINVAL;
  int w = snprintf(err, errlen, "mix entry %zu '%.*s': ", k, (int)(len > 60 ? 60 : len), s);
  if (w >= 0 && (size_t)w < errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + w, errlen - (size_t)w, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}

/* Parses one entry s[0..len) (leading spaces already skipped) into m. */
static int mix_parse_entry(struct mix *m, size_t k, const char *s, size_t len, char *err,
                           size_t errlen) {
  if (len == 0) return mix_fail(err, errlen, k, s, len, "empty entry");
  const char *eq = NULL;
  for (size_t i = len; i > 0 && !eq; i--)
    if (s[i - 1] == '=') eq = s + i - 1;
  if (!eq) return mix_fail(err, errlen, k, s, len, "no '=WEIGHT'");
  size_t req_len = (size_t)(eq - s);
  if (req_len == 0) return mix_fail(err, errlen, k, s, len, "empty request");
  uint64_t w = 0;
  int rc = num_parse_u64(eq + 1, len - req_len - 1, MIX_MAX_WEIGHT, &w);
  if (rc < 0 || w == 0)
    return mix_fail(err, errlen, k, s, len, "weight must be an integer 1..%d", MIX_MAX_WEIGHT);
  rc = mix_add(m, s, req_len, w);
  if (rc == -EINVAL) return mix_fail(err, errlen, k, s, len, "request holds CR or LF");
  if (rc == -ENOSPC)
    return mix_fail(err, errlen, k, s, len, "more than %d entries", MIX_MAX_ENTRIES);
  return rc;
}

int mix_parse(const char *spec, struct mix *m, char *err, size_t errlen) {
  if (errlen) err[0] = '\0';
  if (m->n != 0) return -EINVAL;
  if (!spec || !*spec) {
    if (errlen) snprintf(err, errlen, "empty mix");
    return -EINVAL;
  }
  const char *p = spec;
  for (size_t k = 1;; k++) {
    while (*p == ' ') p++;
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    int rc = mix_parse_entry(m, k, p, len, err, errlen);
    if (rc < 0) {
      mix_free(m);
      return rc;
    }
    if (!comma) return 0;
    p = comma + 1;
  }
}

size_t mix_pick(const struct mix *m, uint64_t u) {
  size_t lo = 0, hi = m->n - 1; /* the answer is in [lo, hi] */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (u < m->e[mid].cum) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

uint64_t mix_rng_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

uint64_t mix_rng_seed(uint64_t seed, uint64_t stream) {
  uint64_t s = seed ^ (stream * 0xd1b54a32d192ed03u);
  return mix_rng_next(&s); /* scrambled: nearby streams start far apart */
}

size_t mix_draw(const struct mix *m, uint64_t *state) {
  return mix_pick(m, mix_rng_next(state) % m->total);
}
