/* SLEEP <ms>: a blocking task of 0..60000 ms on the pool ("result: slept
 * <ms>"): what slow work looks like to the pool.
 *
 * cmd_sleep: absolute CLOCK_MONOTONIC deadlines on a 10 ms grid from the
 * start, so slices do not drift and EINTR just retries the same slice;
 * cancellation is polled at every slice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "server/command.h"
#include "server/commands.h"

enum { SLICE_NS = 10 * 1000 * 1000L };

static int sleep_cancelled(cmd_cancel_fn cancelled, const void *ctx) {
  return cancelled != NULL && cancelled(ctx) != 0;
}

int cmd_sleep(unsigned ms, cmd_cancel_fn cancelled, const void *ctx) {
  struct timespec start;
  long long total_ns = (long long)ms * 1000000LL, done_ns = 0;

  if (clock_gettime(CLOCK_MONOTONIC, &start) != 0)
    return -errno;
  for (;;) {
    if (done_ns >= total_ns)
      return 0;
    if (sleep_cancelled(cancelled, ctx))
      return -ECANCELED;
    /* Next stop on the grid start + 10 ms, 20 ms, ... capped at the end. */
    long long stop_ns = done_ns + SLICE_NS < total_ns ? done_ns + SLICE_NS
                                                      : total_ns;
    struct timespec stop = clk_add_ms(start, (uint64_t)stop_ns / 1000000u);
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &stop, NULL);
    if (rc == EINTR)
      continue; /* same deadline again */
    if (rc != 0)
      return -rc;
    done_ns = stop_ns;
  }
}

/* ---- the command -------------------------------------------------------- */

struct sleep_job {
  unsigned ms;
  char text[32];
};

static const char sleep_usage[] = "SLEEP needs milliseconds 0..60000";

static int sleep_check(const struct cmd_args *a, char *err, size_t errlen) {
  return cmd_check_u64(a, 0, CMD_SLEEP_MAX_MS, sleep_usage, err, errlen);
}

static void sleep_prepare(void *job, const struct cmd_args *a) {
  struct sleep_job *j = job;
  uint64_t ms = 0;
  (void)cmd_arg_u64(a, 0, CMD_SLEEP_MAX_MS, &ms); /* checked */
  j->ms = (unsigned)ms;
}

static int sleep_run(void *job, cmd_cancel_fn cancelled, const void *ctx, const char **error) {
  struct sleep_job *j = job;
  int rc = cmd_sleep(j->ms, cancelled, ctx);
  if (rc == 0) snprintf(j->text, sizeof j->text, "slept %u", j->ms);
  else if (rc != -ECANCELED) *error = "internal error";
  return rc;
}

static void sleep_reply(const void *job, int resp, struct pr_reply *out) {
  const struct sleep_job *j = job;
  pr_reply_ok(out, resp, j->text, strlen(j->text));
}

const struct cmd_def cmd_def_sleep = {
    .name = "sleep", .usage = sleep_usage, .min_args = 1, .max_args = 1,
    .where = CMD_POOL, .check = sleep_check, .job_size = sizeof(struct sleep_job),
    .prepare = sleep_prepare, .run = sleep_run, .reply = sleep_reply,
};
