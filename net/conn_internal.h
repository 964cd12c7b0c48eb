/* conn_internal: net/conn's private state, shared by conn.c (a
 * connection's life: input, output, flow control, closes) and listen.c (the
 * listener: binding, accepting, turning newcomers away). Not for other
 * modules; conn.c's DESIGN comment says who owns what.
 */
#ifndef NET_CONN_INTERNAL_H
#define NET_CONN_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "net/conn.h"
#include "net/event_loop.h"

enum {
  CN_RBUF_SIZE = 64 * 1024, /* the shared read buffer */
  CN_ACCEPT_BATCH = 64,     /* accepts per wake-up: new clients must not starve old ones */
  CN_ACCEPT_PAUSE_MS = 100, /* accept(2) failing for lack of resources: retry after */
  CN_OUT_MIN = 512,         /* first output allocation */
  CN_OUT_STEP = 64 * 1024,  /* output growth past out_limit / 2 */
  CN_LINGER_MS = 2000,      /* longest a lingering close waits for the peer */
  CN_LINGER_IDLE_MS = 200,  /* ... or for the peer's next bytes */
  CN_LINGER_TICK_MS = 50,   /* how often lingering connections are checked */
};

enum {
  CN_PAUSED = 1u << 0,     /* cn_pause_read(c, 1) */
  CN_EOF = 1u << 1,        /* read returned 0: no more reads */
  CN_CLOSING = 1u << 2,    /* cn_close(c, 1): flushing, then close */
  CN_CLOSED = 1u << 3,     /* on the closing list; no more I/O */
  CN_PENDING = 1u << 4,    /* on the pending list */
  CN_REOFFER = 1u << 5,    /* offer held input to on_data again (from the hook) */
  CN_WANT_WRITE = 1u << 6, /* the socket was full: waiting for EL_WRITE */
  CN_IN_DATA = 1u << 7,    /* inside on_data */
  CN_REFUSED = 1u << 8,    /* on_open refused: no on_close */
  CN_LINGER = 1u << 9,     /* output done, SHUT_WR sent: discarding input */
  CN_EOF_TOLD = 1u << 10,  /* on_eof called */
  CN_PEER_FIN = 1u << 11,  /* EL_RDHUP seen while not reading */
  CN_OFFERABLE = 1u << 12, /* cn_can_offer() when cn_update last looked */
};

struct cn {
  cn_server_t *srv;
  cn_t *prev, *next; /* srv->all */
  cn_t *next_list;   /* srv->pending or srv->closing; one at a time (see cn_close_now) */
  uint64_t id;
  void *data;
  int fd;
  unsigned interest; /* EL_ flags currently asked of the loop */
  unsigned flags;
  char *in;          /* held input: in[in_off..in_len); NULL when none */
  size_t in_off, in_len, in_cap;
  char *out;         /* queued output: bytes [out_off, out_len) */
  size_t out_off, out_len, out_cap;
  uint64_t last_read;    /* clk_now_ns() of the last read with data */
  unsigned char peer[16];/* the peer's address (IPv4 in the first 4 bytes) */
  uint16_t peer_port;
  unsigned char peer_v6;
  uint64_t linger_idle;  /* CN_LINGER: clk_now_ns() deadlines, next read ... */
  uint64_t linger_end;   /* ... and overall */
  cn_t *next_linger;     /* srv->lingering */
};

struct cn_server {
  el_t *loop;
  int lfd;                /* -1 once stopped accepting */
  int spare_fd;           /* reserve fd for EMFILE, -1 if none */
  el_timer_t *accept_timer; /* resumes accepting after a resource error */
  int port;
  char addr[64];            /* numeric, for cn_server_address */
  struct cn_handlers h;
  size_t max_conns, out_limit;
  char *reject;
  size_t reject_len;
  cn_t *all;
  size_t count;
  cn_t *pending, *pending_tail;
  cn_t *closing;
  cn_t *lingering;          /* CN_LINGER connections, newest first */
  size_t buffered;          /* sum of in_cap + out_cap over all connections */
  int reuseport;
  unsigned keepalive_s;
  struct cn_stats stats;
  el_timer_t *linger_timer; /* armed while lingering is not empty */
  char rbuf[CN_RBUF_SIZE];
};

/* Unique connection ids (cn_id); atomic only because several loops
 * (threads) may each run a server. */
extern atomic_uint_least64_t cn_next_id;

/* conn.c, for listen.c. */
void cn_on_io(el_t *loop, int fd, unsigned events, void *arg); /* a connection's events */
void cn_close_now(cn_t *c);       /* stop all I/O; on_close from the hook */
void cn_final_close(cn_t *c);     /* on_close (unless refused), close, free */
int  cn_before_wait(el_t *loop, void *arg); /* the server's before-wait hook */

#endif
