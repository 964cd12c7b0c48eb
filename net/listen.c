/* listen: net/conn's listener (see conn.h for the contract).
 *
 * DESIGN
 *
 * Model: nginx's accept loop and Redis's anetTcpServer.
 *
 * Binding. --bind takes an address or a host name: getaddrinfo, the first
 * address that binds. Numeric-looking strings must be strict inet_pton
 * forms (getaddrinfo would read "1.2.3" as 1.2.0.3), so a typo is a usage
 * error, not a surprise address. SO_REUSEADDR always (a restart must bind
 * while old connections sit in TIME_WAIT); SO_REUSEPORT on request.
 *
 * Accepting. Level-triggered: at most CN_ACCEPT_BATCH accepts per
 * readiness, so a flood of newcomers cannot starve the connections already
 * open. A newcomer above max_connections gets reject_line and is closed.
 * Out of file descriptors (EMFILE/ENFILE), the reserve-fd trick (libev,
 * nginx): free the spare fd, accept the newcomer with it and close it at
 * once, so the client gets a prompt close instead of waiting in the
 * backlog while we spin; other resource errors pause accepting for
 * CN_ACCEPT_PAUSE_MS instead of spinning. Each turned-away newcomer is
 * counted and reported to on_reject.
 *
 * A new connection gets TCP_NODELAY (replies are small and final) and,
 * if asked, TCP keepalive; its peer address is kept for logs.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "net/conn_internal.h"

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
