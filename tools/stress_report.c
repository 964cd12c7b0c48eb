/* stress_report: outcome accounting and output (see stress_report.h).
 *
 * DESIGN: counters indexed by enum ex_reply, so classifying a reply and
 * counting it are one step; "lost" is the only outcome without a reply.
 * Rates divide by two different spans on purpose: achieved_rps (first
 * sends) by the send phase, so it compares with the offered rate; rps (all
 * replies) and goodput_rps (ok replies) by the whole run, drain included.
 * The JSON object is one line. Its per-request array comes before the
 * top-level figures, because bench/run.sh reads a key with a greedy sed
 * pattern that takes the key's last occurrence on the line; the field names
 * bench reads (requests, busy, rps, p50_us, p99_us) keep their meaning.
 */
#include "tools/stress_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

int rep_init(struct rep_stats *s, size_t ncmd) {
  *s = (struct rep_stats){0};
  hist_init(&s->hist);
  s->cmd = calloc(ncmd ? ncmd : 1, sizeof *s->cmd);
  if (!s->cmd) return -ENOMEM;
  s->ncmd = ncmd;
  for (size_t i = 0; i < ncmd; i++) hist_init(&s->cmd[i].hist);
  return 0;
}

void rep_free(struct rep_stats *s) {
  free(s->cmd);
  s->cmd = NULL;
  s->ncmd = 0;
}

void rep_reply(struct rep_stats *s, size_t cmd, int kind, uint64_t latency_ns) {
  if (kind < 0 || kind >= EX_REPLY_KINDS) kind = EX_REPLY_WRONG;
  s->n[kind]++;
  struct rep_cmd *c = cmd < s->ncmd ? &s->cmd[cmd] : NULL;
  if (c) c->n[kind]++;
  if (kind != EX_REPLY_OK) return;
  hist_record(&s->hist, latency_ns);
  if (c) hist_record(&c->hist, latency_ns);
}

static uint64_t rep_replies(const struct rep_stats *s) {
  uint64_t n = 0;
  for (int k = 0; k < EX_REPLY_KINDS; k++) n += s->n[k];
  return n;
}

uint64_t rep_requests(const struct rep_stats *s) { return rep_replies(s) + s->lost; }

uint64_t rep_errors(const struct rep_stats *s) { return s->n[EX_REPLY_WRONG] + s->lost; }

static double rep_per_s(uint64_t n, double secs) { return secs > 0 ? (double)n / secs : 0; }

/* p50, p90, p99, p99.9 and max of h, in microseconds. */
static void rep_percentiles(const struct hist *h, double us[5]) {
  static const double p[4] = {50, 90, 99, 99.9};
  for (int i = 0; i < 4; i++) us[i] = (double)hist_percentile(h, p[i]) / 1e3;
  us[4] = h->total ? (double)h->max / 1e3 : 0;
}

static const char *rep_label(const struct so_opts *o) {
  return o->cmd ? o->cmd : o->mix_spec ? o->mix_spec : "mix";
}

void rep_print_escaped(FILE *f, const char *s, size_t len) {
  fputc('"', f);
  for (size_t i = 0; i < len && i < 200; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch >= 0x20 && ch < 0x7f) fputc(ch, f);
    else fprintf(f, "\\x%02x", ch);
  }
  fputs(len > 200 ? "\"..." : "\"", f);
}

static void rep_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

static void rep_json_latency(FILE *f, const struct hist *h) {
  double us[5];
  rep_percentiles(h, us);
  fprintf(f, "\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, "
          "\"max_us\": %.1f", us[0], us[1], us[2], us[3], us[4]);
}

static void rep_json_kinds(FILE *f, const uint64_t *n) {
  fprintf(f, "\"ok\": %" PRIu64 ", \"busy\": %" PRIu64 ", \"timeouts\": %" PRIu64
          ", \"shutdown\": %" PRIu64 ", \"wrong\": %" PRIu64, n[EX_REPLY_OK], n[EX_REPLY_BUSY],
          n[EX_REPLY_TIMEOUT], n[EX_REPLY_SHUTDOWN], n[EX_REPLY_WRONG]);
}

void rep_print_json(FILE *f, const struct rep_stats *s, const struct rep_run *r) {
  const struct so_opts *o = r->o;
  fprintf(f, "{\"clients\": %" PRIu64 ", \"frames\": %" PRIu64 ", \"pipeline\": %" PRIu64
          ", \"cmd\": ", o->clients, o->frames, o->pipeline);
  rep_json_string(f, rep_label(o));
  fprintf(f, ", \"mode\": \"%s\", \"seed\": %" PRIu64 ", \"per_cmd\": [",
          o->rate ? "open" : "closed", o->seed);
  for (size_t i = 0; i < s->ncmd; i++) {
    fprintf(f, "%s{\"cmd\": ", i ? ", " : "");
    rep_json_string(f, o->mix.e[i].line);
    fprintf(f, ", \"weight\": %" PRIu64 ", ", o->mix.e[i].weight);
    rep_json_kinds(f, s->cmd[i].n);
    fputs(", ", f);
    rep_json_latency(f, &s->cmd[i].hist);
    fputc('}', f);
  }
  fprintf(f, "], \"requests\": %" PRIu64 ", ", rep_requests(s));
  rep_json_kinds(f, s->n);
  fprintf(f, ", \"lost\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"reconnects\": %" PRIu64
          ", \"resends\": %" PRIu64 ", \"delayed\": %" PRIu64 ", \"connect_failed\": %" PRIu64
          ", \"elapsed_s\": %.3f, \"duration_s\": %.3f, ", s->lost, rep_errors(s),
          s->reconnects, s->resends, s->delayed, s->connect_failed, r->elapsed_s, r->send_s);
  if (o->rate) fprintf(f, "\"offered_rps\": %" PRIu64 ", ", o->rate);
  else fputs("\"offered_rps\": null, ", f);
  fprintf(f, "\"achieved_rps\": %.1f, \"goodput_rps\": %.1f, \"rps\": %.1f, ",
          rep_per_s(s->sent, r->send_s), rep_per_s(s->n[EX_REPLY_OK], r->elapsed_s),
          rep_per_s(rep_replies(s), r->elapsed_s));
  rep_json_latency(f, &s->hist);
  fputs("}\n", f);
}

void rep_print_summary(FILE *f, const struct rep_stats *s) {
  fprintf(f, "requests=%" PRIu64 " ok=%" PRIu64 " busy=%" PRIu64 " timeouts=%" PRIu64
          " shutdown=%" PRIu64 " wrong=%" PRIu64 " lost=%" PRIu64 " reconnects=%" PRIu64
          " resends=%" PRIu64 "\n", rep_requests(s), s->n[EX_REPLY_OK], s->n[EX_REPLY_BUSY],
          s->n[EX_REPLY_TIMEOUT], s->n[EX_REPLY_SHUTDOWN], s->n[EX_REPLY_WRONG], s->lost,
          s->reconnects, s->resends);
}

static void rep_text_header(FILE *f, const struct so_opts *o) {
  fprintf(f, "stress_test: %s:%u  clients %" PRIu64 "  ", o->host, (unsigned)o->port,
          o->clients);
  if (o->duration_ns) fprintf(f, "duration %.3f s  ", (double)o->duration_ns / 1e9);
  else fprintf(f, "frames %" PRIu64 "  ", o->frames);
  if (o->rate)
    fprintf(f, "open loop: rate %" PRIu64 "/s, max-outstanding %" PRIu64, o->rate,
            o->max_outstanding);
  else fprintf(f, "closed loop: pipeline %" PRIu64, o->pipeline);
  if (o->cmd) fprintf(f, "  cmd %s\n", o->cmd);
  else if (o->mix_spec) fprintf(f, "  mix %s (seed %" PRIu64 ")\n", o->mix_spec, o->seed);
  else fputs("  cmd mix (PING, ECHO, HASH, PRIMES 1000)\n", f);
}

void rep_print_text(FILE *f, const struct rep_stats *s, const struct rep_run *r) {
  const struct so_opts *o = r->o;
  rep_text_header(f, o);
  fprintf(f, "requests %" PRIu64 "  ok %" PRIu64 "  busy %" PRIu64 "  timeouts %" PRIu64
          "  shutdown %" PRIu64 "  errors %" PRIu64 " (wrong %" PRIu64 ", lost %" PRIu64
          ", failed connects %" PRIu64 ")\n", rep_requests(s), s->n[EX_REPLY_OK],
          s->n[EX_REPLY_BUSY], s->n[EX_REPLY_TIMEOUT], s->n[EX_REPLY_SHUTDOWN], rep_errors(s),
          s->n[EX_REPLY_WRONG], s->lost, s->connect_failed);
  fprintf(f, "reconnects %" PRIu64 "  resends %" PRIu64 "  delayed %" PRIu64 "\n",
          s->reconnects, s->resends, s->delayed);
  fprintf(f, "elapsed %.3f s  send phase %.3f s  ", r->elapsed_s, r->send_s);
  if (o->rate) fprintf(f, "offered %" PRIu64 "/s  ", o->rate);
  fprintf(f, "achieved %.1f/s  replies %.1f/s  goodput %.1f/s\n",
          rep_per_s(s->sent, r->send_s), rep_per_s(rep_replies(s), r->elapsed_s),
          rep_per_s(s->n[EX_REPLY_OK], r->elapsed_s));
  double us[5];
  rep_percentiles(&s->hist, us);
  fprintf(f, "latency us (ok): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
          us[0], us[1], us[2], us[3], us[4], hist_mean(&s->hist) / 1e3);
  for (size_t i = 0; s->ncmd > 1 && i < s->ncmd; i++) {
    const struct rep_cmd *c = &s->cmd[i];
    rep_percentiles(&c->hist, us);
    fprintf(f, "  %-24.60s ok %" PRIu64 "  busy %" PRIu64 "  timeouts %" PRIu64
            "  wrong %" PRIu64 "  p50 %.1f  p99 %.1f  max %.1f\n", o->mix.e[i].line,
            c->n[EX_REPLY_OK], c->n[EX_REPLY_BUSY], c->n[EX_REPLY_TIMEOUT],
            c->n[EX_REPLY_WRONG], us[0], us[2], us[4]);
  }
  rep_print_summary(f, s);
  fprintf(f, "%s\n", rep_errors(s) || s->connect_failed ? "FAIL" : "PASS");
}
