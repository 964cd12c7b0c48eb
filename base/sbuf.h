/* sbuf: a growable byte string for building replies (STATS, INFO, the
 * /metrics page). Appends never fail half-way: on allocation failure the
 * buffer keeps what it had and remembers the failure (sbuf_failed), so a
 * builder can append freely and check once at the end.
 *
 * Ownership: the caller owns the struct; sbuf_free releases its memory;
 * sbuf_reset empties it and keeps the memory for the next use. Not
 * thread-safe: one thread per buffer.
 */
#ifndef BASE_SBUF_H
#define BASE_SBUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sbuf {
  char *data;  /* NUL-terminated when len > 0 */
  size_t len, cap;
  int failed;  /* an append did not fit in memory */
};

#define SBUF_INIT {NULL, 0, 0, 0}

void sbuf_reset(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_append(struct sbuf *b, const void *p, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int sbuf_failed(const struct sbuf *b) { return b->failed; }

#ifdef __cplusplus
}
#endif
#endif
