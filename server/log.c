/* log: see log.h. */
#include "server/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum lg_level lg_current = LG_INFO;

static const char *const lg_names[] = {"error", "warn", "info", "debug"};

void lg_set_level(enum lg_level level) { lg_current = level; }

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

void lg_log(enum lg_level level, const char *fmt, ...) {
  if (!lg_enabled(level)) return;
  int saved_errno = errno;

  char line[1024];
  struct timespec now;
  struct tm tm;
  char thread[16] = "?";
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  if (gettid() == getpid()) strcpy(thread, "main"); /* its name is the program's */
  else pthread_getname_np(pthread_self(), thread, sizeof thread);

  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %-9s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, now.tv_nsec / 1000000L, lg_names[level], thread);
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2; /* truncated: keep the newline */
  line[n++] = '\n';

  /* One write per record. A short write or EINTR is retried for the rest;
   * a failing stderr is not worth dying for. */
  for (const char *p = line; n > 0;) {
    ssize_t w = write(STDERR_FILENO, p, (size_t)n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
    n -= (int)w;
  }
  errno = saved_errno;
}
