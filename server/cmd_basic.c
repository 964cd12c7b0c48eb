/* The commands the loop answers at once: PING, ECHO, and the courtesy
 * commands Redis clients send on connect (COMMAND, CONFIG, HELLO, CLIENT)
 * or to leave (QUIT). One definition each; see server/command.h. */
#include <stdio.h>
#include <string.h>

#include "server/command.h"

static void basic_pong(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  (void)ctx;
  pr_reply_status(out, a->resp, "PONG");
}

const struct cmd_def cmd_def_ping = {
    .name = "ping", .usage = "PING takes no argument", .min_args = 0, .max_args = 0,
    .where = CMD_LOOP, .answer = basic_pong,
};

/* A text reply is one line: ECHO cannot give back a \r there (a \n cannot
 * be in a text line at all). RESP bulk strings hold any byte. */
static int basic_echo_check(const struct cmd_args *a, char *err, size_t errlen) {
  if (a->resp || !memchr(a->v[0].p, '\r', a->v[0].len)) return 0;
  snprintf(err, errlen, "%s", "ECHO text cannot contain \\r (RESP can)");
  return -1;
}

static void basic_echo(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  (void)ctx;
  pr_reply_ok(out, a->resp, a->v[0].p, a->v[0].len);
}

const struct cmd_def cmd_def_echo = {
    .name = "echo", .usage = "ECHO needs an argument", .min_args = 1, .max_args = 1,
    .where = CMD_LOOP, .check = basic_echo_check, .answer = basic_echo,
};

static void basic_ok(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  (void)ctx;
  pr_reply_status(out, a->resp, "OK");
}

static void basic_quit(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  ctx->close_after = 1;
  basic_ok(ctx, a, out);
}

const struct cmd_def cmd_def_quit = {
    .name = "quit", .min_args = 0, .max_args = CMD_ANY, .where = CMD_LOOP,
    .answer = basic_quit,
};

/* CLIENT SETNAME and friends: accepted, nothing to do. */
const struct cmd_def cmd_def_client = {
    .name = "client", .min_args = 0, .max_args = CMD_ANY, .where = CMD_LOOP,
    .answer = basic_ok,
};

/* What redis-cli and redis-benchmark ask on connect: an empty list. */
static void basic_empty(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  (void)ctx;
  pr_reply_empty(out, a->resp);
}

const struct cmd_def cmd_def_command = {
    .name = "command", .min_args = 0, .max_args = CMD_ANY, .where = CMD_LOOP,
    .answer = basic_empty,
};

const struct cmd_def cmd_def_config = {
    .name = "config", .min_args = 0, .max_args = CMD_ANY, .where = CMD_LOOP,
    .answer = basic_empty,
};

/* Makes RESP3-capable clients fall back to RESP2. */
static void basic_hello(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  (void)ctx;
  pr_reply_error(out, a->resp, PR_E_NOPROTO, NULL);
}

const struct cmd_def cmd_def_hello = {
    .name = "hello", .min_args = 0, .max_args = CMD_ANY, .where = CMD_LOOP,
    .answer = basic_hello,
};
