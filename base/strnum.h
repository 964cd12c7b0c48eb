/* strnum: what a number is, for every parser in the project (command-line
 * flags of pool_server and stress_test, and command arguments on the wire).
 *
 * A number is one or more ASCII decimal digits and nothing else: no sign,
 * no spaces, no "0x", no exponent; leading zeros are allowed. Its value must
 * not exceed the caller's max. strtoul would accept " -1" as a huge number;
 * these never do. Pure functions, any thread.
 */
#ifndef BASE_STRNUM_H
#define BASE_STRNUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* s[0..len) as a number <= max. 0 and *out set, or -EINVAL (not a number)
 * or -ERANGE (a number above max). *out is untouched on error. */
int num_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* The same for a NUL-terminated string. */
int num_parse_u64_str(const char *s, uint64_t max, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
