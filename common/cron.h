/* Cron expressions and their fire times in an IANA time zone, for schedules
 * (issue 13). No C cron library is packaged in Debian 12, so the parser and
 * the search for the next match are ours; the zone rules are glibc's
 * (localtime_r under TZ, from the system's tzdata).
 *
 * Syntax: five fields "MIN HOUR DOM MON DOW", or six with a leading seconds
 * field "SEC MIN HOUR DOM MON DOW". Each field is "*", or a comma list of
 * N, N-M, N-M/S, N/S (N to the field's maximum, step S) or "*" then "/S"
 * (every S-th value); months
 * JAN..DEC and weekdays SUN..SAT by name (any case), weekday 7 is Sunday. When
 * both DOM and DOW are other than "*", a day matches if either does (as
 * Vixie cron and croniter). Macros: @yearly (@annually), @monthly, @weekly,
 * @daily (@midnight), @hourly, and "@every DURATION" (whole seconds, 1s..366d:
 * ticks at whole multiples of DURATION since the Unix epoch, UTC, so every
 * host computes the same ticks).
 *
 * Daylight saving time: a local time that does not exist (the clock jumps
 * over it) fires once, at the first instant after the jump; a local time that
 * occurs twice (the clock goes back) fires once, at its first occurrence.
 *
 * Not thread-safe: the zone is switched through the process's TZ. The
 * supervisor and the CLI call it from one thread. */
#ifndef SL_COMMON_CRON_H
#define SL_COMMON_CRON_H

#include <stddef.h>
#include <stdint.h>

/** Longest IANA zone name accepted. */
#define SL_CRON_ZONE_MAX 64

typedef struct sl_cron {
    uint64_t sec, min; /* bit i: second / minute i matches */
    uint32_t hour; /* bit 0..23 */
    uint32_t dom; /* bit 1..31 */
    uint16_t mon; /* bit 1..12 */
    uint8_t dow; /* bit 0..6, 0 = Sunday */
    uint8_t dom_any, dow_any; /* the field was "*" */
    int64_t every_ms; /* > 0: "@every", the fields are unused */
    char zone[SL_CRON_ZONE_MAX]; /* "" = UTC */
} sl_cron;

/**
 * Parse expr (cron or macro) for time zone zone (NULL or "" or "UTC": UTC).
 * @return 0, or -1 with err naming the field and what is wrong
 *         ("hour: 24 is out of 0..23", "unknown time zone Mars/Base")
 */
int sl_cron_parse(const char *expr, const char *zone, sl_cron *out, char *err, size_t errlen);

/**
 * The first fire time strictly after after_ms (ms since the Unix epoch).
 * @return 0 with *next_ms (a whole second, or a multiple of every_ms), or -1
 *         when the expression never matches within 10 years (e.g. "0 0 30 2 *")
 */
int sl_cron_next(const sl_cron *c, int64_t after_ms, int64_t *next_ms);

/** 0 if zone names a time zone of the system's tzdata (TZDIR, default
 *  /usr/share/zoneinfo), else -1 with err. "" and "UTC" are always valid. */
int sl_tz_check(const char *zone, char *err, size_t errlen);

/** The UTC offset of zone at t (seconds since the epoch), in seconds east. */
long sl_tz_offset(const char *zone, int64_t t);

#endif
