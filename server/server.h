/* server: the glue that owns an event loop, a listener and a thread pool.
 *
 * srv_run() runs on the calling (main) thread until SIGTERM or SIGINT, then
 * shuts down cleanly and returns the process exit status. It installs the
 * signal handlers itself; the pool's workers block every signal.
 */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct srv_config {
  const char *bind_addr;       /* numeric address, default 127.0.0.1 */
  int port;                    /* 0 = any free port (logged at start-up) */
  size_t min_workers, max_workers;
  unsigned idle_ms;            /* a worker idle this long exits (min < max only) */
  size_t queue_capacity;
  size_t max_line;             /* longest request line / RESP bulk, bytes */
  size_t max_connections;
  size_t max_inflight;         /* per connection; above it reading pauses */
  size_t out_limit;            /* per-connection output bytes above which reading pauses */
  unsigned shutdown_grace_ms;  /* how long running tasks may finish after SIGTERM */
  unsigned task_timeout_ms;    /* 0 = none; time on a worker, not in the queue */
  int resp_inline;             /* answer text lines ending in \r\n in RESP2, as Redis
                                  answers inline commands (redis-benchmark PING_INLINE) */
};

void srv_config_defaults(struct srv_config *cfg);
/* 0 after a clean shutdown; 1 if start-up failed (logged: port in use, ...). */
int srv_run(const struct srv_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
