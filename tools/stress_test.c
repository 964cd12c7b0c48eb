/* stress_test: load generator and reply checker for pool_server.
 *
 *   stress_test --port P [--host H] [--clients N] [--frames F | --duration S]
 *               [--pipeline K | --rate R [--max-outstanding M]]
 *               [--cmd "CMD ARG" | --mix "REQ=W,..."] [--seed N]
 *               [--reconnect [--reconnect-attempts N]] [--timeout S] [--json]
 *
 * DESIGN: one thread, one epoll (tools/client, driven by stress_run). N
 * connections open first; the clock starts once every one is open (or has
 * given up), so connect time is not latency. Each connection then sends F
 * requests (--frames, default 100) or sends for S seconds (--duration),
 * in one of two modes:
 *  - closed loop (default): up to K requests in flight (--pipeline); the
 *    first K go out in one write, then one more per reply. Latency: from
 *    the write to the reply line.
 *  - open loop (--rate R): R requests per second in total, one every 1/R s
 *    round-robin over the connections (tools/sched), written on schedule
 *    whether or not replies came back. Latency counts from each request's
 *    intended send time, so a server (or client) that falls behind shows it
 *    in the latency (coordinated omission corrected, as wrk2 does). At most
 *    M requests per connection are unanswered (--max-outstanding); a
 *    request due beyond that waits for a reply, still timed from its
 *    intended time, and is counted as delayed. Nothing is dropped; the
 *    report gives the achieved send rate next to the offered one.
 * Requests: the --cmd line, a weighted --mix drawn per connection from a
 * seeded stream (tools/mix; the same --seed gives the same requests), or
 * the default rotation PING, ECHO, HASH, PRIMES 1000 (connection c's i-th
 * request is entry (c + i) mod 4). Replies come in request order per
 * connection, so each one answers the oldest unanswered request
 * (tools/reqq), whose expected reply tools/expect computed up front.
 * Outcomes (stress_report): ok, busy ("ERROR: server busy"), timeouts
 * ("ERROR: timeout"), shutdown ("ERROR: shutting down") and wrong, per
 * reply; lost, for a request with no reply by the end. Busy, timeouts and
 * shutdown are allowed answers under overload, not errors.
 * A connection that closes with requests unanswered: without --reconnect
 * it gives up and they are lost (plus, with --frames, those it never sent).
 * With --reconnect it connects again after 10 ms, doubling to 500 ms per
 * failed attempt, at most --reconnect-attempts per outage, and first
 * resends what had no final reply, in the original order (at least once;
 * requests answered "shutting down" are resent too), counting reconnects
 * and resends. The run ends when every connection is done or has given up,
 * or at --timeout (what is unanswered then is lost); SIGINT/SIGTERM stop
 * new requests and await those in flight, a second signal ends at once.
 * Output: a text report, or one JSON line with --json; and the summary line
 * "requests=N ok=N busy=N timeouts=N shutdown=N wrong=N lost=N
 * reconnects=N resends=N" (stdout in text mode, stderr with --json).
 * Progress goes to stderr once a second after the first 3 s.
 * Exit: 0 every reply correct (busy, timeouts, shutdown allowed); 1 wrong or
 * lost replies, a connection that never opened, or a failure of the tool
 * itself; 2 bad usage (one line naming the flag, then the usage).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/client.h"
#include "tools/stress_opts.h"
#include "tools/stress_report.h"
#include "tools/stress_run.h"

int main(int argc, char **argv) {
  struct so_opts o;
  char err[256];
  int rc = so_parse(argc, argv, &o, err, sizeof err);
  if (rc == SO_HELP) {
    so_print_help(stdout);
    return 0;
  }
  if (rc < 0) {
    if (rc == -EINVAL) fprintf(stderr, "stress_test: %s\n%s\n", err, SO_USAGE);
    else fprintf(stderr, "stress_test: %s\n", strerror(-rc));
    return rc == -EINVAL ? 2 : 1;
  }
  struct sockaddr_in addr;
  if (cl_resolve(o.host, o.port, &addr) < 0) {
    fprintf(stderr, "stress_test: cannot resolve host '%s'\n", o.host);
    so_free(&o);
    return 1;
  }
  struct run r;
  rc = run_init(&r, &o, &addr);
  if (rc < 0) {
    fprintf(stderr, "stress_test: setup failed: %s\n", strerror(-rc));
  } else {
    rc = run_loop(&r);
    if (rc < 0) fprintf(stderr, "stress_test: run failed: %s\n", strerror(-rc));
  }
  int failed = rc < 0 || rep_errors(&r.rep) > 0 || r.rep.connect_failed > 0;
  if (rc == 0) {
    struct rep_run info = {&o, 0, 0};
    run_spans(&r, &info.elapsed_s, &info.send_s);
    if (o.json) {
      rep_print_json(stdout, &r.rep, &info);
      rep_print_summary(stderr, &r.rep);
    } else {
      rep_print_text(stdout, &r.rep, &info);
    }
  }
  run_free(&r);
  so_free(&o);
  return failed ? 1 : 0;
}
