/* client: a set of non-blocking TCP client connections on one epoll.
 *
 * Design: single-threaded. cl_init() allocates n connections, cl_start()
 * begins a non-blocking connect on each (bounded by a connect timeout); the
 * owner then calls cl_poll() in a loop, which waits for readiness, writes
 * queued output, splits input into lines and calls back:
 *   on_open(c)            the connection is established (send requests);
 *   on_line(c, line, len) one complete line, '\n' stripped ('\r' kept);
 *   on_close(c, err)      the peer closed (err 0), a socket error (errno),
 *                         or ETIMEDOUT for a connect timeout.
 * Callbacks may call cl_send() and cl_close() on any connection. cl_send()
 * queues bytes and writes as much as it can at once, so a burst queued by
 * one call goes out in one write(2) when the socket has room. A closed
 * connection can be connected again with cl_reconnect(). Extra fds
 * (e.g. a child's stderr pipe) can be watched with cl_watch(). Errors are
 * negative errnos. Every fd is closed and all memory freed by cl_destroy().
 */
#ifndef TOOLS_CLIENT_H
#define TOOLS_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cl_state { CL_IDLE, CL_CONNECTING, CL_OPEN, CL_CLOSED };

struct cl_set;

struct cl_conn {
  struct cl_set *set;
  size_t idx;            /* position in the set, 0..n-1 */
  int fd;
  enum cl_state state;
  char *out;             /* queued output: out[out_off..out_len) unsent */
  size_t out_off, out_len, out_cap;
  char *in;              /* partial input line */
  size_t in_len, in_cap;
  int want_out;          /* EPOLLOUT armed */
  int64_t connect_deadline_ns;
  void *user;            /* owner's per-connection data */
};

struct cl_callbacks {
  void (*on_open)(struct cl_conn *c, void *arg);
  void (*on_line)(struct cl_conn *c, const char *line, size_t len, void *arg);
  void (*on_close)(struct cl_conn *c, int err, void *arg);
};

typedef void (*cl_watch_fn)(int fd, void *arg);

struct cl_watch {
  int fd;
  cl_watch_fn fn;
  void *arg;
};

enum { CL_MAX_WATCH = 4 };

struct cl_set {
  int epfd;
  struct cl_conn *conns;
  size_t n;
  size_t active;         /* connections CONNECTING or OPEN */
  struct sockaddr_in addr;
  int connect_timeout_ms;
  size_t max_line;       /* a longer input line is an error (EMSGSIZE) */
  struct cl_callbacks cb;
  void *arg;
  struct cl_watch watch[CL_MAX_WATCH];
  size_t nwatch;
};

/* Monotonic clock in nanoseconds. */
int64_t cl_now_ns(void);

/* Resolves host (name or IPv4 literal) and port into *addr. */
int cl_resolve(const char *host, uint16_t port, struct sockaddr_in *addr);

int cl_init(struct cl_set *s, size_t n, const struct sockaddr_in *addr,
            int connect_timeout_ms, const struct cl_callbacks *cb, void *arg);
/* Starts connecting every connection. A connection whose socket cannot even
 * be created reports on_close from the next cl_poll(). */
int cl_start(struct cl_set *s);
/* Queues len bytes on c (CONNECTING or OPEN) and writes what it can. */
int cl_send(struct cl_conn *c, const void *buf, size_t len);
/* Closes c without a callback. A partial input line is discarded. */
void cl_close(struct cl_conn *c);
/* Starts a new connect on a CLOSED connection c: a fresh socket, no queued
 * output or input; then on_open or on_close as after cl_start(). Returns 0,
 * -EALREADY if c is not CLOSED, or a negative errno if the connect could not
 * even begin (c is then CLOSED again and no callback is made). Call it from
 * outside the cl_poll() batch that closed c (e.g. after a backoff), so no
 * event of the old socket is taken for the new one. */
int cl_reconnect(struct cl_conn *c);
/* Watches fd for readability: fn(fd, arg) is called when it is readable
 * or hung up; fn should read it and may cl_unwatch() it. */
int cl_watch(struct cl_set *s, int fd, cl_watch_fn fn, void *arg);
void cl_unwatch(struct cl_set *s, int fd);
/* Waits up to timeout_ms (-1: until something happens) and handles what
 * is ready. Returns the number of active connections, or a negative errno. */
int cl_poll(struct cl_set *s, int timeout_ms);
void cl_destroy(struct cl_set *s);

#ifdef __cplusplus
}
#endif
#endif
