/* The "schedules" section of the config: cron and periodic jobs,
 * [{"name": "nightly-report", "cron": "0 3 * * *", "tz": "Europe/Berlin",
 *   "queue": "reports", "type": "report.nightly.v1", "payload": {...},
 *   "missed": "one", "jitter": "0s"}] (docs/scheduling.md). Each expression and
 * zone is checked here, so a bad one stops start-up naming its key. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/config_schema.h"
#include "common/cron.h"
#include "common/util.h"

#define S(f) offsetof(sl_schedule_cfg, f)
#define DAY_MS 86400000LL

/* Every key but payload (any JSON value, handled by parse_one). */
const sl_cfg_key sl_cfg_schedule_keys[] = {
    {"name", SL_CFG_NAME, SL_CFG_REQUIRED, S(name), 0, NULL, 0, 0, NULL},
    {"cron", SL_CFG_STR, SL_CFG_REQUIRED, S(cron), 0, NULL, 0, 0, NULL},
    {"tz", SL_CFG_STR, 0, S(tz), 0, "UTC", 0, 0, NULL},
    {"queue", SL_CFG_NAME, SL_CFG_REQUIRED, S(queue), 0, NULL, 0, 0, NULL},
    {"type", SL_CFG_STR, SL_CFG_REQUIRED, S(type), 0, NULL, 0, 0, NULL},
    {"missed", SL_CFG_STR, 0, S(missed_name), 0, "skip", 0, 0, NULL},
    {"jitter", SL_CFG_DUR, 0, S(jitter_ms), 0, NULL, 0, DAY_MS, NULL},
};
const size_t sl_cfg_nschedule_keys = sizeof sl_cfg_schedule_keys / sizeof sl_cfg_schedule_keys[0];

static const char *const missed_names[] = {"skip", "one", "all"};

/* The checks beyond each key's type: expression, zone, type, missed, payload. */
static int check_one(sl_cfg_pctx *p, const sl_config *cfg, sl_schedule_cfg *s, const char *label)
{
    char lab[96], err[200];
    sl_cron c;
    int64_t next;

    snprintf(lab, sizeof lab, "%s.tz", label);
    if (sl_tz_check(s->tz, err, sizeof err) != 0)
        return sl_cfg_bad(p, lab, "%s", err);
    snprintf(lab, sizeof lab, "%s.cron", label);
    if (sl_cron_parse(s->cron, s->tz, &c, err, sizeof err) != 0)
        return sl_cfg_bad(p, lab, "%s", err);
    if (sl_cron_next(&c, (int64_t)time(NULL) * 1000, &next) != 0)
        return sl_cfg_bad(p, lab, "\"%s\" never fires (no match within 10 years)", s->cron);
    snprintf(lab, sizeof lab, "%s.type", label);
    if (!sl_valid_type(s->type, strlen(s->type)))
        return sl_cfg_bad(p, lab, "expected an event type of 1-128 characters from [a-z0-9_.-]");
    snprintf(lab, sizeof lab, "%s.missed", label);
    s->missed = SL_MISSED_SKIP;
    while (strcmp(missed_names[s->missed], s->missed_name) != 0)
        if (++s->missed > SL_MISSED_ALL)
            return sl_cfg_bad(p, lab, "expected \"skip\", \"one\" or \"all\"");
    snprintf(lab, sizeof lab, "%s.payload", label);
    if ((int64_t)strlen(s->payload) > cfg->max_payload_bytes)
        return sl_cfg_bad(p, lab, "is %zu bytes, more than jobs.max_payload_bytes (%lld)", strlen(s->payload),
                          (long long)cfg->max_payload_bytes);
    return 0;
}

static int parse_one(sl_cfg_pctx *p, const sl_config *cfg, sl_schedule_cfg *s, const cJSON *obj, const char *label)
{
    char gb[80];
    cJSON *rest;
    const cJSON *payload;
    int rc;

    if (!cJSON_IsObject(obj))
        return sl_cfg_bad(p, label, "expected an object, got %s", sl_cfg_got(obj, gb, sizeof gb));
    payload = cJSON_GetObjectItemCaseSensitive(obj, "payload");
    s->payload = payload ? cJSON_PrintUnformatted(payload) : strdup("{}");
    if ((rest = cJSON_Duplicate(obj, 1)) == NULL || s->payload == NULL) {
        cJSON_Delete(rest);
        return sl_cfg_bad(p, NULL, "out of memory");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(rest, "payload");
    rc = sl_cfg_parse_object(p, sl_cfg_schedule_keys, sl_cfg_nschedule_keys, s, rest, label);
    cJSON_Delete(rest);
    return rc != 0 ? -1 : check_one(p, cfg, s, label);
}

int sl_cfg_parse_schedules(sl_cfg_pctx *p, sl_config *cfg, const cJSON *arr)
{
    char label[48], lab[64];
    const cJSON *it;
    size_t i = 0;

    if (!cJSON_IsArray(arr))
        return sl_cfg_bad(p, "schedules", "expected an array of schedule objects");
    if (cJSON_GetArraySize(arr) == 0)
        return 0;
    if ((cfg->schedules = calloc((size_t)cJSON_GetArraySize(arr), sizeof *cfg->schedules)) == NULL)
        return sl_cfg_bad(p, NULL, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        snprintf(label, sizeof label, "schedules[%zu]", i);
        cfg->nschedules = i + 1; /* counted first so a half-parsed entry is freed */
        if (parse_one(p, cfg, &cfg->schedules[i], it, label) != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (cfg->schedules[j].name && cfg->schedules[i].name && /* required: set when parse_one succeeds */
                strcmp(cfg->schedules[j].name, cfg->schedules[i].name) == 0) {
                snprintf(lab, sizeof lab, "%s.name", label);
                return sl_cfg_bad(p, lab, "duplicate schedule name \"%s\" (also schedules[%zu])",
                                  cfg->schedules[i].name, j);
            }
        i++;
    }
    return 0;
}

cJSON *sl_cfg_schedules_json(const sl_config *cfg)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && i < cfg->nschedules; i++) {
        const sl_schedule_cfg *s = &cfg->schedules[i];
        cJSON *o = cJSON_CreateObject(), *payload = cJSON_Parse(s->payload);
        if (o == NULL || payload == NULL) {
            cJSON_Delete(payload);
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, o);
        if (!cJSON_AddStringToObject(o, "name", s->name) || !cJSON_AddStringToObject(o, "cron", s->cron) ||
            !cJSON_AddStringToObject(o, "tz", s->tz) || !cJSON_AddStringToObject(o, "queue", s->queue) ||
            !cJSON_AddStringToObject(o, "type", s->type) || !cJSON_AddItemToObject(o, "payload", payload) ||
            !cJSON_AddStringToObject(o, "missed", missed_names[s->missed]) ||
            !cJSON_AddNumberToObject(o, "jitter", (double)s->jitter_ms)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

void sl_cfg_schedules_free(sl_config *cfg)
{
    for (size_t i = 0; i < cfg->nschedules; i++) {
        sl_schedule_cfg *s = &cfg->schedules[i];
        free(s->name);
        free(s->cron);
        free(s->tz);
        free(s->queue);
        free(s->type);
        free(s->payload);
        free(s->missed_name);
    }
    free(cfg->schedules);
    cfg->schedules = NULL;
    cfg->nschedules = 0;
}

const sl_schedule_cfg *sl_cfg_schedule(const sl_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && name != NULL && i < cfg->nschedules; i++)
        if (strcmp(cfg->schedules[i].name, name) == 0)
            return &cfg->schedules[i];
    return NULL;
}
