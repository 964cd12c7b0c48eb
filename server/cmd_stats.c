/* STATS: the server's figures on one line, answered by the loop at once
 * (README: STATS). A STATS that waits behind earlier requests reports the
 * figures of the moment it was read. */
#include <inttypes.h>

#include "server/command.h"
#include "server/srv.h"

static void stats_answer(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  struct srv *s = ctx->srv;
  const struct srv_counters *n = &s->n;
  struct tp_stats ps;
  tp_stats(s->pool, &ps);
  uint64_t in_flight = n->submitted - n->completed - n->errors - n->timeouts - n->cancelled;
  sbuf_printf(ctx->scratch,
              "workers=%zu busy_workers=%zu queue_depth=%zu queue_capacity=%zu "
              "submitted=%" PRIu64 " completed=%" PRIu64 " errors=%" PRIu64
              " rejected=%" PRIu64 " timeouts=%" PRIu64 " connections=%zu"
              " lock_wait_us=%" PRIu64 " cancelled=%" PRIu64 " in_flight=%" PRIu64
              " worker_us=%" PRIu64 " buffered_bytes=%zu",
              ps.workers, ps.busy_workers, ps.queue_depth, ps.queue_capacity, n->submitted,
              n->completed, n->errors, n->rejected, n->timeouts, s->nsessions,
              ps.lock_wait_ns / 1000, n->cancelled, in_flight, ps.worker_ns / 1000,
              cn_server_buffered(s->cns) + s->fifo_bytes);
  pr_reply_ok(out, a->resp, ctx->scratch->data, ctx->scratch->len);
}

const struct cmd_def cmd_def_stats = {
    .name = "stats", .usage = "STATS takes no argument", .min_args = 0, .max_args = 0,
    .where = CMD_LOOP, .answer = stats_answer,
};
