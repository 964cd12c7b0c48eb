/* pool_server: command line parsing; everything else is in server.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn.h"
#include "server/log.h"
#include "server/server.h"

#define POOL_SERVER_VERSION "1.0.0"

static const char usage[] =
    "usage: pool_server [PORT] [--port N] [--bind ADDR] [--workers N]\n"
    "                   [--min-workers N] [--max-workers N] [--idle-ms MS]\n"
    "                   [--queue-capacity N] [--max-line BYTES] [--max-connections N]\n"
    "                   [--max-inflight N] [--task-timeout-ms MS] [--shutdown-grace-ms MS]\n"
    "                   [--resp-inline] [--log-level error|warn|info|debug] [--help] [--version]\n";

/* A flag taking a number, the range it accepts, and where it goes. */
struct num_flag {
  const char *name;
  uint64_t min, max;
  size_t *size_out;
  unsigned *uint_out;
  int *int_out;
};

static int bad_usage(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "pool_server: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

/* Decimal digits only: no sign, no spaces, no overflow (strtoul accepts all three). */
static int parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (*s == '\0') return -EINVAL;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -EINVAL;
    if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) return -ERANGE;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 0;
}

static int set_num(const struct num_flag *f, const char *value) {
  uint64_t v;
  if (parse_u64(value, &v) < 0 || v < f->min || v > f->max) {
    fprintf(stderr, "pool_server: invalid value for %s: '%s' (expected %llu..%llu)\n%s", f->name,
            value, (unsigned long long)f->min, (unsigned long long)f->max, usage);
    return 2;
  }
  if (f->size_out) *f->size_out = (size_t)v;
  if (f->uint_out) *f->uint_out = (unsigned)v;
  if (f->int_out) *f->int_out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  struct srv_config cfg;
  srv_config_defaults(&cfg);
  size_t workers = 0, min_workers = 0, max_workers = 0;
  enum lg_level level = LG_INFO;

  const struct num_flag flags[] = {
      {"--port", 0, 65535, NULL, NULL, &cfg.port},
      {"--workers", 1, 1024, &workers, NULL, NULL},
      {"--min-workers", 1, 1024, &min_workers, NULL, NULL},
      {"--max-workers", 1, 1024, &max_workers, NULL, NULL},
      {"--idle-ms", 1, 3600000, NULL, &cfg.idle_ms, NULL},
      {"--queue-capacity", 1, 1u << 20, &cfg.queue_capacity, NULL, NULL},
      {"--max-line", 1, 64u << 20, &cfg.max_line, NULL, NULL},
      {"--max-connections", 1, 1000000, &cfg.max_connections, NULL, NULL},
      {"--max-inflight", 1, 65536, &cfg.max_inflight, NULL, NULL},
      {"--task-timeout-ms", 0, 3600000, NULL, &cfg.task_timeout_ms, NULL},
      {"--shutdown-grace-ms", 0, 60000, NULL, &cfg.shutdown_grace_ms, NULL},
  };
  const size_t nflags = sizeof flags / sizeof flags[0];
  int have_port_arg = 0;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(arg, "--version") == 0) {
      puts("pool_server " POOL_SERVER_VERSION);
      return 0;
    }
    if (strcmp(arg, "--resp-inline") == 0) {
      cfg.resp_inline = 1;
      continue;
    }
    if (arg[0] != '-') { /* the spec's positional PORT */
      if (have_port_arg++) return bad_usage("unexpected argument '%s'%s", arg, "");
      int rc = set_num(&flags[0], arg);
      if (rc) return rc;
      continue;
    }
    /* --name VALUE or --name=VALUE */
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *value = eq ? eq + 1 : NULL;
    int is_bind = strncmp(arg, "--bind", name_len) == 0 && name_len == 6;
    int is_level = strncmp(arg, "--log-level", name_len) == 0 && name_len == 11;
    const struct num_flag *f = NULL;
    for (size_t k = 0; k < nflags; k++)
      if (strlen(flags[k].name) == name_len && strncmp(arg, flags[k].name, name_len) == 0)
        f = &flags[k];
    if (!f && !is_bind && !is_level) return bad_usage("unknown option '%s'%s", arg, "");
    if (!value) {
      if (i + 1 >= argc) return bad_usage("option '%s' needs a value%s", arg, "");
      value = argv[++i];
    }
    if (is_bind) {
      int rc = cn_check_bind_addr(value);
      if (rc < 0)
        return bad_usage("invalid value for --bind: '%s' (%s)", value,
                         rc == -ENOENT ? "resolves to no address"
                                       : "not an IPv4 or IPv6 address or a host name");
      cfg.bind_addr = value;
    } else if (is_level) {
      if (lg_parse_level(value, &level) < 0)
        return bad_usage("invalid value for --log-level: '%s'%s", value, "");
    } else {
      int rc = set_num(f, value);
      if (rc) return rc;
    }
  }

  /* --workers N is a fixed pool; --min/--max-workers make it elastic. */
  if (workers) cfg.min_workers = cfg.max_workers = workers;
  if (min_workers) cfg.min_workers = min_workers;
  if (max_workers) cfg.max_workers = max_workers;
  if (min_workers && !max_workers && cfg.max_workers < cfg.min_workers)
    cfg.max_workers = cfg.min_workers;
  if (max_workers && !min_workers && cfg.min_workers > cfg.max_workers)
    cfg.min_workers = cfg.max_workers;
  if (cfg.min_workers > cfg.max_workers) {
    fprintf(stderr, "pool_server: --min-workers (%zu) is above --max-workers (%zu)\n%s",
            cfg.min_workers, cfg.max_workers, usage);
    return 2;
  }

  lg_set_level(level);
  return srv_run(&cfg);
}
