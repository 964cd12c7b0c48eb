/* event_loop: a small epoll reactor (see event_loop.h for the contract).
 *
 * DESIGN
 *
 * Model: Redis's ae.c + ae_epoll.c, with libuv's eventfd wake-up.
 *
 * Threads. One thread owns a loop and calls every el_ function on it, except
 * el_wake_signal, which any thread and any signal handler may call. That
 * function touches only an immutable fd and write(2), so it needs no lock
 * and is async-signal-safe. Everything else is single-threaded by design:
 * callbacks run one at a time on the loop thread.
 *
 * The fd table. Handlers live in an array indexed by fd, grown on demand
 * (as ae does): lookups are O(1) and the kernel keeps fds dense. epoll
 * reports each event with data.u64 = (generation << 32 | fd). Every
 * registration (el_add) takes a fresh generation, so before dispatching an
 * event we check that the fd is still registered *with the same
 * generation*. That makes two things safe inside a callback:
 *  - el_del of any fd, including one whose event is later in this batch
 *    (its slot is empty: the stale event is skipped);
 *  - closing an fd and adding a new one that reuses the number (the slot
 *    holds a newer generation: the stale event is skipped, not delivered to
 *    the new owner).
 * Callbacks may also grow the table (el_add of a big fd), so dispatch never
 * keeps a pointer into it across a call.
 *
 * Level-triggered. A handler that does not drain its fd is simply called
 * again next iteration; that is what keeps one busy connection from
 * starving the others, with no bookkeeping here.
 *
 * Interest 0. epoll always reports EPOLLERR/EPOLLHUP, even for an empty
 * interest set, and level-triggered that would spin the loop on a dead but
 * paused socket whose owner does not close it. So el_mod(fd, 0) takes the
 * fd out of the epoll set while keeping its handler registered; a later
 * el_mod puts it back. An owner that wants to hear of errors while it does
 * not read (a paused connection whose peer may reset) asks for EL_ERROR
 * alone instead, and must close the fd when it is reported.
 *
 * Wake-ups and timers are fds too (eventfd, timerfd), registered through
 * the same table with an internal handler. The loop owns them: it keeps
 * them on a list so el_destroy can close the ones still alive.
 */
#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { EL_MAX_EVENTS = 128 }; /* per epoll_wait; more stay ready for the next one */

struct el_handler {
  el_io_fn fn;       /* NULL: slot free */
  void *arg;
  uint32_t gen;      /* registration generation, see DESIGN */
  unsigned events : 4;   /* EL_READ|EL_WRITE|EL_ERROR|EL_RDHUP asked for */
  unsigned in_epoll : 1; /* 0 while events == 0, see DESIGN */
};

/* A wake-up or a timer: an fd owned by the loop plus the user's callback. */
struct el_src {
  el_t *loop;
  int fd;
  el_fn fn;
  void *arg;
  struct el_src *prev, *next; /* loop->srcs */
};

struct el_wake { struct el_src src; };
struct el_timer { struct el_src src; };

struct el_hook {
  el_hook_fn fn;
  void *arg;
};

struct el {
  int epfd;
  int stop;
  uint32_t next_gen;
  struct el_handler *tab;
  int tab_size;
  struct el_src *srcs;
  struct el_hook *hooks; /* run before each wait, in this order */
  size_t nhooks;
  struct epoll_event events[EL_MAX_EVENTS];
};

int el_create(el_t **out) {
  el_t *loop = calloc(1, sizeof *loop);
  if (!loop) return -ENOMEM;
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (loop->epfd < 0) {
    int err = errno;
    free(loop);
    return -err;
  }
  *out = loop;
  return 0;
}

static void el_src_free(struct el_src *s);

void el_destroy(el_t *loop) {
  if (!loop) return;
  while (loop->srcs) el_src_free(loop->srcs);
  (void)close(loop->epfd);
  free(loop->tab);
  free(loop->hooks);
  free(loop);
}

/* ---- the fd table ------------------------------------------------------- */

enum { EL_INTEREST = EL_READ | EL_WRITE | EL_ERROR | EL_RDHUP };

/* EL_ERROR maps to nothing: epoll reports errors unasked. */
static uint32_t el_to_epoll(unsigned events) {
  return (events & EL_READ ? EPOLLIN : 0u) | (events & EL_WRITE ? EPOLLOUT : 0u) |
         (events & EL_RDHUP ? EPOLLRDHUP : 0u);
}

static int el_ctl(el_t *loop, int op, int fd, const struct el_handler *h) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = el_to_epoll(h->events);
  ev.data.u64 = (uint64_t)h->gen << 32 | (uint32_t)fd;
  return epoll_ctl(loop->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int el_grow(el_t *loop, int fd) {
  if (fd < loop->tab_size) return 0;
  int n = loop->tab_size ? loop->tab_size : 64;
  while (n <= fd) n *= 2;
  struct el_handler *t = realloc(loop->tab, (size_t)n * sizeof *t);
  if (!t) return -ENOMEM;
  memset(t + loop->tab_size, 0, (size_t)(n - loop->tab_size) * sizeof *t);
  loop->tab = t;
  loop->tab_size = n;
  return 0;
}

int el_add(el_t *loop, int fd, unsigned events, el_io_fn fn, void *arg) {
  if (fd < 0 || !fn) return -EINVAL;
  int rc = el_grow(loop, fd);
  if (rc < 0) return rc;
  struct el_handler *h = &loop->tab[fd];
  if (h->fn) return -EEXIST;
  struct el_handler nh = {fn, arg, ++loop->next_gen, events & EL_INTEREST, 0};
  if (nh.events) {
    if ((rc = el_ctl(loop, EPOLL_CTL_ADD, fd, &nh)) < 0) return rc;
    nh.in_epoll = 1;
  }
  *h = nh;
  return 0;
}

int el_mod(el_t *loop, int fd, unsigned events) {
  if (fd < 0 || fd >= loop->tab_size || !loop->tab[fd].fn) return -ENOENT;
  struct el_handler *h = &loop->tab[fd];
  struct el_handler nh = *h;
  nh.events = events & EL_INTEREST;
  int rc = 0;
  if (nh.events == 0) {
    if (h->in_epoll) rc = el_ctl(loop, EPOLL_CTL_DEL, fd, &nh);
    nh.in_epoll = 0;
  } else {
    rc = el_ctl(loop, h->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &nh);
    nh.in_epoll = 1;
  }
  if (rc < 0) return rc;
  *h = nh;
  return 0;
}

int el_del(el_t *loop, int fd) {
  if (fd < 0 || fd >= loop->tab_size || !loop->tab[fd].fn) return -ENOENT;
  struct el_handler *h = &loop->tab[fd];
  /* The slot is freed even if epoll_ctl fails (it can only fail if the
   * owner already closed the fd, which removed it from the set anyway). */
  int rc = h->in_epoll ? el_ctl(loop, EPOLL_CTL_DEL, fd, h) : 0;
  memset(h, 0, sizeof *h);
  return rc == -EBADF ? 0 : rc;
}

int el_hook_add(el_t *loop, el_hook_fn fn, void *arg) {
  struct el_hook *h = realloc(loop->hooks, (loop->nhooks + 1) * sizeof *h);
  if (!h) return -ENOMEM;
  h[loop->nhooks].fn = fn;
  h[loop->nhooks].arg = arg;
  loop->hooks = h;
  loop->nhooks++;
  return 0;
}

void el_hook_del(el_t *loop, el_hook_fn fn, void *arg) {
  for (size_t i = 0; i < loop->nhooks; i++) {
    if (loop->hooks[i].fn != fn || loop->hooks[i].arg != arg) continue;
    memmove(&loop->hooks[i], &loop->hooks[i + 1], (loop->nhooks - i - 1) * sizeof *loop->hooks);
    loop->nhooks--;
    return;
  }
}

/* Every hook, in order; again while one made work for an earlier one. */
static void el_run_hooks(el_t *loop) {
  int again;
  do {
    again = 0;
    for (size_t i = 0; i < loop->nhooks && !loop->stop; i++)
      again |= loop->hooks[i].fn(loop, loop->hooks[i].arg);
  } while (again && !loop->stop);
}

void el_stop(el_t *loop) { loop->stop = 1; }

/* ---- the loop ----------------------------------------------------------- */

static void el_dispatch(el_t *loop, const struct epoll_event *ev) {
  int fd = (int)(uint32_t)ev->data.u64;
  uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
  if (fd >= loop->tab_size) return;
  const struct el_handler *h = &loop->tab[fd];
  /* Deleted, or deleted and re-added, by an earlier callback in this batch. */
  if (!h->fn || h->gen != gen) return;
  unsigned events = 0;
  if (ev->events & EPOLLIN) events |= EL_READ;
  if (ev->events & EPOLLOUT) events |= EL_WRITE;
  if (ev->events & EPOLLRDHUP) events |= EL_RDHUP & h->events;
  if (ev->events & (EPOLLERR | EPOLLHUP)) {
    /* Like ae: report the error as the interests asked for too, so the
     * handler's read or write meets the error and handles it there. */
    events |= EL_ERROR | h->events;
  }
  el_io_fn fn = h->fn; /* copy: the callback may realloc the table */
  fn(loop, fd, events, h->arg);
}

int el_run_once(el_t *loop, int timeout_ms) {
  el_run_hooks(loop);
  if (loop->stop) return 0;
  int n = epoll_wait(loop->epfd, loop->events, EL_MAX_EVENTS, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -errno; /* EINTR: a signal; its handler woke us */
  for (int i = 0; i < n; i++) el_dispatch(loop, &loop->events[i]);
  return n;
}

int el_run(el_t *loop) {
  loop->stop = 0;
  while (!loop->stop) {
    int rc = el_run_once(loop, -1);
    if (rc < 0) return rc;
  }
  return 0;
}

/* ---- wake-ups and timers ------------------------------------------------ */

static int el_src_init(el_t *loop, struct el_src *s, int fd, el_fn fn, void *arg,
                       el_io_fn io) {
  s->loop = loop;
  s->fd = fd;
  s->fn = fn;
  s->arg = arg;
  int rc = el_add(loop, fd, EL_READ, io, s);
  if (rc < 0) {
    (void)close(fd);
    return rc;
  }
  s->prev = NULL;
  s->next = loop->srcs;
  if (loop->srcs) loop->srcs->prev = s;
  loop->srcs = s;
  return 0;
}

static void el_src_free(struct el_src *s) {
  el_t *loop = s->loop;
  (void)el_del(loop, s->fd);
  (void)close(s->fd);
  if (s->prev) s->prev->next = s->next;
  else loop->srcs = s->next;
  if (s->next) s->next->prev = s->prev;
  free(s); /* first member of el_wake / el_timer */
}

/* Reads the 8-byte counter of an eventfd or timerfd. Returns 0 if there was
 * nothing to read (another reader, or a timer re-armed, got there first). */
static uint64_t el_read_counter(int fd) {
  uint64_t v;
  ssize_t n;
  do n = read(fd, &v, sizeof v);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof v ? v : 0;
}

static void el_src_ready(el_t *loop, int fd, unsigned events, void *arg) {
  (void)events;
  struct el_src *s = arg;
  /* One read drains the eventfd counter (all signals since the last read)
   * or takes every timer expiry: one callback for the lot. */
  if (el_read_counter(fd) != 0) s->fn(loop, s->arg);
}

int el_wake_create(el_t *loop, el_fn fn, void *arg, el_wake_t **out) {
  el_wake_t *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    free(w);
    return -err;
  }
  int rc = el_src_init(loop, &w->src, fd, fn, arg, el_src_ready);
  if (rc < 0) {
    free(w);
    return rc;
  }
  *out = w;
  return 0;
}

void el_wake_signal(el_wake_t *w) {
  /* No locks, no allocation, errno preserved: callable from a signal
   * handler. EAGAIN means the counter is already huge, i.e. a wake-up is
   * already pending, which is all we want. */
  int saved = errno;
  uint64_t one = 1;
  ssize_t n;
  do n = write(w->src.fd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
  errno = saved;
}

void el_wake_destroy(el_wake_t *w) {
  if (w) el_src_free(&w->src);
}

int el_timer_create(el_t *loop, el_fn fn, void *arg, el_timer_t **out) {
  el_timer_t *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    free(t);
    return -err;
  }
  int rc = el_src_init(loop, &t->src, fd, fn, arg, el_src_ready);
  if (rc < 0) {
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int el_timer_arm(el_timer_t *t, unsigned first_ms, unsigned interval_ms) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = first_ms / 1000;
  its.it_value.tv_nsec = (long)(first_ms % 1000) * 1000000L;
  if (first_ms) { /* an interval without a first expiry means nothing */
    its.it_interval.tv_sec = interval_ms / 1000;
    its.it_interval.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
  }
  /* Re-arming also discards expirations not yet read, so a disarmed timer
   * never calls back (el_read_counter sees EAGAIN). */
  return timerfd_settime(t->src.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void el_timer_destroy(el_timer_t *t) {
  if (t) el_src_free(&t->src);
}
