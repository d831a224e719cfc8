/* The schema registry: one JSON Schema per event type (versioned names such as
 * order.placed.v1), stored in Redis so producers in any language can fetch
 * them, changed only by additive-only evolution (compat.h), plus a
 * per-process cache that validates payloads. Keys: docs/schemas-registry.md. */
#ifndef SL_REGISTRY_H
#define SL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/json/compat.h"
#include "common/json/schema.h"
#include "common/keys.h"
#include "common/redis.h"

/* The registry's two keys (common/keys.h): the hash type -> schema JSON text,
 * and the counter INCRed on every change. */
#define SL_REGISTRY_KEY SL_KEY_SCHEMAS
#define SL_REGISTRY_VERSION_KEY SL_KEY_SCHEMAS_VERSION
/** Largest schema document accepted, in bytes. */
#define SL_REGISTRY_MAX_SCHEMA (1024 * 1024)
/** How often a cache re-reads the version key, at most (ms). */
#define SL_REGISTRY_REFRESH_MS 1000

/** What a registration did. */
typedef enum sl_reg_outcome {
    SL_REG_ADDED, /* no schema for the type before */
    SL_REG_UPDATED, /* replaced a schema it is compatible with */
    SL_REG_UNCHANGED, /* the same schema was registered already: no write */
    SL_REG_INVALID, /* bad type name, or the text is not a schema */
    SL_REG_INCOMPATIBLE, /* breaks the registered schema: nothing written */
    SL_REG_FAILED /* Redis failed (connection, error reply, contention) */
} sl_reg_outcome;

/**
 * Register schema text for type: check-and-set against concurrent writers
 * (WATCH/MULTI), retried on contention. The schema is stored compact
 * (cJSON_PrintUnformatted), so re-registering the same document with other
 * whitespace is a no-op.
 * @param rep  receives the breaking changes when SL_REG_INCOMPATIBLE (may be
 *             NULL; zero it first, free with sl_compat_report_free)
 * @param err  receives a one-line reason for INVALID/INCOMPATIBLE/FAILED
 */
sl_reg_outcome sl_registry_put(sl_redis *r, const char *type, const char *json, size_t len, sl_compat_report *rep,
                               char *err, size_t errlen);

/** sl_registry_put for NUL-terminated text: 0 (added, updated or unchanged) or -1 with err. */
int sl_registry_register(sl_redis *r, const char *type, const char *schema_json, char *err, size_t errlen);

/**
 * Register every DIR/TYPE.json (the file name without ".json" is the type;
 * other names and hidden files are skipped with an error). A missing dir is
 * not an error. Every file is tried even after a failure.
 * @return 0, or -1 with the failures ("FILE: reason; ...") in err.
 */
int sl_registry_load_dir(sl_redis *r, const char *dir, char *err, size_t errlen);

/** The stored text for type: 1 and *out (malloc'd, NUL-terminated) + *len; 0 if
 *  none; -1 on a Redis failure (err). */
int sl_registry_get(sl_redis *r, const char *type, char **out, size_t *len, char *err, size_t errlen);

/** One registered schema. */
typedef struct sl_registry_entry {
    char *type;
    char *json;
    size_t len;
} sl_registry_entry;

/** Every registered schema, sorted by type: 0 (free with sl_registry_entries_free) or -1 (err). */
int sl_registry_list(sl_redis *r, sl_registry_entry **out, size_t *n, char *err, size_t errlen);
void sl_registry_entries_free(sl_registry_entry *v, size_t n);

/* ---- Validation cache (registry_cache.c) ---- */

/** Compiled schemas per type, and "no schema" per type, for one process. Not
 *  thread-safe. Drops everything when the version key changes, which it reads
 *  at most once per SL_REGISTRY_REFRESH_MS. */
typedef struct sl_registry_cache sl_registry_cache;

/** A cache reading through r (borrowed: r must outlive the cache). NULL if out of memory. */
sl_registry_cache *sl_registry_cache_new(sl_redis *r);
void sl_registry_cache_free(sl_registry_cache *c);
/** Change the refresh interval (tests; 0 reads the version key on every call). */
void sl_registry_cache_set_interval(sl_registry_cache *c, int64_t ms);

/**
 * Validate a payload against the registered schema of type.
 * @param e  receives the first violation (0) or the reason (-1); may be NULL
 * @return 1 valid; 0 invalid; 2 no schema registered for this type; -1 could
 *         not validate: Redis failed (keyword "registry"), the registered
 *         schema does not compile (keyword "schema"), or the validator's own
 *         -1 (not JSON, a limit, a remote $ref).
 */
int sl_registry_validate(sl_registry_cache *c, const char *type, const char *payload, size_t len, sl_schema_error *e);

#endif
