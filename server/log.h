/* log: one-line log records, safe from any thread.
 *
 * Each record is formatted into a buffer on the caller's stack and written
 * with a single write(2), so lines from different threads never interleave
 * within a line. A record names the thread that wrote it ("main",
 * "worker-3"), which is how the log shows IO on the loop and CPU work on
 * the workers (spec R4).
 *
 * Formats: text "2026-11-25T10:00:00.123Z info  main      msg", or json,
 * one object per line: {"ts":..,"level":..,"thread":..,"msg":..} plus one
 * member per key=value word of the message ("conn=7" -> "conn":7), so
 * records can be filtered by field without parsing the text.
 *
 * Destination: stderr, or a file (lg_open) that lg_reopen reopens by name
 * (logrotate's contract: rename the file, then SIGHUP). Level, format and
 * destination are set before any thread starts and only read afterwards;
 * lg_reopen swaps the file under the same descriptor (dup3), so it may
 * run while other threads log. Errors: 0 or a negative errno.
 */
#ifndef SERVER_LOG_H
#define SERVER_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum lg_level { LG_ERROR = 0, LG_WARN, LG_INFO, LG_DEBUG };
enum lg_format { LG_TEXT = 0, LG_JSON };

void lg_set_level(enum lg_level level);
void lg_set_format(enum lg_format format);
int  lg_enabled(enum lg_level level);
/* 0 and the level, or -EINVAL for a name other than error|warn|info|debug. */
int  lg_parse_level(const char *name, enum lg_level *out);
/* Appends records to path from now on (created 0644 if missing). */
int  lg_open(const char *path);
/* Opens the path again, for a renamed log file; 0 without one. */
int  lg_reopen(void);
void lg_close(void);
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
