/* expect: expected replies, computed independently of the server.
 * See expect.h. The parser here follows the protocol text literally:
 *   command = bytes before the first space (case-insensitive);
 *   argument = everything after that one space (possibly empty);
 *   numbers = 1..10 ASCII digits and nothing else, within range.
 */
#include "tools/expect.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>

enum { EX_SEG_BYTES = 32768 }; /* one segment: 32768 odd numbers */

size_t ex_reply_cap(size_t req_len) { return req_len + 80; }

int ex_sha256_hex(const void *data, size_t len, char out[65]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
    return -EIO;
  for (unsigned i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
  return 0;
}

static uint32_t ex_isqrt(uint32_t n) {
  uint64_t r = 0;
  while ((r + 1) * (r + 1) <= n) r++;  /* n < 2^31: at most 46341 steps */
  return (uint32_t)r;
}

int ex_count_primes(uint32_t n, uint64_t *count) {
  *count = 0;
  if (n < 2) return 0;
  uint32_t r = ex_isqrt(n);
  /* Small sieve over [0, r]: the odd primes <= sqrt(n). */
  unsigned char *small = calloc((size_t)r + 1, 1);
  uint32_t *base = malloc(((size_t)r / 2 + 1) * sizeof *base);
  unsigned char *seg = malloc(EX_SEG_BYTES);
  if (!small || !base || !seg) {
    free(small);
    free(base);
    free(seg);
    return -ENOMEM;
  }
  size_t nbase = 0;
  for (uint32_t i = 3; i <= r; i += 2) {
    if (small[i]) continue;
    base[nbase++] = i;
    for (uint64_t j = (uint64_t)i * i; j <= r; j += 2 * (uint64_t)i) small[j] = 1;
  }
  uint64_t c = 1; /* the prime 2 */
  /* Segments of odd numbers: seg[k] stands for lo + 2k, lo odd. */
  for (uint64_t lo = 3; lo <= n; lo += 2 * (uint64_t)EX_SEG_BYTES) {
    uint64_t hi = lo + 2 * (uint64_t)EX_SEG_BYTES; /* exclusive */
    if (hi > (uint64_t)n + 1) hi = (uint64_t)n + 1;
    size_t cnt = (size_t)((hi - lo + 1) / 2);
    memset(seg, 0, cnt);
    for (size_t b = 0; b < nbase; b++) {
      uint64_t p = base[b];
      uint64_t m = p * p;
      if (m >= hi) break;
      if (m < lo) {
        m = (lo + p - 1) / p * p;
        if (m % 2 == 0) m += p;
      }
      for (; m < hi; m += 2 * p) seg[(m - lo) / 2] = 1;
    }
    for (size_t k = 0; k < cnt; k++) c += !seg[k];
  }
  free(small);
  free(base);
  free(seg);
  *count = c;
  return 0;
}

/* Strict decimal: 1..10 digits, value <= max. 0 on success. */
static int ex_parse_num(const char *s, size_t len, uint64_t max, uint64_t *v) {
  if (len == 0 || len > 10) return -1;
  uint64_t x = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  if (x > max) return -1;
  *v = x;
  return 0;
}

static int ex_is(const char *cmd, size_t len, const char *name) {
  return strlen(name) == len && strncasecmp(cmd, name, len) == 0;
}

static int ex_put(char *out, size_t cap, size_t *out_len, const char *a,
                  const char *b, size_t blen) {
  size_t alen = strlen(a);
  if (alen + blen + 1 > cap) return -ENOSPC;
  memcpy(out, a, alen);
  if (blen) memcpy(out + alen, b, blen);
  out[alen + blen] = '\0';
  *out_len = alen + blen;
  return EX_EXACT;
}

static int ex_invalid(char *out, size_t cap, size_t *out_len) {
  int rc = ex_put(out, cap, out_len, EX_INVALID_PREFIX, NULL, 0);
  return rc < 0 ? rc : EX_INVALID;
}

/* 2 * n hex digits (either case) at s into out. 0, or -1. */
static int ex_unhex(const char *s, unsigned char *out, size_t n) {
  for (size_t i = 0; i < 2 * n; i++) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) return -1;
    if (i % 2 == 0) out[i / 2] = (unsigned char)(v << 4);
    else out[i / 2] |= (unsigned char)v;
  }
  return 0;
}

/* Ed25519 through libcrypto, the tool's own call: 1 valid, 0 not, -1 error. */
static int ex_ed25519_verify(const unsigned char key[32], const unsigned char sig[64],
                             const char *msg, size_t len) {
  EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
  if (!pk) return 0; /* not a key libcrypto loads: nothing verifies */
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int rc = -1;
  if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1)
    rc = EVP_DigestVerify(ctx, sig, 64, (const unsigned char *)msg, len) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  ERR_clear_error();
  return rc;
}

int ex_expect(const char *req, size_t len, char *out, size_t cap, size_t *out_len) {
  if (cap < ex_reply_cap(len)) return -ENOSPC;
  *out_len = 0;
  out[0] = '\0';
  if (len > 0 && req[len - 1] == '\r') len--;
  if (len == 0) return ex_invalid(out, cap, out_len);
  if (req[0] == '*') return EX_ANY; /* RESP2 framing: not this module's job */
  const char *sp = memchr(req, ' ', len);
  size_t cmd_len = sp ? (size_t)(sp - req) : len;
  const char *arg = sp ? sp + 1 : NULL;
  size_t arg_len = sp ? len - cmd_len - 1 : 0;
  uint64_t n;

  if (ex_is(req, cmd_len, "PING"))
    return arg ? EX_ANY : ex_put(out, cap, out_len, "result: PONG", NULL, 0);
  if (ex_is(req, cmd_len, "ECHO")) {
    if (!arg) return ex_invalid(out, cap, out_len);
    return ex_put(out, cap, out_len, "result: ", arg, arg_len);
  }
  if (ex_is(req, cmd_len, "HASH")) {
    char hex[65];
    if (!arg) return ex_invalid(out, cap, out_len);
    if (ex_sha256_hex(arg, arg_len, hex) < 0) return -EIO;
    return ex_put(out, cap, out_len, "result: ", hex, 64);
  }
  if (ex_is(req, cmd_len, "PRIMES")) {
    char num[24];
    uint64_t c;
    if (!arg || ex_parse_num(arg, arg_len, EX_PRIMES_MAX, &n) < 0)
      return ex_invalid(out, cap, out_len);
    if (ex_count_primes((uint32_t)n, &c) < 0) return -ENOMEM;
    int k = snprintf(num, sizeof num, "%" PRIu64, c);
    return ex_put(out, cap, out_len, "result: ", num, (size_t)k);
  }
  if (ex_is(req, cmd_len, "SLEEP")) {
    char num[24];
    if (!arg || ex_parse_num(arg, arg_len, EX_SLEEP_MAX_MS, &n) < 0)
      return ex_invalid(out, cap, out_len);
    int k = snprintf(num, sizeof num, "slept %" PRIu64, n);
    return ex_put(out, cap, out_len, "result: ", num, (size_t)k);
  }
  if (ex_is(req, cmd_len, "VERIFY")) { /* <key: 64 hex> <sig: 128 hex> <message...> */
    unsigned char key[32], sig[64];
    if (!arg || arg_len < 64 + 1 + 128 + 1 || arg[64] != ' ' || arg[64 + 1 + 128] != ' ' ||
        ex_unhex(arg, key, sizeof key) < 0 || ex_unhex(arg + 65, sig, sizeof sig) < 0)
      return ex_invalid(out, cap, out_len);
    int v = ex_ed25519_verify(key, sig, arg + 194, arg_len - 194);
    if (v < 0) return -EIO;
    return ex_put(out, cap, out_len, v ? "result: ok" : "result: bad signature", NULL, 0);
  }
  /* Server extras outside the text protocol spec: any reply is fine. */
  static const char *const extras[] = {"STATS", "INFO", "QUIT", "COMMAND", "CONFIG", "HELLO",
                                       "CLIENT"};
  for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++)
    if (ex_is(req, cmd_len, extras[i])) return EX_ANY;
  return ex_invalid(out, cap, out_len);
}

int ex_match(int kind, const char *exp, size_t exp_len, const char *got, size_t got_len) {
  switch (kind) {
  case EX_EXACT:
    return got_len == exp_len && memcmp(exp, got, exp_len) == 0;
  case EX_INVALID: {
    size_t p = sizeof EX_INVALID_PREFIX - 1;
    return got_len >= p && memcmp(got, EX_INVALID_PREFIX, p) == 0;
  }
  case EX_ANY:
    return 1;
  default:
    return 0;
  }
}

static int ex_is_line(const char *got, size_t got_len, const char *line) {
  return got_len == strlen(line) && memcmp(got, line, got_len) == 0;
}

int ex_classify(int kind, const char *exp, size_t exp_len, const char *got, size_t got_len) {
  if (ex_is_line(got, got_len, EX_BUSY)) return EX_REPLY_BUSY;
  if (ex_is_line(got, got_len, EX_TIMEOUT)) return EX_REPLY_TIMEOUT;
  if (ex_is_line(got, got_len, EX_SHUTDOWN)) return EX_REPLY_SHUTDOWN;
  return ex_match(kind, exp, exp_len, got, got_len) ? EX_REPLY_OK : EX_REPLY_WRONG;
}
