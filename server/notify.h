/* notify: systemd's readiness protocol (sd_notify(3)), in the few lines it
 * takes: one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * Without $NOTIFY_SOCKET nothing is sent. The server sends READY=1 once it
 * listens, STATUS=... with a one-line summary, and STOPPING=1 when a
 * shutdown begins. Errors: 0, or a negative errno (logged by the caller,
 * never fatal: the service runs on without its supervisor's news).
 * Any thread; no state.
 */
#ifndef SERVER_NOTIFY_H
#define SERVER_NOTIFY_H

#ifdef __cplusplus
extern "C" {
#endif

int notify_send(const char *state);

#ifdef __cplusplus
}
#endif
#endif
