/* srv: the server's shared state, as the session layer and the loop
 * commands (STATS) see it. server.c owns it: creates it in srv_run and
 * tears it down; everything in it is touched by the loop thread only.
 */
#ifndef SERVER_SRV_H
#define SERVER_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "base/sbuf.h"
#include "net/conn.h"
#include "net/event_loop.h"
#include "offload/offload.h"
#include "pool/thread_pool.h"
#include "server/server.h"
#include "server/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

enum srv_phase { SRV_RUNNING, SRV_DRAINING, SRV_CANCELLING };

/* Each request the pool accepted (submitted) ends in exactly one of
 * completed, errors, timeouts, cancelled; until then it is in flight. */
struct srv_counters {
  uint64_t submitted, completed, errors, rejected, timeouts, expired, cancelled;
  uint64_t held;          /* times a request was held (--on-full hold) */
};

struct srv {
  const struct srv_config *cfg;
  el_t *loop;
  tp_t *pool;
  ol_t *ol;
  cn_server_t *cns;
  el_wake_t *sig_wake;
  el_timer_t *deadline;   /* shutdown: grace period, then the hard stop */
  enum srv_phase phase;
  struct list sessions;   /* struct session, by link */
  size_t nsessions;
  size_t fifo_bytes;      /* sum over sessions (STATS buffered_bytes) */
  struct srv_counters n;
  struct stats st;        /* per command and per lane, with latencies */
  struct sbuf scratch;    /* loop commands build long replies here */
  unsigned lane_of[ST_MAX_CMDS]; /* pool lane per command (cmd_index); see command.h */
  size_t nlanes;          /* pool lanes: 0 "default", then cfg->lanes */
  const char *lane_name[ST_MAX_LANES];
  el_timer_t *idle_timer; /* --idle-timeout-s: closes idle sessions */
  cn_server_t *metrics;   /* --metrics-port: GET /metrics (server/metrics.c) */
  uint64_t reject_logged_ns; /* rate limit for "connection rejected" records */
  uint64_t rejects_unlogged;
};

/* Stops the loop once shutdown has begun and nothing is left to answer. */
void srv_maybe_finish(struct srv *s);
/* Tasks the pool accepted and that are not answered yet. */
uint64_t srv_in_flight(const struct srv *s);
/* The STATS line (also logged on SIGUSR1) into b. */
void srv_stats_line(struct srv *s, struct sbuf *b);

#ifdef __cplusplus
}
#endif
#endif
