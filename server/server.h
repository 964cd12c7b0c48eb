/* server: the pool_server process, from its configuration to its exit.
 *
 * srv_run() runs on the calling (main) thread until SIGTERM or SIGINT, then
 * shuts down cleanly and returns the process exit status. It installs the
 * signal handlers itself; the pool's workers block every signal but the
 * synchronous fault signals. cfg_parse (server/config.h) fills the
 * configuration from the command line.
 */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SRV_MAX_LANES = 8, SRV_LANE_NAME = 16 };

/* --lane NAME=COMMANDS:MAX_WORKERS. Commands in no lane share lane 0. */
struct srv_lane {
  char name[SRV_LANE_NAME];
  unsigned long long commands; /* bit i: the command at cmd_at(i) runs here */
  size_t max_workers;          /* at most this many workers run its tasks at once */
};

enum srv_on_full { SRV_REJECT, SRV_HOLD };
enum srv_log_format { SRV_LOG_TEXT, SRV_LOG_JSON };

struct srv_config {
  /* network */
  const char *bind_addr;       /* address or host name, default 127.0.0.1 */
  int port;                    /* 0 = any free port (logged at start-up) */
  const char *port_file;       /* write the port here once listening (tests, scripts) */
  int reuseport;               /* SO_REUSEPORT: several processes share the port */
  size_t max_connections;
  unsigned idle_timeout_s;     /* 0 = never: close connections idle this long */
  unsigned tcp_keepalive_s;    /* 0 = off: TCP keepalive probes after this long idle */
  int resp_inline;             /* answer text lines ending in \r\n in RESP2, as Redis
                                  answers inline commands (redis-benchmark PING_INLINE) */
  /* pool */
  size_t min_workers, max_workers;
  unsigned idle_ms;            /* a worker idle this long exits (min < max only) */
  size_t queue_capacity;       /* per lane */
  unsigned task_timeout_ms;    /* 0 = none; time on a worker, not in the queue */
  /* overload */
  enum srv_on_full on_full;
  unsigned queue_timeout_ms;   /* 0 = none; time in the queue */
  struct srv_lane lanes[SRV_MAX_LANES];
  size_t nlanes;               /* lanes given with --lane (lane 0, "default", is extra) */
  size_t max_line;             /* longest request line / RESP bulk, bytes */
  size_t max_inflight;         /* per connection; above it reading pauses */
  size_t out_limit;            /* per-connection bytes above which reading pauses */
  unsigned shutdown_grace_ms;  /* how long running tasks may finish after SIGTERM */
  /* logging and observability */
  int log_level;               /* enum lg_level */
  enum srv_log_format log_format;
  const char *log_file;        /* NULL = stderr */
  int metrics_port;            /* -1 = off; else GET /metrics on this port of bind_addr */
};

void srv_config_defaults(struct srv_config *cfg);
/* 0 after a clean shutdown; 1 if start-up failed (logged: port in use, ...). */
int srv_run(const struct srv_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
