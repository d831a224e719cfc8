/* Configuration output and lifetime (see config.h): the resolved config as JSON
 * for the supervisor->worker channel, per-pool fingerprints for reloads, lookups
 * and sl_cfg_free. Driven by the key tables in config_schema.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/config_schema.h"
#include "common/log.h"

#define FIELD SL_CFG_FIELD

/* ---- output ------------------------------------------------------------- */

/* Add obj's value of key k to the JSON object j (path relative to j). */
static int emit(cJSON *j, const sl_cfg_key *k, const void *obj, const char *name)
{
    const void *f = (const char *)obj + k->off;
    cJSON *v = NULL;

    switch (k->type) {
    case SL_CFG_INT:
        v = cJSON_CreateNumber(*(const int *)f);
        break;
    case SL_CFG_I64:
    case SL_CFG_DUR:
        v = cJSON_CreateNumber((double)*(const int64_t *)f);
        break;
    case SL_CFG_LEVEL: {
        static const char *lv[] = {"debug", "info", "warn", "error"};
        int l = *(const int *)f;
        v = cJSON_CreateString(lv[l >= 0 && l <= 3 ? l : 1]);
        break;
    }
    case SL_CFG_FORMAT:
        v = cJSON_CreateString(*(const int *)f == SL_LOG_JSON ? "json" : "text");
        break;
    case SL_CFG_BOOL:
        v = cJSON_CreateBool(*(const int *)f != 0);
        break;
    case SL_CFG_PLUGINS: {
        const sl_pool_cfg *pool = obj;
        v = cJSON_CreateStringArray((const char *const *)pool->plugins, (int)pool->nplugins);
        break;
    }
    case SL_CFG_SETTINGS: {
        const sl_pool_cfg *pool = obj;
        v = cJSON_CreateObject();
        for (size_t i = 0; v != NULL && i < pool->nsettings; i++)
            if (!cJSON_AddStringToObject(v, pool->setting_keys[i], pool->setting_values[i]))
                break;
        break;
    }
    case SL_CFG_POOL_QUEUES: { /* the list, or null when the pool was given one queue */
        const sl_pool_cfg *pool = obj;
        v = pool->queues_listed ? cJSON_CreateArray() : cJSON_CreateNull();
        for (size_t i = 0; v != NULL && pool->queues_listed && i < pool->nqueues; i++) {
            cJSON *e = cJSON_CreateObject();
            if (e == NULL || !cJSON_AddStringToObject(e, "name", pool->queues[i].name) ||
                !cJSON_AddNumberToObject(e, "weight", pool->queues[i].weight)) {
                cJSON_Delete(e);
                cJSON_Delete(v);
                return -1;
            }
            cJSON_AddItemToArray(v, e);
        }
        break;
    }
    case SL_CFG_POOLS:
    case SL_CFG_QUEUES:
    case SL_CFG_SCHEDULES:
    case SL_CFG_LIMITS:
        return 0; /* added by their callers */
    default: {
        const char *s = *(char *const *)f;
        v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
        break;
    }
    }
    if (v == NULL)
        return -1;
    cJSON_AddItemToObject(j, name, v);
    return 0;
}

static cJSON *pool_json(const sl_pool_cfg *pool, int with_workers)
{
    cJSON *j = cJSON_CreateObject();

    for (size_t i = 0; j != NULL && i < sl_cfg_npool_keys; i++) {
        if (!with_workers && strcmp(sl_cfg_pool_keys[i].path, "workers") == 0)
            continue;
        if (pool->queues_listed && strcmp(sl_cfg_pool_keys[i].path, "queue") == 0)
            continue; /* pools[].queues says it (giving both is refused) */
        if (emit(j, &sl_cfg_pool_keys[i], pool, sl_cfg_pool_keys[i].path) != 0) {
            cJSON_Delete(j);
            return NULL;
        }
    }
    return j;
}

/* Top-level keys for which keep(path) is true, with sections created as needed. */
static cJSON *main_json(const sl_config *cfg, int (*keep)(const char *path))
{
    cJSON *root = cJSON_CreateObject();
    char sect[32];

    for (size_t i = 0; root != NULL && i < sl_cfg_nmain_keys; i++) {
        const sl_cfg_key *k = &sl_cfg_main_keys[i];
        const char *dot = strchr(k->path, '.');
        cJSON *into = root;
        if (keep != NULL && !keep(k->path))
            continue;
        if (dot != NULL) {
            snprintf(sect, sizeof sect, "%.*s", (int)(dot - k->path), k->path);
            into = cJSON_GetObjectItemCaseSensitive(root, sect);
            if (into == NULL)
                into = cJSON_AddObjectToObject(root, sect);
        }
        if (into == NULL || emit(into, k, cfg, dot ? dot + 1 : k->path) != 0) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

/* {"orders": {"retention_max_age": ..., ...}, ...}: every entry with every key. */
static cJSON *queues_json(const sl_config *cfg)
{
    cJSON *all = cJSON_CreateObject();

    for (size_t i = 0; all != NULL && i < cfg->nqueues; i++) {
        cJSON *qj = cJSON_AddObjectToObject(all, cfg->queues[i].name);
        for (size_t k = 0; qj != NULL && k < sl_cfg_nqueue_keys; k++)
            if (emit(qj, &sl_cfg_queue_keys[k], &cfg->queues[i], sl_cfg_queue_keys[k].path) != 0)
                qj = NULL;
        if (qj == NULL) {
            cJSON_Delete(all);
            return NULL;
        }
    }
    return all;
}

static char *print_free(cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;

    cJSON_Delete(j);
    return s;
}

char *sl_cfg_to_json(const sl_config *cfg)
{
    cJSON *root, *arr;

    if (cfg == NULL || (root = main_json(cfg, NULL)) == NULL)
        return NULL;
    if ((arr = queues_json(cfg)) == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToObject(root, "queues", arr);
    if ((arr = sl_cfg_schedules_json(cfg)) == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToObject(root, "schedules", arr);
    if ((arr = sl_cfg_limits_json(cfg)) == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToObject(root, "limits", arr);
    arr = cJSON_AddArrayToObject(root, "pools");
    for (size_t i = 0; arr != NULL && i < cfg->npools; i++) {
        cJSON *pj = pool_json(&cfg->pools[i], 1);
        if (pj == NULL) {
            arr = NULL;
            break;
        }
        cJSON_AddItemToArray(arr, pj);
    }
    if (arr == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    return print_free(root);
}

/* What a worker depends on: redis, log, plugin_dir, jobs and the worker binary. */
static int fingerprint_key(const char *path)
{
    /* What a worker depends on; supervisor-only keys (supervisor.*, health.*,
     * alerts.*, retention.*, queues: see queue_fp_json) change without
     * restarting any pool. */
    static const char *const worker_prefixes[] = {"redis.", "log.", "jobs."};
    for (size_t i = 0; i < sizeof worker_prefixes / sizeof worker_prefixes[0]; i++)
        if (strncmp(path, worker_prefixes[i], strlen(worker_prefixes[i])) == 0)
            return 1;
    return strcmp(path, "plugin_dir") == 0 || strcmp(path, "pools") == 0 || strcmp(path, "supervisor.worker_path") == 0;
}

/* The queue settings a worker uses: its queues' dlq_maxlen and the partition
 * count of every queue (its own: which streams it reads; the others: where a
 * handler's enqueue goes). Retention is the supervisor's, so changing it
 * restarts no worker. */
static cJSON *queue_fp_json(const sl_config *cfg, const sl_pool_cfg *pool)
{
    cJSON *j = cJSON_CreateObject(), *parts = j ? cJSON_AddObjectToObject(j, "partitions") : NULL;

    if (parts == NULL || !cJSON_AddNumberToObject(j, "dlq_maxlen", (double)sl_cfg_dlq_maxlen(cfg, pool->queue))) {
        cJSON_Delete(j);
        return NULL;
    }
    for (size_t i = 1; i < pool->nqueues; i++) { /* the other queues' caps, by name */
        char k[80];
        snprintf(k, sizeof k, "dlq_maxlen.%s", pool->queues[i].name);
        if (!cJSON_AddNumberToObject(j, k, (double)sl_cfg_dlq_maxlen(cfg, pool->queues[i].name))) {
            cJSON_Delete(j);
            return NULL;
        }
    }
    for (size_t i = 0; i < cfg->nqueues; i++)
        if (cfg->queues[i].partitions > 1 &&
            !cJSON_AddNumberToObject(parts, cfg->queues[i].name, cfg->queues[i].partitions)) {
            cJSON_Delete(j);
            return NULL;
        }
    return j;
}

char *sl_cfg_pool_fingerprint(const sl_config *cfg, const sl_pool_cfg *pool)
{
    cJSON *root, *pj, *qj;

    if (cfg == NULL || pool == NULL || (root = main_json(cfg, fingerprint_key)) == NULL)
        return NULL;
    if ((pj = pool_json(pool, 0)) == NULL || (qj = queue_fp_json(cfg, pool)) == NULL) {
        cJSON_Delete(pj);
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToObject(root, "pool", pj);
    cJSON_AddItemToObject(root, "queue", qj);
    cJSON *lj = sl_cfg_limits_json(cfg); /* workers enforce them */
    if (!lj) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToObject(root, "limits", lj);
    return print_free(root);
}

/* ---- lookups and free --------------------------------------------------- */

const sl_pool_cfg *sl_cfg_pool(const sl_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && name != NULL && i < cfg->npools; i++)
        if (cfg->pools[i].name != NULL && strcmp(cfg->pools[i].name, name) == 0)
            return &cfg->pools[i];
    return NULL;
}

const char *sl_cfg_setting(const sl_pool_cfg *pool, const char *key)
{
    for (size_t i = 0; pool != NULL && key != NULL && i < pool->nsettings; i++)
        if (strcmp(pool->setting_keys[i], key) == 0)
            return pool->setting_values[i];
    return NULL;
}

const sl_queue_cfg *sl_cfg_queue(const sl_config *cfg, const char *name)
{
    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; name != NULL && i < cfg->nqueues; i++)
        if (strcmp(cfg->queues[i].name, name) == 0)
            return &cfg->queues[i];
    return &cfg->queue_defaults;
}

int64_t sl_cfg_dlq_maxlen(const sl_config *cfg, const char *queue)
{
    const sl_queue_cfg *q = sl_cfg_queue(cfg, queue);

    return q != NULL && q->dlq_maxlen > 0 ? q->dlq_maxlen : 0;
}

int sl_cfg_queue_retains(const sl_queue_cfg *q)
{
    return q != NULL && (q->retention_max_age_ms > 0 || q->retention_max_len > 0);
}

static void pool_free(sl_pool_cfg *p)
{
    for (size_t i = 0; i < p->nsettings; i++) {
        free(p->setting_keys[i]);
        free(p->setting_values[i]);
    }
    free(p->setting_values);
    free(p->setting_keys);
    for (size_t i = 0; i < p->nplugins; i++)
        free(p->plugins[i]);
    free(p->plugins);
    free(p->start_at);
    free(p->group);
    for (size_t i = 0; i < p->nqueues; i++)
        free(p->queues[i].name);
    free(p->queues);
    free(p->queue);
    free(p->name);
}

void sl_cfg_free(sl_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->npools; i++)
        pool_free(&cfg->pools[i]);
    free(cfg->pools);
    for (size_t i = 0; i < cfg->nqueues; i++)
        free(cfg->queues[i].name);
    free(cfg->queues);
    sl_cfg_schedules_free(cfg);
    sl_cfg_limits_free(cfg);
    if (cfg->redis_url != NULL) /* it may hold the password */
        explicit_bzero(cfg->redis_url, strlen(cfg->redis_url));
    for (size_t i = 0; i < sl_cfg_nmain_keys; i++) {
        const sl_cfg_key *k = &sl_cfg_main_keys[i];
        if (sl_cfg_is_string(k->type))
            free(*FIELD(cfg, k->off, char *));
    }
    free(cfg->origin);
    free(cfg);
}
