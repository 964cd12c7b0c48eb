/* PRIMES <n>: how many primes are <= n (0 <= n <= 2147483647), on the pool.
 *
 * cmd_primes: segmented sieve of Eratosthenes over odd numbers only. Index
 * i stands for the odd number 2i+1. The base primes (odd primes up to
 * sqrt(n) <= 46340, 4791 of them) are found with a small plain sieve, then
 * each SEGMENT-byte window of indices is sieved with them and its
 * survivors counted. Memory is fixed whatever n is: the segment, the base
 * primes and their next multiples, about 60 KiB of stack in all.
 * Cancellation is polled once per segment (tens of microseconds).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/command.h"
#include "server/commands.h"

enum {
  SEGMENT = 32 * 1024, /* bytes (= odd numbers) per window; fits in L1 */
  BASE_LIMIT = 46340,  /* floor(sqrt(2^31 - 1)) */
  BASE_MAX = 4800,     /* > 4791 odd primes <= BASE_LIMIT */
};

static int primes_cancelled(cmd_cancel_fn cancelled, const void *ctx) {
  return cancelled != NULL && cancelled(ctx) != 0;
}

static uint32_t primes_isqrt32(uint32_t n) {
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
static size_t primes_base(uint32_t limit, unsigned char *sieve,
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
  if (primes_cancelled(cancelled, ctx))
    return -ECANCELED;
  if (n < 2) {
    *count = 0;
    return 0;
  }

  size_t nbase = primes_base(primes_isqrt32(n), seg, primes);
  for (size_t k = 0; k < nbase; k++)
    next[k] = (uint32_t)primes[k] * primes[k] / 2;

  uint64_t total = 1;          /* the prime 2 */
  uint32_t last = (n - 1) / 2; /* index of the largest odd number <= n */
  for (uint32_t lo = 1; lo <= last; lo += SEGMENT) {
    if (primes_cancelled(cancelled, ctx))
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


/* ---- the command -------------------------------------------------------- */

struct primes_job {
  uint32_t n;
  uint64_t count;
};

static const char primes_usage[] = "PRIMES needs an integer 0..2147483647";

static int primes_check(const struct cmd_args *a, char *err, size_t errlen) {
  return cmd_check_u64(a, 0, CMD_PRIMES_MAX, primes_usage, err, errlen);
}

static void primes_prepare(void *job, const struct cmd_args *a) {
  struct primes_job *j = job;
  uint64_t n = 0;
  (void)cmd_arg_u64(a, 0, CMD_PRIMES_MAX, &n); /* checked */
  j->n = (uint32_t)n;
}

static int primes_run(void *job, cmd_cancel_fn cancelled, const void *ctx, const char **error) {
  struct primes_job *j = job;
  int rc = cmd_primes(j->n, cancelled, ctx, &j->count);
  if (rc < 0 && rc != -ECANCELED) *error = "internal error";
  return rc;
}

static void primes_reply(const void *job, int resp, struct pr_reply *out) {
  const struct primes_job *j = job;
  pr_reply_int(out, resp, j->count);
}

const struct cmd_def cmd_def_primes = {
    .name = "primes", .usage = primes_usage, .min_args = 1, .max_args = 1,
    .where = CMD_POOL, .check = primes_check, .job_size = sizeof(struct primes_job),
    .prepare = primes_prepare, .run = primes_run, .reply = primes_reply,
};
