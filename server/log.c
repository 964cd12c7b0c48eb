/* log: see log.h.
 *
 * DESIGN
 * A record is built on the caller's stack (header, message, newline) and
 * written with one write(2) on lg_fd. lg_fd is stderr or the --log-file
 * descriptor, fixed before threads start; lg_reopen replaces the file
 * behind that same number with dup3, which is atomic, so a thread logging
 * meanwhile writes whole lines to the old file or the new one. JSON
 * escaping follows RFC 8259 (quotes, backslash, control characters).
 */
#include "server/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum { LG_MSG = 1024, LG_LINE = 4096 };

static enum lg_level lg_current = LG_INFO;
static enum lg_format lg_fmt = LG_TEXT;
static int lg_fd = STDERR_FILENO;
static char lg_path[4096];

static const char *const lg_names[] = {"error", "warn", "info", "debug"};

void lg_set_level(enum lg_level level) { lg_current = level; }
void lg_set_format(enum lg_format format) { lg_fmt = format; }
int lg_enabled(enum lg_level level) { return level <= lg_current; }

int lg_parse_level(const char *name, enum lg_level *out) {
  for (int i = LG_ERROR; i <= LG_DEBUG; i++) {
    if (strcasecmp(name, lg_names[i]) == 0) {
      *out = (enum lg_level)i;
      return 0;
    }
  }
  return -EINVAL;
}

static int lg_open_path(const char *path) {
  int fd;
  do fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

int lg_open(const char *path) {
  if (strlen(path) >= sizeof lg_path) return -ENAMETOOLONG;
  int fd = lg_open_path(path);
  if (fd < 0) return fd;
  lg_close();
  lg_fd = fd;
  strcpy(lg_path, path);
  return 0;
}

int lg_reopen(void) {
  if (lg_fd == STDERR_FILENO || lg_path[0] == '\0') return 0;
  int fd = lg_open_path(lg_path);
  if (fd < 0) return fd;
  int rc = dup3(fd, lg_fd, O_CLOEXEC) < 0 ? -errno : 0;
  (void)close(fd);
  return rc;
}

void lg_close(void) {
  if (lg_fd != STDERR_FILENO) (void)close(lg_fd);
  lg_fd = STDERR_FILENO;
  lg_path[0] = '\0';
}

/* Appends s[0..n) as a JSON string body (no quotes) to out at *o. */
static void lg_json_str(char *out, size_t cap, size_t *o, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n && *o + 7 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[(*o)++] = '\\';
      out[(*o)++] = (char)c;
    } else if (c < 0x20) {
      memcpy(out + *o, "\\u00", 4);
      out[*o + 4] = hex[c >> 4];
      out[*o + 5] = hex[c & 15];
      *o += 6;
    } else {
      out[(*o)++] = (char)c;
    }
  }
}

static void lg_put(char *out, size_t cap, size_t *o, const char *s) {
  size_t n = strlen(s);
  if (*o + n >= cap) n = cap - *o - 1;
  memcpy(out + *o, s, n);
  *o += n;
}

/* The message's key=value words as members: "conn=7" -> ,"conn":7. A key
 * is [a-z_][a-z0-9_]*, at most 32 bytes. Words from the first ' on are
 * not read: that is where client bytes begin (pr_quote's '...'), and a
 * client must not be able to add or override a field ("conn=1 invalid:
 * unknown command 'x conn=9'" is conn 1, with no second "conn"). A key
 * already given is skipped too, so no object has a member twice. */
static void lg_json_fields(char *out, size_t cap, size_t *o, const char *msg) {
  static const char *const taken[] = {"ts", "level", "thread", "msg"};
  static const char key_chars[] = "abcdefghijklmnopqrstuvwxyz_0123456789";
  enum { MAX_FIELDS = 64 };
  const char *seen[MAX_FIELDS];
  size_t seen_len[MAX_FIELDS], nseen = 0;
  const char *end = msg + strcspn(msg, "'");
  for (const char *p = msg; p < end && nseen < MAX_FIELDS;) {
    size_t w = strcspn(p, " ");
    if (w > (size_t)(end - p)) w = (size_t)(end - p);
    const char *eq = memchr(p, '=', w);
    size_t klen = eq ? (size_t)(eq - p) : 0;
    int ok = klen > 0 && klen <= 32 && ((*p >= 'a' && *p <= 'z') || *p == '_') &&
             strspn(p, key_chars) >= klen && w > klen + 1;
    for (size_t t = 0; ok && t < sizeof taken / sizeof taken[0]; t++)
      ok = !(strlen(taken[t]) == klen && memcmp(taken[t], p, klen) == 0);
    for (size_t t = 0; ok && t < nseen; t++)
      ok = !(seen_len[t] == klen && memcmp(seen[t], p, klen) == 0);
    if (ok) {
      /* Built apart and appended whole, or not at all: a line too long
       * loses fields, never its JSON shape. */
      char f[2 * LG_MSG + 64];
      size_t fo = 0;
      const char *v = eq + 1;
      size_t vlen = w - klen - 1, digits = strspn(v, "0123456789");
      int num = vlen < 19 && digits >= vlen && !(v[0] == '0' && vlen > 1);
      lg_put(f, sizeof f, &fo, ",\"");
      lg_json_str(f, sizeof f, &fo, p, klen);
      lg_put(f, sizeof f, &fo, num ? "\":" : "\":\"");
      lg_json_str(f, sizeof f, &fo, v, vlen);
      if (!num) lg_put(f, sizeof f, &fo, "\"");
      if (*o + fo >= cap) break;
      memcpy(out + *o, f, fo);
      *o += fo;
      seen[nseen] = p;
      seen_len[nseen++] = klen;
    }
    p += w;
    while (*p == ' ') p++;
  }
}

void lg_log(enum lg_level level, const char *fmt, ...) {
  if (!lg_enabled(level)) return;
  int saved_errno = errno;

  char msg[LG_MSG], line[LG_LINE], ts[64];
  struct timespec now;
  struct tm tm;
  char thread[16] = "?";
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000L);
  if (gettid() == getpid()) strcpy(thread, "main"); /* its name is the program's */
  else pthread_getname_np(pthread_self(), thread, sizeof thread);

  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (m < 0) msg[0] = '\0';

  size_t n = 0;
  if (lg_fmt == LG_JSON) {
    lg_put(line, sizeof line, &n, "{\"ts\":\"");
    lg_put(line, sizeof line, &n, ts);
    lg_put(line, sizeof line, &n, "\",\"level\":\"");
    lg_put(line, sizeof line, &n, lg_names[level]);
    lg_put(line, sizeof line, &n, "\",\"thread\":\"");
    lg_json_str(line, sizeof line, &n, thread, strlen(thread));
    lg_put(line, sizeof line, &n, "\",\"msg\":\"");
    /* The message and the fields leave room for the closing "}\n": a
     * record too long is cut, still one JSON object. */
    lg_json_str(line, sizeof line - 2, &n, msg, strlen(msg));
    lg_put(line, sizeof line, &n, "\"");
    lg_json_fields(line, sizeof line - 2, &n, msg);
    lg_put(line, sizeof line, &n, "}");
  } else {
    int h = snprintf(line, sizeof line, "%s %-5s %-9s %s", ts, lg_names[level], thread, msg);
    n = h < 0 ? 0 : (size_t)h < sizeof line - 1 ? (size_t)h : sizeof line - 2;
  }
  line[n++] = '\n';

  /* One write per record. A short write or EINTR is retried for the rest;
   * a failing log is not worth dying for. */
  for (const char *p = line; n > 0;) {
    ssize_t w = write(lg_fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
    n -= (size_t)w;
  }
  errno = saved_errno;
}
