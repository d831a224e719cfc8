/* W3C Trace Context helpers: make, check and derive `traceparent` values
 * ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), so every job a
 * request causes shares one trace id and gets its own span id. Pure apart from
 * the random bytes (sl_random_bytes); no allocation. */
#ifndef SL_TRACE_H
#define SL_TRACE_H

#include <stddef.h>

/** Length of a version-00 traceparent, without the NUL. */
#define SL_TRACE_LEN 55
/** Room for a traceparent plus its NUL (callers pass char out[56]). */
#define SL_TRACE_SIZE 56
/** Room for a trace id (32 hex) plus its NUL. */
#define SL_TRACE_ID_SIZE 33

/**
 * Write a fresh traceparent "00-<trace id>-<span id>-01" (sampled) to out:
 * random ids from sl_random_bytes, never all zero.
 * @return 0, or -1 when no random bytes could be read (out is then "").
 */
int sl_trace_new(char out[SL_TRACE_SIZE]);

/**
 * Derive the traceparent of a child span: the parent's trace id and flags with
 * a new random span id. The result is always version 00 (the only version this
 * code writes; a version-00 parent keeps its version). An invalid or NULL
 * parent gives a fresh traceparent, as sl_trace_new.
 * @return 0, or -1 when no random bytes could be read (out is then "").
 */
int sl_trace_child(const char *parent, char out[SL_TRACE_SIZE]);

/**
 * 1 if tp is a valid traceparent: lowercase hex, version not "ff", trace and
 * parent ids not all zero; version 00 is exactly 55 characters, a later
 * version may carry more after a '-' at offset 55 (W3C forward compatibility).
 * 0 otherwise, and for NULL.
 */
int sl_trace_valid(const char *tp);

/** Copy the 32-hex trace id of a valid traceparent to out. 0, or -1 (out ""). */
int sl_trace_id(const char *tp, char out[SL_TRACE_ID_SIZE]);

#endif
