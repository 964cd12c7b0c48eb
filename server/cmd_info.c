/* INFO [section]: the server's figures in Redis's INFO format, so that
 * `redis-cli INFO`, `redis-cli --stat` and dashboards that read INFO work:
 * "# Section" lines and "key:value" lines, CRLF-separated, as one bulk
 * string in RESP. Sections: server, clients, memory, stats, pool, latency
 * (per command, and per lane when lanes are configured), commandstats.
 * No section (or "all", "default", "everything") gives them all; an
 * unknown one gives nothing, as in Redis. The text protocol gets the same
 * data on one line: "result: " then the lines joined by single spaces.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/clock.h"
#include "server/command.h"
#include "server/session.h"
#include "server/srv.h"

#define INFO_VERSION "2.0.0"

struct info_ctx {
  struct sbuf *b;
  int resp;
  int first;
};

static void info_line(struct info_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one line; CRLF after it in RESP, a space before it in text. */
static void info_line(struct info_ctx *c, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (!c->resp && !c->first) sbuf_puts(c->b, " ");
  sbuf_puts(c->b, line);
  if (c->resp) sbuf_puts(c->b, "\r\n");
  c->first = 0;
}

static uint64_t info_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "re");
  unsigned long size = 0, rss = 0;
  if (!f) return 0;
  int ok = fscanf(f, "%lu %lu", &size, &rss) == 2;
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  return ok && page > 0 ? (uint64_t)rss * (uint64_t)page : 0;
}

static void info_server(struct info_ctx *c, struct srv *s) {
  uint64_t up = (clk_now_ns() - s->st.start_ns) / 1000000000u;
  char addr[64];
  cn_server_address(s->cns, addr, sizeof addr);
  info_line(c, "# Server");
  info_line(c, "pool_server_version:%s", INFO_VERSION);
  info_line(c, "process_id:%ld", (long)getpid());
  info_line(c, "tcp_port:%d", cn_server_port(s->cns));
  info_line(c, "listening:%s", addr);
  info_line(c, "uptime_in_seconds:%" PRIu64, up);
  info_line(c, "uptime_in_days:%" PRIu64, up / 86400);
}

static void info_clients(struct info_ctx *c, struct srv *s) {
  size_t blocked = 0;
  struct list *it;
  for (it = s->sessions.next; it != &s->sessions; it = it->next)
    blocked += sess_blocked(sess_of(it)) != 0;
  info_line(c, "# Clients");
  info_line(c, "connected_clients:%zu", s->nsessions);
  info_line(c, "blocked_clients:%zu", blocked);
  info_line(c, "maxclients:%zu", s->cfg->max_connections);
  info_line(c, "client_buffered_bytes:%zu", cn_server_buffered(s->cns) + s->fifo_bytes);
}

static void info_memory(struct info_ctx *c, struct srv *s) {
  uint64_t rss = info_rss_bytes();
  info_line(c, "# Memory");
  info_line(c, "used_memory:%" PRIu64, rss);
  info_line(c, "used_memory_rss:%" PRIu64, rss);
  info_line(c, "used_memory_human:%.2fM", (double)rss / (1024.0 * 1024.0));
  info_line(c, "buffered_bytes:%zu", cn_server_buffered(s->cns) + s->fifo_bytes);
}

static void info_stats(struct info_ctx *c, struct srv *s) {
  struct cn_stats cs;
  cn_server_stats(s->cns, &cs);
  uint64_t commands = s->st.invalid;
  for (size_t i = 0; i < cmd_count(); i++) commands += s->st.cmd[i].calls;
  const struct srv_counters *n = &s->n;
  info_line(c, "# Stats");
  info_line(c, "total_connections_received:%" PRIu64, cs.accepted);
  info_line(c, "rejected_connections:%" PRIu64, cs.rejected_full + cs.rejected_nofd);
  info_line(c, "total_commands_processed:%" PRIu64, commands);
  info_line(c, "total_net_input_bytes:%" PRIu64, cs.bytes_in);
  info_line(c, "total_net_output_bytes:%" PRIu64, cs.bytes_out);
  info_line(c, "invalid_requests:%" PRIu64, s->st.invalid);
  info_line(c, "submitted:%" PRIu64, n->submitted);
  info_line(c, "completed:%" PRIu64, n->completed);
  info_line(c, "errors:%" PRIu64, n->errors);
  info_line(c, "rejected:%" PRIu64, n->rejected);
  info_line(c, "timeouts:%" PRIu64, n->timeouts);
  info_line(c, "expired:%" PRIu64, n->expired);
  info_line(c, "cancelled:%" PRIu64, n->cancelled);
  info_line(c, "held:%" PRIu64, n->held);
  info_line(c, "in_flight:%" PRIu64, srv_in_flight(s));
}

static void info_pool(struct info_ctx *c, struct srv *s) {
  struct tp_stats ps;
  tp_stats(s->pool, &ps);
  info_line(c, "# Pool");
  info_line(c, "workers:%zu", ps.workers);
  info_line(c, "min_workers:%zu", s->cfg->min_workers);
  info_line(c, "max_workers:%zu", s->cfg->max_workers);
  info_line(c, "busy_workers:%zu", ps.busy_workers);
  info_line(c, "queue_depth:%zu", ps.queue_depth);
  info_line(c, "queue_capacity:%zu", ps.queue_capacity);
  info_line(c, "on_full:%s", s->cfg->on_full == SRV_HOLD ? "hold" : "reject");
  info_line(c, "held_now:%zu", ol_held(s->ol));
  info_line(c, "lock_wait_us:%" PRIu64, ps.lock_wait_ns / 1000);
  info_line(c, "worker_us:%" PRIu64, ps.worker_ns / 1000);
  info_line(c, "worker_wakeups:%" PRIu64, ps.wakeups);
  info_line(c, "loop_wakeups:%" PRIu64, ol_wakeups(s->ol));
  for (size_t l = 0; l < s->nlanes; l++) {
    struct tp_lane_stats ls;
    tp_lane_stats(s->pool, (unsigned)l, &ls);
    info_line(c,
              "lane_%s:depth=%zu,capacity=%zu,running=%zu,max_workers=%zu,submitted=%" PRIu64
              ",rejected=%" PRIu64 ",expired=%" PRIu64,
              s->lane_name[l], ls.depth, ls.capacity, ls.running, ls.max_running, ls.submitted,
              ls.rejected, ls.expired);
  }
}

static void info_latency(struct info_ctx *c, struct srv *s) {
  info_line(c, "# Latency");
  for (size_t i = 0; i < cmd_count(); i++) {
    const struct st_cmd *sc = &s->st.cmd[i];
    if (cmd_at(i)->where != CMD_POOL || !sc->total) continue;
    info_line(c,
              "latency_%s:calls=%" PRIu64 ",p50_us=%" PRIu64 ",p99_us=%" PRIu64
              ",queue_wait_p50_us=%" PRIu64 ",queue_wait_p99_us=%" PRIu64 ",run_p50_us=%" PRIu64
              ",run_p99_us=%" PRIu64,
              cmd_at(i)->name, sc->total->count, st_hist_us(sc->total, 50),
              st_hist_us(sc->total, 99), st_hist_us(sc->wait, 50), st_hist_us(sc->wait, 99),
              st_hist_us(sc->run, 50), st_hist_us(sc->run, 99));
  }
  for (size_t l = 0; l < s->nlanes; l++) {
    const struct st_lane *sl = &s->st.lane[l];
    if (!sl->wait) continue;
    info_line(c,
              "lane_latency_%s:queue_wait_p50_us=%" PRIu64 ",queue_wait_p99_us=%" PRIu64
              ",run_p50_us=%" PRIu64 ",run_p99_us=%" PRIu64,
              s->lane_name[l], st_hist_us(sl->wait, 50), st_hist_us(sl->wait, 99),
              st_hist_us(sl->run, 50), st_hist_us(sl->run, 99));
  }
}

static void info_commandstats(struct info_ctx *c, struct srv *s) {
  info_line(c, "# Commandstats");
  for (size_t i = 0; i < cmd_count(); i++) {
    const struct st_cmd *sc = &s->st.cmd[i];
    if (!sc->calls) continue;
    uint64_t usec = sc->total ? sc->total->sum_ns / 1000 : 0;
    info_line(c,
              "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64 ",usec_per_call=%.2f"
              ",rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64,
              cmd_at(i)->name, sc->calls, usec, sc->calls ? (double)usec / (double)sc->calls : 0.0,
              sc->outcome[ST_BUSY], sc->outcome[ST_FAILED] + sc->outcome[ST_TIMEOUT]);
  }
}

static const struct {
  const char *name;
  void (*fn)(struct info_ctx *c, struct srv *s);
} info_sections[] = {
    {"server", info_server},   {"clients", info_clients}, {"memory", info_memory},
    {"stats", info_stats},     {"pool", info_pool},       {"latency", info_latency},
    {"commandstats", info_commandstats},
};

static void info_answer(struct cmd_ctx *ctx, const struct cmd_args *a, struct pr_reply *out) {
  struct info_ctx c = {ctx->scratch, a->resp, 1};
  const char *want = NULL;
  char name[32] = "";
  if (a->n > 0) {
    snprintf(name, sizeof name, "%.*s", (int)(a->v[0].len < 31 ? a->v[0].len : 31), a->v[0].p);
    if (strcasecmp(name, "all") && strcasecmp(name, "default") && strcasecmp(name, "everything"))
      want = name;
  }
  for (size_t i = 0; i < sizeof info_sections / sizeof info_sections[0]; i++) {
    if (want && strcasecmp(want, info_sections[i].name) != 0) continue;
    if (!c.first && c.resp) sbuf_puts(c.b, "\r\n"); /* a blank line between sections */
    info_sections[i].fn(&c, ctx->srv);
  }
  pr_reply_ok(out, a->resp, ctx->scratch->data ? ctx->scratch->data : "", ctx->scratch->len);
}

const struct cmd_def cmd_def_info = {
    .name = "info", .usage = "INFO takes at most one section name", .min_args = 0,
    .max_args = 1, .where = CMD_LOOP, .answer = info_answer,
};
