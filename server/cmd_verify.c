/* VERIFY <public key> <signature> <message>: checks an Ed25519 signature
 * (RFC 8032, pure Ed25519) of the message with OpenSSL's libcrypto, on the
 * pool. The key is 64 hex digits (32 bytes), the signature 128 (64 bytes),
 * either case; the message is the rest of the line, as HASH takes it (in
 * RESP, the third bulk string). Answers "ok" or "bad signature".
 *
 * DESIGN
 * cmd_verify is one EVP_DigestVerify: the raw key is loaded with
 * EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519), the context initialised
 * with no digest (Ed25519 hashes internally with SHA-512) and the message
 * verified in one shot. Every call makes and frees its own key and
 * context: nothing is shared between workers but libcrypto itself, which
 * OpenSSL 3 makes thread-safe once its lazy set-up is done. Its init
 * (verify_init, run by cmd_init before any worker exists) does that
 * set-up (loading the Ed25519 key manager and signature
 * implementation from the default provider) happens single-threaded.
 *
 * Decisions:
 *  - A public key that is not a curve point cannot verify anything: "bad
 *    signature". OpenSSL 3 loads any 32 bytes as an Ed25519 key (it decodes
 *    the point only when verifying), so a bad key is never an "invalid
 *    input" error; only the lengths and the hex digits are.
 *  - VERIFY is OpenSSL's verification, no stricter: it does not refuse
 *    small-order public keys (RFC 8032 does not ask it to; for the
 *    identity, 01 00 .. 00, the signature R = identity, S = 0 verifies
 *    every message) nor a key's non-canonical encoding (y >= p, which
 *    OpenSSL 3.0 decodes). It says whether the signature is valid for the
 *    key given, not whether the key deserves trust; tests pin both, and
 *    the README says so. No hand-written curve checks: that would be
 *    writing crypto here.
 *  - The message may be empty: in text, "VERIFY <key> <sig> " (a space,
 *    then nothing) verifies the empty message; "VERIFY <key> <sig>" with
 *    no space has two arguments, a usage error.
 *  - Bad arguments get the usage text in text framing; in RESP a wrong
 *    count gets Redis's wording, bad hex the usage text (as PRIMES does).
 *  - After a failed verification the thread's OpenSSL error queue is
 *    cleared, so no stale error outlives the request on a worker.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "server/command.h"
#include "server/commands.h"

enum { VERIFY_KEY_BYTES = 32, VERIFY_SIG_BYTES = 64 };

int cmd_verify(const unsigned char pub[32], const unsigned char sig[64], const void *msg,
               size_t len) {
  if (pub == NULL || sig == NULL || (msg == NULL && len > 0)) return -EINVAL;
  /* OpenSSL 3 loads any 32 bytes (see above): NULL is running out of memory
   * or a missing Ed25519 implementation, not a bad key. */
  EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, VERIFY_KEY_BYTES);
  if (key == NULL) {
    ERR_clear_error();
    return -ENOMEM;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return -ENOMEM;
  }
  int rc;
  if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1) {
    rc = -EIO;
  } else {
    /* 1: valid; 0: it does not verify (a bad point, S out of range, or a
     * wrong signature); anything else: libcrypto failed. */
    int v = EVP_DigestVerify(ctx, sig, VERIFY_SIG_BYTES,
                             msg != NULL ? msg : (const void *)"", len);
    rc = v == 1 ? 0 : v == 0 ? 1 : -EIO;
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (rc != 0) ERR_clear_error();
  return rc;
}

/* RFC 8032 section 7.1, TEST 1 (the empty message). */
static const unsigned char verify_t1_pub[VERIFY_KEY_BYTES] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};
static const unsigned char verify_t1_sig[VERIFY_SIG_BYTES] = {
    0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80, 0x6e, 0x82, 0x8a,
    0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49, 0x01, 0x55,
    0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b,
    0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b,
};

static int verify_init(void) {
  /* A good and a bad signature: both paths every VERIFY may take. A
   * libcrypto without Ed25519 shows here, at start-up. */
  unsigned char sig[VERIFY_SIG_BYTES];
  memcpy(sig, verify_t1_sig, sizeof sig);
  int rc = cmd_verify(verify_t1_pub, sig, "", 0);
  if (rc != 0) return rc < 0 ? rc : -EIO;
  sig[0] ^= 1;
  rc = cmd_verify(verify_t1_pub, sig, "", 0);
  return rc == 1 ? 0 : rc < 0 ? rc : -EIO;
}


/* ---- the command -------------------------------------------------------- */

struct verify_job {
  unsigned char pub[VERIFY_KEY_BYTES];
  unsigned char sig[VERIFY_SIG_BYTES];
  struct pr_span msg;  /* the request's copy */
  int bad;             /* run's answer: 1 for "bad signature" */
};

static const char verify_usage[] =
    "VERIFY needs <public key: 64 hex> <signature: 128 hex> <message>";

static int verify_check(const struct cmd_args *a, char *err, size_t errlen) {
  unsigned char pub[VERIFY_KEY_BYTES], sig[VERIFY_SIG_BYTES];
  if (cmd_arg_hex(a, 0, pub, sizeof pub) == 0 && cmd_arg_hex(a, 1, sig, sizeof sig) == 0) return 0;
  snprintf(err, errlen, "%s", verify_usage);
  return -EINVAL;
}

static void verify_prepare(void *job, const struct cmd_args *a) {
  struct verify_job *j = job;
  (void)cmd_arg_hex(a, 0, j->pub, sizeof j->pub); /* checked */
  (void)cmd_arg_hex(a, 1, j->sig, sizeof j->sig);
  j->msg = a->v[2];
  j->bad = 1;
}

static int verify_run(void *job, cmd_cancel_fn cancelled, const void *ctx, const char **error) {
  (void)cancelled; /* tens of microseconds: nothing to poll */
  (void)ctx;
  struct verify_job *j = job;
  int rc = cmd_verify(j->pub, j->sig, j->msg.p, j->msg.len);
  if (rc < 0) {
    *error = "internal error";
    return rc;
  }
  j->bad = rc;
  return 0;
}

static void verify_reply(const void *job, int resp, struct pr_reply *out) {
  static const char ok[] = "ok", bad[] = "bad signature";
  const struct verify_job *j = job;
  if (j->bad) pr_reply_ok(out, resp, bad, sizeof bad - 1);
  else pr_reply_ok(out, resp, ok, sizeof ok - 1);
}

const struct cmd_def cmd_def_verify = {
    .name = "verify", .usage = verify_usage, .min_args = 3, .max_args = 3,
    .where = CMD_POOL, .check = verify_check, .job_size = sizeof(struct verify_job),
    .init = verify_init, .prepare = verify_prepare, .run = verify_run, .reply = verify_reply,
};
