/* The "queues" section of the config: per-queue retention policy and
 * dead-letter cap, {"queues": {"orders": {"retention_max_age": "7d", ...}}};
 * and a pool's list of queues with their priorities, pools[].queues
 * ([{"name": "critical", "weight": 0}, ...], docs/limits.md). Parsed through
 * sl_cfg_queue_keys and sl_cfg_pool_queue_keys (config.c); output, lookups and
 * free are in config_json.c with the rest of the config's lifetime. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/config_schema.h"
#include "common/util.h"

int sl_cfg_parse_queues(sl_cfg_pctx *p, sl_config *cfg, const cJSON *obj)
{
    char lab[340], gb[80];
    const cJSON *it, *e;
    size_t n = 0;

    if (!cJSON_IsObject(obj))
        return sl_cfg_bad(p, "queues", "expected an object keyed by queue name, got %s",
                          sl_cfg_got(obj, gb, sizeof gb));
    cJSON_ArrayForEach(it, obj) n++;
    if (n == 0)
        return 0;
    if ((cfg->queues = calloc(n, sizeof *cfg->queues)) == NULL)
        return sl_cfg_bad(p, NULL, "out of memory");
    cJSON_ArrayForEach(it, obj)
    {
        sl_queue_cfg *q = &cfg->queues[cfg->nqueues];
        sl_cfg_label(lab, sizeof lab, "queues", it->string);
        if (it->string[0] == '\0')
            return sl_cfg_bad(p, "queues", "empty queue name");
        if (!sl_valid_name(it->string))
            return sl_cfg_bad(p, lab, "expected a queue name of 1-64 characters from [A-Za-z0-9_.-]");
        for (e = obj->child; e != it; e = e->next)
            if (strcmp(e->string, it->string) == 0)
                return sl_cfg_bad(p, lab, "duplicate key");
        if ((q->name = strdup(it->string)) == NULL)
            return sl_cfg_bad(p, NULL, "out of memory");
        cfg->nqueues++; /* counted now so sl_cfg_free releases a half-parsed entry */
        if (sl_cfg_parse_object(p, sl_cfg_queue_keys, sl_cfg_nqueue_keys, q, it, lab) != 0)
            return -1;
    }
    return 0;
}

int sl_cfg_parse_pool_queues(sl_cfg_pctx *p, sl_pool_cfg *pool, const cJSON *arr, const char *label)
{
    char lab[340], nlab[360];
    const cJSON *it;
    size_t n;

    if (!cJSON_IsArray(arr) || (n = (size_t)cJSON_GetArraySize(arr)) == 0 || n > SL_POOL_QUEUES_MAX)
        return sl_cfg_bad(p, label, "expected an array of 1..%d queue objects ({\"name\": ..., \"weight\": ...})",
                          SL_POOL_QUEUES_MAX);
    if ((pool->queues = calloc(n, sizeof *pool->queues)) == NULL)
        return sl_cfg_bad(p, NULL, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        size_t i = pool->nqueues++; /* counted now so sl_cfg_free releases a half-parsed entry */
        snprintf(lab, sizeof lab, "%s[%zu]", label, i);
        if (sl_cfg_parse_object(p, sl_cfg_pool_queue_keys, sl_cfg_npool_queue_keys, &pool->queues[i], it, lab) != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(pool->queues[j].name, pool->queues[i].name) == 0) {
                snprintf(nlab, sizeof nlab, "%s.name", lab);
                return sl_cfg_bad(p, nlab, "duplicate queue \"%s\" (also %s[%zu])", pool->queues[i].name, label, j);
            }
    }
    return 0;
}

void sl_cfg_queues_resolve(sl_config *cfg)
{
    for (size_t i = 0; i < cfg->nqueues; i++)
        if (cfg->queues[i].dlq_maxlen < 0) /* not set: inherits jobs.dlq_maxlen */
            cfg->queues[i].dlq_maxlen = cfg->dlq_maxlen;
    cfg->queue_defaults.name = NULL;
    cfg->queue_defaults.retention_max_age_ms = 0;
    cfg->queue_defaults.retention_max_len = 0;
    cfg->queue_defaults.dlq_maxlen = cfg->dlq_maxlen;
    cfg->queue_defaults.partitions = 1;
}
