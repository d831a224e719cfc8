/* The Redis function library (common/functions.lua) against a real redis-server:
 * loading and versioning (sl_functions_ensure), then every function's contract —
 * fenced acks, retry and dead-letter moves, lease extension and release,
 * promotion (exactly once under two concurrent promoters), delayed and
 * idempotent enqueues — asserted on the exact keys, fields and scores. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/functions.h"
#include "common/redis.h"
#include "support/run.h"
#include "support/th.h"

#define STREAM "sluice:{q}"
#define SCHED "sluice:{q}:sched"
#define DLQ "sluice:{q}:dlq:g"
#define RSTREAM "sluice:{q}:r:g"

/* Load the library (once per test: FLUSHALL keeps functions, but a test may
 * have flushed them). */
static void ensure_library(void)
{
    char err[512] = "";
    sl_redis *r = sl_redis_new(th_redis_url(), NULL, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(sl_redis_connect(r), 0, "%s", sl_redis_errstr(r));
    cr_assert_eq(sl_functions_ensure(r, err, sizeof err), 0, "sl_functions_ensure: %s", err);
    sl_redis_free(r);
}

static void setup(void)
{
    th_flushall();
    ensure_library();
}

TestSuite(functions, .init = setup, .timeout = 120);

/* ---- helpers ---- */

/* Run a command (argv form, so values may hold spaces); assert it did not fail
 * at the I/O level. The reply may be an error reply. */
static redisReply *cmdv(redisContext *c, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    cr_assert_not_null(rep, "%s failed: %s", argv[0], c->errstr);
    return rep;
}

/* Build argv from a NULL-terminated list and run it. */
static redisReply *cmdl(redisContext *c, ...)
{
    const char *argv[64];
    int argc = 0;
    va_list ap;
    va_start(ap, c);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        cr_assert_lt(argc, 64);
        argv[argc++] = s;
    }
    va_end(ap);
    return cmdv(c, argc, argv);
}

/* Like cmdl, asserting an integer reply; returns it. */
#define INT_OF(c, ...) int_of(cmdl((c), __VA_ARGS__, (const char *)NULL))
static long long int_of(redisReply *rep)
{
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER, "expected an integer reply, got type %d: %s", rep->type,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* Like cmdl, asserting an error reply containing `want`. */
#define ERR_OF(c, want, ...) err_of(cmdl((c), __VA_ARGS__, (const char *)NULL), (want))
static void err_of(redisReply *rep, const char *want)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR, "expected an error reply, got type %d", rep->type);
    cr_assert(strstr(rep->str, want), "error %s does not contain %s", rep->str, want);
    freeReplyObject(rep);
}

/* XADD to STREAM with the given field/value list (NULL-terminated); the new id
 * is written to id (64 bytes). */
static void add(redisContext *c, char id[64], ...)
{
    const char *argv[64] = {"XADD", STREAM, "*"};
    int argc = 3;
    va_list ap;
    va_start(ap, id);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = s;
    va_end(ap);
    redisReply *rep = cmdv(c, argc, argv);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "XADD: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    snprintf(id, 64, "%s", rep->str);
    freeReplyObject(rep);
}

/* Create group g at 0 and deliver up to n new entries to consumer. */
static void deliver(redisContext *c, const char *consumer, int n)
{
    redisReply *rep = redisCommand(c, "XGROUP CREATE %s g 0 MKSTREAM", STREAM);
    cr_assert_not_null(rep);
    freeReplyObject(rep); /* BUSYGROUP on the second call is fine */
    rep = redisCommand(c, "XREADGROUP GROUP g %s COUNT %d STREAMS %s >", consumer, n, STREAM);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "XREADGROUP failed");
    freeReplyObject(rep);
}

/* Move a pending entry to consumer `to` the way a live consumer reclaims it. */
static void steal(redisContext *c, const char *to, const char *id)
{
    redisReply *rep = redisCommand(c, "XAUTOCLAIM %s g %s 0 %s COUNT 1", STREAM, to, id);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->element[1]->elements == 1, "XAUTOCLAIM %s", id);
    freeReplyObject(rep);
}

/* Pending state of one entry: owner (copied into owner, "" if not pending),
 * idle ms and delivery count. Returns 1 if pending. */
static int pending(redisContext *c, const char *id, char owner[64], long long *idle, long long *count)
{
    redisReply *rep = redisCommand(c, "XPENDING %s g %s %s 1", STREAM, id, id);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "XPENDING");
    int found = rep->elements == 1;
    owner[0] = '\0';
    if (found) {
        redisReply *e = rep->element[0];
        snprintf(owner, 64, "%s", e->element[1]->str);
        if (idle)
            *idle = e->element[2]->integer;
        if (count)
            *count = e->element[3]->integer;
    }
    freeReplyObject(rep);
    return found;
}

/* Assert no field name appears twice in a flat [f, v, ...] reply. */
static void fv_no_duplicates(const redisReply *fv)
{
    for (size_t i = 0; i + 1 < fv->elements; i += 2)
        for (size_t j = i + 2; j + 1 < fv->elements; j += 2)
            cr_assert_str_neq(fv->element[i]->str, fv->element[j]->str, "field %s twice", fv->element[i]->str);
}

/* The value of field `name` in a decoded sched member's "f" array, or NULL;
 * asserts no field appears twice. */
static const char *json_get(const cJSON *f, const char *name)
{
    const char *found = NULL;
    int n = cJSON_GetArraySize(f);
    for (int i = 0; i + 1 < n; i += 2) {
        const char *k = cJSON_GetArrayItem(f, i)->valuestring;
        if (strcmp(k, name) == 0) {
            cr_assert_null(found, "field %s twice in the sched member", name);
            found = cJSON_GetArrayItem(f, i + 1)->valuestring;
        }
    }
    return found;
}

/* The only member of SCHED and its score; the member is decoded (caller frees). */
static cJSON *only_sched_member(redisContext *c, long long *score)
{
    redisReply *rep = redisCommand(c, "ZRANGE %s 0 -1 WITHSCORES", SCHED);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    cr_assert_eq(rep->elements, 2, "exactly one sched member, got %zu elements", rep->elements);
    cJSON *m = cJSON_Parse(rep->element[0]->str);
    cr_assert_not_null(m, "member is JSON: %s", rep->element[0]->str);
    *score = strtoll(rep->element[1]->str, NULL, 10);
    freeReplyObject(rep);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(m, "s")));
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(m, "f")));
    return m;
}

/* ---- loading ---- */

static int library_count(redisContext *c)
{
    redisReply *rep = redisCommand(c, "FUNCTION LIST");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    int n = (int)rep->elements;
    freeReplyObject(rep);
    return n;
}

static void assert_version(redisContext *c, const char *want)
{
    redisReply *rep = redisCommand(c, "FCALL sluice_version 0");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "FCALL sluice_version: %s",
              rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
    cr_assert_str_eq(rep->str, want);
    freeReplyObject(rep);
}

/* Calls of FUNCTION LOAD since the last CONFIG RESETSTAT. */
static long long function_loads(redisContext *c)
{
    redisReply *rep = redisCommand(c, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    const char *p = strstr(rep->str, "cmdstat_function|load:calls=");
    long long n = p ? strtoll(p + strlen("cmdstat_function|load:calls="), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

Test(functions, ensure_loads_on_an_empty_server)
{
    redisContext *c = th_redis();
    freeReplyObject(cmdl(c, "FUNCTION", "FLUSH", (const char *)NULL));
    cr_assert_eq(library_count(c), 0);
    err_of(cmdl(c, "FCALL", "sluice_version", "0", (const char *)NULL), "Function not found");
    ensure_library();
    cr_assert_eq(library_count(c), 1);
    assert_version(c, SL_FUNCTIONS_VERSION);
    redisReply *rep = redisCommand(c, "FUNCTION LIST LIBRARYNAME sluice");
    cr_assert(rep && rep->elements == 1);
    freeReplyObject(rep);
    redisFree(c);
}

Test(functions, ensure_is_a_no_op_when_current)
{
    redisContext *c = th_redis();
    freeReplyObject(cmdl(c, "CONFIG", "RESETSTAT", (const char *)NULL));
    ensure_library();
    ensure_library();
    cr_assert_eq(function_loads(c), 0, "no FUNCTION LOAD when the version is current");
    cr_assert_eq(library_count(c), 1);
    assert_version(c, SL_FUNCTIONS_VERSION);
    redisFree(c);
}

Test(functions, ensure_replaces_an_older_version_and_keeps_a_newer_one)
{
    redisContext *c = th_redis();
    const char *fake = "#!lua name=sluice\n"
                       "redis.register_function('sluice_version', function() return '0' end)\n";
    freeReplyObject(cmdl(c, "FUNCTION", "FLUSH", (const char *)NULL));
    redisReply *rep = cmdl(c, "FUNCTION", "LOAD", fake, (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "%s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    freeReplyObject(rep);
    assert_version(c, "0");

    freeReplyObject(cmdl(c, "CONFIG", "RESETSTAT", (const char *)NULL));
    ensure_library();
    cr_assert_eq(function_loads(c), 1);
    cr_assert_eq(library_count(c), 1);
    assert_version(c, SL_FUNCTIONS_VERSION);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_promote", "1", SCHED, "10"), 0, "the real library is in place");

    /* A newer library is kept: it serves older callers (rolling upgrades). */
    const char *newer = "#!lua name=sluice\n"
                        "redis.register_function('sluice_version', function() return '999' end)\n";
    rep = cmdl(c, "FUNCTION", "LOAD", "REPLACE", newer, (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    freeReplyObject(cmdl(c, "CONFIG", "RESETSTAT", (const char *)NULL));
    ensure_library();
    cr_assert_eq(function_loads(c), 0, "a newer library is not replaced by an older build");
    assert_version(c, "999");

    /* A "sluice" library without sluice_version at all is replaced too. */
    const char *other = "#!lua name=sluice\n"
                        "redis.register_function('sluice_other', function() return 1 end)\n";
    rep = cmdl(c, "FUNCTION", "LOAD", "REPLACE", other, (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    ensure_library();
    assert_version(c, SL_FUNCTIONS_VERSION);
    cr_assert_eq(library_count(c), 1);
    redisFree(c);
}

/* ---- sluice_ack ---- */

/* Reply {acked, refused} of sluice_ack. */
static void ack_reply(redisReply *rep, long long acked, long long refused)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "sluice_ack: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    cr_assert_eq(rep->elements, 2);
    cr_assert_eq(rep->element[0]->integer, acked, "acked");
    cr_assert_eq(rep->element[1]->integer, refused, "refused");
    freeReplyObject(rep);
}

Test(functions, ack_only_what_the_caller_owns)
{
    redisContext *c = th_redis();
    char id1[64], id2[64], id3[64], id4[64];
    char owner[64];
    add(c, id1, "type", "t", NULL);
    add(c, id2, "type", "t", NULL);
    add(c, id3, "type", "t", NULL);
    deliver(c, "c1", 3);
    add(c, id4, "type", "t", NULL); /* in the stream, never delivered */
    steal(c, "c2", id2);

    ack_reply(
        cmdl(c, "FCALL", "sluice_ack", "1", STREAM, "g", "c1", "", "0", id1, id2, id3, id4, "9-9", (const char *)NULL),
        2, 3);
    cr_assert_not(pending(c, id1, owner, NULL, NULL));
    cr_assert_not(pending(c, id3, owner, NULL, NULL));
    cr_assert(pending(c, id2, owner, NULL, NULL), "the reclaimed entry is still pending");
    cr_assert_str_eq(owner, "c2");
    /* Already acked: refused, not counted twice. */
    ack_reply(cmdl(c, "FCALL", "sluice_ack", "1", STREAM, "g", "c1", "", "0", id1, (const char *)NULL), 0, 1);
    /* The new owner may ack it. */
    ack_reply(cmdl(c, "FCALL", "sluice_ack", "1", STREAM, "g", "c2", "", "0", id2, (const char *)NULL), 1, 0);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 4, "acks never delete entries");
    redisFree(c);
}

Test(functions, ack_sets_done_markers_with_their_ttl)
{
    redisContext *c = th_redis();
    char id1[64], id2[64];
    add(c, id1, "type", "t", "id", "job-1", NULL);
    add(c, id2, "type", "t", "id", "job-2", NULL);
    deliver(c, "c1", 2);
    steal(c, "c2", id2);

    ack_reply(cmdl(c, "FCALL", "sluice_ack", "1", STREAM, "g", "c1", "sluice:{q}:done:g:", "3600", id1, "job-1", id2,
                   "job-2", (const char *)NULL),
              1, 1);
    redisReply *rep = cmdl(c, "GET", "sluice:{q}:done:g:job-1", (const char *)NULL);
    cr_assert(rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "1") == 0);
    freeReplyObject(rep);
    long long ttl = INT_OF(c, "TTL", "sluice:{q}:done:g:job-1");
    cr_assert(ttl > 3590 && ttl <= 3600, "TTL %lld", ttl);
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-2"), 0, "no marker for a refused entry");
    redisFree(c);
}

/* A whole read batch in one call, ids out of order: acked are only the listed
 * ids c1 still owns, though c1 and c2 own other entries inside the ids' range
 * (more than the call lists, so the owner lookup must page) and some listed
 * ids are foreign, already acked, never delivered or listed twice. */
Test(functions, ack_batch_mixes_owned_foreign_and_non_pending_ids)
{
    redisContext *c = th_redis();
    enum { NE = 60 };
    char id[NE][64], owner[64];
    for (int i = 0; i < NE; i++)
        add(c, id[i], "type", "t", NULL);
    deliver(c, "c1", 30);
    deliver(c, "c2", 20); /* id[30..49] pending under c2 */
    steal(c, "c2", id[5]); /* foreign now, inside c1's range */
    ack_reply(cmdl(c, "FCALL", "sluice_ack", "1", STREAM, "g", "c1", "", "0", id[7], (const char *)NULL), 1, 0);
    /* id[50..59] never delivered. Listed: owned 29, 0, 12, 3 (and 12 again);
     * foreign 5 and 40; acked already 7; undelivered 55. */
    ack_reply(cmdl(c, "FCALL", "sluice_ack", "1", STREAM, "g", "c1", "sluice:{q}:done:g:", "600", id[29], "job-29",
                   id[5], "job-5", id[0], "", id[40], "job-40", id[12], "job-12", id[7], "job-7", id[55], "job-55",
                   id[3], "job-3", id[12], "job-12", (const char *)NULL),
              4, 5);
    const int acked[] = {0, 3, 7, 12, 29};
    for (size_t i = 0; i < sizeof(acked) / sizeof(acked[0]); i++)
        cr_assert_not(pending(c, id[acked[i]], owner, NULL, NULL), "id[%d] acked", acked[i]);
    cr_assert(pending(c, id[5], owner, NULL, NULL) && strcmp(owner, "c2") == 0, "the stolen entry stays c2's");
    cr_assert(pending(c, id[40], owner, NULL, NULL) && strcmp(owner, "c2") == 0, "c2's entry stays pending");
    for (int i = 1; i < 30; i++) /* c1's unlisted entries between the listed ones are untouched */
        if (i != 3 && i != 5 && i != 7 && i != 12 && i != 29)
            cr_assert(pending(c, id[i], owner, NULL, NULL) && strcmp(owner, "c1") == 0, "id[%d] still c1's", i);
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-29"), 1);
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-12"), 1);
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-3"), 1);
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-5"), 0, "no marker for a foreign entry");
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-7"), 0, "no marker for a non-pending entry");
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-55"), 0);
    /* The last owned entry alone, then a malformed id: an error, nothing acked. */
    err_of(cmdl(c, "FCALL", "sluice_ack", "1", STREAM, "g", "c1", "", "0", id[1], "not-an-id", (const char *)NULL),
           "ERR sluice_ack: invalid stream ID");
    cr_assert(pending(c, id[1], owner, NULL, NULL), "nothing acked by a call with a malformed id");
    redisFree(c);
}

/* Reply {acked, refused, fence} of sluice_ack with the fence key. */
static void ack_fenced_reply(redisReply *rep, long long acked, long long refused, long long fence)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "sluice_ack: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    cr_assert_eq(rep->elements, 3);
    cr_assert_eq(rep->element[0]->integer, acked, "acked");
    cr_assert_eq(rep->element[1]->integer, refused, "refused");
    cr_assert_eq(rep->element[2]->integer, fence, "fence");
    freeReplyObject(rep);
}

#define FENCE "sluice:{q}:fence:g"

/* The group's fence value (0 when unset). */
static long long fence_of(redisContext *c)
{
    redisReply *rep = cmdl(c, "GET", FENCE, (const char *)NULL);
    long long v = rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : 0;
    freeReplyObject(rep);
    return v;
}

/* With the fence key: an unknown fence ("") or a stale one takes the owner
 * check; the fence value the caller read takes the fast path (plain XACK).
 * sluice_reclaim bumps the fence when it takes entries over, so a late ack of
 * a reclaimed entry is refused even when the caller sends its old fence. */
Test(functions, ack_fast_path_holds_until_a_reclaim_bumps_the_fence)
{
    redisContext *c = th_redis();
    char id[6][64], owner[64];
    for (int i = 0; i < 6; i++)
        add(c, id[i], "type", "t", "id", i == 2 ? "job-2" : "", NULL);
    deliver(c, "c1", 6);
    /* Unknown fence: owner check; the reply says the fence is 0 (unset). */
    ack_fenced_reply(
        cmdl(c, "FCALL", "sluice_ack", "2", STREAM, FENCE, "g", "c1", "", "0", "", id[0], (const char *)NULL), 1, 0, 0);
    /* Fence held: acked, done-marker set, a non-pending id refused. */
    ack_fenced_reply(cmdl(c, "FCALL", "sluice_ack", "2", STREAM, FENCE, "g", "c1", "sluice:{q}:done:g:", "600", "0",
                          id[1], "", id[2], "job-2", id[0], "", (const char *)NULL),
                     2, 1, 0);
    cr_assert_not(pending(c, id[1], owner, NULL, NULL));
    cr_assert_not(pending(c, id[2], owner, NULL, NULL));
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:job-2"), 1, "marker set on the fast path");
    /* A malformed id on the fast path: an error, nothing acked. */
    err_of(cmdl(c, "FCALL", "sluice_ack", "2", STREAM, FENCE, "g", "c1", "", "0", "0", id[3], "not-an-id",
                (const char *)NULL),
           "ERR");
    cr_assert(pending(c, id[3], owner, NULL, NULL), "nothing acked by a call with a malformed id");
    /* A reclaimer takes id[3..5] over (min idle 0): the fence moves to 1. */
    redisReply *rep = redisCommand(c, "FCALL sluice_reclaim 3 %s %s %s g thief 0 0-0 2 0", STREAM, DLQ, FENCE);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 && rep->element[1]->elements == 2);
    freeReplyObject(rep);
    cr_assert_eq(fence_of(c), 1, "a reclaim that took entries bumps the fence");
    /* c1's late ack with its old fence: the owner check refuses the taken
     * entries and acks the one c1 still owns (id[5]). */
    ack_fenced_reply(cmdl(c, "FCALL", "sluice_ack", "2", STREAM, FENCE, "g", "c1", "", "0", "0", id[3], id[4], id[5],
                          (const char *)NULL),
                     1, 2, 1);
    cr_assert(pending(c, id[3], owner, NULL, NULL) && strcmp(owner, "thief") == 0, "stays the new owner's");
    cr_assert(pending(c, id[4], owner, NULL, NULL) && strcmp(owner, "thief") == 0, "stays the new owner's");
    /* A reclaim pass that takes nothing leaves the fence alone. */
    rep = redisCommand(c, "FCALL sluice_reclaim 3 %s %s %s g thief 600000 0-0 10 0", STREAM, DLQ, FENCE);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->element[1]->elements == 0);
    freeReplyObject(rep);
    cr_assert_eq(fence_of(c), 1, "a reclaim that took nothing leaves the fence");
    /* The new owner acks with the fence it now knows: fast path. */
    ack_fenced_reply(cmdl(c, "FCALL", "sluice_ack", "2", STREAM, FENCE, "g", "thief", "", "0", "1", id[3], id[4],
                          (const char *)NULL),
                     2, 0, 1);
    redisFree(c);
}

/* The fast path trusts the fence: an owner change made by hand (XCLAIM, not
 * sluice_reclaim) must bump it (docs/guarantees.md), or the old owner's ack
 * goes through. This pins down that contract both ways. */
Test(functions, ack_fast_path_trusts_the_fence_for_hand_claims)
{
    redisContext *c = th_redis();
    char a[64], b[64], owner[64];
    add(c, a, "type", "t", NULL);
    add(c, b, "type", "t", NULL);
    deliver(c, "c1", 2);
    steal(c, "c2", a);
    ack_fenced_reply(cmdl(c, "FCALL", "sluice_ack", "2", STREAM, FENCE, "g", "c1", "", "0", "0", a, (const char *)NULL),
                     1, 0, 0);
    cr_assert_not(pending(c, a, owner, NULL, NULL), "unbumped fence: acked without the owner check");
    steal(c, "c2", b);
    cr_assert_eq(INT_OF(c, "INCR", FENCE), 1);
    ack_fenced_reply(cmdl(c, "FCALL", "sluice_ack", "2", STREAM, FENCE, "g", "c1", "", "0", "0", b, (const char *)NULL),
                     0, 1, 1);
    cr_assert(pending(c, b, owner, NULL, NULL) && strcmp(owner, "c2") == 0, "bumped fence: the owner check refuses");
    redisFree(c);
}

/* ---- sluice_settle ---- */

/* FCALL sluice_settle with the full ARGV list. */
static redisReply *settle(redisContext *c, const char *consumer, const char *id, const char *action, const char *delay,
                          const char *reason, const char *error, const char *attempt, const char *deliveries,
                          const char *maxlen, const char *job_id)
{
    return cmdl(c, "FCALL", "sluice_settle", "4", STREAM, SCHED, DLQ, RSTREAM, "g", consumer, id, action, delay, reason,
                error, attempt, deliveries, maxlen, job_id, (const char *)NULL);
}

Test(functions, settle_retry_schedules_the_next_attempt_for_this_group_only)
{
    redisContext *c = th_redis();
    char sid[64], owner[64];
    add(c, sid, "type", "email.send", "payload", "{\"to\":\"a b\"}", "id", "job-9", "attempt", "2", "correlation_id",
        "corr-1", "last_error", "older", "custom", "kept", NULL);
    deliver(c, "c1", 1);

    long long before = th_server_ms(c);
    cr_assert_eq(int_of(settle(c, "c1", sid, "retry", "5000", "", "boom: timeout", "2", "1", "0", "job-9")), 1);
    long long after = th_server_ms(c);

    cr_assert_not(pending(c, sid, owner, NULL, NULL), "acked with the move");
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 1);
    cr_assert_eq(INT_OF(c, "EXISTS", DLQ), 0);
    cr_assert_eq(INT_OF(c, "EXISTS", RSTREAM), 0, "not in the retry stream before it is due");
    long long due;
    cJSON *m = only_sched_member(c, &due);
    cr_assert_str_eq(cJSON_GetObjectItem(m, "s")->valuestring, RSTREAM);
    cJSON *f = cJSON_GetObjectItem(m, "f");
    cr_assert_eq(cJSON_GetArraySize(f), 14, "7 fields, no duplicates");
    cr_assert_str_eq(json_get(f, "attempt"), "3");
    cr_assert_str_eq(json_get(f, "id"), "job-9");
    cr_assert_str_eq(json_get(f, "last_error"), "boom: timeout");
    cr_assert_str_eq(json_get(f, "type"), "email.send");
    cr_assert_str_eq(json_get(f, "payload"), "{\"to\":\"a b\"}");
    cr_assert_str_eq(json_get(f, "correlation_id"), "corr-1");
    cr_assert_str_eq(json_get(f, "custom"), "kept");
    cr_assert(due >= before + 5000 && due <= after + 5000, "due %lld not in [%lld, %lld]", due, before + 5000,
              after + 5000);
    cJSON_Delete(m);
    redisFree(c);
}

Test(functions, settle_retry_uses_the_given_job_id_and_promotes_into_the_retry_stream)
{
    redisContext *c = th_redis();
    char sid[64];
    add(c, sid, "type", "t", NULL); /* no id, no attempt: first run */
    deliver(c, "c1", 1);
    cr_assert_eq(int_of(settle(c, "c1", sid, "retry", "0", "", "e", "1", "1", "0", sid)), 1);
    long long due;
    cJSON *m = only_sched_member(c, &due);
    cJSON *f = cJSON_GetObjectItem(m, "f");
    cr_assert_eq(cJSON_GetArraySize(f), 8);
    cr_assert_str_eq(json_get(f, "id"), sid, "the job id stays the first stream id");
    cr_assert_str_eq(json_get(f, "attempt"), "2");
    cJSON_Delete(m);

    cr_assert_eq(INT_OF(c, "FCALL", "sluice_promote", "1", SCHED, "100"), 1);
    cr_assert_eq(INT_OF(c, "XLEN", RSTREAM), 1);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 1, "the work stream (every group) gets nothing");
    redisReply *rep = redisCommand(c, "XRANGE %s - +", RSTREAM);
    const redisReply *fv = rep->element[0]->element[1];
    cr_assert_eq(fv->elements, 8);
    cr_assert_str_eq(th_field_str(fv, "type"), "t");
    cr_assert_str_eq(th_field_str(fv, "id"), sid);
    cr_assert_str_eq(th_field_str(fv, "attempt"), "2");
    cr_assert_str_eq(th_field_str(fv, "last_error"), "e");
    freeReplyObject(rep);
    redisFree(c);
}

Test(functions, settle_is_refused_when_another_consumer_owns_the_entry)
{
    redisContext *c = th_redis();
    char sid[64], owner[64];
    long long count;
    add(c, sid, "type", "t", NULL);
    deliver(c, "c1", 1);
    steal(c, "c2", sid);

    cr_assert_eq(int_of(settle(c, "c1", sid, "retry", "0", "", "e", "1", "1", "0", sid)), 0);
    cr_assert_eq(int_of(settle(c, "c1", sid, "dead", "0", "failed", "e", "1", "1", "0", sid)), 0);
    cr_assert_eq(INT_OF(c, "EXISTS", SCHED), 0);
    cr_assert_eq(INT_OF(c, "EXISTS", DLQ), 0);
    cr_assert(pending(c, sid, owner, NULL, &count));
    cr_assert_str_eq(owner, "c2");
    cr_assert_eq(count, 2, "delivered to c1, then reclaimed by c2");
    /* Not pending at all: refused too. */
    cr_assert_eq(int_of(settle(c, "c1", "9-9", "dead", "0", "failed", "e", "1", "1", "0", "x")), 0);
    redisFree(c);
}

Test(functions, settle_dead_writes_the_original_fields_and_the_record)
{
    redisContext *c = th_redis();
    char sid[64], owner[64];
    add(c, sid, "type", "order.placed.v1", "payload", "{\"n\":1}", "id", "job-1", "correlation_id", "corr", "reason",
        "stale", NULL); /* a replayed dead letter: its old reason is replaced */
    deliver(c, "c1", 1);

    long long before = th_server_ms(c);
    cr_assert_eq(int_of(settle(c, "c1", sid, "dead", "0", "failed", "card declined", "3", "1", "0", "job-1")), 1);
    long long after = th_server_ms(c);
    cr_assert_not(pending(c, sid, owner, NULL, NULL), "acked with the move");
    cr_assert_eq(INT_OF(c, "EXISTS", SCHED), 0);

    redisReply *rep = redisCommand(c, "XRANGE %s - +", DLQ);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
    const redisReply *fv = rep->element[0]->element[1];
    fv_no_duplicates(fv);
    cr_assert_eq(fv->elements, 26, "4 original + 9 added fields");
    cr_assert_str_eq(th_field_str(fv, "type"), "order.placed.v1");
    cr_assert_str_eq(th_field_str(fv, "payload"), "{\"n\":1}");
    cr_assert_str_eq(th_field_str(fv, "id"), "job-1");
    cr_assert_str_eq(th_field_str(fv, "correlation_id"), "corr");
    cr_assert_str_eq(th_field_str(fv, "reason"), "failed");
    cr_assert_str_eq(th_field_str(fv, "error"), "card declined");
    cr_assert_str_eq(th_field_str(fv, "attempts"), "3");
    cr_assert_str_eq(th_field_str(fv, "deliveries"), "1");
    cr_assert_str_eq(th_field_str(fv, "original_id"), sid);
    cr_assert_str_eq(th_field_str(fv, "original_stream"), STREAM);
    cr_assert_str_eq(th_field_str(fv, "group"), "g");
    cr_assert_str_eq(th_field_str(fv, "consumer"), "c1");
    long long failed_at = strtoll(th_field_str(fv, "failed_at"), NULL, 10);
    cr_assert(failed_at >= before && failed_at <= after, "failed_at %lld", failed_at);
    freeReplyObject(rep);
    redisFree(c);
}

Test(functions, settle_dead_honours_the_dlq_cap_approximately)
{
    enum { N = 200, CAP = 10 };
    redisContext *c = th_redis();
    char ids[N][64];
    for (int i = 0; i < N; i++)
        add(c, ids[i], "type", "t", NULL);
    deliver(c, "c1", N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(int_of(settle(c, "c1", ids[i], "dead", "0", "failed", "e", "1", "1", "10", ids[i])), 1);
    long long len = INT_OF(c, "XLEN", DLQ);
    /* MAXLEN ~ trims whole macro nodes (stream-node-max-entries, 100 by default). */
    redisReply *rep = redisCommand(c, "CONFIG GET stream-node-max-entries");
    long long node = strtoll(rep->element[1]->str, NULL, 10);
    freeReplyObject(rep);
    cr_assert(len >= CAP && len <= CAP + node, "XLEN %lld not in [%d, %lld]", len, CAP, CAP + node);
    cr_assert_lt(len, N);
    redisFree(c);
}

Test(functions, settle_dead_of_a_trimmed_entry_records_only_the_added_fields)
{
    redisContext *c = th_redis();
    char sid1[64], sid2[64];
    add(c, sid1, "type", "t", "payload", "{}", NULL);
    add(c, sid2, "type", "t", "payload", "{}", NULL);
    deliver(c, "c1", 2);
    cr_assert_eq(INT_OF(c, "XDEL", STREAM, sid1, sid2), 2);

    cr_assert_eq(int_of(settle(c, "c1", sid1, "dead", "0", "trimmed", "entry deleted", "1", "1", "0", "")), 1);
    cr_assert_eq(int_of(settle(c, "c1", sid2, "dead", "0", "trimmed", "entry deleted", "1", "1", "0", "job-2")), 1);
    redisReply *rep = redisCommand(c, "XRANGE %s - +", DLQ);
    cr_assert(rep && rep->elements == 2);
    const redisReply *fv = rep->element[0]->element[1];
    cr_assert_eq(fv->elements, 18, "the 9 added fields only");
    cr_assert_null(th_field_str(fv, "type"));
    cr_assert_str_eq(th_field_str(fv, "reason"), "trimmed");
    cr_assert_str_eq(th_field_str(fv, "original_id"), sid1);
    fv = rep->element[1]->element[1];
    cr_assert_eq(fv->elements, 20, "the 9 added fields and the given job id");
    cr_assert_str_eq(th_field_str(fv, "id"), "job-2");
    freeReplyObject(rep);
    cr_assert_eq(INT_OF(c, "XLEN", DLQ), 2);
    redisFree(c);
}

Test(functions, settle_with_an_unknown_action_is_an_error_and_changes_nothing)
{
    redisContext *c = th_redis();
    char sid[64], owner[64];
    add(c, sid, "type", "t", NULL);
    deliver(c, "c1", 1);
    err_of(settle(c, "c1", sid, "requeue", "0", "", "e", "1", "1", "0", sid), "unknown action requeue");
    /* Also for an entry the caller does not own: a caller bug is never a quiet 0. */
    err_of(settle(c, "c2", sid, "requeue", "0", "", "e", "1", "1", "0", sid), "unknown action");
    cr_assert(pending(c, sid, owner, NULL, NULL));
    cr_assert_str_eq(owner, "c1");
    cr_assert_eq(INT_OF(c, "EXISTS", SCHED), 0);
    cr_assert_eq(INT_OF(c, "EXISTS", DLQ), 0);
    redisFree(c);
}

/* ---- sluice_extend and sluice_release ---- */

Test(functions, extend_resets_idle_without_counting_a_delivery)
{
    redisContext *c = th_redis();
    char a[64], b[64], owner[64];
    long long idle, count;
    add(c, a, "type", "t", NULL);
    add(c, b, "type", "t", NULL);
    deliver(c, "c1", 2);
    th_sleep_ms(300);
    cr_assert(pending(c, a, owner, &idle, &count));
    cr_assert_geq(idle, 300);

    cr_assert_eq(INT_OF(c, "FCALL", "sluice_extend", "1", STREAM, "g", "c1", a), 1);
    cr_assert(pending(c, a, owner, &idle, &count));
    cr_assert_lt(idle, 200, "idle reset, got %lld", idle);
    cr_assert_eq(count, 1, "delivery count unchanged");
    cr_assert_str_eq(owner, "c1");

    /* Not owned: untouched. */
    steal(c, "c2", b);
    th_sleep_ms(300);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_extend", "1", STREAM, "g", "c1", b, "9-9"), 0);
    cr_assert(pending(c, b, owner, &idle, &count));
    cr_assert_str_eq(owner, "c2", "never stolen back");
    cr_assert_geq(idle, 300, "the other consumer's idle time is not reset");
    cr_assert_eq(count, 2);
    redisFree(c);
}

Test(functions, extend_and_release_leave_a_deleted_entry_pending)
{
    redisContext *c = th_redis();
    char a[64], owner[64];
    long long count;
    add(c, a, "type", "t", NULL);
    deliver(c, "c1", 1);
    /* Idle for a minute as far as the pending list can tell (nothing can
     * refresh a deleted entry's idle time). */
    redisReply *idle = redisCommand(c, "XCLAIM %s g c1 0 %s IDLE 60000 JUSTID", STREAM, a);
    freeReplyObject(idle);
    cr_assert_eq(INT_OF(c, "XDEL", STREAM, a), 1);
    /* XCLAIM would drop it from the pending list: the entry must stay there so
     * its owner can dead-letter it ("trimmed") instead of losing it silently.
     * Extending it records the lease in a marker instead; another consumer's
     * extend does nothing. */
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_extend", "1", STREAM, "g", "other", a), 0);
    char marker[160];
    snprintf(marker, sizeof(marker), "%s:lease:g:%s", STREAM, a);
    cr_assert_eq(INT_OF(c, "EXISTS", marker), 0, "no marker for a non-owner");
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_extend", "1", STREAM, "g", "c1", a), 1);
    cr_assert_eq(INT_OF(c, "EXISTS", marker), 1, "lease marker set");
    long long ttl = INT_OF(c, "PTTL", marker);
    cr_assert(ttl > 0 && ttl <= 3600000, "marker expires by itself (pttl %lld)", ttl);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_release", "1", STREAM, "g", "c1", a), 0);
    cr_assert(pending(c, a, owner, NULL, &count), "still pending");
    /* A reclaimer leaves it to its owner while the lease is fresh. */
    redisReply *rep = redisCommand(c, "FCALL sluice_reclaim 2 %s %s g thief 30000 0-0 10 0", STREAM, DLQ);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3);
    cr_assert_eq(rep->element[1]->elements + rep->element[2]->elements, 0, "nothing claimed or dead-lettered");
    freeReplyObject(rep);
    cr_assert_eq(INT_OF(c, "XLEN", DLQ), 0);
    cr_assert_str_eq(owner, "c1");
    cr_assert_eq(count, 1);
    cr_assert_eq(int_of(settle(c, "c1", a, "dead", "0", "trimmed", "gone", "1", "1", "0", a)), 1);
    cr_assert_eq(INT_OF(c, "XLEN", DLQ), 1);
    redisFree(c);
}

Test(functions, release_gives_back_one_delivery_and_keeps_the_owner)
{
    redisContext *c = th_redis();
    char a[64], b[64], owner[64];
    long long count;
    add(c, a, "type", "t", NULL);
    add(c, b, "type", "t", NULL);
    deliver(c, "c1", 2);
    /* A second delivery to c1 (a replay after a reclaim). */
    redisReply *rep = redisCommand(c, "XCLAIM %s g c1 0 %s", STREAM, a);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
    freeReplyObject(rep);
    cr_assert(pending(c, a, owner, NULL, &count));
    cr_assert_eq(count, 2);

    cr_assert_eq(INT_OF(c, "FCALL", "sluice_release", "1", STREAM, "g", "c1", a), 1);
    cr_assert(pending(c, a, owner, NULL, &count));
    cr_assert_eq(count, 1);
    cr_assert_str_eq(owner, "c1");
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_release", "1", STREAM, "g", "c1", a), 1);
    cr_assert(pending(c, a, owner, NULL, &count));
    cr_assert_eq(count, 0);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_release", "1", STREAM, "g", "c1", a), 1);
    cr_assert(pending(c, a, owner, NULL, &count));
    cr_assert_eq(count, 0, "never below zero");

    steal(c, "c2", b);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_release", "1", STREAM, "g", "c1", b), 0);
    cr_assert(pending(c, b, owner, NULL, &count));
    cr_assert_str_eq(owner, "c2");
    cr_assert_eq(count, 2);
    redisFree(c);
}

/* The hand-off form (a stopping worker): the entry stays c1's with one delivery
 * given back, idle for the given time so that a reclaim with that lease takes
 * it at once, and the fence is bumped (only when something was released). */
Test(functions, release_handoff_makes_entries_reclaimable_and_bumps_the_fence)
{
    redisContext *c = th_redis();
    char a[64], owner[64];
    long long count, idle;
    add(c, a, "type", "t", NULL);
    deliver(c, "c1", 1);
    long long f0 = fence_of(c);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_release", "2", STREAM, FENCE, "g", "c1", "60000", a), 1);
    cr_assert(pending(c, a, owner, &idle, &count));
    cr_assert_str_eq(owner, "c1");
    cr_assert_eq(count, 0);
    cr_assert_geq(idle, 60000, "idle %lld: a reclaim with a 60 s lease would not take it", idle);
    cr_assert_eq(fence_of(c), f0 + 1);
    redisReply *rep = cmdl(c, "FCALL", "sluice_reclaim", "3", STREAM, DLQ, FENCE, "g", "c2", "60000", "0-0", "10", "0",
                           (const char *)NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->element[1]->elements == 1, "not reclaimed at once");
    freeReplyObject(rep);
    cr_assert(pending(c, a, owner, NULL, &count));
    cr_assert_str_eq(owner, "c2");
    cr_assert_eq(count, 1, "the reclaim counts the delivery given back");
    /* Not c1's any more: nothing released, no bump. */
    long long f1 = fence_of(c);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_release", "2", STREAM, FENCE, "g", "c1", "60000", a), 0);
    cr_assert_eq(fence_of(c), f1);
    err_of(cmdl(c, "FCALL", "sluice_release", "2", STREAM, FENCE, "g", "c1", "soon", a, (const char *)NULL),
           "idle time");
    redisFree(c);
}

/* ---- sluice_promote ---- */

Test(functions, promote_moves_only_due_entries_with_their_fields)
{
    redisContext *c = th_redis();
    char bin[] = "b\x01n\xff"; /* arbitrary bytes survive the JSON member */
    redisReply *rep;
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "due-%d", i);
        rep = cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "0", "id", id, "type", "t", "payload",
                   "{\"k\":\"v w\"}", "blob", bin, (const char *)NULL);
        cr_assert_eq(rep->type, REDIS_REPLY_STRING);
        freeReplyObject(rep);
    }
    rep = cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "60000", "id", "later-1", "type", "t",
               (const char *)NULL);
    freeReplyObject(rep);
    rep = cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "at", "99999999999999", "id", "later-2", "type", "t",
               (const char *)NULL);
    freeReplyObject(rep);
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 5);

    cr_assert_eq(INT_OF(c, "FCALL", "sluice_promote", "1", SCHED, "2"), 2, "limit respected");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 2);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_promote", "1", SCHED, "100"), 1, "only the due one left");
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_promote", "1", SCHED, "100"), 0);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 3);
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 2, "entries not due stay scheduled");

    rep = redisCommand(c, "XRANGE %s - +", STREAM);
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *fv = rep->element[i]->element[1];
        char want[32];
        snprintf(want, sizeof want, "due-%zu", i);
        cr_assert_eq(fv->elements, 8);
        cr_assert_str_eq(fv->element[0]->str, "id", "field order kept");
        cr_assert_str_eq(th_field_str(fv, "id"), want);
        cr_assert_str_eq(th_field_str(fv, "type"), "t");
        cr_assert_str_eq(th_field_str(fv, "payload"), "{\"k\":\"v w\"}");
        cr_assert_eq(fv->element[7]->len, 4);
        cr_assert(memcmp(fv->element[7]->str, bin, 4) == 0, "binary value intact");
    }
    freeReplyObject(rep);
    redisFree(c);
}

/* One of two concurrent promoters: loops sluice_promote LIMIT 50 until the
 * schedule is empty, counting what it moved. */
typedef struct promoter {
    long long moved;
    long long calls;
    char err[256];
} promoter;

static void *promote_loop(void *arg)
{
    promoter *p = arg;
    redisContext *c = th_redis();
    for (;;) {
        redisReply *rep = redisCommand(c, "FCALL sluice_promote 1 %s 50", SCHED);
        if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
            snprintf(p->err, sizeof p->err, "%s", rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "I/O error");
            if (rep)
                freeReplyObject(rep);
            break;
        }
        long long n = rep->integer;
        freeReplyObject(rep);
        p->moved += n;
        p->calls++;
        if (n == 0) {
            rep = redisCommand(c, "ZCARD %s", SCHED);
            long long left = rep ? rep->integer : -1;
            if (rep)
                freeReplyObject(rep);
            if (left == 0)
                break;
        }
    }
    redisFree(c);
    return NULL;
}

Test(functions, concurrent_promoters_move_each_entry_exactly_once)
{
    enum { N = 2000 };
    redisContext *c = th_redis();
    for (int i = 0; i < N; i++)
        redisAppendCommand(c, "FCALL sluice_schedule 2 %s %s in 0 id job-%d type t payload {}", STREAM, SCHED, i);
    for (int i = 0; i < N; i++) {
        void *rep = NULL;
        cr_assert_eq(redisGetReply(c, &rep), REDIS_OK);
        cr_assert_eq(((redisReply *)rep)->type, REDIS_REPLY_STRING);
        freeReplyObject(rep);
    }
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), N);

    promoter p[2];
    pthread_t t[2];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, promote_loop, &p[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_str_eq(p[0].err, "");
    cr_assert_str_eq(p[1].err, "");
    cr_assert_eq(p[0].moved + p[1].moved, N, "moved %lld + %lld", p[0].moved, p[1].moved);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), N);
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 0);

    /* Every job exactly once: the ids are job-0 .. job-1999, each seen once. */
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    redisReply *rep = redisCommand(c, "XRANGE %s - +", STREAM);
    cr_assert(rep && rep->elements == N);
    for (size_t i = 0; i < rep->elements; i++) {
        const char *id = th_field_str(rep->element[i]->element[1], "id");
        int k = -1;
        cr_assert(id && sscanf(id, "job-%d", &k) == 1 && k >= 0 && k < N, "id %s", id ? id : "(none)");
        cr_assert_not(seen[k], "job-%d promoted twice", k);
        seen[k] = 1;
    }
    freeReplyObject(rep);
    redisFree(c);
}

Test(functions, promote_with_two_alternating_connections)
{
    enum { N = 2000 };
    redisContext *c = th_redis(), *c2 = th_redis();
    for (int i = 0; i < N; i++)
        redisAppendCommand(c, "FCALL sluice_schedule 2 %s %s in 0 id job-%d type t", STREAM, SCHED, i);
    for (int i = 0; i < N; i++) {
        void *rep = NULL;
        cr_assert_eq(redisGetReply(c, &rep), REDIS_OK);
        freeReplyObject(rep);
    }
    long long moved = 0;
    int rounds = 0;
    for (redisContext *cur = c;; cur = cur == c ? c2 : c, rounds++) {
        long long n = INT_OF(cur, "FCALL", "sluice_promote", "1", SCHED, "50");
        cr_assert_leq(n, 50);
        moved += n;
        if (n == 0)
            break;
    }
    cr_assert_eq(moved, N);
    cr_assert_eq(rounds, N / 50);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), N);
    redisFree(c2);
    redisFree(c);
}

/* ---- sluice_schedule ---- */

Test(functions, schedule_in_and_at)
{
    redisContext *c = th_redis();
    long long before = th_server_ms(c);
    redisReply *rep = cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "30000", "id", "job-1", "type", "t",
                           "payload", "{}", (const char *)NULL);
    long long after = th_server_ms(c);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->str, "job-1", "returns the job id");
    freeReplyObject(rep);
    long long due;
    cJSON *m = only_sched_member(c, &due);
    cr_assert_str_eq(cJSON_GetObjectItem(m, "s")->valuestring, STREAM);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(m, "f")), 6);
    cJSON_Delete(m);
    cr_assert(due >= before + 30000 && due <= after + 30000, "due %lld", due);
    cr_assert_eq(INT_OF(c, "EXISTS", STREAM), 0);

    rep = cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "at", "1700000000000", "id", "job-2", "type", "t",
               (const char *)NULL);
    cr_assert_str_eq(rep->str, "job-2");
    freeReplyObject(rep);
    rep =
        cmdl(c, "ZSCORE", SCHED, "{\"s\":\"sluice:{q}\",\"f\":[\"id\",\"job-2\",\"type\",\"t\"]}", (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "member found by its JSON");
    cr_assert_str_eq(rep->str, "1700000000000");
    freeReplyObject(rep);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_promote", "1", SCHED, "10"), 1, "a past 'at' is due at once");
    redisFree(c);
}

Test(functions, schedule_refuses_bad_calls_and_writes_nothing)
{
    redisContext *c = th_redis();
    ERR_OF(c, "needs an id field", "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "0", "type", "t");
    ERR_OF(c, "needs an id field", "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "0", "id", "", "type", "t");
    ERR_OF(c, "mode must be \"in\" or \"at\"", "FCALL", "sluice_schedule", "2", STREAM, SCHED, "soon", "0", "id", "j",
           "type", "t");
    ERR_OF(c, "mode must be", "FCALL", "sluice_schedule", "2", STREAM, SCHED);
    ERR_OF(c, "expected field/value pairs", "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "0", "id", "j",
           "type");
    ERR_OF(c, "expected field/value pairs", "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "0");
    ERR_OF(c, "ms must be a non-negative integer", "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "soon", "id",
           "j", "type", "t");
    ERR_OF(c, "ms must be a non-negative integer", "FCALL", "sluice_schedule", "2", STREAM, SCHED, "at", "-5", "id",
           "j", "type", "t");
    cr_assert_eq(INT_OF(c, "EXISTS", SCHED, STREAM), 0);
    redisFree(c);
}

/* ---- sluice_enqueue ---- */

#define IDEM "sluice:{q}:idem:order-42"

/* {id, enqueued} reply of sluice_enqueue; id copied into id_out (64 bytes). */
static long long idem_reply(redisReply *rep, char id_out[64])
{
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "sluice_enqueue: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    cr_assert_eq(rep->elements, 2);
    cr_assert_eq(rep->element[0]->type, REDIS_REPLY_STRING);
    cr_assert_eq(rep->element[1]->type, REDIS_REPLY_INTEGER);
    snprintf(id_out, 64, "%s", rep->element[0]->str);
    long long v = rep->element[1]->integer;
    freeReplyObject(rep);
    return v;
}

Test(functions, enqueue_with_a_key_enqueues_once)
{
    redisContext *c = th_redis();
    char first[64], second[64];
    cr_assert_eq(idem_reply(cmdl(c, "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "600", "", "0", "type", "t",
                                 "payload", "{\"n\":1}", (const char *)NULL),
                            first),
                 1);
    redisReply *rep = redisCommand(c, "XRANGE %s - +", STREAM);
    cr_assert(rep && rep->elements == 1);
    cr_assert_str_eq(first, rep->element[0]->element[0]->str, "without an id field the job id is the stream id");
    freeReplyObject(rep);
    long long ttl = INT_OF(c, "TTL", IDEM);
    cr_assert(ttl > 590 && ttl <= 600, "TTL %lld", ttl);

    cr_assert_eq(idem_reply(cmdl(c, "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "600", "", "0", "type", "t",
                                 "payload", "{\"n\":2}", (const char *)NULL),
                            second),
                 0);
    cr_assert_str_eq(second, first, "a duplicate returns the first id");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 1);

    /* With an id field, that is the job id. */
    cr_assert_eq(idem_reply(cmdl(c, "FCALL", "sluice_enqueue", "3", STREAM, "sluice:{q}:idem:k2", SCHED, "60", "", "0",
                                 "id", "job-7", "type", "t", (const char *)NULL),
                            first),
                 1);
    cr_assert_str_eq(first, "job-7");
    rep = cmdl(c, "GET", "sluice:{q}:idem:k2", (const char *)NULL);
    cr_assert_str_eq(rep->str, "job-7");
    freeReplyObject(rep);
    redisFree(c);
}

Test(functions, enqueue_with_a_key_and_a_delay_schedules_once)
{
    redisContext *c = th_redis();
    char id[64];
    long long before = th_server_ms(c);
    cr_assert_eq(idem_reply(cmdl(c, "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "600", "in", "5000", "id",
                                 "job-1", "type", "t", (const char *)NULL),
                            id),
                 1);
    long long after = th_server_ms(c);
    cr_assert_str_eq(id, "job-1");
    cr_assert_eq(INT_OF(c, "EXISTS", STREAM), 0);
    long long due;
    cJSON *m = only_sched_member(c, &due);
    cJSON_Delete(m);
    cr_assert(due >= before + 5000 && due <= after + 5000);
    cr_assert_eq(idem_reply(cmdl(c, "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "600", "in", "5000", "id",
                                 "job-2", "type", "t", (const char *)NULL),
                            id),
                 0);
    cr_assert_str_eq(id, "job-1");
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 1);

    cr_assert_eq(idem_reply(cmdl(c, "FCALL", "sluice_enqueue", "3", STREAM, "sluice:{q}:idem:at", SCHED, "600", "at",
                                 "1700000000000", "id", "job-3", "type", "t", (const char *)NULL),
                            id),
                 1);
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 2);
    redisFree(c);
}

Test(functions, enqueue_refuses_bad_calls_and_writes_nothing)
{
    redisContext *c = th_redis();
    /* A zero TTL used to fail in SET after the XADD: job added, key missing. */
    ERR_OF(c, "TTL must be a positive integer", "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "0", "", "0",
           "type", "t");
    ERR_OF(c, "TTL must be a positive integer", "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "1h", "", "0",
           "type", "t");
    /* So did a TTL beyond what SET EX takes. */
    ERR_OF(c, "TTL must be a positive integer", "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED,
           "99999999999999999999", "", "0", "type", "t");
    /* An unknown mode used to be taken as "at". */
    ERR_OF(c, "mode must be \"in\" or \"at\" or \"\"", "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "60",
           "later", "5", "id", "j", "type", "t");
    ERR_OF(c, "needs an id field", "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "60", "in", "5", "type", "t");
    ERR_OF(c, "expected field/value pairs", "FCALL", "sluice_enqueue", "3", STREAM, IDEM, SCHED, "60", "", "0", "type");
    cr_assert_eq(INT_OF(c, "EXISTS", STREAM, SCHED, IDEM), 0);
    redisFree(c);
}

/* A member that is not sluice's JSON, or whose target is not a stream, is
 * parked in sched:bad; the good ones around it still move. */
Test(functions, promote_parks_unmovable_members, .init = setup)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "SET %s %s", "sluice:{q}:notastream", "x");
    freeReplyObject(r);
    r = redisCommand(c, "ZADD %s 1 %s", SCHED, "not json at all");
    freeReplyObject(r);
    r = redisCommand(c, "ZADD %s 2 %s", SCHED, "{\"s\":\"sluice:{q}:notastream\",\"f\":[\"type\",\"t\"]}");
    freeReplyObject(r);
    r = redisCommand(c, "ZADD %s 3 %s", SCHED, "{\"s\":\"sluice:{q}\",\"f\":[\"type\",\"t\",\"id\",\"good\"]}");
    freeReplyObject(r);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_promote", "1", SCHED, "100"), 1, "the good member moved");
    cr_assert_eq(th_int(c, "XLEN sluice:{q}"), 1);
    cr_assert_eq(th_int(c, "ZCARD %s", SCHED), 0, "nothing left to block the schedule");
    cr_assert_eq(th_int(c, "ZCARD %s:bad", SCHED), 2, "both unmovable members parked");
    redisFree(c);
}

/* sluice_reclaim touches only entries idle past min-idle: a fresh entry of a
 * live consumer is left alone even when it was deleted (XAUTOCLAIM would drop
 * it), a stale existing one is claimed with its delivery count bumped, and a
 * stale deleted one is dead-lettered "trimmed" and acked. */
Test(functions, reclaim_is_fenced_by_idle_time, .init = setup)
{
    redisContext *c = th_redis();
    redisReply *r;
    r = redisCommand(c, "XGROUP CREATE %s g 0 MKSTREAM", STREAM);
    freeReplyObject(r);
    const char *ids[] = {"1-1", "1-2", "1-3"};
    for (int i = 0; i < 3; i++) {
        r = redisCommand(c, "XADD %s %s type t payload {}", STREAM, ids[i]);
        freeReplyObject(r);
    }
    /* ghost takes all three; then 1-1 goes stale, 1-2 stale and deleted, 1-3
     * stays fresh but deleted (its live owner is still working it). */
    r = redisCommand(c, "XREADGROUP GROUP g ghost COUNT 3 STREAMS %s >", STREAM);
    freeReplyObject(r);
    r = redisCommand(c, "XCLAIM %s g ghost 0 1-1 1-2 IDLE 60000 JUSTID", STREAM);
    freeReplyObject(r);
    r = redisCommand(c, "XDEL %s 1-2 1-3", STREAM);
    freeReplyObject(r);

    r = redisCommand(c, "FCALL sluice_reclaim 2 %s %s g live 30000 0-0 10 0", STREAM, DLQ);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3, "reply shape");
    cr_assert_str_eq(r->element[0]->str, "0-0", "pass done");
    cr_assert_eq(r->element[1]->elements, 1, "one entry claimed");
    cr_assert_str_eq(r->element[1]->element[0]->element[0]->str, "1-1");
    cr_assert_eq(r->element[2]->elements, 1, "one stale deleted entry dead-lettered");
    cr_assert_str_eq(r->element[2]->element[0]->str, "1-2");
    freeReplyObject(r);

    r = redisCommand(c, "XPENDING %s g - + 10", STREAM);
    cr_assert_eq(r->elements, 2, "1-1 (now live's) and the fresh 1-3 (still ghost's) stay pending");
    cr_assert_str_eq(r->element[0]->element[0]->str, "1-1");
    cr_assert_str_eq(r->element[0]->element[1]->str, "live");
    cr_assert_eq(r->element[0]->element[3]->integer, 2, "the claim counted a delivery");
    cr_assert_str_eq(r->element[1]->element[0]->str, "1-3");
    cr_assert_str_eq(r->element[1]->element[1]->str, "ghost");
    freeReplyObject(r);

    r = redisCommand(c, "XRANGE %s - +", DLQ);
    cr_assert_eq(r->elements, 1);
    const redisReply *f = r->element[0]->element[1];
    int reason_ok = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (!strcmp(f->element[i]->str, "reason"))
            reason_ok = !strcmp(f->element[i + 1]->str, "trimmed");
    cr_assert(reason_ok, "dead letter reason is trimmed");
    freeReplyObject(r);
    redisFree(c);
}

/* The cursor walks the pending list in pages of `count`. */
Test(functions, reclaim_walks_with_a_cursor, .init = setup)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "XGROUP CREATE %s g 0 MKSTREAM", STREAM);
    freeReplyObject(r);
    for (int i = 1; i <= 5; i++) {
        r = redisCommand(c, "XADD %s 1-%d type t", STREAM, i);
        freeReplyObject(r);
    }
    r = redisCommand(c, "XREADGROUP GROUP g ghost COUNT 5 STREAMS %s >", STREAM);
    freeReplyObject(r);
    char cursor[64] = "0-0";
    int claimed = 0, calls = 0;
    do {
        r = redisCommand(c, "FCALL sluice_reclaim 2 %s %s g live 0 %s 2 0", STREAM, DLQ, cursor);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY);
        claimed += (int)r->element[1]->elements;
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        freeReplyObject(r);
        calls++;
    } while (strcmp(cursor, "0-0") != 0 && calls < 10);
    cr_assert_eq(claimed, 5);
    cr_assert_eq(calls, 3, "pages of 2, 2, 1");
    redisFree(c);
}

/* sluice_delconsumer deletes a consumer with nothing pending (1), keeps one
 * that holds an entry (-1: XGROUP DELCONSUMER would drop that entry from the
 * pending list, and it would never be delivered again), and answers 0 for a
 * stream, group or consumer that does not exist. */
Test(functions, delconsumer_deletes_only_a_consumer_with_nothing_pending)
{
    redisContext *c = th_redis();
    char a[64], b[64], owner[64];
    long long count;
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_delconsumer", "1", STREAM, "g", "c1"), 0, "no stream");
    add(c, a, "type", "t", NULL);
    add(c, b, "type", "t", NULL);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_delconsumer", "1", STREAM, "g", "c1"), 0, "no group");
    deliver(c, "c1", 2);
    steal(c, "c2", b);
    cr_assert_eq(INT_OF(c, "XACK", STREAM, "g", b), 1);
    cr_assert_eq(th_has_consumer(c, STREAM, "g", "c2"), 1);

    cr_assert_eq(INT_OF(c, "FCALL", "sluice_delconsumer", "1", STREAM, "g", "c1"), -1, "c1 holds a");
    cr_assert_eq(th_has_consumer(c, STREAM, "g", "c1"), 1);
    cr_assert(pending(c, a, owner, NULL, &count), "a is still pending");
    cr_assert_str_eq(owner, "c1");

    cr_assert_eq(INT_OF(c, "FCALL", "sluice_delconsumer", "1", STREAM, "g", "c2"), 1, "c2 holds nothing");
    cr_assert_eq(th_has_consumer(c, STREAM, "g", "c2"), 0);
    cr_assert_eq(th_has_consumer(c, STREAM, "g", "c1"), 1);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_delconsumer", "1", STREAM, "g", "c2"), 0, "already gone");
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_delconsumer", "1", STREAM, "g", "nobody"), 0);
    redisReply *rep = cmdl(c, "XPENDING", STREAM, "g", (const char *)NULL);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 4 && rep->element[0]->integer == 1,
              "a, and only a, is pending");
    freeReplyObject(rep);
    redisFree(c);
}

/* ---- schedules: sluice_cron_fire / sluice_cron_last ---- */

#define CRON "sluice:{q}:cron:s"
#define CRON_TICKS "sluice:{q}:cron:s:ticks"

/* sluice_cron_fire of tick (due = tick) with job id cron:s:TICK: its outcome. */
static void cron_fire(redisContext *c, long long tick, const char *mode, char out[16])
{
    char t[24], id[48];
    snprintf(t, sizeof t, "%lld", tick);
    snprintf(id, sizeof id, "cron:s:%lld", tick);
    redisReply *rep = cmdl(c, "FCALL", "sluice_cron_fire", "4", STREAM, SCHED, CRON, CRON_TICKS, t, t, mode, "type",
                           "t", "payload", "{}", "id", id, (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    cr_assert_eq(rep->elements, 2);
    cr_assert_eq(rep->element[1]->type, REDIS_REPLY_INTEGER, "server time");
    snprintf(out, 16, "%s", rep->element[0]->str);
    freeReplyObject(rep);
}

static long long server_now(redisContext *c)
{
    redisReply *rep = cmdl(c, "TIME", (const char *)NULL);
    long long ms = atoll(rep->element[0]->str) * 1000 + atoll(rep->element[1]->str) / 1000;
    freeReplyObject(rep);
    return ms;
}

Test(functions, cron_fire_enqueues_each_tick_once_by_server_time)
{
    redisContext *c = th_redis();
    char out[16];
    long long now = server_now(c), tick = now - now % 1000 - 5000;
    cron_fire(c, tick, "tick", out);
    cr_assert_str_eq(out, "enqueued");
    cron_fire(c, tick, "tick", out);
    cr_assert_str_eq(out, "duplicate", "a second call for the tick enqueues nothing");
    cron_fire(c, tick - 1000, "tick", out);
    cr_assert_str_eq(out, "enqueued", "an earlier tick not yet handled still counts (order does not matter)");
    cron_fire(c, now + 60000, "tick", out);
    cr_assert_str_eq(out, "early", "a tick after Redis's clock is refused");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 2);
    cr_assert_eq(INT_OF(c, "ZCARD", CRON_TICKS), 2, "the early tick was not recorded");

    /* paused: the tick is recorded as handled, nothing enqueued */
    INT_OF(c, "HSET", CRON, "paused", "x");
    cron_fire(c, tick + 1000, "tick", out);
    cr_assert_str_eq(out, "paused");
    cron_fire(c, tick + 1000, "tick", out);
    cr_assert_str_eq(out, "duplicate");
    cron_fire(c, 0, "trigger", out);
    cr_assert_str_eq(out, "enqueued", "a trigger runs paused or not");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 3);
    cr_assert_eq(INT_OF(c, "ZCARD", CRON_TICKS), 3, "a trigger records no tick");

    redisReply *rep = cmdl(c, "FCALL", "sluice_cron_last", "2", CRON, CRON_TICKS, (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(rep->element[0]->integer, tick + 1000, "the last tick handled");
    cr_assert_eq(rep->element[2]->integer, 1, "paused");
    freeReplyObject(rep);
    INT_OF(c, "DEL", CRON, CRON_TICKS);
    rep = cmdl(c, "FCALL", "sluice_cron_last", "2", CRON, CRON_TICKS, (const char *)NULL);
    cr_assert_eq(rep->element[0]->integer, -1, "no tick ever handled");
    cr_assert_eq(rep->element[2]->integer, 0);
    freeReplyObject(rep);
    redisFree(c);
}

Test(functions, cron_fire_keeps_the_latest_1000_ticks_and_refuses_older_ones)
{
    redisContext *c = th_redis();
    char out[16];
    long long base = 1000000000000LL;
    for (int i = 0; i < 1001; i++)
        cron_fire(c, base + i * 1000LL, "tick", out);
    cr_assert_eq(INT_OF(c, "ZCARD", CRON_TICKS), 1000, "bounded");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 1001);
    cron_fire(c, base - 1000, "tick", out);
    cr_assert_str_eq(out, "duplicate", "older than every tick kept: treated as handled");
    redisFree(c);
}

Test(functions, cron_fire_refuses_bad_arguments_and_writes_nothing)
{
    redisContext *c = th_redis();
    ERR_OF(c, "tick and due must be epoch milliseconds", "FCALL", "sluice_cron_fire", "4", STREAM, SCHED, CRON,
           CRON_TICKS, "soon", "1", "tick", "type", "t", "payload", "{}", "id", "x");
    ERR_OF(c, "mode must be", "FCALL", "sluice_cron_fire", "4", STREAM, SCHED, CRON, CRON_TICKS, "1", "1", "later",
           "type", "t", "payload", "{}", "id", "x");
    ERR_OF(c, "a scheduled job needs an id field", "FCALL", "sluice_cron_fire", "4", STREAM, SCHED, CRON, CRON_TICKS,
           "1", "1", "tick", "type", "t", "payload", "{}");
    ERR_OF(c, "expected field/value pairs", "FCALL", "sluice_cron_fire", "4", STREAM, SCHED, CRON, CRON_TICKS, "1", "1",
           "tick", "type");
    cr_assert_eq(INT_OF(c, "EXISTS", STREAM, CRON, CRON_TICKS), 0);
    redisFree(c);
}

/* ---- limits: sluice_limit_rate / acquire / release / extend, settle "defer" ---- */

#define BUCKET "sluice:{:limit:api:t1}"

Test(functions, limit_rate_reserves_turns_at_the_rate_after_the_burst)
{
    redisContext *c = th_redis();
    /* 10 per second (100 ms apart), burst 3: three now, then turns 100 ms apart */
    long long waits[6];
    for (int i = 0; i < 6; i++)
        waits[i] = INT_OF(c, "FCALL", "sluice_limit_rate", "1", BUCKET, "100", "3");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(waits[i], 0, "the burst starts at once (call %d waited %lld)", i, waits[i]);
    for (int i = 3; i < 6; i++) /* reserved turns: ~100, ~200, ~300 ms from now (less the ms the calls took) */
        cr_assert(waits[i] > (i - 2) * 100 - 50 && waits[i] <= (i - 2) * 100, "call %d waits %lld ms", i, waits[i]);
    cr_assert_gt(INT_OF(c, "PTTL", BUCKET), 0, "the bucket expires once idle");
    ERR_OF(c, "interval and burst must be positive", "FCALL", "sluice_limit_rate", "1", BUCKET, "0", "3");
    redisFree(c);
}

static long long acquire(redisContext *c, const char *holder, long long *wait)
{
    redisReply *rep = cmdl(c, "FCALL", "sluice_limit_acquire", "1", BUCKET, "2", holder, "3000", (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    long long ok = rep->element[0]->integer;
    *wait = rep->element[1]->integer;
    freeReplyObject(rep);
    return ok;
}

Test(functions, limit_acquire_holds_at_most_the_slots_and_lapsed_holds_free_them)
{
    redisContext *c = th_redis();
    long long wait;
    cr_assert_eq(acquire(c, "a", &wait), 1);
    cr_assert_eq(acquire(c, "b", &wait), 1);
    cr_assert_eq(acquire(c, "a", &wait), 1, "a holder asking again keeps its slot");
    cr_assert_eq(acquire(c, "c", &wait), 0, "two slots, both held");
    cr_assert(wait > 0 && wait <= 3000, "until the first hold lapses: %lld", wait);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_limit_release", "1", BUCKET, "a"), 1);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_limit_release", "1", BUCKET, "a"), 0, "released once");
    cr_assert_eq(acquire(c, "c", &wait), 1, "a's slot is free");
    /* b's hold lapses (as a killed worker's would): backdate it */
    INT_OF(c, "ZADD", BUCKET, "1", "b");
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_limit_extend", "1", BUCKET, "b", "3000"), 0,
                 "a lapsed hold is not revived");
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_limit_extend", "1", BUCKET, "c", "3000"), 1);
    cr_assert_eq(acquire(c, "d", &wait), 1, "b's lapsed slot went to d");
    cr_assert_eq(INT_OF(c, "ZCARD", BUCKET), 2);
    redisFree(c);
}

Test(functions, settle_defer_keeps_the_attempt_and_carries_the_reservation)
{
    redisContext *c = th_redis();
    char id[64];
    add(c, id, "type", "t", "payload", "{}", "id", "j1", "attempt", "3", "limit_at", "old:5", (const char *)NULL);
    deliver(c, "c1", 1);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_settle", "4", STREAM, SCHED, DLQ, RSTREAM, "g", "c1", id, "defer", "250",
                        "", "", "3", "1", "0", "j1", "api:120"),
                 1);
    long long due;
    cJSON *m = only_sched_member(c, &due);
    cJSON *f = cJSON_GetObjectItem(m, "f");
    cr_assert_str_eq(json_get(f, "attempt"), "3", "no attempt spent");
    cr_assert_str_eq(json_get(f, "limit_at"), "api:120", "the new reservation replaces the old");
    cr_assert_str_eq(json_get(f, "id"), "j1");
    cr_assert_str_eq(cJSON_GetObjectItem(m, "s")->valuestring, RSTREAM, "back to this group only");
    cJSON_Delete(m);
    cr_assert_eq(INT_OF(c, "XLEN", DLQ), 0);
    redisFree(c);
}

/* ---- cancel: sluice_cancel, sluice_begin, sluice_cancel_settle, sluice_cancel_sweep ---- */

#define CANCELS "sluice:{q}:cancels"
#define CANCELS_SINCE "sluice:{q}:cancels:since"
#define RECORD_PREFIX "sluice:{q}:cancelled:"

/* FCALL sluice_cancel of job_id, record TTL 600 s, with the places given as a
 * NULL-terminated list of (where, what) arguments. */
static redisReply *cancel_call(redisContext *c, const char *job_id, ...)
{
    char record[256];
    snprintf(record, sizeof record, RECORD_PREFIX "%s", job_id);
    const char *argv[64] = {"FCALL", "sluice_cancel", "4", STREAM, SCHED, CANCELS, record, job_id, "600"};
    int argc = 9;
    va_list ap;
    va_start(ap, job_id);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        cr_assert_lt(argc, 64);
        argv[argc++] = s;
    }
    va_end(ap);
    return cmdv(c, argc, argv);
}

/* Assert sluice_cancel's reply {verdict, state, open, moved}, exactly. */
static void cancel_reply(redisReply *rep, const char *verdict, const char *state, long long open, long long moved)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "sluice_cancel: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    cr_assert_eq(rep->elements, 4);
    cr_assert_str_eq(rep->element[0]->str, verdict, "verdict");
    cr_assert_str_eq(rep->element[1]->str, state, "state");
    cr_assert_eq(rep->element[2]->integer, open, "open");
    cr_assert_eq(rep->element[3]->integer, moved, "moved");
    freeReplyObject(rep);
}

/* The hash key as a flat [f, v, ...] reply without duplicate fields (caller frees). */
static redisReply *hgetall(redisContext *c, const char *key)
{
    redisReply *rep = cmdl(c, "HGETALL", key, (const char *)NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY);
    fv_no_duplicates(rep);
    return rep;
}

/* Assert the record of job_id's cancel: exactly state, job_id, at (in
 * [before, after]), open, outcome (unless NULL) and `held` place fields
 * h:GROUP SID STREAM, each "1"; its TTL at most the 600 s given. */
static void assert_record(redisContext *c, const char *job_id, const char *state, const char *open, const char *outcome,
                          const char *const *held, size_t nheld, long long before, long long after)
{
    char key[256];
    snprintf(key, sizeof key, RECORD_PREFIX "%s", job_id);
    redisReply *rep = hgetall(c, key);
    cr_assert_eq(rep->elements, 2 * (4 + (outcome != NULL) + nheld), "%s: %zu fields", key, rep->elements / 2);
    cr_assert_str_eq(th_field_str(rep, "state"), state);
    cr_assert_str_eq(th_field_str(rep, "job_id"), job_id);
    cr_assert_str_eq(th_field_str(rep, "open"), open);
    long long at = strtoll(th_field_str(rep, "at"), NULL, 10);
    cr_assert(at >= before && at <= after, "at %lld not in [%lld, %lld]", at, before, after);
    if (outcome)
        cr_assert_str_eq(th_field_str(rep, "outcome"), outcome);
    for (size_t i = 0; i < nheld; i++) {
        cr_assert_not_null(th_field_str(rep, held[i]), "%s has no field %s", key, held[i]);
        cr_assert_str_eq(th_field_str(rep, held[i]), "1");
    }
    freeReplyObject(rep);
    long long ttl = INT_OF(c, "TTL", key);
    cr_assert(ttl > 590 && ttl <= 600, "TTL %lld", ttl);
}

/* The record's field name for group g's place at entry sid of STREAM (held_field). */
static void held_name(char out[128], const char *sid)
{
    snprintf(out, 128, "h:g %s " STREAM, sid);
}

/* The only member of SCHED, copied into out (1024 bytes). */
static void sched_member_text(redisContext *c, char out[1024])
{
    redisReply *rep = cmdl(c, "ZRANGE", SCHED, "0", "-1", (const char *)NULL);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 1, "one sched member");
    snprintf(out, 1024, "%s", rep->element[0]->str);
    freeReplyObject(rep);
}

/* ZSCORE of member in key, -1 when it is not a member. */
static long long zscore(redisContext *c, const char *key, const char *member)
{
    redisReply *rep = cmdl(c, "ZSCORE", key, member, (const char *)NULL);
    long long v = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : -1;
    freeReplyObject(rep);
    return v;
}

/* GET key into out (128 bytes; "" when it does not exist); 1 if it exists. */
static int get_str(redisContext *c, const char *key, char out[128])
{
    redisReply *rep = cmdl(c, "GET", key, (const char *)NULL);
    int found = rep->type == REDIS_REPLY_STRING;
    snprintf(out, 128, "%s", found ? rep->str : "");
    freeReplyObject(rep);
    return found;
}

/* A command with a status reply (XGROUP CREATE, SET), asserted not to fail. */
#define OK_OF(c, ...) ok_of(cmdl((c), __VA_ARGS__, (const char *)NULL))
static void ok_of(redisReply *rep)
{
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    freeReplyObject(rep);
}

/* FCALL sluice_begin of entry sid (job job_id) by consumer, started record TTL 30 s. */
static long long begin(redisContext *c, const char *consumer, const char *sid, const char *job_id)
{
    char record[256];
    snprintf(record, sizeof record, RECORD_PREFIX "%s", job_id);
    return INT_OF(c, "FCALL", "sluice_begin", "3", STREAM, CANCELS, record, "g", consumer, sid, job_id, "30000");
}

/* FCALL sluice_cancel_settle of entry sid (job job_id) by consumer with outcome. */
static long long cancel_settle(redisContext *c, const char *consumer, const char *sid, const char *job_id,
                               const char *outcome)
{
    char record[256];
    snprintf(record, sizeof record, RECORD_PREFIX "%s", job_id);
    return INT_OF(c, "FCALL", "sluice_cancel_settle", "3", STREAM, CANCELS, record, "g", consumer, sid, job_id,
                  outcome);
}

/* The started record of entry sid in group g: its PTTL (-2 when absent). */
static long long run_pttl(redisContext *c, const char *sid)
{
    char key[128];
    snprintf(key, sizeof key, STREAM ":run:g:%s", sid);
    return INT_OF(c, "PTTL", key);
}

Test(functions, cancel_removes_a_scheduled_member)
{
    redisContext *c = th_redis();
    char member[1024];
    freeReplyObject(cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "60000", "id", "job-1", "type", "t",
                         (const char *)NULL));
    sched_member_text(c, member);
    long long before = th_server_ms(c);
    cancel_reply(cancel_call(c, "job-1", "sched", member, NULL), "cancelled", "scheduled", 0, 0);
    long long after = th_server_ms(c);
    cr_assert_eq(INT_OF(c, "EXISTS", SCHED), 0, "the member is gone");
    assert_record(c, "job-1", "scheduled", "0", "removed", NULL, 0, before, after);
    cr_assert_eq(INT_OF(c, "EXISTS", CANCELS, CANCELS_SINCE, STREAM), 0, "nothing left to settle");

    /* Again, with the member that is gone now (moved) and with no place. */
    cancel_reply(cancel_call(c, "job-1", "sched", member, NULL), "already", "scheduled", 0, 1);
    cancel_reply(cancel_call(c, "job-1", NULL), "already", "scheduled", 0, 0);
    assert_record(c, "job-1", "scheduled", "0", "removed", NULL, 0, before, after);
    cr_assert_eq(th_int(c, "HGET %s scheduled", CANCELS ":removed"), 1, "counted once, for the metrics");

    /* A member of another job is left alone: it counts as moved. */
    freeReplyObject(cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "60000", "id", "job-2", "type", "t",
                         (const char *)NULL));
    sched_member_text(c, member);
    cancel_reply(cancel_call(c, "job-3", "sched", member, NULL), "not_found", "", 0, 1);
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 1);
    cr_assert_eq(INT_OF(c, "EXISTS", RECORD_PREFIX "job-3", CANCELS), 0);
    redisFree(c);
}

Test(functions, cancel_deletes_an_entry_no_group_holds)
{
    redisContext *c = th_redis();
    char s0[64], s1[64], s2[64], s3[64], owner[64];
    /* no group at all */
    add(c, s0, "type", "t", "id", "job-0", NULL);
    long long before = th_server_ms(c);
    cancel_reply(cancel_call(c, "job-0", "stream", s0, NULL), "cancelled", "queued", 0, 0);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 0);

    /* a group that has not read them */
    add(c, s1, "type", "t", "id", "job-1", NULL);
    add(c, s2, "type", "t", "id", "job-2", NULL);
    add(c, s3, "type", "t", NULL); /* no id field: known by its stream id */
    OK_OF(c, "XGROUP", "CREATE", STREAM, "g", "0");
    cancel_reply(cancel_call(c, "job-1", "stream", s1, NULL), "cancelled", "queued", 0, 0);
    cancel_reply(cancel_call(c, s3, NULL), "cancelled", "queued", 0, 0);
    long long after = th_server_ms(c);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 1);
    assert_record(c, "job-0", "queued", "0", "removed", NULL, 0, before, after);
    assert_record(c, "job-1", "queued", "0", "removed", NULL, 0, before, after);
    assert_record(c, s3, "queued", "0", "removed", NULL, 0, before, after);
    cr_assert_eq(INT_OF(c, "EXISTS", CANCELS, CANCELS_SINCE), 0, "nothing left to settle");
    cr_assert_eq(th_int(c, "HGET %s queued", CANCELS ":removed"), 3, "each deletion counted for the metrics");
    deliver(c, "c1", 10);
    cr_assert_eq(th_pending(c, STREAM, "g"), 1, "the group reads only job-2");
    cr_assert(pending(c, s2, owner, NULL, NULL));
    redisFree(c);
}

Test(functions, cancel_puts_a_pending_entry_in_the_cancel_set)
{
    redisContext *c = th_redis();
    char s1[64], s2[64], s3[64], owner[64], h1[128], h2[128], h3[128];
    add(c, s1, "type", "t", "id", "job-1", NULL);
    add(c, s2, "type", "t", "id", "job-2", NULL);
    add(c, s3, "type", "t", "id", "job-3", NULL);
    held_name(h1, s1), held_name(h2, s2), held_name(h3, s3);

    /* delivered before any cancel: "delivered" (it may have started) */
    deliver(c, "c1", 1);
    long long before = th_server_ms(c);
    cancel_reply(cancel_call(c, "job-1", "stream", s1, NULL), "cancelled", "delivered", 1, 0);
    long long after = th_server_ms(c);
    const char *held1[] = {h1};
    assert_record(c, "job-1", "delivered", "1", NULL, held1, 1, before, after);
    redisReply *rep = hgetall(c, RECORD_PREFIX "job-1");
    long long at = strtoll(th_field_str(rep, "at"), NULL, 10);
    cr_assert_null(th_field_str(rep, "outcome"), "nothing settled yet");
    freeReplyObject(rep);
    cr_assert_eq(zscore(c, CANCELS, "job-1"), at, "in the cancel set since its cancel");
    char since[128];
    cr_assert(get_str(c, CANCELS_SINCE, since));
    cr_assert_eq(strtoll(since, NULL, 10), at, "the set became non-empty then");
    cr_assert(pending(c, s1, owner, NULL, NULL), "still c1's to settle");
    cr_assert_str_eq(owner, "c1");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 3);
    /* Again: nothing new, so "already", and the record is as it was. */
    cancel_reply(cancel_call(c, "job-1", "stream", s1, NULL), "already", "delivered", 0, 0);
    assert_record(c, "job-1", "delivered", "1", NULL, held1, 1, before, after);
    cr_assert_eq(INT_OF(c, "ZCARD", CANCELS), 1);

    /* delivered after the set became non-empty: "queued" (its worker checks it
     * with sluice_begin before it starts it); a later millisecond than since */
    th_sleep_ms(5);
    deliver(c, "c1", 1);
    cancel_reply(cancel_call(c, "job-2", "stream", s2, NULL), "cancelled", "queued", 1, 0);
    const char *held2[] = {h2};
    assert_record(c, "job-2", "queued", "1", NULL, held2, 1, before, th_server_ms(c));

    /* checked by its worker (started record): "running" */
    deliver(c, "c1", 1);
    cr_assert_eq(INT_OF(c, "ZCARD", CANCELS), 2);
    cr_assert_eq(begin(c, "c1", s3, "job-3"), 0, "not cancelled: run it");
    long long pttl = run_pttl(c, s3);
    cr_assert(pttl > 0 && pttl <= 30000, "started record PTTL %lld", pttl);
    cancel_reply(cancel_call(c, "job-3", "stream", s3, NULL), "cancelled", "running", 1, 0);
    const char *held3[] = {h3};
    assert_record(c, "job-3", "running", "1", NULL, held3, 1, before, th_server_ms(c));
    cr_assert_eq(INT_OF(c, "ZCARD", CANCELS), 3);
    cr_assert(get_str(c, CANCELS_SINCE, since));
    cr_assert_eq(strtoll(since, NULL, 10), at, "since is kept while the set is not empty");
    cr_assert_eq(th_pending(c, STREAM, "g"), 3, "nothing acked by the cancel");
    redisFree(c);
}

Test(functions, begin_skips_a_cancelled_job_and_settles_it)
{
    redisContext *c = th_redis();
    char s1[64], s2[64], owner[64];
    add(c, s1, "type", "t", "id", "job-1", NULL);
    add(c, s2, "type", "t", "id", "job-2", NULL);
    deliver(c, "c1", 2);
    long long before = th_server_ms(c);
    cancel_reply(cancel_call(c, "job-1", "stream", s1, NULL), "cancelled", "delivered", 1, 0);
    long long after = th_server_ms(c);

    cr_assert_eq(begin(c, "c2", s1, "job-1"), -1, "cancelled, and not c2's: do not run it");
    cr_assert(pending(c, s1, owner, NULL, NULL));
    cr_assert_str_eq(owner, "c1");
    cr_assert_neq(zscore(c, CANCELS, "job-1"), -1, "still to settle");
    cr_assert_eq(run_pttl(c, s1), -2, "no started record");

    cr_assert_eq(begin(c, "c1", s1, "job-1"), 1, "cancelled: acked here, do not run it");
    cr_assert_not(pending(c, s1, owner, NULL, NULL), "acked");
    cr_assert_eq(run_pttl(c, s1), -2);
    assert_record(c, "job-1", "delivered", "0", "skipped", NULL, 0, before, after);
    cr_assert_eq(INT_OF(c, "EXISTS", CANCELS, CANCELS_SINCE), 0, "the set emptied");

    /* a job that is not cancelled runs, with its started record */
    cr_assert_eq(begin(c, "c1", s2, "job-2"), 0);
    long long pttl = run_pttl(c, s2);
    cr_assert(pttl > 0 && pttl <= 30000, "PTTL %lld", pttl);
    cr_assert(pending(c, s2, owner, NULL, NULL), "begin does not ack a job it lets run");
    redisFree(c);
}

Test(functions, cancel_settle_acks_a_running_job_with_its_outcome)
{
    redisContext *c = th_redis();
    char s1[64], owner[64];
    add(c, s1, "type", "t", "id", "job-1", NULL);
    deliver(c, "c1", 1);
    cr_assert_eq(begin(c, "c1", s1, "job-1"), 0);
    long long before = th_server_ms(c);
    cancel_reply(cancel_call(c, "job-1", "stream", s1, NULL), "cancelled", "running", 1, 0);
    long long after = th_server_ms(c);

    cr_assert_eq(cancel_settle(c, "c2", s1, "job-1", "killed"), 0, "not c2's");
    cr_assert(pending(c, s1, owner, NULL, NULL));
    cr_assert_gt(run_pttl(c, s1), 0, "the started record stays");
    cr_assert_neq(zscore(c, CANCELS, "job-1"), -1);

    cr_assert_eq(cancel_settle(c, "c1", s1, "job-1", "killed"), 1);
    cr_assert_not(pending(c, s1, owner, NULL, NULL), "acked");
    cr_assert_eq(run_pttl(c, s1), -2, "the started record is gone");
    assert_record(c, "job-1", "running", "0", "killed", NULL, 0, before, after);
    cr_assert_eq(INT_OF(c, "EXISTS", CANCELS, CANCELS_SINCE), 0);
    cr_assert_eq(cancel_settle(c, "c1", s1, "job-1", "stopped"), 0, "settled once");
    assert_record(c, "job-1", "running", "0", "killed", NULL, 0, before, after);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 1, "acked, not deleted");
    redisFree(c);
}

Test(functions, cancel_sweep_forgets_places_settled_some_other_way)
{
    redisContext *c = th_redis();
    char s1[64], s2[64], s3[64], h2[128];
    add(c, s1, "type", "t", "id", "job-1", NULL);
    add(c, s2, "type", "t", "id", "job-2", NULL);
    add(c, s3, "type", "t", "id", "job-3", NULL);
    held_name(h2, s2);
    deliver(c, "c1", 3);
    long long before = th_server_ms(c);
    cancel_reply(cancel_call(c, "job-1", "stream", s1, NULL), "cancelled", "delivered", 1, 0);
    cancel_reply(cancel_call(c, "job-2", "stream", s2, NULL), "cancelled", "delivered", 1, 0);
    cancel_reply(cancel_call(c, "job-3", "stream", s3, NULL), "cancelled", "delivered", 1, 0);
    long long after = th_server_ms(c);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_cancel_sweep", "1", CANCELS, "100"), 0, "each still held");
    cr_assert_eq(INT_OF(c, "ZCARD", CANCELS), 3);

    /* job-1 completed before its supervisor could stop it; job-3's record expired */
    cr_assert_eq(INT_OF(c, "XACK", STREAM, "g", s1), 1);
    cr_assert_eq(INT_OF(c, "DEL", RECORD_PREFIX "job-3"), 1);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_cancel_sweep", "1", CANCELS, "100"), 2);
    cr_assert_eq(INT_OF(c, "ZCARD", CANCELS), 1);
    cr_assert_neq(zscore(c, CANCELS, "job-2"), -1, "job-2 is still held");
    assert_record(c, "job-1", "delivered", "0", NULL, NULL, 0, before, after);
    const char *held2[] = {h2};
    assert_record(c, "job-2", "delivered", "1", NULL, held2, 1, before, after);
    cr_assert_eq(INT_OF(c, "EXISTS", CANCELS_SINCE), 1);

    /* its group is deleted: the last place goes, and the set with it */
    cr_assert_eq(INT_OF(c, "XGROUP", "DESTROY", STREAM, "g"), 1);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_cancel_sweep", "1", CANCELS, "100"), 1);
    assert_record(c, "job-2", "delivered", "0", NULL, NULL, 0, before, after);
    cr_assert_eq(INT_OF(c, "EXISTS", CANCELS, CANCELS_SINCE), 0);
    cr_assert_eq(INT_OF(c, "FCALL", "sluice_cancel_sweep", "1", CANCELS, "100"), 0, "nothing left");
    redisFree(c);
}

Test(functions, cancel_refuses_finished_and_unknown_jobs)
{
    redisContext *c = th_redis();
    char s1[64], s2[64];
    add(c, s1, "type", "t", "id", "job-1", NULL);
    add(c, s2, "type", "t", "id", "job-2", NULL);
    deliver(c, "c1", 2);
    cr_assert_eq(INT_OF(c, "XACK", STREAM, "g", s1), 1, "job-1 completed");
    cr_assert_eq(int_of(settle(c, "c1", s2, "dead", "0", "failed", "e", "1", "1", "0", "job-2")), 1);
    cancel_reply(cancel_call(c, "job-1", "stream", s1, NULL), "finished", "", 0, 0);
    cancel_reply(cancel_call(c, "job-2", "stream", s2, NULL), "finished", "", 0, 0);
    cancel_reply(cancel_call(c, "nosuch", NULL), "not_found", "", 0, 0);
    cancel_reply(cancel_call(c, "1-1", NULL), "not_found", "", 0, 1); /* a stream id: its entry is the place */
    cancel_reply(cancel_call(c, "job-9", "stream", s1, NULL), "not_found", "", 0, 1); /* job-1's entry */
    cr_assert_eq(INT_OF(c, "EXISTS", RECORD_PREFIX "job-1", RECORD_PREFIX "job-2", RECORD_PREFIX "nosuch",
                        RECORD_PREFIX "1-1", RECORD_PREFIX "job-9", CANCELS, CANCELS_SINCE),
                 0, "nothing written");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 2);
    cr_assert_eq(INT_OF(c, "XLEN", DLQ), 1);
    redisFree(c);
}

Test(functions, cancel_refuses_bad_arguments_and_writes_nothing)
{
    redisContext *c = th_redis();
    char member[1024], s1[64];
    freeReplyObject(cmdl(c, "FCALL", "sluice_schedule", "2", STREAM, SCHED, "in", "60000", "id", "job-1", "type", "t",
                         (const char *)NULL));
    sched_member_text(c, member);
    add(c, s1, "type", "t", "id", "job-1", NULL);
    OK_OF(c, "ZADD", CANCELS, "1", "old-job"); /* a cancel long expired: trimmed by the next good call only */
    const char *want = "expected a job id and a positive TTL";
    ERR_OF(c, want, "FCALL", "sluice_cancel", "4", STREAM, SCHED, CANCELS, RECORD_PREFIX, "", "600", "sched", member);
    ERR_OF(c, want, "FCALL", "sluice_cancel", "4", STREAM, SCHED, CANCELS, RECORD_PREFIX "job-1", "job-1", "0", "sched",
           member);
    ERR_OF(c, want, "FCALL", "sluice_cancel", "4", STREAM, SCHED, CANCELS, RECORD_PREFIX "job-1", "job-1", "1d",
           "sched", member);
    ERR_OF(c, want, "FCALL", "sluice_cancel", "4", STREAM, SCHED, CANCELS, RECORD_PREFIX "job-1", "job-1");
    /* a bad place after good ones: the good ones are not cancelled either */
    err_of(cancel_call(c, "job-1", "sched", member, "stream", s1, "stream", "nope", NULL), "invalid stream ID nope");
    err_of(cancel_call(c, "job-1", "sched", member, "stream", s1, "bogus", "x", NULL), "unknown place bogus");
    err_of(cancel_call(c, "job-1", "sched", member, "stream", NULL), "expected (place, what) pairs");
    cr_assert_eq(INT_OF(c, "ZCARD", SCHED), 1, "the scheduled job is still there");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 1, "the stream entry too");
    cr_assert_eq(zscore(c, CANCELS, "old-job"), 1, "the cancel set is as it was");
    cr_assert_eq(INT_OF(c, "EXISTS", RECORD_PREFIX "job-1", CANCELS_SINCE), 0);
    redisFree(c);
}

/* ---- unique jobs: sluice_enqueue_unique, sluice_complete ---- */

/* FCALL sluice_enqueue_unique with key sluice:{q}:idem:K, TTL 600 s, mode
 * ("" | "in" | "at") and ms, and the job's fields (NULL-terminated);
 * {id, enqueued} as idem_reply. */
static long long enqueue_unique(redisContext *c, const char *key, const char *mode, const char *ms, char id[64], ...)
{
    const char *argv[64] = {"FCALL", "sluice_enqueue_unique", "3", STREAM, key, SCHED, "600", mode, ms};
    int argc = 9;
    va_list ap;
    va_start(ap, id);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        cr_assert_lt(argc, 64);
        argv[argc++] = s;
    }
    va_end(ap);
    return idem_reply(cmdv(c, argc, argv), id);
}

/* FCALL sluice_complete of entry sid (job job_id) by consumer, done-marker prefix done ("" = none) for 60 s. */
static long long complete(redisContext *c, const char *consumer, const char *sid, const char *job_id, const char *done)
{
    return INT_OF(c, "FCALL", "sluice_complete", "1", STREAM, "g", consumer, sid, job_id, done, "60");
}

Test(functions, enqueue_unique_is_a_duplicate_until_completed)
{
    redisContext *c = th_redis();
    char id[64], again[64], val[128], owner[64];
    cr_assert_eq(enqueue_unique(c, IDEM, "", "0", id, "type", "t", "unique_key", "forged", "payload", "{}", NULL), 1);
    redisReply *rep = redisCommand(c, "XRANGE %s - +", STREAM);
    cr_assert(rep && rep->elements == 1);
    cr_assert_str_eq(rep->element[0]->element[0]->str, id);
    const redisReply *fv = rep->element[0]->element[1];
    fv_no_duplicates(fv);
    cr_assert_eq(fv->elements, 6, "type, payload and unique_key");
    cr_assert_str_eq(th_field_str(fv, "unique_key"), "order-42", "K of its key, not the caller's field");
    cr_assert_str_eq(th_field_str(fv, "payload"), "{}");
    freeReplyObject(rep);
    cr_assert(get_str(c, IDEM, val));
    cr_assert_str_eq(val, id);
    long long ttl = INT_OF(c, "TTL", IDEM);
    cr_assert(ttl > 590 && ttl <= 600, "TTL %lld", ttl);

    cr_assert_eq(enqueue_unique(c, IDEM, "", "0", again, "type", "t", "payload", "{}", NULL), 0, "queued: duplicate");
    cr_assert_str_eq(again, id);
    deliver(c, "c1", 1);
    cr_assert_eq(enqueue_unique(c, IDEM, "", "0", again, "type", "t", "payload", "{}", NULL), 0,
                 "delivered: duplicate");
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 1);

    cr_assert_eq(complete(c, "c2", id, id, "sluice:{q}:done:g:"), 0, "not c2's");
    cr_assert(pending(c, id, owner, NULL, NULL));
    cr_assert(get_str(c, IDEM, val), "a refused completion keeps the key");
    cr_assert_eq(complete(c, "c1", id, id, "sluice:{q}:done:g:"), 1);
    cr_assert_not(pending(c, id, owner, NULL, NULL), "acked");
    cr_assert_not(get_str(c, IDEM, val), "released at completion, long before its TTL");
    char done[128];
    snprintf(done, sizeof done, "sluice:{q}:done:g:%s", id);
    cr_assert(get_str(c, done, val), "done marker");
    cr_assert_str_eq(val, "1");
    ttl = INT_OF(c, "TTL", done);
    cr_assert(ttl > 50 && ttl <= 60, "done marker TTL %lld", ttl);

    cr_assert_eq(enqueue_unique(c, IDEM, "", "0", again, "type", "t", "payload", "{}", NULL), 1, "enqueues again");
    cr_assert_str_neq(again, id);
    cr_assert_eq(INT_OF(c, "XLEN", STREAM), 2);
    redisFree(c);
}

Test(functions, enqueue_unique_key_released_by_a_dead_letter_not_a_retry)
{
    redisContext *c = th_redis();
    char s1[64], s2[64], id[64], val[128];
    cr_assert_eq(enqueue_unique(c, IDEM, "", "0", s1, "id", "job-1", "type", "t", NULL), 1);
    cr_assert_str_eq(s1, "job-1");
    cr_assert_eq(enqueue_unique(c, "sluice:{q}:idem:k2", "", "0", s2, "id", "job-2", "type", "t", NULL), 1);
    redisReply *rep = redisCommand(c, "XRANGE %s - +", STREAM);
    cr_assert(rep && rep->elements == 2);
    snprintf(s1, sizeof s1, "%s", rep->element[0]->element[0]->str);
    snprintf(s2, sizeof s2, "%s", rep->element[1]->element[0]->str);
    freeReplyObject(rep);
    deliver(c, "c1", 2);

    cr_assert_eq(int_of(settle(c, "c1", s1, "retry", "60000", "", "boom", "1", "1", "0", "job-1")), 1);
    cr_assert(get_str(c, IDEM, val), "a retry keeps the key: the job is not done");
    cr_assert_str_eq(val, "job-1");
    long long due;
    cJSON *m = only_sched_member(c, &due);
    cr_assert_str_eq(json_get(cJSON_GetObjectItem(m, "f"), "unique_key"), "order-42", "the retry is still unique");
    cJSON_Delete(m);

    cr_assert_eq(int_of(settle(c, "c1", s2, "dead", "0", "failed", "e", "1", "1", "0", "job-2")), 1);
    cr_assert_not(get_str(c, "sluice:{q}:idem:k2", val), "a dead letter releases it");
    cr_assert_eq(enqueue_unique(c, "sluice:{q}:idem:k2", "", "0", id, "id", "job-3", "type", "t", NULL), 1);
    cr_assert_eq(enqueue_unique(c, IDEM, "", "0", id, "id", "job-4", "type", "t", NULL), 0);
    cr_assert_str_eq(id, "job-1");
    redisFree(c);
}

Test(functions, enqueue_unique_key_released_by_cancel)
{
    redisContext *c = th_redis();
    char id[64], member[1024], val[128], sid[64];

    /* scheduled: removed, key released */
    cr_assert_eq(enqueue_unique(c, IDEM, "in", "60000", id, "id", "job-1", "type", "t", NULL), 1);
    sched_member_text(c, member);
    cancel_reply(cancel_call(c, "job-1", "sched", member, NULL), "cancelled", "scheduled", 0, 0);
    cr_assert_not(get_str(c, IDEM, val));

    /* read by no group: deleted, key released */
    cr_assert_eq(enqueue_unique(c, "sluice:{q}:idem:k2", "", "0", sid, "type", "t", NULL), 1);
    cancel_reply(cancel_call(c, sid, NULL), "cancelled", "queued", 0, 0);
    cr_assert_not(get_str(c, "sluice:{q}:idem:k2", val));

    /* held: released when the place settles, not before */
    cr_assert_eq(enqueue_unique(c, "sluice:{q}:idem:k3", "", "0", id, "id", "job-3", "type", "t", NULL), 1);
    redisReply *rep = redisCommand(c, "XRANGE %s - +", STREAM);
    cr_assert(rep && rep->elements == 1);
    snprintf(sid, sizeof sid, "%s", rep->element[0]->element[0]->str);
    freeReplyObject(rep);
    deliver(c, "c1", 1);
    cancel_reply(cancel_call(c, "job-3", "stream", sid, NULL), "cancelled", "delivered", 1, 0);
    cr_assert(get_str(c, "sluice:{q}:idem:k3", val), "still held");
    cr_assert_str_eq(val, "job-3");
    cr_assert_eq(begin(c, "c1", sid, "job-3"), 1);
    cr_assert_not(get_str(c, "sluice:{q}:idem:k3", val), "released when its worker skipped it");
    redisFree(c);
}

Test(functions, enqueue_unique_keeps_a_key_that_names_another_job)
{
    redisContext *c = th_redis();
    char id[64], member[1024], val[128], sid[64];
    cr_assert_eq(enqueue_unique(c, IDEM, "", "0", sid, "type", "t", NULL), 1);
    deliver(c, "c1", 1);
    /* the key expired and another job took it */
    OK_OF(c, "SET", IDEM, "job-9");
    cr_assert_eq(complete(c, "c1", sid, sid, ""), 1);
    cr_assert(get_str(c, IDEM, val));
    cr_assert_str_eq(val, "job-9", "not released: it is job-9's");
    cr_assert_eq(INT_OF(c, "EXISTS", "sluice:{q}:done:g:", sid), 0, "no done marker without a prefix");

    cr_assert_eq(enqueue_unique(c, "sluice:{q}:idem:k2", "in", "60000", id, "id", "job-2", "type", "t", NULL), 1);
    OK_OF(c, "SET", "sluice:{q}:idem:k2", "job-8");
    sched_member_text(c, member);
    cancel_reply(cancel_call(c, "job-2", "sched", member, NULL), "cancelled", "scheduled", 0, 0);
    cr_assert(get_str(c, "sluice:{q}:idem:k2", val));
    cr_assert_str_eq(val, "job-8");
    redisFree(c);
}

Test(functions, enqueue_unique_refuses_bad_calls_and_writes_nothing)
{
    redisContext *c = th_redis();
    const char *want = "sluice_enqueue_unique: KEYS[2] must be the idempotency key sluice:{q}:idem:K of the stream";
    ERR_OF(c, want, "FCALL", "sluice_enqueue_unique", "3", STREAM, "sluice:{q}:other", SCHED, "60", "", "0", "type",
           "t");
    ERR_OF(c, want, "FCALL", "sluice_enqueue_unique", "3", STREAM, "sluice:{q}:idem:", SCHED, "60", "", "0", "type",
           "t");
    ERR_OF(c, want, "FCALL", "sluice_enqueue_unique", "3", STREAM, "sluice:{r}:idem:k", SCHED, "60", "", "0", "type",
           "t");
    ERR_OF(c, "sluice_enqueue_unique: TTL must be a positive integer", "FCALL", "sluice_enqueue_unique", "3", STREAM,
           IDEM, SCHED, "0", "", "0", "type", "t");
    ERR_OF(c, "sluice_enqueue_unique: mode must be", "FCALL", "sluice_enqueue_unique", "3", STREAM, IDEM, SCHED, "60",
           "later", "5", "id", "j", "type", "t");
    ERR_OF(c, "expected field/value pairs", "FCALL", "sluice_enqueue_unique", "3", STREAM, IDEM, SCHED, "60", "", "0",
           "type");
    cr_assert_eq(INT_OF(c, "EXISTS", STREAM, SCHED, IDEM, "sluice:{q}:other", "sluice:{q}:idem:", "sluice:{r}:idem:k"),
                 0);
    redisFree(c);
}
