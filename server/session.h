/* session: one client connection's requests, in order. Parses what the
 * connection layer offers, answers loop commands at once, sends pool
 * commands through the offload, and writes replies strictly in request
 * order (a FIFO per connection: a reply is written only from its head, and
 * only once decided). It also decides when to stop reading the connection
 * (README: Behaviour under stress).
 *
 * Ownership: a session lives from cn's on_open to its on_close. Its
 * requests are owned by the session's FIFO and, while submitted, by the
 * offload; whichever lets go last frees them. A session that closes
 * detaches its requests still in the pool (their late results are
 * dropped, never written to a newer connection on the same fd) and asks
 * them to stop.
 *
 * Threads: loop thread only, except the work function a worker runs,
 * which touches only its request's job.
 */
#ifndef SERVER_SESSION_H
#define SERVER_SESSION_H

#include "net/conn.h"
#include "server/srv.h"

#ifdef __cplusplus
extern "C" {
#endif

struct session;

/* The connection layer's callbacks (ud: the struct srv). */
extern const struct cn_handlers sess_handlers;

/* Shutdown began: stop reading, answer what was read, then close (an idle
 * session closes at once). */
void sess_drain(struct session *ss);
struct session *sess_of(struct list *link);  /* srv->sessions iteration */
/* Whether a session is idle: nothing read for idle_ns, nothing owed to it
 * (no request outstanding, no output waiting). */
int  sess_idle(const struct session *ss, uint64_t now_ns, uint64_t idle_ns);
/* Closes it (flushing what was written); on_close follows. */
void sess_close(struct session *ss);
/* Its connection's id, as the log's conn= names it. */
uint64_t sess_conn_id(const struct session *ss);
/* Its held or paused state, for INFO's blocked_clients. */
int  sess_blocked(const struct session *ss);

#ifdef __cplusplus
}
#endif
#endif
