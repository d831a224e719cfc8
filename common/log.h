/* Structured logging: one line per event, JSON lines or text, with a level filter.
 * Lines are written with one write(2) so concurrent processes sharing a file or
 * pipe do not interleave; buffered mode batches whole lines per write(2).
 * Secrets must never be passed in (redact URLs first). */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum sl_log_level { SL_DEBUG = 0, SL_INFO = 1, SL_WARN = 2, SL_ERROR = 3 } sl_log_level;
typedef enum sl_log_format { SL_LOG_TEXT = 0, SL_LOG_JSON = 1 } sl_log_format;

/** One key/value field of a log event. */
typedef struct sl_kv {
    const char *key;
    enum { SL_KV_STR, SL_KV_INT, SL_KV_DBL } kind;
    const char *s;
    long long i;
    double d;
} sl_kv;

#define SL_S(k, v) ((sl_kv){.key = (k), .kind = SL_KV_STR, .s = (v)})
#define SL_I(k, v) ((sl_kv){.key = (k), .kind = SL_KV_INT, .i = (long long)(v)})
#define SL_D(k, v) ((sl_kv){.key = (k), .kind = SL_KV_DBL, .d = (double)(v)})

/** Configure: path NULL or "" means stderr. Returns 0, or -1 (errno) if the file
 *  cannot be opened (logging then goes to stderr). May be called again. */
int sl_log_open(const char *path, sl_log_format fmt, sl_log_level min);
/** Reopen the log file (after rotation, on SIGUSR1). Returns 0 or -1. */
int sl_log_reopen(void);
/** Write what is buffered, close the file and go back to unbuffered stderr. */
void sl_log_close(void);

/** Buffered mode, off by default (the supervisor and CLI write each line at
 *  once). When on, sl_log_event appends each finished line to a process-wide
 *  buffer; the buffer goes out in one write(2) of whole lines before a line that
 *  would not fit, on sl_log_flush, sl_log_open, sl_log_reopen, sl_log_close and
 *  when the mode is turned off. It holds PIPE_BUF bytes (4096 on Linux, so each
 *  write to a pipe or terminal shared with other processes stays atomic), or
 *  64 KiB when the log fd is a regular file (checked when the mode is turned on
 *  and at open/reopen). A longer line is written on its own, in order. Lines keep
 *  the time they were logged at. The caller flushes before blocking, at exit
 *  and before fork (a child would inherit the buffered lines). */
void sl_log_set_buffered(int on);
/** Write the buffered lines now. Thread-safe; errno is preserved. */
void sl_log_flush(void);
/** CLOCK_MONOTONIC time, in ms, at which the oldest buffered line was added, or
 *  0 if nothing is buffered. Makes no syscall: an event loop may call it on
 *  every turn to flush lines older than a bound. */
int64_t sl_log_buffered_since_ms(void);
/** For a fatal-signal handler, right before the process dies: write(2) the
 *  buffered lines without taking the lock or allocating (async-signal-safe).
 *  Best effort: a line that the interrupted code, or another thread, is
 *  appending at that moment may be missing, and lines another thread is
 *  flushing at that moment may be written twice. */
void sl_log_flush_from_signal(void);
/** Fixed fields added to every line, e.g. component "supervisor" or the
 *  worker's "pool"/"consumer". Strings are copied. Pass n=0 to clear. */
void sl_log_set_context(const sl_kv *kv, size_t n);
/** Parse "debug|info|warn|error" / "text|json". Return 0 or -1. */
int sl_log_parse_level(const char *s, sl_log_level *out);
int sl_log_parse_format(const char *s, sl_log_format *out);
int sl_log_enabled(sl_log_level lvl);

/** Log an event: a message plus typed fields. Text format:
 *  `2026-11-26T09:49:41.123Z INFO  msg key=value key2="quoted value"`.
 *  JSON format: {"ts":"...","level":"info","msg":"...",<context>,<fields>} */
void sl_log_event(sl_log_level lvl, const char *msg, const sl_kv *kv, size_t n);
/** printf-style message, no fields. */
void sl_logf(sl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define SL_LOG(lvl, msg, ...) \
    sl_log_event((lvl), (msg), (const sl_kv[]){__VA_ARGS__}, sizeof((const sl_kv[]){__VA_ARGS__}) / sizeof(sl_kv))

#endif
