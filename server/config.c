/* config: pool_server's command line (see config.h).
 *
 * DESIGN
 * One table describes every option: its long name, its argument, the group
 * --help lists it in, what it does and its default, and where its value
 * goes. getopt_long is driven from that table (long options and their
 * short aliases built from it), and --help is printed from it, so the two
 * cannot disagree. Numbers go through base/strnum (digits only, range
 * checked), the parser stress_test uses too. Every bad value is one line
 * naming the option, then the usage line, exit 2, before anything starts.
 */
#include "server/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strnum.h"
#include "net/conn.h"
#include "server/command.h"
#include "server/log.h"

#define CFG_VERSION "2.0.0"

enum cfg_kind { CFG_FLAG, CFG_NUM, CFG_STR, CFG_SPECIAL };
enum cfg_group { G_NET, G_POOL, G_OVERLOAD, G_LOG, G_OBS, G_GENERAL, G_COUNT };

struct cfg_opt {
  const char *name;     /* long name, without "--" */
  int short_name;       /* 0, or the one-letter alias */
  enum cfg_kind kind;
  enum cfg_group group;
  const char *meta;     /* the argument in --help ("N", "MS") */
  const char *help;     /* what it does; "%s" is replaced by nothing */
  const char *dflt;     /* the default, as --help shows it */
  uint64_t min, max;    /* CFG_NUM */
  size_t off;           /* offset in struct srv_config (CFG_NUM/STR/FLAG) */
  int width;            /* CFG_NUM: sizeof the field */
};

static const char *const cfg_groups[G_COUNT] = {
    "Network", "Pool", "Overload", "Logging", "Observability", "General",
};

#define OFF(f) offsetof(struct srv_config, f), (int)sizeof(((struct srv_config *)0)->f)
#define NONE 0, 0

/* Special options, handled by cfg_special. */
enum { O_WORKERS = 1000, O_MIN, O_MAX, O_BIND, O_ON_FULL, O_LANE, O_LEVEL, O_FORMAT, O_METRICS };

static const struct cfg_opt cfg_opts[] = {
    {"port", 'p', CFG_NUM, G_NET, "N", "TCP port to listen on (also the first argument); 0 picks a free one", "9090", 0, 65535, OFF(port)},
    {"bind", O_BIND, CFG_SPECIAL, G_NET, "ADDR", "address or host name to listen on", "127.0.0.1", 0, 0, NONE},
    {"reuseport", 0, CFG_FLAG, G_NET, NULL, "set SO_REUSEPORT: several processes share the port, the kernel spreads connections", "off", 0, 0, OFF(reuseport)},
    {"max-connections", 0, CFG_NUM, G_NET, "N", "open connections at most; a newcomer above gets \"too many connections\"", "10000", 1, 1000000, OFF(max_connections)},
    {"idle-timeout-s", 0, CFG_NUM, G_NET, "S", "close a connection idle this long (nothing read, nothing owed); 0 never", "0", 0, 86400 * 30, OFF(idle_timeout_s)},
    {"tcp-keepalive-s", 0, CFG_NUM, G_NET, "S", "TCP keepalive probes on a connection idle this long; 0 off", "300", 0, 86400, OFF(tcp_keepalive_s)},
    {"resp-inline", 0, CFG_FLAG, G_NET, NULL, "answer text lines ending in \\r\\n in RESP2, as Redis answers inline commands", "off", 0, 0, OFF(resp_inline)},
    {"port-file", 0, CFG_STR, G_NET, "PATH", "write the port to PATH once listening (with --port 0)", "none", 0, 0, OFF(port_file)},
    {"workers", 'w', CFG_SPECIAL, G_POOL, "N", "a fixed pool of N workers: the process has N+1 threads", "4", 1, 1024, NONE},
    {"min-workers", O_MIN, CFG_SPECIAL, G_POOL, "N", "an elastic pool starts with N workers ...", "4", 1, 1024, NONE},
    {"max-workers", O_MAX, CFG_SPECIAL, G_POOL, "N", "... and grows, while tasks wait and every worker is busy, to N", "4", 1, 1024, NONE},
    {"idle-ms", 0, CFG_NUM, G_POOL, "MS", "an elastic pool's worker idle this long exits, down to --min-workers", "2000", 1, 3600000, OFF(idle_ms)},
    {"queue-capacity", 0, CFG_NUM, G_POOL, "N", "tasks that may wait, per lane", "256", 1, 1u << 20, OFF(queue_capacity)},
    {"task-timeout-ms", 0, CFG_NUM, G_POOL, "MS", "a task that has run longer is answered \"timeout\" and cancelled; 0 none", "0", 0, 3600000, OFF(task_timeout_ms)},
    {"on-full", O_ON_FULL, CFG_SPECIAL, G_OVERLOAD, "reject|hold", "a request meeting a full queue: \"server busy\" at once, or held (the connection stops being read until there is room)", "reject", 0, 0, NONE},
    {"queue-timeout-ms", 0, CFG_NUM, G_OVERLOAD, "MS", "a task that waited longer in the queue is answered \"timeout\" and never runs; 0 none", "0", 0, 3600000, OFF(queue_timeout_ms)},
    {"lane", O_LANE, CFG_SPECIAL, G_OVERLOAD, "NAME=CMDS:MAX", "run the commands CMDS (comma-separated) in their own lane: at most MAX workers at once, its own queue (repeatable)", "none", 0, 0, NONE},
    {"max-inflight", 0, CFG_NUM, G_OVERLOAD, "N", "requests outstanding per connection; above it the connection is not read", "64", 1, 65536, OFF(max_inflight)},
    {"max-line", 0, CFG_NUM, G_OVERLOAD, "BYTES", "longest request line or RESP bulk; longer is an error and the connection closes", "65536", 1, 64u << 20, OFF(max_line)},
    {"shutdown-grace-ms", 0, CFG_NUM, G_OVERLOAD, "MS", "after SIGTERM, how long queued and running tasks may finish; exit follows within MS + 300 ms", "1000", 0, 60000, OFF(shutdown_grace_ms)},
    {"log-level", O_LEVEL, CFG_SPECIAL, G_LOG, "LEVEL", "error, warn, info or debug (debug names every request's threads)", "info", 0, 0, NONE},
    {"log-format", O_FORMAT, CFG_SPECIAL, G_LOG, "text|json", "one line per record; json: one object per line (ts, level, thread, msg, fields)", "text", 0, 0, NONE},
    {"log-file", 0, CFG_STR, G_LOG, "PATH", "append the log to PATH (SIGHUP reopens it, for logrotate)", "stderr", 0, 0, OFF(log_file)},
    {"metrics-port", O_METRICS, CFG_SPECIAL, G_OBS, "PORT", "serve GET /metrics (Prometheus text format) on PORT of --bind", "off", 0, 65535, NONE},
    {"help", 'h', CFG_SPECIAL, G_GENERAL, NULL, "print this help and exit", NULL, 0, 0, NONE},
    {"version", 'V', CFG_SPECIAL, G_GENERAL, NULL, "print the version and exit (also -v)", NULL, 0, 0, NONE},
};

enum { CFG_NOPTS = sizeof cfg_opts / sizeof cfg_opts[0] };

static const char cfg_usage[] = "usage: pool_server [PORT] [OPTION]... (pool_server --help lists them)\n";

static int cfg_bad(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "pool_server: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n%s", cfg_usage);
  return CFG_USAGE;
}

/* "  HEAD  text", the text wrapped at 79 columns under itself. */
static void cfg_help_line(const char *head, const char *text) {
  enum { COL = 28, WIDTH = 79 };
  /* The text two spaces or more after the head, or under it. */
  if (strlen(head) > COL - 4) printf("  %s\n%*s", head, COL, "");
  else printf("  %-*s", COL - 2, head);
  const char *p = text;
  while (*p) {
    size_t room = WIDTH - COL, n = strlen(p);
    if (n > room) { /* break at the last space that fits */
      n = room;
      while (n > 0 && p[n] != ' ') n--;
      if (n == 0) n = room;
    }
    printf("%.*s\n", (int)n, p);
    p += n;
    while (*p == ' ') p++;
    if (*p) printf("%*s", COL, "");
  }
}

static void cfg_help(void) {
  printf("pool_server " CFG_VERSION ": a thread-pool server. The event loop does all socket IO;\n"
         "HASH, PRIMES, SLEEP and VERIFY run on a bounded pool of worker threads.\n\n%s", cfg_usage);
  for (int g = 0; g < G_COUNT; g++) {
    printf("\n%s:\n", cfg_groups[g]);
    for (size_t i = 0; i < CFG_NOPTS; i++) {
      const struct cfg_opt *o = &cfg_opts[i];
      if ((int)o->group != g) continue;
      char head[64], text[512];
      int sn = o->short_name > 0 && o->short_name < 128;
      snprintf(head, sizeof head, "%c%c%s--%s%s%s", sn ? '-' : ' ', sn ? o->short_name : ' ',
               sn ? ", " : "  ", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
      snprintf(text, sizeof text, "%s%s%s%s", o->help, o->dflt ? " [default: " : "",
               o->dflt ? o->dflt : "", o->dflt ? "]" : "");
      cfg_help_line(head, text);
    }
  }
  printf("\nSignals: TERM or INT drain and exit 0 (within --shutdown-grace-ms + 300 ms);\n"
         "HUP reopens --log-file (else it is logged and ignored); USR1 logs the STATS line;\n"
         "USR2 is logged and ignored; PIPE is ignored.\n"
         "Exit status: 0 after a clean shutdown, 1 if start-up failed (port in use, ...),\n"
         "2 for a bad command line.\n");
}

static int cfg_set_num(const struct cfg_opt *o, const char *v, struct srv_config *cfg) {
  uint64_t n;
  if (num_parse_u64_str(v, o->max, &n) < 0 || n < o->min) {
    char range[64];
    snprintf(range, sizeof range, "%llu..%llu", (unsigned long long)o->min,
             (unsigned long long)o->max);
    fprintf(stderr, "pool_server: invalid value for --%s: '%s' (expected %s)\n%s", o->name, v,
            range, cfg_usage);
    return CFG_USAGE;
  }
  char *field = (char *)cfg + o->off;
  if (o->width == sizeof(size_t)) *(size_t *)(void *)field = (size_t)n;
  else if (o->width == sizeof(unsigned)) *(unsigned *)(void *)field = (unsigned)n;
  else abort(); /* a table entry for a field of another size */
  return 0;
}

/* NAME=CMD[,CMD...]:MAX, e.g. slow=SLEEP:2 or cpu=HASH,PRIMES:4. */
static int cfg_lane(const char *v, struct srv_config *cfg) {
  const char *eq = strchr(v, '='), *colon = strrchr(v, ':');
  if (!eq || !colon || colon < eq)
    return cfg_bad("invalid value for --lane: '%s' (expected NAME=COMMANDS:MAX_WORKERS)%s", v, "");
  if (cfg->nlanes + 1 >= SRV_MAX_LANES)
    return cfg_bad("too many --lane options at '%s' (at most %s)", v, "7");
  struct srv_lane *l = &cfg->lanes[cfg->nlanes];
  size_t nlen = (size_t)(eq - v);
  if (nlen == 0 || nlen >= SRV_LANE_NAME || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") < nlen)
    return cfg_bad("invalid lane name in --lane '%s' (1-15 of a-z 0-9 _ -)%s", v, "");
  memcpy(l->name, v, nlen);
  l->name[nlen] = '\0';
  if (strcmp(l->name, "default") == 0)
    return cfg_bad("invalid lane name in --lane '%s' (\"default\" is the lane of the rest)%s", v, "");
  for (size_t k = 0; k < cfg->nlanes; k++)
    if (strcmp(cfg->lanes[k].name, l->name) == 0)
      return cfg_bad("lane '%s' given twice%s", l->name, "");
  uint64_t max;
  if (num_parse_u64_str(colon + 1, 1024, &max) < 0 || max == 0)
    return cfg_bad("invalid MAX_WORKERS in --lane '%s' (expected 1..1024)%s", v, "");
  l->max_workers = (size_t)max;
  l->commands = 0;
  for (const char *p = eq + 1; p < colon;) {
    const char *end = memchr(p, ',', (size_t)(colon - p));
    if (!end) end = colon;
    const struct cmd_def *d = cmd_find(p, (size_t)(end - p));
    if (!d || d->where != CMD_POOL) {
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(end - p), p);
      return cfg_bad("--lane: '%s' is not a command that runs on the pool%s", name, "");
    }
    unsigned long long bit = 1ull << cmd_index(d);
    for (size_t k = 0; k < cfg->nlanes; k++)
      if (cfg->lanes[k].commands & bit)
        return cfg_bad("--lane: command '%s' is already in lane '%s'", d->name, cfg->lanes[k].name);
    l->commands |= bit;
    p = end + 1;
  }
  if (!l->commands) return cfg_bad("--lane '%s' names no command%s", v, "");
  cfg->nlanes++;
  return 0;
}

/* Special options. *workers etc. collect --workers/--min/--max for later. */
static int cfg_special(int val, const char *v, struct srv_config *cfg, uint64_t sizes[3]) {
  switch (val) {
    case 'w':
    case O_MIN:
    case O_MAX: {
      uint64_t n;
      const char *name = val == 'w' ? "workers" : val == O_MIN ? "min-workers" : "max-workers";
      if (num_parse_u64_str(v, 1024, &n) < 0 || n < 1)
        return cfg_bad("invalid value for --%s: '%s' (expected 1..1024)", name, v);
      sizes[val == 'w' ? 0 : val == O_MIN ? 1 : 2] = n;
      return 0;
    }
    case O_BIND: {
      int rc = cn_check_bind_addr(v);
      if (rc < 0)
        return cfg_bad("invalid value for --bind: '%s' (%s)", v,
                       rc == -ENOENT ? "resolves to no address"
                                     : "not an IPv4 or IPv6 address or a host name");
      cfg->bind_addr = v;
      return 0;
    }
    case O_ON_FULL:
      if (strcmp(v, "reject") == 0) cfg->on_full = SRV_REJECT;
      else if (strcmp(v, "hold") == 0) cfg->on_full = SRV_HOLD;
      else return cfg_bad("invalid value for --on-full: '%s' (expected reject or hold)%s", v, "");
      return 0;
    case O_LANE:
      return cfg_lane(v, cfg);
    case O_LEVEL: {
      enum lg_level level;
      if (lg_parse_level(v, &level) < 0)
        return cfg_bad("invalid value for --log-level: '%s' (expected error, warn, info or debug)%s", v, "");
      cfg->log_level = (int)level;
      return 0;
    }
    case O_FORMAT:
      if (strcmp(v, "text") == 0) cfg->log_format = SRV_LOG_TEXT;
      else if (strcmp(v, "json") == 0) cfg->log_format = SRV_LOG_JSON;
      else return cfg_bad("invalid value for --log-format: '%s' (expected text or json)%s", v, "");
      return 0;
    case O_METRICS: {
      uint64_t n;
      if (num_parse_u64_str(v, 65535, &n) < 0)
        return cfg_bad("invalid value for --metrics-port: '%s' (expected 0..65535)%s", v, "");
      cfg->metrics_port = (int)n;
      return 0;
    }
  }
  abort(); /* a table entry without a case */
}

int cfg_parse(struct srv_config *cfg, int argc, char **argv) {
  struct option longs[CFG_NOPTS + 2];
  char shorts[32] = ":v";
  size_t ns = 2;
  for (size_t i = 0; i < CFG_NOPTS; i++) {
    const struct cfg_opt *o = &cfg_opts[i];
    int has_arg = o->kind == CFG_FLAG || o->meta == NULL ? no_argument : required_argument;
    int val = o->short_name ? o->short_name : (int)(2000 + i);
    longs[i] = (struct option){o->name, has_arg, NULL, val};
    if (o->short_name > 0 && o->short_name < 128) {
      shorts[ns++] = (char)o->short_name;
      if (has_arg == required_argument) shorts[ns++] = ':';
    }
  }
  longs[CFG_NOPTS] = (struct option){NULL, 0, NULL, 0};
  shorts[ns] = '\0';

  uint64_t sizes[3] = {0, 0, 0}; /* --workers, --min-workers, --max-workers */
  int c, idx;
  opterr = 0; /* our own messages */
  optind = 1;
  while ((c = getopt_long(argc, argv, shorts, longs, &idx)) != -1) {
    if (c == '?') {
      const char *bad = argv[optind - 1];
      if (optopt) {
        char o[3] = {'-', (char)optopt, '\0'};
        return cfg_bad("unknown option '%s'%s", o, "");
      }
      return cfg_bad("unknown option '%s'%s", bad, "");
    }
    if (c == ':') return cfg_bad("option '%s' needs a value%s", argv[optind - 1], "");
    if (c == 'h') {
      cfg_help();
      return CFG_EXIT_OK;
    }
    if (c == 'V' || c == 'v') {
      printf("pool_server " CFG_VERSION "\n");
      return CFG_EXIT_OK;
    }
    const struct cfg_opt *o = NULL;
    for (size_t i = 0; i < CFG_NOPTS && !o; i++)
      if ((cfg_opts[i].short_name ? cfg_opts[i].short_name : (int)(2000 + i)) == c) o = &cfg_opts[i];
    if (!o) abort();
    int rc = 0;
    switch (o->kind) {
      case CFG_FLAG: *(int *)(void *)((char *)cfg + o->off) = 1; break;
      case CFG_NUM: rc = cfg_set_num(o, optarg, cfg); break;
      case CFG_STR: *(const char **)(void *)((char *)cfg + o->off) = optarg; break;
      case CFG_SPECIAL: rc = cfg_special(c, optarg, cfg, sizes); break;
    }
    if (rc) return rc;
  }
  /* The spec's positional PORT. */
  if (optind < argc) {
    int rc = cfg_set_num(&cfg_opts[0], argv[optind], cfg);
    if (rc) return rc;
    if (++optind < argc) return cfg_bad("unexpected argument '%s'%s", argv[optind], "");
  }

  /* --workers N is a fixed pool; --min/--max-workers make it elastic. */
  if (sizes[0]) cfg->min_workers = cfg->max_workers = (size_t)sizes[0];
  if (sizes[1]) cfg->min_workers = (size_t)sizes[1];
  if (sizes[2]) cfg->max_workers = (size_t)sizes[2];
  if (sizes[1] && !sizes[2] && cfg->max_workers < cfg->min_workers) cfg->max_workers = cfg->min_workers;
  if (sizes[2] && !sizes[1] && cfg->min_workers > cfg->max_workers) cfg->min_workers = cfg->max_workers;
  if (cfg->min_workers > cfg->max_workers) {
    char a[24], b[24];
    snprintf(a, sizeof a, "%zu", cfg->min_workers);
    snprintf(b, sizeof b, "%zu", cfg->max_workers);
    return cfg_bad("--min-workers (%s) is above --max-workers (%s)", a, b);
  }
  if (cfg->metrics_port > 0 && cfg->metrics_port == cfg->port) {
    char p[8];
    snprintf(p, sizeof p, "%d", cfg->port);
    return cfg_bad("--metrics-port %s is the server's own port%s", p, "");
  }
  return CFG_RUN;
}
