/* metrics: GET /metrics in Prometheus's text exposition format (0.0.4),
 * served over HTTP/1.1 by the same event loop (--metrics-port).
 *
 * DESIGN
 * A second net/conn listener on the loop, with its own tiny handlers: a
 * request is read until its blank line (at most MT_MAX_REQUEST bytes, else
 * 431 and close), its request line checked (malformed: 400 and close),
 * then answered at once and the connection closed ("Connection: close":
 * a scrape is one request). GET or HEAD of /metrics is 200; any other path
 * 404; another method 405. Nothing here blocks or waits: the page is
 * rendered from the loop's own figures (server/stats.h, the pool's and the
 * listener's counters) in one pass into the server's scratch buffer.
 *
 * Names: counters end in _total, durations are histograms in seconds with
 * the bounds of stats.h, one family per metric with HELP and TYPE, so
 * `promtool check metrics` finds nothing to say.
 */
#include "server/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "server/command.h"
#include "server/log.h"

enum { MT_MAX_REQUEST = 8192 };

static void mt_family(struct sbuf *b, const char *name, const char *type, const char *help) {
  sbuf_printf(b, "# HELP pool_server_%s %s\n# TYPE pool_server_%s %s\n", name, help, name, type);
}

static void mt_value(struct sbuf *b, const char *name, const char *type, const char *help,
                     uint64_t v) {
  mt_family(b, name, type, help);
  sbuf_printf(b, "pool_server_%s %" PRIu64 "\n", name, v);
}

static void mt_histograms(struct sbuf *b, struct srv *s, const char *name, const char *help,
                          int which) {
  char full[64];
  snprintf(full, sizeof full, "pool_server_%s", name);
  mt_family(b, name, "histogram", help);
  for (size_t i = 0; i < cmd_count(); i++) {
    const struct cmd_def *d = cmd_at(i);
    if (d->where != CMD_POOL) continue;
    const struct st_cmd *c = &s->st.cmd[i];
    const struct st_hist *h = which == 0 ? c->wait : which == 1 ? c->run : c->total;
    char labels[64];
    snprintf(labels, sizeof labels, "command=\"%s\"", d->name);
    st_hist_prom(b, full, labels, h);
  }
}

void mt_render(struct srv *s, struct sbuf *b) {
  struct tp_stats ps;
  struct cn_stats cs;
  tp_stats(s->pool, &ps);
  cn_server_stats(s->cns, &cs);

  mt_family(b, "requests_total", "counter",
            "Requests by command and how they ended (loop commands: ok).");
  for (size_t i = 0; i < cmd_count(); i++) {
    const struct cmd_def *d = cmd_at(i);
    const struct st_cmd *c = &s->st.cmd[i];
    if (d->where == CMD_LOOP) {
      sbuf_printf(b, "pool_server_requests_total{command=\"%s\",outcome=\"ok\"} %" PRIu64 "\n",
                  d->name, c->calls);
      continue;
    }
    for (int o = 0; o < ST_OUTCOMES; o++)
      sbuf_printf(b, "pool_server_requests_total{command=\"%s\",outcome=\"%s\"} %" PRIu64 "\n",
                  d->name, st_outcome_names[o], c->outcome[o]);
  }
  mt_value(b, "invalid_requests_total", "counter",
           "Requests answered invalid input (unknown command, bad arguments).", s->st.invalid);
  mt_value(b, "rejected_total", "counter", "Requests answered server busy (a full queue).",
           s->n.rejected);
  mt_value(b, "timeouts_total", "counter",
           "Tasks answered timeout (run time or queue wait over its limit).", s->n.timeouts);
  mt_value(b, "connections_accepted_total", "counter", "Connections accepted.", cs.accepted);
  mt_family(b, "connections_rejected_total", "counter",
            "Connections turned away, by reason (full: --max-connections; nofd: out of fds).");
  sbuf_printf(b, "pool_server_connections_rejected_total{reason=\"full\"} %" PRIu64 "\n",
              cs.rejected_full);
  sbuf_printf(b, "pool_server_connections_rejected_total{reason=\"nofd\"} %" PRIu64 "\n",
              cs.rejected_nofd);
  mt_value(b, "net_input_bytes_total", "counter", "Bytes read from clients.", cs.bytes_in);
  mt_value(b, "net_output_bytes_total", "counter", "Bytes written to clients.", cs.bytes_out);

  mt_value(b, "connections", "gauge", "Open client connections.", s->nsessions);
  mt_value(b, "workers", "gauge", "Worker threads alive.", ps.workers);
  mt_value(b, "busy_workers", "gauge", "Workers running a task.", ps.busy_workers);
  mt_value(b, "in_flight", "gauge", "Tasks accepted and not answered yet.", srv_in_flight(s));
  mt_value(b, "buffered_bytes", "gauge", "Memory held for connections (buffers, queues).",
           cn_server_buffered(s->cns) + s->fifo_bytes);
  mt_family(b, "queue_depth", "gauge", "Tasks waiting in each lane.");
  for (size_t l = 0; l < s->nlanes; l++) {
    struct tp_lane_stats ls;
    tp_lane_stats(s->pool, (unsigned)l, &ls);
    sbuf_printf(b, "pool_server_queue_depth{lane=\"%s\"} %zu\n", s->lane_name[l], ls.depth);
  }
  mt_family(b, "queue_capacity", "gauge", "Tasks that may wait in each lane.");
  for (size_t l = 0; l < s->nlanes; l++) {
    struct tp_lane_stats ls;
    tp_lane_stats(s->pool, (unsigned)l, &ls);
    sbuf_printf(b, "pool_server_queue_capacity{lane=\"%s\"} %zu\n", s->lane_name[l],
                ls.capacity);
  }
  mt_family(b, "uptime_seconds", "gauge", "Seconds since the server started.");
  sbuf_printf(b, "pool_server_uptime_seconds %.3f\n",
              (double)(clk_now_ns() - s->st.start_ns) / 1e9);

  mt_histograms(b, s, "queue_wait_seconds",
                "Time a task waited in the queue before a worker started it.", 0);
  mt_histograms(b, s, "run_seconds", "Time a task ran on its worker.", 1);
  mt_histograms(b, s, "latency_seconds",
                "Time from reading a pool request to deciding its reply.", 2);
}

/* ---- the HTTP side ------------------------------------------------------ */

static void mt_reply(cn_t *cn, const char *status, const char *type, const char *body,
                     size_t len, int head_only) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, type, len);
  (void)cn_write(cn, head, (size_t)n);
  if (!head_only && len) (void)cn_write(cn, body, len);
  cn_close(cn, 1);
}

static void mt_error(cn_t *cn, const char *status) {
  char body[64];
  int n = snprintf(body, sizeof body, "%s\n", status);
  mt_reply(cn, status, "text/plain; charset=utf-8", body, (size_t)n, 0);
}

static size_t mt_on_data(cn_t *cn, const char *buf, size_t len) {
  struct srv *s = cn_data(cn);
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) {
    if (len >= MT_MAX_REQUEST) mt_error(cn, "431 Request Header Fields Too Large");
    return len >= MT_MAX_REQUEST ? len : 0;
  }
  /* "METHOD SP PATH SP HTTP/1.x" */
  const char *eol = memchr(buf, '\r', (size_t)(end - buf) + 1);
  const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  if (!sp1 || !sp2 || sp1 == buf || sp2 == sp1 + 1 || eol - sp2 - 1 != 8 ||
      memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1')) {
    mt_error(cn, "400 Bad Request");
    return len;
  }
  size_t mlen = (size_t)(sp1 - buf), plen = (size_t)(sp2 - sp1 - 1);
  const char *path = sp1 + 1, *q = memchr(path, '?', plen);
  if (q) plen = (size_t)(q - path);
  int get = mlen == 3 && memcmp(buf, "GET", 3) == 0, head = mlen == 4 && memcmp(buf, "HEAD", 4) == 0;
  if (plen != 8 || memcmp(path, "/metrics", 8) != 0) mt_error(cn, "404 Not Found");
  else if (!get && !head) mt_error(cn, "405 Method Not Allowed");
  else {
    sbuf_reset(&s->scratch);
    mt_render(s, &s->scratch);
    if (sbuf_failed(&s->scratch)) mt_error(cn, "500 Internal Server Error");
    else mt_reply(cn, "200 OK", "text/plain; version=0.0.4; charset=utf-8", s->scratch.data,
                  s->scratch.len, head);
  }
  return len; /* one request per connection: the rest is not read */
}

static int mt_on_open(cn_t *cn, void *ud) {
  cn_set_data(cn, ud);
  return 0;
}

static void mt_on_eof(cn_t *cn) { cn_close(cn, 1); }

int mt_start(struct srv *s) {
  const struct srv_config *cfg = s->cfg;
  struct cn_options co = {
      .bind_addr = cfg->bind_addr,
      .port = cfg->metrics_port,
      .max_connections = 64,
      .out_limit = 1u << 20,
  };
  struct cn_handlers h = {
      .on_open = mt_on_open, .on_data = mt_on_data, .on_eof = mt_on_eof, .ud = s};
  return cn_server_start(s->loop, &co, &h, &s->metrics);
}

void mt_stop(struct srv *s) {
  if (s->metrics) cn_server_destroy(s->metrics);
  s->metrics = NULL;
}
