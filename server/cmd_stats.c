/* STATS: the server's figures on one line, answered by the loop at once
 * (README: STATS). A STATS that waits behind earlier requests reports the
 * figures of the moment it was read. The line is built by srv_stats_line
 * (server.c), which SIGUSR1 also logs. */
#include "server/command.h"
#include "server/srv.h"

static void stats_answer(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  srv_stats_line(ctx->srv, ctx->scratch);
  pr_reply_ok(out, a->resp, ctx->scratch->data, ctx->scratch->len);
}

const struct cmd_def cmd_def_stats = {
    .name = "stats", .usage = "STATS takes no argument", .min_args = 0, .max_args = 0,
    .where = CMD_LOOP, .answer = stats_answer,
};
