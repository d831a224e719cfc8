/* Schema compatibility under additive-only evolution: may NEW replace OLD for
 * the same event type? Lists every breaking change with its JSON pointer in the
 * schema; anything it cannot prove compatible is reported as unverifiable and
 * counts as breaking. Rules and examples: docs/schemas-registry.md. */
#ifndef SL_SCHEMA_COMPAT_H
#define SL_SCHEMA_COMPAT_H

#include <stddef.h>

/** At most this many changes are listed; `truncated` says when more exist. */
#define SL_COMPAT_MAX_CHANGES 256

/** One breaking change. */
typedef struct sl_compat_change {
    char pointer[256]; /* JSON pointer into the schemas, e.g. "/properties/qty" ("" = root) */
    char message[384]; /* e.g. "type narrowed from [\"integer\",\"string\"] to [\"integer\"]";
                        * for an unverifiable change, what changed ("oneOf changed") */
    int unverifiable; /* 1: could not prove it compatible (treated as breaking) */
} sl_compat_change;

/** The breaking changes found by sl_compat_check. */
typedef struct sl_compat_report {
    sl_compat_change *changes; /* n entries, in schema order */
    size_t n;
    size_t cap;
    int truncated; /* 1 if more than SL_COMPAT_MAX_CHANGES were found */
} sl_compat_report;

/**
 * Check whether schema text new_json can replace old_json.
 * Both must be valid JSON Schemas (they are compiled with sl_schema_compile).
 * @param rep  receives the breaking changes (zero it first; free with
 *             sl_compat_report_free even on failure)
 * @return 1 compatible (rep->n == 0); 0 breaking (rep->n > 0); -1 if either
 *         document is not a schema or memory ran out (err says which).
 */
int sl_compat_check(const char *old_json, size_t old_len, const char *new_json, size_t new_len, sl_compat_report *rep,
                    char *err, size_t errlen);

/** Release the report's changes (the struct itself is the caller's). NULL-safe. */
void sl_compat_report_free(sl_compat_report *rep);

/** A pointer for display: the pointer, or "(root)" for "". */
const char *sl_compat_where(const char *pointer);

/**
 * One change as a line (no newline): "POINTER: MESSAGE", or for an
 * unverifiable one "unverifiable change at POINTER (MESSAGE)". Returns buf.
 */
const char *sl_compat_format(const sl_compat_change *c, char *buf, size_t n);

#endif
