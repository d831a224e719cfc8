/* The "limits" section of the config: rate and concurrency limits per job
 * type, optionally per value of a payload field (docs/limits.md):
 * {"partner-api": {"types": ["invoice.send.v1"], "rate": 100, "per": "1s", "burst": 20},
 *  "per-tenant":  {"types": ["report.nightly.v1"], "concurrency": 2, "key": "tenant_id"}} */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/config_schema.h"
#include "common/util.h"

#define L(f) offsetof(sl_limit_cfg, f)
#define DAY_MS 86400000LL

/* Every key but types (an array of type names, parsed by parse_one). */
const sl_cfg_key sl_cfg_limit_keys[] = {
    {"rate", SL_CFG_INT, 0, L(rate), 0, NULL, 1, 1000000, NULL},
    {"per", SL_CFG_DUR, 0, L(per_ms), 1000, NULL, 1, DAY_MS, NULL},
    {"burst", SL_CFG_INT, 0, L(burst), 1, NULL, 1, 1000000, NULL},
    {"concurrency", SL_CFG_INT, 0, L(concurrency), 0, NULL, 1, 100000, NULL},
    {"key", SL_CFG_STR, SL_CFG_NULLABLE, L(key), 0, NULL, 0, 0, NULL},
};
const size_t sl_cfg_nlimit_keys = sizeof sl_cfg_limit_keys / sizeof sl_cfg_limit_keys[0];

static int parse_types(sl_cfg_pctx *p, sl_limit_cfg *l, const cJSON *arr, const char *label)
{
    char lab[440], gb[80];
    const cJSON *it;
    size_t i = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return sl_cfg_bad(p, label, "expected a non-empty array of job types");
    if ((l->types = calloc((size_t)cJSON_GetArraySize(arr), sizeof *l->types)) == NULL)
        return sl_cfg_bad(p, NULL, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        snprintf(lab, sizeof lab, "%s[%zu]", label, i++);
        if (!cJSON_IsString(it) || !sl_valid_type(it->valuestring, strlen(it->valuestring)))
            return sl_cfg_bad(p, lab, "expected a job type of 1-128 characters from [a-z0-9_.-], got %s",
                              sl_cfg_got(it, gb, sizeof gb));
        for (size_t j = 0; j < l->ntypes; j++)
            if (l->types[j] && strcmp(l->types[j], it->valuestring) == 0)
                return sl_cfg_bad(p, lab, "duplicate type \"%s\"", it->valuestring);
        if ((l->types[l->ntypes] = strdup(it->valuestring)) == NULL)
            return sl_cfg_bad(p, NULL, "out of memory");
        l->ntypes++;
    }
    return 0;
}

static int parse_one(sl_cfg_pctx *p, sl_limit_cfg *l, const cJSON *obj, const char *label)
{
    char lab[400];
    cJSON *rest;
    int rc;

    if (!cJSON_IsObject(obj))
        return sl_cfg_bad(p, label, "expected an object");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(obj, "types");
    snprintf(lab, sizeof lab, "%s.types", label);
    if (!types)
        return sl_cfg_bad(p, lab, "required key is missing");
    if (parse_types(p, l, types, lab) != 0)
        return -1;
    if ((rest = cJSON_Duplicate(obj, 1)) == NULL)
        return sl_cfg_bad(p, NULL, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(rest, "types");
    rc = sl_cfg_parse_object(p, sl_cfg_limit_keys, sl_cfg_nlimit_keys, l, rest, label);
    cJSON_Delete(rest);
    if (rc != 0)
        return -1;
    if (l->rate == 0 && l->concurrency == 0)
        return sl_cfg_bad(p, label, "sets neither rate nor concurrency");
    snprintf(lab, sizeof lab, "%s.key", label);
    if (l->key && (l->key[0] == '\0' || strlen(l->key) > 128))
        return sl_cfg_bad(p, lab, "expected a payload field name of 1-128 bytes, or null");
    if (l->rate > 0 && l->per_ms / l->rate == 0) {
        snprintf(lab, sizeof lab, "%s.rate", label);
        return sl_cfg_bad(p, lab, "%d per %lld ms is more than one job per millisecond", l->rate, (long long)l->per_ms);
    }
    return 0;
}

int sl_cfg_parse_limits(sl_cfg_pctx *p, sl_config *cfg, const cJSON *obj)
{
    char lab[340], lab2[400];
    const cJSON *it;
    size_t n = 0;

    if (!cJSON_IsObject(obj))
        return sl_cfg_bad(p, "limits", "expected an object keyed by limit name");
    cJSON_ArrayForEach(it, obj) n++;
    if (n == 0)
        return 0;
    if (n > SL_LIMITS_MAX)
        return sl_cfg_bad(p, "limits", "%zu limits, at most %d", n, SL_LIMITS_MAX);
    if ((cfg->limits = calloc(n, sizeof *cfg->limits)) == NULL)
        return sl_cfg_bad(p, NULL, "out of memory");
    cJSON_ArrayForEach(it, obj)
    {
        sl_limit_cfg *l = &cfg->limits[cfg->nlimits];
        sl_cfg_label(lab, sizeof lab, "limits", it->string);
        if (!sl_valid_name(it->string))
            return sl_cfg_bad(p, lab, "expected a limit name of 1-64 characters from [A-Za-z0-9_.-]");
        for (size_t j = 0; j < cfg->nlimits; j++)
            if (cfg->limits[j].name && strcmp(cfg->limits[j].name, it->string) == 0)
                return sl_cfg_bad(p, lab, "duplicate key");
        if ((l->name = strdup(it->string)) == NULL)
            return sl_cfg_bad(p, NULL, "out of memory");
        cfg->nlimits++; /* counted now so sl_cfg_free releases a half-parsed entry */
        if (parse_one(p, l, it, lab) != 0)
            return -1;
    }
    /* A job holds at most one concurrency slot (its lease keeps one alive). */
    for (size_t i = 0; i < cfg->nlimits; i++)
        for (size_t j = i + 1; j < cfg->nlimits; j++)
            for (size_t a = 0; cfg->limits[i].concurrency && cfg->limits[j].concurrency && a < cfg->limits[i].ntypes;
                 a++)
                for (size_t b = 0; b < cfg->limits[j].ntypes; b++)
                    if (strcmp(cfg->limits[i].types[a], cfg->limits[j].types[b]) == 0) {
                        sl_cfg_label(lab, sizeof lab, "limits", cfg->limits[j].name);
                        snprintf(lab2, sizeof lab2, "%s.types", lab);
                        return sl_cfg_bad(p, lab2,
                                          "type \"%s\" already has a concurrency limit (limits.%s): a type may have "
                                          "one",
                                          cfg->limits[j].types[b], cfg->limits[i].name);
                    }
    return 0;
}

cJSON *sl_cfg_limits_json(const sl_config *cfg)
{
    cJSON *all = cJSON_CreateObject();
    for (size_t i = 0; all != NULL && i < cfg->nlimits; i++) {
        const sl_limit_cfg *l = &cfg->limits[i];
        cJSON *o = cJSON_AddObjectToObject(all, l->name);
        cJSON *types = o ? cJSON_CreateStringArray((const char *const *)l->types, (int)l->ntypes) : NULL;
        /* Only what is set: rate and concurrency 0 mean "none", not a value. */
        if (!types || !cJSON_AddItemToObject(o, "types", types) ||
            (l->rate > 0 &&
             (!cJSON_AddNumberToObject(o, "rate", l->rate) || !cJSON_AddNumberToObject(o, "per", (double)l->per_ms) ||
              !cJSON_AddNumberToObject(o, "burst", l->burst))) ||
            (l->concurrency > 0 && !cJSON_AddNumberToObject(o, "concurrency", l->concurrency)) ||
            !(l->key ? cJSON_AddStringToObject(o, "key", l->key) : cJSON_AddNullToObject(o, "key"))) {
            cJSON_Delete(all);
            return NULL;
        }
    }
    return all;
}

void sl_cfg_limits_free(sl_config *cfg)
{
    for (size_t i = 0; i < cfg->nlimits; i++) {
        sl_limit_cfg *l = &cfg->limits[i];
        for (size_t j = 0; j < l->ntypes; j++)
            free(l->types[j]);
        free(l->types);
        free(l->key);
        free(l->name);
    }
    free(cfg->limits);
    cfg->limits = NULL;
    cfg->nlimits = 0;
}

char *sl_cfg_limit_to_json(const sl_config *cfg, size_t i)
{
    if (!cfg || i >= cfg->nlimits)
        return NULL;
    cJSON *all = sl_cfg_limits_json(cfg);
    const cJSON *one = all ? cJSON_GetObjectItemCaseSensitive(all, cfg->limits[i].name) : NULL;
    char *s = one ? cJSON_PrintUnformatted(one) : NULL;
    cJSON_Delete(all);
    return s;
}
