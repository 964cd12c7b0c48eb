/* stress_report: stress_test's outcome accounting and its three outputs (the
 * text report, the --json object, the one-line summary for scripts).
 *
 * Every request ends as exactly one outcome: an enum ex_reply kind (ok,
 * busy, timeout, shutdown, wrong) when its final reply arrives, or lost.
 * So requests = ok + busy + timeouts + shutdown + wrong + lost, where an
 * unsolicited reply line counts as one wrong request. Latency is recorded
 * for ok replies only, overall and per request of the mix (one histogram
 * each). The run's figures that are not outcomes (reconnects, resends,
 * delayed sends, first sends, failed connects) are plain counters here.
 *
 * Ownership: rep_init allocates the per-request table, rep_free releases
 * it. Single-threaded. Errors are 0 or a negative errno.
 */
#ifndef TOOLS_STRESS_REPORT_H
#define TOOLS_STRESS_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/expect.h"
#include "base/histogram.h"
#include "tools/stress_opts.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rep_cmd {
  uint64_t n[EX_REPLY_KINDS]; /* final replies by kind */
  struct hist hist;           /* latency of ok replies */
};

struct rep_stats {
  uint64_t n[EX_REPLY_KINDS]; /* final replies by kind (enum ex_reply) */
  uint64_t lost;              /* no final reply by the end */
  uint64_t sent;              /* requests written at least once */
  uint64_t reconnects;        /* connections opened again after a close */
  uint64_t resends;           /* writes of a request already written before */
  uint64_t delayed;           /* open loop: due requests held back by the cap */
  uint64_t connect_failed;    /* connections that never opened */
  struct hist hist;           /* latency of ok replies */
  struct rep_cmd *cmd;        /* per mix entry */
  size_t ncmd;
};

/* What the run was, for the report header and the rates. */
struct rep_run {
  const struct so_opts *o;
  double elapsed_s;  /* from the start (all connected) to the end */
  double send_s;     /* the send phase: to the schedule's or duration's end,
                        or the last first send, whichever is later */
};

int rep_init(struct rep_stats *s, size_t ncmd);
void rep_free(struct rep_stats *s);

/* A final reply of kind `kind` to a request of mix entry `cmd` (or
 * SIZE_MAX for an unsolicited line), latency_ns after its start. */
void rep_reply(struct rep_stats *s, size_t cmd, int kind, uint64_t latency_ns);

uint64_t rep_requests(const struct rep_stats *s);
/* Wrong + lost: what makes the run fail (with failed connects). */
uint64_t rep_errors(const struct rep_stats *s);

void rep_print_text(FILE *f, const struct rep_stats *s, const struct rep_run *r);
void rep_print_json(FILE *f, const struct rep_stats *s, const struct rep_run *r);
/* "requests=N ok=N busy=N timeouts=N shutdown=N wrong=N lost=N
 * reconnects=N resends=N" and a newline. */
void rep_print_summary(FILE *f, const struct rep_stats *s);

/* s[0..len) in double quotes, non-printable bytes escaped, at most 200
 * bytes (then "..."): for error lines. */
void rep_print_escaped(FILE *f, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
