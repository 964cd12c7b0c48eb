/* conn: buffered connections and their flow control (see conn.h for the contract).
 *
 * DESIGN
 *
 * Model: Redis's networking.c (readQueryFromClient, writeToClient,
 * handleClientsWithPendingWrites). The listener (binding, accepting, the
 * reserve fd for EMFILE, newcomers turned away) is in listen.c; both share
 * conn_internal.h.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "net/conn_internal.h"

atomic_uint_least64_t cn_next_id;

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
void cn_close_now(cn_t *c) {
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

void cn_on_io(el_t *loop, int fd, unsigned events, void *arg) {
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

void cn_final_close(cn_t *c) {
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
int cn_before_wait(el_t *loop, void *arg) {
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
