/* log: one-line log records on stderr, safe from any thread.
 *
 * Each record is formatted into a buffer on the caller's stack and written
 * with a single write(2), so lines from different threads never interleave
 * within a line. A record names the thread that wrote it ("main",
 * "worker-3"), which is how the log shows IO on the loop and CPU work on
 * the workers (spec R4).
 *
 * The level is set once by lg_set_level before any thread starts and only
 * read afterwards, so reading it needs no lock.
 */
#ifndef SERVER_LOG_H
#define SERVER_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum lg_level { LG_ERROR = 0, LG_WARN, LG_INFO, LG_DEBUG };

void lg_set_level(enum lg_level level);
int  lg_enabled(enum lg_level level);
/* 0 and the level, or -EINVAL for a name other than error|warn|info|debug. */
int  lg_parse_level(const char *name, enum lg_level *out);
void lg_log(enum lg_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LG_ERR(...) lg_log(LG_ERROR, __VA_ARGS__)
#define LG_WRN(...) lg_log(LG_WARN, __VA_ARGS__)
#define LG_INF(...) lg_log(LG_INFO, __VA_ARGS__)
/* The test keeps the argument list unevaluated when debug is off. */
#define LG_DBG(...) do { if (lg_enabled(LG_DEBUG)) lg_log(LG_DEBUG, __VA_ARGS__); } while (0)

#ifdef __cplusplus
}
#endif
#endif
