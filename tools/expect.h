/* expect: the reply a correct pool_server gives to one text request,
 * computed independently of the server's code (its own request parser, its
 * own segmented prime sieve, SHA-256 from OpenSSL libcrypto).
 *
 * Design: ex_expect() classifies a request line (without its '\n'; one
 * trailing '\r' is ignored like the server does) and writes the exact
 * expected reply line (without '\n') into a caller buffer. Replies whose
 * detail text may vary (invalid input) are matched by prefix; requests the
 * protocol leaves unspecified (e.g. STATS, PING with an argument) match any
 * line, so generators should not produce them. ex_match() compares a reply
 * with an expectation. Pure functions, no globals, any thread.
 */
#ifndef TOOLS_EXPECT_H
#define TOOLS_EXPECT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ex_kind {
  EX_EXACT = 1,   /* the reply must equal the text exactly */
  EX_INVALID,     /* the reply must start with EX_INVALID_PREFIX */
  EX_ANY,         /* unspecified by the protocol: any reply line */
};

#define EX_INVALID_PREFIX "ERROR: invalid input: "
#define EX_TOO_LONG "ERROR: line too long"
#define EX_BUSY "ERROR: server busy"
#define EX_TIMEOUT "ERROR: timeout"
#define EX_SHUTDOWN "ERROR: shutting down"

/* What a reply line is to its request: the expected answer, one of the
 * answers a correct server may give instead of doing the work (back-pressure,
 * --task-timeout-ms, shutdown), or wrong. */
enum ex_reply {
  EX_REPLY_OK,
  EX_REPLY_BUSY,     /* EX_BUSY */
  EX_REPLY_TIMEOUT,  /* EX_TIMEOUT */
  EX_REPLY_SHUTDOWN, /* EX_SHUTDOWN */
  EX_REPLY_WRONG,
  EX_REPLY_KINDS     /* the number of the above */
};

enum { EX_PRIMES_MAX = 2147483647, EX_SLEEP_MAX_MS = 60000 };

/* Bytes of buffer ex_expect needs for a request of req_len bytes. */
size_t ex_reply_cap(size_t req_len);

/* Computes the expected reply to the request line req[0..len) (no '\n').
 * Writes it (NUL-terminated, no '\n') into out[0..cap) and its length into
 * *out_len. Returns an enum ex_kind, or -ENOSPC if cap < ex_reply_cap(len),
 * -ENOMEM / -EIO if the sieve or libcrypto fail. */
int ex_expect(const char *req, size_t len, char *out, size_t cap, size_t *out_len);

/* 1 if the reply got[0..got_len) (no '\n') satisfies the expectation. */
int ex_match(int kind, const char *exp, size_t exp_len, const char *got, size_t got_len);

/* Classifies the reply got[0..got_len) (no '\n') to a request whose
 * expectation is (kind, exp, exp_len): one of enum ex_reply. The three
 * allowed errors are recognised before the expectation is tried, so a
 * request that matches any line (EX_ANY) still counts them apart. */
int ex_classify(int kind, const char *exp, size_t exp_len, const char *got, size_t got_len);

/* Number of primes <= n, by a segmented odd-only sieve (~40 KiB whatever n
 * is). Returns 0 and sets *count, or -ENOMEM. */
int ex_count_primes(uint32_t n, uint64_t *count);

/* Lower-case hex SHA-256 of data[0..len) into out (64 chars + NUL).
 * Returns 0 or -EIO. */
int ex_sha256_hex(const void *data, size_t len, char out[65]);

#ifdef __cplusplus
}
#endif
#endif
