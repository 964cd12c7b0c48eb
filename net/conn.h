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
 * Flow control: input is offered (and the socket read) only while the
 * owner has not paused the connection (cn_pause_read), at most out_limit
 * bytes of output wait to be written (cn_out_full), and it is not closing.
 * Whenever that becomes true again with input held, the held input is
 * offered again without waiting for more bytes: a resume is never lost,
 * wherever it happens (inside on_data included). A connection that is not
 * read still notices a reset: it is closed at once (on_close).
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
   * not consumed are held and offered again, starting at the same byte,
   * with more on the next read; also, without more, whenever the
   * connection becomes offerable again (see Flow control), so a pipelined
   * request already read is not stranded. The owner consumes as many
   * requests per call as it likes and should stop when it pauses or
   * cn_out_full() says so; the data is valid only during the call. */
  size_t (*on_data)(cn_t *c, const char *data, size_t len);
  /* The peer shut down its sending side, and every complete request it
   * sent before has been offered (held input that was left is an
   * incomplete request, dropped). No on_data follows. The owner closes
   * (cn_close) once it has answered what it read. */
  void (*on_eof)(cn_t *c);
  void (*on_close)(cn_t *c);  /* the last call for c */
  /* Optional: a newcomer was turned away (enum cn_reject), already closed. */
  void (*on_reject)(void *ud, int reason);
  void *ud;                   /* passed to on_open and on_reject */
};

enum cn_reject {
  CN_REJECT_FULL,   /* max_connections reached: it got reject_line */
  CN_REJECT_NOFD,   /* out of file descriptors (EMFILE/ENFILE): closed at once */
};

/* Counters of a server, since it started. */
struct cn_stats {
  uint64_t accepted, rejected_full, rejected_nofd;
  uint64_t bytes_in, bytes_out;
};

struct cn_options {
  const char *bind_addr;      /* IPv4/IPv6 address or host name (the first address that binds) */
  int port;                   /* 0 = any free port (see cn_server_port) */
  int backlog;                /* listen(2) backlog; <= 0 means SOMAXCONN */
  size_t max_connections;     /* open connections at most; newcomers above get reject_line */
  const char *reject_line;    /* e.g. "ERROR: too many connections\n" */
  size_t out_limit;           /* bytes queued for writing above which reading stops */
  int reuseport;              /* SO_REUSEPORT: processes may share the port */
  unsigned keepalive_s;       /* TCP keepalive after this long idle; 0 = off */
};

int  cn_server_start(el_t *loop, const struct cn_options *opt,
                     const struct cn_handlers *h, cn_server_t **out);
int  cn_server_port(const cn_server_t *s);
/* The address listened on, numeric, as "127.0.0.1:9090" or "[::1]:9090". */
void cn_server_address(const cn_server_t *s, char *buf, size_t len);
size_t cn_server_count(const cn_server_t *s);   /* open connections */
/* Bytes allocated for the connections' input and output buffers. */
size_t cn_server_buffered(const cn_server_t *s);
void cn_server_stats(const cn_server_t *s, struct cn_stats *out);
void cn_server_stop_accepting(cn_server_t *s);   /* closes the listening socket */
/* Closes every connection now (on_close for each) and frees the server.
 * Call it from the loop thread but not from inside a cn_ callback (after
 * el_run returns, typically). A server adds a before-wait hook to the loop
 * (el_hook_add) and destroy removes it; a loop may run several servers. */
void cn_server_destroy(cn_server_t *s);

uint64_t cn_id(const cn_t *c);
/* The peer's address, "127.0.0.1:54321" or "[::1]:54321". */
void cn_peer(const cn_t *c, char *buf, size_t len);
/* CLOCK_MONOTONIC ns of the last read that brought bytes (or of accept). */
uint64_t cn_last_read_ns(const cn_t *c);
void *cn_data(const cn_t *c);
void  cn_set_data(cn_t *c, void *data);

/* Checks a --bind value before any loop exists: 0 if it is a numeric
 * IPv4/IPv6 address or a host name that resolves; -EINVAL for a malformed
 * numeric one ("1.2.3", "::g": digits, dots and colons that inet_pton
 * rejects), -ENOENT for a name that resolves to nothing. */
int  cn_check_bind_addr(const char *addr);

int  cn_write(cn_t *c, const void *buf, size_t len);  /* -EPIPE once closing */
/* Whether more than out_limit bytes wait to be written: input is not
 * offered until they drain (then it is, see Flow control). */
int  cn_out_full(const cn_t *c);
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
