/* The limits part of `sluice stats` (see stats_limits.h). A limit's state is
 * in its buckets, sluice:{:limit:NAME:V}, each in its own slot: a rate
 * bucket is a string (the theoretical arrival time: how far the reserved
 * turns reach), a concurrency bucket a sorted set of holders scored by when
 * each hold lapses. They are found with SCAN on every master. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/stats_limits.h"
#include "common/keys.h"

/* Add the state of limit name's buckets into o: buckets, running (holds not
 * lapsed) and next_turn_ms (how long a new job of the busiest bucket would
 * wait: its turn is after every turn reserved, less the burst). 0 or -1. */
static int bucket_state(const char *cmd, sl_redis *r, const char *name, int64_t now, cJSON *o)
{
    char cursor[32], match[128], nowtxt[24];
    long long buckets = 0, running = 0, waiting = 0;
    const cJSON *rate = cJSON_GetObjectItem(o, "rate"), *per = cJSON_GetObjectItem(o, "per"),
                *burst = cJSON_GetObjectItem(o, "burst");
    long long tolerance = cJSON_IsNumber(rate) && rate->valuedouble > 0 && cJSON_IsNumber(per) && cJSON_IsNumber(burst)
                              ? (long long)(per->valuedouble / rate->valuedouble) * ((long long)burst->valuedouble - 1)
                              : 0;
    snprintf(match, sizeof match, "sluice:{:limit:%s:*", name);
    snprintf(nowtxt, sizeof nowtxt, "(%lld", (long long)now);
    for (int node = 0; node < sl_redis_nodes(r); node++) {
        snprintf(cursor, sizeof cursor, "0");
        do {
            const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", "1000"};
            redisReply *rep = sl_cli_cmd_at(cmd, r, node, 6, argv);
            if (!rep)
                return -1;
            snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
            const redisReply *keys = rep->element[1];
            for (size_t i = 0; i < keys->elements; i++) {
                const char *key = keys->element[i]->str;
                const char *type[] = {"TYPE", key};
                redisReply *t = sl_cli_cmd(cmd, r, 2, type);
                if (!t)
                    continue;
                int zset = t->type == REDIS_REPLY_STATUS && strcmp(t->str, "zset") == 0;
                int str = t->type == REDIS_REPLY_STATUS && strcmp(t->str, "string") == 0;
                freeReplyObject(t);
                const char *zc[] = {"ZCOUNT", key, nowtxt, "+inf"}, *get[] = {"GET", key};
                redisReply *v = zset ? sl_cli_cmd(cmd, r, 4, zc) : str ? sl_cli_cmd(cmd, r, 2, get) : NULL;
                if (!v)
                    continue;
                buckets++;
                if (zset && v->type == REDIS_REPLY_INTEGER)
                    running += v->integer;
                if (str && v->type == REDIS_REPLY_STRING) {
                    long long tat = strtoll(v->str, NULL, 10);
                    if (tat - now - tolerance > waiting)
                        waiting = tat - now - tolerance;
                }
                freeReplyObject(v);
            }
            freeReplyObject(rep);
        } while (strcmp(cursor, "0") != 0);
    }
    cJSON_AddNumberToObject(o, "buckets", (double)buckets);
    cJSON_AddNumberToObject(o, "running", (double)running);
    cJSON_AddNumberToObject(o, "next_turn_ms", (double)waiting);
    return 0;
}

static int by_name(const void *x, const void *y)
{
    const cJSON *a = *(const cJSON *const *)x, *b = *(const cJSON *const *)y;
    return strcmp(cJSON_GetObjectItem(a, "name")->valuestring, cJSON_GetObjectItem(b, "name")->valuestring);
}

cJSON *sl_stats_limits(const char *cmd, sl_redis *r, int64_t now)
{
    const char *argv[] = {"HGETALL", SL_KEY_LIMITS};
    redisReply *rep = sl_cli_cmd(cmd, r, 2, argv);
    if (!rep)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements; i += 2) {
        cJSON *o = cJSON_Parse(rep->element[i + 1]->str);
        if (!cJSON_IsObject(o)) { /* not ours: skipped */
            cJSON_Delete(o);
            continue;
        }
        cJSON_AddStringToObject(o, "name", rep->element[i]->str);
        cJSON_AddItemToArray(arr, o);
        if (bucket_state(cmd, r, rep->element[i]->str, now, o) != 0) {
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    freeReplyObject(rep);
    if (arr && sl_cli_json_sort(arr, by_name) != 0) {
        cJSON_Delete(arr);
        return sl_cli_fail(cmd, "out of memory"), NULL;
    }
    return arr;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

void sl_stats_print_limits(const cJSON *limits)
{
    static const char *h[] = {"LIMIT", "TYPES", "RATE", "CONCURRENCY", "KEY", "BUCKETS", "RUNNING", "NEXT TURN IN"};
    if (cJSON_GetArraySize(limits) == 0)
        return;
    sl_table *t = sl_table_new(h, 8, "lllrlrrr");
    const cJSON *l;
    cJSON_ArrayForEach(l, limits)
    {
        char types[256] = "", rate[64] = "-", conc[16] = "-", buckets[24], running[24] = "-", wait[32] = "-";
        const cJSON *ty;
        cJSON_ArrayForEach(ty, cJSON_GetObjectItem(l, "types")) if (cJSON_IsString(ty))
        {
            size_t u = strlen(types);
            snprintf(types + u, sizeof types - u, "%s%s", u ? "," : "", ty->valuestring);
        }
        if (num(l, "rate") > 0) {
            snprintf(rate, sizeof rate, "%.0f per %.0fms, burst %.0f", num(l, "rate"), num(l, "per"), num(l, "burst"));
            if (num(l, "next_turn_ms") > 0)
                sl_cli_fmt_age(wait, sizeof wait, (int64_t)num(l, "next_turn_ms"));
            else
                snprintf(wait, sizeof wait, "now");
        }
        if (num(l, "concurrency") > 0) {
            snprintf(conc, sizeof conc, "%.0f", num(l, "concurrency"));
            snprintf(running, sizeof running, "%.0f", num(l, "running"));
        }
        snprintf(buckets, sizeof buckets, "%.0f", num(l, "buckets"));
        const cJSON *key = cJSON_GetObjectItem(l, "key");
        const char *row[] = {cJSON_GetObjectItem(l, "name")->valuestring,  types,   rate,    conc,
                             cJSON_IsString(key) ? key->valuestring : "-", buckets, running, wait};
        sl_table_row(t, row);
    }
    printf("\n");
    sl_table_print(t, stdout);
    sl_table_free(t);
}
