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

/* cmd_init (server/command.h) runs each command's init before any worker
 * exists: for HASH and VERIFY, libcrypto's lazy one-time set-up, which
 * concurrent first calls would race on (Helgrind reports it); it also shows
 * a missing SHA-256 or Ed25519 at start-up. Call it before these. */

/* Lower-case hex SHA-256 (OpenSSL libcrypto) of data[0..len); out gets 64
 * characters and a NUL. */
int cmd_hash(const void *data, size_t len, char out[65]);

/* Ed25519 (RFC 8032) verification through libcrypto: 0 if sig is a valid
 * signature of msg[0..len) under the raw public key pub, 1 if it is not (a
 * key that is not a curve point verifies nothing: 1), or a negative errno
 * if libcrypto failed (-ENOMEM, -EIO). Any thread, after cmd_init. */
int cmd_verify(const unsigned char pub[32], const unsigned char sig[64], const void *msg,
               size_t len);

/* Number of primes <= n (n <= 2147483647), by a segmented sieve in bounded
 * memory (a few tens of KiB whatever n is). */
int cmd_primes(uint32_t n, cmd_cancel_fn cancelled, const void *ctx, uint64_t *count);

/* Sleeps ms milliseconds, waking at least every 10 ms to poll cancelled. */
int cmd_sleep(unsigned ms, cmd_cancel_fn cancelled, const void *ctx);

#ifdef __cplusplus
}
#endif
#endif
