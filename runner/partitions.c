/* The supervisor publishes every queue's partition count (queues.<Q>.partitions)
 * in sluice:{Q}:partitions, where producers of any language read it, at
 * start-up and on reload. A count that differs from the published one is
 * refused while the old partitions still hold work (pending, undelivered,
 * retrying or scheduled entries): their jobs would be read by nobody. One
 * short synchronous connection, like the schema registration (schemas_dir.c). */
#include <stdio.h>
#include <string.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/redis.h"
#include "common/streamid.h"
#include "common/util.h"
#include "runner/supervisor.h"

/* The value of field name in a flat map reply (XINFO), NULL if absent. */
static const redisReply *map_get(const redisReply *map, const char *name)
{
    if (map == NULL || map->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        const redisReply *k = map->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) && strcmp(k->str, name) == 0)
            return map->element[i + 1];
    }
    return NULL;
}

static long long map_int(const redisReply *map, const char *name)
{
    const redisReply *v = map_get(map, name);
    return v != NULL && v->type == REDIS_REPLY_INTEGER ? v->integer : 0;
}

static const char *map_str(const redisReply *map, const char *name)
{
    const redisReply *v = map_get(map, name);
    return v != NULL && v->type == REDIS_REPLY_STRING ? v->str : NULL;
}

/* Append ", what" (or "what" first) to out. */
static void add(char *out, size_t n, const char *what)
{
    size_t len = strlen(out);
    if (len + 3 < n)
        snprintf(out + len, n - len, "%s%s", len ? ", " : "", what);
}

/* What stream key still holds for the groups on it: "<label>: group G: 3
 * pending, undelivered entries" parts appended to out. When groups_of is not
 * NULL it gets the XINFO GROUPS reply (caller frees). Returns 0, or -1 on a
 * Redis error (err set). */
static int stream_work(sl_redis *r, const char *key, const char *label, char *out, size_t n, redisReply **groups_of,
                       char *err, size_t errlen)
{
    redisReply *st = sl_redis_cmd(r, "XINFO STREAM %s", key), *gs = NULL;
    char what[600];
    int rc = -1;

    if (st == NULL) {
        snprintf(err, errlen, "XINFO STREAM %s failed: %s", key, sl_redis_errstr(r));
        return -1;
    }
    if (st->type == REDIS_REPLY_ERROR) { /* no such key: no work */
        rc = strstr(st->str, "no such key") != NULL ? 0 : -1;
        if (rc != 0)
            snprintf(err, errlen, "XINFO STREAM %s: %s", key, st->str);
        goto done;
    }
    const char *last = map_str(st, "last-generated-id");
    long long len = map_int(st, "length"), ngroups = map_int(st, "groups");
    if (ngroups == 0) {
        if (len > 0) {
            snprintf(what, sizeof what, "%s: %lld entries and no consumer group", label, len);
            add(out, n, what);
        }
        rc = 0;
        goto done;
    }
    if ((gs = sl_redis_cmd(r, "XINFO GROUPS %s", key)) == NULL || gs->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "XINFO GROUPS %s failed: %s", key,
                 gs == NULL                      ? sl_redis_errstr(r)
                 : gs->type == REDIS_REPLY_ERROR ? gs->str
                                                 : "unexpected reply");
        goto done;
    }
    for (size_t i = 0; i < gs->elements; i++) {
        const redisReply *g = gs->element[i];
        const char *name = map_str(g, "name"), *delivered = map_str(g, "last-delivered-id");
        long long pending = map_int(g, "pending");
        int undelivered = len > 0 && last != NULL && delivered != NULL && sl_streamid_cmp_text(delivered, last) < 0;
        if (pending > 0 || undelivered) {
            snprintf(what, sizeof what, "%s: group %s: %lld pending%s", label, name ? name : "?", pending,
                     undelivered ? " and undelivered entries" : "");
            add(out, n, what);
        }
    }
    rc = 0;
done:
    if (rc == 0 && groups_of != NULL) {
        *groups_of = gs;
        gs = NULL;
    }
    freeReplyObject(gs);
    freeReplyObject(st);
    return rc;
}

/* The work left in partition part (its work stream, the retry stream of each
 * group of the work stream: workers make a group on both, the schedule)
 * appended to out. Returns 0, or -1 on a Redis error. */
static int partition_work(sl_redis *r, const char *part, char *out, size_t n, char *err, size_t errlen)
{
    char key[SL_KEY_MAX], label[SL_KEY_MAX + 16], what[SL_KEY_MAX + 64];
    redisReply *groups = NULL, *z;
    int rc = -1;

    if (sl_key_stream(key, sizeof key, part) != 0 || stream_work(r, key, key, out, n, &groups, err, errlen) != 0)
        return -1;
    for (size_t i = 0; groups != NULL && i < groups->elements; i++) {
        const char *g = map_str(groups->element[i], "name");
        if (g == NULL || sl_key_retry(key, sizeof key, part, g) != 0)
            continue;
        snprintf(label, sizeof label, "%s", key);
        if (stream_work(r, key, label, out, n, NULL, err, errlen) != 0)
            goto done;
    }
    if (sl_key_sched(key, sizeof key, part) != 0)
        goto done;
    if ((z = sl_redis_cmd(r, "ZCARD %s", key)) == NULL || z->type != REDIS_REPLY_INTEGER) {
        snprintf(err, errlen, "ZCARD %s failed: %s", key,
                 z == NULL                      ? sl_redis_errstr(r)
                 : z->type == REDIS_REPLY_ERROR ? z->str
                                                : "unexpected reply");
        freeReplyObject(z);
        goto done;
    }
    if (z->integer > 0) {
        snprintf(what, sizeof what, "%s: %lld scheduled", key, z->integer);
        add(out, n, what);
    }
    freeReplyObject(z);
    rc = 0;
done:
    freeReplyObject(groups);
    return rc;
}

/* The count published for queue (1 when absent), or -1 on a Redis error or a
 * value that is not a count (err set). */
static int published(sl_redis *r, const char *queue, char *err, size_t errlen)
{
    char key[SL_KEY_MAX];
    redisReply *v;
    int n = -1;

    if (sl_key_partitions(key, sizeof key, queue) != 0 || (v = sl_redis_cmd(r, "GET %s", key)) == NULL) {
        snprintf(err, errlen, "GET %s failed: %s", key, sl_redis_errstr(r));
        return -1;
    }
    if (v->type == REDIS_REPLY_NIL)
        n = 1;
    else if (v->type == REDIS_REPLY_STRING && (n = sl_part_parse_count(v->str, v->len)) < 0)
        snprintf(err, errlen, "queues.%s.partitions: %s holds '%.40s', not a partition count 1..%d: fix or delete it",
                 queue, key, v->str, SL_PARTITIONS_MAX);
    else if (v->type != REDIS_REPLY_STRING)
        snprintf(err, errlen, "GET %s: %s", key, v->type == REDIS_REPLY_ERROR ? v->str : "unexpected reply");
    freeReplyObject(v);
    return n;
}

/* Check queue's count against the published one and publish it: SET for
 * N > 1, DEL for 1. Returns 0, -1 refused (err says why), -2 Redis error. */
static int publish_one(sl_redis *r, const char *queue, int want, char *err, size_t errlen)
{
    char key[SL_KEY_MAX], part[SL_PARTITION_NAME_MAX], left[1024] = "";
    int have = published(r, queue, err, errlen);
    redisReply *v;

    if (have < 0)
        return strstr(err, "not a partition count") != NULL ? -1 : -2;
    if (have != want) {
        for (int i = 0; i < have; i++)
            if (sl_part_name(part, sizeof part, queue, have, i) != 0 ||
                partition_work(r, part, left, sizeof left, err, errlen) != 0)
                return -2;
        if (left[0] != '\0') {
            snprintf(err, errlen,
                     "queues.%s.partitions: %d, but the queue has %d partition%s (sluice:{%s}:partitions) that "
                     "still hold work: %s; drain them with the old count first (docs/operations.md, \"Changing a "
                     "queue's partition count\")",
                     queue, want, have, have == 1 ? "" : "s", queue, left);
            return -1;
        }
    }
    if (sl_key_partitions(key, sizeof key, queue) != 0)
        return -2;
    v = want > 1 ? sl_redis_cmd(r, "SET %s %d", key, want) : sl_redis_cmd(r, "DEL %s", key);
    if (v == NULL || v->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s %s failed: %s", want > 1 ? "SET" : "DEL", key,
                 v == NULL ? sl_redis_errstr(r) : v->str);
        freeReplyObject(v);
        return -2;
    }
    freeReplyObject(v);
    if (have != want)
        SL_LOG(SL_INFO, "partition count changed", SL_S("queue", queue), SL_I("from", have), SL_I("partitions", want));
    return 0;
}

/* Entry i of the walk over every queue of the config: the queues entries,
 * then each queue of each pool (pools[].queues). NULL past the end. */
static const char *walk_queue(const sl_config *cfg, size_t i)
{
    if (i < cfg->nqueues)
        return cfg->queues[i].name;
    i -= cfg->nqueues;
    for (size_t p = 0; p < cfg->npools; i -= cfg->pools[p++].nqueues)
        if (i < cfg->pools[p].nqueues)
            return cfg->pools[p].queues[i].name;
    return NULL;
}

/* Whether queue was already done by entry i of the walk. */
static int seen_before(const sl_config *cfg, size_t i, const char *queue)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(walk_queue(cfg, j), queue) == 0)
            return 1;
    return 0;
}

int sl_sup_publish_partitions(const sl_config *cfg, char *err, size_t errlen)
{
    sl_redis_opts ro = {.connect_timeout_ms = cfg->connect_timeout_ms, .command_timeout_ms = cfg->command_timeout_ms};
    sl_redis *r = sl_redis_new(cfg->redis_url, &ro, err, errlen);
    int rc = -2, partitioned = 0;

    for (size_t i = 0; i < cfg->nqueues; i++)
        partitioned |= cfg->queues[i].partitions > 1;
    if (r != NULL && sl_redis_connect(r) != 0)
        snprintf(err, errlen, "redis unavailable: %s", sl_redis_errstr(r));
    else if (r != NULL)
        rc = 0;
    /* Every queue of the config: the queues entries, then the pools' queues. */
    const char *q;
    for (size_t i = 0; rc == 0 && (q = walk_queue(cfg, i)) != NULL; i++) {
        if (!seen_before(cfg, i, q))
            rc = publish_one(r, q, sl_part_count(cfg, q), err, errlen);
    }
    sl_redis_free(r);
    if (rc == -2 && !partitioned) { /* as before partitions existed: wait for Redis */
        SL_LOG(SL_WARN, "partition counts not checked (no queue is partitioned)", SL_S("error", err));
        rc = 0;
    }
    return rc;
}
