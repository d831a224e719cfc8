/* Private to the config module: the key schema shared by config.c (parsing,
 * defaults, env overrides) and config_json.c (JSON output, fingerprints, free).
 * Every key of the JSON file has exactly one row in one of the two tables. */
#ifndef SL_CONFIG_SCHEMA_H
#define SL_CONFIG_SCHEMA_H

#include <stddef.h>

typedef enum sl_cfg_ktype {
    SL_CFG_STR, /* char *, free text (nullable ones accept null / "") */
    SL_CFG_NAME, /* char *, sl_valid_name */
    SL_CFG_URL, /* char *, sl_url_parse; the value is never echoed in errors */
    SL_CFG_PATH, /* char *, made absolute against the config file's folder */
    SL_CFG_INT, /* int */
    SL_CFG_I64, /* int64_t */
    SL_CFG_DUR, /* int64_t ms: integer or "250ms" / "10s" / "2m" / "1h" */
    SL_CFG_LEVEL, /* int (sl_log_level) */
    SL_CFG_FORMAT, /* int (sl_log_format) */
    SL_CFG_BOOL, /* int 0/1: JSON true/false (env: true|false|1|0) */
    SL_CFG_STARTAT, /* char *: "0", "$" or a stream id */
    SL_CFG_LISTEN, /* char *: "host:port" (sl_cfg_parse_listen); an empty env value means null */
    SL_CFG_PLUGINS, /* char ** + count */
    SL_CFG_SETTINGS, /* string map */
    SL_CFG_POOLS, /* the pools array (handled by parse_pools) */
    SL_CFG_QUEUES, /* the queues object (config_queues.c) */
    SL_CFG_SCHEDULES, /* the schedules array (config_schedules.c) */
    SL_CFG_LIMITS, /* the limits object (config_limits.c) */
    SL_CFG_POOL_QUEUES /* pools[].queues: an array of {name, weight} (config_queues.c) */
} sl_cfg_ktype;

enum { SL_CFG_REQUIRED = 1, SL_CFG_NULLABLE = 2 };

typedef struct sl_cfg_key {
    const char *path; /* "redis.url"; pool and queue keys are relative ("workers") */
    sl_cfg_ktype type;
    int flags;
    size_t off; /* offset in sl_config / sl_pool_cfg / sl_queue_cfg */
    long long def; /* numeric default */
    const char *sdef; /* string default (NULL: none) */
    long long min, max; /* numeric range */
    const char *env; /* SLUICE_* override, or NULL */
} sl_cfg_key;

/** Top-level keys ("redis.url", ..., "pools"), pool keys ("name", ...) and the
 *  keys of one queue entry (queues.<name>.retention_max_age, ...). */
extern const sl_cfg_key sl_cfg_main_keys[];
extern const size_t sl_cfg_nmain_keys;
extern const sl_cfg_key sl_cfg_pool_keys[];
extern const size_t sl_cfg_npool_keys;
extern const sl_cfg_key sl_cfg_queue_keys[];
extern const size_t sl_cfg_nqueue_keys;
extern const sl_cfg_key sl_cfg_limit_keys[];
extern const size_t sl_cfg_nlimit_keys;
extern const sl_cfg_key sl_cfg_schedule_keys[];
extern const size_t sl_cfg_nschedule_keys;
/** The keys of one entry of pools[].queues (name, weight). */
extern const sl_cfg_key sl_cfg_pool_queue_keys[];
extern const size_t sl_cfg_npool_queue_keys;

/* ---- parser services shared by config.c and config_queues.c -------------- */

struct cJSON;
struct sl_config;
typedef struct sl_cfg_pctx sl_cfg_pctx; /* one load: origin, folders, error buffer */

/** Report "origin: label: message" into the load's error buffer. Returns -1. */
int sl_cfg_bad(sl_cfg_pctx *p, const char *label, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** "prefix.key" into out, control characters replaced (for error labels). */
void sl_cfg_label(char *out, size_t n, const char *prefix, const char *key);

/** A short description of a JSON value for "got ..." messages. */
const char *sl_cfg_got(const struct cJSON *it, char *buf, size_t n);

/**
 * Parse a JSON object into obj through a table of scalar keys: unknown and
 * duplicate keys refused, defaults set, each present value checked. label
 * prefixes the key paths in messages ("queues.orders"). 0 or -1 (message set).
 */
int sl_cfg_parse_object(sl_cfg_pctx *p, const sl_cfg_key *tbl, size_t n, void *obj, const struct cJSON *json,
                        const char *label);

/** The "queues" object into cfg->queues (config_queues.c). 0 or -1. */
int sl_cfg_parse_queues(sl_cfg_pctx *p, struct sl_config *cfg, const struct cJSON *obj);

/** The "schedules" array into cfg->schedules (config_schedules.c). 0 or -1. */
int sl_cfg_parse_schedules(sl_cfg_pctx *p, struct sl_config *cfg, const struct cJSON *arr);

/** cfg->schedules as a JSON array (every key), or NULL on out of memory. */
struct cJSON *sl_cfg_schedules_json(const struct sl_config *cfg);

/** Free cfg->schedules. */
void sl_cfg_schedules_free(struct sl_config *cfg);

/** The "limits" object into cfg->limits (config_limits.c). 0 or -1. */
int sl_cfg_parse_limits(sl_cfg_pctx *p, struct sl_config *cfg, const struct cJSON *obj);
/** cfg->limits as a JSON object (every key), or NULL on out of memory. */
struct cJSON *sl_cfg_limits_json(const struct sl_config *cfg);
/** Free cfg->limits. */
void sl_cfg_limits_free(struct sl_config *cfg);
struct sl_pool_cfg;
/** pools[].queues (the array at label "pools[i].queues") into pool->queues: each
 *  entry an object of sl_cfg_pool_queue_keys, names unique. 0 or -1. */
int sl_cfg_parse_pool_queues(sl_cfg_pctx *p, struct sl_pool_cfg *pool, const struct cJSON *arr, const char *label);

/** After every key is parsed: inherited values (dlq_maxlen = jobs.dlq_maxlen)
 *  and cfg->queue_defaults. */
void sl_cfg_queues_resolve(struct sl_config *cfg);

/** Types stored as a malloc'd char * (NULL allowed). */
static inline int sl_cfg_is_string(sl_cfg_ktype t)
{
    return t == SL_CFG_STR || t == SL_CFG_NAME || t == SL_CFG_URL || t == SL_CFG_PATH || t == SL_CFG_STARTAT ||
           t == SL_CFG_LISTEN;
}

/** The field at byte offset off of a config struct, as a T. */
#define SL_CFG_FIELD(obj, off, T) ((T *)(void *)((char *)(obj) + (off)))

#endif
