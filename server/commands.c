/* commands: HASH, PRIMES and SLEEP (see commands.h).
 *
 * Design
 *  - cmd_hash: one-shot SHA-256 through OpenSSL's EVP interface. cmd_init
 *    runs one hash before any thread exists, so OpenSSL's lazy set-up is
 *    done single-threaded (see commands.h).
 *  - cmd_primes: segmented sieve of Eratosthenes over odd numbers only.
 *    Index i stands for the odd number 2i+1. The base primes (odd primes
 *    up to sqrt(n) <= 46340, 4791 of them) are found with a small plain
 *    sieve, then each SEGMENT-byte window of indices is sieved with them
 *    and its survivors counted. Memory is fixed whatever n is: the
 *    segment, the base primes and their next multiples, about 60 KiB of
 *    stack in all. Cancellation is polled once per segment (tens of us).
 *  - cmd_sleep: absolute CLOCK_MONOTONIC deadlines on a 10 ms grid from the
 *    start, so slices do not drift and EINTR just retries the same slice.
 *
 * Invariants: no allocation, no globals; every call is independent, so any
 * number of threads may run them at once. `cancelled` may be NULL.
 */
#include "server/commands.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

/* ---- HASH --------------------------------------------------------------- */

int cmd_init(void) {
  char out[65];
  return cmd_hash("", 0, out); /* the same path every HASH takes */
}

int cmd_hash(const void *data, size_t len, char out[65]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;

  if (data == NULL && len > 0)
    return -EINVAL;
  if (EVP_Digest(data != NULL ? data : "", len, md, &md_len, EVP_sha256(),
                 NULL) != 1 ||
      md_len != 32)
    return -EIO;
  for (unsigned int i = 0; i < md_len; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
  return 0;
}

/* ---- PRIMES ------------------------------------------------------------- */

enum {
  SEGMENT = 32 * 1024, /* bytes (= odd numbers) per window; fits in L1 */
  BASE_LIMIT = 46340,  /* floor(sqrt(2^31 - 1)) */
  BASE_MAX = 4800,     /* > 4791 odd primes <= BASE_LIMIT */
};

static int is_cancelled(cmd_cancel_fn cancelled, const void *ctx) {
  return cancelled != NULL && cancelled(ctx) != 0;
}

static uint32_t isqrt32(uint32_t n) {
  uint32_t r = 0;
  /* Largest r with r*r <= n, by binary search over 0..65535. */
  for (uint32_t bit = 1u << 15; bit != 0; bit >>= 1) {
    uint32_t t = r | bit;
    if ((uint64_t)t * t <= n)
      r = t;
  }
  return r;
}

/* Odd primes 3..limit (limit <= BASE_LIMIT) into primes[]; uses sieve[] of
 * at least limit/2 + 1 bytes as scratch. Returns how many. */
static size_t base_primes(uint32_t limit, unsigned char *sieve,
                          uint16_t *primes) {
  size_t count = 0, top = limit / 2; /* index i <-> 2i+1; top is the last */

  memset(sieve, 0, top + 1);
  for (size_t i = 1; i <= top; i++) {
    if (sieve[i])
      continue;
    size_t p = 2 * i + 1;
    primes[count++] = (uint16_t)p;
    for (size_t j = (p * p) / 2; j <= top; j += p)
      sieve[j] = 1;
  }
  return count;
}

int cmd_primes(uint32_t n, cmd_cancel_fn cancelled, const void *ctx,
               uint64_t *count) {
  unsigned char seg[SEGMENT];
  uint16_t primes[BASE_MAX];
  uint32_t next[BASE_MAX]; /* next index to cross off, per base prime */

  if (n > 2147483647u)
    return -EINVAL;
  if (is_cancelled(cancelled, ctx))
    return -ECANCELED;
  if (n < 2) {
    *count = 0;
    return 0;
  }

  size_t nbase = base_primes(isqrt32(n), seg, primes);
  for (size_t k = 0; k < nbase; k++)
    next[k] = (uint32_t)primes[k] * primes[k] / 2;

  uint64_t total = 1;          /* the prime 2 */
  uint32_t last = (n - 1) / 2; /* index of the largest odd number <= n */
  for (uint32_t lo = 1; lo <= last; lo += SEGMENT) {
    if (is_cancelled(cancelled, ctx))
      return -ECANCELED;
    uint32_t size = last - lo + 1 < SEGMENT ? last - lo + 1 : SEGMENT;
    uint32_t hi = lo + size; /* this window: indices lo..hi-1 */

    memset(seg, 0, size);
    for (size_t k = 0; k < nbase; k++) {
      uint32_t j = next[k], p = primes[k];
      for (; j < hi; j += p)
        seg[j - lo] = 1;
      next[k] = j;
    }
    for (uint32_t i = 0; i < size; i++)
      total += seg[i] == 0;
  }
  *count = total;
  return 0;
}

/* ---- SLEEP -------------------------------------------------------------- */

enum { SLICE_NS = 10 * 1000 * 1000L };

/* t + ns, normalised. */
static struct timespec ts_add(struct timespec t, long long ns) {
  t.tv_sec += (time_t)(ns / 1000000000LL);
  t.tv_nsec += (long)(ns % 1000000000LL);
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

int cmd_sleep(unsigned ms, cmd_cancel_fn cancelled, const void *ctx) {
  struct timespec start;
  long long total_ns = (long long)ms * 1000000LL, done_ns = 0;

  if (clock_gettime(CLOCK_MONOTONIC, &start) != 0)
    return -errno;
  for (;;) {
    if (done_ns >= total_ns)
      return 0;
    if (is_cancelled(cancelled, ctx))
      return -ECANCELED;
    /* Next stop on the grid start + 10 ms, 20 ms, ... capped at the end. */
    long long stop_ns = done_ns + SLICE_NS < total_ns ? done_ns + SLICE_NS
                                                      : total_ns;
    struct timespec stop = ts_add(start, stop_ns);
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &stop, NULL);
    if (rc == EINTR)
      continue; /* same deadline again */
    if (rc != 0)
      return -rc;
    done_ns = stop_ns;
  }
}
