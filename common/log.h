/* Structured logging: one line per event, JSON lines or text, with a level filter.
 * Lines are written with one write(2) so concurrent processes sharing a file or
 * pipe do not interleave. Secrets must never be passed in (redact URLs first). */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stddef.h>

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
void sl_log_close(void);
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

#define SL_LOG(lvl, msg, ...)                                                     \
    sl_log_event((lvl), (msg), (const sl_kv[]){__VA_ARGS__},                      \
                 sizeof((const sl_kv[]){__VA_ARGS__}) / sizeof(sl_kv))

#endif
