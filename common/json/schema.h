/* JSON Schema draft-07 validator on cJSON, used for event schema governance
 * (validation at enqueue and before a handler runs). Written here because no C
 * JSON Schema library ships with Debian. Supported keywords, limits and the
 * official test-suite results are in docs/schema.md. */
#ifndef SL_SCHEMA_H
#define SL_SCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

/** A compiled schema. Immutable once compiled: one schema may be shared by any
 *  number of threads validating at the same time. */
typedef struct sl_schema sl_schema;

/* Bounds against hostile schemas and payloads. Hitting any of them makes a
 * validation return -1 with keyword "limit" (or, for the compile-time nesting
 * bound, makes sl_schema_compile fail). */
#define SL_SCHEMA_MAX_SCHEMA_DEPTH 128 /* nested subschemas/$refs applied at one instance location */
#define SL_SCHEMA_MAX_TOTAL_DEPTH 2048 /* nested subschema applications in all */
#define SL_SCHEMA_MAX_INSTANCE_DEPTH 256 /* nesting of the instance (a scalar root is depth 1) */
#define SL_SCHEMA_MAX_STEPS \
    1000000UL /* one budget of work per validation: keyword evaluations
                                             * and pattern matching (message "validation budget exceeded") */
#define SL_SCHEMA_PCRE2_UNITS_PER_STEP 16 /* PCRE2 match-limit units charged as one step of the budget */
#define SL_SCHEMA_PCRE2_FIRST_LIMIT 16 /* match limit of a match's first try (then 8x per retry) */
#define SL_SCHEMA_MAX_COMPILE_DEPTH 512 /* nesting of the schema document itself */
#define SL_SCHEMA_PCRE2_MATCH_LIMIT 1000000 /* pcre2_set_match_limit, most for one pattern match */
#define SL_SCHEMA_PCRE2_DEPTH_LIMIT 10000 /* pcre2_set_depth_limit (backtracking depth) */
#define SL_SCHEMA_PCRE2_HEAP_LIMIT 8192 /* pcre2_set_heap_limit, KiB */

/** The first violation found by a validation. */
typedef struct sl_schema_error {
    char pointer[512]; /* JSON pointer into the INSTANCE, e.g. "/items/2/qty" ("" = root);
                        * a longer pointer is cut and ends in "..." */
    char keyword[32]; /* the failing keyword, e.g. "minimum"; "limit" when a bound was hit */
    char message[256]; /* e.g. "2.5 is less than the minimum 3" */
} sl_schema_error;

/**
 * Compile a schema from JSON text.
 * @param json, len  the schema document (any valid JSON; must be an object or a boolean)
 * @param err        receives a one-line reason on failure (may be NULL): invalid
 *                   JSON (with the byte offset), a malformed keyword (with its JSON
 *                   pointer in the schema), a pattern PCRE2 rejects (PCRE2's message
 *                   and the offset in the pattern), or a local "$ref" whose target
 *                   does not exist
 * @return a schema to release with sl_schema_free, or NULL on failure.
 * "$ref"s to documents outside this one (e.g. "http://...") compile; validating
 * through one returns -1 with keyword "$ref".
 */
sl_schema *sl_schema_compile(const char *json, size_t len, char *err, size_t errlen);

/** Release a schema. NULL-safe. */
void sl_schema_free(sl_schema *s);

/**
 * Validate a JSON text against a schema.
 * @param e  receives the first violation when the result is 0, the reason when it
 *           is -1 (may be NULL); untouched when the result is 1
 * @return 1 valid; 0 invalid; -1 could not validate: the instance is not JSON
 *         (keyword "json"), a bound was hit (keyword "limit"), a remote "$ref"
 *         was reached (keyword "$ref"), or a string was not valid UTF-8.
 */
int sl_schema_validate(const sl_schema *s, const char *json, size_t len, sl_schema_error *e);

/** As sl_schema_validate, for an instance already parsed with cJSON (not modified). */
int sl_schema_validate_cjson(const sl_schema *s, const cJSON *instance, sl_schema_error *e);

#endif
