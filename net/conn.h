/* conn: a TCP listener and its non-blocking, buffered connections, driven
 * by an event_loop. It knows bytes, not protocols: the owner's on_data
 * callback frames requests, and cn_write queues replies.
 *
 * Ownership: the loop thread alone touches a cn_t and the cn_server_t.
 * A cn_t lives from on_open to the return of on_close (called exactly once
 * per opened connection); after that the pointer is dangling, so owners
 * that outlive it (requests still on a worker, say) must forget it in
 * on_close. cn_id() is unique per process, unlike the fd, for logs.
 *
 * Memory: an idle connection holds no buffers. Input is read into one
 * buffer shared by the whole server; only an incomplete request is copied
 * into a per-connection buffer. Output is batched per connection and
 * flushed before the loop next waits (or when the socket is writable).
 *
 * Flow control: reading stops while cn_pause_read(c, 1) is in force, while
 * more than out_limit bytes wait to be written, or after EOF/cn_close.
 *
 * Errors: int functions return 0 or a negative errno.
 */
#ifndef NET_CONN_H
#define NET_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "net/event_loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cn_server cn_server_t;
typedef struct cn cn_t;

struct cn_handlers {
  /* Nonzero refuses the connection: it is closed without on_close. */
  int (*on_open)(cn_t *c, void *ud);
  /* All unconsumed input so far; returns how many bytes it consumed. Bytes
   * not consumed are kept and offered again, with more, on the next call;
   * also, without more, when reading resumes (cn_pause_read(c, 0), or
   * output drained below out_limit), so a pipelined request already read
   * is not stranded. The owner consumes as many requests per call as it
   * likes; the data is valid only during the call. */
  size_t (*on_data)(cn_t *c, const char *data, size_t len);
  /* The peer shut down its sending side; reading has stopped. The owner
   * closes (cn_close) when it has answered what it read. */
  void (*on_eof)(cn_t *c);
  void (*on_close)(cn_t *c);  /* the last call for c */
  void *ud;                   /* passed to on_open */
};

struct cn_options {
  const char *bind_addr;      /* numeric IPv4 or IPv6 address */
  int port;                   /* 0 = any free port (see cn_server_port) */
  int backlog;                /* listen(2) backlog; <= 0 means SOMAXCONN */
  size_t max_connections;     /* open connections at most; newcomers above get reject_line */
  const char *reject_line;    /* e.g. "ERROR: too many connections\n" */
  size_t out_limit;           /* bytes queued for writing above which reading stops */
};

int  cn_server_start(el_t *loop, const struct cn_options *opt,
                     const struct cn_handlers *h, cn_server_t **out);
int  cn_server_port(const cn_server_t *s);
size_t cn_server_count(const cn_server_t *s);   /* open connections */
void cn_server_stop_accepting(cn_server_t *s);   /* closes the listening socket */
/* Closes every connection now (on_close for each) and frees the server.
 * Call it from the loop thread but not from inside a cn_ callback (after
 * el_run returns, typically). One server per loop: it installs the loop's
 * before_wait hook, and destroy removes it. */
void cn_server_destroy(cn_server_t *s);

uint64_t cn_id(const cn_t *c);
void *cn_data(const cn_t *c);
void  cn_set_data(cn_t *c, void *data);

int  cn_write(cn_t *c, const void *buf, size_t len);  /* -EPIPE once closing */
void cn_pause_read(cn_t *c, int paused);
/* flush != 0: stop reading, send what is queued, then close; if the peer
 * has not shut down its side, half-close first and discard its input for a
 * while (a lingering close, so a reset cannot destroy replies already
 * sent). flush == 0: close now, dropping queued output. on_close runs from
 * the loop, never from inside cn_close, so callers may keep using c until
 * they return; after a lingering close it runs when the socket closes. */
void cn_close(cn_t *c, int flush);
size_t cn_out_pending(const cn_t *c);

#ifdef __cplusplus
}
#endif
#endif
