/* client: epoll-driven client connections, see client.h.
 * Epoll data: a connection's index, or CL_WATCH_TAG | fd for a watched fd.
 * Level-triggered; EPOLLOUT is armed only while output is queued or a
 * connect is in progress. A write error just drops the queued output: the
 * broken socket then reads as EOF or an error, which reports on_close after
 * every line that did arrive. */
#include "tools/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CL_WATCH_TAG ((uint64_t)1 << 63)
enum { CL_READ_CHUNK = 65536, CL_MAX_EVENTS = 128, CL_READS_PER_EVENT = 4 };

int64_t cl_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cl_resolve(const char *host, uint16_t port, struct sockaddr_in *addr) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res) return -EHOSTUNREACH;
  memcpy(addr, res->ai_addr, sizeof *addr);
  addr->sin_port = htons(port);
  freeaddrinfo(res);
  return 0;
}

int cl_init(struct cl_set *s, size_t n, const struct sockaddr_in *addr,
            int connect_timeout_ms, const struct cl_callbacks *cb, void *arg) {
  memset(s, 0, sizeof *s);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0) return -errno;
  s->conns = calloc(n ? n : 1, sizeof *s->conns);
  if (!s->conns) {
    close(s->epfd);
    s->epfd = -1;
    return -ENOMEM;
  }
  s->n = n;
  s->addr = *addr;
  s->connect_timeout_ms = connect_timeout_ms;
  s->max_line = (size_t)1 << 20;
  s->cb = *cb;
  s->arg = arg;
  for (size_t i = 0; i < n; i++) {
    s->conns[i].set = s;
    s->conns[i].idx = i;
    s->conns[i].fd = -1;
    s->conns[i].state = CL_IDLE;
  }
  return 0;
}

static int cl_ctl(struct cl_conn *c, int op, int want_out) {
  if (op == EPOLL_CTL_MOD && c->want_out == want_out) return 0;
  c->want_out = want_out;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0);
  ev.data.u64 = c->idx;
  return epoll_ctl(c->set->epfd, op, c->fd, &ev) < 0 ? -errno : 0;
}

/* Closes c and reports err to the owner. */
static void cl_fail(struct cl_conn *c, int err) {
  cl_close(c);
  if (c->set->cb.on_close) c->set->cb.on_close(c, err, c->set->arg);
}

void cl_close(struct cl_conn *c) {
  if (c->state == CL_CONNECTING || c->state == CL_OPEN) c->set->active--;
  if (c->fd >= 0) {
    epoll_ctl(c->set->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->state = CL_CLOSED;
  c->out_off = c->out_len = 0;
  c->in_len = 0;
}

static int cl_connect_one(struct cl_conn *c) {
  struct cl_set *s = c->set;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -errno;
  int one = 1;
  if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) return -errno;
  c->state = CL_CONNECTING;
  s->active++;
  c->connect_deadline_ns = cl_now_ns() + (int64_t)s->connect_timeout_ms * 1000000;
  if (connect(c->fd, (const struct sockaddr *)&s->addr, sizeof s->addr) < 0 &&
      errno != EINPROGRESS)
    return -errno;
  return cl_ctl(c, EPOLL_CTL_ADD, 1); /* writable == connected (or failed) */
}

int cl_reconnect(struct cl_conn *c) {
  if (c->state != CL_CLOSED) return -EALREADY;
  c->want_out = 0;
  int rc = cl_connect_one(c);
  if (rc < 0) cl_close(c);
  return rc;
}

int cl_start(struct cl_set *s) {
  for (size_t i = 0; i < s->n; i++) {
    struct cl_conn *c = &s->conns[i];
    if (c->state != CL_IDLE) continue;
    int rc = cl_connect_one(c);
    if (rc < 0) cl_fail(c, -rc);
  }
  return 0;
}

/* Writes queued output; arms/disarms EPOLLOUT. */
static void cl_flush(struct cl_conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w > 0) {
      c->out_off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      cl_ctl(c, EPOLL_CTL_MOD, 1);
      return;
    }
    break; /* broken: the read side will report it */
  }
  c->out_off = c->out_len = 0;
  cl_ctl(c, EPOLL_CTL_MOD, 0);
}

int cl_send(struct cl_conn *c, const void *buf, size_t len) {
  if (c->state != CL_CONNECTING && c->state != CL_OPEN) return -ENOTCONN;
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + len > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len) cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p) return -ENOMEM;
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, buf, len);
  c->out_len += len;
  if (c->state == CL_OPEN && c->out_len - c->out_off == len) cl_flush(c);
  return 0;
}

int cl_watch(struct cl_set *s, int fd, cl_watch_fn fn, void *arg) {
  if (s->nwatch == CL_MAX_WATCH) return -ENOSPC;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.u64 = CL_WATCH_TAG | (uint64_t)(unsigned)fd;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
  s->watch[s->nwatch++] = (struct cl_watch){fd, fn, arg};
  return 0;
}

void cl_unwatch(struct cl_set *s, int fd) {
  for (size_t i = 0; i < s->nwatch; i++) {
    if (s->watch[i].fd != fd) continue;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
    s->watch[i] = s->watch[--s->nwatch];
    return;
  }
}

static void cl_on_connected(struct cl_conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) {
    cl_fail(c, err);
    return;
  }
  c->state = CL_OPEN;
  if (c->set->cb.on_open) c->set->cb.on_open(c, c->set->arg);
  if (c->state == CL_OPEN) cl_flush(c);
}

/* Hands every complete line in c->in to on_line; keeps the partial rest. */
static void cl_lines(struct cl_conn *c) {
  size_t start = 0;
  while (c->state == CL_OPEN) {
    char *nl = memchr(c->in + start, '\n', c->in_len - start);
    if (!nl) break;
    size_t len = (size_t)(nl - (c->in + start));
    if (c->set->cb.on_line) c->set->cb.on_line(c, c->in + start, len, c->set->arg);
    start += len + 1;
  }
  if (start && c->state == CL_OPEN) { /* closed: cl_close dropped the input */
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
  }
}

static void cl_on_readable(struct cl_conn *c) {
  for (int round = 0; round < CL_READS_PER_EVENT && c->state == CL_OPEN; round++) {
    if (c->in_cap - c->in_len < CL_READ_CHUNK) {
      size_t cap = c->in_len + CL_READ_CHUNK;
      char *p = realloc(c->in, cap);
      if (!p) {
        cl_fail(c, ENOMEM);
        return;
      }
      c->in = p;
      c->in_cap = cap;
    }
    ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r <= 0) {
      cl_fail(c, r == 0 ? 0 : errno);
      return;
    }
    c->in_len += (size_t)r;
    cl_lines(c);
    if (c->state == CL_OPEN && c->in_len > c->set->max_line) {
      cl_fail(c, EMSGSIZE);
      return;
    }
  }
}

static void cl_check_connect_timeouts(struct cl_set *s, int64_t now) {
  for (size_t i = 0; i < s->n; i++) {
    struct cl_conn *c = &s->conns[i];
    if (c->state == CL_CONNECTING && now >= c->connect_deadline_ns) cl_fail(c, ETIMEDOUT);
  }
}

int cl_poll(struct cl_set *s, int timeout_ms) {
  int64_t now = cl_now_ns();
  for (size_t i = 0; i < s->n; i++) { /* bound the wait by connect deadlines */
    struct cl_conn *c = &s->conns[i];
    if (c->state != CL_CONNECTING) continue;
    int64_t left = (c->connect_deadline_ns - now + 999999) / 1000000;
    if (left < 0) left = 0;
    if (timeout_ms < 0 || left < timeout_ms) timeout_ms = (int)left;
  }
  struct epoll_event ev[CL_MAX_EVENTS];
  int k = epoll_wait(s->epfd, ev, CL_MAX_EVENTS, timeout_ms);
  if (k < 0 && errno != EINTR) return -errno;
  for (int i = 0; i < k; i++) {
    uint64_t tag = ev[i].data.u64;
    if (tag & CL_WATCH_TAG) {
      int fd = (int)(tag & ~CL_WATCH_TAG);
      for (size_t w = 0; w < s->nwatch; w++)
        if (s->watch[w].fd == fd) {
          s->watch[w].fn(fd, s->watch[w].arg);
          break;
        }
      continue;
    }
    struct cl_conn *c = &s->conns[tag];
    if (c->state == CL_CONNECTING) {
      cl_on_connected(c);
      continue;
    }
    if (c->state != CL_OPEN) continue; /* closed earlier in this batch */
    if (ev[i].events & EPOLLOUT) cl_flush(c);
    if (c->state == CL_OPEN && (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
      cl_on_readable(c);
  }
  cl_check_connect_timeouts(s, cl_now_ns());
  return (int)s->active;
}

void cl_destroy(struct cl_set *s) {
  for (size_t i = 0; s->conns && i < s->n; i++) {
    cl_close(&s->conns[i]);
    free(s->conns[i].out);
    free(s->conns[i].in);
  }
  free(s->conns);
  s->conns = NULL;
  if (s->epfd >= 0) close(s->epfd);
  s->epfd = -1;
}
