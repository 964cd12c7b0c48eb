/* HASH <text>: the lower-case hex SHA-256 of the rest of the line (or of
 * the RESP bulk string), computed on the pool by OpenSSL's libcrypto.
 *
 * cmd_hash: one-shot SHA-256 through the EVP interface. Its init runs one
 * hash before any worker exists (cmd_init), so OpenSSL's lazy set-up is
 * done single-threaded. No allocation, no globals.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "server/command.h"
#include "server/commands.h"

/* One hash before any worker exists: OpenSSL's lazy set-up, done by
 * concurrent first HASHes instead, has benign races Helgrind reports. */
static int hash_init(void) {
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


/* ---- the command -------------------------------------------------------- */

struct hash_job {
  struct pr_span text;  /* the request's copy */
  char hex[65];
};

static void hash_prepare(void *job, const struct cmd_args *a) {
  struct hash_job *j = job;
  j->text = a->v[0];
}

static int hash_run(void *job, cmd_cancel_fn cancelled, const void *ctx, const char **error) {
  (void)cancelled;
  (void)ctx;
  struct hash_job *j = job;
  int rc = cmd_hash(j->text.p, j->text.len, j->hex);
  if (rc < 0) *error = "internal error";
  return rc;
}

static void hash_reply(const void *job, int resp, struct pr_reply *out) {
  const struct hash_job *j = job;
  pr_reply_ok(out, resp, j->hex, 64);
}

const struct cmd_def cmd_def_hash = {
    .name = "hash", .usage = "HASH needs an argument", .min_args = 1, .max_args = 1,
    .where = CMD_POOL, .job_size = sizeof(struct hash_job), .init = hash_init,
    .prepare = hash_prepare, .run = hash_run, .reply = hash_reply,
};
