/* commands: the work behind the pool commands, as plain functions (their
 * registry entries are in server/cmd_<name>.c; tests call these directly).
 * Pure computation: no sockets, no pool; they run on a worker thread.
 * Long-running ones poll `cancelled(ctx)` often enough to stop within
 * about 10 ms and then return -ECANCELED. Errors: 0 or a negative errno.
 */
#ifndef SERVER_COMMANDS_H
#define SERVER_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "server/command.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { CMD_PRIMES_MAX = 2147483647, CMD_SLEEP_MAX_MS = 60000 };

/* Call once before starting the threads that run commands (e.g. from main).
 * It makes libcrypto do its lazy one-time set-up now: done by concurrent
 * first HASHes instead, that set-up has benign races Helgrind reports. It
 * also shows a missing SHA-256 at start-up. 0 or a negative errno. */
int cmd_init(void);

/* Lower-case hex SHA-256 (OpenSSL libcrypto) of data[0..len); out gets 64
 * characters and a NUL. */
int cmd_hash(const void *data, size_t len, char out[65]);

/* Number of primes <= n (n <= 2147483647), by a segmented sieve in bounded
 * memory (a few tens of KiB whatever n is). */
int cmd_primes(uint32_t n, cmd_cancel_fn cancelled, const void *ctx, uint64_t *count);

/* Sleeps ms milliseconds, waking at least every 10 ms to poll cancelled. */
int cmd_sleep(unsigned ms, cmd_cancel_fn cancelled, const void *ctx);

#ifdef __cplusplus
}
#endif
#endif
