/* stats: see stats.h. Loop thread only; plain fields, no locks. */
#include "server/stats.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

const char *const st_outcome_names[ST_OUTCOMES] = {"ok", "failed", "busy", "timeout",
                                                   "cancelled"};

const double st_bounds_s[ST_NBOUNDS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                        1,      2.5,     5,      10};

void st_init(struct stats *st) {
  memset(st, 0, sizeof *st);
  st->start_ns = clk_now_ns();
}

void st_free(struct stats *st) {
  for (size_t i = 0; i < ST_MAX_CMDS; i++) {
    free(st->cmd[i].wait);
    free(st->cmd[i].run);
    free(st->cmd[i].total);
  }
  for (size_t i = 0; i < ST_MAX_LANES; i++) {
    free(st->lane[i].wait);
    free(st->lane[i].run);
  }
  memset(st, 0, sizeof *st);
}

void st_hist_record(struct st_hist **hp, uint64_t ns) {
  if (!*hp) {
    if (!(*hp = malloc(sizeof **hp))) return;
    memset(*hp, 0, sizeof **hp);
    hist_init(&(*hp)->h);
  }
  struct st_hist *h = *hp;
  hist_record(&h->h, ns);
  h->count++;
  h->sum_ns += ns;
  for (size_t i = 0; i < ST_NBOUNDS; i++) {
    if ((double)ns <= st_bounds_s[i] * 1e9) {
      h->le[i]++;
      break;
    }
  }
}

uint64_t st_hist_us(const struct st_hist *h, double p) {
  return h && h->count ? hist_percentile(&h->h, p) / 1000 : 0;
}

void st_pool_done(struct stats *st, size_t cmd, unsigned lane, enum st_outcome o,
                  uint64_t wait_ns, uint64_t run_ns, uint64_t total_ns) {
  if (cmd >= ST_MAX_CMDS || lane >= ST_MAX_LANES) return;
  struct st_cmd *c = &st->cmd[cmd];
  c->outcome[o]++;
  st_hist_record(&c->total, total_ns);
  if (run_ns || wait_ns) { /* it ran */
    st_hist_record(&c->wait, wait_ns);
    st_hist_record(&c->run, run_ns);
    st_hist_record(&st->lane[lane].wait, wait_ns);
    st_hist_record(&st->lane[lane].run, run_ns);
  }
}

void st_hist_prom(struct sbuf *b, const char *name, const char *labels, const struct st_hist *h) {
  uint64_t cum = 0;
  const char *sep = labels[0] ? "," : "";
  for (size_t i = 0; i < ST_NBOUNDS; i++) {
    cum += h ? h->le[i] : 0;
    sbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, st_bounds_s[i],
                (unsigned long long)cum);
  }
  uint64_t count = h ? h->count : 0;
  sbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
              (unsigned long long)count);
  const char *lb = labels[0] ? "{" : "", *rb = labels[0] ? "}" : "";
  sbuf_printf(b, "%s_sum%s%s%s %.9f\n", name, lb, labels, rb,
              h ? (double)h->sum_ns / 1e9 : 0.0);
  sbuf_printf(b, "%s_count%s%s%s %llu\n", name, lb, labels, rb, (unsigned long long)count);
}
