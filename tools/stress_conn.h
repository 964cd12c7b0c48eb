/* stress_conn: the life of one stress_test connection within a run: which
 * requests it creates and writes, how replies settle them, what happens
 * when it closes (give up, or reconnect with backoff and resend), and when
 * it is done.
 *
 * Used by stress_run only: sc_callbacks go to cl_init (their arg is the
 * struct run), and the run loop calls the functions below. Connection i is
 * r->conns[i] and r->set.conns[i]. Single-threaded, like the run. Errors
 * (out of memory) are left in r->error for the loop to end on.
 */
#ifndef TOOLS_STRESS_CONN_H
#define TOOLS_STRESS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "tools/client.h"
#include "tools/stress_run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* on_open, on_line, on_close for the run's client set. */
extern const struct cl_callbacks sc_callbacks;

/* Creates what connection i may send now and writes it (if open). Nothing
 * before the run's clock has started. */
void sc_fill(struct run *r, size_t i);

/* Closes connection i as done if it has nothing left to send or await. */
void sc_finish_if_done(struct run *r, size_t i);

/* Ends connection i for good; its unanswered requests, and those it was
 * still to create, are lost. why goes into the (bounded) error output. */
void sc_give_up(struct run *r, size_t i, const char *why);

/* Starts the reconnect attempts due by now. Returns when the next one is
 * due, or INT64_MAX. */
int64_t sc_retry_due(struct run *r, int64_t now);

#ifdef __cplusplus
}
#endif
#endif
