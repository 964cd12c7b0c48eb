/* stress_opts: stress_test's command line: parsing, checks, --help.
 *
 * so_parse() reads argv with getopt_long (long options, "--name VALUE" or
 * "--name=VALUE"; an unambiguous prefix of a name is accepted, as GNU tools
 * do). Integers go through base/strnum (digits only, range-checked), the
 * same rule pool_server's flags follow; seconds (--duration, --timeout) are
 * digits with an optional fraction of up to 9 digits ("2", "0.25"), nothing
 * else. It checks the combination (e.g. --pipeline is closed-loop only) and
 * builds the request set: --mix, or --cmd as a one-entry mix, or the default
 * rotation. It never exits or prints an error itself: a usage error comes
 * back as -EINVAL with a one-line message naming the flag, for main() to
 * print with the usage line and exit 2.
 *
 * Ownership: the options point into argv (host, cmd, mix_spec); o->mix is
 * owned by o and released by so_free. Uses getopt's globals, so one thread
 * at a time. Errors are negative errnos.
 */
#ifndef TOOLS_STRESS_OPTS_H
#define TOOLS_STRESS_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/mix.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SO_USAGE                                                                    \
  "usage: stress_test --port P [--host H] [--clients N] [--frames F | --duration S]" \
  " [--pipeline K | --rate R [--max-outstanding M]] [--cmd \"CMD ARG\" | --mix SPEC]" \
  " [--seed N] [--reconnect [--reconnect-attempts N]] [--timeout S] [--json]"       \
  " (--help for more)"

enum { SO_RUN = 0, SO_HELP = 1 };

struct so_opts {
  const char *host;            /* --host, default 127.0.0.1 */
  uint16_t port;               /* --port, required */
  uint64_t clients;            /* --clients, default 10 */
  uint64_t frames;             /* requests per connection; 0 with --duration */
  uint64_t duration_ns;        /* --duration; 0: run by frames */
  uint64_t timeout_ns;         /* --timeout; default duration + 30 s, or 60 s */
  uint64_t pipeline;           /* closed loop: requests in flight, default 1 */
  uint64_t rate;               /* open loop: requests/s in total; 0: closed loop */
  uint64_t max_outstanding;    /* open loop: cap per connection, default 1000 */
  uint64_t seed;               /* --seed, default 1 */
  int reconnect;               /* --reconnect */
  uint64_t reconnect_attempts; /* per outage, default 20 */
  int json;                    /* --json */
  const char *cmd;             /* --cmd, or NULL */
  const char *mix_spec;        /* --mix, or NULL */
  int rotate;                  /* 1: request i of connection c is entry (c + i) mod n;
                                  0: drawn from the mix with the seed */
  struct mix mix;              /* the requests to send */
};

/* Parses argv into *o. SO_RUN: run with *o (so_free it afterwards);
 * SO_HELP: --help was asked for (nothing to free); -EINVAL: a usage error,
 * err holds the message; -ENOMEM. On error *o holds nothing to free. */
int so_parse(int argc, char **argv, struct so_opts *o, char *err, size_t errlen);

void so_free(struct so_opts *o);

/* The --help text: every flag with its meaning and default, grouped, the
 * outcomes and the exit statuses. */
void so_print_help(FILE *f);

/* Seconds as "D+" or "D+.D{1,9}", 0 < value <= max_ns, into *ns.
 * 0 or -EINVAL. */
int so_parse_secs(const char *s, uint64_t max_ns, uint64_t *ns);

#ifdef __cplusplus
}
#endif
#endif
