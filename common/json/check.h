/* A strict JSON checker and the quoting of untrusted bytes for error messages:
 * pure functions, no allocation, no global state. The envelope codec checks
 * payloads with it and the schema code quotes with it. */
#ifndef SL_COMMON_JSON_CHECK_H
#define SL_COMMON_JSON_CHECK_H

#include <stddef.h>

#define SL_JSON_DEPTH_MAX 1000 /* nesting limit, as cJSON's */

/**
 * Check that s[0..len) is one JSON text (RFC 8259): one value with optional
 * whitespace around it, strings in valid UTF-8 without raw control characters,
 * no unpaired \u surrogate escapes, nesting at most SL_JSON_DEPTH_MAX.
 * Any JSON value is accepted, not only objects. Pure: no allocation, no global state.
 * @param err_off  receives the byte offset of the error (may be NULL)
 * @param why      receives a short static reason, e.g. "expected ',' or '}'" (may be NULL)
 * @return 0 if valid, -1 if not
 */
int sl_json_check(const char *s, size_t len, size_t *err_off, const char **why);

/** Room for any sl_json_quote result. */
#define SL_JSON_QUOTE_SIZE (64 * 4 + 6)

/**
 * Quote untrusted bytes for an error message: value[0..len) in double quotes,
 * at most 64 input bytes (then "..." after the closing quote), with '"' and '\\'
 * escaped and non-printable bytes as \xNN. buf should hold SL_JSON_QUOTE_SIZE
 * bytes; a smaller buf is truncated but always NUL-terminated (n > 0).
 */
void sl_json_quote(char *buf, size_t n, const char *value, size_t len);

#endif
