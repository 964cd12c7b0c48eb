/* mix: the weighted request mix of stress_test and its seeded random choice.
 *
 * Syntax of a mix (the --mix flag):
 *   mix   = entry *( "," entry )
 *   entry = *SP request "=" weight
 * request is a request line as sent (no '\r', '\n' or ','; it may contain
 * '=': the weight is after the entry's last '='), weight a decimal integer
 * 1..MIX_MAX_WEIGHT (base/strnum: digits only). Spaces before an entry are
 * skipped; every other byte is literal, so "HASH abc =1" hashes "abc ".
 * At most MIX_MAX_ENTRIES entries. Example: "HASH abc=90,SLEEP 50=10".
 *
 * Choice: entry i owns the integers [cum[i] - weight[i], cum[i]) of
 * [0, total); mix_pick maps one such integer to its entry, and mix_draw
 * draws it from a splitmix64 stream. Each connection has its own stream,
 * seeded from (seed, connection index), so connection c's k-th request is
 * the same in every run with the same seed, mix and connection count,
 * whatever the timing. (The modulo bias of drawing from 2^64 values is
 * below total / 2^64, under 2^-37.)
 *
 * Ownership: a struct mix owns its entries' lines; mix_free releases them.
 * Not thread-safe (one owner); pure functions otherwise. Errors are 0 or a
 * negative errno.
 */
#ifndef TOOLS_MIX_H
#define TOOLS_MIX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { MIX_MAX_ENTRIES = 64, MIX_MAX_WEIGHT = 1000000 };

struct mix_entry {
  char *line;      /* the request, NUL-terminated, without '\n' */
  size_t len;
  uint64_t weight;
  uint64_t cum;    /* weights of entries 0..i, inclusive */
};

struct mix {
  struct mix_entry *e;
  size_t n;
  uint64_t total;  /* sum of the weights */
};

/* An empty mix (no allocation). */
void mix_init(struct mix *m);

/* Appends line[0..len) with weight. -EINVAL if the line is empty or holds
 * '\r' or '\n', or the weight is not 1..MIX_MAX_WEIGHT; -ENOSPC past
 * MIX_MAX_ENTRIES; -ENOMEM. The mix is unchanged on error. */
int mix_add(struct mix *m, const char *line, size_t len, uint64_t weight);

/* Parses spec (syntax above) into m, which must be empty. 0, or -EINVAL
 * with a one-line reason in err[0..errlen) (m is then empty again), or
 * -ENOMEM. */
int mix_parse(const char *spec, struct mix *m, char *err, size_t errlen);

void mix_free(struct mix *m);

/* The entry that owns u, for u < m->total (m not empty). */
size_t mix_pick(const struct mix *m, uint64_t u);

/* The random stream of connection `stream` under `seed`. */
uint64_t mix_rng_seed(uint64_t seed, uint64_t stream);
/* The next 64 random bits of *state (splitmix64). */
uint64_t mix_rng_next(uint64_t *state);
/* Draws an entry of m (not empty) from *state. */
size_t mix_draw(const struct mix *m, uint64_t *state);

#ifdef __cplusplus
}
#endif
#endif
