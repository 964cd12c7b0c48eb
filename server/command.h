/* command: the registry of commands. Each command is one definition (its
 * name, its arguments, whether it runs on the loop or on the pool, its work
 * and how its result is written) in a file of its own, and one line in
 * server/commands.list. The session looks a request up here, checks its
 * arguments with the shared helpers below (so every command rejects bad
 * input the same way), then answers it on the loop or sends it to the pool.
 * See the README's "Adding a command".
 *
 * Threads: the table is immutable. check, prepare, answer and reply run on
 * the loop thread; run on a worker, and touches only its job.
 * Errors: 0 or a negative errno; a message for the client goes in err (the
 * detail after "invalid input: ").
 */
#ifndef SERVER_COMMAND_H
#define SERVER_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "base/sbuf.h"
#include "server/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cmd_where { CMD_LOOP, CMD_POOL };
enum { CMD_ANY = -1, CMD_ERR_SIZE = 160 };

/* A request's arguments, after the command word. */
struct cmd_args {
  int resp;                       /* RESP framing: answer in RESP */
  size_t n;                       /* how many */
  struct pr_span v[PR_MAX_ARGS];  /* the first min(n, PR_MAX_ARGS) */
};

struct srv;
struct session;

/* What a loop command may use. */
struct cmd_ctx {
  struct srv *srv;          /* the server: STATS and INFO read it */
  struct session *sess;     /* the connection asking */
  struct sbuf *scratch;     /* a reply's body may point here until it is written */
  int close_after;          /* set it to close the connection after this reply (QUIT) */
};

/* Worker side: poll it in long work; nonzero means stop (-ECANCELED). */
typedef int (*cmd_cancel_fn)(const void *ctx);

struct cmd_def {
  const char *name;   /* lower case; requests match it case-insensitively */
  /* The text protocol's message for bad arguments ("PRIMES needs an integer
   * 0..2147483647"); RESP clients get Redis's wording for a wrong count. */
  const char *usage;
  int min_args, max_args;  /* after the command word; max_args CMD_ANY: any */
  enum cmd_where where;
  /* Optional: checks beyond the count (numbers, hex, ...): 0, or -EINVAL
   * with the detail in err. */
  int (*check)(const struct cmd_args *a, char *err, size_t errlen);
  /* CMD_LOOP: the reply, now. out may point into ctx->scratch or a. */
  void (*answer)(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out);
  /* CMD_POOL: job_size bytes of the command's own state; prepare fills it
   * from checked arguments whose bytes (copies) outlive the job; run does
   * the work on a worker (0, -ECANCELED, or -errno with *error set to a
   * message that outlives the job); reply writes the result (its body may
   * point into the job). */
  size_t job_size;
  void (*prepare)(void *job, const struct cmd_args *a);
  /* Optional: one-time set-up, run by cmd_init before any worker exists
   * (libcrypto's lazy initialisation, say, which concurrent first calls
   * would race on). 0 or a negative errno. */
  int (*init)(void);
  int (*run)(void *job, cmd_cancel_fn cancelled, const void *ctx, const char **error);
  void (*reply)(const void *job, int resp, struct pr_reply *out);
};

/* Runs every command's init, in table order (the server does, before it
 * starts its workers). 0, or the first failure's negative errno. */
int cmd_init(void);

/* The table (server/commands.list), in its order. */
size_t cmd_count(void);
const struct cmd_def *cmd_at(size_t i);
size_t cmd_index(const struct cmd_def *def);
/* By name, case-insensitively; NULL if there is none. */
const struct cmd_def *cmd_find(const char *name, size_t len);

/* A parsed request's command and arguments, checked: 0 with *def and *a
 * set; -ENOENT for an unknown command or an empty text line, -EINVAL for
 * bad arguments, with the message in err (CMD_ERR_SIZE bytes). Text
 * framing: the rest of the line is split at single spaces into at most
 * max_args arguments, the last keeping the rest of the line. */
int cmd_lookup(const struct pr_request *q, const struct cmd_def **def, struct cmd_args *a,
               char *err, size_t errlen);

/* Shared argument helpers: 0, or -EINVAL (the caller reports its usage). */
int cmd_arg_u64(const struct cmd_args *a, size_t i, uint64_t max, uint64_t *out);
/* Argument i as a number <= max, else -EINVAL with the usage in err: the
 * whole check of a command taking one number (PRIMES, SLEEP). */
int cmd_check_u64(const struct cmd_args *a, size_t i, uint64_t max, const char *usage, char *err,
                  size_t errlen);
/* Exactly 2 * nbytes hex digits (either case) into out. */
int cmd_arg_hex(const struct cmd_args *a, size_t i, void *out, size_t nbytes);
/* def's usage (text) or "wrong number of arguments for '<name>'" (RESP). */
void cmd_usage_error(const struct cmd_def *def, int resp, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
