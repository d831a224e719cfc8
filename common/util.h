/* Small shared helpers: clocks, durations, bounded string copies, name checks. */
#ifndef SL_UTIL_H
#define SL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/** Milliseconds on CLOCK_MONOTONIC (comparable across processes on one host). */
int64_t sl_now_mono_ms(void);
/** Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t sl_now_wall_ms(void);

/**
 * Parse a duration: a non-negative integer count of milliseconds ("1500"), or a
 * number with a unit: "250ms", "10s", "2m", "1h" (fractions allowed: "1.5s").
 * @return 0 and *out_ms, or -1 if malformed/negative/overflowing.
 */
int sl_parse_duration_ms(const char *s, int64_t *out_ms);

/** snprintf into buf; returns 0, or -1 if the result was truncated. */
int sl_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Job type names: [a-z0-9_.-]{1,128}. Returns 1 if valid. */
int sl_valid_type(const char *s, size_t len);
/** Queue, group and pool names: [A-Za-z0-9_.-]{1,64}. Returns 1 if valid. */
int sl_valid_name(const char *s);

/** "*S*" with S's glob characters (*?[]\) escaped: a SCAN/ZSCAN MATCH pattern
 *  for anything containing s (cut short when it would not fit in n). */
void sl_glob_containing(char *buf, size_t n, const char *s);
/** Random bytes from getrandom(2) (falls back to /dev/urandom). Returns 0 or -1. */
int sl_random_bytes(void *buf, size_t n);
/** A random 64-bit value (not for secrets): a per-thread generator seeded from
 *  sl_random_bytes, re-seeded in a forked child. Ids need uniqueness, not secrecy. */
uint64_t sl_rand64(void);
/** Write a random UUID v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") into out[37]. */
void sl_uuid4(char out[37]);

/** Copy src into dst of size n (> 0), truncated and NUL-terminated; returns the
 *  length copied. snprintf("%s") without the format parsing (per-job paths). */
size_t sl_copy(char *dst, size_t n, const char *src);

/** Room for any long long in decimal, with its sign and NUL. */
#define SL_INT_TEXT_SIZE 21
/** v in decimal, exactly as "%lld" prints it, NUL-terminated; returns the length.
 *  For hot paths (log fields, RESP lengths, entry fields): snprintf costs
 *  50-100 ns a call, this a few ns. */
size_t sl_fmt_ll(char out[SL_INT_TEXT_SIZE], long long v);

/** Full jitter capped exponential backoff: uniform in [0, min(cap, base * 2^attempt)],
 *  never below min_ms. attempt counts from 0. */
int64_t sl_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, int64_t min_ms);

#endif
