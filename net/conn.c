/* conn: TCP listener and buffered connections (see conn.h for the contract).
 *
 * DESIGN
 *
 * Model: Redis's networking.c (readQueryFromClient, writeToClient,
 * handleClientsWithPendingWrites) and nginx's accept loop.
 *
 * Threads. Everything here runs on the loop thread: the server, its
 * connections and their buffers are touched by nothing else, so there is
 * not a single lock. Other threads talk to the owner (with el_wake), and
 * the owner calls cn_write from the loop thread.
 *
 * Ownership. The server owns every cn_t (on a list, for destroy) and its
 * fd; the owner gets a borrowed pointer from on_open to on_close. The
 * server also owns the one read buffer all connections share.
 *
 * Memory. An idle connection is one small struct: no buffers. Input is
 * read into the shared buffer and offered to on_data from there; only the
 * bytes on_data leaves (an incomplete request) are copied into the
 * connection's own buffer, which is freed once consumed. Output is
 * allocated on the first cn_write and freed once written.
 *
 * Batching. cn_write only appends and puts the connection on the server's
 * "pending" list; the loop's before_wait hook writes each pending
 * connection once, so all the replies produced by one loop iteration go
 * out in one send(2) per connection (Redis's beforeSleep does the same).
 * Only if the socket is full (EAGAIN) does the connection ask for EL_WRITE.
 *
 * Deferred close. cn_close never frees anything: it marks the connection,
 * stops its I/O and puts it on the "closing" list; the before_wait hook
 * calls on_close, closes the fd and frees it. So a callback that closes a
 * connection, even one further down the same epoll batch or the one it is
 * running for, can keep using the pointer until it returns, and on_close
 * is never re-entered from inside the owner's own code.
 *
 * Lingering close. Closing a socket while the peer's data sits unread in
 * the kernel makes the kernel send a reset, and a reset also throws away
 * the replies still in our send queue: a client that pipelined more than
 * we answered (after QUIT, a framing error, or at shutdown) would lose
 * replies we had already written. Whether more input is on its way cannot
 * be known (it may be in flight as we look), so a flushing close of a peer
 * that has not shut down its side half-closes (shutdown SHUT_WR: a FIN
 * after the data), then reads and discards until the peer closes, is quiet
 * for CN_LINGER_IDLE_MS, or CN_LINGER_MS pass (nginx's lingering_timeout
 * and lingering_time). on_close runs when the socket is finally closed.
 *
 * Flow control. Held input (bytes the owner left) is offered to on_data
 * only while the connection is "offerable": the owner has not paused it,
 * its output pending is at most out_limit, and it is not closing. The
 * socket is read only while offerable and before EOF. One rule resumes
 * everything: whenever the connection becomes offerable again with input
 * held (cn_update sees the transition), the held input is offered again
 * from the hook, because the peer may have sent everything already and
 * never make the socket readable again. The transition is seen wherever it
 * happens, also inside on_data (the owner pauses, then its own flush
 * resumes it before it returns): then the offer comes from the hook, right
 * after on_data returns. So no resume can be lost.
 *
 * Watching a connection that is not read. A paused connection stays in the
 * epoll set for EL_RDHUP (the peer's FIN: noted, and the interest dropped,
 * since it would be reported again at every wait) and for errors: a reset
 * is seen at once and the connection is closed (on_close), so a client
 * that vanishes while paused frees its slot and its buffers now, not when
 * its work ends. A FIN alone is a half-close: the peer may still read, so
 * what it sent before is still answered.
 *
 * EOF. read() returning 0 ends reading, but on_eof is told only once every
 * complete request before the FIN has been offered: held input is offered
 * first (again, when the connection becomes offerable), and what is left
 * when the owner then takes no more is an incomplete request, dropped.
 *
 * Input buffer. Held input is in[in_off..in_len). Consuming advances
 * in_off (no memmove per request); the buffer is compacted only when more
 * bytes are appended, and grows geometrically, so a long request arriving
 * in many reads costs linear time, not quadratic.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"

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

/* Atomic only because several loops (threads) may each run a server. */
static atomic_uint_least64_t cn_next_id;

uint64_t cn_id(const cn_t *c) { return c->id; }
void *cn_data(const cn_t *c) { return c->data; }
void cn_set_data(cn_t *c, void *data) { c->data = data; }
size_t cn_out_pending(const cn_t *c) { return c->out_len - c->out_off; }
int cn_out_full(const cn_t *c) { return cn_out_pending(c) > c->srv->out_limit; }
int cn_server_port(const cn_server_t *s) { return s->port; }
void cn_server_address(const cn_server_t *s, char *buf, size_t len) {
  snprintf(buf, len, "%s", s->addr);
}
size_t cn_server_count(const cn_server_t *s) { return s->count; }
size_t cn_server_buffered(const cn_server_t *s) { return s->buffered; }
void cn_server_stats(const cn_server_t *s, struct cn_stats *out) { *out = s->stats; }
uint64_t cn_last_read_ns(const cn_t *c) { return c->last_read; }

void cn_peer(const cn_t *c, char *buf, size_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  (void)inet_ntop(c->peer_v6 ? AF_INET6 : AF_INET, c->peer, host, sizeof host);
  snprintf(buf, len, c->peer_v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)c->peer_port);
}

static int cn_before_wait(el_t *loop, void *arg);
static void cn_on_io(el_t *loop, int fd, unsigned events, void *arg);
static void cn_finish(cn_t *c);

/* ---- state changes ------------------------------------------------------ */

static void cn_mark_pending(cn_t *c) {
  if (c->flags & (CN_PENDING | CN_CLOSED)) return;
  cn_server_t *s = c->srv;
  c->flags |= CN_PENDING;
  c->next_list = NULL;
  if (s->pending_tail) s->pending_tail->next_list = c;
  else s->pending = c;
  s->pending_tail = c;
}

/* Stops all I/O on c and queues it for on_close. The fd stays open (and
 * its number reserved) until then, so it cannot be reused meanwhile. */
static void cn_close_now(cn_t *c) {
  if (c->flags & CN_CLOSED) return;
  if (c->flags & CN_LINGER) { /* unlink: the list is short-lived and short */
    cn_t **pp = &c->srv->lingering;
    while (*pp != c) pp = &(*pp)->next_linger;
    *pp = c->next_linger;
    if (!c->srv->lingering) (void)el_timer_arm(c->srv->linger_timer, 0, 0);
  }
  c->flags |= CN_CLOSED;
  (void)el_del(c->srv->loop, c->fd);
  c->interest = 0;
  /* next_list serves both lists: a pending c is moved to the closing list
   * by the hook when it meets it there. */
  if (!(c->flags & CN_PENDING)) {
    c->next_list = c->srv->closing;
    c->srv->closing = c;
  }
}

static size_t cn_held(const cn_t *c) { return c->in_len - c->in_off; }

/* Held input may be offered to on_data (see DESIGN: flow control). */
static int cn_can_offer(const cn_t *c) {
  return !(c->flags & (CN_PAUSED | CN_CLOSING | CN_CLOSED)) &&
         cn_out_pending(c) <= c->srv->out_limit;
}

static int cn_can_read(const cn_t *c) { return cn_can_offer(c) && !(c->flags & CN_EOF); }

/* Asks the hook to offer held input (or tell EOF) after the current call. */
static void cn_schedule_offer(cn_t *c) {
  c->flags |= CN_REOFFER;
  cn_mark_pending(c);
}

/* Brings the epoll interest in line with the state, and schedules an offer
 * when the connection becomes offerable with input held or EOF untold. */
static void cn_update(cn_t *c) {
  if (c->flags & (CN_CLOSED | CN_LINGER)) return;
  int offer = cn_can_offer(c);
  /* Inside on_data the input is not "held" yet (it may still be in the
   * shared buffer), but what the owner leaves will be: schedule anyway. */
  if (offer && !(c->flags & CN_OFFERABLE) &&
      (cn_held(c) || (c->flags & CN_IN_DATA) || (c->flags & (CN_EOF | CN_EOF_TOLD)) == CN_EOF))
    cn_schedule_offer(c);
  if (offer) c->flags |= CN_OFFERABLE;
  else c->flags &= ~CN_OFFERABLE;
  unsigned want = EL_ERROR; /* a reset is always seen (see DESIGN) */
  if (cn_can_read(c)) want |= EL_READ;
  else if (!(c->flags & (CN_EOF | CN_PEER_FIN))) want |= EL_RDHUP;
  if (c->flags & CN_WANT_WRITE) want |= EL_WRITE;
  if (want == c->interest) return;
  if (el_mod(c->srv->loop, c->fd, want) < 0) {
    cn_close_now(c); /* epoll_ctl ENOMEM: we cannot serve this one */
    return;
  }
  c->interest = want;
}

/* ---- input -------------------------------------------------------------- */

static void cn_drop_input(cn_t *c) {
  c->srv->buffered -= c->in_cap;
  free(c->in);
  c->in = NULL;
  c->in_off = c->in_len = c->in_cap = 0;
}

/* Tells the owner of the EOF once every complete request before it has been
 * offered: now, if reading is over and the owner would take input. */
static void cn_maybe_tell_eof(cn_t *c) {
  if ((c->flags & (CN_EOF | CN_EOF_TOLD | CN_REOFFER)) != CN_EOF || !cn_can_offer(c)) return;
  c->flags |= CN_EOF_TOLD;
  cn_drop_input(c); /* an incomplete request: nothing more will complete it */
  if (c->srv->h.on_eof) c->srv->h.on_eof(c);
}

/* Makes room for n more bytes after the held input: compacts, then grows
 * the buffer geometrically. 0 or -ENOMEM. */
static int cn_reserve(cn_t *c, size_t n) {
  size_t held = cn_held(c);
  if (c->in_off) {
    memmove(c->in, c->in + c->in_off, held);
    c->in_off = 0;
    c->in_len = held;
  }
  if (c->in_cap - held >= n) return 0;
  if (n > SIZE_MAX / 2 - held) return -ENOMEM;
  size_t cap = c->in_cap ? c->in_cap : n;
  while (cap < held + n) cap *= 2;
  char *p = realloc(c->in, cap);
  if (!p) return -ENOMEM;
  c->srv->buffered += cap - c->in_cap;
  c->in = p;
  c->in_cap = cap;
  return 0;
}

/* Offers data (len bytes: the held input, or the shared buffer when nothing
 * is held) to on_data and keeps what it leaves. */
static void cn_deliver(cn_t *c, const char *data, size_t len) {
  int held = c->in && data == c->in + c->in_off;
  c->flags &= ~CN_REOFFER; /* this offer is the one a resume asked for */
  c->flags |= CN_IN_DATA;
  size_t used = c->srv->h.on_data(c, data, len);
  c->flags &= ~CN_IN_DATA;
  if (used > len) used = len; /* an owner bug; do not read past the end */
  size_t rest = len - used;
  if (c->flags & (CN_CLOSING | CN_CLOSED)) rest = 0; /* nobody will look at it */
  if (rest == 0) {
    cn_drop_input(c);
  } else if (held) {
    c->in_off += used;
  } else { /* only the tail of the shared buffer is worth keeping */
    if (cn_reserve(c, rest) < 0) {
      cn_close_now(c);
      return;
    }
    memcpy(c->in + c->in_len, data + used, rest);
    c->in_len += rest;
  }
  cn_update(c);
  cn_maybe_tell_eof(c);
}

static void cn_read(cn_t *c) {
  cn_server_t *s = c->srv;
  ssize_t n;
  /* One read per readiness: level-triggered, the loop comes back if more
   * is waiting, after the other ready connections had their turn. */
  do n = read(c->fd, s->rbuf, sizeof s->rbuf);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) cn_close_now(c); /* ECONNRESET... */
    return;
  }
  if (n > 0) {
    s->stats.bytes_in += (uint64_t)n;
    c->last_read = clk_now_ns();
  }
  if (n == 0) {
    c->flags |= CN_EOF;
    /* Held input may hold complete requests a resume has not offered yet. */
    if (cn_held(c)) {
      cn_deliver(c, c->in + c->in_off, cn_held(c));
    } else {
      cn_update(c);
      cn_maybe_tell_eof(c);
    }
    return;
  }
  if (cn_held(c) == 0) {
    cn_deliver(c, s->rbuf, (size_t)n);
    return;
  }
  if (cn_reserve(c, (size_t)n) < 0) {
    cn_close_now(c);
    return;
  }
  memcpy(c->in + c->in_len, s->rbuf, (size_t)n);
  c->in_len += (size_t)n;
  cn_deliver(c, c->in + c->in_off, cn_held(c));
}

/* ---- output ------------------------------------------------------------- */

int cn_write(cn_t *c, const void *buf, size_t len) {
  if (c->flags & (CN_CLOSING | CN_CLOSED)) return -EPIPE;
  if (len == 0) return 0;
  if (c->out_off && c->out_len + len > c->out_cap) { /* slide down before growing */
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
  }
  if (c->out_len + len > c->out_cap) {
    if (len > SIZE_MAX / 2 - c->out_len) return -ENOMEM;
    size_t need = c->out_len + len, cap = c->out_cap ? c->out_cap * 2 : CN_OUT_MIN;
    while (cap < need) cap *= 2;
    /* Past out_limit the owner stops producing, so doubling again would
     * mostly reserve memory that is never used: grow by what is needed. */
    if (cap > c->srv->out_limit && need > c->srv->out_limit / 2) {
      size_t tight = (need + CN_OUT_STEP - 1) / CN_OUT_STEP * CN_OUT_STEP;
      if (tight < cap) cap = tight;
    }
    char *p = realloc(c->out, cap);
    if (!p) return -ENOMEM;
    c->srv->buffered += cap - c->out_cap;
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, buf, len);
  c->out_len += len;
  /* Waiting for EL_WRITE already: the write handler will send it. */
  if (!(c->flags & CN_WANT_WRITE)) cn_mark_pending(c);
  if (cn_out_pending(c) > c->srv->out_limit) cn_update(c);
  return 0;
}

/* Writes queued output until done or the socket is full. */
static void cn_flush(cn_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->flags |= CN_WANT_WRITE;
        cn_update(c);
        return;
      }
      cn_close_now(c); /* EPIPE, ECONNRESET...: the peer is gone */
      return;
    }
    c->out_off += (size_t)n;
    c->srv->stats.bytes_out += (uint64_t)n;
  }
  /* All written: an idle connection holds no output buffer. */
  c->srv->buffered -= c->out_cap;
  free(c->out);
  c->out = NULL;
  c->out_off = c->out_len = c->out_cap = 0;
  c->flags &= ~CN_WANT_WRITE;
  if (c->flags & CN_CLOSING) cn_finish(c);
  else cn_update(c);
}

/* ---- lingering close (see DESIGN) --------------------------------------- */

static void cn_linger_tick(el_t *loop, void *arg) {
  (void)loop;
  cn_server_t *s = arg;
  uint64_t now = clk_now_ns();
  for (cn_t *c = s->lingering, *next; c; c = next) {
    next = c->next_linger;
    if (now >= c->linger_idle || now >= c->linger_end) cn_close_now(c);
  }
}

/* The output is all written: close now if the peer can send no more (it
 * shut down its side), else linger. */
static void cn_finish(cn_t *c) {
  cn_server_t *s = c->srv;
  if (c->flags & CN_LINGER) return;
  if (c->flags & CN_EOF) {
    cn_close_now(c);
    return;
  }
  if ((!s->linger_timer && el_timer_create(s->loop, cn_linger_tick, s, &s->linger_timer) < 0) ||
      shutdown(c->fd, SHUT_WR) < 0 || el_mod(s->loop, c->fd, EL_READ) < 0) {
    cn_close_now(c); /* cannot linger: a reset is the lesser evil than a leak */
    return;
  }
  c->interest = EL_READ;
  c->flags |= CN_CLOSING | CN_LINGER;
  cn_drop_input(c);
  uint64_t now = clk_now_ns();
  c->linger_idle = now + (uint64_t)CN_LINGER_IDLE_MS * 1000000u;
  c->linger_end = now + (uint64_t)CN_LINGER_MS * 1000000u;
  if (!s->lingering) (void)el_timer_arm(s->linger_timer, CN_LINGER_TICK_MS, CN_LINGER_TICK_MS);
  c->next_linger = s->lingering;
  s->lingering = c;
}

/* Lingering: read and drop whatever comes, until EOF or an error. */
static void cn_linger_read(cn_t *c) {
  ssize_t n;
  do n = read(c->fd, c->srv->rbuf, sizeof c->srv->rbuf);
  while (n < 0 && errno == EINTR);
  if (n > 0) c->linger_idle = clk_now_ns() + (uint64_t)CN_LINGER_IDLE_MS * 1000000u;
  else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) cn_close_now(c);
}

/* ---- owner controls ----------------------------------------------------- */

void cn_pause_read(cn_t *c, int paused) {
  if (paused) c->flags |= CN_PAUSED;
  else c->flags &= ~CN_PAUSED;
  cn_update(c);
}

void cn_close(cn_t *c, int flush) {
  if (c->flags & CN_CLOSED) return;
  if (!flush) {
    cn_close_now(c);
    return;
  }
  if (cn_out_pending(c) == 0) {
    cn_finish(c);
    return;
  }
  c->flags |= CN_CLOSING;
  cn_update(c); /* stops reading */
  if (!(c->flags & CN_WANT_WRITE)) cn_mark_pending(c);
}

/* ---- the loop's hooks --------------------------------------------------- */

static void cn_on_io(el_t *loop, int fd, unsigned events, void *arg) {
  (void)loop;
  (void)fd;
  cn_t *c = arg;
  if (c->flags & CN_LINGER) {
    cn_linger_read(c);
    return;
  }
  if ((events & EL_ERROR) && !(c->interest & (EL_READ | EL_WRITE))) {
    /* Not reading or writing, so no call would meet the error: a reset
     * (or an ICMP error) on a paused connection. The peer is gone. */
    cn_close_now(c);
    return;
  }
  if ((events & EL_WRITE) && (c->flags & CN_WANT_WRITE)) cn_flush(c);
  if ((events & EL_READ) && cn_can_read(c)) cn_read(c);
  if ((events & EL_RDHUP) && !(c->flags & (CN_EOF | CN_PEER_FIN | CN_CLOSED))) {
    /* A FIN while we do not read: a half-close, answered all the same
     * when reading resumes; stop asking, it would be reported forever. */
    c->flags |= CN_PEER_FIN;
    cn_update(c);
  }
}

static void cn_free(cn_t *c) {
  cn_server_t *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->all = c->next;
  if (c->next) c->next->prev = c->prev;
  s->count--;
  (void)el_del(s->loop, c->fd); /* no-op unless destroying */
  (void)close(c->fd);
  s->buffered -= c->in_cap + c->out_cap;
  free(c->in);
  free(c->out);
  free(c);
}

static void cn_final_close(cn_t *c) {
  cn_server_t *s = c->srv;
  if (!(c->flags & CN_REFUSED) && s->h.on_close) s->h.on_close(c);
  cn_free(c);
}

/* Runs before each epoll_wait: re-offers held input, writes batched
 * output, then completes closes. Each step may make work for the others
 * (on_data writes, on_close writes to another connection...), so repeat
 * until nothing is left: the loop must not sleep with work queued.
 * Returns nonzero if it offered input: the owner may have made work for a
 * hook that runs before this one (see el_hook_add). */
static int cn_before_wait(el_t *loop, void *arg) {
  (void)loop;
  cn_server_t *s = arg;
  int offered = 0;
  while (s->pending || s->closing) {
    while (s->pending) {
      cn_t *c = s->pending;
      s->pending = c->next_list;
      if (!s->pending) s->pending_tail = NULL;
      c->flags &= ~CN_PENDING;
      if (c->flags & CN_CLOSED) { /* closed while pending: move it on */
        c->next_list = s->closing;
        s->closing = c;
        continue;
      }
      if (c->flags & CN_REOFFER) {
        if (cn_held(c) && cn_can_offer(c)) {
          offered = 1;
          cn_deliver(c, c->in + c->in_off, cn_held(c));
        } else {
          c->flags &= ~CN_REOFFER;
          cn_maybe_tell_eof(c);
        }
        if (c->flags & (CN_CLOSED | CN_PENDING)) continue; /* re-queued above */
      }
      if (!(c->flags & CN_WANT_WRITE) && (cn_out_pending(c) || (c->flags & CN_CLOSING)))
        cn_flush(c);
    }
    while (s->closing && !s->pending) {
      cn_t *c = s->closing;
      s->closing = c->next_list;
      cn_final_close(c);
    }
  }
  return offered;
}

/* ---- accepting ---------------------------------------------------------- */

static void cn_accept_resume(el_t *loop, void *arg) {
  cn_server_t *s = arg;
  if (s->lfd >= 0) (void)el_mod(loop, s->lfd, EL_READ);
}

/* accept(2) is failing for lack of some resource; level-triggered, the
 * loop would retry at once, forever, at 100% CPU. Stop listening for a
 * moment instead. */
static void cn_accept_pause(cn_server_t *s) {
  if (!s->accept_timer &&
      el_timer_create(s->loop, cn_accept_resume, s, &s->accept_timer) < 0)
    return; /* out of fds for the timer too: spinning is all that is left */
  if (el_timer_arm(s->accept_timer, CN_ACCEPT_PAUSE_MS, 0) == 0)
    (void)el_mod(s->loop, s->lfd, 0);
}

/* Out of fds: the reserve-fd trick (libev, nginx). Free the spare fd,
 * accept the newcomer with it and close it at once, so the client gets a
 * prompt close instead of waiting in the backlog while we spin. */
static int cn_accept_emfile(cn_server_t *s) {
  if (s->spare_fd < 0) return -1;
  (void)close(s->spare_fd);
  s->spare_fd = -1;
  int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) (void)close(fd);
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? 0 : -1;
}

static void cn_reject(cn_server_t *s, int fd) {
  if (s->reject_len) /* best effort: a fresh socket's buffer takes a line */
    (void)send(fd, s->reject, s->reject_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)close(fd);
}

/* TCP keepalive after idle_s without traffic, then 3 probes idle_s / 3
 * apart (at least 1 s), as Redis's tcp-keepalive does. Best effort. */
static void cn_keepalive(int fd, unsigned idle_s) {
  int one = 1, idle = (int)idle_s, intvl = idle_s / 3 ? (int)(idle_s / 3) : 1, cnt = 3;
  (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static void cn_accept_one(cn_server_t *s, int fd, const struct sockaddr_storage *sa) {
  if (s->count >= s->max_conns) {
    cn_reject(s, fd);
    s->stats.rejected_full++;
    if (s->h.on_reject) s->h.on_reject(s->h.ud, CN_REJECT_FULL);
    return;
  }
  int one = 1;
  /* Replies are small and final: send them now, not after Nagle's delay.
   * Failure costs latency only, so it is not fatal. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (s->keepalive_s) cn_keepalive(fd, s->keepalive_s);
  cn_t *c = calloc(1, sizeof *c);
  if (!c) {
    (void)close(fd);
    return;
  }
  c->srv = s;
  c->fd = fd;
  c->last_read = clk_now_ns();
  if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
    memcpy(c->peer, &v6->sin6_addr, 16);
    c->peer_port = ntohs(v6->sin6_port);
    c->peer_v6 = 1;
  } else if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
    memcpy(c->peer, &v4->sin_addr, 4);
    c->peer_port = ntohs(v4->sin_port);
  }
  c->id = atomic_fetch_add_explicit(&cn_next_id, 1, memory_order_relaxed) + 1;
  c->interest = EL_READ | EL_ERROR;
  c->flags = CN_OFFERABLE;
  if (el_add(s->loop, fd, c->interest, cn_on_io, c) < 0) {
    free(c);
    (void)close(fd);
    return;
  }
  c->next = s->all;
  if (s->all) s->all->prev = c;
  s->all = c;
  s->count++;
  s->stats.accepted++;
  if (s->h.on_open && s->h.on_open(c, s->h.ud) != 0) {
    /* Through the normal close path: on_open may have used c already. */
    c->flags |= CN_REFUSED;
    cn_close_now(c);
  }
}

static void cn_on_accept(el_t *loop, int fd, unsigned events, void *arg) {
  (void)loop;
  (void)events;
  cn_server_t *s = arg;
  for (int i = 0; i < CN_ACCEPT_BATCH && s->lfd >= 0; i++) {
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    sa.ss_family = AF_UNSPEC;
    int cfd = accept4(fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd >= 0) {
      cn_accept_one(s, cfd, &sa);
      continue;
    }
    switch (errno) {
    case EINTR:
    case ECONNABORTED: /* the client gave up while in the backlog */
      continue;
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
      return;
    case EMFILE:
    case ENFILE:
      s->stats.rejected_nofd++;
      if (s->h.on_reject) s->h.on_reject(s->h.ud, CN_REJECT_NOFD);
      if (cn_accept_emfile(s) == 0) continue;
      cn_accept_pause(s);
      return;
    default: /* ENOBUFS, ENOMEM, EPERM (firewall)...: nothing to log with here */
      cn_accept_pause(s);
      return;
    }
  }
}

/* ---- the server --------------------------------------------------------- */

/* Meant as a numeric address: it has a colon (no host name has one) or
 * only digits and dots. Those getaddrinfo would read in legacy forms
 * ("1.2.3" as 1.2.0.3, "7" as 0.0.0.7); inet_pton's strict ones only. */
static int cn_looks_numeric(const char *a) {
  return strchr(a, ':') != NULL || a[strspn(a, "0123456789.")] == '\0';
}

static int cn_resolve(const char *addr, int port, struct addrinfo **out) {
  unsigned char probe[sizeof(struct in6_addr)];
  int numeric = inet_pton(AF_INET, addr, probe) == 1 || inet_pton(AF_INET6, addr, probe) == 1;
  if (!numeric && cn_looks_numeric(addr)) return -EINVAL; /* "1.2.3": no legacy forms */
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  int rc = getaddrinfo(addr, service, &hints, out);
  if (rc == 0) return 0;
  if (rc == EAI_MEMORY) return -ENOMEM;
  if (rc == EAI_SYSTEM) return errno ? -errno : -EIO;
  return -ENOENT;
}

int cn_check_bind_addr(const char *addr) {
  if (!addr || !*addr) return -EINVAL;
  struct addrinfo *ai;
  int rc = cn_resolve(addr, 0, &ai);
  if (rc == 0) freeaddrinfo(ai);
  return rc;
}

/* Binds and listens on the first address of opt->bind_addr that works. */
static int cn_listen_one(const struct addrinfo *a, const struct cn_options *opt) {
  int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  /* A restarted server must be able to bind while old connections linger
   * in TIME_WAIT. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      (opt->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
      bind(fd, a->ai_addr, a->ai_addrlen) < 0 ||
      listen(fd, opt->backlog > 0 ? opt->backlog : SOMAXCONN) < 0) {
    int err = errno;
    (void)close(fd);
    return -err;
  }
  return fd;
}

static int cn_listen(cn_server_t *s, const struct cn_options *opt) {
  if (!opt->bind_addr || !*opt->bind_addr || opt->port < 0 || opt->port > 65535) return -EINVAL;
  struct addrinfo *list;
  int rc = cn_resolve(opt->bind_addr, opt->port, &list);
  if (rc < 0) return rc == -ENOENT ? -EINVAL : rc;
  int fd = -EADDRNOTAVAIL;
  for (const struct addrinfo *a = list; a && fd < 0; a = a->ai_next) fd = cn_listen_one(a, opt);
  freeaddrinfo(list);
  if (fd < 0) return fd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
    int err = errno;
    (void)close(fd);
    return -err;
  }
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    s->port = ntohs(v4->sin_port);
    (void)inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    snprintf(s->addr, sizeof s->addr, "%s:%d", host, s->port);
  } else {
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    s->port = ntohs(v6->sin6_port);
    (void)inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    snprintf(s->addr, sizeof s->addr, "[%s]:%d", host, s->port);
  }
  s->lfd = fd;
  return 0;
}

int cn_server_start(el_t *loop, const struct cn_options *opt, const struct cn_handlers *h,
                    cn_server_t **out) {
  if (!h->on_data) return -EINVAL;
  cn_server_t *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->loop = loop;
  s->h = *h;
  s->lfd = s->spare_fd = -1;
  s->max_conns = opt->max_connections;
  s->out_limit = opt->out_limit;
  s->reuseport = opt->reuseport;
  s->keepalive_s = opt->keepalive_s;
  int rc = -ENOMEM;
  if (opt->reject_line) {
    s->reject_len = strlen(opt->reject_line);
    if (!(s->reject = malloc(s->reject_len + 1))) goto fail;
    memcpy(s->reject, opt->reject_line, s->reject_len + 1);
  }
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (s->spare_fd < 0) {
    rc = -errno;
    goto fail;
  }
  if ((rc = cn_listen(s, opt)) < 0) goto fail;
  if ((rc = el_add(loop, s->lfd, EL_READ, cn_on_accept, s)) < 0) goto fail;
  if ((rc = el_hook_add(loop, cn_before_wait, s)) < 0) {
    (void)el_del(loop, s->lfd);
    goto fail;
  }
  *out = s;
  return 0;
fail:
  if (s->lfd >= 0) (void)close(s->lfd);
  if (s->spare_fd >= 0) (void)close(s->spare_fd);
  free(s->reject);
  free(s);
  return rc;
}

void cn_server_stop_accepting(cn_server_t *s) {
  if (s->lfd < 0) return;
  (void)el_del(s->loop, s->lfd);
  (void)close(s->lfd);
  s->lfd = -1;
}

void cn_server_destroy(cn_server_t *s) {
  if (!s) return;
  cn_server_stop_accepting(s);
  el_hook_del(s->loop, cn_before_wait, s);
  /* Mark everything closed first, so on_close callbacks that write to or
   * close other connections meet -EPIPE / no-ops, not half-freed state. */
  for (cn_t *c = s->all; c; c = c->next) c->flags |= CN_CLOSED;
  while (s->all) cn_final_close(s->all);
  if (s->accept_timer) el_timer_destroy(s->accept_timer);
  if (s->linger_timer) el_timer_destroy(s->linger_timer);
  if (s->spare_fd >= 0) (void)close(s->spare_fd);
  free(s->reject);
  free(s);
}
