/* metrics: GET /metrics (Prometheus text format) over HTTP/1.1 on
 * --metrics-port, served by the server's own event loop (metrics.c says
 * how). Loop thread only. Errors: 0 or a negative errno.
 */
#ifndef SERVER_METRICS_H
#define SERVER_METRICS_H

#include "base/sbuf.h"
#include "server/srv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Listens on cfg->metrics_port of cfg->bind_addr (s->metrics). */
int  mt_start(struct srv *s);
/* Closes the listener and its connections (after el_run). */
void mt_stop(struct srv *s);
/* The exposition page into b. */
void mt_render(struct srv *s, struct sbuf *b);

#ifdef __cplusplus
}
#endif
#endif
