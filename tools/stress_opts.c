/* stress_opts: stress_test's command line (see stress_opts.h).
 *
 * DESIGN: one getopt_long table; each value flag is parsed where it is met
 * by a helper that knows the flag's range, and remembers that it was given,
 * so the combination checks afterwards can say which flag is misplaced
 * (e.g. --pipeline with --rate). Error text is formatted into the caller's
 * buffer, never printed here, which keeps every path testable. The help
 * text is the reference for what each flag does; README's Tools section
 * follows it.
 */
#include "tools/stress_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "base/strnum.h"

#define SO_SEC 1000000000ull
#define SO_MAX_SECS (7ull * 24 * 3600) /* a week */

enum {
  SO_HOST = 256, SO_PORT, SO_CLIENTS, SO_FRAMES, SO_DURATION, SO_TIMEOUT, SO_PIPELINE,
  SO_RATE, SO_MAX_OUT, SO_CMD, SO_MIX, SO_SEED, SO_RECONNECT, SO_ATTEMPTS, SO_JSON,
};

static const struct option so_longopts[] = {
    {"host", required_argument, NULL, SO_HOST},
    {"port", required_argument, NULL, SO_PORT},
    {"clients", required_argument, NULL, SO_CLIENTS},
    {"frames", required_argument, NULL, SO_FRAMES},
    {"duration", required_argument, NULL, SO_DURATION},
    {"timeout", required_argument, NULL, SO_TIMEOUT},
    {"pipeline", required_argument, NULL, SO_PIPELINE},
    {"rate", required_argument, NULL, SO_RATE},
    {"max-outstanding", required_argument, NULL, SO_MAX_OUT},
    {"cmd", required_argument, NULL, SO_CMD},
    {"mix", required_argument, NULL, SO_MIX},
    {"seed", required_argument, NULL, SO_SEED},
    {"reconnect", no_argument, NULL, SO_RECONNECT},
    {"reconnect-attempts", required_argument, NULL, SO_ATTEMPTS},
    {"json", no_argument, NULL, SO_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *const so_default_rotation[] = {
    "PING", "ECHO hello from stress_test", "HASH abc", "PRIMES 1000",
};

static const char so_help_text[] =
    SO_USAGE "\n"
    "\n"
    "Load generator and reply checker for pool_server: N connections on one\n"
    "epoll, every reply checked against its request's expected answer.\n"
    "\n"
    "Target\n"
    "  --host H                server address, a name or IPv4 (default 127.0.0.1)\n"
    "  --port P                server port, 1..65535 (required)\n"
    "  --clients N             connections, 1..100000 (default 10)\n"
    "\n"
    "Length of the run\n"
    "  --frames F              requests per connection, 1..10^12 (default 100)\n"
    "  --duration S            send for S seconds instead (e.g. 2.5), then await\n"
    "                          the replies still due\n"
    "  --timeout S             give up after S seconds in all; what is unanswered\n"
    "                          then is lost (default: duration + 30, or 60)\n"
    "\n"
    "Closed loop (the default): each connection keeps K requests in flight\n"
    "  --pipeline K            1..100000 (default 1); the first K go out in one write\n"
    "\n"
    "Open loop\n"
    "  --rate R                R requests/s in total, 1..10000000, sent on schedule\n"
    "                          whether or not replies came back: one every 1/R s\n"
    "                          overall, round-robin over the connections (each one\n"
    "                          every clients/R s). Latency counts from a request's\n"
    "                          intended send time (coordinated omission corrected).\n"
    "                          The schedule starts once every connection is open.\n"
    "  --max-outstanding M     at most M unanswered requests per connection,\n"
    "                          1..1000000 (default 1000); a request due while M are\n"
    "                          out waits for a reply and is counted as delayed; it\n"
    "                          is never dropped, and its latency still counts from\n"
    "                          its intended time\n"
    "\n"
    "Requests (default: the rotation PING, ECHO hello from stress_test, HASH abc,\n"
    "PRIMES 1000; request i of connection c is entry (c + i) mod 4)\n"
    "  --cmd \"CMD ARG\"         send only this request line\n"
    "  --mix SPEC              a weighted mix; SPEC is REQ=W[,REQ=W...], REQ a request\n"
    "                          line (no ',', CR or LF; W follows its last '='), W an\n"
    "                          integer 1..1000000; at most 64 entries; spaces before\n"
    "                          an entry are skipped.\n"
    "                          e.g. --mix \"HASH abc=90,SLEEP 50=10\"\n"
    "  --seed N                seed of the mix's draws, 0..2^64-1 (default 1): the\n"
    "                          same seed, mix and clients send the same requests\n"
    "\n"
    "Failures\n"
    "  --reconnect             when a connection closes (or cannot open), connect\n"
    "                          again and resend its unanswered requests first, in\n"
    "                          order (at least once; requests answered \"ERROR:\n"
    "                          shutting down\" are resent too)\n"
    "  --reconnect-attempts N  connection attempts per outage, 1..1000 (default 20),\n"
    "                          10 ms apart doubling to 500 ms (about 8 s for 20);\n"
    "                          then the connection gives up and its requests are lost\n"
    "\n"
    "Output\n"
    "  --json                  one JSON object on stdout; the summary line on stderr\n"
    "  -h, --help              this text\n"
    "\n"
    "Each request ends as one of: ok (its expected reply), busy (\"ERROR: server\n"
    "busy\"), timeouts (\"ERROR: timeout\"), shutdown (\"ERROR: shutting down\"),\n"
    "wrong (any other reply; an unsolicited line counts too), lost (no reply by the\n"
    "end, final drain included). Summary line, for scripts:\n"
    "  requests=N ok=N busy=N timeouts=N shutdown=N wrong=N lost=N reconnects=N resends=N\n"
    "SIGINT or SIGTERM ends the sending early and awaits what is in flight; a\n"
    "second one stops at once.\n"
    "\n"
    "Exit status: 0 all replies correct (busy, timeouts, shutdown allowed);\n"
    "1 wrong or lost replies, or a connection that never opened; 2 bad usage.\n";

void so_print_help(FILE *f) { fputs(so_help_text, f); }

static int so_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}

int so_parse_secs(const char *s, uint64_t max_ns, uint64_t *ns) {
  if (!s) return -EINVAL;
  const char *dot = strchr(s, '.');
  size_t ilen = dot ? (size_t)(dot - s) : strlen(s);
  uint64_t whole = 0, frac = 0;
  if (num_parse_u64(s, ilen, max_ns / SO_SEC, &whole) < 0) return -EINVAL;
  if (dot) {
    size_t flen = strlen(dot + 1);
    if (flen == 0 || flen > 9 || num_parse_u64(dot + 1, flen, SO_SEC - 1, &frac) < 0)
      return -EINVAL;
    for (size_t i = flen; i < 9; i++) frac *= 10;
  }
  uint64_t v = whole * SO_SEC + frac;
  if (v == 0 || v > max_ns) return -EINVAL;
  *ns = v;
  return 0;
}

/* An integer value of flag in [lo, hi]. */
static int so_num(const char *flag, const char *v, uint64_t lo, uint64_t hi, uint64_t *out,
                  char *err, size_t errlen) {
  uint64_t x = 0;
  if (num_parse_u64_str(v, hi, &x) < 0 || x < lo)
    return so_fail(err, errlen, "invalid value for --%s: '%s' (want an integer %llu..%llu)",
                   flag, v, (unsigned long long)lo, (unsigned long long)hi);
  *out = x;
  return 0;
}

static int so_secs(const char *flag, const char *v, uint64_t *out, char *err, size_t errlen) {
  if (so_parse_secs(v, SO_MAX_SECS * SO_SEC, out) < 0)
    return so_fail(err, errlen,
                   "invalid value for --%s: '%s' (want seconds > 0, e.g. 2 or 0.25, up to %llu)",
                   flag, v, (unsigned long long)SO_MAX_SECS);
  return 0;
}

/* The message for a '?' or ':' from getopt_long. */
static int so_getopt_error(int c, char **argv, char *err, size_t errlen) {
  const char *arg = optind > 0 ? argv[optind - 1] : "";
  if (c == ':') return so_fail(err, errlen, "option '%s' needs a value", arg);
  if (optopt >= SO_HOST || (optopt == 'h' && strncmp(arg, "--", 2) == 0))
    return so_fail(err, errlen, "option '%s' takes no value", arg);
  if (optopt > 0) return so_fail(err, errlen, "unknown option '-%c'", optopt);
  return so_fail(err, errlen, "unknown or ambiguous option '%s'", arg);
}

/* Applies option c with value v (NULL for a flag without one). */
static int so_apply(int c, const char *v, struct so_opts *o, char *err, size_t errlen) {
  uint64_t x = 0;
  int rc = 0;
  switch (c) {
  case SO_HOST:
    if (!*v) return so_fail(err, errlen, "invalid value for --host: '' (want a name or address)");
    o->host = v;
    return 0;
  case SO_PORT:
    rc = so_num("port", v, 1, 65535, &x, err, errlen);
    o->port = (uint16_t)x;
    return rc;
  case SO_CLIENTS: return so_num("clients", v, 1, 100000, &o->clients, err, errlen);
  case SO_FRAMES: return so_num("frames", v, 1, 1000000000000ull, &o->frames, err, errlen);
  case SO_DURATION: return so_secs("duration", v, &o->duration_ns, err, errlen);
  case SO_TIMEOUT: return so_secs("timeout", v, &o->timeout_ns, err, errlen);
  case SO_PIPELINE: return so_num("pipeline", v, 1, 100000, &o->pipeline, err, errlen);
  case SO_RATE: return so_num("rate", v, 1, 10000000, &o->rate, err, errlen);
  case SO_MAX_OUT:
    return so_num("max-outstanding", v, 1, 1000000, &o->max_outstanding, err, errlen);
  case SO_SEED: return so_num("seed", v, 0, UINT64_MAX, &o->seed, err, errlen);
  case SO_ATTEMPTS:
    return so_num("reconnect-attempts", v, 1, 1000, &o->reconnect_attempts, err, errlen);
  case SO_CMD:
    if (!*v || strpbrk(v, "\r\n"))
      return so_fail(err, errlen, "invalid value for --cmd: want one non-empty request line");
    o->cmd = v;
    return 0;
  case SO_MIX: o->mix_spec = v; return 0;
  case SO_RECONNECT: o->reconnect = 1; return 0;
  case SO_JSON: o->json = 1; return 0;
  default: return so_fail(err, errlen, "internal: unhandled option %d", c);
  }
}

/* Checks the combination of flags; fills in derived defaults. */
static int so_check(struct so_opts *o, const int *given, char *err, size_t errlen) {
  if (!given[SO_PORT - SO_HOST]) return so_fail(err, errlen, "--port is required");
  if (given[SO_FRAMES - SO_HOST] && given[SO_DURATION - SO_HOST])
    return so_fail(err, errlen, "--frames and --duration exclude each other");
  if (given[SO_CMD - SO_HOST] && given[SO_MIX - SO_HOST])
    return so_fail(err, errlen, "--cmd and --mix exclude each other");
  if (o->rate && given[SO_PIPELINE - SO_HOST])
    return so_fail(err, errlen, "--pipeline is for the closed loop; with --rate use --max-outstanding");
  if (!o->rate && given[SO_MAX_OUT - SO_HOST])
    return so_fail(err, errlen, "--max-outstanding needs --rate");
  if (!o->reconnect && given[SO_ATTEMPTS - SO_HOST])
    return so_fail(err, errlen, "--reconnect-attempts needs --reconnect");
  if (o->duration_ns) o->frames = 0;
  if (!o->timeout_ns) o->timeout_ns = o->duration_ns ? o->duration_ns + 30 * SO_SEC : 60 * SO_SEC;
  return 0;
}

/* Builds o->mix from --mix, --cmd or the default rotation. */
static int so_build_mix(struct so_opts *o, char *err, size_t errlen) {
  mix_init(&o->mix);
  if (o->mix_spec) {
    char why[160];
    int rc = mix_parse(o->mix_spec, &o->mix, why, sizeof why);
    if (rc == -EINVAL) return so_fail(err, errlen, "invalid value for --mix: %s", why);
    o->rotate = 0;
    return rc;
  }
  o->rotate = 1;
  if (o->cmd) return mix_add(&o->mix, o->cmd, strlen(o->cmd), 1);
  size_t n = sizeof so_default_rotation / sizeof so_default_rotation[0];
  for (size_t i = 0; i < n; i++) {
    int rc = mix_add(&o->mix, so_default_rotation[i], strlen(so_default_rotation[i]), 1);
    if (rc < 0) {
      mix_free(&o->mix);
      return rc;
    }
  }
  return 0;
}

int so_parse(int argc, char **argv, struct so_opts *o, char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  mix_init(&o->mix);
  o->host = "127.0.0.1";
  o->clients = 10;
  o->frames = 100;
  o->pipeline = 1;
  o->max_outstanding = 1000;
  o->seed = 1;
  o->reconnect_attempts = 20;
  if (errlen) err[0] = '\0';
  int given[SO_JSON - SO_HOST + 1] = {0};
  optind = 0; /* GNU: start afresh (so_parse may be called more than once) */
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", so_longopts, NULL)) != -1) {
    if (c == 'h') return SO_HELP;
    if (c == '?' || c == ':') return so_getopt_error(c, argv, err, errlen);
    int rc = so_apply(c, optarg, o, err, errlen);
    if (rc < 0) return rc;
    given[c - SO_HOST] = 1;
  }
  if (optind < argc) return so_fail(err, errlen, "unexpected argument '%s'", argv[optind]);
  int rc = so_check(o, given, err, errlen);
  if (rc == 0) rc = so_build_mix(o, err, errlen);
  return rc;
}

void so_free(struct so_opts *o) { mix_free(&o->mix); }
