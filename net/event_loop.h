/* event_loop: a small epoll reactor in the manner of Redis's ae (spec R7).
 *
 * One thread owns a loop: it alone calls el_run and every el_ function
 * except el_wake_signal, which any thread, and a signal handler, may call.
 * Callbacks run on the loop thread, one at a time, so state touched only
 * from callbacks needs no locking.
 *
 * Three kinds of event sources share the one epoll set:
 *  - file descriptors (sockets), level-triggered, EL_READ / EL_WRITE;
 *  - wake-ups: an eventfd (EFD_CLOEXEC|EFD_NONBLOCK); other threads call
 *    el_wake_signal, the loop reads the counter and runs the callback once
 *    per batch of signals;
 *  - timers: a timerfd each (CLOCK_MONOTONIC), one-shot or periodic.
 *
 * Errors: int functions return 0 or a negative errno. el_run returns 0
 * after el_stop, or a negative errno if epoll_wait fails for a reason other
 * than EINTR.
 */
#ifndef NET_EVENT_LOOP_H
#define NET_EVENT_LOOP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct el el_t;
typedef struct el_wake el_wake_t;
typedef struct el_timer el_timer_t;

/* Interest flags (el_add, el_mod) and event flags (callbacks):
 *  EL_READ   readable;
 *  EL_WRITE  writable;
 *  EL_RDHUP  the peer shut down its sending side (EPOLLRDHUP): lets an owner
 *            that is not reading a socket still learn of the peer's FIN;
 *  EL_ERROR  an error or a hang-up (EPOLLERR/EPOLLHUP). As interest, alone,
 *            it keeps the fd watched for errors only; the kernel reports
 *            errors whatever else is asked, so with any other flag it adds
 *            nothing. As an event it comes with the interest flags too, so
 *            the owner's read or write meets the error (as Redis's ae does).
 * An interest of 0 takes the fd out of the epoll set: nothing at all is
 * reported, errors included, until el_mod asks for something again. */
enum { EL_READ = 1u, EL_WRITE = 2u, EL_ERROR = 4u, EL_RDHUP = 8u };

typedef void (*el_io_fn)(el_t *loop, int fd, unsigned events, void *arg);
typedef void (*el_fn)(el_t *loop, void *arg);

int  el_create(el_t **out);
/* Closes the epoll fd and every wake-up and timer still registered. File
 * descriptors added with el_add are not closed: their owners close them. */
void el_destroy(el_t *loop);

int el_add(el_t *loop, int fd, unsigned events, el_io_fn fn, void *arg);
int el_mod(el_t *loop, int fd, unsigned events);  /* 0: stay registered, report nothing */
int el_del(el_t *loop, int fd);                    /* safe inside any callback, also for that same fd */

/* Hooks run on the loop thread just before each epoll_wait, after every
 * ready event was handled, in the order they were added: the place to
 * flush batched work and output, as Redis's beforeSleep does. A hook
 * returns nonzero if it may have made work for a hook that ran before it
 * in this pass (a connection's re-offered input submitting to the pool,
 * say); then all hooks run again, until a pass where none does.
 * el_hook_add: 0 or -ENOMEM. el_hook_del removes the (fn, arg) pair added
 * earlier; not from inside a hook. */
typedef int (*el_hook_fn)(el_t *loop, void *arg);
int  el_hook_add(el_t *loop, el_hook_fn fn, void *arg);
void el_hook_del(el_t *loop, el_hook_fn fn, void *arg);

int  el_run(el_t *loop);
/* One pass of el_run: the hooks, one epoll_wait of at most timeout_ms (0:
 * do not wait; -1: until something happens), then the events it returned.
 * For tests and fuzzers that step a loop, or a program embedding it in
 * another. The number of events handled, or a negative errno (an EINTR
 * counts as 0 events). */
int  el_run_once(el_t *loop, int timeout_ms);
void el_stop(el_t *loop);  /* loop thread only; el_run returns after the current batch */

int  el_wake_create(el_t *loop, el_fn fn, void *arg, el_wake_t **out);
void el_wake_signal(el_wake_t *w);  /* any thread; async-signal-safe; never blocks */
void el_wake_destroy(el_wake_t *w);

int  el_timer_create(el_t *loop, el_fn fn, void *arg, el_timer_t **out);
/* First expiry after first_ms; then every interval_ms (0 = one-shot).
 * first_ms == 0 disarms. */
int  el_timer_arm(el_timer_t *t, unsigned first_ms, unsigned interval_ms);
void el_timer_destroy(el_timer_t *t);


#ifdef __cplusplus
}
#endif
#endif
