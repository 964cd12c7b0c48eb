/* conn_fuzz: a libFuzzer target for the connection input path, net/conn's
 * flow control (held input, pause and resume, the output bound, EOF), the
 * path where a resume once went missing (issue 9). Also run over its corpus
 * by the replay test in every build configuration (replay_main.c).
 *
 * Each input is a script played against a real listener and a real
 * loopback client in this process: an event loop stepped with el_run_once,
 * a line-echo owner, and a client that sends, reads, half-closes.
 *   byte 0  out_limit: 64 << (b & 7) bytes (64 .. 8 KiB).
 *   byte 1  how many bytes of script follow (the rest is the payload: the
 *           bytes the client sends, in order, newlines and all).
 *   script  one byte per step, op = b & 7, arg = b >> 3 (0..31):
 *     0 send   the next 1 + arg * 17 payload bytes (what the socket takes)
 *     1 pump   step the loop until nothing happens; the client reads
 *     2 pause  the owner pauses the connection (from outside on_data)
 *     3 resume the owner resumes it
 *     4 budget the owner consumes at most arg lines per on_data (0: all),
 *              then pauses; arg odd: it also resumes inside on_data (a
 *              "blip", what the server's flush does)
 *     5 reply  the owner's reply size per line: arg * arg * 8 bytes
 *     6 shut   the client half-closes (sends nothing after)
 *     7 big    the owner writes arg * 1 KiB at once (to go over out_limit)
 * At the end the owner resumes, the client reads everything, the loop is
 * stepped until quiet, and the invariants are checked:
 *  - on_data is offered exactly the bytes the client sent and the owner has
 *    not consumed, from the first one on: nothing lost, repeated or
 *    reordered, and never while the owner has the connection paused;
 *  - nothing is stranded: once the owner takes input again and the output
 *    has drained, every complete line sent has been consumed, without the
 *    client sending another byte;
 *  - on_eof comes once, after the client's FIN and after every complete
 *    line was consumed; no on_data after it; on_close exactly once;
 *  - every byte the owner wrote reaches the client (nothing dropped by
 *    flow control), and ASan/UBSan see no fault.
 * A failure prints "conn_fuzz: FAIL: <what>" and aborts.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/event_loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { CF_MAX_PAYLOAD = 1 << 16 };

struct cf {
  el_t *loop;
  cn_server_t *srv;
  cn_t *c;         /* until on_close */
  int client;      /* the client's socket */
  const uint8_t *payload;
  size_t payload_len, sent, consumed;
  int shut, eof, eof_calls, closes, opens;
  int paused;      /* the owner has the connection paused */
  unsigned budget; /* lines per on_data; 0 = all */
  int blip;
  size_t reply_size;
  uint64_t written, received;
  char zeros[8192];
};

static void cf_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "conn_fuzz: FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

static void cf_write(struct cf *f, size_t n) {
  while (n > 0) {
    size_t k = n < sizeof f->zeros ? n : sizeof f->zeros;
    if (cn_write(f->c, f->zeros, k) != 0) cf_fail("cn_write refused %zu bytes", k);
    f->written += k;
    n -= k;
  }
}

static size_t cf_on_data(cn_t *c, const char *buf, size_t len) {
  struct cf *f = cn_data(c);
  if (f->paused) cf_fail("on_data while the owner had the connection paused");
  if (f->eof_calls) cf_fail("on_data after on_eof");
  if (len > f->sent - f->consumed) cf_fail("offered %zu bytes, %zu unconsumed", len, f->sent - f->consumed);
  if (memcmp(buf, f->payload + f->consumed, len) != 0)
    cf_fail("offered bytes are not the next ones sent (at %zu)", f->consumed);
  size_t used = 0;
  unsigned lines = 0;
  const char *nl;
  while ((nl = memchr(buf + used, '\n', len - used)) != NULL) {
    used = (size_t)(nl - buf) + 1;
    lines++;
    cf_write(f, f->reply_size);
    if (f->budget && lines == f->budget) { /* stop here: pause */
      cn_pause_read(c, 1);
      f->paused = 1;
      if (f->blip) { /* and resume before returning, as the server's flush can */
        cn_pause_read(c, 0);
        f->paused = 0;
      }
      break;
    }
    if (cn_out_full(c)) break; /* offered again once the output drains */
  }
  f->consumed += used;
  return used;
}

static int cf_on_open(cn_t *c, void *ud) {
  struct cf *f = ud;
  f->c = c;
  f->opens++;
  cn_set_data(c, f);
  return 0;
}

static void cf_on_eof(cn_t *c) {
  struct cf *f = cn_data(c);
  if (!f->shut) cf_fail("on_eof before the client's FIN");
  if (f->eof_calls++) cf_fail("on_eof twice");
  /* Every complete line sent before the FIN was consumed. */
  if (memchr(f->payload + f->consumed, '\n', f->sent - f->consumed))
    cf_fail("on_eof with complete lines unconsumed (%zu of %zu)", f->consumed, f->sent);
  f->eof = 1;
}

static void cf_on_close(cn_t *c) {
  struct cf *f = cn_data(c);
  f->closes++;
  f->c = NULL;
}

/* The client reads whatever has arrived. */
static void cf_client_read(struct cf *f) {
  char buf[65536];
  while (f->client >= 0) {
    ssize_t n = recv(f->client, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      f->received += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;
  }
}

/* Bytes the client's kernel has not transmitted yet. */
static int cf_unsent(struct cf *f) {
  int n = 0;
  if (f->client < 0) return 0;
  if (ioctl(f->client, SIOCOUTQNSD, &n) < 0) cf_fail("SIOCOUTQNSD: %s", strerror(errno));
  return n;
}

/* Steps the loop (and reads as the client) until everything the client
 * sent has left its kernel and a few passes in a row do nothing. */
static void cf_pump(struct cf *f) {
  int quiet = 0;
  for (int i = 0; i < 100000 && quiet < 3; i++) {
    uint64_t before = f->received;
    int unsent = cf_unsent(f);
    int n = el_run_once(f->loop, unsent ? 1 : 0);
    if (n < 0) cf_fail("el_run_once: %s", strerror(-n));
    cf_client_read(f);
    quiet = n == 0 && f->received == before && unsent == 0 ? quiet + 1 : 0;
  }
}

static void cf_send(struct cf *f, size_t n) {
  if (f->shut) return;
  if (n > f->payload_len - f->sent) n = f->payload_len - f->sent;
  while (n > 0) {
    ssize_t k = send(f->client, f->payload + f->sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return; /* the socket is full: the server is not reading */
    f->sent += (size_t)k;
    n -= (size_t)k;
  }
}

static int cf_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) cf_fail("socket: %s", strerror(errno));
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* libFuzzer's timers (SIGALRM) may interrupt a blocking connect; the
   * connection then goes on in the background: wait for it to finish. */
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (errno != EINTR) cf_fail("connect: %s", strerror(errno));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int rc, err = 0;
    socklen_t len = sizeof err;
    while ((rc = poll(&p, 1, -1)) < 0 && errno == EINTR) {
    }
    if (rc < 0) cf_fail("poll: %s", strerror(errno));
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) cf_fail("SO_ERROR: %s", strerror(errno));
    if (err) cf_fail("connect: %s", strerror(err));
  }
  /* Each send goes out at once: Nagle would hold small ones for an ACK. */
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
    cf_fail("TCP_NODELAY: %s", strerror(errno));
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static struct cf f;
  memset(&f, 0, sizeof f);
  size_t nscript = data[1];
  if (nscript > size - 2) nscript = size - 2;
  const uint8_t *script = data + 2;
  f.payload = script + nscript;
  f.payload_len = size - 2 - nscript;
  if (f.payload_len > CF_MAX_PAYLOAD) f.payload_len = CF_MAX_PAYLOAD;

  struct cn_options opt = {.bind_addr = "127.0.0.1", .port = 0, .max_connections = 4,
                           .out_limit = (size_t)64 << (data[0] & 7)};
  struct cn_handlers h = {.on_open = cf_on_open, .on_data = cf_on_data, .on_eof = cf_on_eof,
                          .on_close = cf_on_close, .ud = &f};
  int rc;
  if ((rc = el_create(&f.loop)) < 0) cf_fail("el_create: %s", strerror(-rc));
  if ((rc = cn_server_start(f.loop, &opt, &h, &f.srv)) < 0) cf_fail("cn_server_start: %s", strerror(-rc));
  f.client = cf_connect(cn_server_port(f.srv));
  cf_pump(&f);
  if (f.opens != 1) cf_fail("the connection was not opened");

  for (size_t i = 0; i < nscript && f.c; i++) {
    unsigned op = script[i] & 7, arg = script[i] >> 3;
    switch (op) {
      case 0: cf_send(&f, 1 + (size_t)arg * 17); break;
      case 1: cf_pump(&f); break;
      case 2:
        if (!f.paused) cn_pause_read(f.c, 1);
        f.paused = 1;
        break;
      case 3:
        f.paused = 0;
        cn_pause_read(f.c, 0);
        break;
      case 4:
        f.budget = arg >> 1;
        f.blip = arg & 1;
        break;
      case 5: f.reply_size = (size_t)arg * arg * 8; break;
      case 6:
        if (!f.shut && shutdown(f.client, SHUT_WR) < 0) cf_fail("shutdown: %s", strerror(errno));
        f.shut = 1;
        break;
      case 7:
        if (!f.eof_calls) cf_write(&f, (size_t)arg * 1024);
        break;
    }
  }

  /* The end: the owner takes everything from now on; the client reads. */
  if (!f.c) cf_fail("the connection closed on its own");
  f.budget = 0;
  f.paused = 0;
  cn_pause_read(f.c, 0);
  cf_pump(&f);
  if (cn_out_pending(f.c) != 0) cf_fail("%zu bytes of output never went out", cn_out_pending(f.c));
  if (memchr(f.payload + f.consumed, '\n', f.sent - f.consumed))
    cf_fail("input stranded: %zu of %zu bytes consumed, a complete line among the rest",
            f.consumed, f.sent);
  if (f.shut && !f.eof) cf_fail("no on_eof after the client's FIN");
  if (f.received != f.written)
    cf_fail("the client got %llu bytes of %llu written", (unsigned long long)f.received,
            (unsigned long long)f.written);

  f.shut = 1; /* close() sends a FIN too */
  (void)close(f.client);
  f.client = -1;
  cf_pump(&f); /* the server sees the close (or will at destroy) */
  cn_server_destroy(f.srv);
  if (f.closes != 1) cf_fail("on_close %d times", f.closes);
  el_destroy(f.loop);
  return 0;
}
