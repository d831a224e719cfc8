/* `sluice stats [QUEUE...]`: per queue and group, what an operator checks first:
 * backlog (length, lag, pending, oldest pending age), scheduled, retry and DLQ
 * counts, consumers with idle time and in-flight jobs, and processed/dead
 * rates over the last minute from the supervisors' samples. Collected into one
 * cJSON tree, printed as JSON (--json) or as tables. A partitioned queue is
 * shown as one, its partitions' numbers added up (see merge_partitions), and
 * partition by partition on request (--per-partition). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/partitions.h"
#include "cli/stats_limits.h"
#include "common/streamid.h"

#define CMD "stats"
#define RATE_WINDOW_MS 60000
#define MAX_SUPERVISORS 256
#define LAG_COUNT_MAX 1000 /* entries counted by hand when Redis has no lag (XRANGE reads payloads) */
#define LAG_MORE ">1000" /* the table cell beyond that */

static const char usage_text[] =
    "usage: sluice stats [-u URL] [--json] [--per-partition] [QUEUE...]\n"
    "\n"
    "Show each queue (default: every queue in Redis, found by SCAN; a queue with only\n"
    "delayed jobs has a schedule and no stream yet) and each of its consumer\n"
    "groups: stream length, scheduled jobs, and per group pending entries\n"
    "(work + retry stream), lag (entries not yet delivered), age of the oldest\n"
    "pending entry, retries still to be processed (pending or not yet delivered\n"
    "on the retry stream), DLQ length, whether it is paused,\n"
    "jobs processed and dead-lettered per second over the last minute (from the samples\n"
    "supervisors write to sluice:{QUEUE}:stats:GROUP; \"-\" when there are none),\n"
    "and its consumers with their idle time and in-flight (pending) entries.\n"
    "Without QUEUE, then the limits the supervisors published (sluice:{:limits};\n"
    "docs/limits.md): their types, rate, concurrency and key, the buckets in use,\n"
    "the jobs holding a concurrency slot now, and how long a new job would wait\n"
    "for its rate turn.\n"
    "A partitioned queue (sluice:{QUEUE}:partitions) is shown once, summed over its\n"
    "partitions sluice:{QUEUE#I} (a group is paused when it is paused in every one).\n"
    "\n"
    "  -u, --url URL   Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n"
    "      --json      print one JSON document instead of tables\n"
    "      --per-partition  also show each partition of a partitioned queue\n"
    "  -h, --help      print this help\n"
    "\n"
    "Exit status: 0 done, 1 failure (a named queue does not exist, Redis error), 2 usage error.\n";

/* Rate samples of one supervisor process: its oldest and newest in the window. */
typedef struct sup_sample {
    char who[160]; /* host/pid */
    int64_t first_ms, last_ms;
    long long first_p, last_p, first_d, last_d;
} sup_sample;

/* Reply of a command whose failure is not fatal (a missing key, a missing
 * group): NULL for an error reply or a lost connection (then *lost is set). */
static redisReply *try_cmd(sl_redis *r, int argc, const char **argv, int *lost)
{
    redisReply *rep = sl_redis_cmdargv(r, argc, argv, NULL);
    if (!rep) {
        *lost = 1;
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static long long try_int(sl_redis *r, int argc, const char **argv, int *lost)
{
    redisReply *rep = try_cmd(r, argc, argv, lost);
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
    if (rep)
        freeReplyObject(rep);
    return v;
}

/* Processed/dead-lettered per second over the window, summed over supervisor
 * processes (each sample holds one process's cumulative counters). Adds
 * processed_per_s and dead_per_s (null without two samples of one process). */
static void add_rates(sl_redis *r, cJSON *g, const char *key, int64_t now, int *lost)
{
    char start[32];
    snprintf(start, sizeof start, "%lld", (long long)(now - RATE_WINDOW_MS));
    const char *argv[] = {"XRANGE", key, start, "+"};
    redisReply *rep = try_cmd(r, 4, argv, lost);
    sup_sample *s = calloc(MAX_SUPERVISORS, sizeof *s);
    size_t ns = 0;
    for (size_t i = 0; s && rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        const redisReply *f = e->element[1];
        char who[160];
        snprintf(who, sizeof who, "%s/%s", sl_cli_kv_str(f, "host"), sl_cli_kv_str(f, "pid"));
        int64_t ms = sl_streamid_ms(e->element[0]->str);
        long long p = sl_cli_kv_int(f, "processed", 0), dl = sl_cli_kv_int(f, "dead", 0);
        size_t j = 0;
        while (j < ns && strcmp(s[j].who, who) != 0)
            j++;
        if (j == ns) {
            if (ns == MAX_SUPERVISORS)
                continue;
            snprintf(s[ns].who, sizeof s[ns].who, "%s", who);
            s[ns].first_ms = ms;
            s[ns].first_p = p;
            s[ns].first_d = dl;
            ns++;
        }
        s[j].last_ms = ms;
        s[j].last_p = p;
        s[j].last_d = dl;
    }
    double proc = 0, dead = 0;
    int have = 0;
    for (size_t j = 0; j < ns; j++) {
        if (s[j].last_ms <= s[j].first_ms)
            continue;
        double secs = (double)(s[j].last_ms - s[j].first_ms) / 1000.0;
        proc += (double)(s[j].last_p - s[j].first_p) / secs;
        dead += (double)(s[j].last_d - s[j].first_d) / secs;
        have = 1;
    }
    sl_cli_json_num_or_null(g, "processed_per_s", proc, !have);
    sl_cli_json_num_or_null(g, "dead_per_s", dead, !have);
    free(s);
    if (rep)
        freeReplyObject(rep);
}

/* Oldest pending entry of group in stream: summary XPENDING; its id's ms, or -1. */
static int64_t oldest_pending_ms(sl_redis *r, const char *stream, const char *group, int *lost)
{
    const char *argv[] = {"XPENDING", stream, group};
    redisReply *rep = try_cmd(r, 3, argv, lost);
    int64_t ms = -1;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 && rep->element[1]->type == REDIS_REPLY_STRING)
        ms = sl_streamid_ms(rep->element[1]->str);
    if (rep)
        freeReplyObject(rep);
    return ms;
}

/* Consumers of group on one stream merged into arr (by name): in-flight adds
 * up, idle is the smallest (a worker reads both streams in one call). */
static void add_consumers(sl_redis *r, cJSON *arr, const char *stream, const char *group, int *lost)
{
    const char *argv[] = {"XINFO", "CONSUMERS", stream, group};
    redisReply *rep = try_cmd(r, 4, argv, lost);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *c = rep->element[i];
        const char *name = sl_cli_kv_str(c, "name");
        long long pending = sl_cli_kv_int(c, "pending", 0), idle = sl_cli_kv_int(c, "idle", 0);
        cJSON *it, *found = NULL;
        cJSON_ArrayForEach(it, arr) if (strcmp(cJSON_GetObjectItem(it, "name")->valuestring, name) == 0) found = it;
        if (!found) {
            found = cJSON_CreateObject();
            cJSON_AddStringToObject(found, "name", name);
            cJSON_AddNumberToObject(found, "idle_ms", (double)idle);
            cJSON_AddNumberToObject(found, "pending", (double)pending);
            cJSON_AddItemToArray(arr, found);
            continue;
        }
        /* both are there unless cJSON ran out of memory adding them above */
        cJSON *ji = cJSON_GetObjectItem(found, "idle_ms"), *jp = cJSON_GetObjectItem(found, "pending");
        if (ji && idle < ji->valuedouble)
            cJSON_SetNumberValue(ji, (double)idle);
        if (jp)
            cJSON_SetNumberValue(jp, jp->valuedouble + (double)pending);
    }
    if (rep)
        freeReplyObject(rep);
}

/* Entries after id in stream, counted with XRANGE up to LAG_COUNT_MAX + 1. */
static long long count_after(sl_redis *r, const char *stream, const char *id, int *lost)
{
    char start[80], count[16];
    snprintf(start, sizeof start, "(%s", id);
    snprintf(count, sizeof count, "%d", LAG_COUNT_MAX + 1);
    const char *argv[] = {"XRANGE", stream, start, "+", "COUNT", count};
    redisReply *rep = try_cmd(r, 6, argv, lost);
    long long n = rep && rep->type == REDIS_REPLY_ARRAY ? (long long)rep->elements : -1;
    if (rep)
        freeReplyObject(rep);
    return n;
}

/* The lag of a group from XINFO GROUPS: "lag"; else entries-added minus
 * entries-read; else (Redis 7.0 gives neither for a group created at "$" or an
 * id, until it reads) the entries after last-delivered-id, counted up to
 * LAG_COUNT_MAX. Returns the lag, -1 when unknown, or LAG_COUNT_MAX + 1 for
 * "more than LAG_COUNT_MAX" (*at_least set). */
static long long group_lag(sl_redis *r, const redisReply *g, const char *stream, int *at_least, int *lost)
{
    *at_least = 0;
    const redisReply *lag = sl_cli_kv(g, "lag");
    if (lag && lag->type == REDIS_REPLY_INTEGER)
        return lag->integer;
    const redisReply *read = sl_cli_kv(g, "entries-read");
    if (read && read->type == REDIS_REPLY_INTEGER) {
        const char *argv[] = {"XINFO", "STREAM", stream};
        redisReply *rep = try_cmd(r, 3, argv, lost);
        long long added = rep ? sl_cli_kv_int(rep, "entries-added", -1) : -1;
        if (rep)
            freeReplyObject(rep);
        if (added >= read->integer)
            return added - read->integer;
    }
    long long n = count_after(r, stream, sl_cli_kv_str(g, "last-delivered-id"), lost);
    *at_least = n > LAG_COUNT_MAX;
    return n;
}

/* Everything about one group (g: its XINFO GROUPS entry). */
static cJSON *group_stats(sl_redis *r, const char *queue, const redisReply *g, int64_t now, int *lost)
{
    char stream[SL_KEY_MAX], retry[SL_KEY_MAX], dlq[SL_KEY_MAX], stats[SL_KEY_MAX], paused[SL_KEY_MAX];
    const char *name = sl_cli_kv_str(g, "name");
    sl_key_stream(stream, sizeof stream, queue);
    sl_key_retry(retry, sizeof retry, queue, name);
    sl_key_dlq(dlq, sizeof dlq, queue, name);
    sl_key_stats(stats, sizeof stats, queue, name);
    sl_key_paused(paused, sizeof paused, queue, name);

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "group", name);
    const char *ex[] = {"EXISTS", paused};
    cJSON_AddBoolToObject(o, "paused", try_int(r, 2, ex, lost) > 0);
    long long work_pending = sl_cli_kv_int(g, "pending", 0), retry_pending = 0, retry_lag = -1;
    int retry_more = 0, retry_group = 0;
    const char *rg[] = {"XINFO", "GROUPS", retry};
    redisReply *rep = try_cmd(r, 3, rg, lost);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        if (strcmp(sl_cli_kv_str(rep->element[i], "name"), name) == 0) {
            retry_group = 1;
            retry_pending = sl_cli_kv_int(rep->element[i], "pending", 0);
            retry_lag = group_lag(r, rep->element[i], retry, &retry_more, lost);
        }
    if (rep)
        freeReplyObject(rep);
    if (!retry_group) {
        /* No group on the retry stream yet: the worker creates it at 0, so
         * every entry there is still to be processed. */
        const char *xr[] = {"XLEN", retry};
        retry_lag = try_int(r, 2, xr, lost);
    }
    cJSON_AddNumberToObject(o, "pending", (double)(work_pending + retry_pending));
    cJSON_AddNumberToObject(o, "work_pending", (double)work_pending);
    cJSON_AddNumberToObject(o, "retry_pending", (double)retry_pending);
    int at_least;
    long long lag = group_lag(r, g, stream, &at_least, lost);
    sl_cli_json_num_or_null(o, "lag", (double)lag, lag < 0 || at_least);
    if (at_least)
        cJSON_AddNumberToObject(o, "lag_more_than", LAG_COUNT_MAX);
    cJSON_AddStringToObject(o, "last_delivered_id", sl_cli_kv_str(g, "last-delivered-id"));
    int64_t a = oldest_pending_ms(r, stream, name, lost),
            b = retry_pending ? oldest_pending_ms(r, retry, name, lost) : -1;
    int64_t oldest = a < 0 ? b : (b < 0 || a < b ? a : b);
    sl_cli_json_num_or_null(o, "oldest_pending_age_ms", (double)(now > oldest ? now - oldest : 0), oldest < 0);
    /* Retries still to be processed: pending on the retry stream plus not yet
     * delivered from it (its XLEN also counts acknowledged copies, kept until
     * trimmed). Retries still waiting in the schedule are in "scheduled". */
    sl_cli_json_num_or_null(o, "retry_lag", (double)retry_lag, retry_lag < 0 || retry_more);
    if (retry_more)
        cJSON_AddNumberToObject(o, "retry_lag_more_than", LAG_COUNT_MAX);
    sl_cli_json_num_or_null(o, "retry_length", (double)(retry_pending + retry_lag), retry_lag < 0 || retry_more);
    const char *xd[] = {"XLEN", dlq};
    cJSON_AddNumberToObject(o, "dlq_length", (double)try_int(r, 2, xd, lost));
    add_rates(r, o, stats, now, lost);
    cJSON *cons = cJSON_AddArrayToObject(o, "consumers");
    add_consumers(r, cons, stream, name, lost);
    add_consumers(r, cons, retry, name, lost);
    return o;
}

/* One queue (or partition); NULL after printing why (missing queue, lost
 * connection). With missing_ok a missing one is an empty queue. */
static cJSON *queue_stats(sl_redis *r, const char *queue, int64_t now, int missing_ok)
{
    char stream[SL_KEY_MAX], sched[SL_KEY_MAX];
    int lost = 0;
    sl_key_stream(stream, sizeof stream, queue);
    sl_key_sched(sched, sizeof sched, queue);
    const char *ty[] = {"TYPE", stream};
    redisReply *rep = sl_cli_cmd(CMD, r, 2, ty);
    if (!rep)
        return NULL;
    int is_stream = rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "stream") == 0;
    freeReplyObject(rep);
    if (!is_stream) {
        /* Only delayed jobs (the schedule, no stream until the first is due):
         * a queue all the same, with no length and no groups. */
        const char *zc[] = {"ZCARD", sched};
        long long n = try_int(r, 2, zc, &lost);
        if (lost || (n <= 0 && !missing_ok)) {
            if (lost)
                sl_cli_fail(CMD, "lost the connection to Redis: %s", sl_redis_errstr(r));
            else
                sl_cli_fail(CMD, "queue '%s' not found (no stream %s, no scheduled jobs in %s)", queue, stream, sched);
            return NULL;
        }
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "queue", queue);
        cJSON_AddBoolToObject(q, "stream", 0);
        cJSON_AddNumberToObject(q, "length", 0);
        cJSON_AddNumberToObject(q, "scheduled", (double)n);
        cJSON_AddArrayToObject(q, "groups");
        return q;
    }
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "queue", queue);
    cJSON_AddBoolToObject(q, "stream", 1);
    const char *xl[] = {"XLEN", stream};
    long long length = try_int(r, 2, xl, &lost);
    cJSON_AddNumberToObject(q, "length", (double)length);
    const char *zc[] = {"ZCARD", sched};
    cJSON_AddNumberToObject(q, "scheduled", (double)try_int(r, 2, zc, &lost));
    cJSON *groups = cJSON_AddArrayToObject(q, "groups");
    const char *xg[] = {"XINFO", "GROUPS", stream};
    rep = try_cmd(r, 3, xg, &lost);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        cJSON_AddItemToArray(groups, group_stats(r, queue, rep->element[i], now, &lost));
    if (rep)
        freeReplyObject(rep);
    if (lost) {
        sl_cli_fail(CMD, "lost the connection to Redis: %s", sl_redis_errstr(r));
        cJSON_Delete(q);
        return NULL;
    }
    return q;
}

/* ---- partitioned queues ---------------------------------------------------- */

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Add field name of from into into: a sum; null when either is null (unknown),
 * unless null_if_all (rates: null only when both are). */
static void add_num(cJSON *into, const cJSON *from, const char *name, int null_if_all)
{
    cJSON *a = cJSON_GetObjectItem(into, name);
    const cJSON *b = cJSON_GetObjectItem(from, name);
    if (!a || !b)
        return;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        cJSON_SetNumberValue(a, a->valuedouble + b->valuedouble);
    else if (!null_if_all && cJSON_IsNumber(a))
        cJSON_ReplaceItemInObject(into, name, cJSON_CreateNull());
    else if (null_if_all && cJSON_IsNumber(b))
        cJSON_ReplaceItemInObject(into, name, cJSON_Duplicate(b, 1));
}

/* Fold group g of a partition into the queue's group m of the same name. */
static void merge_group(cJSON *m, const cJSON *g)
{
    static const char *const sums[] = {"pending",   "work_pending", "retry_pending", "lag",
                                       "retry_lag", "retry_length", "dlq_length"};
    for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++)
        add_num(m, g, sums[i], 0);
    add_num(m, g, "processed_per_s", 1);
    add_num(m, g, "dead_per_s", 1);
    static const char *const more[] = {"lag_more_than", "retry_lag_more_than"};
    for (size_t i = 0; i < 2; i++)
        if (cJSON_GetObjectItem(g, more[i]) && !cJSON_GetObjectItem(m, more[i]))
            cJSON_AddNumberToObject(m, more[i], LAG_COUNT_MAX);
    const cJSON *age = cJSON_GetObjectItem(g, "oldest_pending_age_ms");
    cJSON *mage = cJSON_GetObjectItem(m, "oldest_pending_age_ms");
    if (cJSON_IsNumber(age) && (!cJSON_IsNumber(mage) || age->valuedouble > mage->valuedouble))
        cJSON_ReplaceItemInObject(m, "oldest_pending_age_ms", cJSON_CreateNumber(age->valuedouble));
    cJSON *pp = cJSON_GetObjectItem(m, "paused_partitions");
    if (pp && cJSON_IsTrue(cJSON_GetObjectItem(g, "paused")))
        cJSON_SetNumberValue(pp, pp->valuedouble + 1);
    cJSON *cons = cJSON_GetObjectItem(m, "consumers"), *c, *it;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "consumers"))
    {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        cJSON *found = NULL;
        cJSON_ArrayForEach(it, cons) if (strcmp(cJSON_GetObjectItem(it, "name")->valuestring, name) == 0) found = it;
        if (!found) {
            cJSON_AddItemToArray(cons, cJSON_Duplicate(c, 1));
            continue;
        }
        if (num(c, "idle_ms") < num(found, "idle_ms"))
            cJSON_SetNumberValue(cJSON_GetObjectItem(found, "idle_ms"), num(c, "idle_ms"));
        cJSON_SetNumberValue(cJSON_GetObjectItem(found, "pending"), num(found, "pending") + num(c, "pending"));
    }
}

/* The queue's numbers from its partitions' (parts, one queue_stats each):
 * lengths, counts and rates added up, the oldest pending age the largest,
 * a group paused when every partition has it paused, consumers merged by name. */
static cJSON *merge_partitions(const char *queue, cJSON *parts, int n)
{
    cJSON *q = cJSON_CreateObject(), *groups, *p, *g, *it;
    cJSON_AddStringToObject(q, "queue", queue);
    cJSON_AddNumberToObject(q, "partitions", n);
    int stream = 0;
    double length = 0, scheduled = 0;
    cJSON_ArrayForEach(p, parts)
    {
        stream |= cJSON_IsTrue(cJSON_GetObjectItem(p, "stream"));
        length += num(p, "length");
        scheduled += num(p, "scheduled");
    }
    cJSON_AddBoolToObject(q, "stream", stream);
    cJSON_AddNumberToObject(q, "length", length);
    cJSON_AddNumberToObject(q, "scheduled", scheduled);
    groups = cJSON_AddArrayToObject(q, "groups");
    cJSON_ArrayForEach(p, parts) cJSON_ArrayForEach(g, cJSON_GetObjectItem(p, "groups"))
    {
        const char *name = cJSON_GetObjectItem(g, "group")->valuestring;
        cJSON *m = NULL;
        cJSON_ArrayForEach(it, groups) if (strcmp(cJSON_GetObjectItem(it, "group")->valuestring, name) == 0) m = it;
        if (m) {
            merge_group(m, g);
            continue;
        }
        m = cJSON_Duplicate(g, 1);
        cJSON_DeleteItemFromObject(m, "last_delivered_id"); /* one per partition: no queue-wide value */
        cJSON_AddNumberToObject(m, "paused_partitions", cJSON_IsTrue(cJSON_GetObjectItem(g, "paused")) ? 1 : 0);
        cJSON_AddItemToArray(groups, m);
    }
    cJSON_ArrayForEach(g, groups)
        cJSON_ReplaceItemInObject(g, "paused", cJSON_CreateBool(num(g, "paused_partitions") >= n));
    return q;
}

/* A queue of n > 1 partitions: queue_stats of each, merged; with per_partition
 * the partitions' own under "partition_stats". NULL after printing why. */
static cJSON *partitioned_stats(sl_redis *r, const char *queue, int n, int64_t now, int per_partition)
{
    cJSON *parts = cJSON_CreateArray();
    int found = 0;
    for (int i = 0; i < n; i++) {
        char name[SL_PARTITION_NAME_MAX];
        sl_part_name(name, sizeof name, queue, n, i);
        cJSON *p = queue_stats(r, name, now, 1);
        if (!p) {
            cJSON_Delete(parts);
            return NULL;
        }
        found |= cJSON_IsTrue(cJSON_GetObjectItem(p, "stream")) || num(p, "scheduled") > 0;
        cJSON_AddItemToArray(parts, p);
    }
    if (!found) {
        cJSON_Delete(parts);
        sl_cli_fail(CMD, "queue '%s' not found (no stream and no scheduled jobs in its %d partitions sluice:{%s#I})",
                    queue, n, queue);
        return NULL;
    }
    cJSON *q = merge_partitions(queue, parts, n);
    if (per_partition)
        cJSON_AddItemToObject(q, "partition_stats", parts);
    else
        cJSON_Delete(parts);
    return q;
}

/* The names SCAN found, partitions folded into their queue: "Q#i" becomes
 * "Q" when Q has more than i partitions (sluice:{Q}:partitions); a partition
 * beyond its queue's count (left by a change of count) stays on its own.
 * Returns 0, or -1 after printing why. */
static int fold_partitions(sl_redis *r, cJSON *names)
{
    cJSON *it = names->child;
    while (it) {
        cJSON *next = it->next;
        size_t qlen;
        int index;
        const char *q = sl_part_split(it->valuestring, &qlen, &index);
        if (q && index >= 0) {
            char base[SL_CLI_NAME_MAX];
            snprintf(base, sizeof base, "%.*s", (int)qlen, q);
            int n = sl_cli_nparts(CMD, r, base);
            if (n < 0)
                return -1;
            if (index < n) {
                int dup = 0;
                cJSON *o;
                cJSON_ArrayForEach(o, names) dup |= strcmp(o->valuestring, base) == 0;
                if (dup)
                    cJSON_Delete(cJSON_DetachItemViaPointer(names, it));
                else
                    cJSON_SetValuestring(it, base);
            }
        }
        it = next;
    }
    return 0;
}

static int by_name(const void *x, const void *y)
{
    return strcmp((*(cJSON *const *)x)->valuestring, (*(cJSON *const *)y)->valuestring);
}

/* Queue names from SCAN MATCH sluice:{*}SUFFIX TYPE type on every master:
 * keys that are exactly sluice:{Q}SUFFIX (for the streams, retry, DLQ and
 * stats streams have a further suffix). Sorted and without duplicates, into arr. */
static int scan_queues(sl_redis *r, cJSON *arr, const char *suffix, const char *type)
{
    char cursor[32] = "0", match[64];
    sl_key_match_queues(match, sizeof match, suffix);
    for (int node = 0; node < sl_redis_nodes(r); node++) /* each master of a cluster */
        do {
            const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", "1000", "TYPE", type};
            redisReply *rep = sl_cli_cmd_at(CMD, r, node, 8, argv);
            if (!rep)
                return -1;
            snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
            const redisReply *keys = rep->element[1];
            for (size_t i = 0; i < keys->elements; i++) {
                size_t len;
                const char *q = sl_key_queue_of(keys->element[i]->str, suffix, &len);
                if (q == NULL)
                    continue;
                char name[SL_PARTITION_NAME_MAX]; /* a partition's name, Q#i, is longer than a queue's */
                snprintf(name, sizeof name, "%.*s", (int)len, q);
                cJSON *it;
                int dup = 0;
                cJSON_ArrayForEach(it, arr) if (strcmp(it->valuestring, name) == 0) dup = 1;
                if (!dup)
                    cJSON_AddItemToArray(arr, cJSON_CreateString(name));
            }
            freeReplyObject(rep);
        } while (strcmp(cursor, "0") != 0);
    if (sl_cli_json_sort(arr, by_name) != 0)
        return sl_cli_fail(CMD, "out of memory"), -1;
    return 0;
}

/* A number with prec decimals, or "-" for null. */
static const char *num_cell(char *buf, size_t n, const cJSON *v, int prec)
{
    if (!v || cJSON_IsNull(v))
        return "-";
    snprintf(buf, n, "%.*f", prec, v->valuedouble);
    return buf;
}

static void print_queue(const cJSON *q, int first)
{
    static const char *gh[] = {"GROUP", "STATE", "PENDING",   "LAG",         "OLDEST",
                               "RETRY", "DLQ",   "CONSUMERS", "PROCESSED/S", "DEAD/S"};
    static const char *ch[] = {"GROUP", "CONSUMER", "IDLE", "IN-FLIGHT"};
    printf("%squeue %s  length %.0f  scheduled %.0f", first ? "" : "\n", cJSON_GetObjectItem(q, "queue")->valuestring,
           cJSON_GetObjectItem(q, "length")->valuedouble, cJSON_GetObjectItem(q, "scheduled")->valuedouble);
    if (cJSON_GetObjectItem(q, "partitions"))
        printf("  partitions %.0f", num(q, "partitions"));
    putchar('\n');
    const cJSON *groups = cJSON_GetObjectItem(q, "groups"), *g;
    if (cJSON_IsFalse(cJSON_GetObjectItem(q, "stream"))) {
        printf("no stream yet (only scheduled jobs)\n");
        return;
    }
    if (cJSON_GetArraySize(groups) == 0) {
        printf("no consumer groups\n");
        return;
    }
    sl_table *gt = sl_table_new(gh, 10, "llrrlrrrrr"), *ct = sl_table_new(ch, 4, "llrr");
    cJSON_ArrayForEach(g, groups)
    {
        char b[8][32];
        const cJSON *age = cJSON_GetObjectItem(g, "oldest_pending_age_ms"), *c;
        if (!cJSON_IsNull(age))
            sl_cli_fmt_age(b[3], sizeof b[3], (int64_t)age->valuedouble);
        const char *name = cJSON_GetObjectItem(g, "group")->valuestring;
        const cJSON *cons = cJSON_GetObjectItem(g, "consumers");
        snprintf(b[7], sizeof b[7], "%d", cJSON_GetArraySize(cons));
        const char *row[] = {
            name,
            cJSON_IsTrue(cJSON_GetObjectItem(g, "paused")) ? "paused"
            : num(g, "paused_partitions") > 0              ? "partly paused"
                                                           : "active",
            num_cell(b[0], 32, cJSON_GetObjectItem(g, "pending"), 0),
            cJSON_GetObjectItem(g, "lag_more_than") ? LAG_MORE : num_cell(b[1], 32, cJSON_GetObjectItem(g, "lag"), 0),
            cJSON_IsNull(age) ? "-" : b[3],
            cJSON_GetObjectItem(g, "retry_lag_more_than")
                ? LAG_MORE
                : num_cell(b[2], 32, cJSON_GetObjectItem(g, "retry_length"), 0),
            num_cell(b[4], 32, cJSON_GetObjectItem(g, "dlq_length"), 0),
            b[7],
            num_cell(b[5], 32, cJSON_GetObjectItem(g, "processed_per_s"), 2),
            num_cell(b[6], 32, cJSON_GetObjectItem(g, "dead_per_s"), 2)};
        sl_table_row(gt, row);
        cJSON_ArrayForEach(c, cons)
        {
            char idle[32], inflight[32];
            sl_cli_fmt_age(idle, sizeof idle, (int64_t)cJSON_GetObjectItem(c, "idle_ms")->valuedouble);
            snprintf(inflight, sizeof inflight, "%.0f", cJSON_GetObjectItem(c, "pending")->valuedouble);
            const char *crow[] = {name, cJSON_GetObjectItem(c, "name")->valuestring, idle, inflight};
            sl_table_row(ct, crow);
        }
    }
    putchar('\n');
    sl_table_print(gt, stdout);
    if (sl_table_rows(ct) > 0) {
        putchar('\n');
        sl_table_print(ct, stdout);
    }
    sl_table_free(gt);
    sl_table_free(ct);
}

/* Options: -u, --json, --per-partition, -h. -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, const char **url, int *json, int *per_partition)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        {"per-partition", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:h", longopts, NULL)) != -1) {
        if (ch == 'u')
            *url = optarg;
        else if (ch == 'j')
            *json = 1;
        else if (ch == 'P')
            *per_partition = 1;
        else if (ch == 'h')
            return fputs(usage_text, stdout), 0;
        else
            return sl_cli_bad_option(CMD, ch, argv[optind - 1]);
    }
    return -1;
}

int sl_cmd_stats(int argc, char **argv)
{
    const char *url = NULL;
    int json = 0, per_partition = 0, rc = parse_options(argc, argv, &url, &json, &per_partition);
    if (rc >= 0)
        return rc;
    rc = 1;
    for (int i = optind; i < argc; i++)
        if (sl_cli_check_name(CMD, "queue", argv[i]) != 0)
            return 2;

    sl_redis *r = sl_cli_connect(CMD, url);
    if (!r)
        return 1;
    cJSON *root = cJSON_CreateObject(), *names = cJSON_CreateArray(), *queues, *it;
    int64_t now = sl_cli_server_ms(CMD, r);
    if (now < 0)
        goto done;
    char when[40];
    sl_cli_fmt_time(when, sizeof when, now);
    cJSON_AddStringToObject(root, "time", when);
    queues = cJSON_AddArrayToObject(root, "queues");
    for (int i = optind; i < argc; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(argv[i]));
    if (optind == argc && (scan_queues(r, names, "", "stream") != 0 ||
                           scan_queues(r, names, SL_KEY_SCHED_SUFFIX, "zset") != 0 || fold_partitions(r, names) != 0))
        goto done;
    cJSON_ArrayForEach(it, names)
    {
        /* a name with '#' is a partition left beyond its queue's count: shown alone */
        int n = strchr(it->valuestring, '#') ? 1 : sl_cli_nparts(CMD, r, it->valuestring);
        cJSON *q = n < 0   ? NULL
                   : n > 1 ? partitioned_stats(r, it->valuestring, n, now, per_partition)
                           : queue_stats(r, it->valuestring, now, 0);
        if (!q)
            goto done;
        cJSON_AddItemToArray(queues, q);
    }
    cJSON *limits = NULL; /* without QUEUE only: the whole system */
    if (optind == argc) {
        if (!(limits = sl_stats_limits(CMD, r, now)))
            goto done;
        cJSON_AddItemToObject(root, "limits", limits);
    }
    if (json) {
        rc = sl_cli_print_json(CMD, root);
        root = NULL;
    } else {
        int first = 1;
        if (cJSON_GetArraySize(queues) == 0)
            printf("no queues (no stream sluice:{QUEUE} nor schedule sluice:{QUEUE}:sched in Redis)\n");
        cJSON_ArrayForEach(it, queues)
        {
            const cJSON *p;
            print_queue(it, first), first = 0;
            cJSON_ArrayForEach(p, cJSON_GetObjectItem(it, "partition_stats")) print_queue(p, 0);
        }
        sl_stats_print_limits(limits);
        rc = 0;
    }
    if (rc == 0)
        rc = sl_cli_flush(CMD);
done:
    cJSON_Delete(names);
    cJSON_Delete(root);
    sl_redis_free(r);
    return rc;
}
